#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build/dockerfile_parse.h"
#include "common/sb_cleanup.h"
#include "common/sb_error.h"
#include "common/sb_util.h"

#define N_PARSER_CASES 33

struct parser_case {
        char name[128];
};

static char *case_path(const char *name, const char *file)
{
        const char *dir = secure_getenv("SB_CONFORMANCE_DIR");

        cr_assert_not_null(dir, "SB_CONFORMANCE_DIR is not set");
        return sb_xasprintf("%s/dockerfile/parser/%s/%s", dir, name, file);
}

static char *read_all(const char *path, size_t *len)
{
        sb_error_t err = { 0 };
        char *data = NULL;

        cr_assert_eq(sb_read_file_at(AT_FDCWD, path, 1u << 20, &data, len, &err), 0, "%s",
                     err.msg);
        return data;
}

static int cmp_case(const void *a, const void *b)
{
        const struct parser_case *x = a, *y = b;

        return strcmp(x->name, y->name);
}

/* Every case folder present in the source tree, so a new vector is tested without a change here. */
static size_t list_cases(struct parser_case **ret, bool shared)
{
        const char *dir = secure_getenv("SB_CONFORMANCE_DIR");
        cleanup_free char *path = NULL;
        cleanup_closedir DIR *d = NULL;
        struct parser_case *v;
        struct dirent *e;
        size_t n = 0;

        *ret = NULL;
        if (!dir)
                return 0;
        path = sb_xasprintf("%s/dockerfile/parser", dir);
        d = opendir(path);
        if (!d)
                return 0;
        v = shared ? cr_malloc(256 * sizeof(*v)) : sb_xcalloc(256, sizeof(*v));
        while ((e = readdir(d)) && n < 256) {
                if (e->d_name[0] == '.' || strlen(e->d_name) >= sizeof(v[0].name))
                        continue;
                snprintf(v[n++].name, sizeof(v[0].name), "%s", e->d_name);
        }
        qsort(v, n, sizeof(*v), cmp_case);
        *ret = v;
        return n;
}

static char *dump_all(const struct dockerfile *df)
{
        char *out = sb_xstrdup("");

        for (size_t i = 0; i < df->n_nodes; i++) {
                cleanup_free char *d = dockerfile_node_dump(&df->nodes[i]);
                char *nb = sb_xasprintf("%s%s\n", out, d);
                free(out);
                out = nb;
        }
        return out;
}

ParameterizedTestParameters(dockerfile_parse, conformance_case_reproduces_buildkit_result)
{
        struct parser_case *v;
        size_t n = list_cases(&v, true);

        return cr_make_param_array(struct parser_case, v, n);
}

ParameterizedTest(struct parser_case *c, dockerfile_parse,
                  conformance_case_reproduces_buildkit_result)
{
        cleanup_free char *dpath = case_path(c->name, "Dockerfile");
        cleanup_free char *rpath = case_path(c->name, "result");
        size_t dlen, rlen;
        cleanup_free char *text = read_all(dpath, &dlen);
        cleanup_free char *want = read_all(rpath, &rlen);
        struct dockerfile *df = NULL;
        sb_error_t err = { 0 };

        cr_assert_eq(dockerfile_parse(text, dlen, &df, &err), 0, "case %s: %s", c->name, err.msg);
        cleanup_free char *got = dump_all(df);
        cr_expect_str_eq(got, want, "case %s differs\n--- want\n%s--- got\n%s", c->name, want, got);
        dockerfile_free(df);
}

Test(dockerfile_parse, all_33_conformance_cases_are_found)
{
        struct parser_case *v;
        size_t n = list_cases(&v, false);

        cr_expect_eq(n, N_PARSER_CASES, "found %zu parser cases under SB_CONFORMANCE_DIR", n);
        free(v);
}

static struct dockerfile *parse_ok(const char *text)
{
        struct dockerfile *df = NULL;
        sb_error_t err = { 0 };

        cr_assert_eq(dockerfile_parse(text, strlen(text), &df, &err), 0, "%s", err.msg);
        return df;
}

static int parse_fails(const char *text, sb_error_t *err)
{
        struct dockerfile *df = NULL;
        int r = dockerfile_parse(text, strlen(text), &df, err);

        cr_assert_lt(r, 0, "parse of '%s' succeeded", text);
        cr_assert_null(df);
        return r;
}

Test(dockerfile_parse, multi_line_instruction_spans_its_first_to_last_line)
{
        struct dockerfile *df = parse_ok("FROM a\n"
                                         "\n"
                                         "RUN x \\\n"
                                         "  # comment inside\n"
                                         "  y \\\n"
                                         "  z\n"
                                         "CMD q\n");

        cr_assert_eq(df->n_nodes, 3);
        cr_expect_eq(df->nodes[0].start_line, 1);
        cr_expect_eq(df->nodes[0].end_line, 1);
        cr_expect_eq(df->nodes[1].start_line, 3);
        cr_expect_eq(df->nodes[1].end_line, 6);
        cr_expect_str_eq(df->nodes[1].args[0], "x   y   z");
        cr_expect_str_eq(df->nodes[1].original, "RUN x   y   z");
        cr_expect_eq(df->nodes[2].start_line, 7);
        dockerfile_free(df);
}

Test(dockerfile_parse, unterminated_heredoc_error_names_its_line)
{
        sb_error_t err = { 0 };

        cr_assert_eq(parse_fails("FROM a\n\nRUN cat <<EOF\nhello\n", &err), -EINVAL);
        cr_expect(strncmp(err.msg, "line 3: ", 8) == 0, "message: %s", err.msg);
        cr_expect(strstr(err.msg, "heredoc") != NULL, "message: %s", err.msg);
}

Test(dockerfile_parse, input_over_4_mib_is_refused)
{
        size_t len = DOCKERFILE_MAX_SIZE + 1;
        cleanup_free char *big = sb_xmalloc(len);
        struct dockerfile *df = NULL;
        sb_error_t err = { 0 };

        memset(big, '\n', len);
        memcpy(big, "FROM a\n", 7);
        cr_assert_eq(dockerfile_parse(big, len, &df, &err), -EFBIG);
        cr_assert_null(df);
        cr_expect(strstr(err.msg, "4194304") != NULL, "message: %s", err.msg);
        /* Exactly at the limit still parses. */
        cr_assert_eq(dockerfile_parse(big, len - 1, &df, &err), 0, "%s", err.msg);
        dockerfile_free(df);
}

Test(dockerfile_parse, escape_directive_makes_backtick_the_continuation_character)
{
        struct dockerfile *df = parse_ok("# Escape = `\n"
                                         "FROM a\n"
                                         "RUN dir C:\\ `\n"
                                         "  /s\n");

        cr_expect_eq(df->escape, '`');
        cr_assert_eq(df->n_nodes, 2);
        cr_expect_str_eq(df->nodes[1].args[0], "dir C:\\   /s");
        cr_expect_eq(df->nodes[1].end_line, 4);
        dockerfile_free(df);
}

Test(dockerfile_parse, directives_after_an_instruction_are_plain_comments)
{
        struct dockerfile *df = parse_ok("# syntax=docker/dockerfile:1\n"
                                         "# check=skip=all\n"
                                         "FROM a\n"
                                         "# escape=`\n"
                                         "RUN a \\\n"
                                         "  b\n");

        cr_expect_str_eq(df->syntax, "docker/dockerfile:1");
        cr_expect_str_eq(df->check, "skip=all");
        cr_expect_eq(df->escape, '\\');
        cr_assert_eq(df->n_nodes, 2);
        cr_expect_str_eq(df->nodes[1].args[0], "a   b");
        dockerfile_free(df);
}

Test(dockerfile_parse, bad_or_repeated_escape_directive_is_an_error)
{
        sb_error_t err = { 0 };

        parse_fails("# escape=x\nFROM a\n", &err);
        cr_expect(strncmp(err.msg, "line 1: ", 8) == 0, "message: %s", err.msg);
        parse_fails("# escape=`\n# escape=\\\nFROM a\n", &err);
        cr_expect(strncmp(err.msg, "line 2: ", 8) == 0, "message: %s", err.msg);
}

Test(dockerfile_parse, heredocs_are_read_with_expansion_and_tab_stripping_flags)
{
        struct dockerfile *df = parse_ok("FROM a\n"
                                         "RUN <<EOF cat >/a && cat <<-'END' >/b\n"
                                         "echo $HOME\n"
                                         "EOF\n"
                                         "\tindented\n"
                                         "\tEND\n"
                                         "COPY <<\"F\" /f\n"
                                         "x\n"
                                         "F\n"
                                         "CMD done\n");

        cr_assert_eq(df->n_nodes, 4);
        const struct dockerfile_node *run = &df->nodes[1];
        cr_assert_eq(run->n_heredocs, 2);
        cr_expect_str_eq(run->heredocs[0].name, "EOF");
        cr_expect_str_eq(run->heredocs[0].content, "echo $HOME\n");
        cr_expect(run->heredocs[0].expand);
        cr_expect_not(run->heredocs[0].chomp);
        cr_expect_str_eq(run->heredocs[1].name, "END");
        cr_expect_str_eq(run->heredocs[1].content, "indented\n");
        cr_expect_not(run->heredocs[1].expand);
        cr_expect(run->heredocs[1].chomp);
        cr_expect_eq(run->start_line, 2);
        cr_expect_eq(run->end_line, 6);
        cr_assert_eq(df->nodes[2].n_heredocs, 1);
        cr_expect_not(df->nodes[2].heredocs[0].expand);
        cr_expect_str_eq(df->nodes[2].args[0], "<<\"F\"");
        cr_expect_eq(df->nodes[3].start_line, 10);
        dockerfile_free(df);
}

Test(dockerfile_parse, exec_form_run_has_no_heredoc)
{
        struct dockerfile *df = parse_ok("FROM a\nRUN [\"cat\", \"<<EOF\"]\nEOF\n");

        cr_assert_eq(df->n_nodes, 3);
        cr_expect(df->nodes[1].json);
        cr_expect_eq(df->nodes[1].n_heredocs, 0);
        dockerfile_free(df);
}

Test(dockerfile_parse, json_array_with_a_non_string_is_an_error)
{
        sb_error_t err = { 0 };

        cr_assert_eq(parse_fails("FROM a\nCMD [\"a\", 1]\n", &err), -EINVAL);
        cr_expect(strncmp(err.msg, "line 2: ", 8) == 0, "message: %s", err.msg);
}

Test(dockerfile_parse, unknown_instruction_and_bare_from_parse_for_the_dispatcher_to_judge)
{
        struct dockerfile *df = parse_ok("FROM\nfrobnicate the thing\n");
        cleanup_free char *d0 = dockerfile_node_dump(&df->nodes[0]);
        cleanup_free char *d1 = dockerfile_node_dump(&df->nodes[1]);

        cr_expect_str_eq(d0, "(from)");
        cr_expect_str_eq(d1, "(frobnicate \"\")");
        cr_expect_str_eq(df->nodes[1].original, "frobnicate the thing");
        dockerfile_free(df);
}

Test(dockerfile_parse, empty_continuation_line_is_a_warning_not_an_error)
{
        struct dockerfile *df = parse_ok("FROM a\nRUN a \\\n\n  b\n");

        cr_expect_str_eq(df->nodes[1].args[0], "a   b");
        cr_assert_eq(sb_strv_len(df->warnings), 1);
        cr_expect(strstr(df->warnings[0], "line 2") != NULL, "%s", df->warnings[0]);
        dockerfile_free(df);
}

Test(dockerfile_parse, file_without_instructions_is_an_error)
{
        sb_error_t err = { 0 };

        cr_assert_eq(parse_fails("# only a comment\n\n", &err), -EINVAL);
        cr_expect(strstr(err.msg, "no instructions") != NULL, "message: %s", err.msg);
}

Test(dockerfile_parse, flags_are_split_from_arguments_for_every_instruction)
{
        struct dockerfile *df = parse_ok("FROM --platform=linux/amd64 img AS b\n"
                                         "RUN --mount=type=cache,target=/c --network=none make\n"
                                         "COPY --from=b --chown=1:1 [\"/a b\", \"/c\"]\n");
        cleanup_free char *d0 = dockerfile_node_dump(&df->nodes[0]);
        cleanup_free char *d1 = dockerfile_node_dump(&df->nodes[1]);
        cleanup_free char *d2 = dockerfile_node_dump(&df->nodes[2]);

        cr_expect_str_eq(d0, "(from [\"--platform=linux/amd64\"] \"img\" \"AS\" \"b\")");
        cr_expect_str_eq(d1, "(run [\"--mount=type=cache,target=/c\" \"--network=none\"] "
                             "\"make\")");
        cr_expect_str_eq(d2, "(copy [\"--from=b\" \"--chown=1:1\"] \"/a b\" \"/c\")");
        cr_expect(df->nodes[2].json);
        dockerfile_free(df);
}

Test(dockerfile_parse, heredoc_file_descriptor_and_crlf_body_are_kept)
{
        struct dockerfile *df = parse_ok("FROM a\r\nRUN 3<<X cat <&3\r\nhi\r\nX\r\n");

        cr_assert_eq(df->n_nodes, 2);
        cr_assert_eq(df->nodes[1].n_heredocs, 1);
        cr_expect_eq(df->nodes[1].heredocs[0].fd, 3);
        cr_expect_str_eq(df->nodes[1].heredocs[0].content, "hi\r\n");
        cr_expect_str_eq(df->nodes[1].args[0], "3<<X cat <&3");
        dockerfile_free(df);
}
