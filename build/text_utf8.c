/* UTF-8 and Unicode whitespace helpers shared by the Dockerfile parser and the shell lexer. */
#include "build/text_utf8.h"

size_t text_utf8_decode(const char *s, size_t n, uint32_t *ret_cp)
{
        const unsigned char *u = (const unsigned char *) s;
        size_t len;
        uint32_t c, min;

        if (u[0] < 0x80) {
                *ret_cp = u[0];
                return 1;
        }
        if ((u[0] & 0xe0) == 0xc0)
                len = 2, c = u[0] & 0x1f, min = 0x80;
        else if ((u[0] & 0xf0) == 0xe0)
                len = 3, c = u[0] & 0x0f, min = 0x800;
        else if ((u[0] & 0xf8) == 0xf0)
                len = 4, c = u[0] & 0x07, min = 0x10000;
        else
                goto bad;
        if (len > n)
                goto bad;
        for (size_t i = 1; i < len; i++) {
                if ((u[i] & 0xc0) != 0x80)
                        goto bad;
                c = (c << 6) | (u[i] & 0x3f);
        }
        /* Overlong forms and surrogates are invalid in UTF-8, so Go rejects them too. */
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
                goto bad;
        *ret_cp = c;
        return len;
bad:
        *ret_cp = TEXT_UTF8_INVALID;
        return 1;
}

size_t text_utf8_encode(uint32_t c, char out[TEXT_UTF8_MAX])
{
        if (c < 0x80) {
                out[0] = (char) c;
                return 1;
        }
        if (c < 0x800) {
                out[0] = (char) (0xc0 | (c >> 6));
                out[1] = (char) (0x80 | (c & 0x3f));
                return 2;
        }
        if (c < 0x10000) {
                out[0] = (char) (0xe0 | (c >> 12));
                out[1] = (char) (0x80 | ((c >> 6) & 0x3f));
                out[2] = (char) (0x80 | (c & 0x3f));
                return 3;
        }
        out[0] = (char) (0xf0 | (c >> 18));
        out[1] = (char) (0x80 | ((c >> 12) & 0x3f));
        out[2] = (char) (0x80 | ((c >> 6) & 0x3f));
        out[3] = (char) (0x80 | (c & 0x3f));
        return 4;
}

bool text_utf8_is_space(uint32_t c)
{
        switch (c) {
        case '\t': case '\n': case '\v': case '\f': case '\r': case ' ':
        case 0x85: case 0xa0: case 0x1680: case 0x2028: case 0x2029: case 0x202f:
        case 0x205f: case 0x3000:
                return true;
        }
        return c >= 0x2000 && c <= 0x200a;
}

bool text_utf8_is_print(uint32_t c)
{
        if (c < 0x80)
                return c >= 0x20 && c < 0x7f;
        /* C1 controls, the no-break space and format characters are escaped by Go. */
        if (c <= 0xa0 || c == 0xad || c == 0x61c || c == 0x180e || c == 0xfeff)
                return false;
        if (text_utf8_is_space(c) || (c >= 0x200b && c <= 0x200f) ||
            (c >= 0x2028 && c <= 0x202e) || (c >= 0x2060 && c <= 0x206f) ||
            (c >= 0xfff9 && c <= 0xfffb) || (c >= 0xe000 && c <= 0xf8ff) || c >= 0xe0000 ||
            c == 0xfffe || c == 0xffff)
                return false;
        return true;
}

size_t text_utf8_space_prefix(const char *s, size_t n)
{
        size_t i = 0;

        while (i < n) {
                uint32_t c;
                size_t l = text_utf8_decode(s + i, n - i, &c);
                if (!text_utf8_is_space(c))
                        break;
                i += l;
        }
        return i;
}

size_t text_utf8_trim_right_len(const char *s, size_t n)
{
        size_t end = 0;

        for (size_t i = 0; i < n;) {
                uint32_t c;
                size_t l = text_utf8_decode(s + i, n - i, &c);
                i += l;
                if (!text_utf8_is_space(c))
                        end = i;
        }
        return end;
}
