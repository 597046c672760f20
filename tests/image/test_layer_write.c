#include "image/image_layer.h"

#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <zlib.h>

#include "helpers.h"

static const char *dir;
static struct image_store *store;
static int upper = -1;

static void setup(void)
{
        dir = scratch_dir();
        store = open_store(dir);
        char *u = sb_path_join(dir, "upper");
        cr_assert_eq(mkdir(u, 0755), 0);
        upper = open(u, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        cr_assert_geq(upper, 0);
        free(u);
}

static void teardown(void)
{
        close(upper);
        image_store_free(store);
        scratch_remove(dir);
}

TestSuite(image_layer_write, .init = setup, .fini = teardown);

/* sha256 of the gunzipped blob, and its length */
static void gunzip_digest(const char *path, char out[SB_DIGEST_STR_LEN + 1], size_t *ret_len)
{
        gzFile gz = gzopen(path, "rb");
        cr_assert_not_null(gz);
        struct sb_sha256 *h = sb_sha256_new();
        char buf[8192];
        size_t total = 0;
        int n;
        while ((n = gzread(gz, buf, sizeof(buf))) > 0) {
                sb_sha256_update(h, buf, (size_t) n);
                total += (size_t) n;
        }
        cr_assert_geq(n, 0);
        gzclose(gz);
        sb_sha256_final(h, out);
        *ret_len = total;
}

struct seen {
        char name[128];
        mode_t mode;
        char link[128];
        char hardlink[128];
        char xattrs[256];
        uid_t uid;
        time_t mtime;
};

/* Read the blob back with libarchive and record every entry. */
static size_t read_back(const char *digest, struct seen *v, size_t max)
{
        char *path = image_store_blob_path(store, digest);
        struct archive *a = archive_read_new();
        archive_read_support_filter_gzip(a);
        archive_read_support_format_tar(a);
        cr_assert_eq(archive_read_open_filename(a, path, 10240), ARCHIVE_OK, "%s",
                     archive_error_string(a));
        struct archive_entry *e;
        size_t n = 0;
        while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
                cr_assert_lt(n, max);
                struct seen *s = &v[n++];
                memset(s, 0, sizeof(*s));
                snprintf(s->name, sizeof(s->name), "%s", archive_entry_pathname(e));
                s->mode = archive_entry_mode(e);
                s->uid = (uid_t) archive_entry_uid(e);
                s->mtime = archive_entry_mtime(e);
                if (archive_entry_symlink(e))
                        snprintf(s->link, sizeof(s->link), "%s", archive_entry_symlink(e));
                if (archive_entry_hardlink(e))
                        snprintf(s->hardlink, sizeof(s->hardlink), "%s", archive_entry_hardlink(e));
                const char *xn;
                const void *xv;
                size_t xl;
                archive_entry_xattr_reset(e);
                while (archive_entry_xattr_next(e, &xn, &xv, &xl) == ARCHIVE_OK) {
                        size_t used = strlen(s->xattrs);
                        snprintf(s->xattrs + used, sizeof(s->xattrs) - used, "%s=%.*s;", xn,
                                 (int) xl, (const char *) xv);
                }
        }
        archive_read_free(a);
        free(path);
        return n;
}

static void check_hashes(const struct image_layer_desc *d)
{
        char *path = image_store_blob_path(store, d->digest);
        char blob_digest[SB_DIGEST_STR_LEN + 1], tar_digest[SB_DIGEST_STR_LEN + 1];
        size_t tar_len = 0;
        struct stat st;
        file_digest(path, blob_digest);
        gunzip_digest(path, tar_digest, &tar_len);
        cr_assert_eq(stat(path, &st), 0);
        cr_assert_str_eq(d->digest, blob_digest, "digest is not the sha256 of the blob");
        cr_assert_str_eq(d->diff_id, tar_digest, "diff_id is not the sha256 of the tar");
        cr_assert_eq(d->size, (uint64_t) st.st_size);
        cr_assert_eq(tar_len % 512, 0, "tar stream is not whole records");
        free(path);
}

static void make_tree(void)
{
        cr_assert_eq(mkdirat(upper, "a", 0755), 0);
        write_file_at(upper, "a/x", "x", 0600);
        write_file_at(upper, "a-b", "ab", 0644);
        cr_assert_eq(mkdirat(upper, "bin", 0755), 0);
        write_file_at(upper, "bin/sh", "#!shell", 04755);
        cr_assert_eq(linkat(upper, "bin/sh", upper, "bin/sh2", 0), 0);
        cr_assert_eq(mkdirat(upper, "etc", 0750), 0);
        write_file_at(upper, "etc/hosts", "127.0.0.1 localhost\n", 0644);
        cr_assert_eq(fchownat(upper, "etc/hosts", 1000, 1001, 0), 0);
        struct timespec ts[2] = { { 1500000000, 0 }, { 1500000000, 0 } };
        cr_assert_eq(utimensat(upper, "etc/hosts", ts, 0), 0);
        int fd = openat(upper, "etc/hosts", O_RDONLY | O_CLOEXEC);
        cr_assert_eq(fsetxattr(fd, "user.foo", "bar", 3, 0), 0);
        cr_assert_eq(fsetxattr(fd, "user.overlay.origin", "zz", 2, 0), 0);
        close(fd);
        cr_assert_eq(symlinkat("usr/lib", upper, "lib"), 0);
        cr_assert_eq(mknodat(upper, "gone", S_IFCHR | 0, makedev(0, 0)), 0);
        cr_assert_eq(mkdirat(upper, "opq", 0755), 0);
        fd = openat(upper, "opq", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        cr_assert_eq(fsetxattr(fd, "user.overlay.opaque", "y", 1, 0), 0);
        close(fd);
        write_file_at(upper, "opq/new", "new", 0644);

        /* a socket left behind by a step: must not reach the layer */
        int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/upper/sock", dir);
        cr_assert_eq(bind(sock, (struct sockaddr *) &sa, sizeof(sa)), 0, "%s", strerror(errno));
        close(sock);
}

Test(image_layer_write, tree_becomes_a_sorted_docker_style_layer)
{
        sb_error_t err = { 0 };
        struct image_layer_desc d;
        make_tree();
        cr_assert_eq(image_layer_write_from_dir(store, upper, &d, &err), 0, "%s", err.msg);

        struct seen v[32];
        size_t n = read_back(d.digest, v, 32);
        static const char *const names[] = {
                ".wh.gone", "a-b",  "a/",        "a/x", "bin/", "bin/sh",
                "bin/sh2",  "etc/", "etc/hosts", "lib", "opq/", "opq/.wh..wh..opq",
                "opq/new",
        };
        size_t want = sizeof(names) / sizeof(names[0]);
        for (size_t i = 0; i < n && i < want; i++)
                cr_expect_str_eq(v[i].name, names[i], "entry %zu", i);
        cr_assert_eq(n, want);
        cr_assert_eq(d.n_entries, want);

        cr_assert_eq(v[0].mode, AE_IFREG | 0, "whiteout must be an empty mode-0 file");
        cr_assert_eq(v[2].mode, AE_IFDIR | 0755);
        cr_assert_eq(v[3].mode, AE_IFREG | 0600);
        cr_assert_eq(v[5].mode, AE_IFREG | 04755);
        cr_assert_str_eq(v[6].hardlink, "bin/sh");
        cr_assert_eq(v[7].mode, AE_IFDIR | 0750);
        cr_assert_eq(v[8].uid, 1000);
        cr_assert_eq(v[8].mtime, 1500000000);
        cr_assert_str_eq(v[8].xattrs, "user.foo=bar;", "overlay xattrs must be dropped: %s",
                         v[8].xattrs);
        cr_assert_eq(v[9].mode & AE_IFMT, AE_IFLNK);
        cr_assert_str_eq(v[9].link, "usr/lib");
        cr_assert_str_eq(v[10].xattrs, "", "opaque xattr must not be copied");
        cr_assert_eq(v[11].mode & AE_IFMT, AE_IFREG);
        check_hashes(&d);
}

Test(image_layer_write, empty_upper_gives_a_valid_empty_layer)
{
        sb_error_t err = { 0 };
        struct image_layer_desc d;
        cr_assert_eq(image_layer_write_from_dir(store, upper, &d, &err), 0, "%s", err.msg);
        cr_assert_eq(d.n_entries, 0);
        struct seen v[1];
        cr_assert_eq(read_back(d.digest, v, 1), 0);
        check_hashes(&d);
        cr_assert_eq(count_entries(store->tmp_fd, "."), 0);
}

Test(image_layer_write, same_tree_gives_the_same_digests)
{
        sb_error_t err = { 0 };
        struct image_layer_desc a, b;
        make_tree();
        cr_assert_eq(image_layer_write_from_dir(store, upper, &a, &err), 0, "%s", err.msg);
        cr_assert_eq(image_layer_write_from_dir(store, upper, &b, &err), 0, "%s", err.msg);
        cr_assert_str_eq(a.digest, b.digest);
        cr_assert_str_eq(a.diff_id, b.diff_id);
}

Test(image_layer_write, large_file_streams_through_intact)
{
        sb_error_t err = { 0 };
        struct image_layer_desc d;
        /* 3 MiB of varied bytes: several callback rounds through tar, hash and deflate */
        size_t len = 3u << 20;
        unsigned char *data = sb_xmalloc(len);
        for (size_t i = 0; i < len; i++)
                data[i] = (unsigned char) ((i * 2654435761u) >> 13);
        int fd = openat(upper, "big", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        cr_assert_eq(sb_write_all(fd, data, len), 0);
        close(fd);
        cr_assert_eq(image_layer_write_from_dir(store, upper, &d, &err), 0, "%s", err.msg);
        check_hashes(&d);

        char *path = image_store_blob_path(store, d.digest);
        struct archive *a = archive_read_new();
        archive_read_support_filter_gzip(a);
        archive_read_support_format_tar(a);
        cr_assert_eq(archive_read_open_filename(a, path, 10240), ARCHIVE_OK);
        struct archive_entry *e;
        cr_assert_eq(archive_read_next_header(a, &e), ARCHIVE_OK);
        unsigned char *back = sb_xmalloc(len);
        cr_assert_eq(archive_read_data(a, back, len), (la_ssize_t) len);
        cr_assert_eq(memcmp(back, data, len), 0);
        archive_read_free(a);
        free(back);
        free(data);
        free(path);
}
