/*
 * Word expansion with the semantics of BuildKit's shell lexer (frontend/dockerfile/shell), so a
 * Dockerfile expands the same way under sbuild as under docker build: quotes, the escape
 * character, $name, ${name} and the ${name<op>word} forms, no command substitution, no globbing.
 */
#include "build/shell_expand.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "build/text_buf.h"
#include "build/text_utf8.h"
#include "common/sb_util.h"

/* Each ${...} with a word recurses; hostile input must not exhaust the stack. */
#define MAX_NESTING 64
#define LEX_EOF (-1)
#define NO_POS SIZE_MAX

/* Approximates unicode.IsLetter for non-ASCII: most scripts are letters, symbol blocks not. */
static bool rune_is_name_char(uint32_t c)
{
        if (c < 0x80)
                return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                       (c >= '0' && c <= '9') || c == '_';
        if (c == TEXT_UTF8_INVALID || text_utf8_is_space(c))
                return false;
        if (c <= 0xbf)
                return c == 0xaa || c == 0xb5 || c == 0xba;
        if (c == 0xd7 || c == 0xf7)
                return false;
        return !(c >= 0x2000 && c <= 0x2bff) && !(c >= 0x3000 && c <= 0x303f);
}

/* The word list built next to the single result (BuildKit's wordsStruct). */
struct words {
        struct text_buf word;
        bool in_word;
        char **v;
        size_t n;
};

static void words_push(struct words *w)
{
        w->v = sb_xrealloc(w->v, (w->n + 2) * sizeof(char *));
        w->v[w->n++] = text_buf_take(&w->word);
        w->v[w->n] = NULL;
        w->in_word = false;
}

static void words_add_raw(struct words *w, const char *s, size_t n)
{
        if (!w)
                return;
        text_buf_add(&w->word, s, n);
        w->in_word = true;
}

/* Unquoted text: whitespace ends the current word. */
static void words_add(struct words *w, const char *s, size_t n)
{
        if (!w)
                return;
        for (size_t i = 0; i < n;) {
                uint32_t c;
                size_t l = text_utf8_decode(s + i, n - i, &c);
                if (text_utf8_is_space(c)) {
                        if (w->in_word && w->word.len > 0)
                                words_push(w);
                } else {
                        words_add_raw(w, s + i, l);
                }
                i += l;
        }
}

struct lexer {
        const char *s;
        size_t len, pos;
        char *const *env;
        char esc;
        unsigned flags;
        bool raw_escapes;
        int depth;
        sb_error_t *err;
};

static int peek(const struct lexer *l)
{
        return l->pos < l->len ? (unsigned char) l->s[l->pos] : LEX_EOF;
}

/* Consume one character; its bytes are s[*start .. *start + return value). */
static size_t next_char(struct lexer *l, size_t *start)
{
        uint32_t c;
        size_t n;

        *start = l->pos;
        if (l->pos >= l->len)
                return 0;
        n = text_utf8_decode(l->s + l->pos, l->len - l->pos, &c);
        l->pos += n;
        return n;
}

static bool env_lookup(const struct lexer *l, const char *name, const char **ret)
{
        size_t nl = strlen(name);
        bool found = false;

        /* The last definition wins, as a later ENV overrides an earlier one. */
        for (char *const *e = l->env; e && *e; e++) {
                const char *eq = strchr(*e, '=');
                size_t kl = eq ? (size_t) (eq - *e) : strlen(*e);
                if (kl == nl && memcmp(*e, name, nl) == 0) {
                        *ret = eq ? eq + 1 : "";
                        found = true;
                }
        }
        if (!found)
                *ret = "";
        return found;
}

static int process_stop_on(struct lexer *l, int stop, bool raw_escapes, struct text_buf *result,
                           struct words *words);

static bool is_special_param(int c)
{
        return c == '@' || c == '*' || c == '#' || c == '?' || c == '-' || c == '$' ||
               c == '!' || c == '0';
}

static void process_name(struct lexer *l, struct text_buf *name)
{
        while (peek(l) != LEX_EOF) {
                int c = peek(l);
                uint32_t cp;
                size_t n;

                if (name->len == 0 && c >= '0' && c <= '9') {
                        while (peek(l) >= '0' && peek(l) <= '9')
                                text_buf_addc(name, l->s[l->pos++]);
                        return;
                }
                if (name->len == 0 && is_special_param(c)) {
                        text_buf_addc(name, l->s[l->pos++]);
                        return;
                }
                n = text_utf8_decode(l->s + l->pos, l->len - l->pos, &cp);
                if (!rune_is_name_char(cp))
                        break;
                text_buf_add(name, l->s + l->pos, n);
                l->pos += n;
        }
}

static int process_single_quote(struct lexer *l, struct text_buf *out)
{
        bool raw = l->flags & SHELL_EXPAND_RAW_QUOTES;

        l->pos++;
        if (raw)
                text_buf_addc(out, '\'');
        for (;;) {
                size_t start, n = next_char(l, &start);
                if (n == 0)
                        return sb_error_set(l->err, EINVAL, "unexpected end of statement while "
                                            "looking for matching single-quote");
                if (l->s[start] == '\'') {
                        if (raw)
                                text_buf_addc(out, '\'');
                        return 0;
                }
                text_buf_add(out, l->s + start, n);
        }
}

static int process_dollar(struct lexer *l, struct text_buf *out);

static int process_double_quote(struct lexer *l, struct text_buf *out)
{
        bool raw = l->flags & SHELL_EXPAND_RAW_QUOTES;

        l->pos++;
        if (raw)
                text_buf_addc(out, '"');
        for (;;) {
                int c = peek(l);
                size_t start, n;

                if (c == LEX_EOF)
                        return sb_error_set(l->err, EINVAL, "unexpected end of statement while "
                                            "looking for matching double-quote");
                if (c == '"') {
                        l->pos++;
                        if (raw)
                                text_buf_addc(out, '"');
                        return 0;
                }
                if (c == '$') {
                        int r = process_dollar(l, out);
                        if (r < 0)
                                return r;
                        continue;
                }
                n = next_char(l, &start);
                if (l->s[start] == l->esc) {
                        int p = peek(l);
                        if (l->raw_escapes)
                                text_buf_addc(out, l->esc);
                        if (p == LEX_EOF)
                                continue;
                        /* Only ", $ and the escape itself are escapable; else it stays. */
                        if (p == '"' || p == '$' || p == l->esc)
                                n = next_char(l, &start);
                }
                text_buf_add(out, l->s + start, n);
        }
}

/* A ${name#pattern} / ${name/pattern/x} pattern: '*' any run, '?' one character. */
enum { TOK_STAR, TOK_ANY, TOK_LIT };
struct tok {
        int type;
        const char *p;
        size_t n;
};

static int glob_compile(const char *pat, size_t len, struct tok **ret, size_t *ret_n,
                        sb_error_t *err)
{
        struct tok *t = sb_xcalloc(len + 1, sizeof(*t));
        size_t n = 0;

        for (size_t i = 0; i < len;) {
                uint32_t cp;
                size_t l = text_utf8_decode(pat + i, len - i, &cp);
                if (pat[i] == '*') {
                        t[n++] = (struct tok){ TOK_STAR, NULL, 0 };
                } else if (pat[i] == '?') {
                        t[n++] = (struct tok){ TOK_ANY, NULL, 0 };
                } else if (pat[i] == '\\') {
                        /* \} and \/ are escapes of ${} syntax, not of the pattern. */
                        if (i + 1 < len && (pat[i + 1] == '}' || pat[i + 1] == '/')) {
                                i++;
                                continue;
                        }
                        if (i + 1 >= len ||
                            (pat[i + 1] != '*' && pat[i + 1] != '?' && pat[i + 1] != '\\')) {
                                free(t);
                                return sb_error_set(err, EINVAL, "invalid pattern (%.*s) in "
                                                    "substitution: invalid escape", (int) len,
                                                    pat);
                        }
                        t[n++] = (struct tok){ TOK_LIT, pat + i + 1, 1 };
                        l = 2;
                } else {
                        t[n++] = (struct tok){ TOK_LIT, pat + i, l };
                }
                i += l;
        }
        *ret = t;
        *ret_n = n;
        return 0;
}

struct span {
        size_t off, len;
};

static struct span *split_runes(const char *s, size_t len, size_t *ret_n)
{
        struct span *r = sb_xcalloc(len + 1, sizeof(*r));
        size_t n = 0;

        for (size_t i = 0; i < len;) {
                uint32_t cp;
                size_t l = text_utf8_decode(s + i, len - i, &cp);
                r[n++] = (struct span){ i, l };
                i += l;
        }
        *ret_n = n;
        return r;
}

static bool tok_matches(const struct tok *t, const char *s, struct span sp)
{
        if (t->type == TOK_LIT)
                return t->n == sp.len && memcmp(t->p, s + sp.off, sp.len) == 0;
        return true;
}

/* NFA state set with the earliest start offset per state (NO_POS: state not active). */
static void state_add(size_t *set, const struct tok *t, size_t nt, size_t i, size_t start)
{
        for (; i <= nt; i++) {
                if (set[i] <= start)
                        return;
                set[i] = start;
                if (i == nt || t[i].type != TOK_STAR)
                        return;
        }
}

static void state_step(const size_t *cur, size_t *next, const struct tok *t, size_t nt,
                       const char *s, struct span sp, size_t limit)
{
        for (size_t i = 0; i <= nt; i++)
                next[i] = NO_POS;
        for (size_t i = 0; i < nt; i++) {
                if (cur[i] == NO_POS || (limit != NO_POS && cur[i] > limit))
                        continue;
                if (t[i].type == TOK_STAR)
                        state_add(next, t, nt, i, cur[i]);
                else if (tok_matches(&t[i], s, sp))
                        state_add(next, t, nt, i + 1, cur[i]);
        }
}

/*
 * Length in characters of the shortest (or longest) prefix of the value matching the whole
 * pattern, or NO_POS. With reverse set, the value and pattern are walked from the end, which
 * gives the suffix match ${var%pattern} needs.
 */
static size_t glob_prefix(const struct tok *tk, size_t nt, const char *s, const struct span *sp,
                          size_t ns, bool longest, bool reverse)
{
        struct tok *t = sb_xcalloc(nt + 1, sizeof(*t));
        size_t *cur = sb_xcalloc(nt + 1, sizeof(size_t));
        size_t *next = sb_xcalloc(nt + 1, sizeof(size_t));
        size_t best = NO_POS;

        for (size_t i = 0; i < nt; i++)
                t[i] = tk[reverse ? nt - 1 - i : i];
        for (size_t i = 0; i <= nt; i++)
                cur[i] = NO_POS;
        state_add(cur, t, nt, 0, 0);
        for (size_t k = 0;; k++) {
                bool any = false;
                if (cur[nt] != NO_POS) {
                        best = k;
                        if (!longest)
                                break;
                }
                if (k == ns)
                        break;
                state_step(cur, next, t, nt, s, sp[reverse ? ns - 1 - k : k], NO_POS);
                for (size_t i = 0; i <= nt; i++) {
                        cur[i] = next[i];
                        any |= next[i] != NO_POS;
                }
                if (!any)
                        break;
        }
        free(t);
        free(cur);
        free(next);
        return best;
}

/* Leftmost, then longest, match at or after character index from. */
static bool glob_search(const struct tok *t, size_t nt, const char *s, const struct span *sp,
                        size_t ns, size_t from, size_t *ms, size_t *me)
{
        size_t *cur = sb_xcalloc(nt + 1, sizeof(size_t));
        size_t *next = sb_xcalloc(nt + 1, sizeof(size_t));
        size_t bs = NO_POS, be = 0;

        for (size_t i = 0; i <= nt; i++)
                cur[i] = NO_POS;
        for (size_t k = from;; k++) {
                bool any = false;
                if (bs == NO_POS)
                        state_add(cur, t, nt, 0, k);
                if (cur[nt] != NO_POS &&
                    (bs == NO_POS || cur[nt] < bs || (cur[nt] == bs && k > be))) {
                        bs = cur[nt];
                        be = k;
                }
                if (k == ns)
                        break;
                state_step(cur, next, t, nt, s, sp[k], bs);
                for (size_t i = 0; i <= nt; i++) {
                        cur[i] = next[i];
                        any |= next[i] != NO_POS;
                }
                if (!any && bs != NO_POS)
                        break;
        }
        free(cur);
        free(next);
        *ms = bs;
        *me = be;
        return bs != NO_POS;
}

static int trim_affix(const char *value, const char *pattern, bool suffix, bool greedy,
                      struct text_buf *out, sb_error_t *err)
{
        struct tok *t = NULL;
        size_t nt, ns, k;
        struct span *sp;
        int r = glob_compile(pattern, strlen(pattern), &t, &nt, err);

        if (r < 0)
                return r;
        sp = split_runes(value, strlen(value), &ns);
        k = glob_prefix(t, nt, value, sp, ns, greedy, suffix);
        if (k == NO_POS)
                text_buf_adds(out, value);
        else if (suffix)
                text_buf_add(out, value, k == ns ? 0 : sp[ns - k].off);
        else
                text_buf_adds(out, k == ns ? "" : value + sp[k].off);
        free(sp);
        free(t);
        return 0;
}

static int replace(const char *value, const char *pattern, const char *repl, bool all,
                   struct text_buf *out, sb_error_t *err)
{
        struct tok *t = NULL;
        size_t nt, ns, from = 0, copied = 0, prev_end = NO_POS, ms, me;
        struct span *sp;
        int r = glob_compile(pattern, strlen(pattern), &t, &nt, err);

        if (r < 0)
                return r;
        sp = split_runes(value, strlen(value), &ns);
        sp[ns].off = strlen(value);
        while (from <= ns && glob_search(t, nt, value, sp, ns, from, &ms, &me)) {
                /* Like Go's ReplaceAll: an empty match right after a match is skipped. */
                if (ms == me && ms == prev_end) {
                        if (ms >= ns)
                                break;
                        from = ms + 1;
                        continue;
                }
                text_buf_add(out, value + sp[copied].off, sp[ms].off - sp[copied].off);
                text_buf_adds(out, repl);
                copied = prev_end = me;
                if (!all)
                        break;
                if (me > ms)
                        from = me;
                else if (ms >= ns)
                        break;
                else
                        from = ms + 1;
        }
        text_buf_adds(out, value + sp[copied].off);
        free(sp);
        free(t);
        return 0;
}

static int modifier_error(struct lexer *l, const char *chs)
{
        return sb_error_set(l->err, EINVAL, "unsupported modifier (%s) in substitution", chs);
}

static int process_braced(struct lexer *l, const char *name, struct text_buf *out)
{
        struct text_buf word = { 0 }, repl = { 0 };
        char chs[16] = "";
        bool null_is_unset = false, set;
        const char *value;
        size_t start, n = next_char(l, &start);
        int ch = n ? (unsigned char) l->s[start] : LEX_EOF, r = 0;

        if (n)
                memcpy(chs, l->s + start, n), chs[n] = '\0';
        if (ch == '}') {
                set = env_lookup(l, name, &value);
                if (!set && (l->flags & SHELL_EXPAND_SKIP_UNSET)) {
                        text_buf_adds(out, "${"), text_buf_adds(out, name), text_buf_addc(out, '}');
                        return 0;
                }
                text_buf_adds(out, value);
                return 0;
        }
        if (ch == '/') {
                bool all = peek(l) == '/';
                struct text_buf pat = { 0 };
                if (all)
                        l->pos++;
                r = process_stop_on(l, '/', true, &pat, NULL);
                if (r < 0) {
                        text_buf_free(&pat);
                        if (peek(l) == LEX_EOF)
                                return sb_error_set(l->err, EINVAL,
                                                    "syntax error: missing '/' in ${}");
                        return r;
                }
                r = process_stop_on(l, '}', true, &repl, NULL);
                if (r < 0) {
                        text_buf_free(&pat);
                        text_buf_free(&repl);
                        if (peek(l) == LEX_EOF)
                                return sb_error_set(l->err, EINVAL, "syntax error: missing '}'");
                        return r;
                }
                set = env_lookup(l, name, &value);
                if (!set && (l->flags & SHELL_EXPAND_SKIP_UNSET)) {
                        text_buf_adds(out, "${"), text_buf_adds(out, name), text_buf_addc(out, '/');
                        text_buf_adds(out, pat.p ? pat.p : ""), text_buf_addc(out, '/');
                        text_buf_adds(out, repl.p ? repl.p : ""), text_buf_addc(out, '}');
                } else {
                        r = replace(value, pat.p ? pat.p : "", repl.p ? repl.p : "", all, out,
                                    l->err);
                }
                text_buf_free(&pat);
                text_buf_free(&repl);
                return r;
        }
        if (ch == ':') {
                null_is_unset = true;
                n = next_char(l, &start);
                ch = n ? (unsigned char) l->s[start] : LEX_EOF;
                if (n)
                        memcpy(chs + 1, l->s + start, n), chs[n + 1] = '\0';
        } else if (ch != '+' && ch != '-' && ch != '?' && ch != '#' && ch != '%') {
                return modifier_error(l, chs);
        }

        r = process_stop_on(l, '}', ch == '#' || ch == '%', &word, NULL);
        if (r < 0) {
                text_buf_free(&word);
                if (peek(l) == LEX_EOF)
                        return sb_error_set(l->err, EINVAL, "syntax error: missing '}'");
                return r;
        }
        const char *w = word.p ? word.p : "";
        set = env_lookup(l, name, &value);
        bool empty = !set || (null_is_unset && value[0] == '\0');
        if (!set && (l->flags & SHELL_EXPAND_SKIP_UNSET)) {
                text_buf_adds(out, "${"), text_buf_adds(out, name), text_buf_adds(out, chs);
                text_buf_adds(out, w), text_buf_addc(out, '}');
        } else if (ch == '-') {
                text_buf_adds(out, empty ? w : value);
        } else if (ch == '+') {
                text_buf_adds(out, empty ? "" : w);
        } else if (ch == '?') {
                if (!set)
                        r = sb_error_set(l->err, EINVAL, "%s: %s", name,
                                         *w ? w : "is not allowed to be unset");
                else if (empty)
                        r = sb_error_set(l->err, EINVAL, "%s: %s", name,
                                         *w ? w : "is not allowed to be empty");
                else
                        text_buf_adds(out, value);
        } else if (ch == '#' || ch == '%') {
                /* One # or % takes the shortest match, a doubled one the longest. */
                bool greedy = w[0] == ch;
                r = trim_affix(value, greedy ? w + 1 : w, ch == '%', greedy, out, l->err);
        } else {
                r = modifier_error(l, chs);
        }
        text_buf_free(&word);
        return r;
}

static int process_dollar(struct lexer *l, struct text_buf *out)
{
        struct text_buf name = { 0 };
        const char *value;
        int c, r;

        l->pos++;
        if (peek(l) != '{') {
                process_name(l, &name);
                if (name.len == 0) {
                        text_buf_addc(out, '$');
                } else if (!env_lookup(l, name.p, &value) &&
                           (l->flags & SHELL_EXPAND_SKIP_UNSET)) {
                        text_buf_addc(out, '$');
                        text_buf_adds(out, name.p);
                } else {
                        text_buf_adds(out, value);
                }
                text_buf_free(&name);
                return 0;
        }
        l->pos++;
        c = peek(l);
        if (c == LEX_EOF)
                return sb_error_set(l->err, EINVAL, "syntax error: missing '}'");
        if (c == '{' || c == '}' || c == ':')
                return sb_error_set(l->err, EINVAL, "syntax error: bad substitution");
        process_name(l, &name);
        r = process_braced(l, name.p ? name.p : "", out);
        text_buf_free(&name);
        return r;
}

/* Process up to stop (LEX_EOF: the end); words, when given, collects the split words. */
static int process_stop_on(struct lexer *l, int stop, bool raw_escapes, struct text_buf *result,
                           struct words *words)
{
        bool saved = l->raw_escapes;
        int r = 0;

        if (++l->depth > MAX_NESTING) {
                r = sb_error_set(l->err, EINVAL, "substitutions nested too deeply");
                goto out;
        }
        l->raw_escapes = raw_escapes;
        while (peek(l) != LEX_EOF) {
                int c = peek(l);
                size_t start, n;

                if (stop != LEX_EOF && c == stop) {
                        l->pos++;
                        goto out;
                }
                if (c == '$' || c == '\'' || c == '"') {
                        struct text_buf tmp = { 0 };
                        r = c == '$' ? process_dollar(l, &tmp) :
                            c == '\'' ? process_single_quote(l, &tmp) :
                                        process_double_quote(l, &tmp);
                        if (r < 0) {
                                text_buf_free(&tmp);
                                goto out;
                        }
                        text_buf_add(result, tmp.p ? tmp.p : "", tmp.len);
                        /* Expanded values split into words; quoted text never does. */
                        if (c == '$')
                                words_add(words, tmp.p ? tmp.p : "", tmp.len);
                        else
                                words_add_raw(words, tmp.p ? tmp.p : "", tmp.len);
                        text_buf_free(&tmp);
                        continue;
                }
                n = next_char(l, &start);
                if (l->s[start] == l->esc) {
                        if (l->raw_escapes) {
                                words_add_raw(words, &l->esc, 1);
                                text_buf_addc(result, l->esc);
                        }
                        /* An escape at the very end is dropped. */
                        n = next_char(l, &start);
                        if (n == 0)
                                break;
                        words_add_raw(words, l->s + start, n);
                } else {
                        words_add(words, l->s + start, n);
                }
                text_buf_add(result, l->s + start, n);
        }
        if (stop != LEX_EOF)
                r = sb_error_set(l->err, EINVAL, "unexpected end of statement while looking "
                                 "for matching %c", stop);
out:
        l->depth--;
        l->raw_escapes = saved;
        return r;
}

int shell_expand_full(const char *word, char *const *env, char escape, unsigned flags,
                      char **ret_word, char ***ret_words, sb_error_t *err)
{
        struct lexer l = {
                .s = word, .len = strlen(word), .env = env, .esc = escape, .flags = flags,
                .raw_escapes = flags & SHELL_EXPAND_RAW_ESCAPES, .err = err,
        };
        struct text_buf result = { 0 };
        struct words words = { 0 };
        int r = process_stop_on(&l, LEX_EOF, l.raw_escapes, &result, ret_words ? &words : NULL);

        if (r < 0) {
                text_buf_free(&result);
                text_buf_free(&words.word);
                sb_strv_free(words.v);
                if (err)
                        return sb_error_prefix(err, "failed to process \"%s\"", word);
                return r;
        }
        if (ret_words) {
                if (words.word.len > 0)
                        words_push(&words);
                text_buf_free(&words.word);
                *ret_words = words.v ? words.v : sb_xcalloc(1, sizeof(char *));
        }
        if (ret_word)
                *ret_word = text_buf_take(&result);
        text_buf_free(&result);
        return 0;
}

int shell_expand_word(const char *word, char *const *env, char escape, char **ret,
                      sb_error_t *err)
{
        return shell_expand_full(word, env, escape, 0, ret, NULL, err);
}

int shell_expand_words(const char *word, char *const *env, char escape, char ***ret,
                       sb_error_t *err)
{
        return shell_expand_full(word, env, escape, 0, NULL, ret, err);
}
