#pragma once
/*
 * The docker-archive tarball that `docker load` and `skopeo copy docker-archive:` read
 * (moby's image/tarexport format): manifest.json, the config as <hex>.json, one file per
 * layer, and the legacy `repositories` file when the image has tags.
 */
#include "common/sb_error.h"
#include "image/image_store.h"

/* Most bytes of manifest.json (and of `repositories`) read from an archive. */
#define IMAGE_ARCHIVE_MANIFEST_MAX (1u * 1024u * 1024u)

/*
 * Write the image whose manifest (OCI or Docker schema2) is manifest_digest in the store as a
 * docker-archive at path. Layers are copied as stored (gzip-compressed; docker load and skopeo
 * decompress them), named <layer digest hex>.tar.gz; the config is <config hex>.json.
 * refs (NULL-terminated, may be NULL or empty) are the image's names as given to
 * --destination: "repo:tag" is kept, "repo" gets ":latest", a digest-only reference is left
 * out; they become RepoTags and the `repositories` file. Every blob is checked against its
 * digest while it is copied, memory use does not depend on layer size, and the file appears
 * at path only when complete (a temporary file in the same directory, fsync, rename).
 * -EINVAL for an invalid reference, -EBADMSG for a corrupt blob or a config whose diff_ids
 * do not match the layers.
 */
int image_archive_write(const struct image_store *s, const char *path,
                        const char *manifest_digest, char *const *refs, sb_error_t *err);

/*
 * The RepoTags entry for a --destination reference: a new string "repo:tag", or NULL when
 * ref names only a digest. ("repo" becomes "repo:latest"; "repo:tag@digest" keeps the tag.)
 */
char *image_archive_repo_tag(const char *ref);
