#pragma once
/*
 * OCI and Docker image formats: media types, manifest/index parsing, manifest writing, and
 * the OCI image layout output.
 */
#include <stddef.h>
#include <stdint.h>

#include "common/sb_digest.h"
#include "common/sb_error.h"
#include "image/image_store.h"

#define IMAGE_MT_OCI_MANIFEST    "application/vnd.oci.image.manifest.v1+json"
#define IMAGE_MT_OCI_INDEX       "application/vnd.oci.image.index.v1+json"
#define IMAGE_MT_OCI_CONFIG      "application/vnd.oci.image.config.v1+json"
#define IMAGE_MT_OCI_LAYER_GZIP  "application/vnd.oci.image.layer.v1.tar+gzip"
#define IMAGE_MT_OCI_LAYER_ZSTD  "application/vnd.oci.image.layer.v1.tar+zstd"
#define IMAGE_MT_OCI_LAYER_TAR   "application/vnd.oci.image.layer.v1.tar"
#define IMAGE_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define IMAGE_MT_DOCKER_LIST     "application/vnd.docker.distribution.manifest.list.v2+json"
#define IMAGE_MT_DOCKER_CONFIG   "application/vnd.docker.container.image.v1+json"
#define IMAGE_MT_DOCKER_LAYER    "application/vnd.docker.image.rootfs.diff.tar.gzip"

#define IMAGE_MANIFEST_MAX (4u * 1024u * 1024u)
#define IMAGE_CONFIG_MAX   (8u * 1024u * 1024u)
#define IMAGE_LAYERS_MAX   1000u
#define IMAGE_INDEX_ENTRIES_MAX 1000u /* entries in an index or manifest list */

struct image_descriptor {
        char media_type[128];
        char digest[SB_DIGEST_STR_LEN + 1];
        uint64_t size;
};

struct image_manifest {
        char media_type[128];
        struct image_descriptor config;
        struct image_descriptor *layers;
        size_t n_layers;
};

struct image_platform_entry {
        struct image_descriptor desc;
        char os[32], architecture[32], variant[32];
};

struct image_index {
        char media_type[128];
        struct image_platform_entry *manifests;
        size_t n_manifests;
};

/* What kind of document a manifest body is: returns one of the IMAGE_MT_* manifest/index
 * types (from its mediaType, or the HTTP content type when the body has none), or NULL. */
const char *image_manifest_kind(const char *body, size_t len, const char *content_type);

/* Parse an OCI or Docker schema2 image manifest (bounded, validated digests and sizes). */
int image_manifest_parse(const char *body, size_t len, struct image_manifest **ret,
                         sb_error_t *err);
struct image_manifest *image_manifest_free(struct image_manifest *m);
/* Parse an OCI index or Docker manifest list. */
int image_index_parse(const char *body, size_t len, struct image_index **ret, sb_error_t *err);
struct image_index *image_index_free(struct image_index *i);
/* Pick the entry for os/arch/variant (variant may be NULL or ""); -ENOENT if none. */
int image_index_select(const struct image_index *i, const char *os, const char *arch,
                       const char *variant, const struct image_descriptor **ret,
                       sb_error_t *err);

/* The host platform as OCI names it (e.g. "linux", "amd64", "" or "v8"). */
void image_host_platform(const char **ret_os, const char **ret_arch, const char **ret_variant);

/*
 * Serialise an OCI image manifest (compact JSON, stable key order) for config + layers and
 * store it as a blob; writes its digest and size. annotations may be NULL.
 */
int image_manifest_write(const struct image_store *s, const struct image_descriptor *config,
                         const struct image_descriptor *layers, size_t n_layers,
                         char ret_digest[SB_DIGEST_STR_LEN + 1], uint64_t *ret_size,
                         sb_error_t *err);

/* The manifest format an image is written in. */
typedef enum {
        IMAGE_FORMAT_OCI,    /* OCI image manifest, OCI media types */
        IMAGE_FORMAT_DOCKER, /* Docker image manifest v2 schema 2 */
} image_format_t;

/* "oci" or "docker" (NULL means "oci"); -EINVAL naming the value otherwise. */
int image_format_parse(const char *name, image_format_t *ret, sb_error_t *err);

/*
 * image_manifest_write in the given format. The descriptors' media types are translated to
 * the format's names: for DOCKER the config becomes IMAGE_MT_DOCKER_CONFIG and gzip layers
 * IMAGE_MT_DOCKER_LAYER (a layer schema2 cannot name, such as zstd, is -EINVAL); for OCI a
 * Docker config or gzip layer gets its OCI name. The blobs are the same bytes either way.
 */
int image_manifest_write_format(const struct image_store *s, image_format_t format,
                                const struct image_descriptor *config,
                                const struct image_descriptor *layers, size_t n_layers,
                                char ret_digest[SB_DIGEST_STR_LEN + 1], uint64_t *ret_size,
                                sb_error_t *err);

/*
 * Write (or add to) an OCI image layout at dir: oci-layout, index.json, and every blob the
 * manifest references, copied from the store. ref_name (may be NULL) becomes the
 * org.opencontainers.image.ref.name annotation; an existing entry with the same name is
 * replaced.
 */
int image_layout_write(const struct image_store *s, const char *dir, const char *manifest_digest,
                       const char *ref_name, sb_error_t *err);
