#include "sandbox/sandbox_mount.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/sb_cleanup.h"
#include "common/sb_log.h"
#include "common/sb_util.h"
#include "sandbox/sandbox_step.h"

/* glibc 2.36 has the wrappers and constants; older headers may not. */
#ifndef FSOPEN_CLOEXEC
#define FSOPEN_CLOEXEC 0x00000001
#endif
#ifndef FSMOUNT_CLOEXEC
#define FSMOUNT_CLOEXEC 0x00000001
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef FSCONFIG_SET_FLAG
#define FSCONFIG_SET_FLAG   0
#define FSCONFIG_SET_STRING 1
#define FSCONFIG_CMD_CREATE 6
#endif
#ifndef SYS_fsopen
#define SYS_fsopen     430
#define SYS_fsconfig   431
#define SYS_fsmount    432
#define SYS_move_mount 429
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif

/* ---- overlay ------------------------------------------------------------------------------ */

static int sys_fsconfig(int fd, unsigned cmd, const char *key, const void *value)
{
        return (int) syscall(SYS_fsconfig, fd, cmd, key, value, 0);
}

/*
 * New mount API: each lower layer is its own "lowerdir+" parameter, so the number of layers
 * is not limited by the one-page option string of mount(2). Returns 0, -ENOSYS/-EINVAL when
 * the kernel lacks the API or "lowerdir+" (the caller falls back), or another -errno.
 */
static int overlay_fsmount(char *const *lowerdirs, const char *upperdir, const char *workdir,
                           const char *target, sb_error_t *err)
{
        cleanup_close int fsfd = (int) syscall(SYS_fsopen, "overlay", FSOPEN_CLOEXEC);
        if (fsfd < 0)
                return errno == ENOSYS ? -ENOSYS : sb_error_errno(err, errno, "fsopen overlay");
        for (size_t i = 0; lowerdirs[i]; i++)
                if (sys_fsconfig(fsfd, FSCONFIG_SET_STRING, "lowerdir+", lowerdirs[i]) < 0) {
                        if (errno == EINVAL && i == 0)
                                return -EINVAL; /* kernel < 6.8: no "lowerdir+" */
                        return sb_error_errno(err, errno, "overlay lower layer '%s'", lowerdirs[i]);
                }
        if (sys_fsconfig(fsfd, FSCONFIG_SET_STRING, "upperdir", upperdir) < 0)
                return sb_error_errno(err, errno, "overlay upperdir '%s'", upperdir);
        if (sys_fsconfig(fsfd, FSCONFIG_SET_STRING, "workdir", workdir) < 0)
                return sb_error_errno(err, errno, "overlay workdir '%s'", workdir);
        /* trusted.* xattrs need real root; in a user namespace overlay must use user.* ones. */
        if (sys_fsconfig(fsfd, FSCONFIG_SET_FLAG, "userxattr", NULL) < 0)
                return sb_error_errno(err, errno, "overlay option userxattr");
        if (sys_fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL) < 0)
                return sb_error_errno(err, errno,
                                      "creating the overlay on '%s' (lowers from "
                                      "'%s', upper '%s')",
                                      target, lowerdirs[0], upperdir);
        cleanup_close int mfd = (int) syscall(SYS_fsmount, fsfd, FSMOUNT_CLOEXEC, 0);
        if (mfd < 0)
                return sb_error_errno(err, errno, "fsmount overlay");
        if (syscall(SYS_move_mount, mfd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
                return sb_error_errno(err, errno, "mounting the overlay on '%s'", target);
        return 0;
}

/* mount(2) with "lowerdir=a:b:c": only for kernels before 6.8. */
static int overlay_mount_legacy(char *const *lowerdirs, const char *upperdir, const char *workdir,
                                const char *target, sb_error_t *err)
{
        long page = sysconf(_SC_PAGESIZE);
        size_t max = page > 0 ? (size_t) page : 4096;
        cleanup_free char *opts = sb_xstrdup("lowerdir=");

        /* ':' separates layers and ',' options; such paths cannot be passed this way. */
        for (size_t i = 0; lowerdirs[i]; i++) {
                if (strpbrk(lowerdirs[i], ":,\\"))
                        return sb_error_set(err, EINVAL,
                                            "overlay layer path '%s' contains ':', "
                                            "',' or '\\' (this kernel has no \"lowerdir+\")",
                                            lowerdirs[i]);
                char *n = sb_xasprintf("%s%s%s", opts, i ? ":" : "", lowerdirs[i]);
                free(opts);
                opts = n;
                if (strlen(opts) >= max)
                        break;
        }
        if (strpbrk(upperdir, ":,\\") || strpbrk(workdir, ":,\\"))
                return sb_error_set(err, EINVAL,
                                    "overlay upper/work path contains ':', ',' or '\\'");
        char *n = sb_xasprintf("%s,upperdir=%s,workdir=%s,userxattr", opts, upperdir, workdir);
        free(opts);
        opts = n;
        if (strlen(opts) >= max)
                return sb_error_set(err, E2BIG,
                                    "%zu overlay layers do not fit in the %zu-byte "
                                    "mount option string on this kernel (needs Linux 6.8 for "
                                    "more); use a shorter store path",
                                    sb_strv_len(lowerdirs), max);
        if (mount("overlay", target, "overlay", 0, opts) < 0)
                return sb_error_errno(err, errno, "mounting the overlay on '%s'", target);
        return 0;
}

int sandbox_overlay_mount(char *const *lowerdirs, const char *upperdir, const char *workdir,
                          const char *target, sb_error_t *err)
{
        if (!lowerdirs || !lowerdirs[0] || !upperdir || !workdir || !target)
                return sb_error_set(err, EINVAL,
                                    "overlay needs a lower, upper, work dir and "
                                    "target");
        int r = overlay_fsmount(lowerdirs, upperdir, workdir, target, err);
        if (r != -ENOSYS && r != -EINVAL)
                return r;
        sb_debug("overlay: new mount API or lowerdir+ unavailable, using mount(2)");
        return overlay_mount_legacy(lowerdirs, upperdir, workdir, target, err);
}

int sandbox_overlay_umount(const char *target, sb_error_t *err)
{
        if (umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
                return sb_error_errno(err, errno, "unmounting '%s'", target);
        return 0;
}

/* ---- resolving inside the root ------------------------------------------------------------ */

/*
 * Open rel inside the root: ".." and absolute symlinks stay in the root, and /proc magic
 * links are refused, so nothing in the image can make this reach the host.
 */
static int open_in_root(int rootfd, const char *rel, int flags)
{
        struct open_how how = {
                .flags = (uint64_t) (flags | O_CLOEXEC),
                .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        };
        int fd = (int) syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
        if (fd >= 0 || errno != ENOSYS)
                return fd;
        /*
         * Before Linux 5.6: walk without following any symlink. Images with a symlink in a
         * mount target path then fail to set up, which is safe.
         */
        cleanup_free char *copy = sb_xstrdup(rel);
        int cur = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
        char *save = NULL;
        for (char *c = strtok_r(copy, "/", &save); c && cur >= 0; c = strtok_r(NULL, "/", &save)) {
                bool last = save == NULL || *save == '\0';
                int next = openat(cur, c,
                                  (last ? flags : O_PATH | O_DIRECTORY) | O_NOFOLLOW | O_CLOEXEC);
                int e = errno;
                close(cur);
                errno = e;
                cur = next;
        }
        return cur;
}

static int mount_on_fd(const char *src, int fd, const char *fstype, unsigned long flags,
                       const char *data)
{
        char path[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        return mount(src, path, fstype, flags, data);
}

/*
 * Make sure rel exists inside the root as kind, creating it (and missing parents) when
 * absent. Returns an O_PATH fd of it, -ENOENT when it cannot be created safely (a symlink in
 * the way) and should be skipped, or another -errno with *err filled.
 */
static int ensure_target(int rootfd, const char *rel, sandbox_stub_kind_t kind,
                         sandbox_stub_fn stub_fn, void *userdata, sb_error_t *err)
{
        int fd = open_in_root(rootfd, rel, O_PATH);
        if (fd >= 0) {
                struct stat st;
                if (fstat(fd, &st) < 0) {
                        int e = errno;
                        close(fd);
                        return sb_error_errno(err, e, "stat '/%s' in the rootfs", rel);
                }
                if ((kind == SANDBOX_STUB_DIR) != S_ISDIR(st.st_mode)) {
                        close(fd);
                        if (kind == SANDBOX_STUB_FILE)
                                return -ENOENT; /* /etc/hosts is a directory: leave it */
                        return sb_error_set(err, ENOTDIR, "'/%s' in the rootfs is not a directory",
                                            rel);
                }
                return fd;
        }
        if (errno != ENOENT)
                return sb_error_errno(err, errno, "resolving '/%s' in the rootfs", rel);

        /*
         * Create what is missing, component by component from the root, never following a
         * symlink: an existing symlink (dangling, or leading to something missing) is left
         * alone and the target skipped, so the stubs we record are exactly the paths we made.
         */
        cleanup_close int cur = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
        if (cur < 0)
                return sb_error_errno(err, errno, "dup");
        struct sandbox_stub stub = { 0 };
        const char *p = rel;
        while (*p) {
                const char *slash = strchr(p, '/');
                size_t len = slash ? (size_t) (slash - p) : strlen(p);
                bool last = !slash;
                char name[SANDBOX_STUB_PATH_MAX];
                if (len == 0 || len >= sizeof(name) ||
                    (size_t) (p - rel) + len >= sizeof(stub.path))
                        return sb_error_set(err, ENAMETOOLONG, "bad mount target '%s'", rel);
                memcpy(name, p, len);
                name[len] = '\0';
                memcpy(stub.path, rel, (size_t) (p - rel) + len);
                stub.path[(size_t) (p - rel) + len] = '\0';

                int next = openat(cur, name,
                                  O_PATH | O_NOFOLLOW | O_CLOEXEC |
                                          (last && kind == SANDBOX_STUB_FILE ? 0 : O_DIRECTORY));
                if (next < 0 && errno == ENOENT) {
                        int r;
                        if (last && kind == SANDBOX_STUB_FILE) {
                                r = openat(cur, name,
                                           O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC |
                                                   O_NOCTTY,
                                           0644);
                                if (r >= 0)
                                        close(r);
                        } else {
                                r = mkdirat(cur, name, 0755);
                        }
                        if (r < 0) {
                                if (errno == EEXIST)
                                        return -ENOENT; /* a dangling symlink: skip */
                                return sb_error_errno(err, errno, "creating mount point '/%s'",
                                                      stub.path);
                        }
                        stub.kind = last ? kind : SANDBOX_STUB_DIR;
                        if (stub_fn)
                                stub_fn(&stub, userdata);
                        next = openat(cur, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
                }
                if (next < 0) {
                        if (errno == ENOTDIR || errno == ELOOP)
                                return -ENOENT; /* a symlink or file in the way: skip */
                        return sb_error_errno(err, errno, "opening '/%s' in the rootfs", stub.path);
                }
                /* O_PATH|O_NOFOLLOW opens a symlink itself: never mount on one. */
                struct stat st;
                if (fstat(next, &st) < 0 || S_ISLNK(st.st_mode) ||
                    (last && kind == SANDBOX_STUB_FILE && !S_ISREG(st.st_mode))) {
                        close(next);
                        return -ENOENT;
                }
                close(cur);
                cur = next;
                p = last ? p + len : slash + 1;
        }
        return steal_fd(&cur);
}

/*
 * Mount a directory target. Returns an O_PATH fd of the freshly mounted directory (re-opened,
 * so it refers to the new mount rather than the directory below it).
 */
static int mount_dir(int rootfd, const char *rel, const char *src, const char *fstype,
                     unsigned long flags, const char *data, sandbox_stub_fn stub_fn, void *userdata,
                     sb_error_t *err)
{
        cleanup_close int fd = ensure_target(rootfd, rel, SANDBOX_STUB_DIR, stub_fn, userdata, err);
        if (fd == -ENOENT)
                return sb_error_set(err, ENOENT,
                                    "cannot create '/%s' in the rootfs: a symlink "
                                    "is in the way",
                                    rel);
        if (fd < 0)
                return fd;
        if (mount_on_fd(src, fd, fstype, flags, data) < 0)
                return sb_error_errno(err, errno, "mounting %s on '/%s'", fstype, rel);
        int nfd = open_in_root(rootfd, rel, O_PATH | O_DIRECTORY);
        if (nfd < 0)
                return sb_error_errno(err, errno, "reopening '/%s'", rel);
        return nfd;
}

/*
 * Bind src (a host file) read-only onto rel. Flags of the host mount that are locked in our
 * user namespace (nosuid, nodev, noexec) must be repeated in the remount or it fails.
 */
static int bind_file_ro(int rootfd, const char *rel, const char *src, sandbox_stub_fn stub_fn,
                        void *userdata, sb_error_t *err)
{
        if (access(src, F_OK) < 0) {
                sb_debug("no host '%s', not providing it", src);
                return 0;
        }
        cleanup_close int fd =
                ensure_target(rootfd, rel, SANDBOX_STUB_FILE, stub_fn, userdata, err);
        if (fd == -ENOENT) {
                sb_debug("'/%s' in the rootfs is a symlink or directory, not mounting %s", rel,
                         src);
                return 0;
        }
        if (fd < 0)
                return fd;
        if (mount_on_fd(src, fd, NULL, MS_BIND, NULL) < 0)
                return sb_error_errno(err, errno, "bind-mounting '%s' on '/%s'", src, rel);
        cleanup_close int nfd = open_in_root(rootfd, rel, O_PATH);
        if (nfd < 0)
                return sb_error_errno(err, errno, "reopening '/%s'", rel);
        struct statvfs sv;
        if (fstatvfs(nfd, &sv) < 0)
                return sb_error_errno(err, errno, "statvfs '/%s'", rel);
        unsigned long keep = 0;
        if (sv.f_flag & ST_NOEXEC)
                keep |= MS_NOEXEC;
        if (sv.f_flag & ST_NOATIME)
                keep |= MS_NOATIME;
        if (sv.f_flag & ST_NODIRATIME)
                keep |= MS_NODIRATIME;
        if (sv.f_flag & ST_RELATIME)
                keep |= MS_RELATIME;
        if (mount_on_fd(NULL, nfd, NULL,
                        MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | keep, NULL) < 0)
                return sb_error_errno(err, errno, "making '/%s' read-only", rel);
        return 0;
}

static int setup_dev(int rootfd, sandbox_stub_fn stub_fn, void *userdata, sb_error_t *err)
{
        /*
         * Device nodes made with mknod in a user namespace cannot be opened (the superblock is
         * SB_I_NODEV), and an image's own /dev must not count: a fresh tmpfs with the few
         * harmless host nodes bind-mounted in.
         */
        static const char *const nodes[] = { "null", "zero", "full", "random", "urandom", "tty" };
        cleanup_close int devfd = mount_dir(rootfd, "dev", "tmpfs", "tmpfs", MS_NOSUID | MS_NOEXEC,
                                            "mode=0755,size=65536k", stub_fn, userdata, err);
        if (devfd < 0)
                return devfd;
        for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
                char src[32];
                snprintf(src, sizeof(src), "/dev/%s", nodes[i]);
                if (access(src, F_OK) < 0)
                        continue;
                int f = openat(devfd, nodes[i],
                               O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
                               0666);
                if (f < 0)
                        return sb_error_errno(err, errno, "creating /dev/%s", nodes[i]);
                close(f);
                cleanup_close int t = openat(devfd, nodes[i], O_PATH | O_NOFOLLOW | O_CLOEXEC);
                if (t < 0 || mount_on_fd(src, t, NULL, MS_BIND, NULL) < 0)
                        return sb_error_errno(err, errno, "bind-mounting %s", src);
        }
        if (mkdirat(devfd, "pts", 0755) < 0 || mkdirat(devfd, "shm", 01777) < 0)
                return sb_error_errno(err, errno, "creating /dev/pts and /dev/shm");
        cleanup_close int pts = openat(devfd, "pts", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (pts < 0 || mount_on_fd("devpts", pts, "devpts", MS_NOSUID | MS_NOEXEC,
                                   "newinstance,ptmxmode=0666,mode=0620") < 0)
                return sb_error_errno(err, errno, "mounting devpts on /dev/pts");
        cleanup_close int shm = openat(devfd, "shm", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (shm < 0 ||
            mount_on_fd("shm", shm, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=65536k") < 0)
                return sb_error_errno(err, errno, "mounting tmpfs on /dev/shm");
        static const char *const links[][2] = {
                { "pts/ptmx", "ptmx" },          { "/proc/self/fd", "fd" },
                { "/proc/self/fd/0", "stdin" },  { "/proc/self/fd/1", "stdout" },
                { "/proc/self/fd/2", "stderr" },
        };
        for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++)
                if (symlinkat(links[i][0], devfd, links[i][1]) < 0)
                        return sb_error_errno(err, errno, "creating /dev/%s", links[i][1]);
        return 0;
}

int sandbox_mount_setup_root(int rootfd, sandbox_stub_fn stub_fn, void *userdata, sb_error_t *err)
{
        /* A proc of the step's own pid namespace: it shows only the step's processes. */
        int fd = mount_dir(rootfd, "proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL,
                           stub_fn, userdata, err);
        if (fd < 0)
                return fd;
        close(fd);
        int r = setup_dev(rootfd, stub_fn, userdata, err);
        if (r < 0)
                return r;
        r = bind_file_ro(rootfd, "etc/resolv.conf", "/etc/resolv.conf", stub_fn, userdata, err);
        if (r < 0)
                return r;
        return bind_file_ro(rootfd, "etc/hosts", "/etc/hosts", stub_fn, userdata, err);
}

int sandbox_mount_pivot(int rootfd, sb_error_t *err)
{
        cleanup_close int oldroot = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (oldroot < 0)
                return sb_error_errno(err, errno, "open /");
        if (fchdir(rootfd) < 0)
                return sb_error_errno(err, errno, "chdir to the rootfs");
        /*
         * pivot_root(".", ".") stacks the old root on top of the new one at "/", without a
         * directory for it inside the image. Detaching it then leaves only the rootfs.
         */
        if (syscall(SYS_pivot_root, ".", ".") < 0)
                return sb_error_errno(err, errno, "pivot_root into the rootfs");
        if (fchdir(oldroot) < 0)
                return sb_error_errno(err, errno, "chdir to the old root");
        /* Unmount events of the old root must not propagate anywhere. */
        if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
                return sb_error_errno(err, errno, "making the old root a slave");
        if (umount2(".", MNT_DETACH) < 0)
                return sb_error_errno(err, errno, "detaching the old root");
        if (chdir("/") < 0)
                return sb_error_errno(err, errno, "chdir /");
        return 0;
}

int sandbox_mount_remove_stubs(const char *upperdir, const struct sandbox_stub *stubs, size_t n,
                               sb_error_t *err)
{
        cleanup_close int upfd = open(upperdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (upfd < 0)
                return sb_error_errno(err, errno, "open '%s'", upperdir);
        for (size_t i = n; i-- > 0;) {
                char path[SANDBOX_STUB_PATH_MAX];
                memcpy(path, stubs[i].path, sizeof(path));
                path[sizeof(path) - 1] = '\0';
                char *base = strrchr(path, '/');
                cleanup_close int dir = -1;
                if (base) {
                        *base++ = '\0';
                        /* Walk the parents without following symlinks (the step may have
                         * replaced one with a link to the host). */
                        dir = fcntl(upfd, F_DUPFD_CLOEXEC, 3);
                        char *save = NULL;
                        for (char *c = strtok_r(path, "/", &save); c && dir >= 0;
                             c = strtok_r(NULL, "/", &save)) {
                                int next = openat(dir, c,
                                                  O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                                close(dir);
                                dir = next;
                        }
                        if (dir < 0)
                                continue;
                } else {
                        base = path;
                }
                int parent = dir >= 0 ? dir : upfd;
                if (strcmp(base, "..") == 0 || strcmp(base, ".") == 0 || !*base)
                        continue;
                struct stat st;
                if (fstatat(parent, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                if (stubs[i].kind == SANDBOX_STUB_FILE && S_ISREG(st.st_mode) && st.st_size == 0)
                        (void) unlinkat(parent, base, 0);
                else if (stubs[i].kind == SANDBOX_STUB_DIR && S_ISDIR(st.st_mode))
                        (void) unlinkat(parent, base, AT_REMOVEDIR); /* only if empty */
        }
        return 0;
}
