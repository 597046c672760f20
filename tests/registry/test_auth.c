#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/sb_error.h"
#include "common/sb_util.h"
#include "registry/registry_auth.h"
#include "registry/registry_ref.h"

Test(registry_auth, bearer_challenge_fields_are_parsed)
{
        struct registry_challenge c;
        sb_error_t err = { 0 };

        cr_assert_eq(
                registry_challenge_parse(
                        "Bearer "
                        "realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
                        "scope=\"repository:samalba/my-app:pull,push\"",
                        &c, &err),
                0, "%s", err.msg);
        cr_assert_eq(c.scheme, REGISTRY_AUTH_BEARER);
        cr_assert_str_eq(c.realm, "https://auth.docker.io/token");
        cr_assert_str_eq(c.service, "registry.docker.io");
        cr_assert_str_eq(c.scope, "repository:samalba/my-app:pull,push");
        cr_assert_null(c.error);
        registry_challenge_done(&c);
}

Test(registry_auth, challenge_keeps_commas_and_spaces_inside_quotes)
{
        struct registry_challenge c;

        cr_assert_eq(registry_challenge_parse(
                             "bearer  Realm=\"http://127.0.0.1:5904/token\" , service=lab,"
                             "scope=\"repository:a/b:pull,push repository:c:pull\","
                             "error=\"insufficient_scope\"",
                             &c, NULL),
                     0);
        cr_assert_eq(c.scheme, REGISTRY_AUTH_BEARER);
        cr_assert_str_eq(c.realm, "http://127.0.0.1:5904/token");
        cr_assert_str_eq(c.service, "lab");
        cr_assert_str_eq(c.scope, "repository:a/b:pull,push repository:c:pull");
        cr_assert_str_eq(c.error, "insufficient_scope");
        registry_challenge_done(&c);
}

Test(registry_auth, basic_challenge_and_escapes)
{
        struct registry_challenge c;

        cr_assert_eq(registry_challenge_parse("Basic realm=\"a \\\"quoted\\\" realm\"", &c, NULL),
                     0);
        cr_assert_eq(c.scheme, REGISTRY_AUTH_BASIC);
        cr_assert_str_eq(c.realm, "a \"quoted\" realm");
        registry_challenge_done(&c);
}

Test(registry_auth, malformed_challenges_are_refused)
{
        struct registry_challenge c;

        cr_assert_eq(registry_challenge_parse("Negotiate abc", &c, NULL), -EPROTONOSUPPORT);
        cr_assert_eq(registry_challenge_parse("Bearer realm=\"unterminated", &c, NULL), -EINVAL);
        cr_assert_eq(registry_challenge_parse("Bearer realm", &c, NULL), -EINVAL);
        cr_assert_eq(registry_challenge_parse("Bearer =x", &c, NULL), -EINVAL);
        cr_assert_eq(registry_challenge_parse("Bearer realm=\"a\" junk", &c, NULL), -EINVAL);
}

static char tmpdir[64];

static void write_config(const char *json)
{
        char *p = sb_path_join(tmpdir, "config.json");
        FILE *f = fopen(p, "we");
        cr_assert_not_null(f);
        fputs(json, f);
        fclose(f);
        free(p);
}

static void setup_dir(void)
{
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/sbuild-auth-XXXXXX");
        cr_assert_not_null(mkdtemp(tmpdir));
        setenv("DOCKER_CONFIG", tmpdir, 1);
        /* keep the user's own ~/.docker out of the test */
        setenv("HOME", tmpdir, 1);
}

static void teardown_dir(void)
{
        sb_rm_rf_at(AT_FDCWD, tmpdir, NULL);
}

/* "user:pa:ss" in base64 */
#define AUTH_B64 "dXNlcjpwYTpzcw=="

Test(registry_auth, finds_credentials_by_host_with_or_without_scheme, .init = setup_dir,
     .fini = teardown_dir)
{
        struct registry_creds cr;
        sb_error_t err = { 0 };

        write_config("{\"auths\":{"
                     "\"https://reg.example.com:5000/v2/\":{\"auth\":\"" AUTH_B64 "\"},"
                     "\"plain.example\":{\"username\":\"u2\",\"password\":\"p2\"},"
                     "\"https://index.docker.io/v1/\":{\"auth\":\"" AUTH_B64 "\"}}}");
        cr_assert_eq(registry_auth_lookup("reg.example.com:5000", &cr, &err), 1, "%s", err.msg);
        cr_assert_str_eq(cr.username, "user");
        cr_assert_str_eq(cr.password, "pa:ss");
        registry_creds_done(&cr);
        cr_assert_null(cr.username);

        cr_assert_eq(registry_auth_lookup("plain.example", &cr, &err), 1);
        cr_assert_str_eq(cr.username, "u2");
        cr_assert_str_eq(cr.password, "p2");
        registry_creds_done(&cr);

        cr_assert_eq(registry_auth_lookup(REGISTRY_DOCKER_HUB, &cr, &err), 1);
        cr_assert_str_eq(cr.username, "user");
        registry_creds_done(&cr);

        /* a different port is a different registry */
        cr_assert_eq(registry_auth_lookup("reg.example.com", &cr, &err), 0);
        cr_assert_null(cr.username);
        cr_assert_eq(registry_auth_lookup("other.example", &cr, &err), 0);
}

Test(registry_auth, bad_config_is_an_error_not_silence, .init = setup_dir, .fini = teardown_dir)
{
        struct registry_creds cr;
        sb_error_t err = { 0 };

        write_config("{\"auths\":{\"h\":{\"auth\":\"!!notbase64\"}}}");
        cr_assert_eq(registry_auth_lookup("h", &cr, &err), -EINVAL);
        cr_assert(strstr(err.msg, "config.json"), "%s", err.msg);
        write_config("{\"auths\":");
        cr_assert_eq(registry_auth_lookup("h", &cr, &err), -EINVAL);
}

Test(registry_auth, oversized_config_is_refused, .init = setup_dir, .fini = teardown_dir)
{
        struct registry_creds cr;
        sb_error_t err = { 0 };
        size_t n = REGISTRY_AUTH_CONFIG_MAX + 10;
        char *big = malloc(n + 1);

        memset(big, ' ', n);
        big[0] = '{';
        big[n - 1] = '}';
        big[n] = '\0';
        write_config(big);
        free(big);
        cr_assert_lt(registry_auth_lookup("h", &cr, &err), 0);
}

Test(registry_auth, missing_config_means_no_credentials, .init = setup_dir, .fini = teardown_dir)
{
        struct registry_creds cr;

        cr_assert_eq(registry_auth_lookup("h", &cr, NULL), 0);
        cr_assert_null(cr.username);
}
