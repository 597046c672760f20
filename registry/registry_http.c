/* HTTP transfers to a registry over libcurl: scheme choice, auth (Basic, Bearer tokens),
 * bounded bodies, and one-line errors. */
#include "registry/registry_http.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/sb_cleanup.h"
#include "common/sb_log.h"
#include "common/sb_util.h"
#include "image/image_oci.h"
#include "registry/registry_auth.h"
#include "registry/registry_ref.h"

#define ERR_BODY_MAX    (64u * 1024u)
#define TOKEN_BODY_MAX  (1024u * 1024u)
#define TOKEN_MAX       (64u * 1024u)
#define HDR_VALUE_MAX   8192u
#define CONNECT_TIMEOUT 30L
/* Less than 1 byte/s for this long means the server stalled. */
#define STALL_TIME 60L
#define USER_AGENT "sbuild/0.1"

static void xfer_reset_response(struct registry_xfer *x)
{
        free(x->location);
        free(x->content_digest);
        free(x->content_type_resp);
        free(x->last_modified);
        x->location = x->content_digest = x->content_type_resp = x->last_modified = NULL;
        for (size_t i = 0; i < x->n_challenges; i++) {
                free(x->challenges[i]);
                x->challenges[i] = NULL;
        }
        x->n_challenges = 0;
        x->body_len = 0;
        x->status = 0;
}

void registry_http_xfer_done(struct registry_xfer *x)
{
        xfer_reset_response(x);
        free(x->body);
        x->body = NULL;
}

static int body_append(struct registry_xfer *x, const char *p, size_t len)
{
        if (x->body_len + len + 1 > x->body_cap) {
                size_t cap = x->body_cap ? x->body_cap : 4096;
                while (cap < x->body_len + len + 1)
                        cap *= 2;
                x->body = sb_xrealloc(x->body, cap);
                x->body_cap = cap;
        }
        memcpy(x->body + x->body_len, p, len);
        x->body_len += len;
        x->body[x->body_len] = '\0';
        return 0;
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
        struct registry_xfer *x = ud;
        size_t len = sz * n;

        if (x->status >= 200 && x->status < 300) {
                if (x->writer) {
                        if (image_blob_writer_size(x->writer) + len > x->limit) {
                                x->too_big = true;
                                return 0;
                        }
                        if (image_blob_writer_write(x->writer, p, len, &x->werr) < 0) {
                                x->werr_set = true;
                                return 0;
                        }
                        return len;
                }
                if (x->body_len + len > x->body_max) {
                        x->too_big = true;
                        return 0;
                }
                body_append(x, p, len);
                return len;
        }
        /* error bodies: keep the start, drop the rest */
        if (x->body_len < ERR_BODY_MAX)
                body_append(x, p,
                            len < ERR_BODY_MAX - x->body_len ? len : ERR_BODY_MAX - x->body_len);
        return len;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
        struct registry_xfer *x = ud;
        size_t len = sz * n, nlen;
        const char *colon, *v, *end;
        char **slot = NULL;

        if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
                const char *sp = memchr(p, ' ', len);
                xfer_reset_response(x);
                if (sp && (size_t) (sp - p) + 4 <= len && sp[1] >= '1' && sp[1] <= '5')
                        x->status = (sp[1] - '0') * 100 + (sp[2] - '0') * 10 + (sp[3] - '0');
                return len;
        }
        colon = memchr(p, ':', len);
        if (!colon)
                return len;
        nlen = (size_t) (colon - p);
        v = colon + 1;
        end = p + len;
        while (v < end && (*v == ' ' || *v == '\t'))
                v++;
        while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
                end--;
        if ((size_t) (end - v) > HDR_VALUE_MAX)
                return len;
        if (nlen == 8 && strncasecmp(p, "location", 8) == 0)
                slot = &x->location;
        else if (nlen == 21 && strncasecmp(p, "docker-content-digest", 21) == 0)
                slot = &x->content_digest;
        else if (nlen == 12 && strncasecmp(p, "content-type", 12) == 0)
                slot = &x->content_type_resp;
        else if (nlen == 13 && strncasecmp(p, "last-modified", 13) == 0)
                slot = &x->last_modified;
        else if (nlen == 16 && strncasecmp(p, "www-authenticate", 16) == 0 &&
                 x->n_challenges < CHALLENGES_MAX)
                slot = &x->challenges[x->n_challenges++];
        if (slot) {
                free(*slot);
                *slot = sb_xstrndup(v, (size_t) (end - v));
        }
        return len;
}

static size_t on_read(char *buf, size_t sz, size_t n, void *ud)
{
        struct registry_xfer *x = ud;
        size_t want = sz * n;
        uint64_t left = x->up_size - x->up_off;

        if (want > left)
                want = (size_t) left;
        if (want == 0)
                return 0;
        if (x->up_data) {
                memcpy(buf, x->up_data + x->up_off, want);
        } else {
                ssize_t got;
                do
                        got = pread(x->up_fd, buf, want, (off_t) x->up_off);
                while (got < 0 && errno == EINTR);
                if (got <= 0) /* error, or the file shrank under us */
                        return CURL_READFUNC_ABORT;
                want = (size_t) got;
        }
        x->up_off += want;
        return want;
}

static int on_seek(void *ud, curl_off_t off, int origin)
{
        struct registry_xfer *x = ud;

        if (origin != SEEK_SET || off < 0 || (uint64_t) off > x->up_size)
                return CURL_SEEKFUNC_CANTSEEK;
        x->up_off = (uint64_t) off;
        return CURL_SEEKFUNC_OK;
}

/* Same scheme, host and port: only then do our credentials go along. */
static bool same_origin(const char *a, const char *b)
{
        CURLU *ua = curl_url(), *ub = curl_url();
        bool same = false;

        if (ua && ub && curl_url_set(ua, CURLUPART_URL, a, 0) == CURLUE_OK &&
            curl_url_set(ub, CURLUPART_URL, b, 0) == CURLUE_OK) {
                static const CURLUPart parts[] = { CURLUPART_SCHEME, CURLUPART_HOST,
                                                   CURLUPART_PORT };
                same = true;
                for (size_t i = 0; i < 3 && same; i++) {
                        char *pa = NULL, *pb = NULL;
                        unsigned flags = parts[i] == CURLUPART_PORT ? CURLU_DEFAULT_PORT : 0;
                        curl_url_get(ua, parts[i], &pa, flags);
                        curl_url_get(ub, parts[i], &pb, flags);
                        same = pa && pb && strcasecmp(pa, pb) == 0;
                        curl_free(pa);
                        curl_free(pb);
                }
        }
        curl_url_cleanup(ua);
        curl_url_cleanup(ub);
        return same;
}

static CURLcode perform_once(struct registry_client *c, struct registry_xfer *x)
{
        CURL *h = c->curl;
        struct curl_slist *hdrs = NULL;
        cleanup_free char *ctype = NULL;
        char *authz = NULL;
        bool ours = c->base && same_origin(x->url, c->base);
        CURLcode rc;

        xfer_reset_response(x);
        x->too_big = false;
        x->up_off = 0;
        curl_easy_reset(h);
        c->errbuf[0] = '\0';
        curl_easy_setopt(h, CURLOPT_URL, x->url);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
        curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
        curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS, (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, STALL_TIME);
        curl_easy_setopt(h, CURLOPT_USERAGENT, USER_AGENT);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
        if (c->skip_tls_verify) {
                curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
                curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
        }
        if (x->follow) {
                /* libcurl drops Authorization (ours and Basic) when the host changes */
                curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
                curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
                curl_easy_setopt(h, CURLOPT_UNRESTRICTED_AUTH, 0L);
        }
        if (strcmp(x->method, "HEAD") == 0) {
                curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        } else if (strcmp(x->method, "POST") == 0) {
                curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
                curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
        } else if (strcmp(x->method, "PUT") == 0) {
                curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
                curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
                curl_easy_setopt(h, CURLOPT_READDATA, x);
                curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
                curl_easy_setopt(h, CURLOPT_SEEKDATA, x);
                curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t) x->up_size);
        }
        if (x->accept)
                hdrs = curl_slist_append(hdrs, x->accept);
        if (x->content_type) {
                ctype = sb_xasprintf("Content-Type: %s", x->content_type);
                hdrs = curl_slist_append(hdrs, ctype);
        }
        hdrs = curl_slist_append(hdrs, "Expect:");
        if (x->registry_auth && ours && c->auth == REGISTRY_AUTH_BEARER && c->token) {
                authz = sb_xasprintf("Authorization: Bearer %s", c->token);
                hdrs = curl_slist_append(hdrs, authz);
        }
        if ((x->registry_auth && ours && c->auth == REGISTRY_AUTH_BASIC) ||
            (x->basic_creds && c->creds.username)) {
                curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC);
                curl_easy_setopt(h, CURLOPT_USERNAME, c->creds.username);
                curl_easy_setopt(h, CURLOPT_PASSWORD, c->creds.password);
        }
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);

        rc = curl_easy_perform(h);
        sb_debug("registry: %s %s -> %ld", x->method, x->url, x->status);

        curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
        curl_slist_free_all(hdrs);
        if (authz) {
                explicit_bzero(authz, strlen(authz));
                free(authz);
        }
        return rc;
}

static int transport_error(struct registry_client *c, struct registry_xfer *x, CURLcode rc,
                           sb_error_t *err)
{
        long os_errno = 0;
        const char *detail = c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);

        if (x->werr_set) {
                if (err)
                        *err = x->werr;
                return -(err->code ? err->code : EIO);
        }
        if (x->too_big)
                return sb_error_set(err, EFBIG,
                                    "response from %s is larger than the %llu byte limit", c->host,
                                    (unsigned long long) (x->writer ? x->limit : x->body_max));
        curl_easy_getinfo(c->curl, CURLINFO_OS_ERRNO, &os_errno);
        switch (rc) {
        case CURLE_COULDNT_CONNECT:
                if (os_errno == ECONNREFUSED)
                        return sb_error_set(err, ECONNREFUSED,
                                            "connection refused by %s (is the registry running?)",
                                            c->host);
                return sb_error_set(err, EHOSTUNREACH, "cannot connect to %s: %s", c->host, detail);
        case CURLE_COULDNT_RESOLVE_HOST:
                return sb_error_set(err, EHOSTUNREACH, "cannot resolve registry host %s", c->host);
        case CURLE_OPERATION_TIMEDOUT:
                return sb_error_set(err, ETIMEDOUT, "%s timed out: %s", c->host, detail);
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_CERTPROBLEM:
                return sb_error_set(err, EPROTO, "TLS error talking to %s: %s", c->host, detail);
        case CURLE_UNSUPPORTED_PROTOCOL:
                return sb_error_set(err, EPROTO, "refused a non-http(s) URL from %s", c->host);
        case CURLE_TOO_MANY_REDIRECTS:
                return sb_error_set(err, ELOOP, "too many redirects from %s", c->host);
        default:
                return sb_error_set(err, EIO, "talking to %s: %s", c->host, detail);
        }
}

void registry_http_clean_line(char *s, size_t max)
{
        size_t i;

        for (i = 0; s[i] && i < max; i++)
                if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f)
                        s[i] = ' ';
        s[i] = '\0';
}

/* One line from an error response: the registry's {"errors":[...]} or the status. */
int registry_http_error(struct registry_client *c, struct registry_xfer *x, const char *what,
                        sb_error_t *err)
{
        char msg[400];
        bool have_msg = false;
        int code;
        json_t *root = NULL, *errors;

        snprintf(msg, sizeof(msg), "HTTP %ld", x->status);
        if (x->body_len > 0)
                root = json_loadb(x->body, x->body_len, 0, NULL);
        errors = json_object_get(root, "errors");
        if (json_is_array(errors) && json_array_size(errors) > 0) {
                json_t *e = json_array_get(errors, 0);
                const char *m = json_string_value(json_object_get(e, "message"));
                const char *cd = json_string_value(json_object_get(e, "code"));
                size_t more = json_array_size(errors) - 1;
                if (m && *m)
                        snprintf(msg, sizeof(msg), "%s", m);
                else if (cd && *cd)
                        snprintf(msg, sizeof(msg), "%s", cd);
                have_msg = (m && *m) || (cd && *cd);
                if (more > 0) {
                        size_t l = strlen(msg);
                        snprintf(msg + l, sizeof(msg) - l, " (and %zu more error%s)", more,
                                 more > 1 ? "s" : "");
                }
        }
        json_decref(root);
        registry_http_clean_line(msg, 300);

        switch (x->status) {
        case 401:
                if (c->auth == REGISTRY_AUTH_NONE && !c->creds.username)
                        return sb_error_set(err, EACCES,
                                            "authentication required by %s and no credentials "
                                            "for it in docker config.json%s%s%s",
                                            c->host, have_msg ? " (" : "", have_msg ? msg : "",
                                            have_msg ? ")" : "");
                return sb_error_set(err, EACCES, "authentication failed for %s: %s", c->host,
                                    have_msg ? msg : "the credentials were rejected");
        case 403:
                code = EACCES;
                break;
        case 404:
                code = ENOENT;
                break;
        case 429:
                code = EBUSY;
                break;
        default:
                code = x->status >= 500 ? EIO : EPROTO;
        }
        if (what)
                return sb_error_set(err, code, "%s: %s", what, msg);
        return sb_error_set(err, code, "%s", msg);
}

static int load_creds(struct registry_client *c, sb_error_t *err)
{
        int r;

        if (c->creds_loaded)
                return 0;
        r = registry_auth_lookup(c->host, &c->creds, err);
        if (r < 0)
                return r;
        c->creds_loaded = true;
        sb_debug("registry: %s credentials for %s", c->creds.username ? "using" : "no", c->host);
        return 0;
}

static bool token_printable(const char *t)
{
        for (; *t; t++)
                if ((unsigned char) *t <= 0x20 || (unsigned char) *t >= 0x7f)
                        return false;
        return true;
}

static int fetch_token(struct registry_client *c, const struct registry_challenge *ch,
                       sb_error_t *err)
{
        cleanup_free char *scope = NULL;
        cleanup_free char *realm_host = NULL;
        char *url = NULL;
        CURLU *u = NULL;
        struct registry_xfer x = { .method = "GET", .body_max = TOKEN_BODY_MAX, .up_fd = -1 };
        json_t *root = NULL;
        const char *tok;
        CURLcode rc;
        int r;

        if (!ch->realm)
                return sb_error_set(err, EPROTO, "%s asked for a token without a realm", c->host);
        u = curl_url();
        if (!u || curl_url_set(u, CURLUPART_URL, ch->realm, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_HOST, &realm_host, 0) != CURLUE_OK) {
                r = sb_error_set(err, EPROTO, "%s gave an invalid token realm", c->host);
                goto out;
        }
        if (strncasecmp(ch->realm, "https://", 8) != 0 &&
            !(strncasecmp(ch->realm, "http://", 7) == 0 &&
              (c->allow_http || registry_host_is_loopback(realm_host)))) {
                r = sb_error_set(err, EPROTO, "%s: token realm is not https", c->host);
                goto out;
        }
        if (ch->service) {
                cleanup_free char *q = sb_xasprintf("service=%s", ch->service);
                curl_url_set(u, CURLUPART_QUERY, q, CURLU_APPENDQUERY | CURLU_URLENCODE);
        }
        scope = sb_xasprintf("repository:%s:%s", c->repo, c->push ? "pull,push" : "pull");
        {
                cleanup_free char *q = sb_xasprintf("scope=%s", scope);
                curl_url_set(u, CURLUPART_QUERY, q, CURLU_APPENDQUERY | CURLU_URLENCODE);
        }
        if (ch->scope) {
                /* extra scopes the registry asked for, space-separated */
                cleanup_free char *all = sb_xstrdup(ch->scope);
                char *save = NULL;
                for (char *s = strtok_r(all, " ", &save); s; s = strtok_r(NULL, " ", &save)) {
                        if (strcmp(s, scope) == 0)
                                continue;
                        cleanup_free char *q = sb_xasprintf("scope=%s", s);
                        curl_url_set(u, CURLUPART_QUERY, q, CURLU_APPENDQUERY | CURLU_URLENCODE);
                }
        }
        if (curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK) {
                r = sb_error_set(err, EPROTO, "%s gave an invalid token realm", c->host);
                goto out;
        }
        x.url = url;
        x.basic_creds = c->creds.username != NULL;
        rc = perform_once(c, &x);
        if (rc != CURLE_OK) {
                r = transport_error(c, &x, rc, err);
                sb_error_prefix(err, "token request");
                goto out;
        }
        if (x.status != 200) {
                r = sb_error_set(err, EACCES, "token server %s refused %s (HTTP %ld)", realm_host,
                                 c->creds.username ? "the credentials from docker config.json"
                                                   : "an anonymous token",
                                 x.status);
                goto out;
        }
        root = json_loadb(x.body ? x.body : "", x.body_len, 0, NULL);
        tok = json_string_value(json_object_get(root, "access_token"));
        if (!tok || !*tok)
                tok = json_string_value(json_object_get(root, "token"));
        if (!tok || !*tok || strlen(tok) > TOKEN_MAX || !token_printable(tok)) {
                r = sb_error_set(err, EPROTO, "token server %s sent no usable token", realm_host);
                goto out;
        }
        if (c->token) {
                explicit_bzero(c->token, strlen(c->token));
                free(c->token);
        }
        c->token = sb_xstrdup(tok);
        c->auth = REGISTRY_AUTH_BEARER;
        r = 0;
out:
        if (x.body)
                explicit_bzero(x.body, x.body_len);
        registry_http_xfer_done(&x);
        json_decref(root);
        curl_free(url);
        curl_url_cleanup(u);
        return r;
}

/* After a 401: returns 1 to retry with new credentials, 0 to give up, -errno on error. */
static int authenticate(struct registry_client *c, struct registry_xfer *x, sb_error_t *err)
{
        struct registry_challenge ch = { 0 }, basic = { 0 };
        bool have_bearer = false, have_basic = false;
        int r;

        for (size_t i = 0; i < x->n_challenges && !have_bearer; i++) {
                struct registry_challenge t;
                if (registry_challenge_parse(x->challenges[i], &t, NULL) < 0)
                        continue;
                if (t.scheme == REGISTRY_AUTH_BEARER) {
                        ch = t;
                        have_bearer = true;
                } else if (!have_basic) {
                        basic = t;
                        have_basic = true;
                } else {
                        registry_challenge_done(&t);
                }
        }
        r = load_creds(c, err);
        if (r < 0)
                goto out;
        if (have_bearer) {
                r = fetch_token(c, &ch, err);
                r = r < 0 ? r : 1;
        } else if (have_basic && c->auth != REGISTRY_AUTH_BASIC && c->creds.username) {
                c->auth = REGISTRY_AUTH_BASIC;
                r = 1;
        } else {
                r = 0;
        }
out:
        registry_challenge_done(&ch);
        registry_challenge_done(&basic);
        return r;
}

/* Perform x; on 401 authenticate once and retry. 0 with x->status set, or -errno. */
int registry_http_request(struct registry_client *c, struct registry_xfer *x, sb_error_t *err)
{
        for (int attempt = 0;; attempt++) {
                CURLcode rc = perform_once(c, x);
                int r;

                if (rc != CURLE_OK)
                        return transport_error(c, x, rc, err);
                if (x->status != 401 || attempt > 0)
                        return 0;
                r = authenticate(c, x, err);
                if (r <= 0)
                        return r;
        }
}

int registry_http_perform(struct registry_client *c, struct registry_xfer *x, sb_error_t *err)
{
        CURLcode rc = perform_once(c, x);
        if (rc != CURLE_OK)
                return transport_error(c, x, rc, err);
        return 0;
}

/* Choose the scheme with GET /v2/: https first; http when allowed and https fails. */
int registry_http_ensure_base(struct registry_client *c, sb_error_t *err)
{
        static const char *const schemes[] = { "https", "http" };
        size_t n = c->allow_http ? 2 : 1;
        int r = 0;

        if (c->base)
                return 0;
        for (size_t i = 0; i < n; i++) {
                char *base = sb_xasprintf("%s://%s", schemes[i], c->host);
                char *url = sb_xasprintf("%s/v2/", base);
                struct registry_xfer x = {
                        .method = "GET", .url = url, .body_max = ERR_BODY_MAX, .up_fd = -1
                };
                CURLcode rc = perform_once(c, &x);

                /* an oversized /v2/ body still proves the scheme works */
                if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && x.too_big)) {
                        sb_debug("registry: %s speaks %s (GET /v2/ -> %ld)", c->host, schemes[i],
                                 x.status);
                        c->base = base;
                        free(url);
                        registry_http_xfer_done(&x);
                        return 0;
                }
                r = transport_error(c, &x, rc, err);
                sb_debug("registry: %s over %s failed: %s", c->host, schemes[i],
                         err ? err->msg : "");
                free(base);
                free(url);
                registry_http_xfer_done(&x);
        }
        return r;
}
