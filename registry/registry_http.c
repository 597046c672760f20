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
#include <time.h>
#include <unistd.h>

#include "common/sb_cleanup.h"
#include "common/sb_log.h"
#include "common/sb_util.h"
#include "image/image_oci.h"
#include "registry/registry_auth.h"
#include "registry/registry_ref.h"
#include "registry/registry_retry.h"
#include "registry/registry_token.h"

#define ERR_BODY_MAX    REGISTRY_ERR_BODY_MAX
/* OAuth2 client_id sent with refresh-token requests */
#define TOKEN_CLIENT_ID "sbuild"
#define HDR_VALUE_MAX   8192u
#define USER_AGENT "sbuild/0.1"
#define SYSTEM_CA_DIR "/etc/ssl/certs"

static void xfer_reset_response(struct registry_xfer *x)
{
        free(x->location);
        free(x->content_digest);
        free(x->content_type_resp);
        free(x->last_modified);
        free(x->retry_after);
        x->location = x->content_digest = x->content_type_resp = x->last_modified = NULL;
        x->retry_after = NULL;
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
                /* body_max 0: a body nobody asked for; keep its start like an error's */
                if (x->body_max == 0)
                        goto keep_start;
                if (x->body_len + len > x->body_max) {
                        x->too_big = true;
                        return 0;
                }
                body_append(x, p, len);
                return len;
        }
keep_start:
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
        else if (nlen == 11 && strncasecmp(p, "retry-after", 11) == 0)
                slot = &x->retry_after;
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

/* url is on the client's registry (either scheme): its TLS options apply. */
static bool for_registry(const struct registry_client *c, const char *url)
{
        cleanup_free char *https = NULL;
        cleanup_free char *http = NULL;

        if (!c->host)
                return false;
        https = sb_xasprintf("https://%s/", c->host);
        http = sb_xasprintf("http://%s/", c->host);
        return same_origin(url, https) || same_origin(url, http);
}

static CURLcode perform_once(struct registry_client *c, struct registry_xfer *x)
{
        CURL *h = c->curl;
        struct curl_slist *hdrs = NULL;
        cleanup_free char *ctype = NULL;
        cleanup_free char *crange = NULL;
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
        /* every request (registry, token, ADD download) gets both limits: a server that
         * stops sending (or answering) fails the request instead of hanging the build */
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, REGISTRY_CONNECT_TIMEOUT);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, REGISTRY_STALL_BYTES);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, REGISTRY_STALL_TIME);
        curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_2TLS);
        curl_easy_setopt(h, CURLOPT_USERAGENT, USER_AGENT);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
        if (c->skip_tls_verify) {
                curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
                curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
        }
        /* Per-registry TLS material applies only to that registry's own URLs, never to a
         * redirect target or token realm elsewhere. */
        if (c->ca_file && for_registry(c, x->url)) {
                /* CAINFO replaces the default bundle; CAPATH keeps the system CAs trusted */
                curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
                curl_easy_setopt(h, CURLOPT_CAPATH, SYSTEM_CA_DIR);
        }
        if (c->client_cert && c->client_key && for_registry(c, x->url)) {
                curl_easy_setopt(h, CURLOPT_SSLCERT, c->client_cert);
                curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
                curl_easy_setopt(h, CURLOPT_SSLKEY, c->client_key);
                curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
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
                /* up_data: a small in-memory body (the token refresh form); else none */
                curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                                 (curl_off_t) (x->up_data ? x->up_size : 0));
                curl_easy_setopt(h, CURLOPT_POSTFIELDS, x->up_data ? x->up_data : "");
        } else if (strcmp(x->method, "DELETE") == 0) {
                curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
        } else if (strcmp(x->method, "PUT") == 0 || strcmp(x->method, "PATCH") == 0) {
                curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
                if (strcmp(x->method, "PATCH") == 0)
                        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PATCH");
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
        if (x->content_range) {
                crange = sb_xasprintf("Content-Range: %s", x->content_range);
                hdrs = curl_slist_append(hdrs, crange);
        }
        if (x->registry_auth && ours && c->auth == REGISTRY_AUTH_BEARER && c->token) {
                authz = sb_xasprintf("Authorization: Bearer %s", c->token);
                hdrs = curl_slist_append(hdrs, authz);
        }
        /* Basic credentials go to the registry itself once it asked for them, and to a
         * token realm (x->basic_creds); never in the URL */
        if (((x->registry_auth && ours && c->auth == REGISTRY_AUTH_BASIC) || x->basic_creds) &&
            c->creds.username && c->creds.password) {
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
        case CURLE_PEER_FAILED_VERIFICATION:
                return sb_error_set(err, EPROTO,
                                    "TLS certificate of %s not trusted: %s (--registry-certificate "
                                    "%s=CA.pem adds a CA)",
                                    c->host, detail, c->host);
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CONNECT_ERROR:
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
        if (x->retried > 0) {
                size_t l = strlen(msg);
                snprintf(msg + l, sizeof(msg) - l, " (after %d retr%s)", x->retried,
                         x->retried == 1 ? "y" : "ies");
        }

        switch (x->status) {
        case 401:
                if (!registry_creds_present(&c->creds))
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

/* GET realm?service=&scope=... (Basic credentials or anonymous), or with a refresh token
 * POST the OAuth2 form; the reply parsed into ret. */
static int token_request(struct registry_client *c, const struct registry_challenge *ch,
                         const char *scopes, struct registry_token_reply *ret, sb_error_t *err)
{
        struct registry_xfer x = { .body_max = REGISTRY_TOKEN_BODY_MAX, .up_fd = -1 };
        const char *who = "an anonymous token";
        char *form = NULL, *url = NULL;
        CURLU *u = curl_url();
        CURLcode rc;
        int r;

        if (c->creds.identity_token) {
                form = registry_token_refresh_form(c->creds.identity_token, ch->service, scopes,
                                                   TOKEN_CLIENT_ID);
                x.method = "POST";
                x.url = ch->realm;
                x.up_data = form;
                x.up_size = strlen(form);
                x.content_type = "application/x-www-form-urlencoded";
                who = "the identity token";
                rc = perform_once(c, &x);
                /* a token server without the OAuth2 endpoint: docker then uses GET */
                if (rc == CURLE_OK && (x.status == 404 || x.status == 405) &&
                    c->creds.password) {
                        explicit_bzero(form, strlen(form));
                        x.up_data = NULL;
                        x.up_size = 0;
                        x.content_type = NULL;
                } else {
                        goto done;
                }
        }
        if (!u || curl_url_set(u, CURLUPART_URL, ch->realm, 0) != CURLUE_OK) {
                r = sb_error_set(err, EPROTO, "%s gave an invalid token realm", c->host);
                goto out;
        }
        if (ch->service) {
                cleanup_free char *q = sb_xasprintf("service=%s", ch->service);
                curl_url_set(u, CURLUPART_QUERY, q, CURLU_APPENDQUERY | CURLU_URLENCODE);
        }
        for (const char *p = scopes; *p;) {
                size_t n = strcspn(p, " ");
                cleanup_free char *one = sb_xstrndup(p, n);
                cleanup_free char *q = sb_xasprintf("scope=%s", one);
                curl_url_set(u, CURLUPART_QUERY, q, CURLU_APPENDQUERY | CURLU_URLENCODE);
                p += n;
                while (*p == ' ')
                        p++;
        }
        if (curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK) {
                r = sb_error_set(err, EPROTO, "%s gave an invalid token realm", c->host);
                goto out;
        }
        x.method = "GET";
        x.url = url;
        x.basic_creds = c->creds.username && c->creds.password;
        if (x.basic_creds)
                who = "the credentials from docker config.json";
        rc = perform_once(c, &x);
done:
        if (rc != CURLE_OK) {
                r = transport_error(c, &x, rc, err);
                sb_error_prefix(err, "token request");
                goto out;
        }
        if (x.status != 200) {
                cleanup_free char *rhost = NULL;
                CURLU *ru = curl_url();
                if (ru && curl_url_set(ru, CURLUPART_URL, ch->realm, 0) == CURLUE_OK)
                        curl_url_get(ru, CURLUPART_HOST, &rhost, 0);
                curl_url_cleanup(ru);
                r = sb_error_set(err, EACCES, "token server %s refused %s for %s (HTTP %ld)",
                                 rhost ? rhost : "(unknown)", who, c->host, x.status);
                goto out;
        }
        r = registry_token_parse_reply(x.body, x.body_len, (int64_t) time(NULL), ret, err);
        if (r < 0)
                sb_error_prefix(err, "token server for %s", c->host);
out:
        if (x.body)
                explicit_bzero(x.body, x.body_len);
        if (form) {
                explicit_bzero(form, strlen(form));
                free(form);
        }
        registry_http_xfer_done(&x);
        curl_free(url);
        curl_url_cleanup(u);
        return r;
}

static void set_token(struct registry_client *c, const char *tok)
{
        if (c->token) {
                explicit_bzero(c->token, strlen(c->token));
                free(c->token);
        }
        c->token = sb_xstrdup(tok);
        c->auth = REGISTRY_AUTH_BEARER;
}

/* A token for the challenge's realm and the scopes this request needs: from the cache
 * unless it is the token the registry just refused, else from the token server. */
static int fetch_token(struct registry_client *c, const struct registry_challenge *ch,
                       char *const *extra, sb_error_t *err)
{
        struct registry_token_reply reply = { 0 };
        cleanup_free char *scopes = NULL;
        char *cached = NULL;
        int r;

        if (!ch->realm)
                return sb_error_set(err, EPROTO, "%s asked for a token without a realm", c->host);
        r = registry_token_realm_check(ch->realm, c->host, c->allow_http, err);
        if (r < 0)
                return r;
        r = registry_token_scopes(c->repo, c->push, ch->scope, extra, &scopes, err);
        if (r < 0)
                return r;
        if (registry_token_cache_get(ch->realm, ch->service, scopes, (int64_t) time(NULL),
                                     &cached) > 0) {
                bool refused = c->token && strcmp(c->token, cached) == 0;
                if (!refused) {
                        sb_debug("registry: cached token for %s (%s)", c->host, scopes);
                        set_token(c, cached);
                        explicit_bzero(cached, strlen(cached));
                        free(cached);
                        return 0;
                }
                registry_token_cache_drop(ch->realm, ch->service, scopes);
                explicit_bzero(cached, strlen(cached));
                free(cached);
        }
        sb_debug("registry: requesting a token for %s (%s)", c->host, scopes);
        r = token_request(c, ch, scopes, &reply, err);
        if (r < 0)
                return r;
        registry_token_cache_put(ch->realm, ch->service, scopes, reply.token, reply.expires_at);
        set_token(c, reply.token);
        registry_token_reply_done(&reply);
        return 0;
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
        if (have_bearer && c->creds.registry_token) {
                /* a registry token goes as it is; once refused there is nothing else to try */
                r = 0;
                if (!c->token || strcmp(c->token, c->creds.registry_token) != 0) {
                        set_token(c, c->creds.registry_token);
                        r = 1;
                }
        } else if (have_bearer) {
                r = fetch_token(c, &ch, x->scopes, err);
                r = r < 0 ? r : 1;
        } else if (have_basic && c->auth != REGISTRY_AUTH_BASIC && c->creds.username &&
                   c->creds.password) {
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

/*
 * Perform x; on 401 authenticate once and retry; retry connection errors, timeouts, 5xx and
 * 429 up to c->retries times. 0 with x->status set, or -errno.
 */
int registry_http_request(struct registry_client *c, struct registry_xfer *x, sb_error_t *err)
{
        bool authed = false;

        x->retried = 0;
        for (;;) {
                CURLcode rc = perform_once(c, x);
                bool again;
                int r = 0;

                if (rc == CURLE_OK && x->status == 401 && !authed) {
                        authed = true;
                        r = authenticate(c, x, err);
                        if (r <= 0)
                                return r;
                        continue;
                }
                again = rc != CURLE_OK ? registry_retry_code(x, rc) : registry_retry_status(x->status);
                if (!again || x->retried >= c->retries || !registry_retry_rewind(x, err, &r)) {
                        if (r < 0)
                                return r;
                        if (rc == CURLE_OK)
                                return 0;
                        r = transport_error(c, x, rc, err);
                        if (x->retried > 0)
                                sb_error_prefix(err, "after %d retr%s", x->retried,
                                                x->retried == 1 ? "y" : "ies");
                        return r;
                }
                unsigned ms = registry_retry_wait_ms(c, x, x->retried);
                sb_debug("registry: %s %s failed (%s), retry %d of %d in %u ms", x->method,
                         x->url, rc != CURLE_OK ? curl_easy_strerror(rc) : "server error",
                         x->retried + 1, c->retries, ms);
                x->retried++;
                registry_retry_sleep_ms(ms);
        }
}

int registry_http_perform(struct registry_client *c, struct registry_xfer *x, sb_error_t *err)
{
        CURLcode rc = perform_once(c, x);
        if (rc != CURLE_OK)
                return transport_error(c, x, rc, err);
        return 0;
}

/* The https attempt failed in a way that shows the server speaks TLS: falling back to
 * plain http would only hide the real problem (an untrusted certificate, a refused client
 * certificate). */
static bool tls_is_spoken(CURLcode rc)
{
        return rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ||
               rc == CURLE_SSL_CERTPROBLEM;
}

/* Choose the scheme with GET /v2/: https first; http when allowed and https fails. The probe
 * is retried like any request (c->retries). */
int registry_http_ensure_base(struct registry_client *c, sb_error_t *err)
{
        static const char *const schemes[] = { "https", "http" };
        size_t n = c->allow_http ? 2 : 1;
        sb_error_t https_err = { 0 };
        int r = 0;

        if (c->base)
                return 0;
        for (size_t i = 0; i < n; i++) {
                char *base = sb_xasprintf("%s://%s", schemes[i], c->host);
                char *url = sb_xasprintf("%s/v2/", base);
                struct registry_xfer x = {
                        .method = "GET", .url = url, .body_max = ERR_BODY_MAX, .up_fd = -1
                };
                CURLcode rc;

                for (int tries = 0;; tries++) {
                        rc = perform_once(c, &x);
                        if (rc == CURLE_OK && !registry_retry_status(x.status))
                                break;
                        if (rc != CURLE_OK && !registry_retry_code(&x, rc))
                                break;
                        if (tries >= c->retries)
                                break;
                        registry_retry_sleep_ms(registry_retry_wait_ms(c, &x, tries));
                }
                /* a plain-http answer "400: HTTP request to an HTTPS server" is not a registry */
                if (i == 1 && rc == CURLE_OK && x.status == 400 && https_err.code) {
                        rc = CURLE_SSL_CONNECT_ERROR;
                } else if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && x.too_big)) {
                        /* (an oversized /v2/ body still proves the scheme works) */
                        sb_debug("registry: %s speaks %s (GET /v2/ -> %ld)", c->host, schemes[i],
                                 x.status);
                        c->base = base;
                        free(url);
                        registry_http_xfer_done(&x);
                        return 0;
                }
                if (i == 0) {
                        r = transport_error(c, &x, rc, &https_err);
                        sb_debug("registry: %s over https failed: %s", c->host, https_err.msg);
                        if (tls_is_spoken(rc))
                                n = 1;
                } else if (rc != CURLE_SSL_CONNECT_ERROR) {
                        /* both failed: the http error says more when https was refused */
                        r = transport_error(c, &x, rc, &https_err);
                }
                free(base);
                free(url);
                registry_http_xfer_done(&x);
        }
        if (err)
                *err = https_err;
        return r;
}
