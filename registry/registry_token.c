/* Bearer tokens without the network: scope sets, token replies, and the token cache. */
#include "registry/registry_token.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/sb_cleanup.h"
#include "common/sb_util.h"
#include "registry/registry_ref.h"

#define SCOPE_LEN_MAX 1024

static void wipe_free(char *s)
{
        if (!s)
                return;
        explicit_bzero(s, strlen(s));
        free(s);
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Split "type:name:actions" at the first and the last ':' (a name may hold a port). */
static bool scope_split(const char *s, size_t *ret_res_len, const char **ret_actions)
{
        const char *first = strchr(s, ':'), *last = strrchr(s, ':');

        if (!first || first == s || last == first || last[1] == '\0' || last == first + 1)
                return false;
        *ret_res_len = (size_t) (last - s);
        *ret_actions = last + 1;
        return true;
}

/* "type:name:" + the sorted union of the comma lists a and b. */
static char *scope_merge(const char *res, size_t res_len, const char *a, const char *b)
{
        cleanup_strv char **acts = NULL;
        const char *lists[2] = { a, b };
        size_t len = res_len + 2;
        char *out, *p;

        for (size_t i = 0; i < 2; i++) {
                const char *l = lists[i];
                while (l && *l) {
                        size_t n = strcspn(l, ",");
                        if (n > 0) {
                                char *act = sb_xstrndup(l, n);
                                bool dup = false;
                                for (size_t j = 0; acts && acts[j]; j++)
                                        dup = dup || strcmp(acts[j], act) == 0;
                                if (dup) {
                                        free(act);
                                } else {
                                        len += n + 1;
                                        sb_strv_push_take(&acts, act);
                                }
                        }
                        l += n;
                        if (*l == ',')
                                l++;
                }
        }
        if (acts)
                qsort(acts, sb_strv_len(acts), sizeof(char *), cmp_str);
        out = sb_xmalloc(len);
        memcpy(out, res, res_len);
        p = out + res_len;
        *p++ = ':';
        for (size_t j = 0; acts && acts[j]; j++) {
                size_t n = strlen(acts[j]);
                if (j > 0)
                        *p++ = ',';
                memcpy(p, acts[j], n);
                p += n;
        }
        *p = '\0';
        return out;
}

int registry_scopes_add(char ***set, const char *list, sb_error_t *err)
{
        const char *p = list ? list : "";

        while (*p) {
                size_t n = strcspn(p, " \t"), res_len, have_len;
                const char *actions, *have_actions;
                cleanup_free char *one = NULL;
                bool merged = false;

                if (n == 0) {
                        p++;
                        continue;
                }
                if (n > SCOPE_LEN_MAX)
                        return sb_error_set(err, EINVAL, "token scope too long");
                one = sb_xstrndup(p, n);
                p += n;
                if (!scope_split(one, &res_len, &actions))
                        continue;
                for (size_t i = 0; *set && (*set)[i]; i++) {
                        char *cur = (*set)[i];
                        if (!scope_split(cur, &have_len, &have_actions) || have_len != res_len ||
                            strncmp(cur, one, res_len) != 0)
                                continue;
                        (*set)[i] = scope_merge(one, res_len, have_actions, actions);
                        free(cur);
                        merged = true;
                        break;
                }
                if (merged)
                        continue;
                if (sb_strv_len(*set) >= REGISTRY_SCOPES_MAX)
                        return sb_error_set(err, E2BIG, "more than %d token scopes",
                                            REGISTRY_SCOPES_MAX);
                sb_strv_push_take(set, scope_merge(one, res_len, actions, NULL));
        }
        if (*set)
                qsort(*set, sb_strv_len(*set), sizeof(char *), cmp_str);
        return 0;
}

char *registry_scopes_join(char *const *set)
{
        size_t len = 1;
        char *out, *p;

        for (size_t i = 0; set && set[i]; i++)
                len += strlen(set[i]) + 1;
        out = p = sb_xmalloc(len);
        for (size_t i = 0; set && set[i]; i++) {
                size_t n = strlen(set[i]);
                if (i > 0)
                        *p++ = ' ';
                memcpy(p, set[i], n);
                p += n;
        }
        *p = '\0';
        return out;
}

/* Is every action of the comma list want in the comma list have? */
static bool actions_cover(const char *have, const char *want)
{
        while (*want) {
                size_t n = strcspn(want, ",");
                bool found = false;
                for (const char *h = have; *h && !found;) {
                        size_t m = strcspn(h, ",");
                        found = m == n && strncmp(h, want, n) == 0;
                        h += m;
                        if (*h == ',')
                                h++;
                }
                if (n > 0 && !found)
                        return false;
                want += n;
                if (*want == ',')
                        want++;
        }
        return true;
}

bool registry_scopes_cover(char *const *have, char *const *want)
{
        for (size_t i = 0; want && want[i]; i++) {
                size_t wlen, hlen;
                const char *wact, *hact;
                bool found = false;

                if (!scope_split(want[i], &wlen, &wact))
                        continue;
                for (size_t j = 0; have && have[j] && !found; j++)
                        found = scope_split(have[j], &hlen, &hact) && hlen == wlen &&
                                strncmp(have[j], want[i], wlen) == 0 && actions_cover(hact, wact);
                if (!found)
                        return false;
        }
        return true;
}

int registry_token_scopes(const char *repo, bool push, const char *challenge_scope,
                          char *const *extra, char **ret, sb_error_t *err)
{
        cleanup_strv char **set = NULL;
        cleanup_free char *base = sb_xasprintf("repository:%s:%s", repo, push ? "pull,push" : "pull");
        int r;

        r = registry_scopes_add(&set, base, err);
        if (r == 0 && challenge_scope)
                r = registry_scopes_add(&set, challenge_scope, err);
        for (size_t i = 0; r == 0 && extra && extra[i]; i++)
                r = registry_scopes_add(&set, extra[i], err);
        if (r < 0)
                return r;
        *ret = registry_scopes_join(set);
        return 0;
}

int registry_token_realm_check(const char *realm, const char *registry_host, bool allow_http,
                               sb_error_t *err)
{
        CURLU *u = curl_url();
        char *host = NULL, *user = NULL, *scheme = NULL;
        int r = 0;

        if (!u || curl_url_set(u, CURLUPART_URL, realm, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) {
                r = sb_error_set(err, EPROTO, "%s gave an invalid token realm", registry_host);
        } else if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
                r = sb_error_set(err, EPROTO, "%s gave a token realm with credentials in it",
                                 registry_host);
        } else if (strcasecmp(scheme, "https") != 0) {
                size_t hl = strcspn(registry_host, ":");
                bool same_host = strlen(host) == hl && strncasecmp(host, registry_host, hl) == 0;
                if (strcasecmp(scheme, "http") != 0 ||
                    !(registry_host_is_loopback(host) || (allow_http && same_host)))
                        r = sb_error_set(err, EPROTO,
                                         "%s: token realm %s is not https; credentials are not "
                                         "sent over plain http",
                                         registry_host, host);
        }
        curl_free(host);
        curl_free(user);
        curl_free(scheme);
        curl_url_cleanup(u);
        return r;
}

void registry_token_reply_done(struct registry_token_reply *r)
{
        if (!r)
                return;
        wipe_free(r->token);
        wipe_free(r->refresh_token);
        r->token = r->refresh_token = NULL;
        r->expires_at = 0;
}

bool registry_token_printable(const char *t)
{
        for (; *t; t++)
                if ((unsigned char) *t <= 0x20 || (unsigned char) *t >= 0x7f)
                        return false;
        return true;
}

/* RFC 3339 ("2024-05-01T10:00:00.123+02:00") to epoch seconds; -1 when unparsable. */
static int64_t parse_rfc3339(const char *s)
{
        struct tm tm = { 0 };
        const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
        int64_t t, off = 0;

        if (!p)
                return -1;
        if (*p == '.')
                for (p++; *p >= '0' && *p <= '9'; p++)
                        ;
        if (*p == 'Z' || *p == 'z') {
                p++;
        } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
                int hh = (p[1] - '0') * 10 + (p[2] - '0'), mm = (p[4] - '0') * 10 + (p[5] - '0');
                off = (int64_t) hh * 3600 + mm * 60;
                if (*p == '+')
                        off = -off;
                p += 6;
        } else {
                return -1;
        }
        if (*p)
                return -1;
        t = (int64_t) timegm(&tm);
        return t == -1 ? -1 : t + off;
}

int registry_token_parse_reply(const char *body, size_t len, int64_t now,
                               struct registry_token_reply *ret, sb_error_t *err)
{
        json_t *root = json_loadb(body ? body : "", len, 0, NULL);
        const char *tok, *refresh, *issued;
        json_t *exp;
        int64_t life = REGISTRY_TOKEN_MIN_LIFE, start = now;
        int r = 0;

        memset(ret, 0, sizeof(*ret));
        if (!json_is_object(root)) {
                r = sb_error_set(err, EPROTO, "the token reply is not a JSON object");
                goto out;
        }
        tok = json_string_value(json_object_get(root, "access_token"));
        if (!tok || !*tok)
                tok = json_string_value(json_object_get(root, "token"));
        if (!tok || !*tok || strlen(tok) > REGISTRY_TOKEN_MAX || !registry_token_printable(tok)) {
                r = sb_error_set(err, EPROTO, "the token reply holds no usable token");
                goto out;
        }
        refresh = json_string_value(json_object_get(root, "refresh_token"));
        if (refresh && (!*refresh || strlen(refresh) > REGISTRY_TOKEN_MAX ||
                        !registry_token_printable(refresh)))
                refresh = NULL;
        exp = json_object_get(root, "expires_in");
        if (json_is_integer(exp) && json_integer_value(exp) > life)
                life = json_integer_value(exp) > 365LL * 86400 ? 365LL * 86400
                                                                : json_integer_value(exp);
        issued = json_string_value(json_object_get(root, "issued_at"));
        if (issued) {
                int64_t t = parse_rfc3339(issued);
                if (t >= 0 && t < now)
                        start = t;
        }
        ret->token = sb_xstrdup(tok);
        ret->refresh_token = refresh ? sb_xstrdup(refresh) : NULL;
        ret->expires_at = start + life;
out:
        if (root) {
                /* jansson holds copies of the secrets: clear them before they are freed */
                static const char *const secret_keys[] = { "access_token", "token",
                                                           "refresh_token" };
                for (size_t i = 0; i < 3; i++) {
                        json_t *v = json_object_get(root, secret_keys[i]);
                        if (json_is_string(v))
                                explicit_bzero((char *) json_string_value(v),
                                               json_string_length(v));
                }
                json_decref(root);
        }
        return r;
}

static void form_append(char **buf, size_t *len, size_t *cap, const char *key, const char *val)
{
        static const char hex[] = "0123456789ABCDEF";
        size_t need = *len + strlen(key) + 3 * strlen(val) + 3;

        if (need > *cap) {
                size_t ncap = need * 2;
                char *n = sb_xmalloc(ncap);
                if (*buf) {
                        memcpy(n, *buf, *len);
                        explicit_bzero(*buf, *len);
                        free(*buf);
                }
                *buf = n;
                *cap = ncap;
        }
        if (*len > 0)
                (*buf)[(*len)++] = '&';
        for (const char *k = key; *k; k++)
                (*buf)[(*len)++] = *k;
        (*buf)[(*len)++] = '=';
        for (const unsigned char *v = (const unsigned char *) val; *v; v++) {
                if ((*v >= 'a' && *v <= 'z') || (*v >= 'A' && *v <= 'Z') ||
                    (*v >= '0' && *v <= '9') || *v == '-' || *v == '_' || *v == '.' || *v == '~') {
                        (*buf)[(*len)++] = (char) *v;
                } else {
                        (*buf)[(*len)++] = '%';
                        (*buf)[(*len)++] = hex[*v >> 4];
                        (*buf)[(*len)++] = hex[*v & 15];
                }
        }
        (*buf)[*len] = '\0';
}

char *registry_token_refresh_form(const char *refresh_token, const char *service,
                                  const char *scopes, const char *client_id)
{
        char *buf = NULL;
        size_t len = 0, cap = 0;

        form_append(&buf, &len, &cap, "grant_type", "refresh_token");
        form_append(&buf, &len, &cap, "refresh_token", refresh_token);
        if (service)
                form_append(&buf, &len, &cap, "service", service);
        form_append(&buf, &len, &cap, "client_id", client_id);
        if (scopes && *scopes)
                form_append(&buf, &len, &cap, "scope", scopes);
        return buf;
}

struct cache_entry {
        char *key; /* realm \n service \n scopes */
        char *token;
        int64_t expires_at;
        uint64_t stamp;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cache_entry cache[REGISTRY_TOKEN_CACHE_MAX];
static uint64_t cache_stamp;

static char *cache_key(const char *realm, const char *service, const char *scopes)
{
        return sb_xasprintf("%s\n%s\n%s", realm, service ? service : "", scopes ? scopes : "");
}

static void entry_clear(struct cache_entry *e)
{
        free(e->key);
        wipe_free(e->token);
        memset(e, 0, sizeof(*e));
}

static struct cache_entry *cache_find(const char *key)
{
        for (size_t i = 0; i < REGISTRY_TOKEN_CACHE_MAX; i++)
                if (cache[i].key && strcmp(cache[i].key, key) == 0)
                        return &cache[i];
        return NULL;
}

int registry_token_cache_get(const char *realm, const char *service, const char *scopes,
                             int64_t now, char **ret_token)
{
        cleanup_free char *key = cache_key(realm, service, scopes);
        struct cache_entry *e;
        int r = 0;

        *ret_token = NULL;
        pthread_mutex_lock(&cache_lock);
        e = cache_find(key);
        if (e && e->expires_at - REGISTRY_TOKEN_MARGIN > now) {
                *ret_token = sb_xstrdup(e->token);
                r = 1;
        } else if (e) {
                entry_clear(e);
        }
        pthread_mutex_unlock(&cache_lock);
        return r;
}

void registry_token_cache_put(const char *realm, const char *service, const char *scopes,
                              const char *token, int64_t expires_at)
{
        char *key = cache_key(realm, service, scopes);
        struct cache_entry *e;

        pthread_mutex_lock(&cache_lock);
        e = cache_find(key);
        if (!e) {
                e = &cache[0];
                for (size_t i = 0; i < REGISTRY_TOKEN_CACHE_MAX; i++) {
                        if (!cache[i].key) {
                                e = &cache[i];
                                break;
                        }
                        if (cache[i].stamp < e->stamp)
                                e = &cache[i];
                }
        }
        entry_clear(e);
        e->key = key;
        e->token = sb_xstrdup(token);
        e->expires_at = expires_at;
        e->stamp = ++cache_stamp;
        pthread_mutex_unlock(&cache_lock);
}

void registry_token_cache_drop(const char *realm, const char *service, const char *scopes)
{
        cleanup_free char *key = cache_key(realm, service, scopes);
        struct cache_entry *e;

        pthread_mutex_lock(&cache_lock);
        e = cache_find(key);
        if (e)
                entry_clear(e);
        pthread_mutex_unlock(&cache_lock);
}

void registry_token_cache_clear(void)
{
        pthread_mutex_lock(&cache_lock);
        for (size_t i = 0; i < REGISTRY_TOKEN_CACHE_MAX; i++)
                entry_clear(&cache[i]);
        pthread_mutex_unlock(&cache_lock);
}
