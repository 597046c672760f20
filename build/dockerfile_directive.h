#pragma once
/* Parser directives ("# escape=`", "# syntax=...", "# check=...") at the top of a Dockerfile. */
#include <stdbool.h>
#include <stddef.h>

#include "build/dockerfile_parse.h"
#include "common/sb_error.h"

/* Directive state across the lines of one file; start it as { .esc = '\\' }. */
struct dockerfile_directives {
        char esc;  /* the escape character in force */
        bool done; /* a non-directive line was seen: later "# k=v" lines are comments */
        bool seen_escape, seen_syntax, seen_check;
};

/*
 * Look at one line p[0..n) (newline trimmed) as BuildKit's reDirectives would. A directive
 * sets d->esc, df->syntax or df->check; the first line that is not a directive ends the
 * directive block for good. Unknown keys also end it. Returns 0, or -EINVAL with err set
 * ("line N: ...") for a repeated directive or an escape other than ` or \.
 */
int dockerfile_directive_parse(struct dockerfile_directives *d, struct dockerfile *df,
                               const char *p, size_t n, int line, sb_error_t *err);
