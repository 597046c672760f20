#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/sb_error.h"
#include "registry/registry_ref.h"

#define D64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

struct ref_case {
        char in[200];
        char registry[64];
        char repository[64];
        char tag[32];    /* "" = NULL */
        char digest[80]; /* "" = NULL */
        char formatted[240];
};

static struct ref_case good_cases[] = {
        { "alpine", REGISTRY_DOCKER_HUB, "library/alpine", "latest", "",
          "docker.io/library/alpine:latest" },
        { "alpine:3.19", REGISTRY_DOCKER_HUB, "library/alpine", "3.19", "",
          "docker.io/library/alpine:3.19" },
        { "team/app:v1", REGISTRY_DOCKER_HUB, "team/app", "v1", "", "docker.io/team/app:v1" },
        { "docker.io/alpine", REGISTRY_DOCKER_HUB, "library/alpine", "latest", "",
          "docker.io/library/alpine:latest" },
        { "index.docker.io/library/busybox:1", REGISTRY_DOCKER_HUB, "library/busybox", "1", "",
          "docker.io/library/busybox:1" },
        { "localhost/x", "localhost", "x", "latest", "", "localhost/x:latest" },
        { "localhost:5000/a/b:c", "localhost:5000", "a/b", "c", "", "localhost:5000/a/b:c" },
        { "127.0.0.1:5000/test/img:v1", "127.0.0.1:5000", "test/img", "v1", "",
          "127.0.0.1:5000/test/img:v1" },
        { "ghcr.io/o/r@sha256:" D64, "ghcr.io", "o/r", "", "sha256:" D64,
          "ghcr.io/o/r@sha256:" D64 },
        { "ghcr.io/o/r:t@sha256:" D64, "ghcr.io", "o/r", "t", "sha256:" D64,
          "ghcr.io/o/r:t@sha256:" D64 },
        { "[::1]:5000/x__y.z-w", "[::1]:5000", "x__y.z-w", "latest", "",
          "[::1]:5000/x__y.z-w:latest" },
};

ParameterizedTestParameters(registry_ref, parses_valid_references)
{
        return cr_make_param_array(struct ref_case, good_cases,
                                   sizeof(good_cases) / sizeof(good_cases[0]));
}

ParameterizedTest(struct ref_case *c, registry_ref, parses_valid_references)
{
        struct registry_ref *r = NULL;
        sb_error_t err = { 0 };

        cr_assert_eq(registry_ref_parse(c->in, &r, &err), 0, "%s: %s", c->in, err.msg);
        cr_assert_str_eq(r->registry, c->registry);
        cr_assert_str_eq(r->repository, c->repository);
        if (c->tag[0])
                cr_assert_str_eq(r->tag, c->tag);
        else
                cr_assert_null(r->tag);
        if (c->digest[0])
                cr_assert_str_eq(r->digest, c->digest);
        else
                cr_assert_null(r->digest);
        char *f = registry_ref_format(r);
        cr_assert_str_eq(f, c->formatted);
        free(f);
        registry_ref_free(r);
}

struct bad_case {
        char in[160];
};

static struct bad_case bad_cases[] = {
        { "" },
        { "Alpine" },
        { "team/App:v1" },
        { "alpine:" },
        { "alpine:-x" },
        { "alpine:a/b" },
        { "alpine@sha256:abc" },
        { "alpine@sha256:" D64 "0" },
        { "alpine@md5:0123" },
        { "a//b" },
        { "/a" },
        { "a/" },
        { "a..b" },
        { "-a" },
        { "host:99999/x" },
        { "host:/x" },
        { "ex ample.com/x" },
        { "alpine:"
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" },
};

ParameterizedTestParameters(registry_ref, rejects_invalid_references)
{
        return cr_make_param_array(struct bad_case, bad_cases,
                                   sizeof(bad_cases) / sizeof(bad_cases[0]));
}

ParameterizedTest(struct bad_case *c, registry_ref, rejects_invalid_references)
{
        struct registry_ref *r = NULL;
        sb_error_t err = { 0 };

        cr_assert_eq(registry_ref_parse(c->in, &r, &err), -EINVAL, "'%s' was accepted", c->in);
        cr_assert_null(r);
        cr_assert_neq(err.msg[0], '\0');
}

Test(registry_ref, refuses_overlong_input)
{
        char *s = malloc(REGISTRY_REF_MAX_LEN + 2);
        struct registry_ref *r = NULL;
        sb_error_t err = { 0 };

        memset(s, 'a', REGISTRY_REF_MAX_LEN + 1);
        s[REGISTRY_REF_MAX_LEN + 1] = '\0';
        cr_assert_eq(registry_ref_parse(s, &r, &err), -EINVAL);
        /* host + name over 255 characters is refused too */
        s[250] = '/';
        s[400] = '\0';
        cr_assert_eq(registry_ref_parse(s, &r, &err), -EINVAL);
        free(s);
}

Test(registry_ref, name_has_no_tag_or_digest)
{
        struct registry_ref *r = NULL;

        cr_assert_eq(registry_ref_parse("localhost:5000/a/b:c@sha256:" D64, &r, NULL), 0);
        char *n = registry_ref_name(r);
        cr_assert_str_eq(n, "localhost:5000/a/b");
        free(n);
        registry_ref_free(r);
}

struct loop_case {
        char host[64];
        bool loopback;
};

static struct loop_case loop_cases[] = {
        { "localhost", true },
        { "LOCALHOST:5000", true },
        { "127.0.0.1", true },
        { "127.0.0.1:5000", true },
        { "127.1.2.3:80", true },
        { "[::1]:5000", true },
        { "[::1]", true },
        { "::1", true },
        { "128.0.0.1", false },
        { "10.0.0.1:5000", false },
        { "localhost.evil.com", false },
        { "127.0.0.1.nip.io", false },
        { "registry-1.docker.io", false },
        { "[::2]:5000", false },
        { "127.0.0.1:x", false },
        { "", false },
};

ParameterizedTestParameters(registry_ref, knows_loopback_hosts)
{
        return cr_make_param_array(struct loop_case, loop_cases,
                                   sizeof(loop_cases) / sizeof(loop_cases[0]));
}

ParameterizedTest(struct loop_case *c, registry_ref, knows_loopback_hosts)
{
        cr_assert_eq(registry_host_is_loopback(c->host), c->loopback, "%s", c->host);
}
