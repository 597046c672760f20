/* Importing an OCI image layout or a docker archive into the store, verifying everything. */
#include "image/image_import.h"

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
#include <zlib.h>

#include "common/sb_cleanup.h"
#include "common/sb_util.h"
#include "image/image_archive.h"
#include "image/image_internal.h"
#include "image/image_oci.h"

#define IMPORT_CHUNK        (256u * 1024u)
#define REF_NAME_ANNOTATION "org.opencontainers.image.ref.name"
#define LAYOUT_TEXT_MAX     4096u
#define NESTED_INDEX_MAX    4
#define SYMLINKS_MAX        4096u
#define SYMLINK_HOPS_MAX    8
#define ARCHIVE_PATH_MAX    1024u

/* ---- OCI layout ---- */

static int open_layout_blob(int sha_fd, const char *digest, int *ret_fd, sb_error_t *err)
{
        const char *hex = image_digest_hex(digest);
        if (!hex)
                return sb_error_set(err, EBADMSG, "invalid digest '%s'", digest);
        int fd = openat(sha_fd, hex, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return sb_error_errno(err, errno, "blob '%s'", digest);
        struct stat st;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                close(fd);
                return sb_error_set(err, EBADMSG, "blob '%s' is not a regular file", digest);
        }
        *ret_fd = fd;
        return 0;
}

/* Copy a layout blob into the store, checking its size and digest (skipped when present). */
static int import_layout_blob(const struct image_store *s, int sha_fd,
                              const struct image_descriptor *d, sb_error_t *err)
{
        if (image_store_has_blob(s, d->digest))
                return 0;
        cleanup_close int fd = -1;
        int r = open_layout_blob(sha_fd, d->digest, &fd, err);
        if (r < 0)
                return r;
        struct stat st;
        if (fstat(fd, &st) < 0)
                return sb_error_errno(err, errno, "stat blob '%s'", d->digest);
        if ((uint64_t) st.st_size != d->size)
                return sb_error_set(err, EBADMSG,
                                    "blob '%s' is %lld bytes, its descriptor says %llu", d->digest,
                                    (long long) st.st_size, (unsigned long long) d->size);
        struct image_blob_writer *w = NULL;
        r = image_blob_writer_new(s, &w, err);
        if (r < 0)
                return r;
        cleanup_free char *buf = sb_xmalloc(IMPORT_CHUNK);
        for (;;) {
                ssize_t n = read(fd, buf, IMPORT_CHUNK);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = sb_error_errno(err, errno, "read blob '%s'", d->digest);
                        break;
                }
                if (n == 0)
                        break;
                r = image_blob_writer_write(w, buf, (size_t) n, err);
                if (r < 0)
                        break;
                if (image_blob_writer_size(w) > d->size) {
                        r = sb_error_set(err, EBADMSG, "blob '%s' is larger than its descriptor",
                                         d->digest);
                        break;
                }
        }
        if (r >= 0 && image_blob_writer_size(w) != d->size)
                r = sb_error_set(err, EBADMSG, "blob '%s' is shorter than its descriptor",
                                 d->digest);
        if (r < 0) {
                image_blob_writer_abort(w);
                return r;
        }
        r = image_blob_writer_commit(w, d->digest, NULL, err);
        if (r < 0)
                return sb_error_prefix(err, "blob '%s'", d->digest);
        return 0;
}

/* Read a small layout blob (manifest or index) whole and check it against d. */
static int read_layout_doc(int sha_fd, const struct image_descriptor *d, char **ret,
                           size_t *ret_len, sb_error_t *err)
{
        if (d->size > IMAGE_MANIFEST_MAX)
                return sb_error_set(err, EFBIG, "manifest '%s' is %llu bytes, limit is %u",
                                    d->digest, (unsigned long long) d->size, IMAGE_MANIFEST_MAX);
        cleanup_close int fd = -1;
        int r = open_layout_blob(sha_fd, d->digest, &fd, err);
        if (r < 0)
                return r;
        cleanup_free char *data = NULL;
        size_t len = 0;
        r = sb_read_fd(fd, IMAGE_MANIFEST_MAX, &data, &len, err);
        if (r < 0)
                return sb_error_prefix(err, "manifest '%s'", d->digest);
        char got[SB_DIGEST_STR_LEN + 1];
        sb_sha256_digest(data, len, got);
        if (strcmp(got, d->digest) != 0 || len != d->size)
                return sb_error_set(err, EBADMSG,
                                    "manifest '%s' is corrupt (%zu bytes hashing to '%s')",
                                    d->digest, len, got);
        *ret = steal_pointer(&data);
        *ret_len = len;
        return 0;
}

static int parse_descriptor(json_t *e, struct image_descriptor *d, sb_error_t *err)
{
        const char *mt = json_string_value(json_object_get(e, "mediaType"));
        const char *digest = json_string_value(json_object_get(e, "digest"));
        json_t *size = json_object_get(e, "size");
        if (!mt || strlen(mt) >= sizeof(d->media_type) || !sb_digest_valid(digest) ||
            !json_is_integer(size) || json_integer_value(size) < 0)
                return sb_error_set(err, EBADMSG, "index.json: an entry is not a descriptor");
        snprintf(d->media_type, sizeof(d->media_type), "%s", mt);
        snprintf(d->digest, sizeof(d->digest), "%s", digest);
        d->size = (uint64_t) json_integer_value(size);
        return 0;
}

/* The index.json entry named ref_name, or its only entry. */
static int pick_layout_entry(int dirfd, const char *ref_name, struct image_descriptor *ret,
                             sb_error_t *err)
{
        cleanup_free char *text = NULL;
        size_t len = 0;
        int r = sb_read_file_at(dirfd, "index.json", IMAGE_MANIFEST_MAX, &text, &len, err);
        if (r < 0)
                return r == -ENOENT ? sb_error_set(err, EINVAL, "no index.json") : r;
        json_error_t je;
        json_auto_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
        json_t *list = root ? json_object_get(root, "manifests") : NULL;
        if (!json_is_array(list))
                return sb_error_set(err, EBADMSG, "index.json: not an image index");
        if (json_array_size(list) > IMAGE_INDEX_ENTRIES_MAX)
                return sb_error_set(err, EBADMSG, "index.json: more than %u entries",
                                    IMAGE_INDEX_ENTRIES_MAX);
        json_t *found = NULL;
        size_t i;
        json_t *e;
        json_array_foreach(list, i, e) {
                const char *name = json_string_value(
                        json_object_get(json_object_get(e, "annotations"), REF_NAME_ANNOTATION));
                if (ref_name && (!name || strcmp(name, ref_name) != 0))
                        continue;
                if (found)
                        return sb_error_set(err, EINVAL,
                                            ref_name ? "index.json names '%s' more than once"
                                                     : "index.json holds several images; name "
                                                       "one as DIR:NAME%s",
                                            ref_name ? ref_name : "");
                found = e;
        }
        if (!found)
                return ref_name ? sb_error_set(err, ENOENT, "no image named '%s'", ref_name)
                                : sb_error_set(err, ENOENT, "index.json lists no image");
        return parse_descriptor(found, ret, err);
}

/* layers: copy the layers too (else only the manifest and config are stored). */
static int import_layout_at(const struct image_store *s, int dirfd, const char *ref_name,
                            bool layers, char ret_digest[SB_DIGEST_STR_LEN + 1], sb_error_t *err)
{
        cleanup_free char *marker = NULL;
        size_t len = 0;
        int r = sb_read_file_at(dirfd, "oci-layout", LAYOUT_TEXT_MAX, &marker, &len, err);
        if (r < 0)
                return sb_error_set(err, EINVAL, "not an OCI image layout (no oci-layout file)");
        json_auto_t *lv = json_loadb(marker, len, 0, NULL);
        const char *version = json_string_value(json_object_get(lv, "imageLayoutVersion"));
        if (!version || strncmp(version, "1.", 2) != 0)
                return sb_error_set(err, EINVAL, "oci-layout: unsupported imageLayoutVersion");
        cleanup_close int blobs = openat(dirfd, "blobs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                                                                 O_CLOEXEC);
        cleanup_close int sha = blobs < 0 ? -1
                                          : openat(blobs, "sha256", O_RDONLY | O_DIRECTORY |
                                                                            O_NOFOLLOW | O_CLOEXEC);
        if (sha < 0)
                return sb_error_errno(err, errno, "blobs/sha256");

        struct image_descriptor d;
        r = pick_layout_entry(dirfd, ref_name, &d, err);
        cleanup_free char *body = NULL;
        for (int depth = 0; r >= 0; depth++) {
                free(body);
                body = NULL;
                r = read_layout_doc(sha, &d, &body, &len, err);
                if (r < 0)
                        return r;
                const char *kind = image_manifest_kind(body, len, d.media_type);
                if (!kind || (strcmp(kind, IMAGE_MT_OCI_INDEX) != 0 &&
                              strcmp(kind, IMAGE_MT_DOCKER_LIST) != 0))
                        break;
                if (depth >= NESTED_INDEX_MAX)
                        return sb_error_set(err, EBADMSG, "indexes nested too deep");
                /* a multi-platform image: push the host's platform, as a pull would pick */
                struct image_index *idx = NULL;
                const struct image_descriptor *pick = NULL;
                const char *os, *arch, *variant;
                image_host_platform(&os, &arch, &variant);
                r = image_index_parse(body, len, &idx, err);
                if (r >= 0)
                        r = image_index_select(idx, os, arch, variant, &pick, err);
                if (r >= 0)
                        d = *pick;
                image_index_free(idx);
        }
        if (r < 0)
                return r;
        struct image_manifest *m = NULL;
        r = image_manifest_parse(body, len, &m, err);
        if (r < 0)
                return r;
        r = import_layout_blob(s, sha, &m->config, err);
        for (size_t i = 0; r >= 0 && layers && i < m->n_layers; i++)
                r = import_layout_blob(s, sha, &m->layers[i], err);
        image_manifest_free(m);
        if (r >= 0)
                r = image_store_put_blob(s, body, len, ret_digest, err);
        if (r >= 0 && strcmp(ret_digest, d.digest) != 0)
                r = sb_error_set(err, EIO, "stored manifest digest differs");
        return r;
}

int image_import_layout(const struct image_store *s, const char *dir, const char *ref_name,
                        char ret_manifest_digest[SB_DIGEST_STR_LEN + 1], sb_error_t *err)
{
        cleanup_close int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0)
                return sb_error_errno(err, errno, "layout '%s'", dir);
        int r = import_layout_at(s, dirfd, ref_name, true, ret_manifest_digest, err);
        if (r < 0)
                return sb_error_prefix(err, "layout '%s'", dir);
        return 0;
}

/* ---- docker archive ---- */

/*
 * A tar member name made canonical: "./a//b/../c" -> "a/c", relative to dir (may be NULL).
 * NULL for an absolute or empty name, one that climbs above the archive's root, or an
 * over-long one: such names can never match a member, and manifest.json may not use them.
 */
static char *norm_path(const char *dir, const char *name)
{
        if (!name || !*name || name[0] == '/')
                return NULL;
        size_t cap = strlen(name) + (dir ? strlen(dir) : 0) + 2;
        if (cap > ARCHIVE_PATH_MAX)
                return NULL;
        cleanup_free char *in = dir && *dir ? sb_xasprintf("%s/%s", dir, name) : sb_xstrdup(name);
        cleanup_free char *out = sb_xmalloc(cap);
        size_t olen = 0;
        for (const char *p = in; *p;) {
                const char *e = strchrnul(p, '/');
                size_t n = (size_t) (e - p);
                if (n == 2 && p[0] == '.' && p[1] == '.') {
                        if (olen == 0)
                                return NULL;
                        const char *sl = memrchr(out, '/', olen);
                        olen = sl ? (size_t) (sl - out) : 0;
                } else if (n > 0 && !(n == 1 && p[0] == '.')) {
                        if (olen)
                                out[olen++] = '/';
                        memcpy(out + olen, p, n);
                        olen += n;
                }
                p = *e ? e + 1 : e;
        }
        if (olen == 0)
                return NULL;
        out[olen] = '\0';
        return steal_pointer(&out);
}

struct archive_scan {
        char *manifest; /* manifest.json */
        size_t manifest_len;
        char **link_names, **link_targets; /* symlinks and hard links, canonical names */
        size_t n_links;
};

static void archive_scan_done(struct archive_scan *sc)
{
        free(sc->manifest);
        sb_strv_free(sc->link_names);
        sb_strv_free(sc->link_targets);
}

static int tar_open(int fd, struct archive **ret, sb_error_t *err)
{
        if (lseek(fd, 0, SEEK_SET) < 0)
                return sb_error_errno(err, errno, "seek");
        struct archive *a = archive_read_new();
        if (!a)
                return sb_error_set(err, ENOMEM, "archive_read_new");
        archive_read_support_format_tar(a);
        archive_read_support_filter_gzip(a);
        if (archive_read_open_fd(a, fd, IMPORT_CHUNK) != ARCHIVE_OK) {
                int r = sb_error_set(err, EINVAL, "not a docker archive (%s)",
                                     archive_error_string(a));
                archive_read_free(a);
                return r;
        }
        *ret = a;
        return 0;
}

/* Next member: its canonical name (NULL for names that cannot be referred to), or 0 at end. */
static int tar_next(struct archive *a, size_t *count, struct archive_entry **ret_e,
                    char **ret_name, sb_error_t *err)
{
        int ar = archive_read_next_header(a, ret_e);
        if (ar == ARCHIVE_EOF)
                return 0;
        if (ar != ARCHIVE_OK && ar != ARCHIVE_WARN)
                return sb_error_set(err, EBADMSG, "not a docker archive (%s)",
                                    archive_error_string(a));
        if (++*count > IMAGE_IMPORT_ARCHIVE_ENTRIES_MAX)
                return sb_error_set(err, EBADMSG, "more than %u members",
                                    IMAGE_IMPORT_ARCHIVE_ENTRIES_MAX);
        *ret_name = norm_path(NULL, archive_entry_pathname(*ret_e));
        return 1;
}

static int read_member(struct archive *a, struct archive_entry *e, const char *name, size_t max,
                       char **ret, size_t *ret_len, sb_error_t *err)
{
        la_int64_t size = archive_entry_size(e);
        if (size < 0 || (uint64_t) size > max)
                return sb_error_set(err, EFBIG, "'%s' is %lld bytes, limit is %zu", name,
                                    (long long) size, max);
        cleanup_free char *data = sb_xmalloc((size_t) size + 1);
        size_t len = 0;
        for (;;) {
                la_ssize_t n = archive_read_data(a, data + len, (size_t) size + 1 - len);
                if (n < 0)
                        return sb_error_set(err, EBADMSG, "read '%s': %s", name,
                                            archive_error_string(a));
                if (n == 0)
                        break;
                len += (size_t) n;
                if (len > (size_t) size)
                        return sb_error_set(err, EBADMSG, "'%s' is longer than its header", name);
        }
        data[len] = '\0';
        *ret = steal_pointer(&data);
        *ret_len = len;
        return 0;
}

/* First pass: manifest.json and the links. */
static int archive_scan(int fd, struct archive_scan *sc, sb_error_t *err)
{
        struct archive *a = NULL;
        int r = tar_open(fd, &a, err);
        size_t count = 0;
        while (r >= 0) {
                struct archive_entry *e;
                cleanup_free char *name = NULL;
                r = tar_next(a, &count, &e, &name, err);
                if (r <= 0)
                        break;
                if (!name)
                        continue;
                const char *hard = archive_entry_hardlink(e);
                bool sym = archive_entry_filetype(e) == AE_IFLNK;
                if (hard || sym) {
                        cleanup_free char *dir = sb_xstrdup(name);
                        char *sl = strrchr(dir, '/');
                        if (sl)
                                *sl = '\0';
                        char *target = sym ? norm_path(sl ? dir : NULL, archive_entry_symlink(e))
                                           : norm_path(NULL, hard);
                        if (!target)
                                continue; /* leads outside: never followed */
                        if (sc->n_links >= SYMLINKS_MAX) {
                                free(target);
                                r = sb_error_set(err, EBADMSG, "more than %u links",
                                                 SYMLINKS_MAX);
                                break;
                        }
                        sb_strv_push_take(&sc->link_names, steal_pointer(&name));
                        sb_strv_push_take(&sc->link_targets, target);
                        sc->n_links++;
                } else if (strcmp(name, "manifest.json") == 0 &&
                           archive_entry_filetype(e) == AE_IFREG) {
                        if (sc->manifest) {
                                r = sb_error_set(err, EBADMSG, "manifest.json appears twice");
                                break;
                        }
                        r = read_member(a, e, name, IMAGE_ARCHIVE_MANIFEST_MAX, &sc->manifest,
                                        &sc->manifest_len, err);
                }
        }
        if (a)
                archive_read_free(a);
        if (r >= 0 && !sc->manifest)
                r = sb_error_set(err, EINVAL, "not a docker archive (no manifest.json)");
        return r < 0 ? r : 0;
}

/* A manifest.json path, canonical and with links followed. */
static int resolve_member(const struct archive_scan *sc, const char *path, char **ret,
                          sb_error_t *err)
{
        cleanup_free char *cur = norm_path(NULL, path);
        if (!cur)
                return sb_error_set(err, EBADMSG, "manifest.json: path '%s' leads outside the "
                                                  "archive", path);
        for (int hops = 0;; hops++) {
                size_t i = 0;
                while (i < sc->n_links && strcmp(sc->link_names[i], cur) != 0)
                        i++;
                if (i == sc->n_links)
                        break;
                if (hops >= SYMLINK_HOPS_MAX)
                        return sb_error_set(err, EBADMSG, "'%s': too many links", path);
                free(cur);
                cur = sb_xstrdup(sc->link_targets[i]);
        }
        *ret = steal_pointer(&cur);
        return 0;
}

struct archive_image {
        char *config_path;
        char **layer_paths; /* canonical, links followed */
        size_t n_layers;
};

static void archive_image_done(struct archive_image *im)
{
        free(im->config_path);
        sb_strv_free(im->layer_paths);
}

static bool has_tag(json_t *tags, const char *tag)
{
        size_t i;
        json_t *t;
        json_array_foreach(tags, i, t)
                if (json_is_string(t) && strcmp(json_string_value(t), tag) == 0)
                        return true;
        return false;
}

static int pick_archive_image(const struct archive_scan *sc, const char *repo_tag,
                              struct archive_image *im, sb_error_t *err)
{
        json_error_t je;
        json_auto_t *root = json_loadb(sc->manifest, sc->manifest_len, 0, &je);
        if (!json_is_array(root) || json_array_size(root) == 0)
                return sb_error_set(err, EBADMSG, "manifest.json: not a list of images");
        if (json_array_size(root) > IMAGE_IMPORT_ARCHIVE_IMAGES_MAX)
                return sb_error_set(err, EBADMSG, "manifest.json: more than %u images",
                                    IMAGE_IMPORT_ARCHIVE_IMAGES_MAX);
        json_t *found = NULL;
        if (!repo_tag && json_array_size(root) > 1)
                return sb_error_set(err, EINVAL, "the archive holds %zu images; name one as "
                                                 "FILE:REPO:TAG", json_array_size(root));
        size_t i;
        json_t *e;
        json_array_foreach(root, i, e) {
                if (!repo_tag || has_tag(json_object_get(e, "RepoTags"), repo_tag)) {
                        found = e;
                        break;
                }
        }
        if (!found)
                return sb_error_set(err, ENOENT, "no image tagged '%s'", repo_tag);
        const char *config = json_string_value(json_object_get(found, "Config"));
        json_t *layers = json_object_get(found, "Layers");
        if (!config || !json_is_array(layers))
                return sb_error_set(err, EBADMSG, "manifest.json: entry lacks Config or Layers");
        if (json_array_size(layers) > IMAGE_LAYERS_MAX)
                return sb_error_set(err, EBADMSG, "manifest.json: more than %u layers",
                                    IMAGE_LAYERS_MAX);
        int r = resolve_member(sc, config, &im->config_path, err);
        json_array_foreach(layers, i, e) {
                char *p = NULL;
                if (r >= 0 && !json_is_string(e))
                        r = sb_error_set(err, EBADMSG, "manifest.json: a layer is not a path");
                if (r >= 0)
                        r = resolve_member(sc, json_string_value(e), &p, err);
                if (r < 0)
                        return r;
                sb_strv_push_take(&im->layer_paths, p);
                im->n_layers++;
        }
        return r;
}

/* The digest a member's name promises ("<hex>.json", "blobs/sha256/<hex>"), if any. */
static bool name_digest(const char *path, char out[SB_DIGEST_STR_LEN + 1])
{
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        size_t n = strlen(base);
        if (n != SB_DIGEST_HEX_LEN && !(n == SB_DIGEST_HEX_LEN + 5 &&
                                         sb_str_has_suffix(base, ".json")))
                return false;
        snprintf(out, SB_DIGEST_STR_LEN + 1, "sha256:%.*s", SB_DIGEST_HEX_LEN, base);
        return sb_digest_valid(out);
}

/* Second pass: the config, checked against its name, and its diff_ids. */
static int archive_config(int fd, const struct archive_image *im, char **ret, size_t *ret_len,
                          char ***ret_diff_ids, sb_error_t *err)
{
        struct archive *a = NULL;
        int r = tar_open(fd, &a, err);
        size_t count = 0;
        cleanup_free char *body = NULL;
        size_t len = 0;
        while (r >= 0 && !body) {
                struct archive_entry *e;
                cleanup_free char *name = NULL;
                r = tar_next(a, &count, &e, &name, err);
                if (r <= 0)
                        break;
                if (name && strcmp(name, im->config_path) == 0 &&
                    archive_entry_filetype(e) == AE_IFREG && !archive_entry_hardlink(e))
                        r = read_member(a, e, name, IMAGE_CONFIG_MAX, &body, &len, err);
        }
        if (a)
                archive_read_free(a);
        if (r < 0)
                return r;
        if (!body)
                return sb_error_set(err, EBADMSG, "config '%s' is not in the archive",
                                    im->config_path);
        char want[SB_DIGEST_STR_LEN + 1], got[SB_DIGEST_STR_LEN + 1];
        sb_sha256_digest(body, len, got);
        if (name_digest(im->config_path, want) && strcmp(want, got) != 0)
                return sb_error_set(err, EBADMSG, "config '%s' is corrupt (content hashes to '%s')",
                                    im->config_path, got);
        json_auto_t *root = json_loadb(body, len, 0, NULL);
        json_t *ids = json_object_get(json_object_get(root, "rootfs"), "diff_ids");
        if (!json_is_array(ids) || json_array_size(ids) != im->n_layers)
                return sb_error_set(err, EBADMSG, "config '%s' lists %zu diff_ids for %zu layers",
                                    im->config_path, json_array_size(ids), im->n_layers);
        cleanup_strv char **v = sb_xcalloc(1, sizeof(char *));
        size_t i;
        json_t *id;
        json_array_foreach(ids, i, id) {
                if (!sb_digest_valid(json_string_value(id)))
                        return sb_error_set(err, EBADMSG, "config: diff_id %zu is not a digest",
                                            i);
                sb_strv_push(&v, json_string_value(id));
        }
        *ret = steal_pointer(&body);
        *ret_len = len;
        *ret_diff_ids = steal_pointer(&v);
        return 0;
}

/* Stream the current member into a store blob, hashing its uncompressed content. */
static int stream_layer(const struct image_store *s, struct archive *a, const char *name,
                        const char *diff_id, struct image_descriptor *ret, sb_error_t *err)
{
        cleanup_free unsigned char *buf = sb_xmalloc(IMPORT_CHUNK);
        cleanup_free unsigned char *out = sb_xmalloc(IMPORT_CHUNK);
        struct image_blob_writer *w = NULL;
        int r = image_blob_writer_new(s, &w, err);
        if (r < 0)
                return r;
        struct sb_sha256 *h = sb_sha256_new();
        z_stream zs = { 0 };
        bool gzip = false, first = true, zinit = false;
        int zr = Z_OK;
        for (;;) {
                la_ssize_t n = archive_read_data(a, buf, IMPORT_CHUNK);
                if (n < 0) {
                        r = sb_error_set(err, EBADMSG, "read: %s", archive_error_string(a));
                        break;
                }
                if (n == 0)
                        break;
                if (first) {
                        first = false;
                        gzip = n >= 2 && buf[0] == 0x1f && buf[1] == 0x8b;
                        if (n >= 4 && buf[0] == 0x28 && buf[1] == 0xb5 && buf[2] == 0x2f &&
                            buf[3] == 0xfd) {
                                r = sb_error_set(err, ENOTSUP, "zstd layers are not supported");
                                break;
                        }
                        if (gzip && inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
                                r = sb_error_set(err, ENOMEM, "inflateInit2");
                                break;
                        }
                        zinit = gzip;
                }
                r = image_blob_writer_write(w, buf, (size_t) n, err);
                if (r < 0)
                        break;
                if (!gzip) {
                        sb_sha256_update(h, buf, (size_t) n);
                        continue;
                }
                zs.next_in = buf;
                zs.avail_in = (uInt) n;
                while (zs.avail_in > 0 && r >= 0) {
                        if (zr == Z_STREAM_END && inflateReset(&zs) != Z_OK)
                                r = sb_error_set(err, EBADMSG, "bad gzip stream");
                        zs.next_out = out;
                        zs.avail_out = IMPORT_CHUNK;
                        zr = inflate(&zs, Z_NO_FLUSH);
                        if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR)
                                r = sb_error_set(err, EBADMSG, "bad gzip stream");
                        sb_sha256_update(h, out, IMPORT_CHUNK - zs.avail_out);
                }
                if (r < 0)
                        break;
        }
        if (zinit)
                inflateEnd(&zs);
        if (r >= 0 && gzip && zr != Z_STREAM_END)
                r = sb_error_set(err, EBADMSG, "truncated gzip stream");
        char got[SB_DIGEST_STR_LEN + 1];
        sb_sha256_final(h, got);
        if (r >= 0 && strcmp(got, diff_id) != 0)
                r = sb_error_set(err, EBADMSG, "content hashes to '%s', the config says '%s'",
                                 got, diff_id);
        if (r < 0) {
                image_blob_writer_abort(w);
                return sb_error_prefix(err, "layer '%s'", name);
        }
        ret->size = image_blob_writer_size(w);
        snprintf(ret->media_type, sizeof(ret->media_type), "%s",
                 gzip ? IMAGE_MT_OCI_LAYER_GZIP : IMAGE_MT_OCI_LAYER_TAR);
        r = image_blob_writer_commit(w, NULL, ret->digest, err);
        return r < 0 ? sb_error_prefix(err, "layer '%s'", name) : 0;
}

/* Third pass: every layer, in archive order. */
static int archive_layers(const struct image_store *s, int fd, const struct archive_image *im,
                          char *const *diff_ids, struct image_descriptor *layers,
                          sb_error_t *err)
{
        cleanup_free bool *done = sb_xcalloc(im->n_layers + 1, sizeof(bool));
        size_t left = im->n_layers, count = 0;
        struct archive *a = NULL;
        int r = left ? tar_open(fd, &a, err) : 0;
        while (r >= 0 && left) {
                struct archive_entry *e;
                cleanup_free char *name = NULL;
                r = tar_next(a, &count, &e, &name, err);
                if (r <= 0)
                        break;
                if (!name || archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e))
                        continue;
                size_t i = 0;
                while (i < im->n_layers && (done[i] || strcmp(im->layer_paths[i], name) != 0))
                        i++;
                if (i == im->n_layers)
                        continue;
                r = stream_layer(s, a, name, diff_ids[i], &layers[i], err);
                /* the same file may stand for several layers: it must match each diff_id */
                for (size_t j = i; r >= 0 && j < im->n_layers; j++) {
                        if (done[j] || strcmp(im->layer_paths[j], name) != 0)
                                continue;
                        if (strcmp(diff_ids[j], diff_ids[i]) != 0)
                                r = sb_error_set(err, EBADMSG, "layer '%s' is used for two "
                                                               "different diff_ids", name);
                        layers[j] = layers[i];
                        done[j] = true;
                        left--;
                }
        }
        if (a)
                archive_read_free(a);
        for (size_t i = 0; r >= 0 && i < im->n_layers; i++)
                if (!done[i])
                        r = sb_error_set(err, EBADMSG, "layer '%s' is not in the archive",
                                         im->layer_paths[i]);
        return r < 0 ? r : 0;
}

static int import_archive_fd(const struct image_store *s, int fd, const char *repo_tag,
                             char ret_digest[SB_DIGEST_STR_LEN + 1], sb_error_t *err)
{
        struct archive_scan sc = { 0 };
        struct archive_image im = { 0 };
        cleanup_free char *config = NULL;
        cleanup_strv char **diff_ids = NULL;
        cleanup_free struct image_descriptor *layers = NULL;
        size_t config_len = 0;
        int r = archive_scan(fd, &sc, err);
        if (r >= 0)
                r = pick_archive_image(&sc, repo_tag, &im, err);
        if (r >= 0)
                r = archive_config(fd, &im, &config, &config_len, &diff_ids, err);
        if (r >= 0) {
                layers = sb_xcalloc(im.n_layers + 1, sizeof(*layers));
                r = archive_layers(s, fd, &im, diff_ids, layers, err);
        }
        struct image_descriptor cfg = { .media_type = IMAGE_MT_OCI_CONFIG, .size = config_len };
        if (r >= 0)
                r = image_store_put_blob(s, config, config_len, cfg.digest, err);
        if (r >= 0)
                r = image_manifest_write(s, &cfg, layers, im.n_layers, ret_digest, NULL, err);
        archive_image_done(&im);
        archive_scan_done(&sc);
        return r < 0 ? r : 0;
}

int image_import_archive(const struct image_store *s, const char *path, const char *repo_tag,
                         char ret_manifest_digest[SB_DIGEST_STR_LEN + 1], sb_error_t *err)
{
        cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return sb_error_errno(err, errno, "archive '%s'", path);
        int r = import_archive_fd(s, fd, repo_tag, ret_manifest_digest, err);
        if (r < 0)
                return sb_error_prefix(err, "archive '%s'", path);
        return 0;
}

/* ---- dispatch ---- */

/* ret_blobs (may be NULL): a layout's layers are left there, see image_import_for_push. */
static int import_path(const struct image_store *s, const char *path, const char *name,
                       const struct stat *st, char ret_digest[SB_DIGEST_STR_LEN + 1],
                       char **ret_blobs, sb_error_t *err)
{
        if (S_ISDIR(st->st_mode) && ret_blobs) {
                cleanup_free char *abs = realpath(path, NULL);
                if (!abs)
                        return sb_error_errno(err, errno, "layout '%s'", path);
                cleanup_close int dirfd = open(abs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dirfd < 0)
                        return sb_error_errno(err, errno, "layout '%s'", path);
                int r = import_layout_at(s, dirfd, name, false, ret_digest, err);
                if (r < 0)
                        return sb_error_prefix(err, "layout '%s'", path);
                *ret_blobs = sb_path_join(abs, "blobs/sha256");
                return 0;
        }
        if (S_ISDIR(st->st_mode))
                return image_import_layout(s, path, name, ret_digest, err);
        if (S_ISREG(st->st_mode))
                return image_import_archive(s, path, name, ret_digest, err);
        return sb_error_set(err, EINVAL, "'%s' is neither an OCI layout directory nor a docker "
                                         "archive", path);
}

static int import_source(const struct image_store *s, const char *source,
                         char ret_manifest_digest[SB_DIGEST_STR_LEN + 1], char **ret_blobs,
                         sb_error_t *err)
{
        if (!source || !*source)
                return sb_error_set(err, EINVAL, "empty image path");
        struct stat st;
        if (stat(source, &st) == 0)
                return import_path(s, source, NULL, &st, ret_manifest_digest, ret_blobs, err);
        /* DIR:NAME or FILE:REPO:TAG: the longest prefix that exists is the path */
        for (const char *c = strrchr(source, ':'); c && c > source;) {
                cleanup_free char *path = sb_xstrndup(source, (size_t) (c - source));
                if (c[1] && stat(path, &st) == 0)
                        return import_path(s, path, c + 1, &st, ret_manifest_digest, ret_blobs,
                                           err);
                c = memrchr(source, ':', (size_t) (c - source));
        }
        return sb_error_errno(err, ENOENT, "'%s'", source);
}

int image_import(const struct image_store *s, const char *source,
                 char ret_manifest_digest[SB_DIGEST_STR_LEN + 1], sb_error_t *err)
{
        return import_source(s, source, ret_manifest_digest, NULL, err);
}

int image_import_for_push(const struct image_store *s, const char *source,
                          char ret_manifest_digest[SB_DIGEST_STR_LEN + 1],
                          char **ret_layout_blobs, sb_error_t *err)
{
        *ret_layout_blobs = NULL;
        return import_source(s, source, ret_manifest_digest, ret_layout_blobs, err);
}
