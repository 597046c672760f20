#include "sandbox/sandbox_userns.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/sb_cleanup.h"
#include "common/sb_log.h"
#include "common/sb_util.h"

/* Ids an ordinary user gets besides itself, and what root maps: the classic 16-bit range. */
#define SUBID_COUNT 65536u

/*
 * Find the user name of uid in a passwd file parsed as text (no NSS: the file may come from a
 * system we do not trust to run NSS modules for). Returns 0 and *ret (caller frees), or
 * -ENOENT.
 */
static int passwd_name(const char *path, uid_t uid, char **ret)
{
        cleanup_free char *data = NULL;
        sb_error_t ignored = { 0 };

        if (!path || sb_read_file_at(AT_FDCWD, path, SANDBOX_IDFILE_MAX, &data, NULL, &ignored) < 0)
                return -ENOENT;
        char *save = NULL;
        for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                /* name:passwd:uid:... */
                char *c1 = strchr(line, ':');
                char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
                char *c3 = c2 ? strchr(c2 + 1, ':') : NULL;
                if (!c3 || c1 == line)
                        continue;
                *c1 = '\0';
                *c3 = '\0';
                uint64_t v;
                if (sb_parse_u64(c2 + 1, UINT32_MAX - 1, &v) < 0 || v != uid)
                        continue;
                *ret = sb_xstrdup(line);
                return 0;
        }
        return -ENOENT;
}

/*
 * Find the first range of at least min ids owned by `name` or by the numeric uid in a
 * subuid/subgid file ("owner:start:count" lines). Lines that do not parse are ignored, as
 * shadow does. Returns 0 and *ret_start, or -ENOENT.
 */
static int subid_find(const char *path, const char *name, uid_t uid, uint32_t min,
                      uint32_t *ret_start)
{
        cleanup_free char *data = NULL;
        sb_error_t ignored = { 0 };
        char uidstr[16];

        if (!path || sb_read_file_at(AT_FDCWD, path, SANDBOX_IDFILE_MAX, &data, NULL, &ignored) < 0)
                return -ENOENT;
        snprintf(uidstr, sizeof(uidstr), "%" PRIu32, (uint32_t) uid);

        char *save = NULL;
        for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *c1 = strchr(line, ':');
                char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
                if (!c2 || c1 == line || strchr(c2 + 1, ':'))
                        continue;
                *c1 = '\0';
                *c2 = '\0';
                if (strcmp(line, uidstr) != 0 && !(name && strcmp(line, name) == 0))
                        continue;
                uint64_t start, count;
                if (sb_parse_u64(c1 + 1, UINT32_MAX, &start) < 0 ||
                    sb_parse_u64(c2 + 1, UINT32_MAX, &count) < 0)
                        continue;
                /* The range must fit in 32 bits and not contain the invalid id (uid_t)-1. */
                if (count < min || start + min > UINT32_MAX)
                        continue;
                *ret_start = (uint32_t) start;
                return 0;
        }
        return -ENOENT;
}

int sandbox_userns_plan_detect_from(uid_t uid, gid_t gid, const char *passwd_path,
                                    const char *subuid_path, const char *subgid_path,
                                    struct sandbox_userns_plan *ret, sb_error_t *err)
{
        struct sandbox_userns_plan p = { 0 };
        cleanup_free char *name = NULL;
        uint32_t ustart = 0, gstart = 0;
        int n;

        if (!ret)
                return sb_error_set(err, EINVAL, "no plan to fill");
        (void) passwd_name(passwd_path, uid, &name);

        if (uid == 0) {
                bool have_u =
                        subid_find(subuid_path, name ? name : "root", 0, SUBID_COUNT, &ustart) == 0;
                bool have_g =
                        subid_find(subgid_path, name ? name : "root", 0, SUBID_COUNT, &gstart) == 0;
                if (!have_u)
                        ustart = SANDBOX_ROOT_RANGE_DEFAULT;
                if (!have_g)
                        gstart = SANDBOX_ROOT_RANGE_DEFAULT;
                p.mode = SANDBOX_USERNS_ROOT;
                p.uid[0] = (struct sandbox_idmap){ 0, ustart, SUBID_COUNT };
                p.gid[0] = (struct sandbox_idmap){ 0, gstart, SUBID_COUNT };
                p.n_uid = p.n_gid = 1;
                n = snprintf(p.description, sizeof(p.description),
                             "root: uids 0-65535 -> %" PRIu32 "+65536 (%s), gids -> %" PRIu32
                             "+65536 (%s)",
                             ustart, have_u ? "/etc/subuid" : "default", gstart,
                             have_g ? "/etc/subgid" : "default");
        } else if (subid_find(subuid_path, name, uid, SUBID_COUNT, &ustart) == 0 &&
                   subid_find(subgid_path, name, uid, SUBID_COUNT, &gstart) == 0) {
                p.mode = SANDBOX_USERNS_SUBID;
                p.uid[0] = (struct sandbox_idmap){ 0, uid, 1 };
                p.uid[1] = (struct sandbox_idmap){ 1, ustart, SUBID_COUNT };
                p.gid[0] = (struct sandbox_idmap){ 0, gid, 1 };
                p.gid[1] = (struct sandbox_idmap){ 1, gstart, SUBID_COUNT };
                p.n_uid = p.n_gid = 2;
                n = snprintf(p.description, sizeof(p.description),
                             "subuid range %" PRIu32 "+65536, subgid range %" PRIu32
                             "+65536 (newuidmap)",
                             ustart, gstart);
        } else {
                p.mode = SANDBOX_USERNS_SINGLE;
                p.uid[0] = (struct sandbox_idmap){ 0, uid, 1 };
                p.gid[0] = (struct sandbox_idmap){ 0, gid, 1 };
                p.n_uid = p.n_gid = 1;
                n = snprintf(p.description, sizeof(p.description),
                             "single id: only uid %" PRIu32 " as 0 (no /etc/subuid and /etc/subgid "
                             "range of 65536 for '%s')",
                             (uint32_t) uid, name ? name : "?");
        }
        if (n < 0 || (size_t) n >= sizeof(p.description))
                p.description[sizeof(p.description) - 1] = '\0';
        *ret = p;
        return 0;
}

int sandbox_userns_plan_detect(struct sandbox_userns_plan *ret, sb_error_t *err)
{
        return sandbox_userns_plan_detect_from(getuid(), getgid(), "/etc/passwd", "/etc/subuid",
                                               "/etc/subgid", ret, err);
}

static uint32_t map_lookup(const struct sandbox_idmap *m, size_t n, uint32_t inside)
{
        for (size_t i = 0; i < n && i < SANDBOX_IDMAP_MAX; i++)
                if (inside >= m[i].inside && inside - m[i].inside < m[i].count)
                        return m[i].outside + (inside - m[i].inside);
        return UINT32_MAX;
}

uid_t sandbox_userns_outside_uid(const struct sandbox_userns_plan *plan, uid_t inside)
{
        return (uid_t) map_lookup(plan->uid, plan->n_uid, inside);
}

gid_t sandbox_userns_outside_gid(const struct sandbox_userns_plan *plan, gid_t inside)
{
        return (gid_t) map_lookup(plan->gid, plan->n_gid, inside);
}

/* ---- spawning ---------------------------------------------------------------------------- */

static int write_proc_file(pid_t pid, const char *file, const char *data, sb_error_t *err)
{
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/%s", (int) pid, file);
        cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return sb_error_errno(err, errno, "open '%s'", path);
        /* One write: the kernel accepts a map only as a single write(2). */
        ssize_t n = write(fd, data, strlen(data));
        if (n < 0)
                return sb_error_errno(err, errno, "write '%s' ('%s')", path, data);
        if ((size_t) n != strlen(data))
                return sb_error_set(err, EIO, "short write to '%s'", path);
        return 0;
}

static void format_map(const struct sandbox_idmap *m, size_t n, char *buf, size_t size)
{
        size_t off = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < n && i < SANDBOX_IDMAP_MAX; i++) {
                int r = snprintf(buf + off, size - off, "%" PRIu32 " %" PRIu32 " %" PRIu32 "\n",
                                 m[i].inside, m[i].outside, m[i].count);
                if (r < 0 || (size_t) r >= size - off)
                        return;
                off += (size_t) r;
        }
}

static const char *find_helper(const char *name, char *buf, size_t size)
{
        static const char *const dirs[] = { "/usr/bin", "/bin" };
        for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
                int r = snprintf(buf, size, "%s/%s", dirs[i], name);
                if (r > 0 && (size_t) r < size && access(buf, X_OK) == 0)
                        return buf;
        }
        return NULL;
}

/* Run newuidmap/newgidmap PID inside outside count ... with an empty environment. */
static int run_idmap_helper(const char *name, pid_t pid, const struct sandbox_idmap *m, size_t n,
                            sb_error_t *err)
{
        char path[64];
        char args[1 + 1 + 3 * SANDBOX_IDMAP_MAX][16];
        char *argv[2 + 3 * SANDBOX_IDMAP_MAX + 1];
        char *envp[] = { NULL };
        size_t a = 0;

        if (!find_helper(name, path, sizeof(path)))
                return sb_error_set(err, ENOENT,
                                    "'%s' not found in /usr/bin or /bin: install the uidmap "
                                    "package (shadow) to use the /etc/subuid ranges",
                                    name);
        argv[a++] = path;
        snprintf(args[0], sizeof(args[0]), "%d", (int) pid);
        argv[a++] = args[0];
        for (size_t i = 0; i < n && i < SANDBOX_IDMAP_MAX; i++) {
                snprintf(args[1 + 3 * i], sizeof(args[0]), "%" PRIu32, m[i].inside);
                snprintf(args[2 + 3 * i], sizeof(args[0]), "%" PRIu32, m[i].outside);
                snprintf(args[3 + 3 * i], sizeof(args[0]), "%" PRIu32, m[i].count);
                argv[a++] = args[1 + 3 * i];
                argv[a++] = args[2 + 3 * i];
                argv[a++] = args[3 + 3 * i];
        }
        argv[a] = NULL;

        pid_t h = fork();
        if (h < 0)
                return sb_error_errno(err, errno, "fork for %s", name);
        if (h == 0) {
                /* A setuid helper: give it nothing of ours but stdio. */
                execve(path, argv, envp);
                _exit(127);
        }
        int st;
        while (waitpid(h, &st, 0) < 0)
                if (errno != EINTR)
                        return sb_error_errno(err, errno, "wait for %s", name);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                return sb_error_set(err, EPERM,
                                    "%s %d failed (status %d): check /etc/subuid and /etc/subgid "
                                    "and that %s is setuid root",
                                    path, (int) pid, WIFEXITED(st) ? WEXITSTATUS(st) : -1, path);
        return 0;
}

static int write_maps(const struct sandbox_userns_plan *plan, pid_t pid, sb_error_t *err)
{
        char buf[SANDBOX_IDMAP_MAX * 40];
        int r;

        switch (plan->mode) {
        case SANDBOX_USERNS_SUBID:
                r = run_idmap_helper("newuidmap", pid, plan->uid, plan->n_uid, err);
                if (r < 0)
                        return r;
                return run_idmap_helper("newgidmap", pid, plan->gid, plan->n_gid, err);
        case SANDBOX_USERNS_SINGLE:
                /*
                 * An unprivileged writer may map only its own id, and only after setgroups is
                 * denied for good (CVE-2014-8989: otherwise dropping a group could grant access
                 * that a negative group permission denies).
                 */
                r = write_proc_file(pid, "setgroups", "deny", err);
                if (r < 0)
                        return r;
                break;
        case SANDBOX_USERNS_ROOT:
                /* As root we may map any range; setgroups stays allowed inside. */
                break;
        default:
                return sb_error_set(err, EINVAL, "unknown user namespace mode %d", plan->mode);
        }
        format_map(plan->uid, plan->n_uid, buf, sizeof(buf));
        r = write_proc_file(pid, "uid_map", buf, err);
        if (r < 0)
                return r;
        format_map(plan->gid, plan->n_gid, buf, sizeof(buf));
        return write_proc_file(pid, "gid_map", buf, err);
}

/* In the child: report a setup failure to the parent and exit. */
static void __attribute__((noreturn)) child_fail(int fd, sb_error_t *e)
{
        (void) sb_write_all(fd, e, sizeof(*e));
        _exit(127);
}

static void __attribute__((noreturn)) child_main(const struct sandbox_userns_plan *plan, int go_fd,
                                                 int report_fd, int (*fn)(void *), void *arg)
{
        sb_error_t e = { 0 };
        char c;

        /*
         * Die with the parent. We are pid 1 of a new pid namespace, so getppid() is 0 whoever
         * the parent is and cannot detect a parent that died before this prctl. Instead the
         * read below returns EOF if the parent is gone (it holds the only write end), so a
         * parent that dies at any point before the maps are written is noticed.
         */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
                child_fail(report_fd, (sb_error_errno(&e, errno, "PR_SET_PDEATHSIG"), &e));
        ssize_t n;
        do
                n = read(go_fd, &c, 1);
        while (n < 0 && errno == EINTR);
        if (n != 1)
                _exit(127); /* the parent failed to write the maps, or died; it reports */
        close(go_fd);

        if (setresgid(0, 0, 0) < 0)
                child_fail(report_fd, (sb_error_errno(&e, errno,
                                                      "setresgid(0) in the user "
                                                      "namespace"),
                                       &e));
        if (setresuid(0, 0, 0) < 0)
                child_fail(report_fd, (sb_error_errno(&e, errno,
                                                      "setresuid(0) in the user "
                                                      "namespace"),
                                       &e));
        /* changing credentials clears the parent-death signal: set it again */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
                child_fail(report_fd, (sb_error_errno(&e, errno, "PR_SET_PDEATHSIG"), &e));
        /*
         * Drop the supplementary groups we came with (they show as the overflow gid). With
         * setgroups denied (single-id mode) that is impossible and they stay, harmlessly.
         */
        if (setgroups(0, NULL) < 0 && (errno != EPERM || plan->mode == SANDBOX_USERNS_ROOT))
                child_fail(report_fd, (sb_error_errno(&e, errno, "setgroups(0)"), &e));
        /* Nothing we mount may propagate back to the host's mount namespace. */
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                child_fail(report_fd, (sb_error_errno(&e, errno, "make / private"), &e));
        if (sethostname("sbuild", strlen("sbuild")) < 0)
                child_fail(report_fd, (sb_error_errno(&e, errno, "sethostname"), &e));

        /* Setup done: a zero-length report (EOF) tells the parent so. */
        close(report_fd);
        _exit(fn(arg) & 0xff);
}

static int clone_error(int e, sb_error_t *err)
{
        if (e == EPERM || e == ENOSPC || e == EINVAL || e == EUSERS)
                return sb_error_errno(err, e,
                                      "user namespaces are unavailable here (clone with "
                                      "CLONE_NEWUSER failed); allow them: set sysctl "
                                      "user.max_user_namespaces above 0 (and "
                                      "kernel.unprivileged_userns_clone=1 or the AppArmor "
                                      "userns restriction off where present), or in a container "
                                      "use a seccomp profile that allows unshare and clone with "
                                      "CLONE_NEWUSER (see the documented pod profile)");
        return sb_error_errno(err, e, "clone");
}

int sandbox_spawn(const struct sandbox_userns_plan *plan, int (*fn)(void *arg), void *arg,
                  pid_t *ret_pid, sb_error_t *err)
{
        int go[2] = { -1, -1 }, report[2] = { -1, -1 };
        int r;

        if (!plan || !fn || plan->n_uid == 0 || plan->n_gid == 0 ||
            plan->n_uid > SANDBOX_IDMAP_MAX || plan->n_gid > SANDBOX_IDMAP_MAX)
                return sb_error_set(err, EINVAL, "invalid user namespace plan");
        if (pipe2(go, O_CLOEXEC) < 0)
                return sb_error_errno(err, errno, "pipe");
        if (pipe2(report, O_CLOEXEC) < 0) {
                r = sb_error_errno(err, errno, "pipe");
                close(go[0]);
                close(go[1]);
                return r;
        }

        /*
         * A raw clone with no new stack behaves like fork(). The pid namespace makes fn pid 1,
         * so everything it leaves running dies with it.
         */
        unsigned long flags =
                SIGCHLD | CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS;
        pid_t pid = (pid_t) syscall(SYS_clone, flags, NULL, NULL, NULL, NULL);
        if (pid < 0) {
                r = clone_error(errno, err);
                close(go[0]);
                close(go[1]);
                close(report[0]);
                close(report[1]);
                return r;
        }
        if (pid == 0) {
                close(go[1]);
                close(report[0]);
                child_main(plan, go[0], report[1], fn, arg);
        }
        close(go[0]);
        close(report[1]);

        r = write_maps(plan, pid, err);
        if (r < 0) {
                r = sb_error_prefix(err, "writing the id maps of the builder");
                goto fail;
        }
        if (sb_write_all(go[1], "g", 1) < 0) {
                r = sb_error_errno(err, EPIPE, "the builder died before its id maps were set");
                goto fail;
        }
        close(go[1]);
        go[1] = -1;

        sb_error_t child_err = { 0 };
        ssize_t n = sb_read_all(report[0], &child_err, sizeof(child_err));
        if (n < 0) {
                r = sb_error_errno(err, (int) -n, "reading the builder's setup report");
                goto fail;
        }
        if (n > 0) {
                child_err.msg[sizeof(child_err.msg) - 1] = '\0';
                r = sb_error_set(err, child_err.code > 0 ? child_err.code : EIO,
                                 "setting up the builder's namespaces: %s", child_err.msg);
                goto fail;
        }
        close(report[0]);
        sb_debug("builder pid %d in a new user namespace (%s)", (int) pid, plan->description);
        *ret_pid = pid;
        return 0;

fail:
        if (go[1] >= 0)
                close(go[1]);
        close(report[0]);
        (void) kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
        return r;
}

/* --- id-mapped views of host directories ------------------------------------------------ */

#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef MOUNT_ATTR_IDMAP
#define MOUNT_ATTR_IDMAP 0x00100000
#endif

struct idmap_mount_attr {
        uint64_t attr_set;
        uint64_t attr_clr;
        uint64_t propagation;
        uint64_t userns_fd;
};

/* A user namespace with the plan's maps, held by a parked child; returns its ns fd. */
static int idmap_userns_fd(const struct sandbox_userns_plan *plan, int *ret_fd, sb_error_t *err)
{
        int go[2];
        if (pipe2(go, O_CLOEXEC) < 0)
                return sb_error_errno(err, errno, "pipe");
        pid_t pid = (pid_t) syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL);
        if (pid < 0) {
                int e = errno;
                close(go[0]);
                close(go[1]);
                return clone_error(e, err);
        }
        if (pid == 0) {
                char c;
                close(go[1]);
                /* park until the parent has taken a reference to the namespace */
                (void) !read(go[0], &c, 1);
                _exit(0);
        }
        close(go[0]);
        int r = write_maps(plan, pid, err);
        if (r >= 0) {
                char path[64];
                snprintf(path, sizeof(path), "/proc/%d/ns/user", (int) pid);
                int fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        r = sb_error_errno(err, errno, "open '%s'", path);
                else
                        *ret_fd = fd;
        }
        close(go[1]);
        (void) kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
        return r;
}

int sandbox_userns_open_idmapped(const struct sandbox_userns_plan *plan, const char *path,
                                 int *ret_fd, sb_error_t *err)
{
        cleanup_close int ns_fd = -1;
        int r = idmap_userns_fd(plan, &ns_fd, err);
        if (r < 0)
                return r;
        cleanup_close int tree = (int) syscall(SYS_open_tree, AT_FDCWD, path,
                                               OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC |
                                                       AT_RECURSIVE);
        if (tree < 0)
                return sb_error_errno(err, errno, "open_tree '%s'", path);
        struct idmap_mount_attr attr = {
                .attr_set = MOUNT_ATTR_IDMAP,
                .userns_fd = (uint64_t) ns_fd,
        };
        if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr,
                    sizeof(attr)) < 0)
                return sb_error_errno(err, errno, "id-map '%s'", path);
        *ret_fd = steal_fd(&tree);
        return 0;
}
