#include "build/build_copy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build/build_fs.h"
#include "common/sb_cleanup.h"
#include "common/sb_util.h"
#include "image/image_layer.h"
#include "image/image_owner.h"

#define COPY_MATCHES_MAX 100000
#define COPY_DEPTH_MAX 256

static bool has_glob(const char *s)
{
        return strpbrk(s, "*?[") != NULL;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Sorted names in the directory open at fd (not consumed). */
static int list_fd(int fd, char ***ret)
{
        int dupfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dupfd < 0)
                return -errno;
        DIR *d = fdopendir(dupfd);
        if (!d) {
                close(dupfd);
                return -errno;
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

static char *rel_join(const char *dir, const char *name)
{
        return *dir ? sb_xasprintf("%s/%s", dir, name) : sb_xstrdup(name);
}

/* Whether something below the directory open at dirfd (path rel) is not excluded by ig. */
static bool has_visible_descendant(const struct build_ignore *ig, int dirfd, const char *rel,
                                   int depth)
{
        cleanup_strv char **names = NULL;
        if (depth > COPY_DEPTH_MAX || list_fd(dirfd, &names) < 0)
                return false;
        for (size_t i = 0; names && names[i]; i++) {
                cleanup_free char *crel = rel_join(rel, names[i]);
                if (!build_ignore_excluded(ig, crel))
                        return true;
                cleanup_close int cfd = openat(dirfd, names[i], O_RDONLY | O_DIRECTORY |
                                                                        O_NOFOLLOW | O_CLOEXEC);
                if (cfd >= 0 && has_visible_descendant(ig, cfd, crel, depth + 1))
                        return true;
        }
        return false;
}

/*
 * Whether dirfd/name (path rel in ig's terms) is absent for the copy: excluded, and not a
 * directory that an exception pattern re-includes something in (Docker then keeps the
 * directory so the re-included entries have a parent).
 */
static bool hidden(const struct build_ignore *ig, int dirfd, const char *name, const char *rel)
{
        if (!ig || !build_ignore_excluded(ig, rel))
                return false;
        if (!build_ignore_has_exceptions(ig))
                return true;
        cleanup_close int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                                                           O_CLOEXEC);
        return fd < 0 || !has_visible_descendant(ig, fd, rel, 0);
}

/* The same for a rooted path inside root_fd. */
static bool hidden_path(const struct build_ignore *ig, int root_fd, const char *path)
{
        if (!ig)
                return false;
        const char *slash = strrchr(path, '/');
        cleanup_free char *parent = sb_xstrndup(path, (size_t) (slash - path));
        cleanup_close int pfd = build_fs_open_in_root(root_fd, *parent ? parent : "/",
                                                      O_PATH | O_DIRECTORY, 0);
        if (pfd < 0)
                return true;
        return hidden(ig, pfd, slash + 1, path + 1);
}

/* Expand one cleaned, rooted pattern component by component into *matches. */
static int glob_walk(int root_fd, const struct build_ignore *ig, const char *base,
                     const char *rest, char ***matches, sb_error_t *err)
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
                if (hidden_path(ig, root_fd, path))
                        return 0;
                return glob_walk(root_fd, ig, path, next, matches, err);
        }
        cleanup_close int dfd = build_fs_open_in_root(root_fd, base, O_RDONLY | O_DIRECTORY, 0);
        cleanup_strv char **names = NULL;
        if (dfd < 0 || list_fd(dfd, &names) < 0)
                return 0; /* not a directory: no match */
        for (size_t i = 0; names && names[i]; i++) {
                if (fnmatch(comp, names[i], 0) != 0)
                        continue;
                cleanup_free char *path = sb_path_join(base, names[i]);
                if (ig && hidden(ig, dfd, names[i], path + 1))
                        continue;
                int r = glob_walk(root_fd, ig, path, next, matches, err);
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

int build_copy_chmod(const char *spec, mode_t mode, bool is_dir, mode_t *ret)
{
        if (!spec || !*spec)
                return -EINVAL;
        if (strspn(spec, "01234567") == strlen(spec)) {
                if (strlen(spec) > 5)
                        return -EINVAL;
                mode_t v = 0;
                for (const char *c = spec; *c; c++)
                        v = (mode_t) (v * 8 + (mode_t) (*c - '0'));
                if (v > 07777)
                        return -EINVAL;
                *ret = v;
                return 0;
        }
        mode_t m = mode & 07777;
        const char *p = spec;
        for (;;) {
                mode_t who = 0;
                for (; *p && strchr("ugoa", *p); p++)
                        who |= *p == 'u' ? 04700 : *p == 'g' ? 02070 : *p == 'o' ? 01007 : 07777;
                if (!who)
                        who = 07777; /* chmod(1) without a who: everyone (no umask here) */
                if (!*p || !strchr("+-=", *p))
                        return -EINVAL;
                while (*p && strchr("+-=", *p)) {
                        char op = *p++;
                        mode_t perm = 0;
                        if (*p && strchr("ugo", *p)) {
                                /* copy another class's bits: g=u */
                                unsigned shift = *p == 'u' ? 6 : *p == 'g' ? 3 : 0;
                                mode_t bits = (m >> shift) & 7;
                                perm = (mode_t) (bits << 6 | bits << 3 | bits);
                                p++;
                        } else {
                                for (; *p && strchr("rwxXst", *p); p++) {
                                        switch (*p) {
                                        case 'r': perm |= 0444; break;
                                        case 'w': perm |= 0222; break;
                                        case 'x': perm |= 0111; break;
                                        case 'X':
                                                if (is_dir || (m & 0111))
                                                        perm |= 0111;
                                                break;
                                        case 's': perm |= 06000; break;
                                        default: perm |= 01000; break;
                                        }
                                }
                        }
                        mode_t affected = perm & who;
                        if (op == '+')
                                m |= affected;
                        else if (op == '-')
                                m &= ~affected;
                        else
                                m = (m & ~who) | affected;
                }
                if (*p == ',') {
                        p++;
                        continue;
                }
                if (!*p)
                        break;
                return -EINVAL;
        }
        *ret = m;
        return 0;
}

static mode_t final_mode(const struct build_copy_opts *o, mode_t st_mode)
{
        mode_t m = st_mode & 07777;
        if (o->chmod)
                (void) build_copy_chmod(o->chmod, m, S_ISDIR(st_mode), &m);
        return m;
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
        /* records the owner when the id is not mapped in this user namespace */
        (void) image_owner_apply(dirfd, name, uid, gid);
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

/* Copy the regular file open at `in` (whose stat is st) to dst_dirfd/dst_name. */
static int copy_reg(int in, const struct stat *st, int dst_dirfd, const char *dst_name,
                    const struct build_copy_opts *o, sb_error_t *err)
{
        cleanup_close int out = openat(dst_dirfd, dst_name,
                                       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (out < 0)
                return sb_error_errno(err, errno, "create '%s'", dst_name);
        int r = copy_data(in, out, dst_name, err);
        if (r < 0)
                return r;
        apply_owner(dst_dirfd, dst_name, st, o);
        /* after chown: chown clears setuid bits */
        (void) fchmod(out, final_mode(o, st->st_mode));
        apply_times(dst_dirfd, dst_name, st);
        return 0;
}

/* Where an entry is, for the .dockerignore (ctx) and --exclude (src) patterns. */
struct copy_rel {
        const char *ctx; /* relative to the source tree's root */
        const char *src; /* relative to the source being copied */
};

static int copy_entry(int src_dirfd, const char *src_name, int dst_dirfd, const char *dst_name,
                      const struct build_copy_opts *o, struct copy_rel rel, int depth,
                      sb_error_t *err);

static int copy_dir_contents(int src_fd, int dst_fd, const struct build_copy_opts *o,
                             struct copy_rel rel, int depth, sb_error_t *err)
{
        if (depth > COPY_DEPTH_MAX)
                return sb_error_set(err, ELOOP, "directories nested too deeply");
        cleanup_strv char **names = NULL;
        int r = list_fd(src_fd, &names);
        if (r < 0)
                return sb_error_errno(err, -r, "read directory '%s'", *rel.ctx ? rel.ctx : ".");
        for (size_t i = 0; names && names[i]; i++) {
                cleanup_free char *ctx = rel_join(rel.ctx, names[i]);
                cleanup_free char *src = rel_join(rel.src, names[i]);
                if (hidden(o->ignore, src_fd, names[i], ctx) ||
                    hidden(o->exclude, src_fd, names[i], src))
                        continue;
                struct copy_rel sub = { ctx, src };
                r = copy_entry(src_fd, names[i], dst_fd, names[i], o, sub, depth + 1, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Copy src_dirfd/src_name (not following a symlink there) to dst_dirfd/dst_name. */
static int copy_entry(int src_dirfd, const char *src_name, int dst_dirfd, const char *dst_name,
                      const struct build_copy_opts *o, struct copy_rel rel, int depth,
                      sb_error_t *err)
{
        struct stat st;
        if (fstatat(src_dirfd, src_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return sb_error_errno(err, errno, "stat '%s'", src_name);
        if (o->keep_owner && !o->chown) {
                /* a stage's owner may be recorded rather than real (single-id mode) */
                uid_t uid;
                gid_t gid;
                if (image_owner_lookup(src_dirfd, src_name, -1, &st, &uid, &gid) > 0) {
                        st.st_uid = uid;
                        st.st_gid = gid;
                }
        }
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
                r = copy_dir_contents(sfd, dfd, o, rel, depth, err);
                if (r < 0)
                        return r;
                apply_owner(dst_dirfd, dst_name, &st, o);
                (void) fchmod(dfd, final_mode(o, st.st_mode));
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
                return copy_reg(in, &st, dst_dirfd, dst_name, o, err);
        } else if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
                if (mknodat(dst_dirfd, dst_name, st.st_mode, st.st_rdev) < 0)
                        return 0; /* device nodes may not be creatable here; skip them */
        } else {
                return 0; /* sockets are not copied */
        }
        if (!S_ISREG(st.st_mode))
                apply_owner(dst_dirfd, dst_name, &st, o);
        if (o->chmod && !S_ISLNK(st.st_mode) && !S_ISREG(st.st_mode))
                (void) fchmodat(dst_dirfd, dst_name, final_mode(o, st.st_mode), 0);
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

/* Tar, or a compression format a tar may be in (gzip, bzip2, xz, zstd). */
static bool looks_like_archive(int fd)
{
        unsigned char h[512];
        ssize_t n = pread(fd, h, sizeof(h), 0);
        if (n < 6)
                return false;
        if ((h[0] == 0x1f && h[1] == 0x8b) || memcmp(h, "BZh", 3) == 0 ||
            memcmp(h, "\xfd" "7zXZ\0", 6) == 0 || memcmp(h, "\x28\xb5\x2f\xfd", 4) == 0)
                return true;
        return n == 512 && memcmp(h + 257, "ustar", 5) == 0;
}

/* ADD of a local archive: extract into the destination directory. 1 if it was one. */
static int try_extract(int src_root_fd, const char *src, int dest_root_fd, const char *dest,
                       const struct build_copy_opts *o, sb_error_t *err)
{
        cleanup_close int fd = build_fs_open_in_root(src_root_fd, src, O_RDONLY, 0);
        if (fd < 0)
                return sb_error_errno(err, -fd, "open '%s'", src);
        struct stat st;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !looks_like_archive(fd))
                return 0;
        bool existed = is_dir_in_root(dest_root_fd, dest);
        cleanup_close int dfd = -1;
        int r = build_fs_mkdir_in_root(dest_root_fd, dest, o->chown ? o->uid : (uid_t) -1, o->gid,
                                       &dfd, err);
        if (r < 0)
                return r;
        sb_error_t probe = { 0 };
        r = image_layer_extract_archive(fd, dfd, &probe);
        if (r < 0) {
                /* a compressed file that holds no tar is copied as it is, as Docker does;
                 * only when nothing was extracted */
                cleanup_strv char **left = NULL;
                if (list_fd(dfd, &left) == 0 && !left) {
                        if (!existed) {
                                cleanup_free char *d = build_fs_clean(dest);
                                cleanup_close int pfd = -1;
                                cleanup_free char *name = NULL;
                                if (strcmp(d, "/") != 0 &&
                                    open_parent(dest_root_fd, d, o, &pfd, &name, err) == 0)
                                        (void) unlinkat(pfd, name, AT_REMOVEDIR);
                        }
                        return 0;
                }
                *err = probe;
                return sb_error_prefix(err, "extract '%s'", src);
        }
        return 1;
}

/* A directory source: its contents go into target (made with the source's metadata when new). */
static int copy_dir_into(int sfd, const char *src, const char *target, int dest_root_fd,
                         const struct build_copy_opts *o, sb_error_t *err)
{
        bool existed = is_dir_in_root(dest_root_fd, target);
        cleanup_close int dfd = -1;
        int r = build_fs_mkdir_in_root(dest_root_fd, target, o->chown ? o->uid : (uid_t) -1,
                                       o->gid, &dfd, err);
        if (r < 0)
                return r;
        cleanup_close int rfd = openat(sfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (rfd < 0)
                return sb_error_errno(err, errno, "open '%s'", src + 1);
        struct copy_rel rel = { src + 1, "" };
        r = copy_dir_contents(rfd, dfd, o, rel, 0, err);
        if (r < 0 || existed || strcmp(target, "/") == 0)
                return r;
        struct stat st;
        if (fstat(rfd, &st) < 0)
                return 0;
        cleanup_free char *clean = build_fs_clean(target);
        cleanup_close int pfd = -1;
        cleanup_free char *name = NULL;
        if (open_parent(dest_root_fd, clean, o, &pfd, &name, err) == 0)
                apply_owner(pfd, name, &st, o);
        (void) fchmod(dfd, final_mode(o, st.st_mode));
        struct timespec ts[2] = { st.st_atim, st.st_mtim };
        (void) futimens(dfd, ts);
        return 0;
}

/* The part of a --parents source kept under the destination: after a "/./" pivot, else all. */
static char *parents_pivot(const char *pattern)
{
        const char *p = strstr(pattern, "/./");
        if (!p)
                return sb_xstrdup("/");
        cleanup_free char *head = sb_xstrndup(pattern, (size_t) (p - pattern));
        return build_fs_clean(head);
}

static const char *under_pivot(const char *path, const char *pivot)
{
        size_t n = strlen(pivot);
        if (strcmp(pivot, "/") == 0)
                return path + 1;
        if (strncmp(path, pivot, n) == 0 && (path[n] == '/' || !path[n]))
                return path[n] ? path + n + 1 : "";
        return path + 1;
}

struct copy_match {
        char *path;  /* rooted, in the source tree */
        char *pivot; /* --parents */
};

static void matches_free(struct copy_match *m, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(m[i].path);
                free(m[i].pivot);
        }
        free(m);
}

static int copy_one(int src_root_fd, const struct copy_match *m, int dest_root_fd,
                    const char *dclean, bool dest_is_dir, const struct build_copy_opts *o,
                    sb_error_t *err)
{
        const char *src = m->path;
        struct stat st;
        /* a source named (or matched) by the instruction is followed if it is a symlink,
         * inside the source tree; links inside a copied directory are kept */
        cleanup_close int sfd = build_fs_open_in_root(src_root_fd, src, O_PATH, 0);
        if (sfd < 0 || fstat(sfd, &st) < 0)
                return sb_error_errno(err, sfd < 0 ? -sfd : errno, "open '%s'", src + 1);
        const char *base = strrchr(src, '/') + 1;
        cleanup_free char *target = NULL;
        if (o->parents)
                target = sb_path_join(dclean, under_pivot(src, m->pivot));
        if (S_ISDIR(st.st_mode))
                /* a directory's contents are copied, not the directory itself */
                return copy_dir_into(sfd, src, target ? target : dclean, dest_root_fd, o, err);
        if (o->exclude && build_ignore_excluded(o->exclude, base))
                return 0;
        int r;
        if (o->add && !o->parents) {
                r = try_extract(src_root_fd, src, dest_root_fd, dclean, o, err);
                if (r != 0)
                        return r < 0 ? r : 0;
        }
        if (!target)
                target = dest_is_dir ? sb_path_join(dclean, base) : sb_xstrdup(dclean);
        cleanup_free char *tclean = build_fs_clean(target);
        if (strcmp(tclean, "/") == 0)
                return sb_error_set(err, EINVAL, "cannot copy '%s' over /", src + 1);
        cleanup_close int pfd = -1;
        cleanup_free char *name = NULL;
        r = open_parent(dest_root_fd, tclean, o, &pfd, &name, err);
        if (r < 0)
                return r;
        r = clear_target(pfd, name, false, err);
        if (r < 0)
                return r;
        if (S_ISREG(st.st_mode)) {
                cleanup_close int in = build_fs_open_in_root(src_root_fd, src,
                                                             O_RDONLY | O_NOCTTY, 0);
                if (in < 0)
                        return sb_error_errno(err, -in, "open '%s'", src + 1);
                return copy_reg(in, &st, pfd, name, o, err);
        }
        cleanup_free char *sparent = sb_xstrndup(src, (size_t) (base - src));
        cleanup_close int rfd = build_fs_open_in_root(src_root_fd, sparent, O_PATH | O_DIRECTORY,
                                                      0);
        if (rfd < 0)
                return sb_error_errno(err, -rfd, "open '%s'", src + 1);
        struct copy_rel rel = { src + 1, base };
        return copy_entry(rfd, base, pfd, name, o, rel, 0, err);
}

int build_copy(int src_root_fd, char *const *sources, int dest_root_fd, const char *dest,
               const struct build_copy_opts *o, sb_error_t *err)
{
        if (o->chmod) {
                mode_t m;
                if (build_copy_chmod(o->chmod, 0644, false, &m) < 0)
                        return sb_error_set(err, EINVAL, "--chmod=%s: invalid mode", o->chmod);
        }
        struct copy_match *matches = NULL;
        size_t n = 0;
        int r = 0;
        cleanup_free char *dclean = build_fs_clean(dest);
        for (size_t i = 0; sources && sources[i]; i++) {
                if (strstr(sources[i], "://")) {
                        r = sb_error_set(err, ENOTSUP, "'%s': remote sources are only fetched "
                                         "for ADD", sources[i]);
                        goto out;
                }
                cleanup_free char *clean = build_fs_clean(sources[i]);
                cleanup_strv char **found = NULL;
                r = glob_walk(src_root_fd, o->ignore, "/", clean + 1, &found, err);
                if (r < 0)
                        goto out;
                /* BuildKit allows a wildcard to match nothing; a plain path must exist */
                if (!found && has_glob(clean))
                        continue;
                if (!found) {
                        r = sb_error_set(err, ENOENT, "'%s': no such file or directory",
                                         sources[i]);
                        goto out;
                }
                size_t k = sb_strv_len(found);
                if (n + k > COPY_MATCHES_MAX) {
                        r = sb_error_set(err, E2BIG, "more than %d matching sources",
                                         COPY_MATCHES_MAX);
                        goto out;
                }
                matches = sb_xrealloc(matches, (n + k) * sizeof(*matches));
                for (size_t j = 0; j < k; j++) {
                        matches[n].path = steal_pointer(&found[j]);
                        matches[n].pivot = o->parents ? parents_pivot(sources[i]) : NULL;
                        n++;
                }
        }
        bool dest_slash = sb_str_has_suffix(dest, "/") || sb_str_has_suffix(dest, "/.");
        bool dest_is_dir = dest_slash || o->parents || strcmp(dclean, "/") == 0 ||
                           is_dir_in_root(dest_root_fd, dclean);
        if (n > 1 && !dest_is_dir) {
                r = sb_error_set(err, EINVAL,
                                 "'%s': with more than one source the destination must be a "
                                 "directory and end with a /",
                                 dest);
                goto out;
        }
        for (size_t i = 0; i < n && r >= 0; i++)
                r = copy_one(src_root_fd, &matches[i], dest_root_fd, dclean, dest_is_dir, o, err);
out:
        matches_free(matches, n);
        return r < 0 ? r : 0;
}

int build_copy_fd(int fd, const char *name, mode_t mode, const struct timespec *mtime,
                  int dest_root_fd, const char *dest, const struct build_copy_opts *o,
                  sb_error_t *err)
{
        if (!*name || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                return sb_error_set(err, EINVAL, "'%s' is not a file name", name);
        if (o->chmod && build_copy_chmod(o->chmod, mode, false, &mode) < 0)
                return sb_error_set(err, EINVAL, "--chmod=%s: invalid mode", o->chmod);
        bool dest_slash = sb_str_has_suffix(dest, "/") || sb_str_has_suffix(dest, "/.");
        cleanup_free char *dclean = build_fs_clean(dest);
        bool dest_is_dir = dest_slash || strcmp(dclean, "/") == 0 ||
                           is_dir_in_root(dest_root_fd, dclean);
        cleanup_free char *target = dest_is_dir ? sb_path_join(dclean, name)
                                                : sb_xstrdup(dclean);
        cleanup_close int pfd = -1;
        cleanup_free char *fname = NULL;
        int r = open_parent(dest_root_fd, target, o, &pfd, &fname, err);
        if (r < 0)
                return r;
        r = clear_target(pfd, fname, false, err);
        if (r < 0)
                return r;
        cleanup_close int out = openat(pfd, fname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
                                                           O_CLOEXEC, 0600);
        if (out < 0)
                return sb_error_errno(err, errno, "create '%s'", target);
        if (lseek(fd, 0, SEEK_SET) < 0)
                return sb_error_errno(err, errno, "read '%s'", name);
        r = copy_data(fd, out, name, err);
        if (r < 0)
                return r;
        struct stat st = { .st_uid = 0, .st_gid = 0 };
        apply_owner(pfd, fname, &st, o);
        (void) fchmod(out, mode & 07777);
        if (mtime) {
                struct timespec ts[2] = { *mtime, *mtime };
                (void) futimens(out, ts);
        }
        return 0;
}
