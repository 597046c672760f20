#pragma once
/*
 * Layers: reading a step's overlay upper directory into a layer blob, and extracting a layer
 * blob into a store directory that can serve as an overlay lower directory.
 */
#include <stdint.h>

#include "common/sb_digest.h"
#include "common/sb_error.h"
#include "image/image_store.h"

#define IMAGE_LAYER_ENTRY_MAX_NAME 4096

struct image_layer_desc {
        char digest[SB_DIGEST_STR_LEN + 1];  /* sha256 of the compressed blob */
        char diff_id[SB_DIGEST_STR_LEN + 1]; /* sha256 of the uncompressed tar */
        uint64_t size;                       /* compressed size */
        uint64_t n_entries;                  /* tar entries written (0: empty change) */
};

/*
 * Turn an overlay upper directory (opened as upper_dirfd) into a tar+gzip blob in the store,
 * in one streaming pass that computes diff_id and digest together; memory does not grow with
 * the layer size. Entries are sorted, named as Docker writes them (no leading '/', directories
 * end in '/'), owners as seen by the caller. Overlay whiteouts (0/0 char devices) become
 * ".wh.<name>", opaque directories (user.overlay.opaque or trusted.overlay.opaque = "y")
 * get a ".wh..wh..opq" entry, overlay's own xattrs are dropped, hardlinks within the layer stay
 * hardlinks, sockets are skipped. mtimes are kept.
 */
int image_layer_write_from_dir(const struct image_store *s, int upper_dirfd,
                               struct image_layer_desc *ret, sb_error_t *err);

/*
 * Extract the compressed (gzip, zstd or plain) tar blob `digest` from the store into a new
 * store layer directory named for its diff_id, which is computed while extracting. If
 * expected_diff_id is not NULL and differs, fails with -EBADMSG and keeps nothing.
 * Safe against hostile archives: no entry may land outside the directory ('..', absolute
 * names, symlinked parents, hardlinks to outside), device nodes other than whiteouts are
 * skipped. Whiteouts in the tar (".wh.x", ".wh..wh..opq") are turned into the overlay forms
 * (0/0 char device; user.overlay.opaque="y" xattr). Owners are applied as in the tar (the
 * caller runs inside the user namespace). Already extracted layers are reused.
 * ret_diff_id may be NULL.
 */
int image_layer_extract(const struct image_store *s, const char *digest,
                        const char *expected_diff_id, char ret_diff_id[SB_DIGEST_STR_LEN + 1],
                        sb_error_t *err);

/*
 * Extract a local tar archive (for ADD; gzip/bzip2/xz/zstd/plain) into dest_dirfd, with the
 * same path safety as above; whiteout names are extracted as ordinary files. Returns -EINVAL
 * (with a message) if the file is not an archive, so the caller can copy it instead.
 */
int image_layer_extract_archive(int archive_fd, int dest_dirfd, sb_error_t *err);
