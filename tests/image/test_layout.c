#include <jansson.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "helpers.h"
#include "image/image_layer.h"
#include "image/image_oci.h"

static const char *dir;
static struct image_store *store;

static void setup(void)
{
        dir = scratch_dir();
        store = open_store(dir);
}

static void teardown(void)
{
        image_store_free(store);
        scratch_remove(dir);
}

TestSuite(image_layout, .init = setup, .fini = teardown);

/* A one-layer image in the store (file, dir, symlink, hardlink); returns the manifest digest. */
static void make_image(const char *content, char manifest[SB_DIGEST_STR_LEN + 1])
{
        sb_error_t err = { 0 };
        char *u = sb_path_join(dir, "upper");
        (void) mkdir(u, 0755);
        int upper = open(u, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        (void) mkdirat(upper, "etc", 0755);
        write_file_at(upper, "etc/motd", content, 0644);
        (void) unlinkat(upper, "etc/motd2", 0);
        cr_assert_eq(linkat(upper, "etc/motd", upper, "etc/motd2", 0), 0);
        (void) symlinkat("etc/motd", upper, "motd");

        struct image_layer_desc l;
        cr_assert_eq(image_layer_write_from_dir(store, upper, &l, &err), 0, "%s", err.msg);
        close(upper);
        free(u);

        const char *os, *arch, *variant;
        image_host_platform(&os, &arch, &variant);
        json_t *cfg = json_pack("{s:s,s:s,s:{s:[s]},s:{s:s,s:[s]}}", "architecture", arch, "os", os,
                                "config", "Env", "PATH=/bin", "rootfs", "type", "layers",
                                "diff_ids", l.diff_id);
        char *text = json_dumps(cfg, JSON_COMPACT);
        json_decref(cfg);
        struct image_descriptor config = { .media_type = IMAGE_MT_OCI_CONFIG,
                                           .size = strlen(text) };
        cr_assert_eq(image_store_put_blob(store, text, strlen(text), config.digest, &err), 0);
        free(text);
        struct image_descriptor layer = { .media_type = IMAGE_MT_OCI_LAYER_GZIP, .size = l.size };
        memcpy(layer.digest, l.digest, sizeof(l.digest));

        uint64_t size = 0;
        cr_assert_eq(image_manifest_write(store, &config, &layer, 1, manifest, &size, &err), 0,
                     "%s", err.msg);
        cr_assert_gt(size, 0);
}

Test(image_layout, manifest_write_stores_a_parseable_oci_manifest)
{
        char digest[SB_DIGEST_STR_LEN + 1];
        sb_error_t err = { 0 };
        make_image("hello\n", digest);
        char *body = NULL;
        size_t len = 0;
        cr_assert_eq(image_store_read_blob(store, digest, IMAGE_MANIFEST_MAX, &body, &len, &err), 0,
                     "%s", err.msg);
        const char prefix[] = "{\"schemaVersion\":2,\"mediaType\":\"" IMAGE_MT_OCI_MANIFEST
                              "\",\"config\":{\"mediaType\":\"" IMAGE_MT_OCI_CONFIG "\"";
        cr_assert(sb_str_has_prefix(body, prefix), "%s", body);
        struct image_manifest *m = NULL;
        cr_assert_eq(image_manifest_parse(body, len, &m, &err), 0, "%s", err.msg);
        cr_assert_eq(m->n_layers, 1);
        cr_assert_str_eq(m->layers[0].media_type, IMAGE_MT_OCI_LAYER_GZIP);
        image_manifest_free(m);
        free(body);
}

Test(image_layout, manifest_write_refuses_invalid_descriptors)
{
        sb_error_t err = { 0 };
        char digest[SB_DIGEST_STR_LEN + 1];
        struct image_descriptor config = { .media_type = IMAGE_MT_OCI_CONFIG,
                                           .digest = "sha256:nothex",
                                           .size = 2 };
        cr_assert_eq(image_manifest_write(store, &config, NULL, 0, digest, NULL, &err), -EINVAL);
}

static json_t *load_index(const char *layout)
{
        char *p = sb_path_join(layout, "index.json");
        json_error_t je;
        json_t *idx = json_load_file(p, 0, &je);
        cr_assert_not_null(idx, "index.json: %s", je.text);
        free(p);
        return idx;
}

Test(image_layout, layout_is_accepted_by_umoci_and_skopeo)
{
        char digest[SB_DIGEST_STR_LEN + 1], digest2[SB_DIGEST_STR_LEN + 1];
        sb_error_t err = { 0 };
        char *layout = sb_path_join(dir, "out/layout");
        make_image("hello umoci\n", digest);
        cr_assert_eq(image_layout_write(store, layout, digest, "v1", &err), 0, "%s", err.msg);

        char *image = sb_xasprintf("%s:v1", layout);
        char *rootfs = sb_path_join(dir, "rootfs");
        const char *umoci[] = { "/usr/bin/umoci", "raw", "unpack", "--rootless",
                                "--image",        image, rootfs,   NULL };
        cr_assert_eq(run_quiet(umoci), 0, "umoci raw unpack failed (is /usr/bin/umoci there?)");
        char *motd = sb_path_join(rootfs, "etc/motd");
        char *text = NULL;
        cr_assert_eq(sb_read_file_at(AT_FDCWD, motd, 1024, &text, NULL, &err), 0, "%s", err.msg);
        cr_assert_str_eq(text, "hello umoci\n");
        char *motd2 = sb_path_join(rootfs, "etc/motd2");
        struct stat a, b;
        cr_assert_eq(stat(motd, &a), 0);
        cr_assert_eq(stat(motd2, &b), 0);
        cr_assert_eq(a.st_ino, b.st_ino, "hardlink lost");

        char *oci = sb_xasprintf("oci:%s:v1", layout);
        const char *skopeo[] = { "/usr/bin/skopeo", "inspect", oci, NULL };
        cr_assert_eq(run_quiet(skopeo), 0, "skopeo inspect failed (is /usr/bin/skopeo there?)");

        /* a second image under another tag, then v1 replaced: two entries, v1 -> new one */
        make_image("second\n", digest2);
        cr_assert_str_neq(digest, digest2);
        cr_assert_eq(image_layout_write(store, layout, digest, "v2", &err), 0, "%s", err.msg);
        cr_assert_eq(image_layout_write(store, layout, digest2, "v1", &err), 0, "%s", err.msg);
        json_t *idx = load_index(layout);
        json_t *list = json_object_get(idx, "manifests");
        cr_assert_eq(json_array_size(list), 2);
        size_t i;
        json_t *e;
        json_array_foreach(list, i, e)
        {
                const char *ref = json_string_value(json_object_get(
                        json_object_get(e, "annotations"), "org.opencontainers.image.ref.name"));
                const char *d = json_string_value(json_object_get(e, "digest"));
                cr_assert_str_eq(d, strcmp(ref, "v1") == 0 ? digest2 : digest);
        }
        json_decref(idx);
        cr_assert_eq(run_quiet(skopeo), 0);

        char *oci_layout = sb_path_join(layout, "oci-layout");
        free(text);
        cr_assert_eq(sb_read_file_at(AT_FDCWD, oci_layout, 1024, &text, NULL, &err), 0);
        cr_assert_str_eq(text, "{\"imageLayoutVersion\":\"1.0.0\"}");
        /* every blob in the layout hashes to its name */
        char *blobs = sb_path_join(layout, "blobs/sha256");
        DIR *dd = opendir(blobs);
        struct dirent *de;
        int n = 0;
        while ((de = readdir(dd))) {
                if (de->d_name[0] == '.')
                        continue;
                char *p = sb_path_join(blobs, de->d_name);
                char got[SB_DIGEST_STR_LEN + 1];
                file_digest(p, got);
                cr_assert_str_eq(got + 7, de->d_name);
                free(p);
                n++;
        }
        closedir(dd);
        cr_assert_eq(n, 6, "expected 2 x (manifest, config, layer)");
        free(blobs);
        free(oci_layout);
        free(text);
        free(oci);
        free(motd);
        free(motd2);
        free(rootfs);
        free(image);
        free(layout);
}

Test(image_layout, existing_non_index_file_is_not_overwritten)
{
        char digest[SB_DIGEST_STR_LEN + 1];
        sb_error_t err = { 0 };
        char *layout = sb_path_join(dir, "bad");
        cr_assert_eq(mkdir(layout, 0755), 0);
        int fd = open(layout, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        write_file_at(fd, "index.json", "[1,2,3]", 0644);
        close(fd);
        make_image("x\n", digest);
        cr_assert_eq(image_layout_write(store, layout, digest, "v1", &err), -EBADMSG);
        json_t *idx = load_index(layout);
        cr_assert(json_is_array(idx));
        json_decref(idx);
        free(layout);
}

static void write_layer(const char *name, void (*fill)(int), struct image_layer_desc *ret)
{
        sb_error_t err = { 0 };
        char *u = sb_path_join(dir, name);
        cr_assert_eq(mkdir(u, 0755), 0);
        int fd = open(u, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        fill(fd);
        cr_assert_eq(image_layer_write_from_dir(store, fd, ret, &err), 0, "%s", err.msg);
        close(fd);
        free(u);
}

static void fill_base(int fd)
{
        cr_assert_eq(mkdirat(fd, "a", 0755), 0);
        write_file_at(fd, "a/old", "old", 0644);
        cr_assert_eq(mkdirat(fd, "d", 0755), 0);
        write_file_at(fd, "d/x", "x", 0644);
        write_file_at(fd, "d/keep", "keep", 0644);
}

static void fill_change(int fd)
{
        /* what overlayfs leaves after: rm -rf /a; mkdir /a; echo > /a/new; rm /d/x */
        cr_assert_eq(mkdirat(fd, "a", 0755), 0);
        int a = openat(fd, "a", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        cr_assert_eq(fsetxattr(a, "user.overlay.opaque", "y", 1, 0), 0);
        close(a);
        write_file_at(fd, "a/new", "new", 0644);
        cr_assert_eq(mkdirat(fd, "d", 0755), 0);
        cr_assert_eq(mknodat(fd, "d/x", S_IFCHR | 0, makedev(0, 0)), 0);
}

Test(image_layout, umoci_applies_our_whiteouts_and_opaque_dirs)
{
        sb_error_t err = { 0 };
        struct image_layer_desc base, change;
        write_layer("base", fill_base, &base);
        write_layer("change", fill_change, &change);

        const char *os, *arch, *variant;
        image_host_platform(&os, &arch, &variant);
        json_t *cfg =
                json_pack("{s:s,s:s,s:{s:s,s:[s,s]}}", "architecture", arch, "os", os, "rootfs",
                          "type", "layers", "diff_ids", base.diff_id, change.diff_id);
        char *text = json_dumps(cfg, JSON_COMPACT);
        json_decref(cfg);
        struct image_descriptor config = { .media_type = IMAGE_MT_OCI_CONFIG,
                                           .size = strlen(text) };
        cr_assert_eq(image_store_put_blob(store, text, strlen(text), config.digest, &err), 0);
        free(text);
        struct image_descriptor layers[2] = {
                { .media_type = IMAGE_MT_OCI_LAYER_GZIP, .size = base.size },
                { .media_type = IMAGE_MT_OCI_LAYER_GZIP, .size = change.size },
        };
        memcpy(layers[0].digest, base.digest, sizeof(base.digest));
        memcpy(layers[1].digest, change.digest, sizeof(change.digest));
        char manifest[SB_DIGEST_STR_LEN + 1];
        cr_assert_eq(image_manifest_write(store, &config, layers, 2, manifest, NULL, &err), 0, "%s",
                     err.msg);
        char *layout = sb_path_join(dir, "layout");
        cr_assert_eq(image_layout_write(store, layout, manifest, "latest", &err), 0, "%s", err.msg);

        char *image = sb_xasprintf("%s:latest", layout);
        char *rootfs = sb_path_join(dir, "rootfs");
        const char *umoci[] = { "/usr/bin/umoci", "raw", "unpack", "--rootless",
                                "--image",        image, rootfs,   NULL };
        cr_assert_eq(run_quiet(umoci), 0, "umoci raw unpack failed");
        int r = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        cr_assert_eq(faccessat(r, "a/old", F_OK, AT_SYMLINK_NOFOLLOW), -1, "opaque dir ignored");
        cr_assert_eq(faccessat(r, "a/new", F_OK, AT_SYMLINK_NOFOLLOW), 0);
        cr_assert_eq(faccessat(r, "d/x", F_OK, AT_SYMLINK_NOFOLLOW), -1, "whiteout ignored");
        cr_assert_eq(faccessat(r, "d/keep", F_OK, AT_SYMLINK_NOFOLLOW), 0);
        close(r);
        free(image);
        free(rootfs);
        free(layout);
}
