#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "build/build_plan.h"
#include "build/dockerfile_parse.h"
#include "common/sb_util.h"

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

static struct build_plan plan_of(const char *text, char **build_args, const char *platform,
                                 struct dockerfile **ret_df)
{
        struct dockerfile *df = parse(text);
        struct build_plan p;
        sb_error_t err = { 0 };
        cr_assert_eq(build_plan_make_for(df, build_args, NULL, platform, &p, &err), 0, "%s",
                     err.msg);
        *ret_df = df;
        return p;
}

Test(build_plan, predefined_platform_args_are_global_and_follow_the_target)
{
        struct dockerfile *df;
        struct build_plan p = plan_of("FROM --platform=$BUILDPLATFORM b:$TARGETARCH AS build\n"
                                      "FROM t:${TARGETOS}-${TARGETARCH}-${TARGETVARIANT}\n",
                                      NULL, "linux/arm/v6", &df);
        struct build_platform host;
        build_platform_host(&host);
        char *hostname = build_platform_format(&host);
        cr_assert_str_eq(build_args_lookup(p.global_args, "BUILDPLATFORM"), hostname);
        cr_assert_str_eq(build_args_lookup(p.global_args, "TARGETPLATFORM"), "linux/arm/v6");
        cr_assert_str_eq(build_args_lookup(p.global_args, "BUILDARCH"), host.arch);
        cr_assert_str_eq(p.stages[0].base, "b:arm");
        cr_assert_str_eq(p.stages[1].base, "t:linux-arm-v6");
        /* FROM --platform=$BUILDPLATFORM pulls for the host; the other stage for the target */
        cr_assert(p.stages[0].platform_given);
        cr_assert_str_eq(p.stages[0].platform.arch, host.arch);
        cr_assert_str_eq(p.stages[1].platform.arch, "arm");
        cr_assert_str_eq(p.stages[1].platform.variant, "v6");
        cr_assert(p.platform_explicit);
        free(hostname);
        build_plan_done(&p);
        dockerfile_free(df);
}

Test(build_plan, build_args_override_predefined_args)
{
        struct dockerfile *df;
        char *args[] = { (char *) "TARGETARCH=riscv64", NULL };
        struct build_plan p = plan_of("FROM img:$TARGETARCH\n", args, "linux/amd64", &df);
        cr_assert_str_eq(p.stages[0].base, "img:riscv64");
        /* the value changes, the platform the base is pulled for does not */
        cr_assert_str_eq(p.stages[0].platform.arch, "amd64");
        build_plan_done(&p);
        dockerfile_free(df);
}

Test(build_plan, without_a_custom_platform_the_target_is_the_host)
{
        struct dockerfile *df;
        struct build_plan p = plan_of("FROM img\n", NULL, NULL, &df);
        struct build_platform host;
        build_platform_host(&host);
        cr_assert_not(p.platform_explicit);
        cr_assert_str_eq(p.stages[0].platform.os, host.os);
        cr_assert_str_eq(p.stages[0].platform.arch, host.arch);
        cr_assert_str_eq(build_args_lookup(p.global_args, "TARGETARCH"), host.arch);
        build_plan_done(&p);
        dockerfile_free(df);
}

Test(build_plan, platforms_are_normalised_as_containerd_does)
{
        struct {
                char in[32], want[32];
        } ok[] = {
                { "linux/aarch64", "linux/arm64" },   { "linux/arm64/v8", "linux/arm64" },
                { "Linux/x86_64", "linux/amd64" },    { "linux/armhf", "linux/arm/v7" },
                { "linux/arm", "linux/arm/v7" },      { "linux/arm/6", "linux/arm/v6" },
                { "linux/i386", "linux/386" },        { "linux/ppc64le", "linux/ppc64le" },
        };
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
                struct build_platform pl;
                sb_error_t err = { 0 };
                cr_assert_eq(build_platform_parse(ok[i].in, &pl, &err), 0, "%s: %s", ok[i].in,
                             err.msg);
                char *f = build_platform_format(&pl);
                cr_assert_str_eq(f, ok[i].want, "%s", ok[i].in);
                free(f);
        }
        char bad[][24] = { "linux", "linux/", "/amd64", "linux/amd64/v1/x", "linux/am d64", "" };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                struct build_platform pl;
                sb_error_t err = { 0 };
                cr_assert_eq(build_platform_parse(bad[i], &pl, &err), -EINVAL, "'%s'", bad[i]);
        }
}

Test(build_plan, scratch_takes_the_target_platform_even_with_from_platform)
{
        struct dockerfile *df;
        struct build_plan p = plan_of("FROM --platform=linux/s390x scratch\n", NULL,
                                      "linux/arm64", &df);
        cr_assert(p.stages[0].scratch);
        cr_assert_str_eq(p.stages[0].platform.arch, "arm64");
        build_plan_done(&p);
        dockerfile_free(df);
}

Test(build_plan, final_config_platform_follows_an_explicit_target_only)
{
        struct dockerfile *df;
        struct build_plan p = plan_of("FROM img\n", NULL, "linux/arm/v7", &df);
        json_t *c = json_pack("{s:s, s:s}", "os", "linux", "architecture", "amd64");
        build_plan_final_platform(&p, c);
        cr_assert_str_eq(json_string_value(json_object_get(c, "architecture")), "arm");
        cr_assert_str_eq(json_string_value(json_object_get(c, "variant")), "v7");
        json_decref(c);
        build_plan_done(&p);
        dockerfile_free(df);

        p = plan_of("FROM img\n", NULL, NULL, &df);
        c = json_pack("{s:s, s:s, s:s}", "os", "linux", "architecture", "arm", "variant", "v5");
        build_plan_final_platform(&p, c);
        cr_assert_str_eq(json_string_value(json_object_get(c, "architecture")), "arm");
        cr_assert_str_eq(json_string_value(json_object_get(c, "variant")), "v5");
        json_decref(c);
        build_plan_done(&p);
        dockerfile_free(df);
}

/* Run every ARG node of stage si through build_plan_stage_arg; returns the stage's args. */
static char **stage_args(const struct build_plan *p, size_t si, char **build_args,
                         char **config_env)
{
        char **args = NULL;
        const struct build_stage *s = &p->stages[si];
        for (size_t k = 0; k < s->count; k++) {
                const struct dockerfile_node *n = &p->df->nodes[s->first + k];
                sb_error_t err = { 0 };
                if (strcmp(n->cmd, "arg") == 0)
                        cr_assert_eq(build_plan_stage_arg(p, build_args, n, config_env, &args,
                                                          &err),
                                     0, "%s", err.msg);
        }
        return args;
}

Test(build_plan, global_args_reach_a_stage_only_when_redeclared)
{
        struct dockerfile *df;
        struct build_plan p = plan_of("ARG G=global\nARG H=h\nFROM scratch\nARG G\n"
                                      "FROM scratch\nARG TARGETARCH\nARG L=local\n",
                                      NULL, "linux/arm64", &df);
        char **a0 = stage_args(&p, 0, NULL, NULL);
        cr_assert_str_eq(build_args_lookup(a0, "G"), "global");
        cr_assert_null(build_args_lookup(a0, "H"), "an undeclared global ARG is not in scope");
        cr_assert_null(build_args_lookup(a0, "TARGETARCH"));
        char **a1 = stage_args(&p, 1, NULL, NULL);
        cr_assert_null(build_args_lookup(a1, "G"), "stage 1's ARG is not in stage 2");
        cr_assert_str_eq(build_args_lookup(a1, "TARGETARCH"), "arm64");
        cr_assert_str_eq(build_args_lookup(a1, "L"), "local");
        sb_strv_free(a0);
        sb_strv_free(a1);
        build_plan_done(&p);
        dockerfile_free(df);
}

Test(build_plan, build_args_override_only_declared_args)
{
        struct dockerfile *df;
        char *bargs[] = { (char *) "A=cli", (char *) "B=cli", (char *) "U=unused", NULL };
        struct build_plan p = plan_of("FROM scratch\nARG A=default\nARG B\nARG C=c\n", bargs,
                                      NULL, &df);
        char **a = stage_args(&p, 0, bargs, NULL);
        cr_assert_str_eq(build_args_lookup(a, "A"), "cli");
        cr_assert_str_eq(build_args_lookup(a, "B"), "cli");
        cr_assert_str_eq(build_args_lookup(a, "C"), "c");
        cr_assert_null(build_args_lookup(a, "U"));
        sb_strv_free(a);
        build_plan_done(&p);
        dockerfile_free(df);
}

Test(build_plan, arg_defaults_expand_with_env_and_earlier_args)
{
        struct dockerfile *df;
        struct build_plan p = plan_of("FROM scratch\nARG A=1 B=${A}2\nARG C=$E-$B\nARG D\n",
                                      NULL, NULL, &df);
        char *env[] = { (char *) "E=env", NULL };
        char **a = stage_args(&p, 0, NULL, env);
        cr_assert_str_eq(build_args_lookup(a, "B"), "12");
        cr_assert_str_eq(build_args_lookup(a, "C"), "env-12");
        cr_assert_null(build_args_lookup(a, "D"), "ARG without value or build arg is undefined");
        sb_strv_free(a);
        build_plan_done(&p);
        dockerfile_free(df);
}

Test(build_plan, the_later_of_env_and_arg_wins_in_the_scope)
{
        char *env[] = { (char *) "PATH=/bin", (char *) "X=from-env", NULL };
        char *args[] = { (char *) "X=from-arg", (char *) "Y=y", NULL };
        /* an ARG declared after the ENV: the ARG's value */
        char **scope = build_plan_scope_env(env, args);
        cr_assert_str_eq(build_args_lookup(scope, "X"), "from-arg");
        cr_assert_str_eq(build_args_lookup(scope, "PATH"), "/bin");
        cr_assert_str_eq(build_args_lookup(scope, "Y"), "y");
        sb_strv_free(scope);
        /* an ENV after the ARG removes it from the ARGs: the ENV's value */
        char **copy = sb_strv_copy(args);
        build_args_unset(&copy, "X");
        scope = build_plan_scope_env(env, copy);
        cr_assert_str_eq(build_args_lookup(scope, "X"), "from-env");
        sb_strv_free(scope);
        sb_strv_free(copy);
}

Test(build_plan, stage_names_follow_buildkit)
{
        struct dockerfile *df;
        /* the first FROM alpine is the image, the second the stage named alpine */
        struct build_plan p = plan_of("FROM alpine AS alpine\nFROM alpine\n"
                                      "FROM Alpine AS up\nFROM 0\n",
                                      NULL, NULL, &df);
        cr_assert_eq(p.stages[0].base_stage, -1);
        cr_assert_eq(p.stages[1].base_stage, 0);
        cr_assert_eq(p.stages[2].base_stage, 0, "stage names match case-insensitively");
        cr_assert_eq(p.stages[3].base_stage, -1, "FROM 0 is an image");
        build_plan_done(&p);
        dockerfile_free(df);
}

Test(build_plan, bad_from_and_copy_from_are_refused)
{
        struct {
                char text[96], want[64];
        } cases[] = {
                { "FROM scratch\nCOPY --from=$X /a /b\n", "Dockerfile:2: --from=$X: variable" },
                { "FROM scratch\nCOPY --from=3 /a /b\n", "Dockerfile:2: --from=3: no stage" },
                { "FROM scratch AS 1a\n", "Dockerfile:1: invalid stage name" },
                { "FROM --platform=$NOPE img\n", "Dockerfile:1: FROM --platform" },
                { "FROM --platform=linux img\n", "Dockerfile:1: FROM --platform" },
                { "FROM --nope=1 img\n", "Dockerfile:1: FROM: unknown flag" },
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct dockerfile *df = parse(cases[i].text);
                struct build_plan p;
                sb_error_t err = { 0 };
                cr_assert_eq(build_plan_make(df, NULL, NULL, &p, &err), -EINVAL, "case %zu", i);
                cr_assert(strstr(err.msg, cases[i].want), "case %zu: '%s' lacks '%s'", i,
                          err.msg, cases[i].want);
                dockerfile_free(df);
        }
}
