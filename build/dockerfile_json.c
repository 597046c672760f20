/*
 * JSON arrays of a Dockerfile's exec form. The whole text is validated first, as Go's decoder
 * does: invalid JSON means "not exec form" (shell form follows), while valid JSON with a
 * non-string element is an error. Only the top-level strings are decoded; anything nested is
 * validated and skipped.
 */
#include "build/dockerfile_json.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "build/text_buf.h"
#include "build/text_utf8.h"
#include "common/sb_util.h"

/* Go's JSON decoder limit is 10000; anything this deep is not a command line anyway. */
#define MAX_JSON_DEPTH 512

struct json {
        const char *s;
        size_t len, pos;
        bool non_string;
        /* the decoded top-level strings */
        char **args;
        size_t *lens;
        size_t n;
};

static void json_capture(struct json *j, struct text_buf *b)
{
        j->args = sb_xrealloc(j->args, (j->n + 2) * sizeof(char *));
        j->lens = sb_xrealloc(j->lens, (j->n + 1) * sizeof(size_t));
        j->lens[j->n] = b->len;
        j->args[j->n++] = text_buf_take(b);
        j->args[j->n] = NULL;
}

static void json_ws(struct json *j)
{
        while (j->pos < j->len && (j->s[j->pos] == ' ' || j->s[j->pos] == '\t' ||
                                   j->s[j->pos] == '\n' || j->s[j->pos] == '\r'))
                j->pos++;
}

static int hex4(const char *s, uint32_t *ret)
{
        uint32_t v = 0;

        for (int i = 0; i < 4; i++) {
                char c = s[i];
                v <<= 4;
                if (c >= '0' && c <= '9')
                        v |= (uint32_t) (c - '0');
                else if (c >= 'a' && c <= 'f')
                        v |= (uint32_t) (c - 'a' + 10);
                else if (c >= 'A' && c <= 'F')
                        v |= (uint32_t) (c - 'A' + 10);
                else
                        return -1;
        }
        *ret = v;
        return 0;
}

static void add_rune(struct text_buf *out, uint32_t cp)
{
        char o[TEXT_UTF8_MAX];

        text_buf_add(out, o, text_utf8_encode(cp, o));
}

/* A string at j->pos ('"'); decoded into out when out is not NULL. */
static bool json_string(struct json *j, struct text_buf *out)
{
        j->pos++;
        while (j->pos < j->len) {
                unsigned char c = (unsigned char) j->s[j->pos];
                uint32_t cp, lo;

                if (c == '"') {
                        j->pos++;
                        return true;
                }
                if (c < 0x20)
                        return false;
                if (c != '\\') {
                        /* Invalid UTF-8 becomes U+FFFD, as Go's decoder replaces it. */
                        size_t l = text_utf8_decode(j->s + j->pos, j->len - j->pos, &cp);
                        if (out)
                                add_rune(out, cp);
                        j->pos += l;
                        continue;
                }
                if (j->pos + 1 >= j->len)
                        return false;
                c = (unsigned char) j->s[j->pos + 1];
                j->pos += 2;
                const char *simple = strchr("\"\\/bfnrt", c);
                if (c && simple) {
                        static const char map[] = "\"\\/\b\f\n\r\t";
                        if (out)
                                text_buf_add(out, &map[simple - "\"\\/bfnrt"], 1);
                        continue;
                }
                if (c != 'u' || j->pos + 4 > j->len || hex4(j->s + j->pos, &cp) < 0)
                        return false;
                j->pos += 4;
                if (cp >= 0xd800 && cp < 0xdc00 && j->pos + 6 <= j->len &&
                    j->s[j->pos] == '\\' && j->s[j->pos + 1] == 'u' &&
                    hex4(j->s + j->pos + 2, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000) {
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                        j->pos += 6;
                } else if (cp >= 0xd800 && cp < 0xe000) {
                        cp = TEXT_UTF8_INVALID;
                }
                if (out)
                        add_rune(out, cp);
        }
        return false;
}

static bool json_digits(struct json *j)
{
        size_t start = j->pos;

        while (j->pos < j->len && j->s[j->pos] >= '0' && j->s[j->pos] <= '9')
                j->pos++;
        return j->pos > start;
}

static bool json_value(struct json *j, int depth, bool capture);

/* An array or object below the top level: validated only. */
static bool json_container(struct json *j, int depth)
{
        char close = j->s[j->pos] == '[' ? ']' : '}';

        if (depth > MAX_JSON_DEPTH)
                return false;
        j->pos++;
        json_ws(j);
        if (j->pos < j->len && j->s[j->pos] == close) {
                j->pos++;
                return true;
        }
        for (;;) {
                if (close == '}') {
                        json_ws(j);
                        if (j->pos >= j->len || j->s[j->pos] != '"' || !json_string(j, NULL))
                                return false;
                        json_ws(j);
                        if (j->pos >= j->len || j->s[j->pos++] != ':')
                                return false;
                }
                if (!json_value(j, depth + 1, false))
                        return false;
                json_ws(j);
                if (j->pos >= j->len)
                        return false;
                if (j->s[j->pos] == close) {
                        j->pos++;
                        return true;
                }
                if (j->s[j->pos++] != ',')
                        return false;
        }
}

/* One value; with capture set, a string is kept as an argument and anything else is noted. */
static bool json_value(struct json *j, int depth, bool capture)
{
        json_ws(j);
        if (j->pos >= j->len)
                return false;
        char c = j->s[j->pos];
        if (c == '"') {
                struct text_buf b = { 0 };
                bool ok = json_string(j, capture ? &b : NULL);
                if (ok && capture)
                        json_capture(j, &b);
                text_buf_free(&b);
                return ok;
        }
        if (capture)
                j->non_string = true;
        if (c == '[' || c == '{')
                return json_container(j, depth);
        for (size_t i = 0; i < 3; i++) {
                static const char *const lit[] = { "true", "false", "null" };
                size_t l = strlen(lit[i]);
                if (j->len - j->pos >= l && memcmp(j->s + j->pos, lit[i], l) == 0) {
                        j->pos += l;
                        return true;
                }
        }
        if (c == '-')
                j->pos++;
        if (j->pos < j->len && j->s[j->pos] == '0')
                j->pos++;
        else if (!json_digits(j))
                return false;
        if (j->pos < j->len && j->s[j->pos] == '.') {
                j->pos++;
                if (!json_digits(j))
                        return false;
        }
        if (j->pos < j->len && (j->s[j->pos] == 'e' || j->s[j->pos] == 'E')) {
                j->pos++;
                if (j->pos < j->len && (j->s[j->pos] == '+' || j->s[j->pos] == '-'))
                        j->pos++;
                if (!json_digits(j))
                        return false;
        }
        return true;
}

int dockerfile_json_parse_array(const char *s, size_t len, char ***ret_args, size_t **ret_lens,
                                sb_error_t *err)
{
        struct json j = { .s = s, .len = len };
        bool ok;

        j.pos = text_utf8_space_prefix(s, len);
        if (j.pos >= len || s[j.pos] != '[')
                return 0;
        j.args = sb_xcalloc(1, sizeof(char *));
        /* Capture the top-level elements only: walk the array by hand. */
        j.pos++;
        json_ws(&j);
        ok = j.pos < len;
        if (ok && s[j.pos] == ']') {
                j.pos++;
        } else {
                while (ok) {
                        ok = json_value(&j, 1, true);
                        json_ws(&j);
                        if (!ok || j.pos >= len) {
                                ok = false;
                                break;
                        }
                        if (s[j.pos] == ']') {
                                j.pos++;
                                break;
                        }
                        ok = s[j.pos++] == ',';
                }
        }
        json_ws(&j);
        ok = ok && j.pos == len;
        if (!ok || j.non_string) {
                sb_strv_free(j.args);
                free(j.lens);
                if (!ok)
                        return 0;
                return sb_error_set(err, EINVAL, "when using JSON array syntax, arrays must be "
                                    "comprised of strings only");
        }
        *ret_args = j.args;
        *ret_lens = j.lens ? j.lens : sb_xcalloc(1, sizeof(size_t));
        return 1;
}
