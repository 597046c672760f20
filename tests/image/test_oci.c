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
