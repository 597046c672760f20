/* Distribution API operations for one repository: manifests, blobs, uploads. */
#include "registry/registry_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/sb_cleanup.h"
#include "common/sb_log.h"
#include "common/sb_util.h"
#include "image/image_oci.h"
#include "registry/registry_http.h"
#include "registry/registry_mirror.h"

static const char ACCEPT_MANIFESTS[] = "Accept: " IMAGE_MT_OCI_MANIFEST ", " IMAGE_MT_OCI_INDEX
                                       ", " IMAGE_MT_DOCKER_MANIFEST ", " IMAGE_MT_DOCKER_LIST;

int registry_client_new(const struct registry_options *opts, const struct registry_ref *ref,
                        bool push, struct registry_client **ret, sb_error_t *err)
{
        struct registry_client *c;
        const char *ca, *cert;
        CURL *h = curl_easy_init();

        if (!h)
                return sb_error_set(err, ENOMEM, "cannot initialise libcurl");
        c = sb_xcalloc(1, sizeof(*c));
        c->curl = h;
        c->host = sb_xstrdup(ref->registry);
        c->repo = sb_xstrdup(ref->repository);
        c->push = push;
        /* each flag applies to every registry, to pulls only, or to the one it names */
        c->skip_tls_verify = opts->skip_tls_verify || (!push && opts->skip_tls_verify_pull) ||
                             registry_host_listed(opts->skip_tls_verify_registries, c->host);
        c->allow_http = registry_host_is_loopback(ref->registry) ||
                        (push ? opts->insecure : opts->insecure_pull) ||
                        registry_host_listed(opts->insecure_registries, c->host);
        c->retries = push ? opts->push_retry : opts->pull_retry;
        if (c->retries < 0)
                c->retries = 0;
        ca = registry_host_option(opts->registry_certificates, c->host);
        if (ca)
                c->ca_file = sb_xstrdup(ca);
        cert = registry_host_option(opts->registry_client_certs, c->host);
        if (cert) {
                const char *comma = strchr(cert, ',');
                if (!comma || comma == cert || !comma[1]) {
                        registry_client_free(c);
                        return sb_error_set(err, EINVAL,
                                            "--registry-client-cert for %s is not CERT,KEY",
                                            ref->registry);
                }
                c->client_cert = sb_xstrndup(cert, (size_t) (comma - cert));
                c->client_key = sb_xstrdup(comma + 1);
        }
        *ret = c;
        return 0;
}

void registry_client_free(struct registry_client *c)
{
        if (!c)
                return;
        curl_easy_cleanup(c->curl);
        registry_creds_done(&c->creds);
        if (c->token) {
                explicit_bzero(c->token, strlen(c->token));
                free(c->token);
        }
        free(c->host);
        free(c->repo);
        free(c->base);
        free(c->ca_file);
        free(c->client_cert);
        free(c->client_key);
        free(c);
}

int registry_client_get_manifest(struct registry_client *c, const char *reference, char **ret_body,
                                 size_t *ret_len, char **ret_content_type,
                                 char ret_digest[SB_DIGEST_STR_LEN + 1], sb_error_t *err)
{
        cleanup_free char *url = NULL;
        struct registry_xfer x = { .method = "GET",
                                   .accept = ACCEPT_MANIFESTS,
                                   .body_max = IMAGE_MANIFEST_MAX,
                                   .registry_auth = true,
                                   .up_fd = -1 };
        char digest[SB_DIGEST_STR_LEN + 1];
        int r;

        r = registry_http_ensure_base(c, err);
        if (r < 0)
                return r;
        url = sb_xasprintf("%s/v2/%s/manifests/%s", c->base, c->repo, reference);
        x.url = url;
        r = registry_http_request(c, &x, err);
        if (r < 0)
                goto out;
        if (x.status != 200) {
                r = registry_http_error(c, &x, NULL, err);
                goto out;
        }
        sb_sha256_digest(x.body ? x.body : "", x.body_len, digest);
        if (sb_str_has_prefix(reference, "sha256:") && strcmp(digest, reference) != 0) {
                r = sb_error_set(err, EBADMSG,
                                 "manifest %s: the registry sent content with "
                                 "digest %s",
                                 reference, digest);
                goto out;
        }
        /* A registry that names other bytes than it sent is lying or broken: fail. (Only a
         * sha256 header can be checked; another algorithm is ignored.) */
        if (x.content_digest && sb_str_has_prefix(x.content_digest, "sha256:") &&
            strcmp(x.content_digest, digest) != 0) {
                cleanup_free char *theirs = sb_xstrndup(x.content_digest, 100);
                registry_http_clean_line(theirs, 100);
                r = sb_error_set(err, EBADMSG,
                                 "manifest %s: the registry says its digest is %s but sent "
                                 "content with digest %s",
                                 reference, theirs, digest);
                goto out;
        }
        if (x.content_type_resp)
                x.content_type_resp[strcspn(x.content_type_resp, "; ")] = '\0';
        *ret_content_type = steal_pointer(&x.content_type_resp);
        *ret_body = x.body ? steal_pointer(&x.body) : sb_xstrdup("");
        *ret_len = x.body_len;
        memcpy(ret_digest, digest, sizeof(digest));
        r = 0;
out:
        registry_http_xfer_done(&x);
        return r;
}

int registry_client_get_blob(struct registry_client *c, const struct image_store *s,
                             const char *digest, uint64_t size, sb_error_t *err)
{
        cleanup_free char *url = NULL;
        cleanup_free char *what = sb_xasprintf("blob %s", digest);
        struct registry_xfer x = {
                .method = "GET", .follow = true, .registry_auth = true, .limit = size,
                .up_fd = -1, .writer_store = s
        };
        int r;

        if (!sb_digest_valid(digest))
                return sb_error_set(err, EINVAL, "invalid blob digest");
        r = registry_http_ensure_base(c, err);
        if (r < 0)
                return r;
        r = image_blob_writer_new(s, &x.writer, err);
        if (r < 0)
                return r;
        url = sb_xasprintf("%s/v2/%s/blobs/%s", c->base, c->repo, digest);
        x.url = url;
        r = registry_http_request(c, &x, err);
        if (r < 0)
                goto fail;
        if (x.status != 200) {
                r = registry_http_error(c, &x, what, err);
                goto fail;
        }
        if (image_blob_writer_size(x.writer) != size) {
                r = sb_error_set(err, EBADMSG, "%s: received %zu bytes, the manifest says %llu",
                                 what, image_blob_writer_size(x.writer), (unsigned long long) size);
                goto fail;
        }
        r = image_blob_writer_commit(steal_pointer(&x.writer), digest, NULL, err);
        if (r < 0)
                sb_error_prefix(err, "%s", what);
        registry_http_xfer_done(&x);
        return r;
fail:
        image_blob_writer_abort(x.writer);
        registry_http_xfer_done(&x);
        return r;
}

int registry_client_has_blob(struct registry_client *c, const char *digest, bool *ret_exists,
                             sb_error_t *err)
{
        cleanup_free char *url = NULL;
        cleanup_free char *what = sb_xasprintf("blob %s", digest);
        struct registry_xfer x = {
                .method = "HEAD", .registry_auth = true, .follow = true, .up_fd = -1
        };
        int r;

        r = registry_http_ensure_base(c, err);
        if (r < 0)
                return r;
        url = sb_xasprintf("%s/v2/%s/blobs/%s", c->base, c->repo, digest);
        x.url = url;
        r = registry_http_request(c, &x, err);
        if (r == 0) {
                if (x.status == 200)
                        *ret_exists = true;
                else if (x.status == 404)
                        *ret_exists = false;
                else
                        r = registry_http_error(c, &x, what, err);
        }
        registry_http_xfer_done(&x);
        return r;
}

/* An upload session: its current URL, resolved against the URL of the answer that gave it. */
struct upload_session {
        CURLU *u;
};

static void session_done(struct upload_session *us)
{
        curl_url_cleanup(us->u);
        us->u = NULL;
}

/* Move the session to location (relative, absolute, or with its own ?_state= query). */
static int session_follow(struct upload_session *us, const char *location, const char *what,
                          sb_error_t *err)
{
        if (!location || !*location)
                return sb_error_set(err, EPROTO, "%s: the registry sent no upload location",
                                    what);
        if (curl_url_set(us->u, CURLUPART_URL, location, 0) != CURLUE_OK)
                return sb_error_set(err, EPROTO, "%s: invalid upload location", what);
        return 0;
}

/* The session's URL, with "digest=..." appended to its query when digest is given. */
static char *session_url(struct upload_session *us, const char *digest)
{
        CURLU *copy = curl_url_dup(us->u);
        char *url = NULL, *ret = NULL;

        if (!copy)
                return NULL;
        if (digest) {
                cleanup_free char *q = sb_xasprintf("digest=%s", digest);
                if (curl_url_set(copy, CURLUPART_QUERY, q, CURLU_APPENDQUERY | CURLU_URLENCODE) !=
                    CURLUE_OK)
                        goto out;
        }
        if (curl_url_get(copy, CURLUPART_URL, &url, 0) == CURLUE_OK)
                ret = sb_xstrdup(url);
out:
        curl_free(url);
        curl_url_cleanup(copy);
        return ret;
}

/*
 * POST an upload session (with ?mount=&from= when from is set). *ret_status is the answer;
 * on 202 the session points at its Location.
 */
static int start_upload(struct registry_client *c, const char *digest, const char *from,
                        struct upload_session *us, long *ret_status, sb_error_t *err)
{
        cleanup_free char *url = NULL;
        cleanup_free char *what = sb_xasprintf("upload of blob %s", digest ? digest : "");
        struct registry_xfer post = { .method = "POST", .registry_auth = true, .up_fd = -1 };
        int r;

        url = sb_xasprintf("%s/v2/%s/blobs/uploads/", c->base, c->repo);
        us->u = curl_url();
        if (!us->u || curl_url_set(us->u, CURLUPART_URL, url, 0) != CURLUE_OK)
                return sb_error_set(err, ENOMEM, "%s: cannot build the upload URL", what);
        if (from) {
                cleanup_free char *q1 = sb_xasprintf("mount=%s", digest);
                cleanup_free char *q2 = sb_xasprintf("from=%s", from);
                curl_url_set(us->u, CURLUPART_QUERY, q1, CURLU_APPENDQUERY | CURLU_URLENCODE);
                curl_url_set(us->u, CURLUPART_QUERY, q2, CURLU_APPENDQUERY | CURLU_URLENCODE);
                free(url);
                url = session_url(us, NULL);
                if (!url)
                        return sb_error_set(err, ENOMEM, "%s: cannot build the mount URL", what);
        }
        post.url = url;
        r = registry_http_request(c, &post, err);
        if (r < 0)
                goto out;
        *ret_status = post.status;
        if (post.status == 202)
                r = session_follow(us, post.location, what, err);
        else if (post.status != 201 && !from)
                r = registry_http_error(c, &post, what, err);
out:
        registry_http_xfer_done(&post);
        return r;
}

/* PATCH the blob in chunks, following the Location of each answer. */
static int upload_chunks(struct registry_client *c, int fd, uint64_t size, uint64_t chunk,
                         struct upload_session *us, const char *what, unsigned *ret_patches,
                         sb_error_t *err)
{
        cleanup_free char *buf = sb_xmalloc((size_t) chunk);
        uint64_t off = 0;
        int r = 0;

        while (off < size) {
                size_t want = (size_t) (size - off < chunk ? size - off : chunk);
                size_t got = 0;
                while (got < want) {
                        ssize_t n = pread(fd, buf + got, want - got, (off_t) (off + got));
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n <= 0)
                                return sb_error_set(err, EIO, "%s: the blob shrank or failed to "
                                                    "read", what);
                        got += (size_t) n;
                }
                cleanup_free char *url = session_url(us, NULL);
                cleanup_free char *range = sb_xasprintf("%llu-%llu", (unsigned long long) off,
                                                        (unsigned long long) (off + want - 1));
                struct registry_xfer x = { .method = "PATCH",
                                           .url = url,
                                           .registry_auth = true,
                                           .content_type = "application/octet-stream",
                                           .content_range = range,
                                           .up_data = buf,
                                           .up_size = want,
                                           .up_fd = -1 };
                if (!url)
                        return sb_error_set(err, ENOMEM, "%s: bad upload URL", what);
                r = registry_http_request(c, &x, err);
                if (r == 0 && x.status != 202)
                        r = registry_http_error(c, &x, what, err);
                /* every answer names where the next chunk goes */
                if (r == 0)
                        r = session_follow(us, x.location, what, err);
                registry_http_xfer_done(&x);
                if (r < 0)
                        return r;
                (*ret_patches)++;
                off += want;
        }
        return 0;
}

int registry_client_push_blob(struct registry_client *c, const struct image_store *s,
                              const char *digest, const struct registry_push_blob_opts *o,
                              struct registry_push_blob_stats *ret, sb_error_t *err)
{
        cleanup_close int fd = -1;
        int r;

        if (!sb_digest_valid(digest))
                return sb_error_set(err, EINVAL, "invalid blob digest");
        r = image_store_open_blob(s, digest, &fd, err);
        if (r < 0)
                return r;
        return registry_client_push_blob_fd(c, fd, digest, o, ret, err);
}

/* Hash fd's bytes from offset 0 (pread: the upload reads it again) and compare with digest. */
static int check_fd_digest(int fd, const char *digest, uint64_t size, sb_error_t *err)
{
        enum { BUF = 256 * 1024 };
        cleanup_free char *buf = sb_xmalloc(BUF);
        struct sb_sha256 *h = sb_sha256_new();
        char got[SB_DIGEST_STR_LEN + 1];
        uint64_t off = 0;

        while (off < size) {
                size_t want = size - off < BUF ? (size_t) (size - off) : BUF;
                ssize_t n = pread(fd, buf, want, (off_t) off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        sb_sha256_free(h);
                        return sb_error_set(err, EBADMSG, "blob %s: shorter than its descriptor",
                                            digest);
                }
                sb_sha256_update(h, buf, (size_t) n);
                off += (uint64_t) n;
        }
        sb_sha256_final(h, got); /* frees h */
        if (strcmp(got, digest) != 0)
                return sb_error_set(err, EBADMSG, "blob %s: its content hashes to %s", digest,
                                    got);
        return 0;
}

int registry_client_open_blob_file(int dirfd, const char *digest, uint64_t size, int *ret_fd,
                                   sb_error_t *err)
{
        const char *hex = sb_digest_valid(digest) ? strchr(digest, ':') + 1 : NULL;
        cleanup_close int fd = -1;
        struct stat st;
        int r;

        if (!hex || strncmp(digest, "sha256:", 7) != 0)
                return sb_error_set(err, EINVAL, "invalid blob digest");
        fd = openat(dirfd, hex, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return sb_error_errno(err, errno, "blob %s", digest);
        if (fstat(fd, &st) < 0)
                return sb_error_errno(err, errno, "blob %s", digest);
        if (!S_ISREG(st.st_mode))
                return sb_error_set(err, EBADMSG, "blob %s is not a regular file", digest);
        if ((uint64_t) st.st_size != size)
                return sb_error_set(err, EBADMSG, "blob %s is %lld bytes, its descriptor says "
                                    "%llu", digest, (long long) st.st_size,
                                    (unsigned long long) size);
        r = check_fd_digest(fd, digest, size, err);
        if (r < 0)
                return r;
        *ret_fd = steal_fd(&fd);
        return 0;
}

int registry_client_push_blob_fd(struct registry_client *c, int fd, const char *digest,
                                 const struct registry_push_blob_opts *o,
                                 struct registry_push_blob_stats *ret, sb_error_t *err)
{
        static const struct registry_push_blob_opts defaults = { 0 };
        cleanup_free char *what = sb_xasprintf("upload of blob %s", digest);
        cleanup_free char *put_url = NULL;
        struct registry_push_blob_stats stats = { 0 };
        struct upload_session us = { 0 };
        struct registry_xfer put = { .method = "PUT",
                                     .registry_auth = true,
                                     .content_type = "application/octet-stream",
                                     .up_fd = -1 };
        uint64_t threshold, chunk;
        long status = 0;
        struct stat st;
        int r;

        if (!o)
                o = &defaults;
        threshold = o->chunk_threshold ? o->chunk_threshold : REGISTRY_CHUNK_THRESHOLD;
        chunk = o->chunk_size ? o->chunk_size : REGISTRY_CHUNK_SIZE;
        if (!sb_digest_valid(digest))
                return sb_error_set(err, EINVAL, "invalid blob digest");
        if (fstat(fd, &st) < 0)
                return sb_error_errno(err, errno, "blob %s", digest);
        r = registry_http_ensure_base(c, err);
        if (r < 0)
                return r;

        if (o->mount_from && o->mount_from[0] && strcmp(o->mount_from[0], c->repo) != 0) {
                sb_error_t merr = { 0 };
                r = start_upload(c, digest, o->mount_from[0], &us, &status, &merr);
                if (r == 0 && status == 201) {
                        sb_debug("registry: mounted %s from %s into %s", digest, o->mount_from[0],
                                 c->repo);
                        stats.mounted = true;
                        goto done;
                }
                /* 202: the registry could not mount and opened a session to upload into */
                if (r < 0 || status != 202) {
                        sb_debug("registry: mount of %s from %s failed (%ld): %s", digest,
                                 o->mount_from[0], status, merr.msg);
                        session_done(&us);
                        status = 0;
                }
        }
        if (status != 202) {
                r = start_upload(c, digest, NULL, &us, &status, err);
                if (r < 0)
                        goto out;
                if (status != 202) {
                        r = sb_error_set(err, EPROTO, "%s: the registry answered the upload "
                                         "request with HTTP %ld", what, status);
                        goto out;
                }
        }
        if ((uint64_t) st.st_size > threshold) {
                r = upload_chunks(c, fd, (uint64_t) st.st_size, chunk, &us, what,
                                  &stats.n_patches, err);
                if (r < 0)
                        goto out;
                put.up_data = "";
                put.up_size = 0;
        } else {
                put.up_fd = fd;
                put.up_size = (uint64_t) st.st_size;
        }
        put_url = session_url(&us, digest);
        if (!put_url) {
                r = sb_error_set(err, EPROTO, "%s: invalid upload location", what);
                goto out;
        }
        put.url = put_url;
        r = registry_http_request(c, &put, err);
        if (r < 0)
                goto out;
        if (put.status != 201 && put.status != 204)
                r = registry_http_error(c, &put, what, err);
done:
        if (r >= 0 && ret)
                *ret = stats;
out:
        registry_http_xfer_done(&put);
        session_done(&us);
        return r;
}

int registry_client_put_blob(struct registry_client *c, const struct image_store *s,
                             const char *digest, sb_error_t *err)
{
        return registry_client_push_blob(c, s, digest, NULL, NULL, err);
}

int registry_client_check_push(struct registry_client *c, sb_error_t *err)
{
        struct upload_session us = { 0 };
        long status = 0;
        int r;

        r = registry_http_ensure_base(c, err);
        if (r < 0)
                return r;
        r = start_upload(c, NULL, NULL, &us, &status, err);
        if (r == 0 && status != 202)
                r = sb_error_set(err, EPROTO, "the registry answered an upload request with "
                                 "HTTP %ld", status);
        if (r == 0) {
                /* cancel the session; registries also expire abandoned ones */
                cleanup_free char *url = session_url(&us, NULL);
                struct registry_xfer del = { .method = "DELETE", .url = url,
                                             .registry_auth = true, .up_fd = -1 };
                sb_error_t ignored = { 0 };
                if (url && registry_http_request(c, &del, &ignored) == 0)
                        sb_debug("registry: cancelled the probe upload (%ld)", del.status);
                registry_http_xfer_done(&del);
        }
        session_done(&us);
        return r;
}

int registry_client_put_manifest(struct registry_client *c, const char *reference,
                                 const char *media_type, const char *body, size_t len,
                                 char ret_digest[SB_DIGEST_STR_LEN + 1], sb_error_t *err)
{
        cleanup_free char *url = NULL;
        struct registry_xfer x = { .method = "PUT",
                                   .registry_auth = true,
                                   .content_type = media_type,
                                   .up_data = body,
                                   .up_size = len,
                                   .up_fd = -1 };
        char digest[SB_DIGEST_STR_LEN + 1];
        int r;

        sb_sha256_digest(body, len, digest);
        r = registry_http_ensure_base(c, err);
        if (r < 0)
                return r;
        url = sb_xasprintf("%s/v2/%s/manifests/%s", c->base, c->repo, reference);
        x.url = url;
        r = registry_http_request(c, &x, err);
        if (r < 0)
                goto out;
        if (x.status != 201 && x.status != 200) {
                r = registry_http_error(c, &x, "manifest upload", err);
                goto out;
        }
        if (x.content_digest && strcmp(x.content_digest, digest) != 0) {
                cleanup_free char *theirs = sb_xstrndup(x.content_digest, 100);
                registry_http_clean_line(theirs, 100);
                r = sb_error_set(err, EBADMSG,
                                 "the registry recorded digest %s for the manifest, we sent %s",
                                 theirs, digest);
                goto out;
        }
        memcpy(ret_digest, digest, sizeof(digest));
out:
        registry_http_xfer_done(&x);
        return r;
}

/* Go's path.Base of the URL's decoded path, as BuildKit names a downloaded file. */
static char *url_file_name(CURLU *u)
{
        char *path = NULL;
        char *name = NULL;
        if (curl_url_get(u, CURLUPART_PATH, &path, CURLU_URLDECODE) == CURLUE_OK && path) {
                size_t len = strlen(path);
                while (len > 1 && path[len - 1] == '/')
                        len--;
                path[len] = '\0';
                const char *slash = strrchr(path, '/');
                const char *base = slash ? slash + 1 : path;
                if (*base && strcmp(base, ".") != 0 && strcmp(base, "..") != 0 &&
                    strlen(base) < 256 && !strpbrk(base, "\r\n"))
                        name = sb_xstrdup(base);
        }
        curl_free(path);
        return name ? name : sb_xstrdup("download");
}

int registry_fetch_url(const struct registry_options *opts, const struct image_store *s,
                       const char *url, const char *checksum, uint64_t max,
                       struct registry_fetched *ret, sb_error_t *err)
{
        struct registry_xfer x = { .method = "GET", .url = url, .follow = true, .limit = max,
                                   .up_fd = -1 };
        struct registry_client c = { .skip_tls_verify = opts->skip_tls_verify,
                                     .allow_http = true };
        char digest[SB_DIGEST_STR_LEN + 1];
        char *host = NULL;
        CURLU *u = NULL;
        int r;

        if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)
                return sb_error_set(err, EPROTONOSUPPORT,
                                    "'%s': only http and https URLs can be fetched", url);
        if (checksum && !sb_digest_valid(checksum))
                return sb_error_set(err, EINVAL, "'%s': invalid checksum '%s'", url, checksum);
        u = curl_url();
        if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
                curl_url_cleanup(u);
                return sb_error_set(err, EINVAL, "'%s' is not a valid URL", url);
        }
        c.curl = curl_easy_init();
        c.host = sb_xstrdup(host);
        curl_free(host);
        if (!c.curl) {
                r = sb_error_set(err, ENOMEM, "cannot initialise libcurl");
                goto out;
        }
        r = image_blob_writer_new(s, &x.writer, err);
        if (r < 0)
                goto out;
        r = registry_http_perform(&c, &x, err);
        if (r < 0)
                goto out;
        if (x.status != 200) {
                r = registry_http_error(&c, &x, NULL, err);
                goto out;
        }
        ret->size = image_blob_writer_size(x.writer);
        r = image_blob_writer_commit(steal_pointer(&x.writer), NULL, digest, err);
        if (r < 0)
                goto out;
        if (checksum && strcmp(checksum, digest) != 0) {
                r = sb_error_set(err, EBADMSG, "checksum mismatch: expected %s, got %s",
                                 checksum, digest);
                goto out;
        }
        memcpy(ret->digest, digest, sizeof(digest));
        ret->name = url_file_name(u);
        ret->last_modified = 0;
        if (x.last_modified) {
                time_t t = curl_getdate(x.last_modified, NULL);
                ret->last_modified = t > 0 ? (int64_t) t : 0;
        }
        r = 0;
out:
        if (r < 0)
                sb_error_prefix(err, "fetch '%s'", url);
        image_blob_writer_abort(x.writer);
        registry_http_xfer_done(&x);
        curl_easy_cleanup(c.curl);
        free(c.host);
        curl_url_cleanup(u);
        return r;
}
