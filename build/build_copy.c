#include "build/build_copy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build/build_fs.h"
#include "common/sb_cleanup.h"
#include "common/sb_util.h"
#include "image/image_layer.h"

#define COPY_MATCHES_MAX 100000

static bool has_glob(const char *s)
{
        return strpbrk(s, "*?[") != NULL;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Sorted names in directory `dir` (relative path inside the root). */
static int list_dir(int root_fd, const char *dir, char ***ret, sb_error_t *err)
{
        int fd = build_fs_open_in_root(root_fd, dir, O_RDONLY | O_DIRECTORY, 0);
        if (fd < 0)
                return sb_error_errno(err, -fd, "open '%s'", dir);
        DIR *d = fdopendir(fd);
        if (!d) {
                close(fd);
                return sb_error_errno(err, errno, "read '%s'", dir);
        }
        cleanup_closedir DIR *dd = d;
        char **names = NULL;
        struct dirent *de;
        while ((de = readdir(dd)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        sb_strv_push(&names, de->d_name);
        if (names)
                qsort(names, sb_strv_len(names), sizeof(char *), cmp_str);
        *ret = names;
        return 0;
}

/* Expand one cleaned, rooted pattern component by component into *matches. */
static int glob_walk(int root_fd, const char *base, const char *rest, char ***matches,
                     sb_error_t *err)
{
        if (!*rest) {
                if (sb_strv_len(*matches) >= COPY_MATCHES_MAX)
                        return sb_error_set(err, E2BIG, "more than %d matching sources",
                                            COPY_MATCHES_MAX);
                sb_strv_push(matches, base);
                return 0;
        }
        const char *slash = strchr(rest, '/');
        cleanup_free char *comp = slash ? sb_xstrndup(rest, (size_t) (slash - rest))
                                        : sb_xstrdup(rest);
        const char *next = slash ? slash + 1 : "";
        if (!has_glob(comp)) {
                cleanup_free char *path = sb_path_join(base, comp);
                int fd = build_fs_open_in_root(root_fd, path, O_PATH | O_NOFOLLOW, 0);
                if (fd < 0)
                        return 0;
                close(fd);
                return glob_walk(root_fd, path, next, matches, err);
        }
        cleanup_strv char **names = NULL;
        if (list_dir(root_fd, base, &names, err) < 0)
                return 0; /* not a directory: no match */
        for (size_t i = 0; names && names[i]; i++) {
                if (fnmatch(comp, names[i], 0) != 0)
                        continue;
                cleanup_free char *path = sb_path_join(base, names[i]);
                int r = glob_walk(root_fd, path, next, matches, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int copy_data(int in, int out, const char *name, sb_error_t *err)
{
        for (;;) {
                ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
                if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS ||
                              errno == EOPNOTSUPP))
                        break;
                if (n < 0)
                        return sb_error_errno(err, errno, "copy '%s'", name);
                if (n == 0)
                        return 0;
        }
        char buf[65536];
        for (;;) {
                ssize_t n = read(in, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return sb_error_errno(err, errno, "read '%s'", name);
                if (n == 0)
                        return 0;
                int r = sb_write_all(out, buf, (size_t) n);
                if (r < 0)
                        return sb_error_errno(err, -r, "write '%s'", name);
        }
}

static void apply_owner(int dirfd, const char *name, const struct stat *st,
                        const struct build_copy_opts *o)
{
        uid_t uid = 0;
        gid_t gid = 0;
        if (o->chown) {
                uid = o->uid;
                gid = o->gid;
        } else if (o->keep_owner) {
                uid = st->st_uid;
                gid = st->st_gid;
        }
        (void) fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW);
}

static void apply_times(int dirfd, const char *name, const struct stat *st)
{
        struct timespec ts[2] = { st->st_atim, st->st_mtim };
        (void) utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW);
}

/* Remove whatever is at dirfd/name unless it is a directory and we want one. */
static int clear_target(int dirfd, const char *name, bool want_dir, sb_error_t *err)
{
        struct stat st;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return 0;
        if (S_ISDIR(st.st_mode)) {
                if (want_dir)
                        return 0;
                return sb_rm_rf_at(dirfd, name, err);
        }
        if (unlinkat(dirfd, name, 0) < 0)
                return sb_error_errno(err, errno, "replace '%s'", name);
        return 0;
}

static int copy_entry(int src_dirfd, const char *src_name, int dst_dirfd, const char *dst_name,
                      const struct build_copy_opts *o, int depth, sb_error_t *err);

static int copy_dir_contents(int src_fd, int dst_fd, const struct build_copy_opts *o, int depth,
                             sb_error_t *err)
{
        if (depth > 256)
                return sb_error_set(err, ELOOP, "directories nested too deeply");
        int dupfd = fcntl(src_fd, F_DUPFD_CLOEXEC, 3);
        if (dupfd < 0)
                return sb_error_errno(err, errno, "dup");
        DIR *d = fdopendir(dupfd);
        if (!d) {
                close(dupfd);
                return sb_error_errno(err, errno, "read directory");
        }
        cleanup_closedir DIR *dd = d;
        char **names = NULL;
        struct dirent *de;
        while ((de = readdir(dd)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        sb_strv_push(&names, de->d_name);
        cleanup_strv char **sorted = names;
        if (sorted)
                qsort(sorted, sb_strv_len(sorted), sizeof(char *), cmp_str);
        for (size_t i = 0; sorted && sorted[i]; i++) {
                int r = copy_entry(src_fd, sorted[i], dst_fd, sorted[i], o, depth + 1, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Copy src_dirfd/src_name (not following a symlink there) to dst_dirfd/dst_name. */
static int copy_entry(int src_dirfd, const char *src_name, int dst_dirfd, const char *dst_name,
                      const struct build_copy_opts *o, int depth, sb_error_t *err)
{
        struct stat st;
        if (fstatat(src_dirfd, src_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return sb_error_errno(err, errno, "stat '%s'", src_name);
        int r;
        if (S_ISDIR(st.st_mode)) {
                r = clear_target(dst_dirfd, dst_name, true, err);
                if (r < 0)
                        return r;
                if (mkdirat(dst_dirfd, dst_name, 0700) < 0 && errno != EEXIST)
                        return sb_error_errno(err, errno, "mkdir '%s'", dst_name);
                cleanup_close int sfd = openat(src_dirfd, src_name,
                                               O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sfd < 0)
                        return sb_error_errno(err, errno, "open '%s'", src_name);
                cleanup_close int dfd = openat(dst_dirfd, dst_name,
                                               O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (dfd < 0)
                        return sb_error_errno(err, errno, "open '%s'", dst_name);
                r = copy_dir_contents(sfd, dfd, o, depth, err);
                if (r < 0)
                        return r;
                (void) fchmod(dfd, st.st_mode & 07777);
                apply_owner(dst_dirfd, dst_name, &st, o);
                apply_times(dst_dirfd, dst_name, &st);
                return 0;
        }
        r = clear_target(dst_dirfd, dst_name, false, err);
        if (r < 0)
                return r;
        if (S_ISLNK(st.st_mode)) {
                char target[4096];
                ssize_t n = readlinkat(src_dirfd, src_name, target, sizeof(target) - 1);
                if (n < 0)
                        return sb_error_errno(err, errno, "readlink '%s'", src_name);
                target[n] = '\0';
                if (symlinkat(target, dst_dirfd, dst_name) < 0)
                        return sb_error_errno(err, errno, "symlink '%s'", dst_name);
        } else if (S_ISREG(st.st_mode)) {
                cleanup_close int in = openat(src_dirfd, src_name,
                                              O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
                if (in < 0)
                        return sb_error_errno(err, errno, "open '%s'", src_name);
                cleanup_close int out =
                        openat(dst_dirfd, dst_name,
                               O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (out < 0)
                        return sb_error_errno(err, errno, "create '%s'", dst_name);
                r = copy_data(in, out, src_name, err);
                if (r < 0)
                        return r;
                apply_owner(dst_dirfd, dst_name, &st, o);
                /* after chown: chown clears setuid bits */
                (void) fchmod(out, st.st_mode & 07777);
        } else if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
                if (mknodat(dst_dirfd, dst_name, st.st_mode, st.st_rdev) < 0)
                        return 0; /* device nodes may not be creatable here; skip them */
        } else {
                return 0; /* sockets are not copied */
        }
        if (!S_ISREG(st.st_mode))
                apply_owner(dst_dirfd, dst_name, &st, o);
        apply_times(dst_dirfd, dst_name, &st);
        return 0;
}

/* Split "/a/b/c" into a parent fd (created inside the root) and "c". */
static int open_parent(int root_fd, const char *clean, const struct build_copy_opts *o,
                       int *ret_fd, char **ret_name, sb_error_t *err)
{
        const char *slash = strrchr(clean, '/');
        cleanup_free char *parent = sb_xstrndup(clean, (size_t) (slash - clean));
        int r = build_fs_mkdir_in_root(root_fd, *parent ? parent : "/",
                                       o->chown ? o->uid : (uid_t) -1, o->gid, ret_fd, err);
        if (r < 0)
                return r;
        *ret_name = sb_xstrdup(slash + 1);
        return 0;
}

static bool is_dir_in_root(int root_fd, const char *path)
{
        int fd = build_fs_open_in_root(root_fd, path, O_PATH | O_DIRECTORY, 0);
        if (fd < 0)
                return false;
        close(fd);
        return true;
}

/* ADD of a local archive: extract into the destination directory. 1 if it was one. */
static int try_extract(int src_root_fd, const char *src, int dest_root_fd, const char *dest,
                       const struct build_copy_opts *o, sb_error_t *err)
{
        cleanup_close int fd = build_fs_open_in_root(src_root_fd, src, O_RDONLY, 0);
        if (fd < 0)
                return sb_error_errno(err, -fd, "open '%s'", src);
        struct stat st;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                return 0;
        cleanup_close int dfd = -1;
        int r = build_fs_mkdir_in_root(dest_root_fd, dest, o->chown ? o->uid : (uid_t) -1, o->gid,
                                       &dfd, err);
        if (r < 0)
                return r;
        sb_error_t probe = { 0 };
        r = image_layer_extract_archive(fd, dfd, &probe);
        if (r == -EINVAL && lseek(fd, 0, SEEK_CUR) >= 0)
                return 0; /* not an archive: copied as a file */
        if (r < 0) {
                *err = probe;
                return sb_error_prefix(err, "extract '%s'", src);
        }
        return 1;
}

int build_copy(int src_root_fd, char *const *sources, int dest_root_fd, const char *dest,
               const struct build_copy_opts *o, sb_error_t *err)
{
        cleanup_strv char **matches = NULL;
        for (size_t i = 0; sources && sources[i]; i++) {
                if (strstr(sources[i], "://")) {
                        return sb_error_set(err, ENOTSUP,
                                            "'%s': remote sources are not supported yet",
                                            sources[i]);
                }
                cleanup_free char *clean = build_fs_clean(sources[i]);
                size_t before = sb_strv_len(matches);
                int r = glob_walk(src_root_fd, "/", clean + 1, &matches, err);
                if (r < 0)
                        return r;
                if (sb_strv_len(matches) == before)
                        return sb_error_set(err, ENOENT, "'%s': no such file or directory",
                                            sources[i]);
        }
        size_t n = sb_strv_len(matches);
        bool dest_slash = sb_str_has_suffix(dest, "/") || sb_str_has_suffix(dest, "/.");
        cleanup_free char *dclean = build_fs_clean(dest);
        bool dest_is_dir = dest_slash || strcmp(dclean, "/") == 0 ||
                           is_dir_in_root(dest_root_fd, dclean);
        if (n > 1 && !dest_is_dir)
                return sb_error_set(err, EINVAL,
                                    "'%s': with more than one source the destination must be a "
                                    "directory and end with a /",
                                    dest);
        for (size_t i = 0; i < n; i++) {
                const char *src = matches[i];
                struct stat st;
                cleanup_close int sfd =
                        build_fs_open_in_root(src_root_fd, src, O_PATH | O_NOFOLLOW, 0);
                if (sfd < 0 || fstat(sfd, &st) < 0)
                        return sb_error_errno(err, sfd < 0 ? -sfd : errno, "open '%s'", src + 1);
                int r;
                if (S_ISDIR(st.st_mode)) {
                        /* a directory's contents are copied, not the directory itself */
                        cleanup_close int dfd = -1;
                        r = build_fs_mkdir_in_root(dest_root_fd, dclean,
                                                   o->chown ? o->uid : (uid_t) -1, o->gid, &dfd,
                                                   err);
                        if (r < 0)
                                return r;
                        cleanup_close int rfd = openat(sfd, ".", O_RDONLY | O_DIRECTORY |
                                                                         O_CLOEXEC);
                        if (rfd < 0)
                                return sb_error_errno(err, errno, "open '%s'", src + 1);
                        r = copy_dir_contents(rfd, dfd, o, 0, err);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (o->add) {
                        r = try_extract(src_root_fd, src, dest_root_fd, dclean, o, err);
                        if (r < 0)
                                return r;
                        if (r > 0)
                                continue;
                }
                const char *base = strrchr(src, '/') + 1;
                cleanup_free char *target = dest_is_dir ? sb_path_join(dclean, base)
                                                        : sb_xstrdup(dclean);
                cleanup_close int pfd = -1;
                cleanup_free char *name = NULL;
                r = open_parent(dest_root_fd, target, o, &pfd, &name, err);
                if (r < 0)
                        return r;
                /* a source that is a symlink is copied as the symlink */
                cleanup_free char *sparent = sb_xstrndup(src, (size_t) (base - src));
                cleanup_close int rfd =
                        build_fs_open_in_root(src_root_fd, sparent, O_PATH | O_DIRECTORY, 0);
                if (rfd < 0)
                        return sb_error_errno(err, -rfd, "open '%s'", src + 1);
                r = copy_entry(rfd, base, pfd, name, o, 0, err);
                if (r < 0)
                        return r;
        }
        return 0;
}
