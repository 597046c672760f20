#include "image/image_store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/sb_cleanup.h"
#include "common/sb_util.h"
#include "image/image_internal.h"

#define COPY_CHUNK (128u * 1024u)

struct image_blob_writer {
        const struct image_store *store;
        int fd;
        char tmp_name[64];
        struct sb_sha256 *hash;
        size_t size;
};

void image_random_name(const char *prefix, char *buf, size_t size)
{
        unsigned char rnd[8];
        static unsigned long counter;

        /* getrandom with GRND_NONBLOCK never blocks after boot; fall back to pid+counter */
        if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t) sizeof(rnd)) {
                unsigned long v = ((unsigned long) getpid() << 20) ^ ++counter;
                memcpy(rnd, &v, sizeof(rnd) < sizeof(v) ? sizeof(rnd) : sizeof(v));
        }
        snprintf(buf, size, "%s-%02x%02x%02x%02x%02x%02x%02x%02x", prefix, rnd[0], rnd[1], rnd[2],
                 rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
}

const char *image_digest_hex(const char *digest)
{
        if (!sb_digest_valid(digest))
                return NULL;
        return digest + 7;
}

static int open_subdir(int parent, const char *name, int *ret_fd, sb_error_t *err)
{
        if (mkdirat(parent, name, 0700) < 0 && errno != EEXIST)
                return sb_error_errno(err, errno, "mkdir '%s'", name);
        int fd = openat(parent, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return sb_error_errno(err, errno, "open '%s'", name);
        *ret_fd = fd;
        return 0;
}

int image_store_open(const char *root, struct image_store **ret, sb_error_t *err)
{
        int r = sb_mkdir_p_at(AT_FDCWD, root, 0700, err);
        if (r < 0)
                return sb_error_prefix(err, "store '%s'", root);
        cleanup_free char *abs = realpath(root, NULL);
        if (!abs)
                return sb_error_errno(err, errno, "store '%s'", root);

        struct image_store *s = sb_xcalloc(1, sizeof(*s));
        s->root_fd = s->blobs_fd = s->layers_fd = s->tmp_fd = s->locks_fd = -1;
        s->root = steal_pointer(&abs);
        s->root_fd = open(s->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (s->root_fd < 0) {
                r = sb_error_errno(err, errno, "open store '%s'", s->root);
                goto fail;
        }
        int blobs_top = -1;
        r = open_subdir(s->root_fd, "blobs", &blobs_top, err);
        if (r >= 0) {
                r = open_subdir(blobs_top, "sha256", &s->blobs_fd, err);
                close(blobs_top);
        }
        if (r >= 0)
                r = open_subdir(s->root_fd, "layers", &s->layers_fd, err);
        if (r >= 0)
                r = open_subdir(s->root_fd, "tmp", &s->tmp_fd, err);
        if (r >= 0)
                r = open_subdir(s->root_fd, "locks", &s->locks_fd, err);
        if (r < 0) {
                sb_error_prefix(err, "store '%s'", s->root);
                goto fail;
        }
        *ret = s;
        return 0;
fail:
        image_store_free(s);
        return r;
}

struct image_store *image_store_free(struct image_store *s)
{
        if (!s)
                return NULL;
        int *fds[] = { &s->root_fd, &s->blobs_fd, &s->layers_fd, &s->tmp_fd, &s->locks_fd };
        for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
                if (*fds[i] >= 0)
                        close(*fds[i]);
        free(s->root);
        free(s);
        return NULL;
}

char *image_store_blob_path(const struct image_store *s, const char *digest)
{
        const char *hex = image_digest_hex(digest);
        if (!hex)
                return NULL;
        return sb_xasprintf("%s/blobs/sha256/%s", s->root, hex);
}

bool image_store_has_blob(const struct image_store *s, const char *digest)
{
        struct stat st;
        const char *hex = image_digest_hex(digest);
        return hex && fstatat(s->blobs_fd, hex, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
               S_ISREG(st.st_mode);
}

int image_store_open_blob(const struct image_store *s, const char *digest, int *ret_fd,
                          sb_error_t *err)
{
        const char *hex = image_digest_hex(digest);
        if (!hex)
                return sb_error_set(err, EINVAL, "invalid digest '%s'", digest ? digest : "");
        int fd = openat(s->blobs_fd, hex, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return sb_error_errno(err, errno, "open blob '%s'", digest);
        *ret_fd = fd;
        return 0;
}

int image_store_read_blob(const struct image_store *s, const char *digest, size_t max,
                          char **ret_data, size_t *ret_len, sb_error_t *err)
{
        cleanup_close int fd = -1;
        int r = image_store_open_blob(s, digest, &fd, err);
        if (r < 0)
                return r;
        struct stat st;
        if (fstat(fd, &st) < 0)
                return sb_error_errno(err, errno, "stat blob '%s'", digest);
        if (!S_ISREG(st.st_mode))
                return sb_error_set(err, EBADMSG, "blob '%s' is not a regular file", digest);
        if ((uint64_t) st.st_size > max)
                return sb_error_set(err, EFBIG, "blob '%s' is %lld bytes, limit is %zu", digest,
                                    (long long) st.st_size, max);
        cleanup_free char *data = NULL;
        size_t len = 0;
        r = sb_read_fd(fd, max, &data, &len, err);
        if (r < 0)
                return sb_error_prefix(err, "read blob '%s'", digest);
        char got[SB_DIGEST_STR_LEN + 1];
        sb_sha256_digest(data, len, got);
        if (strcmp(got, digest) != 0)
                return sb_error_set(err, EBADMSG, "blob '%s' is corrupt (content hashes to '%s')",
                                    digest, got);
        *ret_data = steal_pointer(&data);
        if (ret_len)
                *ret_len = len;
        return 0;
}

int image_store_put_blob(const struct image_store *s, const void *data, size_t len,
                         char ret_digest[SB_DIGEST_STR_LEN + 1], sb_error_t *err)
{
        char digest[SB_DIGEST_STR_LEN + 1];
        sb_sha256_digest(data, len, digest);
        if (!image_store_has_blob(s, digest)) {
                struct image_blob_writer *w = NULL;
                int r = image_blob_writer_new(s, &w, err);
                if (r < 0)
                        return r;
                r = image_blob_writer_write(w, data, len, err);
                if (r < 0) {
                        image_blob_writer_abort(w);
                        return r;
                }
                r = image_blob_writer_commit(w, digest, NULL, err);
                if (r < 0)
                        return r;
        }
        memcpy(ret_digest, digest, sizeof(digest));
        return 0;
}

int image_blob_writer_new(const struct image_store *s, struct image_blob_writer **ret,
                          sb_error_t *err)
{
        struct image_blob_writer *w = sb_xcalloc(1, sizeof(*w));
        w->store = s;
        for (int tries = 0;; tries++) {
                image_random_name("blob", w->tmp_name, sizeof(w->tmp_name));
                w->fd = openat(s->tmp_fd, w->tmp_name,
                               O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
                if (w->fd >= 0)
                        break;
                if (errno != EEXIST || tries > 16) {
                        int e = errno;
                        free(w);
                        return sb_error_errno(err, e, "create blob in '%s/tmp'", s->root);
                }
        }
        w->hash = sb_sha256_new();
        *ret = w;
        return 0;
}

int image_blob_writer_write(struct image_blob_writer *w, const void *data, size_t len,
                            sb_error_t *err)
{
        int r = sb_write_all(w->fd, data, len);
        if (r < 0)
                return sb_error_errno(err, -r, "write blob '%s/tmp/%s'", w->store->root,
                                      w->tmp_name);
        sb_sha256_update(w->hash, data, len);
        w->size += len;
        return 0;
}

size_t image_blob_writer_size(const struct image_blob_writer *w)
{
        return w->size;
}

void image_blob_writer_abort(struct image_blob_writer *w)
{
        if (!w)
                return;
        if (w->fd >= 0)
                close(w->fd);
        unlinkat(w->store->tmp_fd, w->tmp_name, 0);
        sb_sha256_free(w->hash);
        free(w);
}

int image_blob_writer_commit(struct image_blob_writer *w, const char *expected_digest,
                             char ret_digest[SB_DIGEST_STR_LEN + 1], sb_error_t *err)
{
        char digest[SB_DIGEST_STR_LEN + 1];
        int r;

        sb_sha256_final(w->hash, digest);
        w->hash = NULL;
        if (expected_digest && strcmp(expected_digest, digest) != 0) {
                r = sb_error_set(err, EBADMSG, "blob content hashes to '%s', expected '%s'", digest,
                                 expected_digest);
                goto out;
        }
        if (fsync(w->fd) < 0) {
                r = sb_error_errno(err, errno, "fsync blob '%s'", digest);
                goto out;
        }
        /* renaming over an existing blob is harmless: same content, atomically replaced */
        if (renameat(w->store->tmp_fd, w->tmp_name, w->store->blobs_fd, digest + 7) < 0) {
                r = sb_error_errno(err, errno, "store blob '%s'", digest);
                goto out;
        }
        w->tmp_name[0] = '\0';
        if (ret_digest)
                memcpy(ret_digest, digest, sizeof(digest));
        r = 0;
out:
        if (w->tmp_name[0])
                unlinkat(w->store->tmp_fd, w->tmp_name, 0);
        close(w->fd);
        free(w);
        return r;
}

char *image_store_layer_path(const struct image_store *s, const char *diff_id)
{
        const char *hex = image_digest_hex(diff_id);
        if (!hex)
                return NULL;
        return sb_xasprintf("%s/layers/%s", s->root, hex);
}

bool image_store_has_layer(const struct image_store *s, const char *diff_id)
{
        struct stat st;
        const char *hex = image_digest_hex(diff_id);
        return hex && fstatat(s->layers_fd, hex, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
               S_ISDIR(st.st_mode);
}

int image_store_mkdtemp_name(const struct image_store *s, const char *prefix, unsigned mode,
                             char **ret_name, sb_error_t *err)
{
        char name[NAME_MAX + 1];
        if (strlen(prefix) > 64 || strchr(prefix, '/'))
                return sb_error_set(err, EINVAL, "bad temporary name prefix '%s'", prefix);
        for (int tries = 0;; tries++) {
                image_random_name(prefix, name, sizeof(name));
                if (mkdirat(s->tmp_fd, name, (mode_t) mode) == 0)
                        break;
                if (errno != EEXIST || tries > 16)
                        return sb_error_errno(err, errno, "mkdir in '%s/tmp'", s->root);
        }
        *ret_name = sb_xstrdup(name);
        return 0;
}

int image_store_mkdtemp(const struct image_store *s, const char *prefix, char **ret_path,
                        sb_error_t *err)
{
        cleanup_free char *name = NULL;
        int r = image_store_mkdtemp_name(s, prefix, 0700, &name, err);
        if (r < 0)
                return r;
        *ret_path = sb_xasprintf("%s/tmp/%s", s->root, name);
        return 0;
}

int image_store_lock(const struct image_store *s, const char *name, int *ret_fd, sb_error_t *err)
{
        if (!*name || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
            strlen(name) > NAME_MAX)
                return sb_error_set(err, EINVAL, "bad lock name '%s'", name);
        cleanup_close int fd =
                openat(s->locks_fd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return sb_error_errno(err, errno, "open lock '%s'", name);
        while (flock(fd, LOCK_EX) < 0) {
                if (errno != EINTR)
                        return sb_error_errno(err, errno, "lock '%s'", name);
        }
        *ret_fd = steal_fd(&fd);
        return 0;
}

int image_store_copy_blob(const struct image_store *s, const char *digest, int dirfd,
                          sb_error_t *err)
{
        cleanup_close int in = -1;
        int r = image_store_open_blob(s, digest, &in, err);
        if (r < 0)
                return r;
        struct stat st_in, st_out;
        if (fstat(in, &st_in) < 0)
                return sb_error_errno(err, errno, "stat blob '%s'", digest);
        if (fstatat(dirfd, digest + 7, &st_out, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISREG(st_out.st_mode) && st_out.st_size == st_in.st_size)
                return 0;

        char tmp[64];
        image_random_name(".tmp-blob", tmp, sizeof(tmp));
        cleanup_close int out =
                openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (out < 0)
                return sb_error_errno(err, errno, "create copy of blob '%s'", digest);
        cleanup_free char *buf = sb_xmalloc(COPY_CHUNK);
        struct sb_sha256 *h = sb_sha256_new();
        for (;;) {
                ssize_t n = read(in, buf, COPY_CHUNK);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = sb_error_errno(err, errno, "read blob '%s'", digest);
                        break;
                }
                if (n == 0)
                        break;
                sb_sha256_update(h, buf, (size_t) n);
                r = sb_write_all(out, buf, (size_t) n);
                if (r < 0) {
                        r = sb_error_errno(err, -r, "copy blob '%s'", digest);
                        break;
                }
        }
        char got[SB_DIGEST_STR_LEN + 1];
        sb_sha256_final(h, got);
        if (r >= 0 && strcmp(got, digest) != 0)
                r = sb_error_set(err, EBADMSG, "blob '%s' is corrupt (content hashes to '%s')",
                                 digest, got);
        if (r >= 0 && fsync(out) < 0)
                r = sb_error_errno(err, errno, "fsync copy of blob '%s'", digest);
        if (r >= 0 && renameat(dirfd, tmp, dirfd, digest + 7) < 0)
                r = sb_error_errno(err, errno, "rename copy of blob '%s'", digest);
        if (r < 0)
                unlinkat(dirfd, tmp, 0);
        return r < 0 ? r : 0;
}
