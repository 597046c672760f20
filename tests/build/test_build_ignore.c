#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build/build_ignore.h"
#include "common/sb_util.h"

struct ignore_case {
        char patterns[128]; /* newline-separated, as in a .dockerignore */
        char path[64];
        bool excluded;
};

static struct ignore_case cases[] = {
        { "*.log", "a.log", true },
        { "*.log", "dir/a.log", false },          /* '*' does not cross '/' */
        { "**/*.log", "dir/sub/a.log", true },    /* '**' spans directories */
        { "**/*.log", "a.log", true },            /* ... including none */
        { "dir/**", "dir/x/y", true },
        { "dir", "dir/x/y", true },               /* a parent match excludes the contents */
        { "/secret", "secret", true },            /* a leading '/' is dropped */
        { "./a/../b", "b", true },                /* patterns are cleaned */
        { "*.md\n!README.md", "README.md", false },
        { "*.md\n!README.md", "NOTES.md", true },
        { "!README.md\n*.md", "README.md", true }, /* the last match wins */
        { "dir\n!dir/keep", "dir/keep", false },
        { "dir\n!dir/keep", "dir/other", true },
        { "# comment\n\n  spaced  ", "spaced", true },
        { "# comment", "# comment", false },
        { "a?c", "abc", true },
        { "a?c", "a/c", false },
        { "[ab].txt", "b.txt", true },
        { "file.txt", "fileXtxt", false },       /* '.' is literal */
        { "**", "anything/at/all", true },
};

ParameterizedTestParameters(build_ignore, patterns_follow_docker)
{
        return cr_make_param_array(struct ignore_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct ignore_case *c, build_ignore, patterns_follow_docker)
{
        char **patterns = build_ignore_parse_text(c->patterns, strlen(c->patterns));
        struct build_ignore *ig = NULL;
        sb_error_t err = { 0 };
        cr_assert_eq(build_ignore_new(patterns, &ig, &err), 0, "%s", err.msg);
        cr_expect_eq(build_ignore_excluded(ig, c->path), c->excluded, "'%s' with [%s]", c->path,
                     c->patterns);
        build_ignore_free(ig);
        sb_strv_free(patterns);
}

Test(build_ignore, a_bare_exclamation_mark_is_an_error)
{
        char *p[] = { (char *) "!", NULL };
        struct build_ignore *ig = NULL;
        sb_error_t err = { 0 };
        cr_assert_eq(build_ignore_new(p, &ig, &err), -EINVAL);
        cr_assert(strstr(err.msg, "exclusion"), "%s", err.msg);
}

Test(build_ignore, exceptions_are_reported)
{
        char *p[] = { (char *) "a", (char *) "!a/b", NULL };
        struct build_ignore *ig = NULL;
        sb_error_t err = { 0 };
        cr_assert_eq(build_ignore_new(p, &ig, &err), 0);
        cr_assert(build_ignore_has_exceptions(ig));
        build_ignore_free(ig);
}

static void write_file(int dirfd, const char *name, const char *text)
{
        int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        cr_assert_geq(fd, 0);
        cr_assert_eq(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        close(fd);
}

Test(build_ignore, the_dockerfile_specific_ignore_file_wins)
{
        char dir[] = "/tmp/sbuild-ignore-XXXXXX";
        cr_assert_not_null(mkdtemp(dir));
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        mkdirat(fd, "sub", 0755);
        write_file(fd, ".dockerignore", "from-context\n");
        sb_error_t err = { 0 };
        char **p = NULL;
        cr_assert_eq(build_ignore_load(fd, "sub/app.Dockerfile", &p, &err), 0, "%s", err.msg);
        cr_assert_str_eq(p[0], "from-context");
        sb_strv_free(p);
        write_file(fd, "sub/app.Dockerfile.dockerignore", "\xef\xbb\xbfown\n");
        cr_assert_eq(build_ignore_load(fd, "sub/app.Dockerfile", &p, &err), 0, "%s", err.msg);
        cr_assert_str_eq(p[0], "own", "BOM dropped, the Dockerfile's own file used");
        cr_assert_null(p[1]);
        sb_strv_free(p);
        close(fd);
        sb_rm_rf_at(AT_FDCWD, dir, &err);
}
