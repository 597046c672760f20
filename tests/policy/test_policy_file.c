/* The policy file parser: defaults, overrides, and refusal of malformed documents. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <string.h>

#include "common/sb_util.h"
#include "policy/policy.h"

static int parse(const char *text, struct policy **p, sb_error_t *err)
{
        return policy_parse(text, strlen(text), p, err);
}

Test(policy_file, built_in_default_is_strict)
{
        struct policy *p = policy_new_default();

        cr_assert(p->require_digest);
        cr_assert_str_eq(p->pull_registries[0], "docker.io/library/*");
        cr_assert_null(p->pull_registries[1]);
        cr_assert_null(p->add_hosts[0]);
        for (int i = 0; i < POLICY_RULE_COUNT; i++)
                cr_assert_neq(p->severity[i], POLICY_OFF, "rule %d is on", i);
        policy_free(p);
}

Test(policy_file, keys_given_override_and_others_keep_defaults)
{
        sb_error_t err = { 0 };
        struct policy *p = NULL;

        cr_assert_eq(parse("{\"version\":1,\"registries\":{\"pull\":[\"reg.example.com/team/*\"]},"
                           "\"add\":{\"allowedHosts\":[\"*.example.org\"]},"
                           "\"secretNamePatterns\":[\"hush\"],"
                           "\"rules\":{\"final-user-root\":\"off\",\"base-latest-tag\":\"error\"}}",
                           &p, &err), 0, "%s", err.msg);
        cr_assert_str_eq(p->pull_registries[0], "reg.example.com/team/*");
        cr_assert_str_eq(p->add_hosts[0], "*.example.org");
        cr_assert_str_eq(p->secret_names[0], "HUSH");
        cr_assert(p->require_digest);
        cr_assert_eq(p->severity[POLICY_RULE_USER_ROOT], POLICY_OFF);
        cr_assert_eq(p->severity[POLICY_RULE_LATEST], POLICY_ERROR);
        cr_assert_eq(p->severity[POLICY_RULE_DIGEST], POLICY_ERROR);
        policy_free(p);
}

Test(policy_file, require_digest_can_be_turned_off)
{
        sb_error_t err = { 0 };
        struct policy *p = NULL;

        cr_assert_eq(parse("{\"version\":1,\"baseImages\":{\"requireDigest\":false}}", &p, &err),
                     0);
        cr_assert_not(p->require_digest);
        policy_free(p);
}

struct bad_case {
        char text[200];
        char msg[80];
};

ParameterizedTestParameters(policy_file, malformed_documents_are_refused_with_the_key)
{
        static struct bad_case cases[] = {
                { "{\"version\":1,\"colour\":1}", "colour: unknown key" },
                { "{\"registries\":{}}", "version: must be 1" },
                { "{\"version\":2}", "version: must be 1" },
                { "{\"version\":1,\"registries\":{\"pull\":\"x\"}}", "registries.pull" },
                { "{\"version\":1,\"registries\":{\"pull\":[1]}}", "registries.pull[0]" },
                { "{\"version\":1,\"registries\":{\"pul\":[]}}", "registries.pul: unknown" },
                { "{\"version\":1,\"baseImages\":{\"requireDigest\":1}}", "requireDigest" },
                { "{\"version\":1,\"rules\":{\"no-such-rule\":\"error\"}}", "unknown rule" },
                { "{\"version\":1,\"rules\":{\"curl-pipe-shell\":\"fatal\"}}", "curl-pipe-shell" },
                { "{\"version\":1,", "line 1" },
                { "[1]", "not a JSON object" },
                { "{\"version\":1,\"version\":1}", "duplicate" },
        };
        return cr_make_param_array(struct bad_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad_case *c, policy_file, malformed_documents_are_refused_with_the_key)
{
        sb_error_t err = { 0 };
        struct policy *p = NULL;

        cr_assert_eq(parse(c->text, &p, &err), -EINVAL, "%s", c->text);
        cr_assert_null(p);
        cr_assert(strstr(err.msg, c->msg), "'%s' lacks '%s'", err.msg, c->msg);
}

Test(policy_file, oversized_documents_and_lists_are_refused)
{
        sb_error_t err = { 0 };
        struct policy *p = NULL;
        size_t big = POLICY_MAX_SIZE + 1;
        char *text = sb_xmalloc(big + 1);

        memset(text, ' ', big);
        text[big] = '\0';
        cr_assert_eq(policy_parse(text, big, &p, &err), -EFBIG);
        free(text);

        char *list = sb_xstrdup("{\"version\":1,\"add\":{\"allowedHosts\":[\"a\"");
        for (unsigned i = 0; i < POLICY_MAX_LIST; i++) {
                char *l = sb_xasprintf("%s,\"a\"", list);
                free(list);
                list = l;
        }
        char *doc = sb_xasprintf("%s]}}", list);
        cr_assert_eq(parse(doc, &p, &err), -EINVAL);
        cr_assert(strstr(err.msg, "add.allowedHosts"), "%s", err.msg);
        free(list);
        free(doc);
}
