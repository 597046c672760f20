#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

Test(registry_auth, identity_and_registry_tokens_are_read_from_auths, .init = setup_dir,
     .fini = teardown_dir)
{
        struct registry_creds cr;
        sb_error_t err = { 0 };

        write_config("{\"auths\":{"
                     "\"idt.example\":{\"username\":\"me\",\"identitytoken\":\"refresh-123\"},"
                     "\"rt.example\":{\"registrytoken\":\"bearer-456\"}}}");
        cr_assert_eq(registry_auth_lookup("idt.example", &cr, &err), 1, "%s", err.msg);
        cr_assert_str_eq(cr.identity_token, "refresh-123");
        cr_assert_str_eq(cr.username, "me");
        cr_assert_null(cr.password);
        cr_assert_null(cr.registry_token);
        registry_creds_done(&cr);
        cr_assert_null(cr.identity_token);

        cr_assert_eq(registry_auth_lookup("rt.example", &cr, &err), 1, "%s", err.msg);
        cr_assert_str_eq(cr.registry_token, "bearer-456");
        cr_assert_null(cr.username);
        cr_assert(registry_creds_present(&cr));
        registry_creds_done(&cr);
        cr_assert_not(registry_creds_present(&cr));
}

Test(registry_auth, auth_with_an_empty_user_is_refused, .init = setup_dir, .fini = teardown_dir)
{
        struct registry_creds cr;
        sb_error_t err = { 0 };

        /* ":secret" */
        write_config("{\"auths\":{\"h\":{\"auth\":\"OnNlY3JldA==\"}}}");
        cr_assert_eq(registry_auth_lookup("h", &cr, &err), -EINVAL);
        cr_assert_null(strstr(err.msg, "secret"), "%s", err.msg);
}

/* Write an executable docker-credential-NAME into the temp dir (first in PATH). */
static void write_helper(const char *name, const char *body)
{
        char *file = sb_xasprintf("docker-credential-%s", name);
        char *p = sb_path_join(tmpdir, file);
        FILE *f = fopen(p, "we");

        cr_assert_not_null(f);
        fprintf(f, "#!/bin/sh\n%s\n", body);
        fclose(f);
        cr_assert_eq(chmod(p, 0755), 0);
        free(p);
        free(file);
}

static void setup_helpers(void)
{
        setup_dir();
        char *path = sb_xasprintf("%s:/usr/bin:/bin", tmpdir);
        setenv("PATH", path, 1);
        free(path);
}

/* The helper answers with what it read on stdin and what it saw in its environment. */
#define ECHO_HELPER                                                                           \
        "[ \"$1\" = get ] || exit 3\n"                                                        \
        "read -r server\n"                                                                    \
        "printf '{\"ServerURL\":\"%s\",\"Username\":\"%s|%s\",\"Secret\":\"pw-%s\"}' "        \
        "\"$server\" \"$server\" \"${SBUILD_LEAK:-clean}\" \"$0\""

Test(registry_auth, cred_helper_for_the_host_wins_over_auths, .init = setup_helpers,
     .fini = teardown_dir)
{
        struct registry_creds cr;
        sb_error_t err = { 0 };

        setenv("SBUILD_LEAK", "leaked", 1);
        write_helper("test", ECHO_HELPER);
        write_config("{\"credHelpers\":{\"reg.example:5000\":\"test\"},"
                     "\"auths\":{\"reg.example:5000\":{\"auth\":\"" AUTH_B64 "\"}}}");
        cr_assert_eq(registry_auth_lookup("reg.example:5000", &cr, &err), 1, "%s", err.msg);
        /* the host went on stdin, and the helper did not see our environment */
        cr_assert_str_eq(cr.username, "reg.example:5000|clean");
        cr_assert(strstr(cr.password, "docker-credential-test"), "%s", cr.password);
        registry_creds_done(&cr);
        unsetenv("SBUILD_LEAK");

        /* another host has no helper: auths is used */
        write_config("{\"credHelpers\":{\"other.example\":\"test\"},"
                     "\"auths\":{\"reg.example:5000\":{\"auth\":\"" AUTH_B64 "\"}}}");
        cr_assert_eq(registry_auth_lookup("reg.example:5000", &cr, &err), 1, "%s", err.msg);
        cr_assert_str_eq(cr.username, "user");
        registry_creds_done(&cr);
}

Test(registry_auth, creds_store_is_asked_with_docker_hubs_key, .init = setup_helpers,
     .fini = teardown_dir)
{
        struct registry_creds cr;
        sb_error_t err = { 0 };

        write_helper("test", ECHO_HELPER);
        write_config("{\"credsStore\":\"test\"}");
        cr_assert_eq(registry_auth_lookup(REGISTRY_DOCKER_HUB, &cr, &err), 1, "%s", err.msg);
        cr_assert_str_eq(cr.username, "https://index.docker.io/v1/|clean");
        registry_creds_done(&cr);
}

Test(registry_auth, helper_token_username_means_identity_token, .init = setup_helpers,
     .fini = teardown_dir)
{
        struct registry_creds cr;
        sb_error_t err = { 0 };

        write_helper("test", "cat >/dev/null; echo '{\"ServerURL\":\"h\",\"Username\":\"<token>\","
                             "\"Secret\":\"refresh-789\"}'");
        write_config("{\"credsStore\":\"test\"}");
        cr_assert_eq(registry_auth_lookup("h", &cr, &err), 1, "%s", err.msg);
        cr_assert_str_eq(cr.identity_token, "refresh-789");
        cr_assert_null(cr.username);
        cr_assert_null(cr.password);
        registry_creds_done(&cr);
}

Test(registry_auth, creds_store_not_found_falls_back_to_auths, .init = setup_helpers,
     .fini = teardown_dir)
{
        struct registry_creds cr;
        sb_error_t err = { 0 };

        write_helper("test", "echo 'credentials not found in native keychain'; exit 1");
        write_config("{\"credsStore\":\"test\",\"auths\":{\"h\":{\"auth\":\"" AUTH_B64 "\"}}}");
        cr_assert_eq(registry_auth_lookup("h", &cr, &err), 1, "%s", err.msg);
        cr_assert_str_eq(cr.username, "user");
        registry_creds_done(&cr);
        cr_assert_eq(registry_auth_lookup("nothing.example", &cr, &err), 0, "%s", err.msg);
}

Test(registry_auth, failing_or_missing_helpers_are_clear_errors, .init = setup_helpers,
     .fini = teardown_dir)
{
        struct registry_creds cr;
        sb_error_t err = { 0 };

        /* a failure message may quote what the helper read: it is not repeated */
        write_helper("test", "echo 'boom top-secret' >&2; echo 'top-secret'; exit 4");
        write_config("{\"credHelpers\":{\"h\":\"test\"}}");
        cr_assert_lt(registry_auth_lookup("h", &cr, &err), 0);
        cr_assert(strstr(err.msg, "docker-credential-test"), "%s", err.msg);
        cr_assert(strstr(err.msg, "exit status 4"), "%s", err.msg);
        cr_assert_null(strstr(err.msg, "top-secret"), "%s", err.msg);

        write_config("{\"credHelpers\":{\"h\":\"absent\"}}");
        cr_assert_eq(registry_auth_lookup("h", &cr, &err), -ENOENT);
        cr_assert(strstr(err.msg, "docker-credential-absent"), "%s", err.msg);

        write_config("{\"credHelpers\":{\"h\":\"../../bin/sh\"}}");
        cr_assert_eq(registry_auth_lookup("h", &cr, &err), -EINVAL);

        write_helper("test", "echo not-json");
        write_config("{\"credHelpers\":{\"h\":\"test\"}}");
        cr_assert_eq(registry_auth_lookup("h", &cr, &err), -EPROTO);
}

Test(registry_auth, helper_output_is_bounded, .init = setup_helpers, .fini = teardown_dir)
{
        struct registry_creds cr;
        sb_error_t err = { 0 };

        write_helper("test", "head -c 200000 /dev/zero | tr '\\0' x");
        write_config("{\"credHelpers\":{\"h\":\"test\"}}");
        cr_assert_eq(registry_auth_lookup("h", &cr, &err), -EFBIG, "%s", err.msg);
}

Test(registry_auth, challenge_edge_cases)
{
        struct registry_challenge c;

        /* unknown parameters are ignored, a trailing comma is fine, the last duplicate wins */
        cr_assert_eq(registry_challenge_parse("Bearer realm=\"https://a/t\",foo=bar,"
                                              "service=one,service=two,",
                                              &c, NULL),
                     0);
        cr_assert_str_eq(c.realm, "https://a/t");
        cr_assert_str_eq(c.service, "two");
        cr_assert_null(c.scope);
        registry_challenge_done(&c);

        /* an empty quoted value is empty, not absent */
        cr_assert_eq(registry_challenge_parse("Bearer realm=\"\"", &c, NULL), 0);
        cr_assert_str_eq(c.realm, "");
        registry_challenge_done(&c);

        /* a scheme with no parameters */
        cr_assert_eq(registry_challenge_parse("Basic", &c, NULL), 0);
        cr_assert_eq(c.scheme, REGISTRY_AUTH_BASIC);
        cr_assert_null(c.realm);
        registry_challenge_done(&c);

        cr_assert_eq(registry_challenge_parse("", &c, NULL), -EPROTONOSUPPORT);
        cr_assert_eq(registry_challenge_parse("Bearerx realm=a", &c, NULL), -EPROTONOSUPPORT);
}
