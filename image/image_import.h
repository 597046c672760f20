#pragma once
/*
 * Reading an image produced earlier back into the store, so it can be pushed: an OCI image
 * layout directory or a docker-archive tarball. Nothing is trusted: every blob is checked
 * against its digest (and declared size) before it is kept, every size read is bounded, and
 * a name inside an archive that would lead outside it is refused.
 */
#include "common/sb_digest.h"
#include "common/sb_error.h"
#include "image/image_store.h"

/* Most entries scanned in a docker archive, and most images listed in one. */
#define IMAGE_IMPORT_ARCHIVE_ENTRIES_MAX 100000u
#define IMAGE_IMPORT_ARCHIVE_IMAGES_MAX  256u

/*
 * Import the OCI image layout at dir. ref_name (may be NULL) picks the index entry with that
 * org.opencontainers.image.ref.name; without it the index must hold exactly one entry. An
 * entry that is an index selects the host platform. The manifest, config and layers are
 * copied into the store, each checked against its descriptor's digest and size (-EBADMSG);
 * blobs the store already has are not read again. Writes the manifest's digest (the same
 * bytes as in the layout). -ENOENT when the layout or the name is missing, -EINVAL when dir
 * is not an OCI layout.
 */
int image_import_layout(const struct image_store *s, const char *dir, const char *ref_name,
                        char ret_manifest_digest[SB_DIGEST_STR_LEN + 1], sb_error_t *err);

/*
 * Import the docker-archive at path (the format `docker save` and skopeo write: manifest.json,
 * a config, layer tars, plain or gzip-compressed; the tarball itself may be gzip-compressed).
 * repo_tag (may be NULL) picks the manifest.json entry whose RepoTags holds it; without it
 * the archive must hold one image. The config must hash to its file name when that name is
 * a digest, and every layer's uncompressed content must hash to the config's diff_id
 * (-EBADMSG otherwise). Layers are stored as they are in the archive (a plain tar stays
 * uncompressed) and an OCI manifest is written for them; its digest is returned.
 * manifest.json is read up to IMAGE_ARCHIVE_MANIFEST_MAX bytes (-EFBIG beyond).
 */
int image_import_archive(const struct image_store *s, const char *path, const char *repo_tag,
                         char ret_manifest_digest[SB_DIGEST_STR_LEN + 1], sb_error_t *err);

/*
 * Import source, which is DIR, DIR:NAME, FILE or FILE:REPO:TAG: a directory is read as an
 * OCI layout, a file as a docker archive. The longest existing prefix before a ':' is the
 * path when source itself does not exist. -ENOENT when nothing by that name exists.
 */
int image_import(const struct image_store *s, const char *source,
                 char ret_manifest_digest[SB_DIGEST_STR_LEN + 1], sb_error_t *err);

/*
 * As image_import, for `sbuild push`: a layout's layers are not copied into the store, only
 * its manifest and config (checked as above); *ret_layout_blobs is then the layout's
 * blobs/sha256 directory as an absolute path (caller frees), for registry_agent_push_layout,
 * which checks each layer against its digest as it reads it there. An archive is imported
 * whole and *ret_layout_blobs is NULL.
 */
int image_import_for_push(const struct image_store *s, const char *source,
                          char ret_manifest_digest[SB_DIGEST_STR_LEN + 1],
                          char **ret_layout_blobs, sb_error_t *err);
