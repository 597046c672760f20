#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "build/dockerfile_json.h"
#include "common/sb_error.h"
#include "common/sb_util.h"

static int parse(const char *s, char ***args, size_t **lens, sb_error_t *err)
{
        *args = NULL;
        *lens = NULL;
        return dockerfile_json_parse_array(s, strlen(s), args, lens, err);
}

Test(dockerfile_json, array_of_strings_is_decoded_with_escapes_and_lengths)
{
        /* led by U+3000; a tab, U+00E9, a surrogate pair for U+1F600 and a NUL escaped */
        static const char in[] = "\xe3\x80\x80 [ \"sh\", \"-c\","
                                 "\"a\\tb\\u00e9\\ud83d\\ude00\\u0000z\", \"\" ] \n";
        sb_error_t err = { 0 };
        char **args;
        size_t *lens;

        cr_assert_eq(parse(in, &args, &lens, &err), 1, "%s", err.msg);
        cr_assert_eq(sb_strv_len(args), 4);
        cr_expect_str_eq(args[0], "sh");
        cr_expect_str_eq(args[1], "-c");
        cr_expect_eq(lens[2], 11);
        cr_expect(memcmp(args[2], "a\tb\xc3\xa9\xf0\x9f\x98\x80\0z", 12) == 0);
        cr_expect_str_eq(args[3], "");
        cr_expect_eq(lens[3], 0);
        sb_strv_free(args);
        free(lens);
}

Test(dockerfile_json, empty_array_is_exec_form_with_no_arguments)
{
        sb_error_t err = { 0 };
        char **args;
        size_t *lens;

        cr_assert_eq(parse("[]", &args, &lens, &err), 1, "%s", err.msg);
        cr_expect_null(args[0]);
        sb_strv_free(args);
        free(lens);
}

Test(dockerfile_json, invalid_json_is_not_exec_form)
{
        static const char cases[][24] = { "echo hi", "[\"a\"", "[\"a\",]", "['a']", "[\"a\"] x",
                                          "[\"a\\q\"]", "[\"a\" \"b\"]", "{\"a\":1}", "[01]" };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                sb_error_t err = { 0 };
                char **args;
                size_t *lens;
                cr_expect_eq(parse(cases[i], &args, &lens, &err), 0, "%s", cases[i]);
                cr_expect_null(args, "%s", cases[i]);
        }
}

Test(dockerfile_json, valid_array_with_a_non_string_is_an_error)
{
        static const char cases[][24] = { "[\"a\", 1]", "[true]", "[null]", "[[\"a\"]]",
                                          "[{\"k\":\"v\"}]", "[-1.5e+3]" };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                sb_error_t err = { 0 };
                char **args;
                size_t *lens;
                cr_expect_eq(parse(cases[i], &args, &lens, &err), -EINVAL, "%s", cases[i]);
                cr_expect(strstr(err.msg, "strings only") != NULL, "%s: %s", cases[i], err.msg);
                cr_expect_null(args, "%s", cases[i]);
        }
}

Test(dockerfile_json, very_deep_nesting_is_refused_not_crashed_on)
{
        size_t depth = 100000;
        char *s = sb_xmalloc(2 * depth + 1);
        sb_error_t err = { 0 };
        char **args;
        size_t *lens;

        memset(s, '[', depth);
        memset(s + depth, ']', depth);
        s[2 * depth] = '\0';
        /* Too deep to be valid JSON for us, so it is shell form rather than an error. */
        cr_expect_eq(parse(s, &args, &lens, &err), 0);
        free(s);
}
