/* Overlay upper directory -> tar+gzip layer blob, in one streaming pass. */
#include "image/image_layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zlib.h>

#include "common/sb_cleanup.h"
#include "common/sb_util.h"
#include "image/image_internal.h"
#include "image/image_owner.h"

#define ZBUF_SIZE             (64u * 1024u)
#define COPY_SIZE             (128u * 1024u)
#define XATTR_LIST_MAX_BYTES  (64u * 1024u)
#define XATTR_VALUE_MAX_BYTES (64u * 1024u)
#define OPAQUE_MARKER         ".wh..wh..opq"
#define WHITEOUT_PREFIX       ".wh."

struct link_node {
        dev_t dev;
        ino_t ino;
        char *name;
};

struct writer {
        struct archive *a;
        struct sb_sha256 *diff_hash;
        z_stream z;
        bool z_ready;
        unsigned char *zbuf;
        struct image_blob_writer *blob;
        void *links; /* tsearch tree of struct link_node: first name of each hardlinked inode */
        char *copy_buf;
        uint64_t n_entries;
        int cb_error;      /* -errno set by the write callback */
        sb_error_t cb_err; /* its message */
};

struct dirent_info {
        char *name;
        char *key; /* sort key: the tar name's last part ("x/", ".wh.x", "x") */
        struct stat st;
        bool whiteout;
};

static int link_cmp(const void *a, const void *b)
{
        const struct link_node *x = a, *y = b;
        if (x->dev != y->dev)
                return x->dev < y->dev ? -1 : 1;
        if (x->ino != y->ino)
                return x->ino < y->ino ? -1 : 1;
        return 0;
}

static void link_free(void *p)
{
        struct link_node *n = p;
        free(n->name);
        free(n);
}

static int flush_z(struct writer *w)
{
        size_t have = ZBUF_SIZE - w->z.avail_out;
        if (have > 0) {
                int r = image_blob_writer_write(w->blob, w->zbuf, have, &w->cb_err);
                if (r < 0)
                        return r;
        }
        w->z.next_out = w->zbuf;
        w->z.avail_out = ZBUF_SIZE;
        return 0;
}

static int deflate_feed(struct writer *w, const void *data, size_t len, int flush)
{
        w->z.next_in = (Bytef *) data;
        w->z.avail_in = (uInt) len;
        for (;;) {
                int zr = deflate(&w->z, flush);
                if (zr == Z_STREAM_ERROR)
                        return sb_error_set(&w->cb_err, EIO, "gzip: stream error");
                if (w->z.avail_out == 0 || (flush == Z_FINISH && zr == Z_STREAM_END)) {
                        int r = flush_z(w);
                        if (r < 0)
                                return r;
                }
                if (flush == Z_FINISH ? zr == Z_STREAM_END
                                      : (w->z.avail_in == 0 && w->z.avail_out != 0))
                        return 0;
        }
}

/* libarchive hands us the uncompressed tar: hash it for diff_id, compress it into the blob */
static la_ssize_t tar_write_cb(struct archive *a, void *ud, const void *buf, size_t len)
{
        struct writer *w = ud;
        size_t done = 0;

        sb_sha256_update(w->diff_hash, buf, len);
        while (done < len) {
                size_t n = len - done > (1u << 30) ? (1u << 30) : len - done;
                int r = deflate_feed(w, (const char *) buf + done, n, Z_NO_FLUSH);
                if (r < 0) {
                        w->cb_error = r;
                        archive_set_error(a, -r, "%s", w->cb_err.msg);
                        return -1;
                }
                done += n;
        }
        return (la_ssize_t) len;
}

static int archive_fail(struct writer *w, const char *what, sb_error_t *err)
{
        if (w->cb_error < 0) {
                *err = w->cb_err;
                return sb_error_prefix(err, "%s", what);
        }
        int e = archive_errno(w->a);
        return sb_error_set(err, e > 0 ? e : EIO, "%s: %s", what,
                            archive_error_string(w->a) ? archive_error_string(w->a) : "error");
}

static bool overlay_xattr(const char *name)
{
        return sb_str_has_prefix(name, "trusted.overlay.") ||
               sb_str_has_prefix(name, "user.overlay.");
}

bool image_layer_keep_xattr(const char *name)
{
        /* owner records describe the store tree; in a layer they would forge owners */
        if (overlay_xattr(name) || image_owner_is_record_xattr(name))
                return false;
        return sb_str_has_prefix(name, "user.") || strcmp(name, "security.capability") == 0;
}

/* Copy the kept xattrs of fd into e; sets *ret_opaque when overlay marks the dir opaque. */
static int add_xattrs(int fd, const char *path, struct archive_entry *e, bool *ret_opaque,
                      sb_error_t *err)
{
        ssize_t n = flistxattr(fd, NULL, 0);
        if (n < 0) {
                if (errno == ENOTSUP)
                        return 0;
                return sb_error_errno(err, errno, "list xattrs of '%s'", path);
        }
        if (n == 0)
                return 0;
        if ((size_t) n > XATTR_LIST_MAX_BYTES)
                return sb_error_set(err, E2BIG, "too many xattrs on '%s'", path);
        cleanup_free char *list = sb_xmalloc((size_t) n + 1);
        n = flistxattr(fd, list, (size_t) n);
        if (n < 0)
                return sb_error_errno(err, errno, "list xattrs of '%s'", path);
        list[n] = '\0';
        cleanup_free char *val = sb_xmalloc(XATTR_VALUE_MAX_BYTES);
        for (char *name = list; name < list + n; name += strlen(name) + 1) {
                bool opaque_attr = strcmp(name, "trusted.overlay.opaque") == 0 ||
                                   strcmp(name, "user.overlay.opaque") == 0;
                if (!opaque_attr && !image_layer_keep_xattr(name))
                        continue;
                ssize_t vl = fgetxattr(fd, name, val, XATTR_VALUE_MAX_BYTES);
                if (vl < 0) {
                        if (errno == ENODATA)
                                continue;
                        return sb_error_errno(err, errno, "read xattr '%s' of '%s'", name, path);
                }
                if (opaque_attr) {
                        if (ret_opaque && vl == 1 && val[0] == 'y')
                                *ret_opaque = true;
                        continue;
                }
                archive_entry_xattr_add_entry(e, name, val, (size_t) vl);
        }
        return 0;
}

static struct archive_entry *new_entry(const char *path, const struct stat *st, mode_t mode)
{
        struct archive_entry *e = archive_entry_new();
        if (!e)
                abort();
        archive_entry_copy_pathname(e, path);
        archive_entry_set_mode(e, mode);
        archive_entry_set_uid(e, st->st_uid);
        archive_entry_set_gid(e, st->st_gid);
        archive_entry_set_mtime(e, st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
        return e;
}

/*
 * st with the owner to write for dirfd/name: the one recorded where the user namespace could
 * not chown (image_owner.h), else the real one. fd: the entry's open fd, or -1.
 */
static int owner_stat(int dirfd, const char *name, int fd, const struct stat *st, const char *path,
                      struct stat *ret, sb_error_t *err)
{
        *ret = *st;
        int r = image_owner_lookup(dirfd, name, fd, st, &ret->st_uid, &ret->st_gid);
        if (r < 0)
                return sb_error_errno(err, -r, "read recorded owner of '%s'", path);
        return 0;
}

static int write_header(struct writer *w, struct archive_entry *e, sb_error_t *err)
{
        int ar = archive_write_header(w->a, e);
        if (ar < ARCHIVE_WARN) {
                cleanup_free char *what =
                        sb_xasprintf("write tar header '%s'", archive_entry_pathname(e));
                archive_entry_free(e);
                return archive_fail(w, what, err);
        }
        archive_entry_free(e);
        w->n_entries++;
        return 0;
}

static int write_file_data(struct writer *w, int fd, const char *path, off_t size, sb_error_t *err)
{
        off_t left = size;
        while (left > 0) {
                size_t want = (off_t) COPY_SIZE < left ? COPY_SIZE : (size_t) left;
                ssize_t n = read(fd, w->copy_buf, want);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return sb_error_errno(err, errno, "read '%s'", path);
                if (n == 0)
                        return sb_error_set(err, EIO, "'%s' shrank while being read", path);
                if (archive_write_data(w->a, w->copy_buf, (size_t) n) < 0)
                        return archive_fail(w, path, err);
                left -= n;
        }
        return 0;
}

static int emit_regular(struct writer *w, int dirfd, const struct dirent_info *d, const char *path,
                        sb_error_t *err)
{
        cleanup_close int fd = openat(dirfd, d->name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
        if (fd < 0)
                return sb_error_errno(err, errno, "open '%s'", path);
        struct stat st;
        if (fstat(fd, &st) < 0)
                return sb_error_errno(err, errno, "stat '%s'", path);
        if (st.st_ino != d->st.st_ino || st.st_dev != d->st.st_dev || !S_ISREG(st.st_mode))
                return sb_error_set(err, EBUSY, "'%s' changed while the layer was written", path);
        struct stat own;
        int r = owner_stat(dirfd, d->name, fd, &st, path, &own, err);
        if (r < 0)
                return r;

        if (st.st_nlink > 1) {
                struct link_node key = { .dev = st.st_dev, .ino = st.st_ino };
                struct link_node **found = tfind(&key, &w->links, link_cmp);
                if (found) {
                        struct archive_entry *e = new_entry(path, &own, st.st_mode);
                        archive_entry_copy_hardlink(e, (*found)->name);
                        archive_entry_set_size(e, 0);
                        return write_header(w, e, err);
                }
                struct link_node *n = sb_xcalloc(1, sizeof(*n));
                *n = key;
                n->name = sb_xstrdup(path);
                if (!tsearch(n, &w->links, link_cmp))
                        abort();
        }

        struct archive_entry *e = new_entry(path, &own, st.st_mode);
        archive_entry_set_size(e, st.st_size);
        r = add_xattrs(fd, path, e, NULL, err);
        if (r < 0) {
                archive_entry_free(e);
                return r;
        }
        r = write_header(w, e, err);
        if (r < 0)
                return r;
        return write_file_data(w, fd, path, st.st_size, err);
}

static int emit_symlink(struct writer *w, int dirfd, const struct dirent_info *d, const char *path,
                        sb_error_t *err)
{
        char target[PATH_MAX + 1];
        ssize_t n = readlinkat(dirfd, d->name, target, sizeof(target));
        if (n < 0)
                return sb_error_errno(err, errno, "readlink '%s'", path);
        if ((size_t) n >= sizeof(target))
                return sb_error_set(err, ENAMETOOLONG, "symlink target of '%s' too long", path);
        target[n] = '\0';
        struct stat own;
        int r = owner_stat(dirfd, d->name, -1, &d->st, path, &own, err);
        if (r < 0)
                return r;
        struct archive_entry *e = new_entry(path, &own, d->st.st_mode);
        archive_entry_copy_symlink(e, target);
        return write_header(w, e, err);
}

static int walk(struct writer *w, int dirfd, char *path, size_t path_len, sb_error_t *err);

static int emit_dir(struct writer *w, int dirfd, const struct dirent_info *d, char *path,
                    size_t path_len, sb_error_t *err)
{
        cleanup_close int fd =
                openat(dirfd, d->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return sb_error_errno(err, errno, "open '%s'", path);
        struct stat st;
        if (fstat(fd, &st) < 0)
                return sb_error_errno(err, errno, "stat '%s'", path);
        if (st.st_ino != d->st.st_ino || st.st_dev != d->st.st_dev)
                return sb_error_set(err, EBUSY, "'%s' changed while the layer was written", path);

        struct stat own;
        int r = owner_stat(dirfd, d->name, fd, &st, path, &own, err);
        if (r < 0)
                return r;
        bool opaque = false;
        struct archive_entry *e = new_entry(path, &own, st.st_mode);
        r = add_xattrs(fd, path, e, &opaque, err);
        if (r < 0) {
                archive_entry_free(e);
                return r;
        }
        r = write_header(w, e, err);
        if (r < 0)
                return r;
        if (opaque) {
                /* right after its directory, so readers apply it before the new children */
                cleanup_free char *marker = sb_xasprintf("%s%s", path, OPAQUE_MARKER);
                e = new_entry(marker, &own, S_IFREG);
                archive_entry_set_size(e, 0);
                r = write_header(w, e, err);
                if (r < 0)
                        return r;
        }
        return walk(w, fd, path, path_len, err);
}

static int cmp_info(const void *a, const void *b)
{
        return strcmp(((const struct dirent_info *) a)->key, ((const struct dirent_info *) b)->key);
}

static void free_infos(struct dirent_info *v, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(v[i].name);
                free(v[i].key);
        }
        free(v);
}

/* List dirfd sorted by tar name; whiteouts and directories get their tar spelling as key. */
static int list_dir(int dirfd, const char *path, struct dirent_info **ret, size_t *ret_n,
                    sb_error_t *err)
{
        int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return sb_error_errno(err, errno, "open '%s'", *path ? path : ".");
        DIR *d = fdopendir(fd);
        if (!d) {
                int e = errno;
                close(fd);
                return sb_error_errno(err, e, "opendir '%s'", *path ? path : ".");
        }
        cleanup_closedir DIR *dir = d;
        struct dirent_info *v = NULL;
        size_t n = 0, cap = 0;
        struct dirent *de;
        errno = 0;
        while ((de = readdir(dir))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                struct stat st;
                if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        int e = errno;
                        free_infos(v, n);
                        return sb_error_errno(err, e, "stat '%s%s'", path, de->d_name);
                }
                if (S_ISSOCK(st.st_mode))
                        continue;
                if (n == cap) {
                        cap = cap ? cap * 2 : 16;
                        v = sb_xrealloc(v, cap * sizeof(*v));
                }
                struct dirent_info *i = &v[n++];
                i->name = sb_xstrdup(de->d_name);
                i->st = st;
                i->whiteout = S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
                if (i->whiteout)
                        i->key = sb_xasprintf(WHITEOUT_PREFIX "%s", de->d_name);
                else if (S_ISDIR(st.st_mode))
                        i->key = sb_xasprintf("%s/", de->d_name);
                else
                        i->key = sb_xstrdup(de->d_name);
                errno = 0;
        }
        if (errno != 0) {
                int e = errno;
                free_infos(v, n);
                return sb_error_errno(err, e, "read directory '%s'", *path ? path : ".");
        }
        if (n > 1)
                qsort(v, n, sizeof(*v), cmp_info);
        *ret = v;
        *ret_n = n;
        return 0;
}

/* path holds the tar name prefix of dirfd ("" or "a/b/"); path_len its length. */
static int walk(struct writer *w, int dirfd, char *path, size_t path_len, sb_error_t *err)
{
        struct dirent_info *v = NULL;
        size_t n = 0;
        int r = list_dir(dirfd, path, &v, &n, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n && r >= 0; i++) {
                const struct dirent_info *d = &v[i];
                size_t kl = strlen(d->key);
                if (path_len + kl >= IMAGE_LAYER_ENTRY_MAX_NAME) {
                        r = sb_error_set(err, ENAMETOOLONG, "path '%s%s' is too long", path,
                                         d->key);
                        break;
                }
                memcpy(path + path_len, d->key, kl + 1);
                if (d->whiteout) {
                        /* overlay whiteout (0/0 char device) -> empty ".wh.<name>", mode 0 */
                        struct archive_entry *e = new_entry(path, &d->st, S_IFREG);
                        archive_entry_set_size(e, 0);
                        r = write_header(w, e, err);
                } else if (S_ISDIR(d->st.st_mode)) {
                        r = emit_dir(w, dirfd, d, path, path_len + kl, err);
                } else if (S_ISREG(d->st.st_mode)) {
                        r = emit_regular(w, dirfd, d, path, err);
                } else if (S_ISLNK(d->st.st_mode)) {
                        r = emit_symlink(w, dirfd, d, path, err);
                } else {
                        /* devices and fifos: header only */
                        struct stat own;
                        r = owner_stat(dirfd, d->name, -1, &d->st, path, &own, err);
                        if (r < 0)
                                break;
                        struct archive_entry *e = new_entry(path, &own, d->st.st_mode);
                        if (S_ISCHR(d->st.st_mode) || S_ISBLK(d->st.st_mode)) {
                                archive_entry_set_rdevmajor(e, major(d->st.st_rdev));
                                archive_entry_set_rdevminor(e, minor(d->st.st_rdev));
                        }
                        r = write_header(w, e, err);
                }
                path[path_len] = '\0';
        }
        free_infos(v, n);
        return r;
}

static void writer_done(struct writer *w)
{
        if (w->a)
                archive_write_free(w->a);
        if (w->z_ready)
                deflateEnd(&w->z);
        free(w->zbuf);
        free(w->copy_buf);
        sb_sha256_free(w->diff_hash);
        image_blob_writer_abort(w->blob);
        tdestroy(w->links, link_free);
}

int image_layer_write_from_dir(const struct image_store *s, int upper_dirfd,
                               struct image_layer_desc *ret, sb_error_t *err)
{
        struct writer w = { 0 };
        cleanup_close int root = openat(upper_dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root < 0)
                return sb_error_errno(err, errno, "open upper directory");

        int r = image_blob_writer_new(s, &w.blob, err);
        if (r < 0)
                return r;
        w.diff_hash = sb_sha256_new();
        w.zbuf = sb_xmalloc(ZBUF_SIZE);
        w.copy_buf = sb_xmalloc(COPY_SIZE);
        /* windowBits 15 + 16: gzip wrapper with mtime 0, so equal trees give equal blobs */
        if (deflateInit2(&w.z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
            Z_OK) {
                writer_done(&w);
                return sb_error_set(err, ENOMEM, "gzip: cannot initialise");
        }
        w.z_ready = true;
        w.z.next_out = w.zbuf;
        w.z.avail_out = ZBUF_SIZE;

        w.a = archive_write_new();
        if (!w.a)
                abort();
        if (archive_write_set_format_pax_restricted(w.a) != ARCHIVE_OK ||
            archive_write_add_filter_none(w.a) != ARCHIVE_OK ||
            /* SCHILY.xattr only, as Docker and Go's archive/tar write them */
            archive_write_set_format_option(w.a, "pax", "xattrheader", "SCHILY") != ARCHIVE_OK ||
            archive_write_set_bytes_in_last_block(w.a, 1) != ARCHIVE_OK ||
            archive_write_open(w.a, &w, NULL, tar_write_cb, NULL) != ARCHIVE_OK) {
                r = archive_fail(&w, "open tar writer", err);
                writer_done(&w);
                return r;
        }

        char *path = sb_xmalloc(IMAGE_LAYER_ENTRY_MAX_NAME + 1);
        path[0] = '\0';
        r = walk(&w, root, path, 0, err);
        free(path);
        if (r >= 0 && archive_write_close(w.a) != ARCHIVE_OK)
                r = archive_fail(&w, "finish tar", err);
        if (r >= 0) {
                r = deflate_feed(&w, NULL, 0, Z_FINISH);
                if (r < 0) {
                        *err = w.cb_err;
                        sb_error_prefix(err, "finish gzip");
                }
        }
        if (r < 0) {
                writer_done(&w);
                return r;
        }

        struct image_layer_desc desc = { 0 };
        desc.size = image_blob_writer_size(w.blob);
        desc.n_entries = w.n_entries;
        sb_sha256_final(w.diff_hash, desc.diff_id);
        w.diff_hash = NULL;
        struct image_blob_writer *blob = w.blob;
        w.blob = NULL;
        writer_done(&w);
        r = image_blob_writer_commit(blob, NULL, desc.digest, err);
        if (r < 0)
                return r;
        *ret = desc;
        return 0;
}
