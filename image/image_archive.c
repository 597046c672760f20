/* docker-archive output (moby image/tarexport): what `docker load` and skopeo read. */
#include "image/image_archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/sb_cleanup.h"
#include "common/sb_digest.h"
#include "common/sb_util.h"
#include "image/image_internal.h"
#include "image/image_oci.h"

#define ARCHIVE_CHUNK (256u * 1024u)
#define REPO_TAG_MAX  1024u

static bool repo_char_ok(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == '-' || c == '/' || c == ':';
}

char *image_archive_repo_tag(const char *ref)
{
        if (!ref)
                return NULL;
        const char *at = strchr(ref, '@');
        size_t len = at ? (size_t) (at - ref) : strlen(ref);
        if (len == 0 || len > REPO_TAG_MAX)
                return NULL;
        for (size_t i = 0; i < len; i++)
                if (!repo_char_ok(ref[i]))
                        return NULL;
        const char *slash = memrchr(ref, '/', len);
        const char *colon = memrchr(ref, ':', len);
        bool has_tag = colon && (!slash || colon > slash);
        if (has_tag)
                return colon + 1 < ref + len && colon > ref ? sb_xstrndup(ref, len) : NULL;
        if (at)
                return NULL; /* digest only: docker load has no tag to give it */
        return sb_xasprintf("%.*s:latest", (int) len, ref);
}

/* The config's rootfs.diff_ids (verified strings); the count must equal n_layers. */
static int config_diff_ids(const char *body, size_t len, size_t n_layers, char ***ret,
                           sb_error_t *err)
{
        json_error_t je;
        json_auto_t *root = json_loadb(body, len, 0, &je);
        if (!root)
                return sb_error_set(err, EBADMSG, "config: invalid JSON at line %d: %s", je.line,
                                    je.text);
        json_t *ids = json_object_get(json_object_get(root, "rootfs"), "diff_ids");
        if (!json_is_array(ids))
                return sb_error_set(err, EBADMSG, "config: no rootfs.diff_ids");
        if (json_array_size(ids) != n_layers)
                return sb_error_set(err, EBADMSG,
                                    "config lists %zu diff_ids but the manifest has %zu layers",
                                    json_array_size(ids), n_layers);
        cleanup_strv char **v = NULL;
        size_t i;
        json_t *id;
        json_array_foreach(ids, i, id) {
                if (!json_is_string(id) || !sb_digest_valid(json_string_value(id)))
                        return sb_error_set(err, EBADMSG, "config: diff_id %zu is not a digest",
                                            i);
                sb_strv_push(&v, json_string_value(id));
        }
        if (!v)
                v = sb_xcalloc(1, sizeof(char *));
        *ret = steal_pointer(&v);
        return 0;
}

static int add_header(struct archive *a, const char *name, uint64_t size, sb_error_t *err)
{
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, name);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, (la_int64_t) size);
        archive_entry_set_mtime(e, 0, 0);
        int r = archive_write_header(a, e);
        archive_entry_free(e);
        if (r != ARCHIVE_OK)
                return sb_error_set(err, EIO, "write '%s': %s", name, archive_error_string(a));
        return 0;
}

static int add_buffer(struct archive *a, const char *name, const char *data, size_t len,
                      sb_error_t *err)
{
        int r = add_header(a, name, len, err);
        if (r < 0)
                return r;
        if (len && archive_write_data(a, data, len) != (la_ssize_t) len)
                return sb_error_set(err, EIO, "write '%s': %s", name, archive_error_string(a));
        return 0;
}

/* Stream one store blob into the archive, checking its digest on the way. */
static int add_blob(const struct image_store *s, struct archive *a, const char *name,
                    const char *digest, char *buf, sb_error_t *err)
{
        cleanup_close int fd = -1;
        int r = image_store_open_blob(s, digest, &fd, err);
        if (r < 0)
                return r;
        struct stat st;
        if (fstat(fd, &st) < 0)
                return sb_error_errno(err, errno, "stat blob '%s'", digest);
        r = add_header(a, name, (uint64_t) st.st_size, err);
        if (r < 0)
                return r;
        struct sb_sha256 *h = sb_sha256_new();
        uint64_t total = 0;
        for (;;) {
                ssize_t n = read(fd, buf, ARCHIVE_CHUNK);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = sb_error_errno(err, errno, "read blob '%s'", digest);
                        break;
                }
                if (n == 0)
                        break;
                total += (uint64_t) n;
                if (total > (uint64_t) st.st_size) {
                        r = sb_error_set(err, EIO, "blob '%s' grew while being copied", digest);
                        break;
                }
                sb_sha256_update(h, buf, (size_t) n);
                if (archive_write_data(a, buf, (size_t) n) != n) {
                        r = sb_error_set(err, EIO, "write '%s': %s", name,
                                         archive_error_string(a));
                        break;
                }
        }
        char got[SB_DIGEST_STR_LEN + 1];
        sb_sha256_final(h, got);
        if (r >= 0 && total != (uint64_t) st.st_size)
                r = sb_error_set(err, EIO, "blob '%s' shrank while being copied", digest);
        if (r >= 0 && strcmp(got, digest) != 0)
                r = sb_error_set(err, EBADMSG, "blob '%s' is corrupt (content hashes to '%s')",
                                 digest, got);
        return r < 0 ? r : 0;
}

/* ChainID of the top layer: the legacy `repositories` file names images by a layer id. */
static void top_chain_id(char *const *diff_ids, char out[SB_DIGEST_STR_LEN + 1])
{
        snprintf(out, SB_DIGEST_STR_LEN + 1, "%s", diff_ids[0]);
        for (size_t i = 1; diff_ids[i]; i++) {
                cleanup_free char *pair = sb_xasprintf("%s %s", out, diff_ids[i]);
                sb_sha256_digest(pair, strlen(pair), out);
        }
}

static int build_json_files(char *const *refs, const char *config_name, char *const *layer_names,
                            char *const *diff_ids, char **ret_manifest, char **ret_repositories,
                            sb_error_t *err)
{
        json_auto_t *tags = json_array();
        json_auto_t *repos = json_object();
        char top[SB_DIGEST_STR_LEN + 1] = "";
        if (diff_ids[0])
                top_chain_id(diff_ids, top);
        for (size_t i = 0; refs && refs[i]; i++) {
                cleanup_free char *tag = image_archive_repo_tag(refs[i]);
                if (!tag) {
                        if (strchr(refs[i], '@'))
                                continue; /* a digest reference has no tag to record */
                        return sb_error_set(err, EINVAL, "'%s' is not an image reference",
                                            refs[i]);
                }
                json_array_append_new(tags, json_string(tag));
                char *colon = strrchr(tag, ':');
                *colon = '\0';
                json_t *repo = json_object_get(repos, tag);
                if (!repo) {
                        repo = json_object();
                        json_object_set_new(repos, tag, repo);
                }
                if (*top)
                        json_object_set_new(repo, colon + 1, json_string(top + 7));
        }
        json_t *layers = json_array();
        for (size_t i = 0; layer_names[i]; i++)
                json_array_append_new(layers, json_string(layer_names[i]));
        json_auto_t *manifest = json_pack("[{s:s, s:O, s:o}]", "Config", config_name, "RepoTags",
                                          tags, "Layers", layers);
        *ret_manifest = json_dumps(manifest, JSON_COMPACT);
        *ret_repositories = json_array_size(tags) && *top ? json_dumps(repos, JSON_COMPACT)
                                                          : NULL;
        if (!*ret_manifest)
                return sb_error_set(err, ENOMEM, "serialise manifest.json");
        return 0;
}

static int write_archive(const struct image_store *s, int fd, const struct image_manifest *m,
                         const char *config, size_t config_len, char *const *refs,
                         sb_error_t *err)
{
        cleanup_strv char **diff_ids = NULL;
        int r = config_diff_ids(config, config_len, m->n_layers, &diff_ids, err);
        if (r < 0)
                return r;
        cleanup_strv char **names = NULL;
        for (size_t i = 0; i < m->n_layers; i++)
                sb_strv_push_take(&names, sb_xasprintf("%s.tar.gz", m->layers[i].digest + 7));
        if (!names)
                names = sb_xcalloc(1, sizeof(char *));
        cleanup_free char *config_name = sb_xasprintf("%s.json", m->config.digest + 7);
        cleanup_free char *manifest_json = NULL, *repositories = NULL;
        r = build_json_files(refs, config_name, names, diff_ids, &manifest_json, &repositories,
                             err);
        if (r < 0)
                return r;

        struct archive *a = archive_write_new();
        if (!a)
                return sb_error_set(err, ENOMEM, "archive_write_new");
        cleanup_free char *buf = sb_xmalloc(ARCHIVE_CHUNK);
        if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
            archive_write_open_fd(a, fd) != ARCHIVE_OK)
                r = sb_error_set(err, EIO, "start tar: %s", archive_error_string(a));
        /* the config first, so a reader that streams learns the diff_ids before the layers */
        if (r >= 0)
                r = add_buffer(a, config_name, config, config_len, err);
        for (size_t i = 0; r >= 0 && i < m->n_layers; i++) {
                bool dup = false;
                for (size_t j = 0; j < i; j++)
                        dup = dup || strcmp(names[i], names[j]) == 0;
                if (!dup)
                        r = add_blob(s, a, names[i], m->layers[i].digest, buf, err);
        }
        if (r >= 0)
                r = add_buffer(a, "manifest.json", manifest_json, strlen(manifest_json), err);
        if (r >= 0 && repositories)
                r = add_buffer(a, "repositories", repositories, strlen(repositories), err);
        if (r >= 0 && archive_write_close(a) != ARCHIVE_OK)
                r = sb_error_set(err, EIO, "finish tar: %s", archive_error_string(a));
        archive_write_free(a);
        return r;
}

int image_archive_write(const struct image_store *s, const char *path,
                        const char *manifest_digest, char *const *refs, sb_error_t *err)
{
        if (!path || !*path)
                return sb_error_set(err, EINVAL, "empty archive path");
        if (!sb_digest_valid(manifest_digest))
                return sb_error_set(err, EINVAL, "invalid manifest digest '%s'",
                                    manifest_digest ? manifest_digest : "");
        cleanup_free char *body = NULL, *config = NULL;
        size_t len = 0, config_len = 0;
        struct image_manifest *m = NULL;
        int r = image_store_read_blob(s, manifest_digest, IMAGE_MANIFEST_MAX, &body, &len, err);
        if (r >= 0)
                r = image_manifest_parse(body, len, &m, err);
        if (r >= 0)
                r = image_store_read_blob(s, m->config.digest, IMAGE_CONFIG_MAX, &config,
                                          &config_len, err);
        if (r < 0) {
                image_manifest_free(m);
                return sb_error_prefix(err, "archive '%s'", path);
        }

        /* a temporary name in the target's directory, so the final rename is atomic */
        const char *slash = strrchr(path, '/');
        cleanup_free char *tmp = slash ? sb_xasprintf("%.*s/.%s.XXXXXX", (int) (slash - path),
                                                      path, slash + 1)
                                       : sb_xasprintf(".%s.XXXXXX", path);
        cleanup_close int fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0) {
                image_manifest_free(m);
                return sb_error_errno(err, errno, "archive '%s': create temporary file", path);
        }
        r = write_archive(s, fd, m, config, config_len, refs, err);
        image_manifest_free(m);
        if (r >= 0 && fchmod(fd, 0644) < 0)
                r = sb_error_errno(err, errno, "chmod");
        if (r >= 0 && fsync(fd) < 0)
                r = sb_error_errno(err, errno, "fsync");
        if (r >= 0 && rename(tmp, path) < 0)
                r = sb_error_errno(err, errno, "rename into place");
        if (r < 0) {
                unlink(tmp);
                return sb_error_prefix(err, "archive '%s'", path);
        }
        return 0;
}
