#include "build/build_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/sb_cleanup.h"
#include "common/sb_util.h"
#include "image/image_owner.h"

int build_fs_open_in_root(int root_fd, const char *path, int flags, mode_t mode)
{
        struct open_how how = {
                .flags = (unsigned long long) (flags | O_CLOEXEC),
                .mode = (flags & O_CREAT) ? mode : 0,
                .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        };
        while (*path == '/')
                path++;
        if (!*path)
                path = ".";
        long fd;
        do
                fd = syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
        while (fd < 0 && (errno == EAGAIN || errno == EINTR));
        return fd < 0 ? -errno : (int) fd;
}

char *build_fs_clean(const char *path)
{
        size_t n = strlen(path);
        char *out = sb_xmalloc(n + 2);
        size_t o = 0;
        out[o++] = '/';
        const char *p = path;
        while (*p) {
                while (*p == '/')
                        p++;
                if (!*p)
                        break;
                const char *e = strchr(p, '/');
                size_t len = e ? (size_t) (e - p) : strlen(p);
                if (len == 1 && p[0] == '.') {
                        /* skip */
                } else if (len == 2 && p[0] == '.' && p[1] == '.') {
                        while (o > 1 && out[o - 1] != '/')
                                o--;
                        if (o > 1)
                                o--;
                } else {
                        if (o > 1)
                                out[o++] = '/';
                        memcpy(out + o, p, len);
                        o += len;
                }
                p += len;
        }
        out[o] = '\0';
        return out;
}

static int mkdir_in_root(int root_fd, const char *path, uid_t uid, gid_t gid, int depth,
                         int *ret_fd, sb_error_t *err);

/* dir/name is a symlink that resolves to nothing: make its target, inside the root, as
 * docker does for a destination behind a dangling link. */
static int mkdir_link_target(int root_fd, int dirfd, const char *parent, const char *name,
                             uid_t uid, gid_t gid, int depth, sb_error_t *err)
{
        char target[4096];
        ssize_t n = readlinkat(dirfd, name, target, sizeof(target) - 1);
        if (n < 0)
                return -errno;
        target[n] = '\0';
        cleanup_free char *full = target[0] == '/' ? sb_xstrdup(target)
                                                   : sb_path_join(*parent ? parent : "/", target);
        int fd = -1;
        int r = mkdir_in_root(root_fd, full, uid, gid, depth + 1, &fd, err);
        if (fd >= 0)
                close(fd);
        return r;
}

int build_fs_mkdir_in_root(int root_fd, const char *path, uid_t uid, gid_t gid, int *ret_fd,
                           sb_error_t *err)
{
        return mkdir_in_root(root_fd, path, uid, gid, 0, ret_fd, err);
}

static int mkdir_in_root(int root_fd, const char *path, uid_t uid, gid_t gid, int depth,
                         int *ret_fd, sb_error_t *err)
{
        if (depth > 40)
                return sb_error_set(err, ELOOP, "'%s': too many levels of symbolic links", path);
        cleanup_free char *clean = build_fs_clean(path);
        cleanup_close int cur = build_fs_open_in_root(root_fd, "/", O_PATH | O_DIRECTORY, 0);
        if (cur < 0)
                return sb_error_errno(err, -cur, "open the root");
        /* walk one component at a time, resolving what exists inside the root */
        char *p = clean + 1;
        while (*p) {
                char *slash = strchr(p, '/');
                if (slash)
                        *slash = '\0';
                int fd = build_fs_open_in_root(root_fd, clean, O_PATH | O_DIRECTORY, 0);
                if (fd == -ENOENT) {
                        /* the parent is `cur`, already resolved inside the root */
                        int made = mkdirat(cur, p, 0755);
                        if (made < 0 && errno != EEXIST)
                                return sb_error_errno(err, errno, "mkdir '%s'", clean);
                        if (made < 0) {
                                struct stat st;
                                if (fstatat(cur, p, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                                    S_ISLNK(st.st_mode)) {
                                        char *sl = strrchr(clean, '/');
                                        cleanup_free char *parent =
                                                sb_xstrndup(clean, (size_t) (sl - clean));
                                        int r = mkdir_link_target(root_fd, cur, parent, p, uid,
                                                                  gid, depth, err);
                                        if (r < 0 && err && err->code == 0)
                                                return sb_error_errno(err, -r, "mkdir '%s'",
                                                                      clean);
                                        if (r < 0)
                                                return r;
                                }
                        }
                        fd = build_fs_open_in_root(root_fd, clean, O_PATH | O_DIRECTORY, 0);
                        if (fd >= 0 && uid != (uid_t) -1)
                                (void) image_owner_apply(cur, p, uid, gid);
                        if (fd >= 0) {
                                /* umask may have narrowed the mode */
                                cleanup_close int rd = openat(fd, ".", O_RDONLY | O_DIRECTORY |
                                                                              O_CLOEXEC);
                                if (rd >= 0)
                                        (void) fchmod(rd, 0755);
                        }
                }
                if (fd < 0)
                        return sb_error_errno(err, -fd, "'%s' is not a directory", clean);
                close(cur);
                cur = fd;
                if (!slash)
                        break;
                *slash = '/';
                p = slash + 1;
        }
        int dfd = openat(cur, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return sb_error_errno(err, errno, "open '%s'", clean);
        *ret_fd = dfd;
        return 0;
}
