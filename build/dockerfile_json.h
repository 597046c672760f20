#pragma once
/* The JSON array of a Dockerfile's exec form (RUN ["cmd", "arg"]), decoded as BuildKit does. */
#include <stddef.h>

#include "common/sb_error.h"

/*
 * Decode s[0..len) as a JSON array of strings. Leading Unicode whitespace is skipped and the
 * whole text must be one valid JSON value, checked as Go's decoder would: invalid JSON is not
 * exec form (the caller falls back to shell form), while a valid array with a non-string
 * element is an error.
 *
 * Returns 1 with *ret_args (NULL-terminated) and *ret_lens (the byte length of each element; a
 * "\u0000" puts a NUL inside one) set, both for the caller to free; 0 when the text is not a
 * JSON array, leaving the outputs untouched; -EINVAL with err set for an array holding a
 * value that is not a string. Nesting is bounded, so hostile input cannot exhaust the stack.
 */
int dockerfile_json_parse_array(const char *s, size_t len, char ***ret_args, size_t **ret_lens,
                                sb_error_t *err);
