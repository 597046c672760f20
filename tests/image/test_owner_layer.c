/*
 * Owner records end to end in the image/ folder: the layer writer puts recorded owners into tar
 * headers (never the record xattrs), the extractor records owners a single-id namespace cannot
 * chown to, and overlay copy-up carries records into a step's upper directory.
 */
#include "image/image_layer.h"
#include "image/image_owner.h"

#include <grp.h>
#include <inttypes.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/xattr.h>

#include "helpers.h"

#define TEST_UID 64124u

static const char *dir;
static int dir_fd = -1;
static struct image_store *store;

static void setup(void)
{
        dir = scratch_dir();
        store = open_store(dir);
        dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        cr_assert_geq(dir_fd, 0);
}

static void teardown(void)
{
        close(dir_fd);
        image_store_free(store);
        scratch_remove(dir);
}

TestSuite(image_owner_layer, .init = setup, .fini = teardown);

#define CHECK(cond, code)                                                                          \
        do {                                                                                       \
                if (!(cond)) {                                                                     \
                        fprintf(stderr, "check %d failed: %s (errno %s)\n", code, #cond,          \
                                strerror(errno));                                                  \
                        return code;                                                               \
                }                                                                                  \
        } while (0)

/* Hand the whole scratch tree (store included) to TEST_UID, the single-id child's root. */
static void give_to_test_uid(void)
{
        char ids[32];
        snprintf(ids, sizeof(ids), "%u:%u", TEST_UID, TEST_UID);
        const char *argv[] = { "/bin/chown", "-R", ids, dir, NULL };
        cr_assert_eq(run_quiet(argv), 0);
}

/* Memory the forked child can write results into. */
static void *shared(size_t size)
{
        void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        cr_assert_neq(p, MAP_FAILED);
        return p;
}

static int write_proc(const char *path, const char *data)
{
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -1;
        int r = sb_write_all(fd, data, strlen(data));
        close(fd);
        return r;
}

/* Run fn(arg) in a forked child that is uid/gid 0 of a user namespace mapping only TEST_UID. */
static int run_single_id(int (*fn)(void *), void *arg)
{
        fflush(NULL);
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
                char map[64];
                snprintf(map, sizeof(map), "0 %u 1\n", TEST_UID);
                if (setgroups(0, NULL) < 0 || setresgid(TEST_UID, TEST_UID, TEST_UID) < 0 ||
                    setresuid(TEST_UID, TEST_UID, TEST_UID) < 0 ||
                    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0 ||
                    unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0 ||
                    write_proc("/proc/self/setgroups", "deny") < 0 ||
                    write_proc("/proc/self/uid_map", map) < 0 ||
                    write_proc("/proc/self/gid_map", map) < 0) {
                        fprintf(stderr, "enter single-id namespace: %s\n", strerror(errno));
                        _exit(99);
                }
                _exit(fn(arg));
        }
        int st = 0;
        cr_assert_eq(waitpid(pid, &st, 0), pid);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

struct hdr {
        char name[128];
        unsigned uid, gid;
        char xattrs[256];
        char data[64];
};

/* All entries of a layer blob. */
static size_t read_layer(const char *digest, struct hdr *v, size_t max)
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
                struct hdr *h = &v[n++];
                memset(h, 0, sizeof(*h));
                snprintf(h->name, sizeof(h->name), "%s", archive_entry_pathname(e));
                h->uid = (unsigned) archive_entry_uid(e);
                h->gid = (unsigned) archive_entry_gid(e);
                const char *xn;
                const void *xv;
                size_t xl;
                archive_entry_xattr_reset(e);
                while (archive_entry_xattr_next(e, &xn, &xv, &xl) == ARCHIVE_OK) {
                        size_t used = strlen(h->xattrs);
                        snprintf(h->xattrs + used, sizeof(h->xattrs) - used, "%s=%.*s;", xn,
                                 (int) xl, (const char *) xv);
                }
                la_ssize_t got = archive_read_data(a, h->data, sizeof(h->data) - 1);
                h->data[got > 0 ? got : 0] = '\0';
        }
        archive_read_free(a);
        free(path);
        return n;
}

static const struct hdr *find(const struct hdr *v, size_t n, const char *name)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(v[i].name, name) == 0)
                        return &v[i];
        cr_assert_fail("no entry '%s' in the layer", name);
        return NULL;
}

static void assert_owner(const struct hdr *v, size_t n, const char *name, unsigned uid,
                         unsigned gid)
{
        const struct hdr *h = find(v, n, name);
        cr_assert_eq(h->uid, uid, "%s: uid %u, want %u", name, h->uid, uid);
        cr_assert_eq(h->gid, gid, "%s: gid %u, want %u", name, h->gid, gid);
}

static void set_xattr_at(int dirfd, const char *path, const char *name, const char *value)
{
        int fd = openat(dirfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        cr_assert_geq(fd, 0, "open %s", path);
        cr_assert_eq(fsetxattr(fd, name, value, strlen(value), 0), 0, "%s: %s", path,
                     strerror(errno));
        close(fd);
}

/* Record a parent-directory owner for the symlink dirfd/parent/leaf, as image_owner does. */
static void record_child(int dirfd, const char *parent, const char *leaf, const char *ids)
{
        int pfd = openat(dirfd, parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        cr_assert_geq(pfd, 0);
        struct stat st;
        cr_assert_eq(fstatat(pfd, leaf, &st, AT_SYMLINK_NOFOLLOW), 0);
        char key[300], value[64];
        snprintf(key, sizeof(key), "%s%s", IMAGE_OWNER_CHILD_PREFIX, leaf);
        snprintf(value, sizeof(value), "%s:%" PRIu64, ids, (uint64_t) st.st_ino);
        cr_assert_eq(fsetxattr(pfd, key, value, strlen(value), 0), 0);
        close(pfd);
}

Test(image_owner_layer, layer_headers_carry_recorded_owners_and_never_the_records)
{
        sb_error_t err = { 0 };
        cr_assert_eq(mkdirat(dir_fd, "up", 0755), 0);
        int up = openat(dir_fd, "up", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        cr_assert_eq(mkdirat(up, "home", 0755), 0);
        cr_assert_eq(mkdirat(up, "home/app", 0700), 0);
        write_file_at(up, "home/app/f", "data", 0644);
        cr_assert_eq(linkat(up, "home/app/f", up, "home/app/f2", 0), 0);
        cr_assert_eq(symlinkat("f", up, "home/app/l"), 0);
        write_file_at(up, "plain", "p", 0644);
        set_xattr_at(up, "home/app", IMAGE_OWNER_XATTR, "1000:1000");
        set_xattr_at(up, "home/app/f", IMAGE_OWNER_XATTR, "1000:1001");
        set_xattr_at(up, "home/app/f", "user.keep", "v");
        record_child(up, "home/app", "l", "1000:1002");

        struct image_layer_desc d;
        cr_assert_eq(image_layer_write_from_dir(store, up, &d, &err), 0, "%s", err.msg);
        close(up);
        struct hdr v[16];
        size_t n = read_layer(d.digest, v, 16);
        assert_owner(v, n, "home/", 0, 0);
        assert_owner(v, n, "home/app/", 1000, 1000);
        assert_owner(v, n, "home/app/f", 1000, 1001);
        assert_owner(v, n, "home/app/f2", 1000, 1001);
        assert_owner(v, n, "home/app/l", 1000, 1002);
        assert_owner(v, n, "plain", 0, 0);
        for (size_t i = 0; i < n; i++)
                cr_assert_null(strstr(v[i].xattrs, "user.sbuild."), "%s has a record: %s",
                               v[i].name, v[i].xattrs);
        cr_assert_str_eq(find(v, n, "home/app/f")->xattrs, "user.keep=v;");
}

Test(image_owner_layer, layer_fails_on_a_malformed_record)
{
        sb_error_t err = { 0 };
        cr_assert_eq(mkdirat(dir_fd, "up", 0755), 0);
        int up = openat(dir_fd, "up", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        write_file_at(up, "f", "data", 0644);
        set_xattr_at(up, "f", IMAGE_OWNER_XATTR, "app:app");
        struct image_layer_desc d;
        cr_assert_eq(image_layer_write_from_dir(store, up, &d, &err), -EBADMSG);
        cr_assert(strstr(err.msg, "'f'"), "%s", err.msg);
        close(up);
}

/* A layer with owners single-id mode cannot represent: 1000 and 2000, plus root's. */
static void make_owned_layer(struct image_layer_desc *d)
{
        sb_error_t err = { 0 };
        cr_assert_eq(mkdirat(dir_fd, "src", 0755), 0);
        int up = openat(dir_fd, "src", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        cr_assert_eq(mkdirat(up, "home", 0755), 0);
        cr_assert_eq(mkdirat(up, "home/app", 0750), 0);
        write_file_at(up, "home/app/f", "data", 0640);
        cr_assert_eq(linkat(up, "home/app/f", up, "home/app/hard", 0), 0);
        cr_assert_eq(symlinkat("f", up, "home/app/l"), 0);
        cr_assert_eq(mkfifoat(up, "home/app/p", 0600), 0);
        write_file_at(up, "rootfile", "r", 0644);
        cr_assert_eq(fchownat(up, "home/app", 1000, 1000, 0), 0);
        cr_assert_eq(fchownat(up, "home/app/f", 1000, 2000, 0), 0);
        cr_assert_eq(fchownat(up, "home/app/l", 1000, 1000, AT_SYMLINK_NOFOLLOW), 0);
        cr_assert_eq(fchownat(up, "home/app/p", 2000, 2000, 0), 0);
        struct timespec ts[2] = { { 1500000000, 123 }, { 1500000000, 123 } };
        cr_assert_eq(utimensat(up, "home/app/l", ts, AT_SYMLINK_NOFOLLOW), 0);
        cr_assert_eq(utimensat(up, "home/app", ts, 0), 0);
        cr_assert_eq(utimensat(up, "home", ts, 0), 0);
        cr_assert_eq(image_layer_write_from_dir(store, up, d, &err), 0, "%s", err.msg);
        close(up);
}

struct extract_arg {
        struct image_layer_desc src;
        struct image_layer_desc again;
};

static int child_extract_and_rewrite(void *p)
{
        struct extract_arg *a = p;
        sb_error_t err = { 0 };
        char diff_id[SB_DIGEST_STR_LEN + 1];
        if (image_layer_extract(store, a->src.digest, a->src.diff_id, diff_id, &err) < 0) {
                fprintf(stderr, "extract: %s\n", err.msg);
                return 1;
        }
        char *path = image_store_layer_path(store, diff_id);
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        free(path);
        CHECK(fd >= 0, 2);
        struct stat st;
        CHECK(fstatat(fd, "home/app/f", &st, 0) == 0 && st.st_uid == 0, 3);
        char v[64] = "";
        int ffd = openat(fd, "home/app/f", O_RDONLY | O_CLOEXEC);
        CHECK(ffd >= 0 && fgetxattr(ffd, IMAGE_OWNER_XATTR, v, sizeof(v) - 1) > 0, 4);
        close(ffd);
        CHECK(strcmp(v, "1000:2000") == 0, 5);
        /* written back from the extracted tree, the layer is the same, byte for byte */
        if (image_layer_write_from_dir(store, fd, &a->again, &err) < 0) {
                fprintf(stderr, "write: %s\n", err.msg);
                return 6;
        }
        close(fd);
        CHECK(strcmp(a->again.diff_id, a->src.diff_id) == 0, 7);
        return 0;
}

Test(image_owner_layer, layer_extracted_in_single_id_mode_keeps_its_owners)
{
        struct extract_arg *a = shared(sizeof(*a));
        make_owned_layer(&a->src);
        give_to_test_uid();
        cr_assert_eq(run_single_id(child_extract_and_rewrite, a), 0);
        munmap(a, sizeof(*a));
}

/*
 * A lower layer as single-id extraction leaves it: everything really owned by the mapped root,
 * intended owners in records. lower/d (1000:1001), lower/d/f (1000:1001), lower/d/l (symlink,
 * 1000:1001 recorded on d).
 */
static void make_recorded_lower(void)
{
        cr_assert_eq(mkdirat(dir_fd, "lower", 0755), 0);
        cr_assert_eq(mkdirat(dir_fd, "lower/d", 0755), 0);
        write_file_at(dir_fd, "lower/d/f", "x\n", 0644);
        cr_assert_eq(symlinkat("f", dir_fd, "lower/d/l"), 0);
        set_xattr_at(dir_fd, "lower/d", IMAGE_OWNER_XATTR, "1000:1001");
        set_xattr_at(dir_fd, "lower/d/f", IMAGE_OWNER_XATTR, "1000:1001");
        record_child(dir_fd, "lower/d", "l", "1000:1001");
        cr_assert_eq(mkdirat(dir_fd, "upper", 0755), 0);
        cr_assert_eq(mkdirat(dir_fd, "work", 0755), 0);
        cr_assert_eq(mkdirat(dir_fd, "merged", 0755), 0);
}

static int child_overlay_step(void *p)
{
        struct image_layer_desc *d = p;
        sb_error_t err = { 0 };
        char opts[1024];
        snprintf(opts, sizeof(opts),
                 "lowerdir=%s/lower,upperdir=%s/upper,workdir=%s/work,userxattr", dir, dir, dir);
        char *merged = sb_path_join(dir, "merged");
        CHECK(mount("overlay", merged, "overlay", 0, opts) == 0, 1);
        int m = open(merged, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(m >= 0, 2);
        /* a step appends to f (copy-up of d and f) ... */
        int fd = openat(m, "d/f", O_WRONLY | O_APPEND | O_CLOEXEC);
        CHECK(fd >= 0 && write(fd, "y\n", 2) == 2, 3);
        close(fd);
        /* ... replaces the symlink l (as root: it is root's now) ... */
        CHECK(unlinkat(m, "d/l", 0) == 0 && symlinkat("g", m, "d/l") == 0, 4);
        /* ... creates a root file, and a COPY --chown symlink through the mount */
        write_file_at(m, "d/new", "n", 0644);
        CHECK(symlinkat("new", m, "d/l2") == 0, 5);
        CHECK(image_owner_apply(m, "d/l2", 1000, 1001) == 0, 6);
        close(m);
        CHECK(umount2(merged, MNT_DETACH) == 0, 7);
        free(merged);
        int up = openat(dir_fd, "upper", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(up >= 0, 8);
        if (image_layer_write_from_dir(store, up, d, &err) < 0) {
                fprintf(stderr, "write: %s\n", err.msg);
                return 9;
        }
        close(up);
        return 0;
}

Test(image_owner_layer, overlay_copy_up_keeps_recorded_owners)
{
        make_recorded_lower();
        give_to_test_uid();
        struct image_layer_desc *d = shared(sizeof(*d));
        cr_assert_eq(run_single_id(child_overlay_step, d), 0);
        struct hdr v[16];
        size_t n = read_layer(d->digest, v, 16);
        munmap(d, sizeof(*d));
        assert_owner(v, n, "d/", 1000, 1001);
        assert_owner(v, n, "d/f", 1000, 1001);
        cr_assert_str_eq(find(v, n, "d/f")->data, "x\ny\n");
        assert_owner(v, n, "d/l", 0, 0);
        assert_owner(v, n, "d/l2", 1000, 1001);
        assert_owner(v, n, "d/new", 0, 0);
        for (size_t i = 0; i < n; i++)
                cr_assert_null(strstr(v[i].xattrs, "user.sbuild."), "%s has a record: %s",
                               v[i].name, v[i].xattrs);
}

Test(image_owner_layer, a_layer_cannot_bring_its_own_owner_records)
{
        sb_error_t err = { 0 };
        struct tar_spec specs[] = {
                { .name = "d/", .type = 'd', .xattr_name = IMAGE_OWNER_XATTR },
                { .name = "d/f", .type = 'f', .content = "x", .xattr_name = "user.sbuild.owner.l" },
                { .name = "d/g", .type = 'f', .content = "y", .xattr_name = "user.kept" },
        };
        struct tar_buf b;
        build_tar(specs, 3, true, &b);
        char digest[SB_DIGEST_STR_LEN + 1], diff_id[SB_DIGEST_STR_LEN + 1];
        cr_assert_eq(image_store_put_blob(store, b.data, b.len, digest, &err), 0, "%s", err.msg);
        free(b.data);
        cr_assert_eq(image_layer_extract(store, digest, NULL, diff_id, &err), 0, "%s", err.msg);
        char *path = image_store_layer_path(store, diff_id);
        char v[16];
        int fd = openat(AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        cr_assert_geq(fd, 0);
        int d = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int f = openat(fd, "d/f", O_RDONLY | O_CLOEXEC);
        int g = openat(fd, "d/g", O_RDONLY | O_CLOEXEC);
        cr_assert_eq(fgetxattr(d, IMAGE_OWNER_XATTR, v, sizeof(v)), -1);
        cr_assert_eq(fgetxattr(f, "user.sbuild.owner.l", v, sizeof(v)), -1);
        cr_assert_eq(fgetxattr(g, "user.kept", v, sizeof(v)), 1, "other user xattrs are kept");
        close(d);
        close(f);
        close(g);
        close(fd);
        free(path);
}
