/* The growable string buffer the Dockerfile parser and the shell lexer build their output in. */
#include "build/text_buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build/text_utf8.h"
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

void text_buf_add_quoted(struct text_buf *b, const char *s, size_t n)
{
        char tmp[16];

        text_buf_add(b, "\"", 1);
        for (size_t i = 0; i < n;) {
                uint32_t c;
                size_t l = text_utf8_decode(s + i, n - i, &c);
                const char *esc = NULL;

                if (c == TEXT_UTF8_INVALID && l == 1) {
                        snprintf(tmp, sizeof(tmp), "\\x%02x", (unsigned char) s[i]);
                        esc = tmp;
                } else if (c == '"' || c == '\\') {
                        tmp[0] = '\\', tmp[1] = (char) c, tmp[2] = '\0';
                        esc = tmp;
                } else if (text_utf8_is_print(c)) {
                        text_buf_add(b, s + i, l);
                } else {
                        switch (c) {
                        case '\a': esc = "\\a"; break;
                        case '\b': esc = "\\b"; break;
                        case '\f': esc = "\\f"; break;
                        case '\n': esc = "\\n"; break;
                        case '\r': esc = "\\r"; break;
                        case '\t': esc = "\\t"; break;
                        case '\v': esc = "\\v"; break;
                        default:
                                if (c < 0x20 || c == 0x7f)
                                        snprintf(tmp, sizeof(tmp), "\\x%02x", c);
                                else if (c < 0x10000)
                                        snprintf(tmp, sizeof(tmp), "\\u%04x", c);
                                else
                                        snprintf(tmp, sizeof(tmp), "\\U%08x", c);
                                esc = tmp;
                        }
                }
                if (esc)
                        text_buf_add(b, esc, strlen(esc));
                i += l;
        }
        text_buf_add(b, "\"", 1);
}
