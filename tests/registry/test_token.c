#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/sb_error.h"
#include "common/sb_util.h"
#include "registry/registry_token.h"

static char *scopes_of(const char *a, const char *b)
{
        char **set = NULL;
        char *s;

        cr_assert_eq(registry_scopes_add(&set, a, NULL), 0);
        cr_assert_eq(registry_scopes_add(&set, b, NULL), 0);
        s = registry_scopes_join(set);
        sb_strv_free(set);
        return s;
}

Test(registry_token, scopes_for_one_repository_merge_their_actions)
{
        char *s = scopes_of("repository:lab/t:push", "repository:lab/t:pull repository:lab/t:pull");

        cr_assert_str_eq(s, "repository:lab/t:pull,push");
        free(s);
}

Test(registry_token, scope_sets_are_canonical_whatever_the_order)
{
        char *a = scopes_of("repository:b:pull", "repository:a:push,pull");
        char *b = scopes_of("repository:a:pull repository:a:push", "repository:b:pull");

        cr_assert_str_eq(a, "repository:a:pull,push repository:b:pull");
        cr_assert_str_eq(a, b);
        free(a);
        free(b);
}

Test(registry_token, a_port_in_the_resource_name_is_kept)
{
        char *s = scopes_of("repository:host:5000/x:pull", "repository:host:5000/x:push");

        cr_assert_str_eq(s, "repository:host:5000/x:pull,push");
        free(s);
}

Test(registry_token, malformed_scopes_are_skipped)
{
        char *s = scopes_of("repository:nothing repository:ok:pull", "junk ::");

        cr_assert_str_eq(s, "repository:ok:pull");
        free(s);
}

Test(registry_token, too_many_scopes_are_refused)
{
        char **set = NULL;
        sb_error_t err = { 0 };
        int r = 0;

        for (int i = 0; i <= REGISTRY_SCOPES_MAX && r == 0; i++) {
                char *one = sb_xasprintf("repository:r%d:pull", i);
                r = registry_scopes_add(&set, one, &err);
                free(one);
        }
        cr_assert_eq(r, -E2BIG);
        sb_strv_free(set);
}

Test(registry_token, cover_needs_every_resource_and_action)
{
        char **have = NULL, **want = NULL;

        registry_scopes_add(&have, "repository:a:pull,push repository:b:pull", NULL);
        registry_scopes_add(&want, "repository:a:push", NULL);
        cr_assert(registry_scopes_cover(have, want));
        registry_scopes_add(&want, "repository:b:push", NULL);
        cr_assert_not(registry_scopes_cover(have, want));
        sb_strv_free(have);
        sb_strv_free(want);
}

#define NOW 1700000000LL /* 2023-11-14T22:13:20Z */

Test(registry_token, reply_without_expiry_lives_sixty_seconds)
{
        struct registry_token_reply r;
        const char body[] = "{\"token\":\"abc.def\"}";

        cr_assert_eq(registry_token_parse_reply(body, strlen(body), NOW, &r, NULL), 0);
        cr_assert_str_eq(r.token, "abc.def");
        cr_assert_null(r.refresh_token);
        cr_assert_eq(r.expires_at, NOW + 60);
        registry_token_reply_done(&r);
}

Test(registry_token, access_token_wins_and_short_lifetimes_are_raised)
{
        struct registry_token_reply r;
        const char body[] = "{\"token\":\"old\",\"access_token\":\"new\",\"expires_in\":5,"
                            "\"refresh_token\":\"rt\"}";

        cr_assert_eq(registry_token_parse_reply(body, strlen(body), NOW, &r, NULL), 0);
        cr_assert_str_eq(r.token, "new");
        cr_assert_str_eq(r.refresh_token, "rt");
        cr_assert_eq(r.expires_at, NOW + 60);
        registry_token_reply_done(&r);
}

Test(registry_token, lifetime_counts_from_issued_at_but_not_from_the_future)
{
        struct registry_token_reply r;
        /* issued 100 s before NOW, valid 300 s */
        const char past[] = "{\"token\":\"t\",\"expires_in\":300,"
                            "\"issued_at\":\"2023-11-14T22:11:40.5Z\"}";
        /* the server's clock is an hour ahead (in +01:00 notation) */
        const char future[] = "{\"token\":\"t\",\"expires_in\":300,"
                              "\"issued_at\":\"2023-11-15T00:13:20+01:00\"}";

        cr_assert_eq(registry_token_parse_reply(past, strlen(past), NOW, &r, NULL), 0);
        cr_assert_eq(r.expires_at, NOW - 100 + 300);
        registry_token_reply_done(&r);
        cr_assert_eq(registry_token_parse_reply(future, strlen(future), NOW, &r, NULL), 0);
        cr_assert_eq(r.expires_at, NOW + 300);
        registry_token_reply_done(&r);
}

Test(registry_token, unusable_replies_are_errors_without_the_token_in_them)
{
        struct registry_token_reply r;
        sb_error_t err = { 0 };
        static const char bad[][64] = {
                "", "[]", "{}", "{\"token\":\"\"}", "{\"token\":\"has space-secret\"}",
                "{\"token\":\"nl\\nsecret\"}", "{\"token\":42}",
        };

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                cr_assert_eq(registry_token_parse_reply(bad[i], strlen(bad[i]), NOW, &r, &err),
                             -EPROTO, "%s", bad[i]);
                cr_assert_null(strstr(err.msg, "secret"), "%s", err.msg);
                cr_assert_null(r.token);
        }
}

Test(registry_token, cache_serves_a_token_until_it_expires)
{
        char *t = NULL;

        registry_token_cache_clear();
        registry_token_cache_put("http://127.0.0.1:1/token", "svc", "repository:a:pull", "tok-1",
                                 NOW + 60);
        cr_assert_eq(registry_token_cache_get("http://127.0.0.1:1/token", "svc",
                                              "repository:a:pull", NOW, &t),
                     1);
        cr_assert_str_eq(t, "tok-1");
        free(t);
        /* another scope set, service or realm is another entry */
        cr_assert_eq(registry_token_cache_get("http://127.0.0.1:1/token", "svc",
                                              "repository:a:pull,push", NOW, &t),
                     0);
        cr_assert_null(t);
        cr_assert_eq(registry_token_cache_get("http://127.0.0.1:1/token", NULL,
                                              "repository:a:pull", NOW, &t),
                     0);
        cr_assert_eq(registry_token_cache_get("http://127.0.0.1:2/token", "svc",
                                              "repository:a:pull", NOW, &t),
                     0);
        /* close to expiry it is no longer handed out, and it is gone afterwards */
        cr_assert_eq(registry_token_cache_get("http://127.0.0.1:1/token", "svc",
                                              "repository:a:pull", NOW + 60 - REGISTRY_TOKEN_MARGIN,
                                              &t),
                     0);
        cr_assert_eq(registry_token_cache_get("http://127.0.0.1:1/token", "svc",
                                              "repository:a:pull", NOW, &t),
                     0);
}

Test(registry_token, cache_replaces_drops_and_evicts)
{
        char *t = NULL;

        registry_token_cache_clear();
        registry_token_cache_put("r", "s", "x", "one", NOW + 600);
        registry_token_cache_put("r", "s", "x", "two", NOW + 600);
        cr_assert_eq(registry_token_cache_get("r", "s", "x", NOW, &t), 1);
        cr_assert_str_eq(t, "two");
        free(t);
        registry_token_cache_drop("r", "s", "x");
        cr_assert_eq(registry_token_cache_get("r", "s", "x", NOW, &t), 0);

        /* a full cache forgets its oldest entry, not the newest */
        for (int i = 0; i <= REGISTRY_TOKEN_CACHE_MAX; i++) {
                char *scope = sb_xasprintf("s%d", i);
                registry_token_cache_put("r", "s", scope, "tok", NOW + 600);
                free(scope);
        }
        cr_assert_eq(registry_token_cache_get("r", "s", "s0", NOW, &t), 0);
        cr_assert_eq(registry_token_cache_get("r", "s", "s1", NOW, &t), 1);
        free(t);
        char *last = sb_xasprintf("s%d", REGISTRY_TOKEN_CACHE_MAX);
        cr_assert_eq(registry_token_cache_get("r", "s", last, NOW, &t), 1);
        free(t);
        free(last);
        registry_token_cache_clear();
}

Test(registry_token, refresh_form_is_encoded)
{
        char *f = registry_token_refresh_form("a+b/c=", "lab reg", "repository:a:pull,push "
                                                                    "repository:b:pull",
                                              "sbuild");

        cr_assert_str_eq(f, "grant_type=refresh_token&refresh_token=a%2Bb%2Fc%3D&service=lab%20reg"
                            "&client_id=sbuild&scope=repository%3Aa%3Apull%2Cpush%20repository%3Ab"
                            "%3Apull");
        free(f);
}

Test(registry_token, scopes_for_a_request_join_repository_challenge_and_extras)
{
        char *s = NULL;
        char extra0[] = "repository:lab/other:pull";
        char *const extra[] = { extra0, NULL };

        cr_assert_eq(registry_token_scopes("lab/t", true, "repository:lab/t:pull", extra, &s,
                                           NULL),
                     0);
        cr_assert_str_eq(s, "repository:lab/other:pull repository:lab/t:pull,push");
        free(s);
        cr_assert_eq(registry_token_scopes("lab/t", false, NULL, NULL, &s, NULL), 0);
        cr_assert_str_eq(s, "repository:lab/t:pull");
        free(s);
}

Test(registry_token, credentials_go_only_to_https_or_loopback_realms)
{
        sb_error_t err = { 0 };

        cr_assert_eq(registry_token_realm_check("https://auth.example/token", "reg.example",
                                                false, &err),
                     0);
        cr_assert_eq(registry_token_realm_check("http://127.0.0.1:5904/token", "reg.example",
                                                false, &err),
                     0);
        cr_assert_eq(registry_token_realm_check("http://localhost/token", "reg.example", false,
                                                &err),
                     0);
        cr_assert_eq(registry_token_realm_check("http://auth.example/token", "reg.example",
                                                false, &err),
                     -EPROTO);
        cr_assert(strstr(err.msg, "not https"), "%s", err.msg);
        /* plain http allowed for the registry covers its own host, not another */
        cr_assert_eq(registry_token_realm_check("http://reg.example:8080/t", "reg.example:5000",
                                                true, &err),
                     0);
        cr_assert_eq(registry_token_realm_check("http://auth.example/t", "reg.example:5000",
                                                true, &err),
                     -EPROTO);
        cr_assert_eq(registry_token_realm_check("https://u:p@auth.example/t", "reg.example",
                                                false, &err),
                     -EPROTO);
        cr_assert_eq(registry_token_realm_check("ftp://auth.example/t", "reg.example", true,
                                                &err),
                     -EPROTO);
        cr_assert_eq(registry_token_realm_check("not a url", "reg.example", false, &err),
                     -EPROTO);
}
