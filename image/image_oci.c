/* OCI / Docker manifest and index documents: parsing (bounded, validated) and writing. */
#include "image/image_oci.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sb_cleanup.h"
#include "common/sb_util.h"

static const char *const known_kinds[] = {
        IMAGE_MT_OCI_MANIFEST,
        IMAGE_MT_OCI_INDEX,
        IMAGE_MT_DOCKER_MANIFEST,
        IMAGE_MT_DOCKER_LIST,
};

static const char *known_kind(const char *s, size_t len)
{
        for (size_t i = 0; i < sizeof(known_kinds) / sizeof(known_kinds[0]); i++)
                if (strlen(known_kinds[i]) == len && strncmp(known_kinds[i], s, len) == 0)
                        return known_kinds[i];
        return NULL;
}

static json_t *load_doc(const char *body, size_t len, sb_error_t *err)
{
        if (len > IMAGE_MANIFEST_MAX) {
                sb_error_set(err, EFBIG, "document is %zu bytes, limit is %u", len,
                             IMAGE_MANIFEST_MAX);
                return NULL;
        }
        json_error_t je;
        json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
        if (!root) {
                sb_error_set(err, EBADMSG, "invalid JSON at line %d: %s", je.line, je.text);
                return NULL;
        }
        if (!json_is_object(root)) {
                json_decref(root);
                sb_error_set(err, EBADMSG, "document is not a JSON object");
                return NULL;
        }
        return root;
}

const char *image_manifest_kind(const char *body, size_t len, const char *content_type)
{
        json_auto_t *root = load_doc(body, len, NULL);
        if (!root)
                return NULL;
        json_t *mt = json_object_get(root, "mediaType");
        if (json_is_string(mt))
                return known_kind(json_string_value(mt), json_string_length(mt));
        if (content_type) {
                size_t n = strcspn(content_type, "; \t");
                const char *k = known_kind(content_type, n);
                if (k)
                        return k;
        }
        /* neither says: go by shape, as the OCI spec allows mediaType to be absent */
        if (json_is_array(json_object_get(root, "manifests")))
                return IMAGE_MT_OCI_INDEX;
        if (json_is_object(json_object_get(root, "config")) &&
            json_is_array(json_object_get(root, "layers")))
                return IMAGE_MT_OCI_MANIFEST;
        return NULL;
}

static int copy_str(json_t *v, const char *what, char *out, size_t size, bool required,
                    sb_error_t *err)
{
        if (!v || json_is_null(v)) {
                if (required)
                        return sb_error_set(err, EBADMSG, "%s: missing", what);
                out[0] = '\0';
                return 0;
        }
        if (!json_is_string(v))
                return sb_error_set(err, EBADMSG, "%s: not a string", what);
        size_t n = json_string_length(v);
        if (n >= size || strlen(json_string_value(v)) != n)
                return sb_error_set(err, EBADMSG, "%s: too long or contains NUL", what);
        memcpy(out, json_string_value(v), n + 1);
        return 0;
}

static int check_version(json_t *root, sb_error_t *err)
{
        json_t *v = json_object_get(root, "schemaVersion");
        if (!json_is_integer(v) || json_integer_value(v) != 2)
                return sb_error_set(err, EBADMSG, "schemaVersion must be 2");
        return 0;
}

static int parse_descriptor(json_t *o, const char *what, struct image_descriptor *d,
                            sb_error_t *err)
{
        if (!json_is_object(o))
                return sb_error_set(err, EBADMSG, "%s: not an object", what);
        int r = copy_str(json_object_get(o, "mediaType"), what, d->media_type,
                         sizeof(d->media_type), true, err);
        if (r < 0)
                return sb_error_prefix(err, "mediaType");
        r = copy_str(json_object_get(o, "digest"), what, d->digest, sizeof(d->digest), true, err);
        if (r < 0 || !sb_digest_valid(d->digest))
                return sb_error_set(err, EBADMSG, "%s: digest is missing or not sha256:<hex>",
                                    what);
        json_t *size = json_object_get(o, "size");
        if (!json_is_integer(size) || json_integer_value(size) < 0)
                return sb_error_set(err, EBADMSG, "%s: size is missing or negative", what);
        d->size = (uint64_t) json_integer_value(size);
        return 0;
}

static bool is_one_of(const char *s, const char *a, const char *b)
{
        return strcmp(s, a) == 0 || strcmp(s, b) == 0;
}

int image_manifest_parse(const char *body, size_t len, struct image_manifest **ret, sb_error_t *err)
{
        json_auto_t *root = load_doc(body, len, err);
        if (!root)
                return -err->code;
        int r = check_version(root, err);
        if (r < 0)
                return r;
        struct image_manifest *m = sb_xcalloc(1, sizeof(*m));
        r = copy_str(json_object_get(root, "mediaType"), "mediaType", m->media_type,
                     sizeof(m->media_type), false, err);
        if (r >= 0 && !m->media_type[0])
                memcpy(m->media_type, IMAGE_MT_OCI_MANIFEST, sizeof(IMAGE_MT_OCI_MANIFEST));
        if (r >= 0 && !is_one_of(m->media_type, IMAGE_MT_OCI_MANIFEST, IMAGE_MT_DOCKER_MANIFEST))
                r = sb_error_set(err, EBADMSG, "mediaType '%s' is not an image manifest",
                                 m->media_type);
        if (r >= 0)
                r = parse_descriptor(json_object_get(root, "config"), "config", &m->config, err);
        json_t *layers = json_object_get(root, "layers");
        if (r >= 0 && !json_is_array(layers))
                r = sb_error_set(err, EBADMSG, "layers: missing or not an array");
        if (r >= 0 && json_array_size(layers) > IMAGE_LAYERS_MAX)
                r = sb_error_set(err, E2BIG, "%zu layers, limit is %u", json_array_size(layers),
                                 IMAGE_LAYERS_MAX);
        if (r >= 0) {
                m->n_layers = json_array_size(layers);
                m->layers = sb_xcalloc(m->n_layers, sizeof(*m->layers));
                for (size_t i = 0; i < m->n_layers && r >= 0; i++) {
                        char what[32];
                        snprintf(what, sizeof(what), "layers[%zu]", i);
                        r = parse_descriptor(json_array_get(layers, i), what, &m->layers[i], err);
                }
        }
        if (r < 0) {
                image_manifest_free(m);
                return sb_error_prefix(err, "manifest");
        }
        *ret = m;
        return 0;
}

struct image_manifest *image_manifest_free(struct image_manifest *m)
{
        if (m) {
                free(m->layers);
                free(m);
        }
        return NULL;
}

static int parse_platform_entry(json_t *o, size_t i, struct image_platform_entry *p,
                                sb_error_t *err)
{
        char what[40];
        snprintf(what, sizeof(what), "manifests[%zu]", i);
        int r = parse_descriptor(o, what, &p->desc, err);
        if (r < 0)
                return r;
        json_t *plat = json_object_get(o, "platform");
        if (!plat || json_is_null(plat))
                return 0;
        if (!json_is_object(plat))
                return sb_error_set(err, EBADMSG, "%s.platform: not an object", what);
        r = copy_str(json_object_get(plat, "os"), "platform.os", p->os, sizeof(p->os), false, err);
        if (r >= 0)
                r = copy_str(json_object_get(plat, "architecture"), "platform.architecture",
                             p->architecture, sizeof(p->architecture), false, err);
        if (r >= 0)
                r = copy_str(json_object_get(plat, "variant"), "platform.variant", p->variant,
                             sizeof(p->variant), false, err);
        if (r < 0)
                return sb_error_prefix(err, "%s", what);
        return 0;
}

int image_index_parse(const char *body, size_t len, struct image_index **ret, sb_error_t *err)
{
        json_auto_t *root = load_doc(body, len, err);
        if (!root)
                return -err->code;
        int r = check_version(root, err);
        if (r < 0)
                return r;
        struct image_index *idx = sb_xcalloc(1, sizeof(*idx));
        r = copy_str(json_object_get(root, "mediaType"), "mediaType", idx->media_type,
                     sizeof(idx->media_type), false, err);
        if (r >= 0 && !idx->media_type[0])
                memcpy(idx->media_type, IMAGE_MT_OCI_INDEX, sizeof(IMAGE_MT_OCI_INDEX));
        if (r >= 0 && !is_one_of(idx->media_type, IMAGE_MT_OCI_INDEX, IMAGE_MT_DOCKER_LIST))
                r = sb_error_set(err, EBADMSG, "mediaType '%s' is not an image index",
                                 idx->media_type);
        json_t *list = json_object_get(root, "manifests");
        if (r >= 0 && !json_is_array(list))
                r = sb_error_set(err, EBADMSG, "manifests: missing or not an array");
        if (r >= 0 && json_array_size(list) > IMAGE_INDEX_ENTRIES_MAX)
                r = sb_error_set(err, E2BIG, "%zu index entries, limit is %u",
                                 json_array_size(list), IMAGE_INDEX_ENTRIES_MAX);
        if (r >= 0) {
                idx->n_manifests = json_array_size(list);
                idx->manifests = sb_xcalloc(idx->n_manifests, sizeof(*idx->manifests));
                for (size_t i = 0; i < idx->n_manifests && r >= 0; i++)
                        r = parse_platform_entry(json_array_get(list, i), i, &idx->manifests[i],
                                                 err);
        }
        if (r < 0) {
                image_index_free(idx);
                return sb_error_prefix(err, "index");
        }
        *ret = idx;
        return 0;
}

struct image_index *image_index_free(struct image_index *i)
{
        if (i) {
                free(i->manifests);
                free(i);
        }
        return NULL;
}

int image_index_select(const struct image_index *i, const char *os, const char *arch,
                       const char *variant, const struct image_descriptor **ret, sb_error_t *err)
{
        if (!variant)
                variant = "";
        /* first an exact variant match, then an entry (or a request) that names no variant */
        for (int pass = 0; pass < 2; pass++) {
                for (size_t k = 0; k < i->n_manifests; k++) {
                        const struct image_platform_entry *p = &i->manifests[k];
                        if (strcmp(p->os, os) != 0 || strcmp(p->architecture, arch) != 0)
                                continue;
                        bool ok = pass == 0 ? strcmp(p->variant, variant) == 0
                                            : (!p->variant[0] || !variant[0]);
                        if (ok) {
                                *ret = &p->desc;
                                return 0;
                        }
                }
        }
        return sb_error_set(err, ENOENT, "no image for platform %s/%s%s%s in the index", os, arch,
                            variant[0] ? "/" : "", variant);
}

void image_host_platform(const char **ret_os, const char **ret_arch, const char **ret_variant)
{
        const char *arch, *variant = "";
#if defined(__x86_64__)
        arch = "amd64";
#elif defined(__aarch64__)
        arch = "arm64";
        variant = "v8";
#elif defined(__arm__)
        arch = "arm";
#if defined(__ARM_ARCH) && __ARM_ARCH >= 7
        variant = "v7";
#elif defined(__ARM_ARCH) && __ARM_ARCH == 6
        variant = "v6";
#else
        variant = "v5";
#endif
#elif defined(__i386__)
        arch = "386";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        arch = "ppc64le";
#elif defined(__s390x__)
        arch = "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
        arch = "riscv64";
#elif defined(__loongarch64)
        arch = "loong64";
#elif defined(__mips64) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        arch = "mips64le";
#else
        arch = "unknown";
#endif
        if (ret_os)
                *ret_os = "linux";
        if (ret_arch)
                *ret_arch = arch;
        if (ret_variant)
                *ret_variant = variant;
}

static int check_descriptor(const struct image_descriptor *d, const char *what, sb_error_t *err)
{
        if (!sb_digest_valid(d->digest))
                return sb_error_set(err, EINVAL, "%s: invalid digest '%s'", what, d->digest);
        if (!d->media_type[0] || memchr(d->media_type, '\0', sizeof(d->media_type)) == NULL)
                return sb_error_set(err, EINVAL, "%s: missing media type", what);
        if (d->size > (uint64_t) INT64_MAX)
                return sb_error_set(err, EINVAL, "%s: size out of range", what);
        return 0;
}

int image_format_parse(const char *name, image_format_t *ret, sb_error_t *err)
{
        if (!name || strcmp(name, "oci") == 0)
                *ret = IMAGE_FORMAT_OCI;
        else if (strcmp(name, "docker") == 0)
                *ret = IMAGE_FORMAT_DOCKER;
        else
                return sb_error_set(err, EINVAL, "image format '%s': must be oci or docker",
                                   name);
        return 0;
}

/* The media type a config or layer descriptor has in format; NULL when it has none. */
static const char *media_type_in(image_format_t format, const char *mt, bool config)
{
        if (config) {
                if (strcmp(mt, IMAGE_MT_OCI_CONFIG) != 0 &&
                    strcmp(mt, IMAGE_MT_DOCKER_CONFIG) != 0)
                        return NULL;
                return format == IMAGE_FORMAT_DOCKER ? IMAGE_MT_DOCKER_CONFIG
                                                     : IMAGE_MT_OCI_CONFIG;
        }
        bool gzip = strcmp(mt, IMAGE_MT_OCI_LAYER_GZIP) == 0 ||
                    strcmp(mt, IMAGE_MT_DOCKER_LAYER) == 0;
        if (format == IMAGE_FORMAT_DOCKER)
                return gzip ? IMAGE_MT_DOCKER_LAYER : NULL;
        return gzip ? IMAGE_MT_OCI_LAYER_GZIP : mt;
}

static json_t *descriptor_json_as(const struct image_descriptor *d, const char *media_type,
                                  image_format_t format)
{
        /* docker's distribution writes mediaType, size, digest; OCI tools mediaType, digest,
         * size. Either order parses everywhere; follow each format's own writers. */
        if (format == IMAGE_FORMAT_DOCKER)
                return json_pack("{s:s, s:I, s:s}", "mediaType", media_type, "size",
                                 (json_int_t) d->size, "digest", d->digest);
        return json_pack("{s:s, s:s, s:I}", "mediaType", media_type, "digest", d->digest, "size",
                         (json_int_t) d->size);
}

int image_manifest_write(const struct image_store *s, const struct image_descriptor *config,
                         const struct image_descriptor *layers, size_t n_layers,
                         char ret_digest[SB_DIGEST_STR_LEN + 1], uint64_t *ret_size,
                         sb_error_t *err)
{
        return image_manifest_write_format(s, IMAGE_FORMAT_OCI, config, layers, n_layers,
                                           ret_digest, ret_size, err);
}

int image_manifest_write_format(const struct image_store *s, image_format_t format,
                                const struct image_descriptor *config,
                                const struct image_descriptor *layers, size_t n_layers,
                                char ret_digest[SB_DIGEST_STR_LEN + 1], uint64_t *ret_size,
                                sb_error_t *err)
{
        if (format != IMAGE_FORMAT_OCI && format != IMAGE_FORMAT_DOCKER)
                return sb_error_set(err, EINVAL, "unknown image format %d", (int) format);
        if (n_layers > IMAGE_LAYERS_MAX)
                return sb_error_set(err, E2BIG, "%zu layers, limit is %u", n_layers,
                                    IMAGE_LAYERS_MAX);
        int r = check_descriptor(config, "config", err);
        for (size_t i = 0; i < n_layers && r >= 0; i++)
                r = check_descriptor(&layers[i], "layer", err);
        if (r < 0)
                return r;
        const char *config_mt = media_type_in(format, config->media_type, true);
        if (!config_mt)
                return sb_error_set(err, EINVAL,
                                    "config: media type '%s' is not an image config",
                                    config->media_type);

        json_auto_t *arr = json_array();
        for (size_t i = 0; i < n_layers; i++) {
                const char *mt = media_type_in(format, layers[i].media_type, false);
                if (!mt)
                        return sb_error_set(err, EINVAL,
                                            "layer %zu: media type '%s' cannot be written in a "
                                            "Docker schema2 manifest",
                                            i, layers[i].media_type);
                json_array_append_new(arr, descriptor_json_as(&layers[i], mt, format));
        }
        /* jansson keeps insertion order, so the bytes (and the digest) are stable */
        json_auto_t *root = json_pack(
                "{s:i, s:s, s:o, s:O}", "schemaVersion", 2, "mediaType",
                format == IMAGE_FORMAT_DOCKER ? IMAGE_MT_DOCKER_MANIFEST : IMAGE_MT_OCI_MANIFEST,
                "config", descriptor_json_as(config, config_mt, format), "layers", arr);
        if (!root)
                return sb_error_set(err, ENOMEM, "build manifest JSON");
        cleanup_free char *text = json_dumps(root, JSON_COMPACT);
        if (!text)
                return sb_error_set(err, ENOMEM, "serialise manifest JSON");
        size_t len = strlen(text);
        char digest[SB_DIGEST_STR_LEN + 1];
        r = image_store_put_blob(s, text, len, digest, err);
        if (r < 0)
                return sb_error_prefix(err, "store manifest");
        memcpy(ret_digest, digest, sizeof(digest));
        if (ret_size)
                *ret_size = len;
        return 0;
}
