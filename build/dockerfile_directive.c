/*
 * Parser directives: "# key=value" lines before anything else, matched the way BuildKit's
 * reDirectives regular expression does, including its quirks with whitespace.
 */
#include "build/dockerfile_directive.h"

#include <errno.h>
#include <string.h>

#include "common/sb_util.h"

/* The \s class of Go's regexp (no \v). */
static bool re_space(char c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

int dockerfile_directive_parse(struct dockerfile_directives *d, struct dockerfile *df,
                               const char *p, size_t n, int line, sb_error_t *err)
{
        size_t i = 1, ks, kl, k, vl;
        const char *v;
        char key[16];
        bool *seen;

        if (d->done)
                return 0;
        d->done = true;
        if (n == 0 || p[0] != '#')
                return 0;
        while (i < n && re_space(p[i]))
                i++;
        if (i >= n || !((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z')))
                return 0;
        for (ks = i; i < n && ((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
                               (p[i] >= '0' && p[i] <= '9'));
             i++)
                ;
        kl = i - ks;
        while (i < n && re_space(p[i]))
                i++;
        if (i >= n || p[i] != '=' || kl >= sizeof(key))
                return 0;
        v = p + i + 1;
        vl = n - i - 1;
        for (k = 0; k < vl && re_space(v[k]); k++)
                ;
        if (vl == 0)
                return 0;
        if (k == vl) {
                /* (.+?) still takes one character when only whitespace is left. */
                v += vl - 1;
                vl = 1;
        } else {
                v += k;
                vl -= k;
                while (vl > 0 && re_space(v[vl - 1]))
                        vl--;
        }
        for (size_t j = 0; j < kl; j++)
                key[j] = (char) ((p[ks + j] >= 'A' && p[ks + j] <= 'Z') ? p[ks + j] - 'A' + 'a'
                                                                      : p[ks + j]);
        key[kl] = '\0';
        if (strcmp(key, "escape") == 0)
                seen = &d->seen_escape;
        else if (strcmp(key, "syntax") == 0)
                seen = &d->seen_syntax;
        else if (strcmp(key, "check") == 0)
                seen = &d->seen_check;
        else
                return 0;
        if (*seen)
                return sb_error_set(err, EINVAL, "line %d: only one %s parser directive can be "
                                    "used", line, key);
        *seen = true;
        d->done = false;
        if (strcmp(key, "escape") == 0) {
                if (vl != 1 || (v[0] != '`' && v[0] != '\\'))
                        return sb_error_set(err, EINVAL, "line %d: invalid escape token '%.*s' "
                                            "does not match ` or \\", line, (int) vl, v);
                d->esc = v[0];
        } else if (strcmp(key, "syntax") == 0) {
                df->syntax = sb_xstrndup(v, vl);
        } else {
                df->check = sb_xstrndup(v, vl);
        }
        return 0;
}
