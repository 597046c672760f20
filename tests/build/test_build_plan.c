#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "build/build_plan.h"
#include "build/dockerfile_parse.h"

static struct dockerfile *parse(const char *text)
{
        struct dockerfile *df = NULL;
        sb_error_t err = { 0 };
        cr_assert_eq(dockerfile_parse(text, strlen(text), &df, &err), 0, "%s", err.msg);
        return df;
}

Test(build_plan, target_needs_only_its_base_and_copy_from_stages)
{
        struct dockerfile *df = parse("FROM scratch AS a\nCOPY x /\n"
                                      "FROM scratch AS unused\nRUN true\n"
                                      "FROM a AS b\nCOPY --from=0 /x /y\n"
                                      "FROM busybox AS final\nCOPY --from=b / /\n");
        struct build_plan p;
        sb_error_t err = { 0 };
        cr_assert_eq(build_plan_make(df, NULL, "b", &p, &err), 0, "%s", err.msg);
        cr_assert_eq(p.n_stages, 4);
        cr_assert_eq(p.target, 2);
        cr_assert(p.stages[0].needed);
        cr_assert_not(p.stages[1].needed);
        cr_assert(p.stages[2].needed);
        cr_assert_not(p.stages[3].needed);
        cr_assert_eq(p.stages[2].base_stage, 0);
        cr_assert_eq(p.total_steps, 4, "FROM a, COPY, FROM b, COPY: got %zu", p.total_steps);
        build_plan_done(&p);
        dockerfile_free(df);
}

Test(build_plan, global_args_expand_in_from_and_build_args_win)
{
        struct dockerfile *df = parse("ARG BASE=alpine\nARG TAG=1\nFROM ${BASE}:${TAG}\n");
        char *args[] = { (char *) "TAG=2", NULL };
        struct build_plan p;
        sb_error_t err = { 0 };
        cr_assert_eq(build_plan_make(df, args, NULL, &p, &err), 0, "%s", err.msg);
        cr_assert_str_eq(p.stages[0].base, "alpine:2");
        cr_assert_str_eq(build_args_lookup(p.global_args, "BASE"), "alpine");
        build_plan_done(&p);
        dockerfile_free(df);
}

Test(build_plan, copy_from_an_image_becomes_an_implicit_stage)
{
        struct dockerfile *df = parse("FROM scratch\nCOPY --from=registry.example/x:1 /a /a\n");
        struct build_plan p;
        sb_error_t err = { 0 };
        cr_assert_eq(build_plan_make(df, NULL, NULL, &p, &err), 0, "%s", err.msg);
        cr_assert_eq(p.n_stages, 2);
        cr_assert(p.stages[1].implicit);
        cr_assert(p.stages[1].needed);
        cr_assert_str_eq(p.stages[1].base, "registry.example/x:1");
        build_plan_done(&p);
        dockerfile_free(df);
}

Test(build_plan, bad_plans_name_the_line)
{
        struct {
                const char *text, *target, *want;
        } cases[] = {
                { "RUN true\nFROM scratch\n", NULL, "Dockerfile:1:" },
                { "ARG X\n", NULL, "no FROM" },
                { "FROM scratch AS a\nFROM scratch AS a\n", NULL, "Dockerfile:2: duplicate" },
                { "FROM scratch AS a\n", "nope", "'nope'" },
                { "FROM scratch AS a\nCOPY --from=a /x /x\n", NULL, "Dockerfile:2:" },
                { "FROM\n", NULL, "Dockerfile:1:" },
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct dockerfile *df = parse(cases[i].text);
                struct build_plan p;
                sb_error_t err = { 0 };
                cr_assert_eq(build_plan_make(df, NULL, cases[i].target, &p, &err), -EINVAL,
                             "case %zu", i);
                cr_assert(strstr(err.msg, cases[i].want), "case %zu: '%s' lacks '%s'", i,
                          err.msg, cases[i].want);
                dockerfile_free(df);
        }
}
