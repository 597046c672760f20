#pragma once
/* Helpers shared by the image/ sources; not part of the folder's API. */
#include <stdbool.h>
#include <stddef.h>

#include "common/sb_error.h"
#include "image/image_store.h"

/* A fresh unguessable name "<prefix>-<16 hex>" for a temporary file or directory. */
void image_random_name(const char *prefix, char *buf, size_t size);

/* Make a fresh directory (mode) under the store's tmp/; returns its name relative to tmp/. */
int image_store_mkdtemp_name(const struct image_store *s, const char *prefix, unsigned mode,
                             char **ret_name, sb_error_t *err);

/* Hex part of a valid "sha256:<hex>" digest, or NULL. */
const char *image_digest_hex(const char *digest);

/*
 * Copy a store blob to dirfd/<hex> (through a temporary name, fsync, rename), checking its
 * digest on the way; an existing file of the expected size is kept.
 */
int image_store_copy_blob(const struct image_store *s, const char *digest, int dirfd,
                          sb_error_t *err);

/*
 * Which xattrs travel in layers (written and extracted): user.* and security.capability,
 * never overlay's own (trusted.overlay.*, user.overlay.*), which would forge whiteouts.
 */
bool image_layer_keep_xattr(const char *name);
