#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "build/shell_expand.h"
#include "common/sb_cleanup.h"
#include "common/sb_error.h"
#include "common/sb_util.h"

/* Read a conformance file in place (meson passes the folder in SB_CONFORMANCE_DIR). */
static char *read_vector(const char *rel)
{
        const char *dir = secure_getenv("SB_CONFORMANCE_DIR");
        sb_error_t err = { 0 };
        char *data = NULL;
        size_t len = 0;

        cr_assert_not_null(dir, "SB_CONFORMANCE_DIR is not set");
        cleanup_free char *path = sb_path_join(dir, rel);
        cr_assert_eq(sb_read_file_at(AT_FDCWD, path, 1u << 20, &data, &len, &err), 0, "%s",
                     err.msg);
        return data;
}

/* Cut the next line out of *cursor (newline removed); NULL at the end. */
static char *next_line(char **cursor)
{
        char *line = *cursor, *nl;

        if (!line || !*line)
                return NULL;
        nl = strchr(line, '\n');
        if (nl) {
                *nl = '\0';
                *cursor = nl + 1;
        } else {
                *cursor = NULL;
        }
        return line;
}

static char *trim(char *s)
{
        size_t n;

        while (*s == ' ' || *s == '\t')
                s++;
        n = strlen(s);
        while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
                s[--n] = '\0';
        return s;
}

Test(shell_expand, every_envVarTest_line_expands_as_buildkit_does)
{
        static char pwd[] = "PWD=/home", shell[] = "SHELL=bash", korean[] = "KOREAN=한국어",
                    null[] = "NULL=";
        char *const env[] = { pwd, shell, korean, null, NULL };
        cleanup_free char *data = read_vector("dockerfile/shell/envVarTest");
        int lineno = 0, cases = 0, failures = 0;
        char *cursor = data;

        for (char *line = next_line(&cursor); line; line = next_line(&cursor)) {
                char *f[3], *p = line, *bar;
                int nf = 0;

                lineno++;
                if (line[0] == '#' || trim(line)[0] == '\0')
                        continue;
                while (nf < 3 && (bar = strchr(p, '|'))) {
                        *bar = '\0';
                        f[nf++] = p;
                        p = bar + 1;
                }
                cr_assert_eq(nf, 2, "envVarTest line %d does not have three fields", lineno);
                f[2] = p;
                const char *platform = trim(f[0]), *src = trim(f[1]), *want = trim(f[2]);
                if (strcmp(platform, "W") == 0)
                        continue;
                cases++;
                char *got = NULL;
                sb_error_t err = { 0 };
                int r = shell_expand_word(src, env, '\\', &got, &err);
                if (strcmp(want, "error") == 0) {
                        cr_expect(r < 0, "envVarTest line %d: '%s' should fail, got '%s'", lineno,
                                  src, got);
                        failures += r >= 0;
                } else {
                        bool ok = r == 0 && strcmp(got, want) == 0;
                        cr_expect(ok, "envVarTest line %d: '%s' should give '%s', got '%s' (%s)",
                                  lineno, src, want, r == 0 ? got : "(error)", err.msg);
                        failures += !ok;
                }
                free(got);
        }
        cr_assert_gt(cases, 200, "only %d cases read", cases);
        cr_assert_eq(failures, 0, "%d of %d envVarTest cases differ", failures, cases);
}

Test(shell_expand, every_wordsTest_case_splits_as_buildkit_does)
{
        cleanup_free char *data = read_vector("dockerfile/shell/wordsTest");
        cleanup_strv char **env = sb_xcalloc(1, sizeof(char *));
        int lineno = 0, cases = 0, failures = 0;
        char *cursor = data;

        for (char *line = next_line(&cursor); line; line = next_line(&cursor)) {
                lineno++;
                if (line[0] == '#')
                        continue;
                if (strncmp(line, "ENV ", 4) == 0) {
                        char *v = line + 3;
                        while (*v == ' ')
                                v++;
                        sb_strv_push(&env, v);
                        continue;
                }
                char *bar = strchr(line, '|');
                cr_assert_not_null(bar, "wordsTest line %d has no '|'", lineno);
                cr_assert_null(strchr(bar + 1, '|'), "wordsTest line %d has two '|'", lineno);
                *bar = '\0';
                const char *src = trim(line);
                char *want = bar + 1;
                while (*want == ' ')
                        want++;

                char **got = NULL;
                sb_error_t err = { 0 };
                cleanup_free char *joined = NULL;
                if (shell_expand_words(src, env, '\\', &got, &err) < 0) {
                        joined = sb_xstrdup("error");
                } else {
                        struct { char *p; size_t n; } b = { sb_xstrdup(""), 0 };
                        for (size_t i = 0; got[i]; i++) {
                                char *nb = sb_xasprintf("%s%s%s", b.p, i ? "," : "", got[i]);
                                free(b.p);
                                b.p = nb;
                        }
                        joined = b.p;
                }
                sb_strv_free(got);
                cases++;
                cr_expect_str_eq(joined, want, "wordsTest line %d: '%s' should give [%s], got [%s]",
                                 lineno, src, want, joined);
                failures += strcmp(joined, want) != 0;
        }
        cr_assert_gt(cases, 20, "only %d cases read", cases);
        cr_assert_eq(failures, 0, "%d of %d wordsTest cases differ", failures, cases);
}

static char *expand(const char *word, char escape)
{
        static char v[] = "v=foo/bar/baz", sp[] = "sp=a  b";
        char *const env[] = { v, sp, NULL };
        sb_error_t err = { 0 };
        char *out = NULL;

        cr_assert_eq(shell_expand_word(word, env, escape, &out, &err), 0, "%s: %s", word, err.msg);
        return out;
}

#define expect_expansion(word, escape, want)                                                      \
        do {                                                                                      \
                cleanup_free char *got_ = expand(word, escape);                                   \
                cr_expect_str_eq(got_, want, "%s gives '%s', want '%s'", word, got_, want);       \
        } while (0)

Test(shell_expand, prefix_and_suffix_removal_take_shortest_or_longest_match)
{
        expect_expansion("${v#*/}", '\\', "bar/baz");
        expect_expansion("${v##*/}", '\\', "baz");
        expect_expansion("${v%/*}", '\\', "foo/bar");
        expect_expansion("${v%%/*}", '\\', "foo");
        expect_expansion("${v#f?o}", '\\', "/bar/baz");
        expect_expansion("${v#x*}", '\\', "foo/bar/baz");
        expect_expansion("${v%\\*}", '\\', "foo/bar/baz");
}

Test(shell_expand, pattern_replacement_replaces_first_or_every_match)
{
        expect_expansion("${v/a/X}", '\\', "foo/bXr/baz");
        expect_expansion("${v//a/X}", '\\', "foo/bXr/bXz");
        expect_expansion("${v//b*/X}", '\\', "foo/X");
        expect_expansion("${v/#/X}", '\\', "foo/bar/baz");
        expect_expansion("${nope/a/X}", '\\', "");
}

Test(shell_expand, backtick_escape_replaces_backslash_when_the_directive_says_so)
{
        expect_expansion("a`$v", '`', "a$v");
        expect_expansion("C:\\dir", '`', "C:\\dir");
        expect_expansion("\"`\"q\"", '`', "\"q");
}

Test(shell_expand, unquoted_variables_split_into_words_and_quoted_ones_do_not)
{
        static char sp[] = "sp=a  b";
        char *const env[] = { sp, NULL };
        cleanup_strv char **w = NULL;
        sb_error_t err = { 0 };

        cr_assert_eq(shell_expand_words("x $sp \"$sp\"", env, '\\', &w, &err), 0, "%s", err.msg);
        cr_assert_eq(sb_strv_len(w), 4);
        cr_expect_str_eq(w[0], "x");
        cr_expect_str_eq(w[1], "a");
        cr_expect_str_eq(w[2], "b");
        cr_expect_str_eq(w[3], "a  b");
}

Test(shell_expand, required_variable_error_names_the_variable)
{
        sb_error_t err = { 0 };
        char *out = NULL;

        cr_assert_eq(shell_expand_word("${MISSING:?set it}", NULL, '\\', &out, &err), -EINVAL);
        cr_assert_null(out);
        cr_expect(strstr(err.msg, "MISSING: set it") != NULL, "message: %s", err.msg);
}

Test(shell_expand, deeply_nested_substitutions_are_refused_not_crashed_on)
{
        struct { char *p; } b = { sb_xstrdup("x") };
        sb_error_t err = { 0 };
        char *out = NULL;

        for (int i = 0; i < 5000; i++) {
                char *nb = sb_xasprintf("${a:-%s}", b.p);
                free(b.p);
                b.p = nb;
        }
        cr_expect_eq(shell_expand_word(b.p, NULL, '\\', &out, &err), -EINVAL);
        free(b.p);
        free(out);
}
