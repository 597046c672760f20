/* docker-archive output and the importer of layouts and archives (image_archive, image_import). */
#include <jansson.h>

#include "helpers.h"
#include "image/image_archive.h"
#include "image/image_import.h"
#include "image/image_oci.h"

/* A small image in a store: two gzip layers; digests and diff_ids kept for checks. */
struct fixture {
        char manifest[SB_DIGEST_STR_LEN + 1];
        char config[SB_DIGEST_STR_LEN + 1];
        char layers[2][SB_DIGEST_STR_LEN + 1];
        char diff_ids[2][SB_DIGEST_STR_LEN + 1];
        struct tar_buf plain[2]; /* the uncompressed layer tars */
};

static void fixture_make(struct image_store *s, struct fixture *f, const char *bad_diff_id)
{
        static const struct tar_spec l0[] = { { .name = "etc", .type = 'd' },
                                              { .name = "etc/one", .content = "first layer" } };
        static const struct tar_spec l1[] = { { .name = "two", .content = "second layer" } };
        const struct tar_spec *specs[2] = { l0, l1 };
        size_t counts[2] = { 2, 1 };
        sb_error_t err = { 0 };
        struct image_descriptor layers[2];
        for (int i = 0; i < 2; i++) {
                struct tar_buf gz;
                build_tar(specs[i], counts[i], false, &f->plain[i]);
                build_tar(specs[i], counts[i], true, &gz);
                sb_sha256_digest(f->plain[i].data, f->plain[i].len, f->diff_ids[i]);
                cr_assert_eq(image_store_put_blob(s, gz.data, gz.len, f->layers[i], &err), 0);
                snprintf(layers[i].media_type, sizeof(layers[i].media_type), "%s",
                         IMAGE_MT_OCI_LAYER_GZIP);
                memcpy(layers[i].digest, f->layers[i], sizeof(layers[i].digest));
                layers[i].size = gz.len;
                free(gz.data);
        }
        char *cfg = sb_xasprintf("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{},"
                                 "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\",\"%s\"]}}",
                                 f->diff_ids[0], bad_diff_id ? bad_diff_id : f->diff_ids[1]);
        struct image_descriptor c = { .media_type = IMAGE_MT_OCI_CONFIG, .size = strlen(cfg) };
        cr_assert_eq(image_store_put_blob(s, cfg, strlen(cfg), c.digest, &err), 0);
        memcpy(f->config, c.digest, sizeof(f->config));
        free(cfg);
        cr_assert_eq(image_manifest_write(s, &c, layers, 2, f->manifest, NULL, &err), 0, "%s",
                     err.msg);
}

static void fixture_done(struct fixture *f)
{
        free(f->plain[0].data);
        free(f->plain[1].data);
}

/* Read a member of a tar file whole; NULL if absent. */
static char *tar_member(const char *path, const char *name, size_t *ret_len)
{
        struct archive *a = archive_read_new();
        archive_read_support_format_tar(a);
        cr_assert_eq(archive_read_open_filename(a, path, 65536), ARCHIVE_OK);
        struct archive_entry *e;
        char *data = NULL;
        while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
                if (strcmp(archive_entry_pathname(e), name) != 0)
                        continue;
                size_t size = (size_t) archive_entry_size(e);
                data = sb_xmalloc(size + 1);
                cr_assert_eq(archive_read_data(a, data, size), (la_ssize_t) size);
                data[size] = '\0';
                *ret_len = size;
                break;
        }
        archive_read_free(a);
        return data;
}

/* A member of a hand-made archive: regular file (link NULL) or symlink. */
static void put_member(struct archive *a, const char *name, const void *data, size_t len,
                       const char *link)
{
        struct archive_entry *e = archive_entry_new();
        archive_entry_copy_pathname(e, name);
        if (link) {
                archive_entry_set_mode(e, AE_IFLNK | 0777);
                archive_entry_copy_symlink(e, link);
        } else {
                archive_entry_set_mode(e, AE_IFREG | 0644);
                archive_entry_set_size(e, (la_int64_t) len);
        }
        cr_assert_eq(archive_write_header(a, e), ARCHIVE_OK);
        if (!link && len)
                cr_assert_eq(archive_write_data(a, data, len), (la_ssize_t) len);
        archive_entry_free(e);
}

static struct archive *archive_create(const char *path)
{
        struct archive *a = archive_write_new();
        archive_write_set_format_pax_restricted(a);
        cr_assert_eq(archive_write_open_filename(a, path), ARCHIVE_OK);
        return a;
}

static void archive_finish(struct archive *a)
{
        cr_assert_eq(archive_write_close(a), ARCHIVE_OK);
        archive_write_free(a);
}

static void store_config(struct image_store *s, struct fixture *f, char **ret, size_t *len)
{
        sb_error_t err = { 0 };
        cr_assert_eq(image_store_read_blob(s, f->config, IMAGE_CONFIG_MAX, ret, len, &err), 0);
}

Test(archive, write_produces_manifest_json_config_layers_and_repositories)
{
        const char *dir = scratch_dir();
        struct image_store *s = open_store(dir);
        struct fixture f;
        fixture_make(s, &f, NULL);
        char *path = sb_path_join(dir, "img.tar");
        char r0[] = "127.0.0.1:5000/lab/app:v1", r1[] = "127.0.0.1:5000/lab/app",
             r2[] = "lab/app@sha256:00000000000000000000000000000000"
                    "00000000000000000000000000000000";
        char *refs[] = { r0, r1, r2, NULL };
        sb_error_t err = { 0 };
        cr_assert_eq(image_archive_write(s, path, f.manifest, refs, &err), 0, "%s", err.msg);

        size_t len = 0;
        char *mj = tar_member(path, "manifest.json", &len);
        cr_assert_not_null(mj);
        json_t *root = json_loads(mj, 0, NULL);
        json_t *e = json_array_get(root, 0);
        cr_assert_eq(json_array_size(root), 1);
        char *cfg_name = sb_xasprintf("%s.json", f.config + 7);
        cr_assert_str_eq(json_string_value(json_object_get(e, "Config")), cfg_name);
        json_t *tags = json_object_get(e, "RepoTags");
        cr_assert_eq(json_array_size(tags), 2, "a digest-only reference has no tag");
        cr_assert_str_eq(json_string_value(json_array_get(tags, 0)), "127.0.0.1:5000/lab/app:v1");
        cr_assert_str_eq(json_string_value(json_array_get(tags, 1)),
                         "127.0.0.1:5000/lab/app:latest");
        json_t *layers = json_object_get(e, "Layers");
        cr_assert_eq(json_array_size(layers), 2);
        for (int i = 0; i < 2; i++) {
                const char *name = json_string_value(json_array_get(layers, i));
                char *data = tar_member(path, name, &len);
                cr_assert_not_null(data, "layer %s is in the archive", name);
                char got[SB_DIGEST_STR_LEN + 1];
                sb_sha256_digest(data, len, got);
                cr_assert_str_eq(got, f.layers[i], "layer %d is the stored blob", i);
                free(data);
        }
        char *cfg = tar_member(path, cfg_name, &len);
        char got[SB_DIGEST_STR_LEN + 1];
        sb_sha256_digest(cfg, len, got);
        cr_assert_str_eq(got, f.config, "the config file hashes to its name");
        char *repos = tar_member(path, "repositories", &len);
        cr_assert_not_null(repos);
        json_t *rj = json_loads(repos, 0, NULL);
        cr_assert(json_is_string(json_object_get(json_object_get(rj, "127.0.0.1:5000/lab/app"),
                                                 "v1")));
        struct stat st;
        cr_assert_eq(stat(path, &st), 0);
        cr_assert_eq(st.st_mode & 0777, 0644);
        cr_assert_eq(count_entries(AT_FDCWD, dir), 2, "no temporary file is left beside it");
        json_decref(rj);
        json_decref(root);
        free(repos);
        free(cfg);
        free(cfg_name);
        free(mj);
        free(path);
        fixture_done(&f);
        image_store_free(s);
        scratch_remove(dir);
}

Test(archive, write_without_tags_has_empty_repotags_and_no_repositories)
{
        const char *dir = scratch_dir();
        struct image_store *s = open_store(dir);
        struct fixture f;
        fixture_make(s, &f, NULL);
        char *path = sb_path_join(dir, "img.tar");
        sb_error_t err = { 0 };
        cr_assert_eq(image_archive_write(s, path, f.manifest, NULL, &err), 0, "%s", err.msg);
        size_t len;
        char *mj = tar_member(path, "manifest.json", &len);
        json_t *root = json_loads(mj, 0, NULL);
        cr_assert_eq(json_array_size(json_object_get(json_array_get(root, 0), "RepoTags")), 0);
        cr_assert_null(tar_member(path, "repositories", &len));
        json_decref(root);
        free(mj);
        free(path);
        fixture_done(&f);
        image_store_free(s);
        scratch_remove(dir);
}

Test(archive, write_refuses_a_corrupt_store_blob_and_leaves_no_file)
{
        const char *dir = scratch_dir();
        struct image_store *s = open_store(dir);
        struct fixture f;
        fixture_make(s, &f, NULL);
        char *blob = image_store_blob_path(s, f.layers[1]);
        chmod(blob, 0644);
        int fd = open(blob, O_WRONLY | O_TRUNC | O_CLOEXEC);
        cr_assert_geq(fd, 0);
        cr_assert_eq(write(fd, "junk", 4), 4);
        close(fd);
        char *path = sb_path_join(dir, "img.tar");
        sb_error_t err = { 0 };
        cr_assert_eq(image_archive_write(s, path, f.manifest, NULL, &err), -EBADMSG);
        cr_assert(strstr(err.msg, "corrupt"), "%s", err.msg);
        cr_assert_eq(access(path, F_OK), -1);
        cr_assert_eq(count_entries(AT_FDCWD, dir), 1, "only the store remains");
        free(path);
        free(blob);
        fixture_done(&f);
        image_store_free(s);
        scratch_remove(dir);
}

Test(archive, write_refuses_a_config_whose_diff_ids_do_not_match_the_layers)
{
        const char *dir = scratch_dir();
        struct image_store *s = open_store(dir);
        sb_error_t err = { 0 };
        const char *cfg = "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}";
        struct image_descriptor c = { .media_type = IMAGE_MT_OCI_CONFIG, .size = strlen(cfg) };
        cr_assert_eq(image_store_put_blob(s, cfg, strlen(cfg), c.digest, &err), 0);
        struct image_descriptor l = { .media_type = IMAGE_MT_OCI_LAYER_GZIP, .size = 3 };
        cr_assert_eq(image_store_put_blob(s, "abc", 3, l.digest, &err), 0);
        char m[SB_DIGEST_STR_LEN + 1];
        cr_assert_eq(image_manifest_write(s, &c, &l, 1, m, NULL, &err), 0);
        char *path = sb_path_join(dir, "img.tar");
        cr_assert_eq(image_archive_write(s, path, m, NULL, &err), -EBADMSG);
        cr_assert(strstr(err.msg, "diff_ids"), "%s", err.msg);
        free(path);
        image_store_free(s);
        scratch_remove(dir);
}

Test(archive, an_archive_imports_back_to_the_same_manifest)
{
        const char *dir = scratch_dir();
        struct image_store *s = open_store(dir);
        struct fixture f;
        fixture_make(s, &f, NULL);
        char *path = sb_path_join(dir, "img.tar");
        char r0[] = "lab/app:v1", r1[] = "lab/other:v2";
        char *refs[] = { r0, r1, NULL };
        sb_error_t err = { 0 };
        cr_assert_eq(image_archive_write(s, path, f.manifest, refs, &err), 0, "%s", err.msg);

        char *root2 = sb_path_join(dir, "store2");
        struct image_store *s2 = NULL;
        cr_assert_eq(image_store_open(root2, &s2, &err), 0);
        char got[SB_DIGEST_STR_LEN + 1];
        cr_assert_eq(image_import_archive(s2, path, NULL, got, &err), 0, "%s", err.msg);
        cr_assert_str_eq(got, f.manifest, "same config, same gzip layers: same manifest");
        cr_assert(image_store_has_blob(s2, f.config));
        cr_assert(image_store_has_blob(s2, f.layers[0]));
        cr_assert(image_store_has_blob(s2, f.layers[1]));
        char *spec = sb_xasprintf("%s:lab/other:v2", path);
        cr_assert_eq(image_import(s2, spec, got, &err), 0, "%s", err.msg);
        cr_assert_str_eq(got, f.manifest);
        free(spec);
        spec = sb_xasprintf("%s:lab/none:v1", path);
        cr_assert_eq(image_import(s2, spec, got, &err), -ENOENT);
        free(spec);
        image_store_free(s2);
        free(root2);
        free(path);
        fixture_done(&f);
        image_store_free(s);
        scratch_remove(dir);
}

Test(archive, a_skopeo_style_archive_with_plain_layers_and_symlinks_imports)
{
        const char *dir = scratch_dir();
        struct image_store *s = open_store(dir);
        struct fixture f;
        fixture_make(s, &f, NULL);
        char *cfg = NULL;
        size_t cfg_len = 0;
        store_config(s, &f, &cfg, &cfg_len);
        char *path = sb_path_join(dir, "sk.tar");
        char *mj = sb_xasprintf("[{\"Config\":\"%s.json\",\"RepoTags\":[\"x:1\"],"
                                "\"Layers\":[\"./%s.tar\",\"legacy/layer.tar\"]}]",
                                f.config + 7, f.diff_ids[0] + 7);
        /* skopeo's shape: plain <diffid>.tar layers, a symlinked legacy layer.tar */
        char *cfg_name = sb_xasprintf("%s.json", f.config + 7);
        struct archive *a = archive_create(path);
        put_member(a, cfg_name, cfg, cfg_len, NULL);
        for (int i = 0; i < 2; i++) {
                char *name = sb_xasprintf("%s.tar", f.diff_ids[i] + 7);
                put_member(a, name, f.plain[i].data, f.plain[i].len, NULL);
                free(name);
        }
        char *link = sb_xasprintf("../%s.tar", f.diff_ids[1] + 7);
        put_member(a, "legacy/layer.tar", NULL, 0, link);
        put_member(a, "manifest.json", mj, strlen(mj), NULL);
        archive_finish(a);

        char *root2 = sb_path_join(dir, "store2");
        struct image_store *s2 = NULL;
        sb_error_t err = { 0 };
        cr_assert_eq(image_store_open(root2, &s2, &err), 0);
        char got[SB_DIGEST_STR_LEN + 1];
        cr_assert_eq(image_import(s2, path, got, &err), 0, "%s", err.msg);
        char *body = NULL;
        size_t len = 0;
        struct image_manifest *m = NULL;
        cr_assert_eq(image_store_read_blob(s2, got, IMAGE_MANIFEST_MAX, &body, &len, &err), 0);
        cr_assert_eq(image_manifest_parse(body, len, &m, &err), 0, "%s", err.msg);
        cr_assert_str_eq(m->config.digest, f.config);
        cr_assert_eq(m->n_layers, 2);
        for (int i = 0; i < 2; i++) {
                cr_assert_str_eq(m->layers[i].digest, f.diff_ids[i],
                                 "a plain layer is stored as it is");
                cr_assert_str_eq(m->layers[i].media_type, IMAGE_MT_OCI_LAYER_TAR);
                cr_assert(image_store_has_blob(s2, f.diff_ids[i]));
        }
        image_manifest_free(m);
        free(body);
        image_store_free(s2);
        free(root2);
        free(link);
        free(cfg_name);
        free(mj);
        free(cfg);
        free(path);
        fixture_done(&f);
        image_store_free(s);
        scratch_remove(dir);
}

/* Hostile archives: each manifest.json must be refused with the given error. */
struct hostile {
        char name[48];
        char layer0[160]; /* Layers[0] ("%s" is the first diff_id hex) */
        char link_name[48];
        char link_target[64];
        int want;
        char msg[48];
};

static struct hostile hostile_cases[] = {
        { "dotdot", "../../etc/passwd", "", "", -EBADMSG, "leads outside" },
        { "absolute", "/etc/passwd", "", "", -EBADMSG, "leads outside" },
        { "symlink out", "l/layer.tar", "l/layer.tar", "../../etc/passwd", -EBADMSG,
          "not in the archive" },
        { "absolute symlink", "l/layer.tar", "l/layer.tar", "/etc/passwd", -EBADMSG,
          "not in the archive" },
        { "symlink loop", "a", "a", "a", -EBADMSG, "too many links" },
        { "missing", "nothing.tar", "", "", -EBADMSG, "not in the archive" },
};

ParameterizedTestParameters(archive, hostile_archives_are_refused)
{
        return cr_make_param_array(struct hostile, hostile_cases,
                                   sizeof(hostile_cases) / sizeof(hostile_cases[0]));
}

ParameterizedTest(struct hostile *h, archive, hostile_archives_are_refused)
{
        const char *dir = scratch_dir();
        struct image_store *s = open_store(dir);
        struct fixture f;
        fixture_make(s, &f, NULL);
        char *cfg = NULL;
        size_t cfg_len = 0;
        store_config(s, &f, &cfg, &cfg_len);
        char *path = sb_path_join(dir, "bad.tar");
        char *mj = sb_xasprintf("[{\"Config\":\"c.json\",\"RepoTags\":null,"
                                "\"Layers\":[\"%s\",\"%s.tar\"]}]",
                                h->layer0, f.diff_ids[1] + 7);
        struct archive *a = archive_create(path);
        put_member(a, "c.json", cfg, cfg_len, NULL);
        char *l1 = sb_xasprintf("%s.tar", f.diff_ids[1] + 7);
        put_member(a, l1, f.plain[1].data, f.plain[1].len, NULL);
        if (h->link_name[0])
                put_member(a, h->link_name, NULL, 0, h->link_target);
        put_member(a, "manifest.json", mj, strlen(mj), NULL);
        archive_finish(a);
        char got[SB_DIGEST_STR_LEN + 1];
        sb_error_t err = { 0 };
        cr_assert_eq(image_import_archive(s, path, NULL, got, &err), h->want, "%s: %s", h->name,
                     err.msg);
        cr_assert(strstr(err.msg, h->msg), "%s: %s", h->name, err.msg);
        free(l1);
        free(mj);
        free(path);
        free(cfg);
        fixture_done(&f);
        image_store_free(s);
        scratch_remove(dir);
}

Test(archive, a_layer_that_does_not_match_its_diff_id_is_refused_and_not_kept)
{
        const char *dir = scratch_dir();
        struct image_store *s = open_store(dir);
        struct fixture f;
        /* the config claims the second layer's diff_id is the first layer's */
        fixture_make(s, &f, "sha256:11111111111111111111111111111111"
                            "11111111111111111111111111111111");
        char *path = sb_path_join(dir, "img.tar");
        sb_error_t err = { 0 };
        cr_assert_eq(image_archive_write(s, path, f.manifest, NULL, &err), 0, "%s", err.msg);
        char *root2 = sb_path_join(dir, "store2");
        struct image_store *s2 = NULL;
        cr_assert_eq(image_store_open(root2, &s2, &err), 0);
        char got[SB_DIGEST_STR_LEN + 1];
        cr_assert_eq(image_import_archive(s2, path, NULL, got, &err), -EBADMSG);
        cr_assert(strstr(err.msg, "the config says"), "%s", err.msg);
        cr_assert_not(image_store_has_blob(s2, f.layers[1]), "the bad layer is not kept");
        cr_assert_eq(count_entries(s2->tmp_fd, "."), 0, "no temporary blob is left");
        image_store_free(s2);
        free(root2);
        free(path);
        fixture_done(&f);
        image_store_free(s);
        scratch_remove(dir);
}

Test(archive, a_config_that_does_not_hash_to_its_name_is_refused)
{
        const char *dir = scratch_dir();
        struct image_store *s = open_store(dir);
        struct fixture f;
        fixture_make(s, &f, NULL);
        char *cfg = NULL;
        size_t cfg_len = 0;
        store_config(s, &f, &cfg, &cfg_len);
        char *path = sb_path_join(dir, "bad.tar");
        const char *other = "2222222222222222222222222222222222222222222222222222222222222222";
        char *mj = sb_xasprintf("[{\"Config\":\"%s.json\",\"Layers\":[\"a\",\"b\"]}]", other);
        char *cfg_name = sb_xasprintf("%s.json", other);
        struct archive *a = archive_create(path);
        put_member(a, cfg_name, cfg, cfg_len, NULL);
        put_member(a, "manifest.json", mj, strlen(mj), NULL);
        archive_finish(a);
        char got[SB_DIGEST_STR_LEN + 1];
        sb_error_t err = { 0 };
        cr_assert_eq(image_import_archive(s, path, NULL, got, &err), -EBADMSG);
        cr_assert(strstr(err.msg, "corrupt"), "%s", err.msg);
        free(cfg_name);
        free(mj);
        free(path);
        free(cfg);
        fixture_done(&f);
        image_store_free(s);
        scratch_remove(dir);
}

Test(archive, an_oversize_manifest_json_is_refused)
{
        const char *dir = scratch_dir();
        struct image_store *s = open_store(dir);
        char *path = sb_path_join(dir, "big.tar");
        size_t len = IMAGE_ARCHIVE_MANIFEST_MAX + 1;
        char *big = sb_xmalloc(len);
        memset(big, ' ', len);
        big[0] = '[';
        big[len - 1] = ']';
        struct archive *a = archive_create(path);
        put_member(a, "manifest.json", big, len, NULL);
        archive_finish(a);
        char got[SB_DIGEST_STR_LEN + 1];
        sb_error_t err = { 0 };
        cr_assert_eq(image_import_archive(s, path, NULL, got, &err), -EFBIG, "%s", err.msg);
        free(big);
        free(path);
        image_store_free(s);
        scratch_remove(dir);
}

Test(archive, a_file_that_is_not_an_archive_is_refused_clearly)
{
        const char *dir = scratch_dir();
        struct image_store *s = open_store(dir);
        char *path = sb_path_join(dir, "notes.txt");
        write_file_at(AT_FDCWD, path, "just some text, not a tarball\n", 0644);
        char got[SB_DIGEST_STR_LEN + 1];
        sb_error_t err = { 0 };
        cr_assert_eq(image_import(s, path, got, &err), -EINVAL);
        cr_assert(strstr(err.msg, "not a docker archive"), "%s", err.msg);
        char *missing = sb_path_join(dir, "missing.tar");
        cr_assert_eq(image_import(s, missing, got, &err), -ENOENT);
        free(missing);
        free(path);
        image_store_free(s);
        scratch_remove(dir);
}

Test(archive, a_layout_imports_back_to_the_same_manifest_by_name)
{
        const char *dir = scratch_dir();
        struct image_store *s = open_store(dir);
        struct fixture f;
        fixture_make(s, &f, NULL);
        char *layout = sb_path_join(dir, "layout");
        sb_error_t err = { 0 };
        cr_assert_eq(image_layout_write(s, layout, f.manifest, "v1", &err), 0, "%s", err.msg);
        cr_assert_eq(image_layout_write(s, layout, f.manifest, "v2", &err), 0, "%s", err.msg);
        char *root2 = sb_path_join(dir, "store2");
        struct image_store *s2 = NULL;
        cr_assert_eq(image_store_open(root2, &s2, &err), 0);
        char got[SB_DIGEST_STR_LEN + 1];
        cr_assert_eq(image_import(s2, layout, got, &err), -EINVAL, "two images need a name");
        cr_assert(strstr(err.msg, "DIR:NAME"), "%s", err.msg);
        char *spec = sb_xasprintf("%s:v2", layout);
        cr_assert_eq(image_import(s2, spec, got, &err), 0, "%s", err.msg);
        cr_assert_str_eq(got, f.manifest);
        cr_assert(image_store_has_blob(s2, f.layers[0]) && image_store_has_blob(s2, f.layers[1]));
        cr_assert(image_store_has_blob(s2, f.config));
        free(spec);
        spec = sb_xasprintf("%s:v3", layout);
        cr_assert_eq(image_import(s2, spec, got, &err), -ENOENT);
        free(spec);
        image_store_free(s2);
        free(root2);
        free(layout);
        fixture_done(&f);
        image_store_free(s);
        scratch_remove(dir);
}

Test(archive, a_corrupt_layout_blob_is_refused_and_not_kept)
{
        const char *dir = scratch_dir();
        struct image_store *s = open_store(dir);
        struct fixture f;
        fixture_make(s, &f, NULL);
        char *layout = sb_path_join(dir, "layout");
        sb_error_t err = { 0 };
        cr_assert_eq(image_layout_write(s, layout, f.manifest, "v1", &err), 0, "%s", err.msg);
        /* same size, different bytes: only the digest can catch it */
        char *blob = sb_xasprintf("%s/blobs/sha256/%s", layout, f.layers[1] + 7);
        int fd = open(blob, O_WRONLY | O_CLOEXEC);
        cr_assert_geq(fd, 0);
        cr_assert_eq(pwrite(fd, "XXXX", 4, 20), 4);
        close(fd);
        char *root2 = sb_path_join(dir, "store2");
        struct image_store *s2 = NULL;
        cr_assert_eq(image_store_open(root2, &s2, &err), 0);
        char got[SB_DIGEST_STR_LEN + 1];
        cr_assert_eq(image_import_layout(s2, layout, NULL, got, &err), -EBADMSG);
        cr_assert(strstr(err.msg, f.layers[1]), "%s", err.msg);
        cr_assert_not(image_store_has_blob(s2, f.layers[1]));
        cr_assert_eq(count_entries(s2->tmp_fd, "."), 0, "no temporary blob is left");
        /* a shorter blob is caught by its size */
        cr_assert_eq(truncate(blob, 10), 0);
        cr_assert_eq(image_import_layout(s2, layout, NULL, got, &err), -EBADMSG);
        cr_assert(strstr(err.msg, "descriptor"), "%s", err.msg);
        image_store_free(s2);
        free(root2);
        free(blob);
        free(layout);
        fixture_done(&f);
        image_store_free(s);
        scratch_remove(dir);
}

Test(archive, a_directory_that_is_not_a_layout_is_refused)
{
        const char *dir = scratch_dir();
        struct image_store *s = open_store(dir);
        char got[SB_DIGEST_STR_LEN + 1];
        sb_error_t err = { 0 };
        cr_assert_eq(image_import(s, dir, got, &err), -EINVAL);
        cr_assert(strstr(err.msg, "not an OCI image layout"), "%s", err.msg);
        image_store_free(s);
        scratch_remove(dir);
}

struct repo_tag_case {
        char ref[128];
        char want[128]; /* "" for NULL */
};

static struct repo_tag_case repo_tag_cases[] = {
        { "lab/app", "lab/app:latest" },
        { "127.0.0.1:5000/lab/app", "127.0.0.1:5000/lab/app:latest" },
        { "127.0.0.1:5000/lab/app:v1", "127.0.0.1:5000/lab/app:v1" },
        { "lab/app:v1@sha256:0000000000000000000000000000000000000000000000000000000000000000",
          "lab/app:v1" },
        { "lab/app@sha256:0000000000000000000000000000000000000000000000000000000000000000", "" },
        { "bad name", "" },
        { "", "" },
};

ParameterizedTestParameters(archive, repo_tags_come_from_destinations)
{
        return cr_make_param_array(struct repo_tag_case, repo_tag_cases,
                                   sizeof(repo_tag_cases) / sizeof(repo_tag_cases[0]));
}

ParameterizedTest(struct repo_tag_case *c, archive, repo_tags_come_from_destinations)
{
        char *got = image_archive_repo_tag(c->ref);
        if (!c->want[0])
                cr_assert_null(got, "%s -> %s", c->ref, got);
        else
                cr_assert_str_eq(got ? got : "(null)", c->want);
        free(got);
}
