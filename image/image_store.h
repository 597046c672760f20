#pragma once
/*
 * The content store shared by builds:
 *   <root>/blobs/sha256/<hex>   compressed layers, configs, manifests (digest-verified)
 *   <root>/layers/<hex>/        one extracted layer tree each (an overlay lower dir), named by
 *                               the layer's diff_id hex; created under tmp/ and renamed in
 *   <root>/tmp/                 in-progress files and directories
 *   <root>/locks/               flock(2) files
 * Blobs are written to tmp/, fsynced, then renamed: a crash leaves no half blob.
 */
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/sb_digest.h"
#include "common/sb_error.h"

struct image_store {
        char *root;    /* absolute path */
        int root_fd;   /* O_PATH|O_DIRECTORY fds, O_CLOEXEC */
        int blobs_fd;  /* <root>/blobs/sha256 */
        int layers_fd; /* <root>/layers */
        int tmp_fd;    /* <root>/tmp */
        int locks_fd;  /* <root>/locks */
};

/* Open (creating if needed, mode 0700 for root) the store at root. */
int image_store_open(const char *root, struct image_store **ret, sb_error_t *err);
struct image_store *image_store_free(struct image_store *s);

/* Absolute path of a blob (need not exist); NULL if digest is not a valid sha256 digest. */
char *image_store_blob_path(const struct image_store *s, const char *digest);
bool image_store_has_blob(const struct image_store *s, const char *digest);
/* Open a blob read-only; -ENOENT if absent, -EINVAL for a malformed digest. */
int image_store_open_blob(const struct image_store *s, const char *digest, int *ret_fd,
                          sb_error_t *err);
/* Read a whole blob (at most max bytes) and verify its digest (-EBADMSG on mismatch). */
int image_store_read_blob(const struct image_store *s, const char *digest, size_t max,
                          char **ret_data, size_t *ret_len, sb_error_t *err);
/* Store a buffer; writes its digest into ret_digest. Existing blobs are kept as they are. */
int image_store_put_blob(const struct image_store *s, const void *data, size_t len,
                         char ret_digest[SB_DIGEST_STR_LEN + 1], sb_error_t *err);

/* Streaming blob writer: data is hashed as it is written; commit verifies and renames. */
struct image_blob_writer;
int image_blob_writer_new(const struct image_store *s, struct image_blob_writer **ret,
                          sb_error_t *err);
int image_blob_writer_write(struct image_blob_writer *w, const void *data, size_t len,
                            sb_error_t *err);
/* Bytes written so far. */
size_t image_blob_writer_size(const struct image_blob_writer *w);
/*
 * Finish: if expected_digest is not NULL the content must match it (-EBADMSG otherwise,
 * nothing kept). On success the blob is in place and its digest is in ret_digest (may be NULL).
 * Frees w in every case.
 */
int image_blob_writer_commit(struct image_blob_writer *w, const char *expected_digest,
                             char ret_digest[SB_DIGEST_STR_LEN + 1], sb_error_t *err);
/* Drop an unfinished writer and its temporary file. Accepts NULL. */
void image_blob_writer_abort(struct image_blob_writer *w);

/* Absolute path of the extracted tree of the layer with this diff_id (need not exist). */
char *image_store_layer_path(const struct image_store *s, const char *diff_id);
bool image_store_has_layer(const struct image_store *s, const char *diff_id);

/* Make a fresh empty directory under tmp/ (mode 0700); returns its absolute path. */
int image_store_mkdtemp(const struct image_store *s, const char *prefix, char **ret_path,
                        sb_error_t *err);

/* Take an exclusive flock on locks/<name> (blocking); returns the fd to close to unlock. */
int image_store_lock(const struct image_store *s, const char *name, int *ret_fd, sb_error_t *err);
