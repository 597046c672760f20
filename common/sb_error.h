#pragma once
/*
 * Error detail for every fallible function: the last parameter, on the caller's stack,
 * never allocated, so it can be filled in a forked child and sent over a pipe.
 */
#include <stddef.h>

typedef struct sb_error {
        int code;       /* positive errno value, 0 when unset */
        char msg[1024]; /* one line, lowercase, names the input */
} sb_error_t;

/* Fill err with a formatted message (no strerror); return -code. err may be NULL. */
int sb_error_set(sb_error_t *err, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Like sb_error_set, appending ": strerror(code)". */
int sb_error_errno(sb_error_t *err, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Prepend "context: " to an existing message; return -err->code (or -EIO if unset). */
int sb_error_prefix(sb_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
