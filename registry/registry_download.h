#pragma once
/*
 * Internal to registry/: the agent's parallel blob downloads for a pull. The blobs go into
 * the store through registry_client_get_blob (streamed, size- and digest-checked, retried as
 * any request), at most REGISTRY_DOWNLOAD_WORKERS at once, each in a worker forked from the
 * agent: workers inherit the agent's seccomp filter, credentials and token cache and nothing
 * of the builder's, and each opens its own connection.
 */
#include <stddef.h>

#include "common/sb_error.h"
#include "image/image_oci.h"
#include "image/image_store.h"
#include "registry/registry_client.h"

#define REGISTRY_DOWNLOAD_WORKERS 3

/*
 * Fetch the blobs of descriptors d[0..n) that s lacks, through c's registry and repository.
 * The calling process downloads too, on c's connection; up to REGISTRY_DOWNLOAD_WORKERS - 1
 * forked workers get a copy of c (base URL, authentication, token) with a connection of their
 * own, and close close_fd (the agent's socket; -1 for none) first. Duplicate digests are
 * fetched once. After any failure no blob is started; the error returned is that of the
 * failed blob first in d's order ("blob DIGEST: ..."). On success every blob of d is in s.
 */
int registry_download_blobs(struct registry_client *c, const struct image_store *s,
                            const struct image_descriptor *d, size_t n, int close_fd,
                            sb_error_t *err);
