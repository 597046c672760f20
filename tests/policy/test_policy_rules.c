/* The audit rules, run on real Dockerfiles: each fires on one that breaks it and stays quiet
 * on one that does not. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <string.h>

#include "build/dockerfile_parse.h"
#include "cli/cli_policy.h"
#include "policy/policy.h"

/* A policy that allows the registries these Dockerfiles use, so each case isolates its rule. */
#define LENIENT "{\"version\":1,\"registries\":{\"pull\":[\"*\"]}," \
                "\"add\":{\"allowedHosts\":[\"*\"]}}"

static struct policy_report *audit(const char *dockerfile, const char *policy_json)
{
        sb_error_t err = { 0 };
        struct policy *p = NULL;
        struct dockerfile *df = NULL;
        struct policy_instr *in = NULL;
        size_t n = 0;

        cr_assert_eq(policy_parse(policy_json, strlen(policy_json), &p, &err), 0, "%s", err.msg);
        cr_assert_eq(dockerfile_parse(dockerfile, strlen(dockerfile), &df, &err), 0, "%s",
                     err.msg);
        cr_assert_eq(cli_policy_instrs(df, &in, &n, &err), 0, "%s", err.msg);
        struct policy_report *r = policy_check(p, in, n);
        cli_policy_instrs_free(in, n);
        dockerfile_free(df);
        policy_free(p);
        return r;
}

static int count(const struct policy_report *r, const char *rule, int *line)
{
        int c = 0;
        for (size_t i = 0; i < r->n_findings; i++) {
                if (strcmp(policy_rule_info(r->findings[i].rule)->id, rule) == 0) {
                        c++;
                        if (line)
                                *line = r->findings[i].line;
                }
        }
        return c;
}

#define PINNED "busybox:1.36@sha256:" \
        "0000000000000000000000000000000000000000000000000000000000000000"

struct rule_case {
        char rule[32];
        char bad[300];
        int bad_line;
        char good[300];
};

ParameterizedTestParameters(policy_rules, each_rule_fires_on_a_breach_and_not_otherwise)
{
        static struct rule_case cases[] = {
                { "base-not-pinned", "FROM " PINNED " AS a\nFROM busybox:1.36\nUSER app\n", 2,
                  "FROM " PINNED "\nUSER app\n" },
                { "base-latest-tag", "FROM x:1\nFROM busybox\nUSER app\n", 2,
                  "FROM busybox:1.36\nUSER app\n" },
                { "base-latest-tag", "FROM busybox:latest\nUSER app\n", 1,
                  "FROM localhost:5000/busybox:1\nUSER app\n" },
                { "final-user-root", "FROM " PINNED "\nUSER app\nUSER root\n", 3,
                  "FROM " PINNED "\nUSER root\nRUN true\nUSER 1000:1000\n" },
                { "final-user-root", "FROM " PINNED "\nUSER app\nFROM " PINNED "\nRUN true\n",
                  3, "FROM " PINNED " AS b\nUSER app\nFROM b\nRUN true\n" },
                { "final-user-root", "FROM " PINNED "\nUSER 0:0\n", 2,
                  "FROM " PINNED "\nUSER nobody\n" },
                { "secret-in-env-arg", "FROM " PINNED "\nENV GITHUB_TOKEN=abc\nUSER a\n", 2,
                  "FROM " PINNED "\nENV MONKEY=1 KEYBOARD=2\nUSER a\n" },
                { "secret-in-env-arg", "ARG db_password\nFROM " PINNED "\nUSER a\n", 1,
                  "ARG VERSION=1\nFROM " PINNED "\nUSER a\n" },
                { "secret-in-env-arg", "FROM " PINNED "\nENV API_KEY value\nUSER a\n", 2,
                  "FROM " PINNED "\nENV PATH=/bin\nUSER a\n" },
                { "curl-pipe-shell",
                  "FROM " PINNED "\nRUN apk add curl && \\\n  curl -fsSL https://x.io/i | sh\n"
                  "USER a\n", 2,
                  "FROM " PINNED "\nRUN curl -fsSLo i.sh https://x.io/i && sha256sum -c s && "
                  "sh i.sh | tee log\nUSER a\n" },
                { "curl-pipe-shell", "FROM " PINNED "\nRUN wget -qO- http://x | sudo /bin/bash\n"
                  "USER a\n", 2, "FROM " PINNED "\nRUN echo curl | grep sh\nUSER a\n" },
                { "curl-pipe-shell", "FROM " PINNED "\nRUN <<EOF\ncurl -s x | bash -s\nEOF\n"
                  "USER a\n", 2, "FROM " PINNED "\nRUN <<EOF\ncurl -so f x\nEOF\nUSER a\n" },
                { "add-url-no-checksum", "FROM " PINNED "\nADD https://x.io/f.tgz /f\nUSER a\n",
                  2, "FROM " PINNED "\nADD --checksum=sha256:00 https://x.io/f.tgz /f\n"
                  "ADD local.tgz /l\nUSER a\n" },
        };
        return cr_make_param_array(struct rule_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct rule_case *c, policy_rules, each_rule_fires_on_a_breach_and_not_otherwise)
{
        struct policy_report *r = audit(c->bad, LENIENT);
        int line = 0;

        cr_assert_eq(count(r, c->rule, &line), 1, "%s does not fire once on:\n%s", c->rule,
                     c->bad);
        cr_assert_eq(line, c->bad_line, "%s reported on line %d", c->rule, line);
        policy_report_free(r);
        r = audit(c->good, LENIENT);
        cr_assert_eq(count(r, c->rule, NULL), 0, "%s fires on:\n%s", c->rule, c->good);
        policy_report_free(r);
}

Test(policy_rules, registries_are_matched_after_normalising_the_reference)
{
        const char *pol = "{\"version\":1,\"registries\":{\"pull\":"
                          "[\"registry.example.com/team/*\",\"docker.io/library/*\"]}}";
        struct policy_report *r = audit("FROM registry.example.com/team/app:1 AS a\n"
                                        "FROM busybox:1 AS b\n"
                                        "FROM registry.example.com/other/app:1 AS c\n"
                                        "FROM someone/app:1\nUSER a\n", pol);
        int line = 0;

        cr_assert_eq(count(r, "registry-not-allowed", NULL), 2);
        policy_report_free(r);
        r = audit("FROM quay.io/x/y:1\nUSER a\n", pol);
        cr_assert_eq(count(r, "registry-not-allowed", &line), 1);
        cr_assert_eq(line, 1);
        policy_report_free(r);
}

Test(policy_rules, from_is_expanded_with_the_global_arg_defaults)
{
        const char *pol = "{\"version\":1,\"registries\":{\"pull\":[\"reg.example.com/*\"]}}";
        struct policy_report *r = audit("ARG REG=reg.example.com\nARG TAG=1\n"
                                        "FROM ${REG}/app:$TAG\nUSER a\n", pol);

        cr_assert_eq(count(r, "registry-not-allowed", NULL), 0);
        cr_assert_eq(count(r, "base-latest-tag", NULL), 0);
        policy_report_free(r);
        r = audit("ARG REG=evil.example.net\nFROM ${REG}/app:1\nUSER a\n", pol);
        cr_assert_eq(count(r, "registry-not-allowed", NULL), 1);
        cr_assert(strstr(r->findings[0].message, "evil.example.net/app"), "%s",
                  r->findings[0].message);
        policy_report_free(r);
}

Test(policy_rules, add_hosts_are_checked_against_the_allowed_list)
{
        const char *pol = "{\"version\":1,\"add\":{\"allowedHosts\":[\"*.example.org\"]}}";
        struct policy_report *r = audit("FROM scratch\n"
                                        "ADD --checksum=sha256:00 https://dl.example.org/a /a\n"
                                        "ADD --checksum=sha256:00 https://u@evil.net:8443/b /b\n"
                                        "USER a\n", pol);
        int line = 0;

        cr_assert_eq(count(r, "add-host-not-allowed", &line), 1);
        cr_assert_eq(line, 3);
        cr_assert(strstr(r->findings[0].message, "'evil.net'"), "%s", r->findings[0].message);
        policy_report_free(r);
}

Test(policy_rules, rules_turned_off_or_downgraded_follow_the_policy)
{
        const char *pol = "{\"version\":1,\"rules\":{\"final-user-root\":\"off\","
                          "\"base-not-pinned\":\"note\"}}";
        struct policy_report *r = audit("FROM busybox:1\n", pol);

        cr_assert_eq(count(r, "final-user-root", NULL), 0);
        cr_assert_eq(r->n_findings, 1);
        cr_assert_eq(r->findings[0].severity, POLICY_NOTE);
        cr_assert_not(policy_report_fails(r, POLICY_WARNING));
        cr_assert(policy_report_fails(r, POLICY_NOTE));
        policy_report_free(r);
}

Test(policy_rules, findings_come_in_line_order)
{
        struct policy_report *r = audit("FROM busybox\nENV SECRET=1\nRUN curl x | sh\n",
                                        "{\"version\":1}");

        cr_assert_geq(r->n_findings, 4);
        for (size_t i = 1; i < r->n_findings; i++)
                cr_assert_leq(r->findings[i - 1].line, r->findings[i].line);
        policy_report_free(r);
}
