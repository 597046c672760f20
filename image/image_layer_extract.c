/*
 * Layer and archive extraction, safe against hostile tars: every entry is created with *at()
 * calls relative to a directory fd reached by walking the parent components one by one with
 * O_NOFOLLOW, so no name, symlink or hardlink can lead outside the tree.
 */
#include "image/image_layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/sb_cleanup.h"
#include "common/sb_log.h"
#include "common/sb_util.h"
#include "image/image_internal.h"
#include "image/image_owner.h"

#define READ_CHUNK           (128u * 1024u)
#define WHITEOUT_PREFIX      ".wh."
#define WHITEOUT_META_PREFIX ".wh..wh."
#define OPAQUE_MARKER        ".wh..wh..opq"
#define OVERLAY_OPAQUE_XATTR "user.overlay.opaque"

struct deferred_dir {
        char *path; /* normalised, relative to the root ("" is the root) */
        mode_t mode;
        struct timespec mtime;
};

struct extractor {
        int root_fd;
        bool overlay; /* turn ".wh." entries into overlay whiteouts */
        struct deferred_dir *dirs;
        size_t n_dirs, cap_dirs;
        char *buf;
};

static void extractor_done(struct extractor *x)
{
        for (size_t i = 0; i < x->n_dirs; i++)
                free(x->dirs[i].path);
        free(x->dirs);
        free(x->buf);
}

/*
 * Normalise a tar name: strip leading '/' and "./", drop empty and "." components, refuse
 * "..". The result has no leading or trailing '/', "" for the root.
 */
static int normalize(const char *name, char *out, size_t size, sb_error_t *err)
{
        size_t o = 0;
        const char *p = name;
        while (*p) {
                while (*p == '/')
                        p++;
                const char *end = strchrnul(p, '/');
                size_t len = (size_t) (end - p);
                if (len == 0 || (len == 1 && p[0] == '.')) {
                        p = end;
                        continue;
                }
                if (len == 2 && p[0] == '.' && p[1] == '.')
                        return sb_error_set(err, EPERM, "entry '%s': refusing '..' component",
                                            name);
                if (o + len + 2 > size)
                        return sb_error_set(err, ENAMETOOLONG, "entry '%.200s...': name too long",
                                            name);
                if (o > 0)
                        out[o++] = '/';
                memcpy(out + o, p, len);
                o += len;
                p = end;
        }
        out[o] = '\0';
        return 0;
}

/*
 * Open the directory that holds the last component of norm (which must not be ""), walking
 * each parent component with O_NOFOLLOW|O_DIRECTORY; missing parents are created when create
 * is set. Returns the parent fd and a pointer to the last component inside norm.
 */
static int open_parent(int root_fd, const char *entry, const char *norm, bool create, int *ret_fd,
                       const char **ret_leaf, sb_error_t *err)
{
        cleanup_close int cur = openat(root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (cur < 0)
                return sb_error_errno(err, errno, "entry '%s': open root", entry);
        char comp[NAME_MAX + 1];
        const char *p = norm;
        for (;;) {
                const char *slash = strchr(p, '/');
                if (!slash)
                        break;
                size_t len = (size_t) (slash - p);
                if (len > NAME_MAX)
                        return sb_error_set(err, ENAMETOOLONG, "entry '%s': component too long",
                                            entry);
                memcpy(comp, p, len);
                comp[len] = '\0';
                int fd = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0 && errno == ENOENT && create) {
                        if (mkdirat(cur, comp, 0755) < 0 && errno != EEXIST)
                                return sb_error_errno(err, errno, "entry '%s': mkdir '%.*s'", entry,
                                                      (int) (slash - norm), norm);
                        fd = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                }
                if (fd < 0 && (errno == ELOOP || errno == ENOTDIR))
                        return sb_error_set(err, EPERM,
                                            "entry '%s': refusing, parent '%.*s' is a symlink or "
                                            "not a directory",
                                            entry, (int) (slash - norm), norm);
                if (fd < 0)
                        return sb_error_errno(err, errno, "entry '%s': open parent '%.*s'", entry,
                                              (int) (slash - norm), norm);
                close(cur);
                cur = fd;
                p = slash + 1;
        }
        if (strlen(p) > NAME_MAX)
                return sb_error_set(err, ENAMETOOLONG, "entry '%s': name too long", entry);
        *ret_fd = steal_fd(&cur);
        *ret_leaf = p;
        return 0;
}

static int set_owner(int dirfd, const char *leaf, int fd, struct archive_entry *e,
                     const char *entry, sb_error_t *err)
{
        uid_t uid = (uid_t) archive_entry_uid(e);
        gid_t gid = (gid_t) archive_entry_gid(e);
        /* an id outside the user namespace's map is recorded in an xattr (image_owner.h) */
        int r = image_owner_apply_fd(dirfd, leaf, fd, uid, gid);
        if (r >= 0)
                return 0;
        /*
         * No permission, or nowhere to record (no user xattrs, xattr space full): keep the
         * entry, owned by the mapped root, as a layer extracted without owners would be.
         */
        if (r == -EPERM || r == -ENOTSUP || r == -ENOSPC || r == -E2BIG) {
                sb_debug("entry '%s': cannot chown or record owner %u:%u (%s), ignoring", entry,
                         (unsigned) uid, (unsigned) gid, strerror(-r));
                return 0;
        }
        return sb_error_errno(err, -r, "entry '%s': chown", entry);
}

static int set_xattrs(int fd, struct archive_entry *e, const char *entry, sb_error_t *err)
{
        const char *name;
        const void *value;
        size_t size;

        if (archive_entry_xattr_reset(e) == 0)
                return 0;
        while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
                if (!name || !image_layer_keep_xattr(name))
                        continue;
                if (fsetxattr(fd, name, value, size, 0) < 0) {
                        if (errno == ENOTSUP) {
                                sb_debug("entry '%s': xattr '%s' not supported, ignoring", entry,
                                         name);
                                continue;
                        }
                        return sb_error_errno(err, errno, "entry '%s': set xattr '%s'", entry,
                                              name);
                }
        }
        return 0;
}

static struct timespec entry_mtime(struct archive_entry *e)
{
        struct timespec t = { .tv_sec = archive_entry_mtime(e), .tv_nsec = 0 };
        if (archive_entry_mtime_is_set(e))
                t.tv_nsec = archive_entry_mtime_nsec(e);
        return t;
}

static void defer_dir(struct extractor *x, const char *norm, struct archive_entry *e)
{
        if (x->n_dirs == x->cap_dirs) {
                x->cap_dirs = x->cap_dirs ? x->cap_dirs * 2 : 64;
                x->dirs = sb_xrealloc(x->dirs, x->cap_dirs * sizeof(*x->dirs));
        }
        struct deferred_dir *d = &x->dirs[x->n_dirs++];
        d->path = sb_xstrdup(norm);
        d->mode = archive_entry_perm(e) & 07777;
        d->mtime = entry_mtime(e);
}

/* Directory modes and mtimes go on after all the contents, or the writes would undo them. */
static int apply_deferred(struct extractor *x, sb_error_t *err)
{
        for (size_t i = 0; i < x->n_dirs; i++) {
                const struct deferred_dir *d = &x->dirs[i];
                cleanup_close int fd = -1;
                if (!*d->path) {
                        fd = openat(x->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                } else {
                        cleanup_close int pfd = -1;
                        const char *leaf;
                        sb_error_t ignored = { 0 };
                        /* a later entry may have replaced it; then it has nothing to apply */
                        if (open_parent(x->root_fd, d->path, d->path, false, &pfd, &leaf,
                                        &ignored) < 0)
                                continue;
                        fd = openat(pfd, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (fd < 0)
                                continue;
                }
                if (fd < 0)
                        return sb_error_errno(err, errno, "open root directory");
                struct timespec ts[2] = { d->mtime, d->mtime };
                if (fchmod(fd, d->mode) < 0 || futimens(fd, ts) < 0)
                        return sb_error_errno(err, errno, "entry '%s': set mode and time",
                                              *d->path ? d->path : ".");
        }
        return 0;
}

static int extract_whiteout(int pfd, const char *leaf, const char *entry, sb_error_t *err)
{
        if (strcmp(leaf, OPAQUE_MARKER) == 0) {
                if (fsetxattr(pfd, OVERLAY_OPAQUE_XATTR, "y", 1, 0) < 0)
                        return sb_error_errno(err, errno, "entry '%s': mark directory opaque",
                                              entry);
                return 0;
        }
        if (sb_str_has_prefix(leaf, WHITEOUT_META_PREFIX)) {
                sb_debug("entry '%s': unknown whiteout meta entry, ignoring", entry);
                return 0;
        }
        const char *base = leaf + strlen(WHITEOUT_PREFIX);
        if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
                return sb_error_set(err, EPERM, "entry '%s': refusing invalid whiteout", entry);
        int r = sb_rm_rf_at(pfd, base, err);
        if (r < 0)
                return sb_error_prefix(err, "entry '%s'", entry);
        if (mknodat(pfd, base, S_IFCHR | 0, makedev(0, 0)) < 0)
                return sb_error_errno(err, errno, "entry '%s': create whiteout", entry);
        return 0;
}

static int extract_regular(struct extractor *x, struct archive *a, struct archive_entry *e, int pfd,
                           const char *leaf, const char *entry, sb_error_t *err)
{
        cleanup_close int fd =
                openat(pfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return sb_error_errno(err, errno, "entry '%s': create", entry);
        for (;;) {
                la_ssize_t n = archive_read_data(a, x->buf, READ_CHUNK);
                if (n < 0)
                        return sb_error_set(err, EIO, "entry '%s': read: %s", entry,
                                            archive_error_string(a));
                if (n == 0)
                        break;
                int r = sb_write_all(fd, x->buf, (size_t) n);
                if (r < 0)
                        return sb_error_errno(err, -r, "entry '%s': write", entry);
        }
        /* owner first: chown clears setuid bits and file capabilities */
        int r = set_owner(pfd, leaf, fd, e, entry, err);
        if (r < 0)
                return r;
        if (fchmod(fd, archive_entry_perm(e) & 07777) < 0)
                return sb_error_errno(err, errno, "entry '%s': chmod", entry);
        r = set_xattrs(fd, e, entry, err);
        if (r < 0)
                return r;
        struct timespec ts[2] = { entry_mtime(e), entry_mtime(e) };
        if (futimens(fd, ts) < 0)
                return sb_error_errno(err, errno, "entry '%s': set time", entry);
        return 0;
}

static int extract_hardlink(struct extractor *x, struct archive_entry *e, int pfd, const char *leaf,
                            const char *entry, sb_error_t *err)
{
        char target[IMAGE_LAYER_ENTRY_MAX_NAME + 1];
        const char *raw = archive_entry_hardlink(e);
        int r = normalize(raw, target, sizeof(target), err);
        if (r < 0)
                return sb_error_prefix(err, "hardlink '%s'", entry);
        if (!*target)
                return sb_error_set(err, EPERM, "entry '%s': refusing hardlink to the root", entry);
        cleanup_close int tfd = -1;
        const char *tleaf;
        r = open_parent(x->root_fd, raw, target, false, &tfd, &tleaf, err);
        if (r < 0)
                return sb_error_prefix(err, "hardlink '%s'", entry);
        struct stat st;
        if (fstatat(tfd, tleaf, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return sb_error_errno(err, errno, "entry '%s': hardlink target '%s'", entry, raw);
        if (S_ISDIR(st.st_mode))
                return sb_error_set(err, EPERM, "entry '%s': refusing hardlink to directory '%s'",
                                    entry, raw);
        /* flags 0: a symlink target is linked itself, never followed */
        if (linkat(tfd, tleaf, pfd, leaf, 0) < 0)
                return sb_error_errno(err, errno, "entry '%s': hardlink to '%s'", entry, raw);
        return 0;
}

static int extract_node(struct archive_entry *e, mode_t type, int pfd, const char *leaf,
                        const char *entry, sb_error_t *err)
{
        dev_t dev = type == AE_IFIFO
                            ? 0
                            : makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
        if (mknodat(pfd, leaf, type | (archive_entry_perm(e) & 07777), dev) < 0) {
                if (errno == EPERM) {
                        sb_debug("entry '%s': device nodes not permitted, skipping", entry);
                        return 0;
                }
                return sb_error_errno(err, errno, "entry '%s': mknod", entry);
        }
        int r = set_owner(pfd, leaf, -1, e, entry, err);
        if (r < 0)
                return r;
        if (fchmodat(pfd, leaf, archive_entry_perm(e) & 07777, 0) < 0)
                return sb_error_errno(err, errno, "entry '%s': chmod", entry);
        struct timespec ts[2] = { entry_mtime(e), entry_mtime(e) };
        if (utimensat(pfd, leaf, ts, AT_SYMLINK_NOFOLLOW) < 0)
                return sb_error_errno(err, errno, "entry '%s': set time", entry);
        return 0;
}

static int extract_entry(struct extractor *x, struct archive *a, struct archive_entry *e,
                         sb_error_t *err)
{
        char norm[IMAGE_LAYER_ENTRY_MAX_NAME + 1];
        const char *entry = archive_entry_pathname(e);
        if (!entry || !*entry)
                return sb_error_set(err, EPERM, "refusing an entry without a name");
        int r = normalize(entry, norm, sizeof(norm), err);
        if (r < 0)
                return r;
        mode_t type = archive_entry_filetype(e);
        const char *hardlink = archive_entry_hardlink(e);

        if (!*norm) {
                /* "." or "/": only its attributes, and never as anything but a directory */
                if (type != AE_IFDIR || hardlink)
                        return sb_error_set(err, EPERM,
                                            "entry '%s': refusing a root that is not a directory",
                                            entry);
                r = set_owner(x->root_fd, ".", -1, e, entry, err);
                if (r < 0)
                        return r;
                defer_dir(x, "", e);
                return 0;
        }

        cleanup_close int pfd = -1;
        const char *leaf;
        r = open_parent(x->root_fd, entry, norm, true, &pfd, &leaf, err);
        if (r < 0)
                return r;

        if (x->overlay && sb_str_has_prefix(leaf, WHITEOUT_PREFIX))
                return extract_whiteout(pfd, leaf, entry, err);

        struct stat old;
        bool exists = fstatat(pfd, leaf, &old, AT_SYMLINK_NOFOLLOW) == 0;
        bool keep_dir = exists && S_ISDIR(old.st_mode) && type == AE_IFDIR && !hardlink;
        if (exists && !keep_dir) {
                /* a new entry replaces an old one of another kind: unlink, then recreate */
                r = sb_rm_rf_at(pfd, leaf, err);
                if (r < 0)
                        return sb_error_prefix(err, "entry '%s'", entry);
        }

        if (hardlink)
                return extract_hardlink(x, e, pfd, leaf, entry, err);

        switch (type) {
        case AE_IFDIR: {
                if (!keep_dir && mkdirat(pfd, leaf, 0700) < 0)
                        return sb_error_errno(err, errno, "entry '%s': mkdir", entry);
                cleanup_close int fd =
                        openat(pfd, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        return sb_error_errno(err, errno, "entry '%s': open", entry);
                r = set_owner(pfd, leaf, fd, e, entry, err);
                if (r >= 0)
                        r = set_xattrs(fd, e, entry, err);
                if (r < 0)
                        return r;
                defer_dir(x, norm, e);
                return 0;
        }
        case AE_IFREG:
                return extract_regular(x, a, e, pfd, leaf, entry, err);
        case AE_IFLNK: {
                const char *target = archive_entry_symlink(e);
                if (!target)
                        return sb_error_set(err, EPERM, "entry '%s': symlink without target",
                                            entry);
                /* created as a link only; its target is never resolved here */
                if (symlinkat(target, pfd, leaf) < 0)
                        return sb_error_errno(err, errno, "entry '%s': symlink", entry);
                r = set_owner(pfd, leaf, -1, e, entry, err);
                if (r < 0)
                        return r;
                struct timespec ts[2] = { entry_mtime(e), entry_mtime(e) };
                if (utimensat(pfd, leaf, ts, AT_SYMLINK_NOFOLLOW) < 0)
                        return sb_error_errno(err, errno, "entry '%s': set time", entry);
                return 0;
        }
        case AE_IFCHR:
        case AE_IFBLK:
        case AE_IFIFO:
                return extract_node(e, type, pfd, leaf, entry, err);
        default:
                sb_debug("entry '%s': unsupported type 0%o, skipping", entry, (unsigned) type);
                return 0;
        }
}

static int extract_all(struct extractor *x, struct archive *a, bool *ret_empty, sb_error_t *err)
{
        struct archive_entry *e;
        bool first = true;
        for (;;) {
                int ar = archive_read_next_header(a, &e);
                if (ar == ARCHIVE_EOF)
                        break;
                if (ar < ARCHIVE_WARN) {
                        int code = first ? EINVAL : EBADMSG;
                        return sb_error_set(
                                err, code, "%s: %s", first ? "not a tar archive" : "corrupt tar",
                                archive_error_string(a) ? archive_error_string(a) : "read error");
                }
                first = false;
                int r = extract_entry(x, a, e, err);
                if (r < 0)
                        return r;
        }
        if (ret_empty)
                *ret_empty = first;
        return apply_deferred(x, err);
}

/* The blob's compressed bytes (hashed to re-check its digest) and the decompressed tar bytes
 * (hashed for diff_id) both pass through these callbacks. */
struct layer_stream {
        int fd;
        struct archive *outer;
        bool outer_eof;
        struct sb_sha256 *blob_hash;
        struct sb_sha256 *diff_hash;
        char *in_buf;
        char *out_buf;
};

static la_ssize_t blob_read_cb(struct archive *a, void *ud, const void **buf)
{
        struct layer_stream *ls = ud;
        for (;;) {
                ssize_t n = read(ls->fd, ls->in_buf, READ_CHUNK);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        archive_set_error(a, errno, "read blob");
                        return -1;
                }
                sb_sha256_update(ls->blob_hash, ls->in_buf, (size_t) n);
                *buf = ls->in_buf;
                return n;
        }
}

static la_ssize_t tar_read_cb(struct archive *a, void *ud, const void **buf)
{
        struct layer_stream *ls = ud;
        if (ls->outer_eof)
                return 0;
        la_ssize_t n = archive_read_data(ls->outer, ls->out_buf, READ_CHUNK);
        if (n < 0) {
                archive_set_error(a, EIO, "decompress: %s", archive_error_string(ls->outer));
                return -1;
        }
        sb_sha256_update(ls->diff_hash, ls->out_buf, (size_t) n);
        *buf = ls->out_buf;
        return n;
}

static int open_layer_stream(struct layer_stream *ls, sb_error_t *err)
{
        ls->outer = archive_read_new();
        if (!ls->outer)
                abort();
        archive_read_support_filter_all(ls->outer);
        archive_read_support_format_raw(ls->outer);
        if (archive_read_open(ls->outer, ls, NULL, blob_read_cb, NULL) != ARCHIVE_OK)
                return sb_error_set(err, EBADMSG, "open layer: %s",
                                    archive_error_string(ls->outer));
        struct archive_entry *e;
        int ar = archive_read_next_header(ls->outer, &e);
        if (ar == ARCHIVE_EOF)
                ls->outer_eof = true;
        else if (ar < ARCHIVE_WARN)
                return sb_error_set(err, EBADMSG, "open layer: %s",
                                    archive_error_string(ls->outer));
        return 0;
}

/* Hash whatever follows the tar's end marker: diff_id covers the whole stream. */
static int drain_layer_stream(struct layer_stream *ls, sb_error_t *err)
{
        while (!ls->outer_eof) {
                la_ssize_t n = archive_read_data(ls->outer, ls->out_buf, READ_CHUNK);
                if (n < 0)
                        return sb_error_set(err, EBADMSG, "decompress: %s",
                                            archive_error_string(ls->outer));
                if (n == 0)
                        break;
                sb_sha256_update(ls->diff_hash, ls->out_buf, (size_t) n);
        }
        /* and the compressed input to its end, for the blob digest */
        for (;;) {
                ssize_t n = read(ls->fd, ls->in_buf, READ_CHUNK);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return sb_error_errno(err, errno, "read blob");
                if (n == 0)
                        return 0;
                sb_sha256_update(ls->blob_hash, ls->in_buf, (size_t) n);
        }
}

static void layer_stream_done(struct layer_stream *ls)
{
        if (ls->outer)
                archive_read_free(ls->outer);
        sb_sha256_free(ls->blob_hash);
        sb_sha256_free(ls->diff_hash);
        free(ls->in_buf);
        free(ls->out_buf);
}

static int extract_layer_into(const struct image_store *s, const char *digest, int root_fd,
                              char ret_diff_id[SB_DIGEST_STR_LEN + 1], sb_error_t *err)
{
        cleanup_close int fd = -1;
        int r = image_store_open_blob(s, digest, &fd, err);
        if (r < 0)
                return r;
        struct layer_stream ls = { .fd = fd };
        ls.blob_hash = sb_sha256_new();
        ls.diff_hash = sb_sha256_new();
        ls.in_buf = sb_xmalloc(READ_CHUNK);
        ls.out_buf = sb_xmalloc(READ_CHUNK);
        struct extractor x = { .root_fd = root_fd, .overlay = true };
        x.buf = sb_xmalloc(READ_CHUNK);
        struct archive *tar = NULL;

        r = open_layer_stream(&ls, err);
        if (r < 0)
                goto out;
        tar = archive_read_new();
        if (!tar)
                abort();
        archive_read_support_format_tar(tar);
        if (archive_read_open(tar, &ls, NULL, tar_read_cb, NULL) != ARCHIVE_OK) {
                r = sb_error_set(err, EBADMSG, "read layer: %s", archive_error_string(tar));
                goto out;
        }
        r = extract_all(&x, tar, NULL, err);
        if (r == -EINVAL)
                r = -(err->code = EBADMSG);
        if (r >= 0)
                r = drain_layer_stream(&ls, err);
        if (r < 0)
                goto out;
        char blob_digest[SB_DIGEST_STR_LEN + 1];
        sb_sha256_final(ls.blob_hash, blob_digest);
        ls.blob_hash = NULL;
        sb_sha256_final(ls.diff_hash, ret_diff_id);
        ls.diff_hash = NULL;
        if (strcmp(blob_digest, digest) != 0)
                r = sb_error_set(err, EBADMSG, "blob is corrupt (content hashes to '%s')",
                                 blob_digest);
out:
        if (tar)
                archive_read_free(tar);
        layer_stream_done(&ls);
        extractor_done(&x);
        return r;
}

int image_layer_extract(const struct image_store *s, const char *digest,
                        const char *expected_diff_id, char ret_diff_id[SB_DIGEST_STR_LEN + 1],
                        sb_error_t *err)
{
        if (!sb_digest_valid(digest))
                return sb_error_set(err, EINVAL, "invalid layer digest '%s'", digest ? digest : "");
        if (expected_diff_id && !sb_digest_valid(expected_diff_id))
                return sb_error_set(err, EINVAL, "invalid diff_id '%s'", expected_diff_id);
        if (expected_diff_id && image_store_has_layer(s, expected_diff_id)) {
                if (ret_diff_id)
                        memcpy(ret_diff_id, expected_diff_id, SB_DIGEST_STR_LEN + 1);
                return 0;
        }

        cleanup_free char *tmp = NULL;
        int r = image_store_mkdtemp_name(s, "layer", 0755, &tmp, err);
        if (r < 0)
                return r;
        char diff_id[SB_DIGEST_STR_LEN + 1];
        int root_fd = openat(s->tmp_fd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (root_fd < 0) {
                r = sb_error_errno(err, errno, "open '%s/tmp/%s'", s->root, tmp);
        } else {
                /* mkdir's mode went through the umask; a layer root is 0755 unless "./" says */
                (void) fchmod(root_fd, 0755);
                r = extract_layer_into(s, digest, root_fd, diff_id, err);
                close(root_fd);
        }
        if (r >= 0 && expected_diff_id && strcmp(diff_id, expected_diff_id) != 0)
                r = sb_error_set(err, EBADMSG, "diff_id is '%s', expected '%s'", diff_id,
                                 expected_diff_id);
        if (r >= 0) {
                if (renameat(s->tmp_fd, tmp, s->layers_fd, diff_id + 7) == 0)
                        tmp[0] = '\0';
                else if (errno != EEXIST && errno != ENOTEMPTY)
                        r = sb_error_errno(err, errno, "store layer '%s'", diff_id);
                /* else someone extracted the same layer first: theirs is as good as ours */
        }
        if (tmp[0]) {
                sb_error_t ignored = { 0 };
                (void) sb_rm_rf_at(s->tmp_fd, tmp, &ignored);
        }
        if (r < 0)
                return sb_error_prefix(err, "layer '%s'", digest);
        if (ret_diff_id)
                memcpy(ret_diff_id, diff_id, sizeof(diff_id));
        return 0;
}

struct file_stream {
        int fd;
        off_t off;
        char *buf;
};

/* pread keeps the caller's file offset, so a non-archive can still be copied from fd */
static la_ssize_t file_read_cb(struct archive *a, void *ud, const void **buf)
{
        struct file_stream *fs = ud;
        for (;;) {
                ssize_t n = pread(fs->fd, fs->buf, READ_CHUNK, fs->off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        archive_set_error(a, errno, "read archive");
                        return -1;
                }
                fs->off += n;
                *buf = fs->buf;
                return n;
        }
}

int image_layer_extract_archive(int archive_fd, int dest_dirfd, sb_error_t *err)
{
        struct stat st;
        if (fstat(archive_fd, &st) < 0)
                return sb_error_errno(err, errno, "stat archive");
        if (!S_ISREG(st.st_mode) || st.st_size == 0)
                return sb_error_set(err, EINVAL, "not an archive");
        struct file_stream fs = { .fd = archive_fd };
        fs.buf = sb_xmalloc(READ_CHUNK);
        struct extractor x = { .root_fd = dest_dirfd, .overlay = false };
        x.buf = sb_xmalloc(READ_CHUNK);
        struct archive *a = archive_read_new();
        if (!a)
                abort();
        archive_read_support_filter_all(a);
        archive_read_support_format_tar(a);
        int r;
        if (archive_read_open(a, &fs, NULL, file_read_cb, NULL) != ARCHIVE_OK)
                r = sb_error_set(err, EINVAL, "not an archive: %s", archive_error_string(a));
        else
                r = extract_all(&x, a, NULL, err);
        archive_read_free(a);
        free(fs.buf);
        extractor_done(&x);
        return r < 0 ? r : 0;
}
