#pragma once
/*
 * Helpers for the sandbox tests. A Criterion worker has two threads, so namespace work runs
 * in a forked child; functions run there return 0 for success or a small number naming the
 * check that failed (and print why on stderr).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/sb_util.h"
#include "sandbox/sandbox_userns.h"

#define SBX_BUSYBOX "/bin/busybox"

static inline int sbx_wait_code(pid_t pid)
{
        int st;
        while (waitpid(pid, &st, 0) < 0)
                if (errno != EINTR)
                        return 200;
        if (WIFEXITED(st))
                return WEXITSTATUS(st);
        return 128 + WTERMSIG(st);
}

/* Run fn(arg) in a forked child; its exit code (128+sig if killed). */
static inline int sbx_run_forked(int (*fn)(void *), void *arg)
{
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0)
                return 201;
        if (pid == 0)
                _exit(fn(arg));
        return sbx_wait_code(pid);
}

/* In a forked child: sandbox_spawn(fn) and wait for it; 100 if the spawn failed. */
static inline int sbx_spawn_wait(const struct sandbox_userns_plan *plan, int (*fn)(void *),
                                 void *arg)
{
        sb_error_t err = { 0 };
        pid_t pid;
        if (sandbox_spawn(plan, fn, arg, &pid, &err) < 0) {
                fprintf(stderr, "sandbox_spawn: %s\n", err.msg);
                return 100;
        }
        return sbx_wait_code(pid);
}

static inline int sbx_write_file(const char *path, const char *data)
{
        FILE *f = fopen(path, "we");
        if (!f)
                return -errno;
        fputs(data, f);
        return fclose(f) == 0 ? 0 : -EIO;
}

/* Read a small file into buf (NUL-terminated); -errno if it cannot be read. */
static inline int sbx_read_file(const char *path, char *buf, size_t size)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        ssize_t n = sb_read_all(fd, buf, size - 1);
        close(fd);
        if (n < 0)
                return (int) n;
        buf[n] = '\0';
        return 0;
}

static inline char *sbx_path(const char *base, const char *rel)
{
        return sb_xasprintf("%s/%s", base, rel);
}

/* mkdir base/rel (mode 0755) and chown it to uid/gid when uid is not -1. */
static inline int sbx_mkdir_owned(const char *base, const char *rel, uid_t uid, gid_t gid)
{
        char *p = sbx_path(base, rel);
        int r = mkdir(p, 0755) < 0 && errno != EEXIST ? -errno : 0;
        if (r == 0 && uid != (uid_t) -1 && chown(p, uid, gid) < 0)
                r = -errno;
        free(p);
        return r;
}

/* Copy a file (the busybox binary) with mode. */
static inline int sbx_copy_file(const char *src, const char *dst, mode_t mode)
{
        int in = open(src, O_RDONLY | O_CLOEXEC);
        if (in < 0)
                return -errno;
        int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        if (out < 0) {
                close(in);
                return -errno;
        }
        char buf[65536];
        ssize_t n;
        int r = 0;
        while ((n = read(in, buf, sizeof(buf))) > 0)
                if (sb_write_all(out, buf, (size_t) n) < 0) {
                        r = -EIO;
                        break;
                }
        if (n < 0)
                r = -errno;
        close(in);
        if (close(out) < 0)
                r = -EIO;
        if (r == 0 && fchmodat(AT_FDCWD, dst, mode, 0) < 0)
                r = -errno;
        return r;
}

/*
 * A tiny busybox image in dir: bin/busybox and applet symlinks, etc/passwd, tmp, mnt. No
 * /proc, /dev or /etc/hosts, so the sandbox has to create (and later remove) their stubs.
 */
static inline int sbx_make_busybox_rootfs(const char *dir)
{
        static const char *const applets[] = {
                "sh",      "echo", "cat",      "id",       "ls",  "mount", "sleep",
                "unshare", "true", "false",    "grep",     "wc",  "ps",    "touch",
                "mkdir",   "test", "readlink", "hostname", "pwd",
        };
        char *p;
        int r = 0;
        if (access(SBX_BUSYBOX, X_OK) < 0)
                return -ENOENT;
        const char *dirs[] = { "bin", "etc", "tmp", "mnt" };
        for (size_t i = 0; i < 4 && r == 0; i++)
                r = sbx_mkdir_owned(dir, dirs[i], (uid_t) -1, (gid_t) -1);
        if (r < 0)
                return r;
        p = sbx_path(dir, "bin/busybox");
        r = sbx_copy_file(SBX_BUSYBOX, p, 0755);
        free(p);
        for (size_t i = 0; i < sizeof(applets) / sizeof(applets[0]) && r == 0; i++) {
                char *rel = sb_xasprintf("bin/%s", applets[i]);
                p = sbx_path(dir, rel);
                if (symlink("busybox", p) < 0)
                        r = -errno;
                free(p);
                free(rel);
        }
        if (r < 0)
                return r;
        char tmp[] = "tmp";
        p = sbx_path(dir, tmp);
        chmod(p, 01777);
        free(p);
        p = sbx_path(dir, "etc/passwd");
        r = sbx_write_file(p, "root:x:0:0:root:/root:/bin/sh\n"
                              "app:x:1000:1000:app:/home/app:/bin/sh\n");
        free(p);
        return r;
}

static uid_t sbx_chown_uid;
static gid_t sbx_chown_gid;

static inline int sbx_chown_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void) st;
        (void) flag;
        (void) ftw;
        return lchown(path, sbx_chown_uid, sbx_chown_gid) < 0 ? -1 : 0;
}

/*
 * Give a tree to the namespace's root, as if its layers had been extracted inside the
 * namespace (ids the namespace does not map cannot be written to, not even by its root).
 */
static inline int sbx_chown_tree(const char *dir, uid_t uid, gid_t gid)
{
        sbx_chown_uid = uid;
        sbx_chown_gid = gid;
        return nftw(dir, sbx_chown_one, 16, FTW_PHYS) == 0 ? 0 : -errno;
}

/* A fresh 0755 directory under /tmp (traversable by the namespace's root). */
static inline char *sbx_tmpdir(void)
{
        char tmpl[] = "/tmp/sbuild-sandbox-XXXXXX";
        if (!mkdtemp(tmpl))
                return NULL;
        if (chmod(tmpl, 0755) < 0)
                return NULL;
        return sb_xstrdup(tmpl);
}

static inline void sbx_rm_rf(const char *dir)
{
        sb_error_t err = { 0 };
        if (dir)
                (void) sb_rm_rf_at(AT_FDCWD, dir, &err);
}

/*
 * A step's directories under dir: rootfs (busybox), upper, work, mnt. As root they belong to
 * the namespace's root outside, since a namespace root cannot write into directories owned by
 * unmapped ids (in the product the builder makes them inside the namespace). 0, or -1.
 */
static inline int sbx_step_dirs(const char *dir, const struct sandbox_userns_plan *plan)
{
        if (sbx_mkdir_owned(dir, "rootfs", (uid_t) -1, (gid_t) -1) < 0)
                return -1;
        char *rootfs = sbx_path(dir, "rootfs");
        int r = sbx_make_busybox_rootfs(rootfs);
        uid_t ru = getuid() == 0 ? sandbox_userns_outside_uid(plan, 0) : (uid_t) -1;
        gid_t rg = getuid() == 0 ? sandbox_userns_outside_gid(plan, 0) : (gid_t) -1;
        if (r == 0 && getuid() == 0)
                r = sbx_chown_tree(rootfs, ru, rg);
        free(rootfs);
        const char *own[] = { "upper", "work", "mnt" };
        for (int i = 0; r == 0 && i < 3; i++)
                r = sbx_mkdir_owned(dir, own[i], ru, rg);
        return r == 0 ? 0 : -1;
}
