/* Distribution API operations for one repository: manifests, blobs, uploads. */
#include "registry/registry_client.h"

#include <curl/curl.h>
#include <errno.h>
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

static const char ACCEPT_MANIFESTS[] = "Accept: " IMAGE_MT_OCI_MANIFEST ", " IMAGE_MT_OCI_INDEX
                                       ", " IMAGE_MT_DOCKER_MANIFEST ", " IMAGE_MT_DOCKER_LIST;

int registry_client_new(const struct registry_options *opts, const struct registry_ref *ref,
                        bool push, struct registry_client **ret, sb_error_t *err)
{
        struct registry_client *c;
        CURL *h = curl_easy_init();

        if (!h)
                return sb_error_set(err, ENOMEM, "cannot initialise libcurl");
        c = sb_xcalloc(1, sizeof(*c));
        c->curl = h;
        c->host = sb_xstrdup(ref->registry);
        c->repo = sb_xstrdup(ref->repository);
        c->push = push;
        c->skip_tls_verify = opts->skip_tls_verify;
        c->allow_http = registry_host_is_loopback(ref->registry) ||
                        (push ? opts->insecure : opts->insecure_pull);
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
        if (x.content_digest && strcmp(x.content_digest, digest) != 0)
                sb_debug("registry: Docker-Content-Digest %s differs from computed %s",
                         x.content_digest, digest);
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
                .method = "GET", .follow = true, .registry_auth = true, .limit = size, .up_fd = -1
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

int registry_client_put_blob(struct registry_client *c, const struct image_store *s,
                             const char *digest, sb_error_t *err)
{
        cleanup_close int fd = -1;
        cleanup_free char *post_url = NULL;
        cleanup_free char *what = sb_xasprintf("upload of blob %s", digest);
        cleanup_free char *q = NULL;
        struct registry_xfer post = { .method = "POST", .registry_auth = true, .up_fd = -1 };
        struct registry_xfer put = { .method = "PUT",
                                     .registry_auth = true,
                                     .content_type = "application/octet-stream" };
        char *put_url = NULL;
        CURLU *u = NULL;
        struct stat st;
        int r;

        r = image_store_open_blob(s, digest, &fd, err);
        if (r < 0)
                return r;
        if (fstat(fd, &st) < 0)
                return sb_error_errno(err, errno, "blob %s", digest);
        r = registry_http_ensure_base(c, err);
        if (r < 0)
                return r;

        post_url = sb_xasprintf("%s/v2/%s/blobs/uploads/", c->base, c->repo);
        post.url = post_url;
        r = registry_http_request(c, &post, err);
        if (r < 0)
                goto out;
        if (post.status != 202 || !post.location) {
                r = post.status == 202 ? sb_error_set(err, EPROTO, "%s: no upload location", what)
                                       : registry_http_error(c, &post, what, err);
                goto out;
        }
        /* Location may be relative and may carry its own query (?_state=...). */
        q = sb_xasprintf("digest=%s", digest);
        u = curl_url();
        if (!u || curl_url_set(u, CURLUPART_URL, post_url, 0) != CURLUE_OK ||
            curl_url_set(u, CURLUPART_URL, post.location, 0) != CURLUE_OK ||
            curl_url_set(u, CURLUPART_QUERY, q, CURLU_APPENDQUERY | CURLU_URLENCODE) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_URL, &put_url, 0) != CURLUE_OK) {
                r = sb_error_set(err, EPROTO, "%s: invalid upload location", what);
                goto out;
        }
        put.url = put_url;
        put.up_fd = fd;
        put.up_size = (uint64_t) st.st_size;
        r = registry_http_request(c, &put, err);
        if (r < 0)
                goto out;
        if (put.status != 201 && put.status != 204)
                r = registry_http_error(c, &put, what, err);
out:
        registry_http_xfer_done(&post);
        registry_http_xfer_done(&put);
        curl_free(put_url);
        curl_url_cleanup(u);
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
