#pragma once
/*
 * Internal to registry/: the bearer-token side of registry authentication that needs no
 * network: scope sets, token responses, and the process-wide token cache. The HTTP requests
 * themselves are in registry_http.c. Tokens never appear in logs or error messages.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/sb_error.h"

/* Token responses are small JSON documents; tokens themselves are bounded too. */
#define REGISTRY_TOKEN_BODY_MAX  (1024u * 1024u)
#define REGISTRY_TOKEN_MAX       (64u * 1024u)
/* Lifetime when the server gives none (and the least it may give), as docker does. */
#define REGISTRY_TOKEN_MIN_LIFE  60
/* A cached token is not handed out when it has less than this left. */
#define REGISTRY_TOKEN_MARGIN    5
#define REGISTRY_TOKEN_CACHE_MAX 64
#define REGISTRY_SCOPES_MAX      32

/*
 * Add the space-separated scopes in list ("repository:lab/t:pull,push registry:catalog:*")
 * to the set *set (a NULL-terminated strv, may start NULL). Scopes naming the same
 * resource ("type:name", split at the first and last ':') merge their actions, so
 * "repository:a:pull" + "repository:a:push" is "repository:a:pull,push". Malformed entries
 * (fewer than three parts) are skipped; more than REGISTRY_SCOPES_MAX resources is -E2BIG.
 */
int registry_scopes_add(char ***set, const char *list, sb_error_t *err);
/* The set as one canonical string: resources sorted, actions sorted, space-separated. */
char *registry_scopes_join(char *const *set);
/* True when every resource and action in want is in have (both canonical or not). */
bool registry_scopes_cover(char *const *have, char *const *want);

/*
 * The scopes a token for one request needs, canonical: "repository:<repo>:pull" (with
 * ",push" when push), the challenge's scope list (may be NULL) and the extra scopes (e.g. a
 * mount's "repository:OTHER:pull"; NULL-terminated or NULL).
 */
int registry_token_scopes(const char *repo, bool push, const char *challenge_scope,
                          char *const *extra, char **ret, sb_error_t *err);

/*
 * May credentials go to this token realm? It must be an http(s) URL without userinfo, and
 * https unless its host is loopback (test token servers) or is the registry's own host
 * (host[:port]) while plain http is allowed for that registry. -EPROTO otherwise.
 */
int registry_token_realm_check(const char *realm, const char *registry_host, bool allow_http,
                               sb_error_t *err);

struct registry_token_reply {
        char *token;         /* access_token, else token */
        char *refresh_token; /* NULL unless the server sent one */
        int64_t expires_at;  /* CLOCK_REALTIME seconds */
};
void registry_token_reply_done(struct registry_token_reply *r);

/*
 * Parse a token server's JSON reply received at now (realtime seconds). The token must be
 * printable ASCII without spaces and at most REGISTRY_TOKEN_MAX bytes. The lifetime is
 * expires_in (at least REGISTRY_TOKEN_MIN_LIFE) from issued_at (RFC 3339) when given, but
 * never later than now + expires_in, so a server clock ahead of ours cannot stretch it.
 */
int registry_token_parse_reply(const char *body, size_t len, int64_t now,
                               struct registry_token_reply *ret, sb_error_t *err);

/* True when t could go in an Authorization header as is. */
bool registry_token_printable(const char *t);

/*
 * The form body of an OAuth2 refresh-token POST (docs "oauth.md"): grant_type=refresh_token,
 * refresh_token, service (when not NULL), client_id, scope (space-separated), every value
 * form-encoded. The caller wipes and frees it.
 */
char *registry_token_refresh_form(const char *refresh_token, const char *service,
                                  const char *scopes, const char *client_id);

/*
 * The process-wide cache, keyed by (realm, service, canonical scope string); service may be
 * NULL. Thread-safe. get returns a copy of a token valid at now for at least
 * REGISTRY_TOKEN_MARGIN seconds (1), or 0. put replaces an entry (the oldest goes when the
 * cache is full). drop forgets an entry, e.g. after the registry refused the token.
 */
int registry_token_cache_get(const char *realm, const char *service, const char *scopes,
                             int64_t now, char **ret_token);
void registry_token_cache_put(const char *realm, const char *service, const char *scopes,
                              const char *token, int64_t expires_at);
void registry_token_cache_drop(const char *realm, const char *service, const char *scopes);
/* Forget every cached token (tests; and before the agent exits). */
void registry_token_cache_clear(void);
