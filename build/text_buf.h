#pragma once
/* A growable byte string, always NUL-terminated once anything has been added. */
#include <stddef.h>

struct text_buf {
        char *p; /* NULL until the first add */
        size_t len, cap;
};

/* Append s[0..n) (which may hold NUL bytes); aborts on out-of-memory like sb_xmalloc. */
void text_buf_add(struct text_buf *b, const char *s, size_t n);
/* Append the NUL-terminated string s. */
void text_buf_adds(struct text_buf *b, const char *s);
/* Append one byte. */
void text_buf_addc(struct text_buf *b, char c);
/* Hand the contents out as a NUL-terminated string (never NULL) and empty the buffer. */
char *text_buf_take(struct text_buf *b);
/* Free the contents and empty the buffer; safe on an empty one. */
void text_buf_free(struct text_buf *b);
/* Append s[0..n) quoted as Go's strconv.Quote (and so %q) writes it. */
void text_buf_add_quoted(struct text_buf *b, const char *s, size_t n);
