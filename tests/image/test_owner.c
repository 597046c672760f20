/*
 * Owner records (image/image_owner.h): chown where the ids are mapped, xattr records where they
 * are not (single-id user namespaces), read back by the layer writer, set by the extractor,
 * and kept across overlay copy-up. Namespace work runs in a forked child that maps only
 * TEST_UID as 0, exactly as sbuild's single-id mode does; the child returns 0 or the number of
 * the check that failed.
 */
#include "image/image_layer.h"
#include "image/image_owner.h"

#include <inttypes.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <grp.h>

#include "helpers.h"

#define TEST_UID 64123u

static const char *dir;
static int dir_fd = -1;

static void setup(void)
{
        dir = scratch_dir();
        cr_assert_eq(chown(dir, TEST_UID, TEST_UID), 0);
        dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        cr_assert_geq(dir_fd, 0);
}

static void teardown(void)
{
        close(dir_fd);
        scratch_remove(dir);
}

TestSuite(image_owner, .init = setup, .fini = teardown);

#define CHECK(cond, code)                                                                          \
        do {                                                                                       \
                if (!(cond)) {                                                                     \
                        fprintf(stderr, "check %d failed: %s (errno %s)\n", code, #cond,          \
                                strerror(errno));                                                  \
                        return code;                                                               \
                }                                                                                  \
        } while (0)

static int write_proc(const char *path, const char *data)
{
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -1;
        int r = sb_write_all(fd, data, strlen(data));
        close(fd);
        return r;
}

/* Become TEST_UID, then uid/gid 0 of a new user (and mount) namespace mapping only that id. */
static int enter_single_id(void)
{
        char map[64];
        snprintf(map, sizeof(map), "0 %u 1\n", TEST_UID);
        if (setgroups(0, NULL) < 0 || setresgid(TEST_UID, TEST_UID, TEST_UID) < 0 ||
            setresuid(TEST_UID, TEST_UID, TEST_UID) < 0)
                return -1;
        /* changing uid made us non-dumpable, which would leave the /proc/self map files root's */
        if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0 || unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
                return -1;
        if (write_proc("/proc/self/setgroups", "deny") < 0 ||
            write_proc("/proc/self/uid_map", map) < 0 || write_proc("/proc/self/gid_map", map) < 0)
                return -1;
        return 0;
}

/* Run fn(arg) in a forked child in single-id mode; its exit code. */
static int run_single_id(int (*fn)(void *), void *arg)
{
        fflush(NULL);
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
                if (enter_single_id() < 0) {
                        fprintf(stderr, "enter single-id namespace: %s\n", strerror(errno));
                        _exit(99);
                }
                _exit(fn(arg));
        }
        int st = 0;
        cr_assert_eq(waitpid(pid, &st, 0), pid);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The value of xattr name on dirfd/path (a file or directory), "" if none. */
static void xattr_at(int dirfd, const char *path, const char *name, char *buf, size_t size)
{
        buf[0] = '\0';
        int fd = openat(dirfd, path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return;
        ssize_t n = fgetxattr(fd, name, buf, size - 1);
        buf[n > 0 ? n : 0] = '\0';
        close(fd);
}

static int lookup_at(int dirfd, const char *name, uid_t *uid, gid_t *gid)
{
        struct stat st;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        return image_owner_lookup(dirfd, name, -1, &st, uid, gid);
}

static int child_records_file_and_dir(void *arg)
{
        (void) arg;
        char v[64];
        uid_t u;
        gid_t g;
        struct stat st;
        write_file_at(dir_fd, "f", "x", 0640);
        CHECK(mkdirat(dir_fd, "d", 0755) == 0, 1);
        CHECK(image_owner_apply(dir_fd, "f", 1000, 1001) == 0, 2);
        CHECK(image_owner_apply(dir_fd, "d", 2000, 2000) == 0, 3);
        xattr_at(dir_fd, "f", IMAGE_OWNER_XATTR, v, sizeof(v));
        CHECK(strcmp(v, "1000:1001") == 0, 4);
        xattr_at(dir_fd, "d", IMAGE_OWNER_XATTR, v, sizeof(v));
        CHECK(strcmp(v, "2000:2000") == 0, 5);
        /* the real owner stays the mapped root */
        CHECK(fstatat(dir_fd, "f", &st, 0) == 0 && st.st_uid == 0 && st.st_gid == 0, 6);
        CHECK(lookup_at(dir_fd, "f", &u, &g) == 1 && u == 1000 && g == 1001, 7);
        CHECK(lookup_at(dir_fd, "d", &u, &g) == 1 && u == 2000 && g == 2000, 8);
        /* an id that is mapped (0) together with one that is not: both are recorded */
        CHECK(image_owner_apply(dir_fd, "f", 0, 1001) == 0, 9);
        CHECK(lookup_at(dir_fd, "f", &u, &g) == 1 && u == 0 && g == 1001, 10);
        return 0;
}

Test(image_owner, unmapped_owner_of_file_and_directory_is_recorded_in_an_xattr)
{
        cr_assert_eq(run_single_id(child_records_file_and_dir, NULL), 0);
}

static int child_records_symlink_and_fifo(void *arg)
{
        (void) arg;
        char v[128], want[128];
        uid_t u;
        gid_t g;
        struct stat st;
        CHECK(mkdirat(dir_fd, "d", 0755) == 0, 1);
        CHECK(symlinkat("target", dir_fd, "d/l") == 0, 2);
        CHECK(mkfifoat(dir_fd, "d/p", 0600) == 0, 3);
        /* a path with a parent component works as well as a parent fd */
        CHECK(image_owner_apply(dir_fd, "d/l", 1000, 1001) == 0, 4);
        int dfd = openat(dir_fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(dfd >= 0, 5);
        CHECK(image_owner_apply(dfd, "p", 3000, 3001) == 0, 6);
        CHECK(fstatat(dfd, "l", &st, AT_SYMLINK_NOFOLLOW) == 0, 7);
        snprintf(want, sizeof(want), "1000:1001:%" PRIu64, (uint64_t) st.st_ino);
        xattr_at(dir_fd, "d", IMAGE_OWNER_CHILD_PREFIX "l", v, sizeof(v));
        CHECK(strcmp(v, want) == 0, 8);
        CHECK(lookup_at(dfd, "l", &u, &g) == 1 && u == 1000 && g == 1001, 9);
        CHECK(lookup_at(dir_fd, "d/l", &u, &g) == 1 && u == 1000 && g == 1001, 10);
        CHECK(lookup_at(dfd, "p", &u, &g) == 1 && u == 3000 && g == 3001, 11);
        close(dfd);
        return 0;
}

Test(image_owner, unmapped_owner_of_symlink_and_fifo_is_recorded_on_the_parent_by_name)
{
        cr_assert_eq(run_single_id(child_records_symlink_and_fifo, NULL), 0);
}

static int child_long_name(void *arg)
{
        (void) arg;
        char name[NAME_MAX + 1];
        memset(name, 'n', 250);
        name[250] = '\0';
        uid_t u;
        gid_t g;
        CHECK(symlinkat("t", dir_fd, name) == 0, 1);
        CHECK(image_owner_apply(dir_fd, name, 1000, 1001) == 0, 2);
        CHECK(lookup_at(dir_fd, name, &u, &g) == 1 && u == 1000 && g == 1001, 3);
        return 0;
}

Test(image_owner, symlink_with_a_name_too_long_for_an_xattr_key_is_recorded_hashed)
{
        cr_assert_eq(run_single_id(child_long_name, NULL), 0);
}

static int child_clears_stale(void *arg)
{
        (void) arg;
        char v[64];
        uid_t u;
        gid_t g;
        write_file_at(dir_fd, "f", "x", 0644);
        CHECK(symlinkat("f", dir_fd, "l") == 0, 1);
        CHECK(image_owner_apply(dir_fd, "f", 1000, 1000) == 0, 2);
        CHECK(image_owner_apply(dir_fd, "l", 1000, 1000) == 0, 3);
        CHECK(lookup_at(dir_fd, "l", &u, &g) == 1, 4);
        /* 0:0 is the mapped owner: a real chown, and the old record must go */
        CHECK(image_owner_apply(dir_fd, "f", 0, 0) == 0, 5);
        CHECK(image_owner_apply(dir_fd, "l", 0, 0) == 0, 6);
        xattr_at(dir_fd, "f", IMAGE_OWNER_XATTR, v, sizeof(v));
        CHECK(v[0] == '\0', 7);
        xattr_at(dir_fd, ".", IMAGE_OWNER_CHILD_PREFIX "l", v, sizeof(v));
        CHECK(v[0] == '\0', 8);
        CHECK(lookup_at(dir_fd, "f", &u, &g) == 0 && u == 0 && g == 0, 9);
        CHECK(lookup_at(dir_fd, "l", &u, &g) == 0 && u == 0 && g == 0, 10);
        return 0;
}

Test(image_owner, chown_to_the_mapped_owner_removes_a_stale_record)
{
        cr_assert_eq(run_single_id(child_clears_stale, NULL), 0);
}

Test(image_owner, mapped_ids_are_really_chowned_and_not_recorded)
{
        char v[64];
        struct stat st;
        write_file_at(dir_fd, "f", "x", 0644);
        cr_assert_eq(image_owner_apply(dir_fd, "f", 1000, 1001), 0);
        cr_assert_eq(fstatat(dir_fd, "f", &st, 0), 0);
        cr_assert_eq(st.st_uid, 1000);
        cr_assert_eq(st.st_gid, 1001);
        xattr_at(dir_fd, "f", IMAGE_OWNER_XATTR, v, sizeof(v));
        cr_assert_str_empty(v);
}

Test(image_owner, apply_reports_a_missing_entry)
{
        cr_assert_eq(image_owner_apply(dir_fd, "missing", 1000, 1000), -ENOENT);
}

Test(image_owner, record_on_a_file_not_owned_by_root_is_ignored)
{
        uid_t u;
        gid_t g;
        write_file_at(dir_fd, "f", "x", 0644);
        cr_assert_eq(fchownat(dir_fd, "f", 1000, 1000, 0), 0);
        int fd = openat(dir_fd, "f", O_RDONLY | O_CLOEXEC);
        cr_assert_eq(fsetxattr(fd, IMAGE_OWNER_XATTR, "0:0", 3, 0), 0);
        close(fd);
        cr_assert_eq(lookup_at(dir_fd, "f", &u, &g), 0);
        cr_assert_eq(u, 1000);
        cr_assert_eq(g, 1000);
}

Test(image_owner, symlink_record_for_another_inode_is_ignored)
{
        uid_t u;
        gid_t g;
        cr_assert_eq(fchownat(dir_fd, ".", 0, 0, 0), 0);
        cr_assert_eq(symlinkat("x", dir_fd, "l"), 0);
        struct stat st;
        cr_assert_eq(fstatat(dir_fd, "l", &st, AT_SYMLINK_NOFOLLOW), 0);
        char v[64];
        snprintf(v, sizeof(v), "1000:1000:%" PRIu64, (uint64_t) st.st_ino + 1);
        cr_assert_eq(fsetxattr(dir_fd, IMAGE_OWNER_CHILD_PREFIX "l", v, strlen(v), 0), 0);
        cr_assert_eq(lookup_at(dir_fd, "l", &u, &g), 0);
        cr_assert_eq(u, 0);
}

struct bad_value {
        char v[32];
};

ParameterizedTestParameters(image_owner, malformed_record_is_an_error)
{
        static struct bad_value values[] = {
                { "abc" },  { "1000" }, { "1000:" },        { ":1000" },         { "1:2:3" },
                { "-1:0" }, { "1 :2" }, { "4294967295:0" }, { "99999999999:1" },
        };
        return cr_make_param_array(struct bad_value, values, sizeof(values) / sizeof(values[0]));
}

ParameterizedTest(struct bad_value *b, image_owner, malformed_record_is_an_error)
{
        uid_t u;
        gid_t g;
        write_file_at(dir_fd, "f", "x", 0644);
        cr_assert_eq(fchownat(dir_fd, "f", 0, 0, 0), 0);
        int fd = openat(dir_fd, "f", O_RDONLY | O_CLOEXEC);
        cr_assert_eq(fsetxattr(fd, IMAGE_OWNER_XATTR, b->v, strlen(b->v), 0), 0);
        close(fd);
        cr_assert_eq(lookup_at(dir_fd, "f", &u, &g), -EBADMSG, "value '%s'", b->v);
}

Test(image_owner, record_xattr_names_are_recognised)
{
        cr_assert(image_owner_is_record_xattr("user.sbuild.owner"));
        cr_assert(image_owner_is_record_xattr("user.sbuild.owner.link"));
        cr_assert(image_owner_is_record_xattr("user.sbuild.owner/0123"));
        cr_assert_not(image_owner_is_record_xattr("user.sbuild.ownerx"));
        cr_assert_not(image_owner_is_record_xattr("user.other"));
}
