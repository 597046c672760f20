#pragma once
/*
 * Distribution API client for one repository (libcurl, one reused handle). Handles the
 * scheme choice (https; http only for loopback hosts or with --insecure/--insecure-pull),
 * Basic and Bearer token authentication with credentials from docker config.json, and turns
 * registry errors into one-line messages (without the image name: callers prefix it).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/sb_digest.h"
#include "common/sb_error.h"
#include "image/image_store.h"
#include "registry/registry_agent.h"
#include "registry/registry_ref.h"

struct registry_client;

/* A client for ref's registry and repository; push asks tokens for pull,push. No I/O yet. */
int registry_client_new(const struct registry_options *opts, const struct registry_ref *ref,
                        bool push, struct registry_client **ret, sb_error_t *err);
void registry_client_free(struct registry_client *c);

/*
 * GET a manifest or index by tag or digest (at most IMAGE_MANIFEST_MAX bytes). ret_digest
 * is the sha256 of the raw body; when reference is a digest the body must match it
 * (-EBADMSG). ret_content_type may be NULL on return when the server sent none.
 */
int registry_client_get_manifest(struct registry_client *c, const char *reference, char **ret_body,
                                 size_t *ret_len, char **ret_content_type,
                                 char ret_digest[SB_DIGEST_STR_LEN + 1], sb_error_t *err);

/*
 * GET a blob into the store, streaming, following redirects (credentials are not sent to
 * another host). More than size bytes or a digest mismatch fails and keeps nothing.
 */
int registry_client_get_blob(struct registry_client *c, const struct image_store *s,
                             const char *digest, uint64_t size, sb_error_t *err);

/* HEAD a blob: *ret_exists is true on 200, false on 404. */
int registry_client_has_blob(struct registry_client *c, const char *digest, bool *ret_exists,
                             sb_error_t *err);

/* Upload a store blob: POST an upload session, then PUT the whole body with ?digest=. */
int registry_client_put_blob(struct registry_client *c, const struct image_store *s,
                             const char *digest, sb_error_t *err);

/* Blobs larger than this go up in PATCH chunks of REGISTRY_CHUNK_SIZE bytes. */
#define REGISTRY_CHUNK_THRESHOLD (64ull * 1024 * 1024)
#define REGISTRY_CHUNK_SIZE (16ull * 1024 * 1024)

struct registry_push_blob_opts {
        /* repositories of the same registry that hold the blob (NULL-terminated, may be
         * NULL): the first is asked for a cross-repository mount */
        const char *const *mount_from;
        uint64_t chunk_threshold; /* 0: REGISTRY_CHUNK_THRESHOLD */
        uint64_t chunk_size;      /* 0: REGISTRY_CHUNK_SIZE */
};

struct registry_push_blob_stats {
        bool mounted;       /* the registry answered the mount with 201: nothing was sent */
        unsigned n_patches; /* PATCH requests sent (0: monolithic PUT) */
};

/*
 * Upload a store blob. With mount_from, POST ?mount=&from= first: 201 ends it; a 202 session
 * (the registry could not mount) is used for the upload; any other answer falls back to a
 * plain POST. Blobs over the threshold go up as PATCH chunks ("Content-Range: start-end",
 * each to the Location of the previous answer), closed with PUT ?digest=; smaller ones in one
 * PUT. ret may be NULL.
 */
int registry_client_push_blob(struct registry_client *c, const struct image_store *s,
                              const char *digest, const struct registry_push_blob_opts *o,
                              struct registry_push_blob_stats *ret, sb_error_t *err);

/* As registry_client_push_blob, from fd (read with pread from offset 0, left open). */
int registry_client_push_blob_fd(struct registry_client *c, int fd, const char *digest,
                                 const struct registry_push_blob_opts *o,
                                 struct registry_push_blob_stats *ret, sb_error_t *err);

/*
 * Open the blob named by digest's hex in directory dirfd (an OCI layout's blobs/sha256, not
 * the store) for registry_client_push_blob_fd: it must be a regular file of size bytes whose
 * content hashes to digest (-EBADMSG otherwise). The registry checks the PUT's ?digest= too,
 * so a file changed after this check is refused there.
 */
int registry_client_open_blob_file(int dirfd, const char *digest, uint64_t size, int *ret_fd,
                                   sb_error_t *err);

/*
 * Ask for push access without pushing: POST an upload session and cancel it (DELETE on its
 * Location; a failed cancel is ignored). -EACCES when the registry refuses (401/403).
 */
int registry_client_check_push(struct registry_client *c, sb_error_t *err);

/*
 * PUT manifest bytes under reference (tag or digest) with media_type as Content-Type.
 * ret_digest is the sha256 of the bytes sent; if the registry's Docker-Content-Digest
 * differs, -EBADMSG.
 */
int registry_client_put_manifest(struct registry_client *c, const char *reference,
                                 const char *media_type, const char *body, size_t len,
                                 char ret_digest[SB_DIGEST_STR_LEN + 1], sb_error_t *err);

/*
 * The agent's side of registry_agent_fetch, with the size cap as a parameter (max bytes).
 * Runs in the process that calls it; no credentials are loaded or sent.
 */
int registry_fetch_url(const struct registry_options *opts, const struct image_store *s,
                       const char *url, const char *checksum, uint64_t max,
                       struct registry_fetched *ret, sb_error_t *err);
