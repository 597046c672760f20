#include "image/image_layer.h"

#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "helpers.h"

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

TestSuite(image_layer_extract, .init = setup, .fini = teardown);

static void put_tar(const struct tar_spec *specs, size_t n, bool gz,
                    char digest[SB_DIGEST_STR_LEN + 1])
{
        struct tar_buf b;
        sb_error_t err = { 0 };
        build_tar(specs, n, gz, &b);
        cr_assert_eq(image_store_put_blob(store, b.data, b.len, digest, &err), 0, "%s", err.msg);
        free(b.data);
}

static int open_layer(const char *diff_id)
{
        char *p = image_store_layer_path(store, diff_id);
        int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        cr_assert_geq(fd, 0, "layer %s missing", p);
        free(p);
        return fd;
}

static void assert_nothing_kept(void)
{
        cr_assert_eq(count_entries(store->layers_fd, "."), 0, "a layer was kept");
        cr_assert_eq(count_entries(store->tmp_fd, "."), 0, "temporary tree left behind");
}

/* Build a tree, write it as a layer, extract that layer: the overlay forms come back. */
Test(image_layer_extract, layer_round_trips_with_whiteouts_and_owners)
{
        sb_error_t err = { 0 };
        char *u = sb_path_join(dir, "upper");
        cr_assert_eq(mkdir(u, 0755), 0);
        int upper = open(u, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        cr_assert_eq(mkdirat(upper, "etc", 0750), 0);
        write_file_at(upper, "etc/hosts", "127.0.0.1 localhost\n", 04711);
        cr_assert_eq(fchownat(upper, "etc/hosts", 1000, 1001, 0), 0);
        cr_assert_eq(chmod(u, 0755), 0);
        int fd = openat(upper, "etc/hosts", O_RDONLY | O_CLOEXEC);
        cr_assert_eq(fsetxattr(fd, "user.foo", "bar", 3, 0), 0);
        cr_assert_eq(fchmod(fd, 04711), 0);
        close(fd);
        cr_assert_eq(linkat(upper, "etc/hosts", upper, "etc/hosts2", 0), 0);
        cr_assert_eq(symlinkat("/etc/passwd", upper, "pw"), 0);
        cr_assert_eq(mknodat(upper, "gone", S_IFCHR | 0, makedev(0, 0)), 0);
        cr_assert_eq(mkdirat(upper, "opq", 0700), 0);
        fd = openat(upper, "opq", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        cr_assert_eq(fsetxattr(fd, "user.overlay.opaque", "y", 1, 0), 0);
        close(fd);
        write_file_at(upper, "opq/new", "n", 0644);
        struct timespec ts[2] = { { 1400000000, 0 }, { 1400000000, 0 } };
        cr_assert_eq(utimensat(upper, "etc", ts, 0), 0);
        cr_assert_eq(utimensat(upper, "etc/hosts", ts, 0), 0);

        struct image_layer_desc d;
        cr_assert_eq(image_layer_write_from_dir(store, upper, &d, &err), 0, "%s", err.msg);
        close(upper);
        free(u);

        char diff_id[SB_DIGEST_STR_LEN + 1];
        cr_assert_eq(image_layer_extract(store, d.digest, d.diff_id, diff_id, &err), 0, "%s",
                     err.msg);
        cr_assert_str_eq(diff_id, d.diff_id);
        cr_assert(image_store_has_layer(store, d.diff_id));
        cr_assert_eq(count_entries(store->tmp_fd, "."), 0);

        int l = open_layer(d.diff_id);
        struct stat st, st2;
        cr_assert_eq(fstatat(l, "etc/hosts", &st, AT_SYMLINK_NOFOLLOW), 0);
        cr_assert_eq(st.st_mode, S_IFREG | 04711, "mode %o", st.st_mode);
        cr_assert_eq(st.st_uid, 1000);
        cr_assert_eq(st.st_gid, 1001);
        cr_assert_eq(st.st_mtim.tv_sec, 1400000000);
        cr_assert_eq(fstatat(l, "etc/hosts2", &st2, AT_SYMLINK_NOFOLLOW), 0);
        cr_assert_eq(st.st_ino, st2.st_ino, "hardlink must share the inode");
        cr_assert_eq(fstatat(l, "etc", &st, AT_SYMLINK_NOFOLLOW), 0);
        cr_assert_eq(st.st_mode, S_IFDIR | 0750);
        cr_assert_eq(st.st_mtim.tv_sec, 1400000000, "dir mtime must survive its contents");
        char buf[64];
        fd = openat(l, "etc/hosts", O_RDONLY | O_CLOEXEC);
        cr_assert_eq(fgetxattr(fd, "user.foo", buf, sizeof(buf)), 3);
        cr_assert_eq(read(fd, buf, sizeof(buf)), 20);
        cr_assert_eq(memcmp(buf, "127.0.0.1 localhost\n", 20), 0);
        close(fd);
        ssize_t n = readlinkat(l, "pw", buf, sizeof(buf));
        cr_assert_eq(n, 11);
        cr_assert_eq(memcmp(buf, "/etc/passwd", 11), 0);
        cr_assert_eq(fstatat(l, "gone", &st, AT_SYMLINK_NOFOLLOW), 0);
        cr_assert(S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0), "whiteout not restored");
        cr_assert_eq(fstatat(l, ".wh.gone", &st, AT_SYMLINK_NOFOLLOW), -1);
        fd = openat(l, "opq", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        cr_assert_eq(fgetxattr(fd, "user.overlay.opaque", buf, sizeof(buf)), 1);
        cr_assert_eq(buf[0], 'y');
        close(fd);
        cr_assert_eq(fstatat(l, "opq/.wh..wh..opq", &st, AT_SYMLINK_NOFOLLOW), -1);
        cr_assert_eq(fstatat(l, "opq/new", &st, AT_SYMLINK_NOFOLLOW), 0);
        close(l);

        /* extracting again reuses the layer */
        cr_assert_eq(image_layer_extract(store, d.digest, NULL, diff_id, &err), 0, "%s", err.msg);
        cr_assert_str_eq(diff_id, d.diff_id);
        cr_assert_eq(count_entries(store->layers_fd, "."), 1);
        cr_assert_eq(count_entries(store->tmp_fd, "."), 0);
}

Test(image_layer_extract, plain_and_gzip_tars_give_the_same_diff_id)
{
        static const struct tar_spec specs[] = {
                { .name = "d/", .type = 'd' },
                { .name = "d/f", .type = 'f', .content = "data" },
        };
        sb_error_t err = { 0 };
        char plain[SB_DIGEST_STR_LEN + 1], gz[SB_DIGEST_STR_LEN + 1];
        char id1[SB_DIGEST_STR_LEN + 1], id2[SB_DIGEST_STR_LEN + 1];
        put_tar(specs, 2, false, plain);
        put_tar(specs, 2, true, gz);
        cr_assert_eq(image_layer_extract(store, plain, NULL, id1, &err), 0, "%s", err.msg);
        cr_assert_str_eq(id1, plain, "diff_id of a plain tar is its digest");
        cr_assert_eq(image_layer_extract(store, gz, NULL, id2, &err), 0, "%s", err.msg);
        cr_assert_str_eq(id1, id2);
}

Test(image_layer_extract, wrong_expected_diff_id_keeps_nothing)
{
        static const struct tar_spec specs[] = { { .name = "f", .type = 'f', .content = "x" } };
        sb_error_t err = { 0 };
        char digest[SB_DIGEST_STR_LEN + 1], other[SB_DIGEST_STR_LEN + 1];
        put_tar(specs, 1, true, digest);
        sb_sha256_digest("other", 5, other);
        cr_assert_eq(image_layer_extract(store, digest, other, NULL, &err), -EBADMSG);
        assert_nothing_kept();
}

Test(image_layer_extract, corrupted_blob_is_refused)
{
        static const struct tar_spec specs[] = { { .name = "f", .type = 'f', .content = "x" } };
        sb_error_t err = { 0 };
        char digest[SB_DIGEST_STR_LEN + 1];
        put_tar(specs, 1, false, digest);
        /* same tar format, different content: extracts fine but must not pass as digest */
        static const struct tar_spec evil[] = { { .name = "f", .type = 'f', .content = "y" } };
        struct tar_buf b;
        build_tar(evil, 1, false, &b);
        int fd = openat(store->blobs_fd, digest + 7, O_WRONLY | O_TRUNC | O_CLOEXEC);
        cr_assert_eq(sb_write_all(fd, b.data, b.len), 0);
        close(fd);
        free(b.data);
        cr_assert_eq(image_layer_extract(store, digest, NULL, NULL, &err), -EBADMSG, "%s", err.msg);
        assert_nothing_kept();
}

struct hostile {
        char what[48];
        struct tar_spec specs[3];
        int n;
        char named[32]; /* the refusal message must name this entry */
};

ParameterizedTestParameters(image_layer_extract, hostile_entries_are_refused)
{
        static struct hostile cases[] = {
                { "dotdot", { { .name = "../evil", .type = 'f', .content = "x" } }, 1, "../evil" },
                { "deep dotdot",
                  { { .name = "a/../../../../evil", .type = 'f', .content = "x" } },
                  1,
                  "../../../evil" },
                { "symlinked parent",
                  { { .name = "link", .type = 'l', .link = "/tmp" },
                    { .name = "link/sbuild-evil", .type = 'f', .content = "x" } },
                  2,
                  "link/sbuild-evil" },
                { "relative symlinked parent",
                  { { .name = "up", .type = 'l', .link = "../../.." },
                    { .name = "up/sbuild-evil", .type = 'f', .content = "x" } },
                  2,
                  "up/sbuild-evil" },
                { "hardlink out",
                  { { .name = "h", .type = 'h', .link = "../../etc/passwd" } },
                  1,
                  "'h'" },
                { "hardlink through symlink",
                  { { .name = "e", .type = 'l', .link = "/etc" },
                    { .name = "h", .type = 'h', .link = "e/passwd" } },
                  2,
                  "'h'" },
                { "root as symlink", { { .name = "./", .type = 'l', .link = "/tmp" } }, 1, "./" },
                { "bad whiteout", { { .name = "etc/.wh..", .type = 'f' } }, 1, ".wh.." },
                { "hardlink to dir",
                  { { .name = "d/", .type = 'd' }, { .name = "h", .type = 'h', .link = "d" } },
                  2,
                  "'h'" },
        };
        return cr_make_param_array(struct hostile, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct hostile *c, image_layer_extract, hostile_entries_are_refused)
{
        sb_error_t err = { 0 };
        char digest[SB_DIGEST_STR_LEN + 1];
        struct stat before, after;
        cr_assert_eq(stat("/etc/passwd", &before), 0);
        put_tar(c->specs, (size_t) c->n, true, digest);
        int r = image_layer_extract(store, digest, NULL, NULL, &err);
        cr_assert_lt(r, 0, "%s: accepted", c->what);
        cr_assert(strstr(err.msg, c->named), "%s: message '%s' does not name the entry", c->what,
                  err.msg);
        assert_nothing_kept();
        cr_assert_eq(access("/tmp/sbuild-evil", F_OK), -1, "%s: wrote outside", c->what);
        char *outside = sb_path_join(dir, "evil");
        cr_assert_eq(access(outside, F_OK), -1, "%s: wrote outside", c->what);
        cr_assert_eq(fstatat(store->root_fd, "evil", &after, 0), -1);
        cr_assert_eq(fstatat(store->root_fd, "tmp/evil", &after, 0), -1);
        free(outside);
        cr_assert_eq(stat("/etc/passwd", &after), 0);
        cr_assert_eq(after.st_nlink, before.st_nlink, "%s: /etc/passwd was linked", c->what);
}

Test(image_layer_extract, absolute_names_land_inside_the_tree)
{
        struct tar_spec specs[1] = { { .type = 'f', .content = "abs" } };
        snprintf(specs[0].name, sizeof(specs[0].name), "/sbuild-abs-test-%d", (int) getpid());
        sb_error_t err = { 0 };
        char digest[SB_DIGEST_STR_LEN + 1], diff_id[SB_DIGEST_STR_LEN + 1];
        put_tar(specs, 1, true, digest);
        cr_assert_eq(image_layer_extract(store, digest, NULL, diff_id, &err), 0, "%s", err.msg);
        cr_assert_eq(access(specs[0].name, F_OK), -1, "wrote to the host root");
        int l = open_layer(diff_id);
        cr_assert_eq(faccessat(l, specs[0].name + 1, F_OK, AT_SYMLINK_NOFOLLOW), 0);
        close(l);
}

Test(image_layer_extract, hardlink_to_an_outward_symlink_does_not_touch_its_target)
{
        /* CVE-2021-32760 shape: the hardlink's mode must not be applied through the symlink */
        static const struct tar_spec specs[] = {
                { .name = "s", .type = 'l', .link = "/etc/passwd" },
                { .name = "h", .type = 'h', .link = "s", .mode = 0777 },
        };
        sb_error_t err = { 0 };
        char digest[SB_DIGEST_STR_LEN + 1], diff_id[SB_DIGEST_STR_LEN + 1];
        struct stat before, after;
        cr_assert_eq(stat("/etc/passwd", &before), 0);
        put_tar(specs, 2, false, digest);
        cr_assert_eq(image_layer_extract(store, digest, NULL, diff_id, &err), 0, "%s", err.msg);
        cr_assert_eq(stat("/etc/passwd", &after), 0);
        cr_assert_eq(after.st_mode, before.st_mode);
        cr_assert_eq(after.st_nlink, before.st_nlink);
        int l = open_layer(diff_id);
        cr_assert_eq(fstatat(l, "h", &after, AT_SYMLINK_NOFOLLOW), 0);
        cr_assert(S_ISLNK(after.st_mode));
        close(l);
}

Test(image_layer_extract, overlay_xattrs_in_a_tar_are_not_applied)
{
        static const struct tar_spec specs[] = {
                { .name = "d/", .type = 'd', .xattr_name = "user.overlay.opaque" },
                { .name = "f", .type = 'f', .content = "x", .xattr_name = "trusted.overlay.x" },
        };
        sb_error_t err = { 0 };
        char digest[SB_DIGEST_STR_LEN + 1], diff_id[SB_DIGEST_STR_LEN + 1];
        put_tar(specs, 2, true, digest);
        cr_assert_eq(image_layer_extract(store, digest, NULL, diff_id, &err), 0, "%s", err.msg);
        int l = open_layer(diff_id);
        int fd = openat(l, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        char buf[8];
        cr_assert_eq(fgetxattr(fd, "user.overlay.opaque", buf, sizeof(buf)), -1,
                     "a tar forged an opaque directory");
        close(fd);
        close(l);
}

Test(image_layer_extract, whiteout_replaces_an_earlier_entry_of_the_same_layer)
{
        static const struct tar_spec specs[] = {
                { .name = "x/", .type = 'd' },
                { .name = "x/y", .type = 'f', .content = "y" },
                { .name = ".wh.x", .type = 'f' },
        };
        sb_error_t err = { 0 };
        char digest[SB_DIGEST_STR_LEN + 1], diff_id[SB_DIGEST_STR_LEN + 1];
        put_tar(specs, 3, true, digest);
        cr_assert_eq(image_layer_extract(store, digest, NULL, diff_id, &err), 0, "%s", err.msg);
        int l = open_layer(diff_id);
        struct stat st;
        cr_assert_eq(fstatat(l, "x", &st, AT_SYMLINK_NOFOLLOW), 0);
        cr_assert(S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0));
        close(l);
}

Test(image_layer_extract, archive_extraction_keeps_whiteout_names_as_files)
{
        static const struct tar_spec specs[] = {
                { .name = "./pkg/", .type = 'd', .mode = 0711 },
                { .name = "./pkg/.wh.keep", .type = 'f', .content = "k" },
                { .name = "./pkg/bin", .type = 'f', .content = "b", .mode = 0755 },
        };
        sb_error_t err = { 0 };
        struct tar_buf b;
        build_tar(specs, 3, true, &b);
        char *arch = sb_path_join(dir, "a.tgz");
        char *dest = sb_path_join(dir, "dest");
        cr_assert_eq(mkdir(dest, 0755), 0);
        int afd = open(arch, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        cr_assert_eq(sb_write_all(afd, b.data, b.len), 0);
        int dfd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        cr_assert_eq(image_layer_extract_archive(afd, dfd, &err), 0, "%s", err.msg);
        struct stat st;
        cr_assert_eq(fstatat(dfd, "pkg/.wh.keep", &st, AT_SYMLINK_NOFOLLOW), 0);
        cr_assert(S_ISREG(st.st_mode));
        cr_assert_eq(fstatat(dfd, "pkg/bin", &st, AT_SYMLINK_NOFOLLOW), 0);
        cr_assert_eq(st.st_mode & 07777, 0755);
        cr_assert_eq(fstatat(dfd, "pkg", &st, AT_SYMLINK_NOFOLLOW), 0);
        cr_assert_eq(st.st_mode & 07777, 0711);
        close(afd);
        close(dfd);
        free(b.data);
        free(arch);
        free(dest);
}

Test(image_layer_extract, archive_extraction_refuses_escapes)
{
        static const struct tar_spec specs[] = {
                { .name = "ok", .type = 'f', .content = "k" },
                { .name = "../evil", .type = 'f', .content = "x" },
        };
        sb_error_t err = { 0 };
        struct tar_buf b;
        build_tar(specs, 2, false, &b);
        char *arch = sb_path_join(dir, "a.tar");
        char *dest = sb_path_join(dir, "dest");
        cr_assert_eq(mkdir(dest, 0755), 0);
        int afd = open(arch, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        cr_assert_eq(sb_write_all(afd, b.data, b.len), 0);
        int dfd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        cr_assert_lt(image_layer_extract_archive(afd, dfd, &err), 0);
        cr_assert(strstr(err.msg, "../evil"), "%s", err.msg);
        char *outside = sb_path_join(dir, "evil");
        cr_assert_eq(access(outside, F_OK), -1);
        close(afd);
        close(dfd);
        free(b.data);
        free(arch);
        free(dest);
        free(outside);
}

Test(image_layer_extract, non_archive_is_einval_and_keeps_the_file_offset)
{
        sb_error_t err = { 0 };
        char *path = sb_path_join(dir, "notes.txt");
        char *dest = sb_path_join(dir, "dest");
        cr_assert_eq(mkdir(dest, 0755), 0);
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        char text[2048];
        memset(text, 'a', sizeof(text));
        cr_assert_eq(sb_write_all(fd, text, sizeof(text)), 0);
        cr_assert_eq(lseek(fd, 0, SEEK_SET), 0);
        int dfd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        cr_assert_eq(image_layer_extract_archive(fd, dfd, &err), -EINVAL, "%s", err.msg);
        cr_assert_eq(lseek(fd, 0, SEEK_CUR), 0);
        cr_assert_eq(count_entries(dfd, "."), 0);
        close(fd);

        int empty = open(path, O_RDWR | O_TRUNC | O_CLOEXEC);
        cr_assert_eq(image_layer_extract_archive(empty, dfd, &err), -EINVAL);
        close(empty);
        close(dfd);
        free(path);
        free(dest);
}

Test(image_layer_extract, empty_layer_extracts_to_an_empty_tree)
{
        sb_error_t err = { 0 };
        char *u = sb_path_join(dir, "upper");
        cr_assert_eq(mkdir(u, 0755), 0);
        int upper = open(u, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct image_layer_desc d;
        cr_assert_eq(image_layer_write_from_dir(store, upper, &d, &err), 0, "%s", err.msg);
        close(upper);
        free(u);
        char diff_id[SB_DIGEST_STR_LEN + 1];
        cr_assert_eq(image_layer_extract(store, d.digest, d.diff_id, diff_id, &err), 0, "%s",
                     err.msg);
        int l = open_layer(d.diff_id);
        cr_assert_eq(count_entries(l, "."), 0);
        struct stat st;
        cr_assert_eq(fstat(l, &st), 0);
        cr_assert_eq(st.st_mode & 07777, 0755);
        close(l);
}

Test(image_layer_extract, missing_parents_are_created_and_opaque_marks_them)
{
        static const struct tar_spec specs[] = {
                { .name = "a/b/.wh..wh..opq", .type = 'f' },
                { .name = "a/b/c", .type = 'f', .content = "c" },
        };
        sb_error_t err = { 0 };
        char digest[SB_DIGEST_STR_LEN + 1], diff_id[SB_DIGEST_STR_LEN + 1];
        put_tar(specs, 2, true, digest);
        cr_assert_eq(image_layer_extract(store, digest, NULL, diff_id, &err), 0, "%s", err.msg);
        int l = open_layer(diff_id);
        int fd = openat(l, "a/b", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        cr_assert_geq(fd, 0);
        char v[4];
        cr_assert_eq(fgetxattr(fd, "user.overlay.opaque", v, sizeof(v)), 1);
        cr_assert_eq(faccessat(fd, "c", F_OK, 0), 0);
        close(fd);
        close(l);
}
