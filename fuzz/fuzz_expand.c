/* libFuzzer target: word expansion (one word, word lists, the parser's raw lexer modes) with
 * both escape characters, in the environment the conformance tests use plus a few more. */
#include <stdlib.h>

#include "build/shell_expand.h"
#include "fuzz/fuzz.h"

/* -Wwrite-strings makes literals const; the API takes char *const * and never writes. */
static char *const fuzz_env[] = {
        (char *) "PWD=/home",   (char *) "SHELL=bash",
        (char *) "KOREAN=\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4",
        (char *) "NULL=",       (char *) "A=a b  c",
        (char *) "GLOB=*?[]",   (char *) "BS=\\\\",
        (char *) "DOLLAR=$HOME", NULL,
};

static void expand_all(const char *word, char esc)
{
        sb_error_t err = { 0 };
        char *one = NULL;
        char **many = NULL;

        if (shell_expand_word(word, fuzz_env, esc, &one, &err) >= 0)
                free(one);
        if (shell_expand_words(word, fuzz_env, esc, &many, &err) >= 0)
                sb_strv_free(many);
        one = NULL;
        many = NULL;
        if (shell_expand_full(word, NULL, esc, SHELL_EXPAND_RAW_QUOTES | SHELL_EXPAND_RAW_ESCAPES |
                              SHELL_EXPAND_SKIP_UNSET, &one, &many, &err) >= 0) {
                free(one);
                sb_strv_free(many);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *word = fuzz_cstr(data, size);

        expand_all(word, '\\');
        expand_all(word, '`');
        free(word);
        return 0;
}
