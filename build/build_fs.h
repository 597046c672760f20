#pragma once
/* Path resolution inside an untrusted tree (a rootfs or the build context): every lookup stays
 * under its root, whatever symlinks or ".." the tree holds. */
#include <sys/types.h>

#include "common/sb_error.h"

/*
 * openat2(root_fd, path, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) with flags|O_CLOEXEC;
 * path may be absolute (taken as relative to root). Returns the fd or -errno (no message).
 */
int build_fs_open_in_root(int root_fd, const char *path, int flags, mode_t mode);

/*
 * Make directory `path` (and missing parents) inside root_fd; created directories get mode
 * 0755 and owner uid:gid (when uid != (uid_t)-1). Returns an O_DIRECTORY fd of it.
 */
int build_fs_mkdir_in_root(int root_fd, const char *path, uid_t uid, gid_t gid, int *ret_fd,
                           sb_error_t *err);

/*
 * Lexically clean a path the way Go's path.Clean does, rooted: the result starts with '/',
 * has no '.', '..' or empty components ('..' at the root stays at the root).
 */
char *build_fs_clean(const char *path);
