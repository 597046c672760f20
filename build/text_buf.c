/* The growable string buffer the Dockerfile parser and the shell lexer build their output in. */
#include "build/text_buf.h"

#include <stdlib.h>
#include <string.h>

#include "common/sb_util.h"

void text_buf_add(struct text_buf *b, const char *s, size_t n)
{
        if (b->len + n + 1 > b->cap) {
                size_t cap = b->cap ? b->cap : 64;
                while (cap < b->len + n + 1)
                        cap *= 2;
                b->p = sb_xrealloc(b->p, cap);
                b->cap = cap;
        }
        memcpy(b->p + b->len, s, n);
        b->len += n;
        b->p[b->len] = '\0';
}

void text_buf_adds(struct text_buf *b, const char *s)
{
        text_buf_add(b, s, strlen(s));
}

void text_buf_addc(struct text_buf *b, char c)
{
        text_buf_add(b, &c, 1);
}

char *text_buf_take(struct text_buf *b)
{
        char *s = b->p ? b->p : sb_xstrdup("");
        *b = (struct text_buf){ 0 };
        return s;
}

void text_buf_free(struct text_buf *b)
{
        free(b->p);
        *b = (struct text_buf){ 0 };
}
