/* .dockerignore / --exclude matching, with moby/patternmatcher's rules (see build_ignore.h).
 * Each pattern becomes an anchored POSIX extended regex, as patternmatcher builds a Go one. */
#include "build/build_ignore.h"

#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "common/sb_cleanup.h"
#include "common/sb_util.h"

struct ignore_pattern {
        regex_t re;
        bool exception;
};

struct build_ignore {
        struct ignore_pattern *p;
        size_t n;
        bool has_exceptions;
};

/* Go's filepath.Clean for '/'-separated paths: "" is ".", a rooted ".." stays at the root. */
static char *go_clean(const char *path)
{
        bool rooted = path[0] == '/';
        size_t n = strlen(path);
        char *out = sb_xmalloc(n + 2);
        size_t o = 0, floor = 0; /* out[0..floor) holds leading ".." that cannot be removed */
        if (rooted)
                out[o++] = '/';
        const char *p = path;
        while (*p) {
                while (*p == '/')
                        p++;
                if (!*p)
                        break;
                size_t len = strcspn(p, "/");
                if (len == 1 && p[0] == '.') {
                        /* drop */
                } else if (len == 2 && p[0] == '.' && p[1] == '.') {
                        size_t start = rooted ? 1 : 0;
                        if (o > start + floor) {
                                while (o > start + floor && out[o - 1] != '/')
                                        o--;
                                if (o > start + floor)
                                        o--;
                        } else if (!rooted) {
                                if (o > 0)
                                        out[o++] = '/';
                                out[o++] = '.';
                                out[o++] = '.';
                                floor = o;
                        }
                } else {
                        if (o > (rooted ? 1u : 0u))
                                out[o++] = '/';
                        memcpy(out + o, p, len);
                        o += len;
                }
                p += len;
        }
        if (o == 0)
                out[o++] = '.';
        out[o] = '\0';
        return out;
}

static void buf_add(char **buf, size_t *len, size_t *cap, const char *s)
{
        size_t n = strlen(s);
        if (*len + n + 1 > *cap) {
                *cap = (*len + n + 1) * 2;
                *buf = sb_xrealloc(*buf, *cap);
        }
        memcpy(*buf + *len, s, n + 1);
        *len += n;
}

/* patternmatcher's translation: '*' any run without '/', '?' one non-'/' character, '**' any
 * number of directories ('**' at the end: anything), '\' escapes, '[...]' kept as a class. */
static char *pattern_regex(const char *pat)
{
        char *buf = NULL;
        size_t len = 0, cap = 0;
        buf_add(&buf, &len, &cap, "^");
        for (const char *c = pat; *c; c++) {
                char one[3] = { 0 };
                if (c[0] == '*' && c[1] == '*') {
                        c++;
                        if (c[1] == '/')
                                c++;
                        buf_add(&buf, &len, &cap, c[1] ? "(.*/)?" : ".*");
                } else if (*c == '*') {
                        buf_add(&buf, &len, &cap, "[^/]*");
                } else if (*c == '?') {
                        buf_add(&buf, &len, &cap, "[^/]");
                } else if (*c == '\\') {
                        if (c[1]) {
                                c++;
                                if (strchr(".+()|{}$^[]*?\\", *c)) {
                                        one[0] = '\\';
                                        one[1] = *c;
                                } else {
                                        one[0] = *c;
                                }
                        } else {
                                one[0] = '\\';
                                one[1] = '\\';
                        }
                        buf_add(&buf, &len, &cap, one);
                } else if (strchr(".+()|{}$", *c)) {
                        one[0] = '\\';
                        one[1] = *c;
                        buf_add(&buf, &len, &cap, one);
                } else {
                        one[0] = *c;
                        buf_add(&buf, &len, &cap, one);
                }
        }
        buf_add(&buf, &len, &cap, "$");
        return buf;
}

static char *trim(const char *s, size_t len)
{
        while (len > 0 && strchr(" \t\r\n\v\f", *s)) {
                s++;
                len--;
        }
        while (len > 0 && strchr(" \t\r\n\v\f", s[len - 1]))
                len--;
        return sb_xstrndup(s, len);
}

int build_ignore_new(char *const *patterns, struct build_ignore **ret, sb_error_t *err)
{
        size_t n = sb_strv_len(patterns);
        if (n > BUILD_IGNORE_PATTERNS_MAX)
                return sb_error_set(err, E2BIG, "more than %u ignore patterns",
                                    BUILD_IGNORE_PATTERNS_MAX);
        struct build_ignore *ig = sb_xcalloc(1, sizeof(*ig));
        ig->p = sb_xcalloc(n + 1, sizeof(*ig->p));
        for (size_t i = 0; i < n; i++) {
                cleanup_free char *t = trim(patterns[i], strlen(patterns[i]));
                if (!*t)
                        continue;
                bool exception = t[0] == '!';
                cleanup_free char *body = exception ? trim(t + 1, strlen(t + 1)) : sb_xstrdup(t);
                if (!*body) {
                        build_ignore_free(ig);
                        return sb_error_set(err, EINVAL, "illegal exclusion pattern: \"%s\"",
                                            patterns[i]);
                }
                cleanup_free char *clean = go_clean(body);
                const char *rel = clean;
                if (rel[0] == '/' && rel[1])
                        rel++;
                cleanup_free char *rx = pattern_regex(rel);
                struct ignore_pattern *p = &ig->p[ig->n];
                if (regcomp(&p->re, rx, REG_EXTENDED | REG_NOSUB) != 0) {
                        build_ignore_free(ig);
                        return sb_error_set(err, EINVAL, "invalid ignore pattern \"%s\"",
                                            patterns[i]);
                }
                p->exception = exception;
                ig->has_exceptions |= exception;
                ig->n++;
        }
        *ret = ig;
        return 0;
}

struct build_ignore *build_ignore_free(struct build_ignore *ig)
{
        if (!ig)
                return NULL;
        for (size_t i = 0; i < ig->n; i++)
                regfree(&ig->p[i].re);
        free(ig->p);
        free(ig);
        return NULL;
}

char **build_ignore_parse_text(const char *text, size_t len)
{
        char **out = NULL;
        size_t i = 0;
        if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
                i = 3;
        while (i < len) {
                const char *nl = memchr(text + i, '\n', len - i);
                size_t l = nl ? (size_t) (nl - (text + i)) : len - i;
                /* a comment is a line starting with '#', before any trimming */
                if (l > 0 && text[i] != '#') {
                        char *t = trim(text + i, l);
                        if (*t)
                                sb_strv_push_take(&out, t);
                        else
                                free(t);
                }
                i += l + 1;
        }
        return out;
}

static int read_ignore_at(int dirfd, const char *path, char ***ret, sb_error_t *err)
{
        cleanup_free char *text = NULL;
        size_t len = 0;
        sb_error_t rerr = { 0 };
        int r = sb_read_file_at(dirfd, path, BUILD_IGNORE_FILE_MAX, &text, &len, &rerr);
        if (r == -ENOENT || r == -ENOTDIR)
                return 0;
        if (r < 0)
                return sb_error_set(err, -r, "'%s': %s", path, rerr.msg);
        char **p = build_ignore_parse_text(text, len);
        *ret = p ? p : sb_xcalloc(1, sizeof(char *));
        return 1;
}

int build_ignore_load(int context_fd, const char *dockerfile, char ***ret_patterns,
                      sb_error_t *err)
{
        *ret_patterns = NULL;
        if (dockerfile && *dockerfile) {
                /* BuildKit: <Dockerfile>.dockerignore beside the Dockerfile comes first */
                cleanup_free char *own = sb_xasprintf("%s.dockerignore", dockerfile);
                int r = read_ignore_at(own[0] == '/' ? AT_FDCWD : context_fd, own, ret_patterns,
                                       err);
                if (r != 0)
                        return r < 0 ? r : 0;
        }
        int r = read_ignore_at(context_fd, ".dockerignore", ret_patterns, err);
        return r < 0 ? r : 0;
}

static bool pattern_match(const struct ignore_pattern *p, const char *path)
{
        return regexec(&p->re, path, 0, NULL, 0) == 0;
}

bool build_ignore_excluded(const struct build_ignore *ig, const char *path)
{
        if (!ig || ig->n == 0)
                return false;
        cleanup_free char *file = go_clean(path);
        bool matched = false;
        char *slash = strrchr(file, '/');
        for (size_t i = 0; i < ig->n; i++) {
                const struct ignore_pattern *p = &ig->p[i];
                /* an exclusion can only change an unmatched path, an exception a matched one */
                if (p->exception != matched)
                        continue;
                bool m = pattern_match(p, file);
                /* or one of its parent directories, shortest first */
                for (char *c = file; !m && slash && c < slash; c++) {
                        if (*c != '/')
                                continue;
                        *c = '\0';
                        m = pattern_match(p, file);
                        *c = '/';
                }
                if (!m && slash) {
                        *slash = '\0';
                        m = pattern_match(p, file);
                        *slash = '/';
                }
                if (m)
                        matched = !p->exception;
        }
        return matched;
}

bool build_ignore_has_exceptions(const struct build_ignore *ig)
{
        return ig && ig->has_exceptions;
}
