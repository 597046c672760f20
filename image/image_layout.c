/* OCI image layout output (image-spec image-layout.md): oci-layout, index.json, blobs/. */
#include "image/image_oci.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/sb_cleanup.h"
#include "common/sb_util.h"
#include "image/image_internal.h"

#define REF_NAME_ANNOTATION "org.opencontainers.image.ref.name"
#define OCI_LAYOUT_TEXT     "{\"imageLayoutVersion\":\"1.0.0\"}"

static int open_dir(int parent, const char *name, int *ret_fd, sb_error_t *err)
{
        if (mkdirat(parent, name, 0755) < 0 && errno != EEXIST)
                return sb_error_errno(err, errno, "mkdir '%s'", name);
        int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return sb_error_errno(err, errno, "open '%s'", name);
        *ret_fd = fd;
        return 0;
}

/* The existing index.json's object, or a fresh one; refuses a file that is not an index. */
static int load_index(int dirfd, json_t **ret, sb_error_t *err)
{
        cleanup_free char *text = NULL;
        size_t len = 0;
        struct stat st;
        if (fstatat(dirfd, "index.json", &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno != ENOENT)
                        return sb_error_errno(err, errno, "stat 'index.json'");
                *ret = json_pack("{s:i, s:s, s:[]}", "schemaVersion", 2, "mediaType",
                                 IMAGE_MT_OCI_INDEX, "manifests");
                return 0;
        }
        int r = sb_read_file_at(dirfd, "index.json", IMAGE_MANIFEST_MAX, &text, &len, err);
        if (r < 0)
                return r;
        json_error_t je;
        json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
        if (!root)
                return sb_error_set(err, EBADMSG, "index.json: invalid JSON at line %d: %s",
                                    je.line, je.text);
        if (!json_is_object(root) || !json_is_array(json_object_get(root, "manifests"))) {
                json_decref(root);
                return sb_error_set(err, EBADMSG, "index.json: not an image index");
        }
        *ret = root;
        return 0;
}

static bool entry_has_ref(json_t *entry, const char *ref_name)
{
        json_t *ann = json_object_get(entry, "annotations");
        json_t *v = json_is_object(ann) ? json_object_get(ann, REF_NAME_ANNOTATION) : NULL;
        if (!ref_name)
                return v == NULL;
        return json_is_string(v) && strcmp(json_string_value(v), ref_name) == 0;
}

static int update_index(int dirfd, const char *media_type, const char *digest, uint64_t size,
                        const char *ref_name, sb_error_t *err)
{
        json_auto_t *root = NULL;
        int r = load_index(dirfd, &root, err);
        if (r < 0)
                return r;
        json_t *list = json_object_get(root, "manifests");
        /* replace the entry with the same name (or, unnamed, the same unnamed digest) */
        for (size_t i = json_array_size(list); i-- > 0;) {
                json_t *e = json_array_get(list, i);
                if (!json_is_object(e) || !entry_has_ref(e, ref_name))
                        continue;
                json_t *d = json_object_get(e, "digest");
                if (ref_name || (json_is_string(d) && strcmp(json_string_value(d), digest) == 0))
                        json_array_remove(list, i);
        }
        json_t *entry = json_pack("{s:s, s:s, s:I}", "mediaType", media_type, "digest", digest,
                                  "size", (json_int_t) size);
        if (ref_name)
                json_object_set_new(entry, "annotations",
                                    json_pack("{s:s}", REF_NAME_ANNOTATION, ref_name));
        json_array_append_new(list, entry);
        if (!json_object_get(root, "schemaVersion"))
                json_object_set_new(root, "schemaVersion", json_integer(2));
        cleanup_free char *text = json_dumps(root, JSON_COMPACT);
        if (!text)
                return sb_error_set(err, ENOMEM, "serialise index.json");
        return sb_write_file_atomic_at(dirfd, "index.json", text, strlen(text), 0644, err);
}

int image_layout_write(const struct image_store *s, const char *dir, const char *manifest_digest,
                       const char *ref_name, sb_error_t *err)
{
        if (!sb_digest_valid(manifest_digest))
                return sb_error_set(err, EINVAL, "invalid manifest digest '%s'",
                                    manifest_digest ? manifest_digest : "");
        if (ref_name && (!*ref_name || strlen(ref_name) > 256))
                return sb_error_set(err, EINVAL, "invalid layout reference name");

        cleanup_free char *body = NULL;
        size_t len = 0;
        int r = image_store_read_blob(s, manifest_digest, IMAGE_MANIFEST_MAX, &body, &len, err);
        if (r < 0)
                return sb_error_prefix(err, "layout '%s'", dir);
        struct image_manifest *m = NULL;
        r = image_manifest_parse(body, len, &m, err);
        if (r < 0)
                return sb_error_prefix(err, "layout '%s'", dir);

        cleanup_close int dirfd = -1, blobs = -1, sha = -1;
        r = sb_mkdir_p_at(AT_FDCWD, dir, 0755, err);
        if (r >= 0) {
                dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dirfd < 0)
                        r = sb_error_errno(err, errno, "open '%s'", dir);
        }
        if (r >= 0)
                r = open_dir(dirfd, "blobs", &blobs, err);
        if (r >= 0)
                r = open_dir(blobs, "sha256", &sha, err);
        /* blobs first, the index last: a reader never sees a name before its content */
        for (size_t i = 0; i < m->n_layers && r >= 0; i++)
                r = image_store_copy_blob(s, m->layers[i].digest, sha, err);
        if (r >= 0)
                r = image_store_copy_blob(s, m->config.digest, sha, err);
        if (r >= 0)
                r = image_store_copy_blob(s, manifest_digest, sha, err);
        if (r >= 0)
                r = sb_write_file_atomic_at(dirfd, "oci-layout", OCI_LAYOUT_TEXT,
                                            strlen(OCI_LAYOUT_TEXT), 0644, err);
        if (r >= 0)
                r = update_index(dirfd, m->media_type, manifest_digest, len, ref_name, err);
        image_manifest_free(m);
        if (r < 0)
                return sb_error_prefix(err, "layout '%s'", dir);
        return 0;
}
