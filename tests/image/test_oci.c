#include "image/image_oci.h"

#include <jansson.h>

#include "helpers.h"
#include "image/image_layer.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"

static const char good_oci[] =
        "{\"schemaVersion\":2,\"mediaType\":\"" IMAGE_MT_OCI_MANIFEST "\","
        "\"config\":{\"mediaType\":\"" IMAGE_MT_OCI_CONFIG "\",\"digest\":\"" D1 "\",\"size\":7},"
        "\"layers\":[{\"mediaType\":\"" IMAGE_MT_OCI_LAYER_GZIP "\",\"digest\":\"" D2 "\","
        "\"size\":1234,\"annotations\":{\"a\":\"b\"}}],\"annotations\":{\"x\":\"y\"}}";

static const char good_docker[] =
        "{\"schemaVersion\":2,\"mediaType\":\"" IMAGE_MT_DOCKER_MANIFEST "\","
        "\"config\":{\"mediaType\":\"" IMAGE_MT_DOCKER_CONFIG "\",\"digest\":\"" D1
        "\",\"size\":7},"
        "\"layers\":[]}";

static const char good_index[] =
        "{\"schemaVersion\":2,\"mediaType\":\"" IMAGE_MT_OCI_INDEX "\",\"manifests\":["
        "{\"mediaType\":\"" IMAGE_MT_OCI_MANIFEST "\",\"digest\":\"" D1 "\",\"size\":10,"
        "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
        "{\"mediaType\":\"" IMAGE_MT_OCI_MANIFEST "\",\"digest\":\"" D2 "\",\"size\":11,"
        "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"}}]}";

Test(image_oci, oci_manifest_parses_with_its_descriptors)
{
        struct image_manifest *m = NULL;
        sb_error_t err = { 0 };
        cr_assert_eq(image_manifest_parse(good_oci, strlen(good_oci), &m, &err), 0, "%s", err.msg);
        cr_assert_str_eq(m->media_type, IMAGE_MT_OCI_MANIFEST);
        cr_assert_str_eq(m->config.digest, D1);
        cr_assert_eq(m->config.size, 7);
        cr_assert_eq(m->n_layers, 1);
        cr_assert_str_eq(m->layers[0].digest, D2);
        cr_assert_str_eq(m->layers[0].media_type, IMAGE_MT_OCI_LAYER_GZIP);
        cr_assert_eq(m->layers[0].size, 1234);
        image_manifest_free(m);
}

Test(image_oci, docker_manifest_parses)
{
        struct image_manifest *m = NULL;
        sb_error_t err = { 0 };
        cr_assert_eq(image_manifest_parse(good_docker, strlen(good_docker), &m, &err), 0, "%s",
                     err.msg);
        cr_assert_str_eq(m->media_type, IMAGE_MT_DOCKER_MANIFEST);
        cr_assert_eq(m->n_layers, 0);
        image_manifest_free(m);
}

Test(image_oci, kind_comes_from_media_type_then_content_type_then_shape)
{
        cr_assert_str_eq(image_manifest_kind(good_oci, strlen(good_oci), NULL),
                         IMAGE_MT_OCI_MANIFEST);
        cr_assert_str_eq(image_manifest_kind(good_index, strlen(good_index), NULL),
                         IMAGE_MT_OCI_INDEX);
        const char bare[] = "{\"schemaVersion\":2,\"manifests\":[]}";
        cr_assert_str_eq(
                image_manifest_kind(bare, strlen(bare), IMAGE_MT_DOCKER_LIST "; charset=utf-8"),
                IMAGE_MT_DOCKER_LIST);
        cr_assert_str_eq(image_manifest_kind(bare, strlen(bare), "application/json"),
                         IMAGE_MT_OCI_INDEX);
        cr_assert_null(image_manifest_kind("[]", 2, NULL));
        const char other[] = "{\"mediaType\":\"text/plain\"}";
        cr_assert_null(image_manifest_kind(other, strlen(other), NULL));
}

struct bad_doc {
        char what[40];
        char json[420];
        int expected;
};

#define CFG "\"config\":{\"mediaType\":\"c\",\"digest\":\"" D1 "\",\"size\":1}"

ParameterizedTestParameters(image_oci, hostile_manifests_are_refused)
{
        static struct bad_doc cases[] = {
                { "not json", "{", -EBADMSG },
                { "array", "[]", -EBADMSG },
                { "no version", "{" CFG ",\"layers\":[]}", -EBADMSG },
                { "version 1", "{\"schemaVersion\":1," CFG ",\"layers\":[]}", -EBADMSG },
                { "index type",
                  "{\"schemaVersion\":2,\"mediaType\":\"" IMAGE_MT_OCI_INDEX "\"," CFG
                  ",\"layers\":[]}",
                  -EBADMSG },
                { "no config", "{\"schemaVersion\":2,\"layers\":[]}", -EBADMSG },
                { "layers object", "{\"schemaVersion\":2," CFG ",\"layers\":{}}", -EBADMSG },
                { "bad digest",
                  "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"c\",\"digest\":"
                  "\"sha256:../../etc\",\"size\":1},\"layers\":[]}",
                  -EBADMSG },
                { "uppercase digest",
                  "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"c\",\"digest\":"
                  "\"sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
                  "\"size\":1},\"layers\":[]}",
                  -EBADMSG },
                { "negative size",
                  "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"c\",\"digest\":\"" D1
                  "\",\"size\":-1},\"layers\":[]}",
                  -EBADMSG },
                { "string size",
                  "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"c\",\"digest\":\"" D1
                  "\",\"size\":\"1\"},\"layers\":[]}",
                  -EBADMSG },
                { "layer not object", "{\"schemaVersion\":2," CFG ",\"layers\":[1]}", -EBADMSG },
                { "duplicate key",
                  "{\"schemaVersion\":2,\"schemaVersion\":2," CFG ",\"layers\":[]}", -EBADMSG },
        };
        return cr_make_param_array(struct bad_doc, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad_doc *c, image_oci, hostile_manifests_are_refused)
{
        struct image_manifest *m = NULL;
        sb_error_t err = { 0 };
        cr_assert_eq(image_manifest_parse(c->json, strlen(c->json), &m, &err), c->expected,
                     "%s: %s", c->what, err.msg);
        cr_assert_null(m);
}

static char *manifest_with_layers(size_t n)
{
        json_t *layers = json_array();
        for (size_t i = 0; i < n; i++)
                json_array_append_new(layers, json_pack("{s:s,s:s,s:i}", "mediaType", "l", "digest",
                                                        D2, "size", 1));
        json_t *root = json_pack("{s:i,s:{s:s,s:s,s:i},s:o}", "schemaVersion", 2, "config",
                                 "mediaType", "c", "digest", D1, "size", 1, "layers", layers);
        char *s = json_dumps(root, JSON_COMPACT);
        json_decref(root);
        return s;
}

Test(image_oci, layer_count_is_bounded)
{
        struct image_manifest *m = NULL;
        sb_error_t err = { 0 };
        char *ok = manifest_with_layers(IMAGE_LAYERS_MAX);
        cr_assert_eq(image_manifest_parse(ok, strlen(ok), &m, &err), 0, "%s", err.msg);
        cr_assert_eq(m->n_layers, IMAGE_LAYERS_MAX);
        image_manifest_free(m);
        m = NULL;
        char *too_many = manifest_with_layers(IMAGE_LAYERS_MAX + 1);
        cr_assert_eq(image_manifest_parse(too_many, strlen(too_many), &m, &err), -E2BIG);
        cr_assert_null(m);
        free(ok);
        free(too_many);
}

Test(image_oci, oversized_document_is_refused_before_parsing)
{
        struct image_manifest *m = NULL;
        sb_error_t err = { 0 };
        size_t len = IMAGE_MANIFEST_MAX + 1;
        char *big = sb_xmalloc(len);
        memset(big, ' ', len);
        cr_assert_eq(image_manifest_parse(big, len, &m, &err), -EFBIG);
        free(big);
}

Test(image_oci, index_selects_by_platform)
{
        struct image_index *idx = NULL;
        sb_error_t err = { 0 };
        const struct image_descriptor *d = NULL;
        cr_assert_eq(image_index_parse(good_index, strlen(good_index), &idx, &err), 0, "%s",
                     err.msg);
        cr_assert_eq(idx->n_manifests, 2);
        cr_assert_eq(image_index_select(idx, "linux", "amd64", "", &d, &err), 0);
        cr_assert_str_eq(d->digest, D1);
        cr_assert_eq(image_index_select(idx, "linux", "arm64", "v8", &d, &err), 0);
        cr_assert_str_eq(d->digest, D2);
        cr_assert_eq(image_index_select(idx, "linux", "arm64", NULL, &d, &err), 0);
        cr_assert_str_eq(d->digest, D2);
        cr_assert_eq(image_index_select(idx, "linux", "s390x", NULL, &d, &err), -ENOENT);
        cr_assert(strstr(err.msg, "s390x"), "%s", err.msg);
        image_index_free(idx);
}

Test(image_oci, hostile_index_is_refused)
{
        struct image_index *idx = NULL;
        sb_error_t err = { 0 };
        const char manifest_not_index[] =
                "{\"schemaVersion\":2,\"mediaType\":\"" IMAGE_MT_OCI_MANIFEST
                "\",\"manifests\":[]}";
        cr_assert_eq(image_index_parse(manifest_not_index, strlen(manifest_not_index), &idx, &err),
                     -EBADMSG);
        const char long_arch[] = "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"m\","
                                 "\"digest\":\"" D1 "\",\"size\":1,\"platform\":{\"os\":"
                                 "\"linux\",\"architecture\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                                 "aaaaaaaaaaaaaaaaaaaaaaa\"}}]}";
        cr_assert_eq(image_index_parse(long_arch, strlen(long_arch), &idx, &err), -EBADMSG);
        const char no_list[] = "{\"schemaVersion\":2}";
        cr_assert_eq(image_index_parse(no_list, strlen(no_list), &idx, &err), -EBADMSG);
        cr_assert_null(idx);
}

Test(image_oci, host_platform_is_named_as_oci_does)
{
        const char *os, *arch, *variant;
        image_host_platform(&os, &arch, &variant);
        cr_assert_str_eq(os, "linux");
#if defined(__x86_64__)
        cr_assert_str_eq(arch, "amd64");
        cr_assert_str_eq(variant, "");
#elif defined(__aarch64__)
        cr_assert_str_eq(arch, "arm64");
        cr_assert_str_eq(variant, "v8");
#endif
}

/* --- writing manifests in each format --------------------------------------------------- */

struct written {
        struct image_store *store;
        const char *dir;
        struct image_descriptor config, layers[2];
};

/* A store holding a config blob and two gzip layer blobs named the OCI way, as the builder
 * makes them. */
static void written_setup(struct written *w)
{
        sb_error_t err = { 0 };
        w->dir = scratch_dir();
        w->store = open_store(w->dir);
        const char *blobs[] = { "{\"architecture\":\"amd64\",\"os\":\"linux\"}", "layer-one",
                                "layer-two" };
        struct image_descriptor *d[] = { &w->config, &w->layers[0], &w->layers[1] };
        for (size_t i = 0; i < 3; i++) {
                cr_assert_eq(image_store_put_blob(w->store, blobs[i], strlen(blobs[i]),
                                                  d[i]->digest, &err),
                             0, "%s", err.msg);
                d[i]->size = strlen(blobs[i]);
                snprintf(d[i]->media_type, sizeof(d[i]->media_type), "%s",
                         i == 0 ? IMAGE_MT_OCI_CONFIG : IMAGE_MT_OCI_LAYER_GZIP);
        }
}

static void written_done(struct written *w)
{
        image_store_free(w->store);
        scratch_remove(w->dir);
}

/* The stored manifest digest as a JSON document. */
static json_t *load_manifest(struct written *w, const char *digest, uint64_t size)
{
        char *body = NULL;
        size_t len = 0;
        sb_error_t err = { 0 };
        cr_assert_eq(image_store_read_blob(w->store, digest, IMAGE_MANIFEST_MAX, &body, &len, &err),
                     0, "%s", err.msg);
        cr_assert_eq(len, size);
        json_t *doc = json_loadb(body, len, 0, NULL);
        cr_assert_not_null(doc);
        free(body);
        return doc;
}

Test(image_oci, docker_manifest_names_docker_media_types_for_the_same_blobs)
{
        struct written w;
        written_setup(&w);
        char digest[SB_DIGEST_STR_LEN + 1];
        uint64_t size = 0;
        sb_error_t err = { 0 };
        cr_assert_eq(image_manifest_write_format(w.store, IMAGE_FORMAT_DOCKER, &w.config, w.layers,
                                                 2, digest, &size, &err),
                     0, "%s", err.msg);
        json_t *doc = load_manifest(&w, digest, size);
        cr_assert_eq(json_integer_value(json_object_get(doc, "schemaVersion")), 2);
        cr_assert_str_eq(json_string_value(json_object_get(doc, "mediaType")),
                         IMAGE_MT_DOCKER_MANIFEST);
        json_t *c = json_object_get(doc, "config");
        cr_assert_str_eq(json_string_value(json_object_get(c, "mediaType")),
                         IMAGE_MT_DOCKER_CONFIG);
        cr_assert_str_eq(json_string_value(json_object_get(c, "digest")), w.config.digest);
        cr_assert_eq(json_integer_value(json_object_get(c, "size")), (json_int_t) w.config.size);
        json_t *layers = json_object_get(doc, "layers");
        cr_assert_eq(json_array_size(layers), 2);
        for (size_t i = 0; i < 2; i++) {
                json_t *l = json_array_get(layers, i);
                cr_assert_str_eq(json_string_value(json_object_get(l, "mediaType")),
                                 IMAGE_MT_DOCKER_LAYER);
                cr_assert_str_eq(json_string_value(json_object_get(l, "digest")),
                                 w.layers[i].digest);
                cr_assert_eq(json_integer_value(json_object_get(l, "size")),
                             (json_int_t) w.layers[i].size);
        }
        json_decref(doc);

        /* and it reads back through the parser the puller uses */
        char *body = NULL;
        size_t len = 0;
        cr_assert_eq(image_store_read_blob(w.store, digest, IMAGE_MANIFEST_MAX, &body, &len, &err),
                     0);
        cr_assert_str_eq(image_manifest_kind(body, len, NULL), IMAGE_MT_DOCKER_MANIFEST);
        struct image_manifest *m = NULL;
        cr_assert_eq(image_manifest_parse(body, len, &m, &err), 0, "%s", err.msg);
        cr_assert_eq(m->n_layers, 2);
        cr_assert_str_eq(m->layers[1].digest, w.layers[1].digest);
        image_manifest_free(m);
        free(body);
        written_done(&w);
}

Test(image_oci, oci_and_docker_manifests_of_one_image_differ_only_in_names)
{
        struct written w;
        written_setup(&w);
        char oci[SB_DIGEST_STR_LEN + 1], docker[SB_DIGEST_STR_LEN + 1], old[SB_DIGEST_STR_LEN + 1];
        uint64_t oci_size = 0, docker_size = 0, old_size = 0;
        sb_error_t err = { 0 };
        cr_assert_eq(image_manifest_write_format(w.store, IMAGE_FORMAT_OCI, &w.config, w.layers, 2,
                                                 oci, &oci_size, &err),
                     0, "%s", err.msg);
        cr_assert_eq(image_manifest_write_format(w.store, IMAGE_FORMAT_DOCKER, &w.config, w.layers,
                                                 2, docker, &docker_size, &err),
                     0, "%s", err.msg);
        cr_assert_eq(image_manifest_write(w.store, &w.config, w.layers, 2, old, &old_size, &err), 0,
                     "%s", err.msg);
        cr_assert_str_eq(old, oci, "image_manifest_write still writes the OCI manifest");
        cr_assert_str_neq(oci, docker);
        json_t *o = load_manifest(&w, oci, oci_size);
        cr_assert_str_eq(json_string_value(json_object_get(o, "mediaType")), IMAGE_MT_OCI_MANIFEST);
        cr_assert_str_eq(json_string_value(json_object_get(json_object_get(o, "config"),
                                                           "mediaType")),
                         IMAGE_MT_OCI_CONFIG);
        cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(o,
                                                                                  "layers"),
                                                                          0),
                                                           "mediaType")),
                         IMAGE_MT_OCI_LAYER_GZIP);
        json_decref(o);
        written_done(&w);
}

Test(image_oci, docker_layers_become_oci_gzip_in_an_oci_manifest)
{
        struct written w;
        written_setup(&w);
        snprintf(w.layers[0].media_type, sizeof(w.layers[0].media_type), "%s",
                 IMAGE_MT_DOCKER_LAYER);
        snprintf(w.config.media_type, sizeof(w.config.media_type), "%s", IMAGE_MT_DOCKER_CONFIG);
        char digest[SB_DIGEST_STR_LEN + 1];
        uint64_t size = 0;
        sb_error_t err = { 0 };
        cr_assert_eq(image_manifest_write_format(w.store, IMAGE_FORMAT_OCI, &w.config, w.layers, 2,
                                                 digest, &size, &err),
                     0, "%s", err.msg);
        json_t *o = load_manifest(&w, digest, size);
        json_t *l0 = json_array_get(json_object_get(o, "layers"), 0);
        cr_assert_str_eq(json_string_value(json_object_get(l0, "mediaType")),
                         IMAGE_MT_OCI_LAYER_GZIP);
        cr_assert_str_eq(json_string_value(json_object_get(json_object_get(o, "config"),
                                                           "mediaType")),
                         IMAGE_MT_OCI_CONFIG);
        json_decref(o);
        written_done(&w);
}

Test(image_oci, docker_manifest_refuses_a_layer_schema2_cannot_name)
{
        struct written w;
        written_setup(&w);
        snprintf(w.layers[1].media_type, sizeof(w.layers[1].media_type), "%s",
                 IMAGE_MT_OCI_LAYER_ZSTD);
        char digest[SB_DIGEST_STR_LEN + 1] = "";
        sb_error_t err = { 0 };
        cr_assert_eq(image_manifest_write_format(w.store, IMAGE_FORMAT_DOCKER, &w.config, w.layers,
                                                 2, digest, NULL, &err),
                     -EINVAL);
        cr_assert_not_null(strstr(err.msg, "zstd"), "%s", err.msg);
        cr_assert_str_eq(digest, "", "nothing is written");
        /* an OCI manifest may name it */
        cr_assert_eq(image_manifest_write_format(w.store, IMAGE_FORMAT_OCI, &w.config, w.layers, 2,
                                                 digest, NULL, &err),
                     0, "%s", err.msg);
        written_done(&w);
}

Test(image_oci, manifest_refuses_a_config_that_is_not_an_image_config)
{
        struct written w;
        written_setup(&w);
        snprintf(w.config.media_type, sizeof(w.config.media_type), "application/octet-stream");
        char digest[SB_DIGEST_STR_LEN + 1];
        sb_error_t err = { 0 };
        for (int f = IMAGE_FORMAT_OCI; f <= IMAGE_FORMAT_DOCKER; f++)
                cr_assert_eq(image_manifest_write_format(w.store, (image_format_t) f, &w.config,
                                                         w.layers, 2, digest, NULL, &err),
                             -EINVAL);
        written_done(&w);
}

Test(image_oci, format_names_are_oci_and_docker)
{
        image_format_t f = IMAGE_FORMAT_DOCKER;
        sb_error_t err = { 0 };
        cr_assert_eq(image_format_parse(NULL, &f, &err), 0);
        cr_assert_eq(f, IMAGE_FORMAT_OCI);
        cr_assert_eq(image_format_parse("docker", &f, &err), 0);
        cr_assert_eq(f, IMAGE_FORMAT_DOCKER);
        cr_assert_eq(image_format_parse("oci", &f, &err), 0);
        cr_assert_eq(f, IMAGE_FORMAT_OCI);
        cr_assert_eq(image_format_parse("Docker", &f, &err), -EINVAL);
        cr_assert_not_null(strstr(err.msg, "'Docker'"), "%s", err.msg);
}

Test(image_oci, docker_manifest_goes_into_an_oci_layout_with_its_media_type)
{
        struct written w;
        written_setup(&w);
        char digest[SB_DIGEST_STR_LEN + 1];
        uint64_t size = 0;
        sb_error_t err = { 0 };
        cr_assert_eq(image_manifest_write_format(w.store, IMAGE_FORMAT_DOCKER, &w.config, w.layers,
                                                 2, digest, &size, &err),
                     0, "%s", err.msg);
        char *layout = sb_path_join(w.dir, "layout");
        cr_assert_eq(image_layout_write(w.store, layout, digest, "v1", &err), 0, "%s", err.msg);
        char *index_path = sb_path_join(layout, "index.json");
        json_t *index = json_load_file(index_path, 0, NULL);
        cr_assert_not_null(index);
        json_t *e = json_array_get(json_object_get(index, "manifests"), 0);
        cr_assert_str_eq(json_string_value(json_object_get(e, "mediaType")),
                         IMAGE_MT_DOCKER_MANIFEST);
        cr_assert_str_eq(json_string_value(json_object_get(e, "digest")), digest);
        cr_assert_eq(json_integer_value(json_object_get(e, "size")), (json_int_t) size);
        /* every blob the manifest names was copied */
        const char *names[] = { digest, w.config.digest, w.layers[0].digest, w.layers[1].digest };
        for (size_t i = 0; i < 4; i++) {
                char *p = sb_xasprintf("%s/blobs/sha256/%s", layout, names[i] + strlen("sha256:"));
                cr_assert_eq(access(p, F_OK), 0, "missing %s", p);
                free(p);
        }
        json_decref(index);
        free(index_path);
        free(layout);
        written_done(&w);
}
