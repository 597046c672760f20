#pragma once
/* Word expansion as Dockerfile instructions do it (BuildKit's shell lexer semantics). */
#include "common/sb_error.h"

/*
 * Expand one word: $var, ${var}, ${var:-x}, ${var-x}, ${var:+x}, ${var+x}, ${var:?msg},
 * ${var?msg}, ${var#p}, ${var##p}, ${var%p}, ${var%%p}, ${var/a/b}, ${var//a/b}, quotes and
 * escapes (escape is '\\' or '`'). env is NULL-terminated "K=V"; unknown variables expand to
 * "". The result is one string (quotes removed, no field splitting).
 */
int shell_expand_word(const char *word, char *const *env, char escape, char **ret,
                      sb_error_t *err);
/* Same, split into words on unquoted whitespace (for exec-form style word lists). */
int shell_expand_words(const char *word, char *const *env, char escape, char ***ret,
                       sb_error_t *err);

/* Lexer variations the Dockerfile parser needs to find heredoc words (BuildKit's Lex fields). */
enum {
        SHELL_EXPAND_RAW_QUOTES = 1 << 0,  /* keep quote characters in the output */
        SHELL_EXPAND_RAW_ESCAPES = 1 << 1, /* keep escape characters in the output */
        SHELL_EXPAND_SKIP_UNSET = 1 << 2,  /* leave references to unset variables as written */
};
/* shell_expand_words with SHELL_EXPAND_* flags; ret_word (may be NULL) gets the unsplit result. */
int shell_expand_full(const char *word, char *const *env, char escape, unsigned flags,
                      char **ret_word, char ***ret_words, sb_error_t *err);
