/*
 * Dockerfile text to instruction nodes, shaped and split the way BuildKit's parser
 * (frontend/dockerfile/parser) does it, so that its conformance dumps compare byte for byte:
 * parser directives, comments, line continuations, --flags, JSON (exec) form with fallback to
 * shell form, ENV/LABEL pairs, ONBUILD and heredocs.
 */
#include "build/dockerfile_parse.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build/dockerfile_directive.h"
#include "build/dockerfile_json.h"
#include "build/shell_expand.h"
#include "build/text_buf.h"
#include "build/text_utf8.h"
#include "common/sb_cleanup.h"
#include "common/sb_util.h"

/* ONBUILD ONBUILD ... recurses once per level; a deep chain must not exhaust the stack. */
#define MAX_ONBUILD_DEPTH 8

/* The [\t\v\f\r ] class BuildKit's reWhitespace uses for splitting. */
static bool is_split_space(char c)
{
        return c == '\t' || c == '\v' || c == '\f' || c == '\r' || c == ' ';
}


static void dump_node(struct text_buf *b, const struct dockerfile_node *n)
{
        text_buf_add(b, "(", 1);
        text_buf_add(b, n->cmd, strlen(n->cmd));
        if (n->flags[0]) {
                text_buf_add(b, " [", 2);
                for (size_t i = 0; n->flags[i]; i++) {
                        if (i)
                                text_buf_add(b, " ", 1);
                        text_buf_add_quoted(b, n->flags[i], strlen(n->flags[i]));
                }
                text_buf_add(b, "]", 1);
        }
        for (size_t i = 0; n->args[i]; i++) {
                text_buf_add(b, " ", 1);
                text_buf_add_quoted(b, n->args[i], n->arg_lens[i]);
        }
        if (n->inner) {
                text_buf_add(b, " ", 1);
                dump_node(b, n->inner);
        }
        text_buf_add(b, ")", 1);
}

char *dockerfile_node_dump(const struct dockerfile_node *n)
{
        struct text_buf b = { 0 };

        dump_node(&b, n);
        return text_buf_take(&b);
}

/* Slots a NULL-terminated vector of `used` entries has: vectors grow by doubling, so that an
 * instruction with hundreds of thousands of words (a 4 MiB ENV line) parses in linear time. */
static size_t vec_cap(size_t used)
{
        size_t cap = 4;

        while (cap < used + 1)
                cap *= 2;
        return cap;
}

/* Append s to the NULL-terminated vector *v of *n entries (allocated by this file). */
static void vec_push_take(char ***v, size_t *n, char *s)
{
        if (*n == 0 || vec_cap(*n + 1) != vec_cap(*n))
                *v = sb_xrealloc(*v, vec_cap(*n + 1) * sizeof(char *));
        (*v)[*n] = s;
        (*v)[++*n] = NULL;
}

static void node_add_arg(struct dockerfile_node *n, const char *s, size_t len)
{
        size_t c = n->n_args;
        char *a = sb_xmalloc(len + 1);

        if (c == 0 || vec_cap(c + 1) != vec_cap(c))
                n->arg_lens = sb_xrealloc(n->arg_lens, vec_cap(c + 1) * sizeof(size_t));
        memcpy(a, s, len);
        a[len] = '\0';
        n->arg_lens[c] = len;
        vec_push_take(&n->args, &n->n_args, a);
}

static void node_add_args(struct dockerfile_node *n, char *const *v)
{
        for (; v && *v; v++)
                node_add_arg(n, *v, strlen(*v));
}

static void node_done(struct dockerfile_node *n)
{
        free(n->cmd);
        sb_strv_free(n->flags);
        sb_strv_free(n->args);
        free(n->arg_lens);
        free(n->original);
        for (size_t i = 0; i < n->n_heredocs; i++) {
                free(n->heredocs[i].name);
                free(n->heredocs[i].content);
        }
        free(n->heredocs);
        if (n->inner) {
                node_done(n->inner);
                free(n->inner);
        }
        *n = (struct dockerfile_node){ 0 };
}

struct dockerfile *dockerfile_free(struct dockerfile *df)
{
        if (!df)
                return NULL;
        for (size_t i = 0; i < df->n_nodes; i++)
                node_done(&df->nodes[i]);
        free(df->nodes);
        free(df->syntax);
        free(df->check);
        sb_strv_free(df->warnings);
        free(df);
        return NULL;
}

/* 1: exec form, args filled; 0: not a JSON array; <0: a JSON array with a non-string. */
static int parse_json(const char *rest, size_t len, struct dockerfile_node *n, sb_error_t *err)
{
        cleanup_strv char **args = NULL;
        cleanup_free size_t *lens = NULL;
        int r = dockerfile_json_parse_array(rest, len, &args, &lens, err);

        if (r <= 0)
                return r;
        for (size_t i = 0; args[i]; i++)
                node_add_arg(n, args[i], lens[i]);
        n->json = true;
        return 1;
}

/* BuildKit's parseWords: split on whitespace, keeping quotes and escapes as written. */
static char **parse_words(const char *s, size_t n, char esc)
{
        enum { IN_SPACES, IN_WORD, IN_QUOTE } phase = IN_SPACES;
        struct text_buf w = { 0 };
        char **words = sb_xcalloc(1, sizeof(char *));
        size_t n_words = 0;
        uint32_t quote = 0;
        bool blank_ok = false;

        for (size_t pos = 0;;) {
                uint32_t c = 0;
                size_t cl = pos < n ? text_utf8_decode(s + pos, n - pos, &c) : 0;

                if (phase == IN_SPACES) {
                        if (pos >= n)
                                break;
                        if (text_utf8_is_space(c)) {
                                pos += cl;
                                continue;
                        }
                        phase = IN_WORD;
                }
                if (pos >= n) {
                        if (blank_ok || w.len > 0)
                                vec_push_take(&words, &n_words, text_buf_take(&w));
                        break;
                }
                if (phase == IN_WORD && text_utf8_is_space(c)) {
                        phase = IN_SPACES;
                        if (blank_ok || w.len > 0)
                                vec_push_take(&words, &n_words, text_buf_take(&w));
                        text_buf_free(&w);
                        blank_ok = false;
                        pos += cl;
                        continue;
                }
                if (phase == IN_WORD && (c == '\'' || c == '"')) {
                        quote = c;
                        blank_ok = true;
                        phase = IN_QUOTE;
                } else if (phase == IN_QUOTE && c == quote) {
                        phase = IN_WORD;
                } else if (c == (unsigned char) esc && (phase == IN_WORD || quote != '\'')) {
                        /* An escape keeps itself and the next character; at the end it goes. */
                        if (pos + cl == n) {
                                phase = IN_WORD;
                                pos += cl;
                                continue;
                        }
                        text_buf_add(&w, s + pos, cl);
                        pos += cl;
                        cl = text_utf8_decode(s + pos, n - pos, &c);
                }
                text_buf_add(&w, s + pos, cl);
                pos += cl;
        }
        text_buf_free(&w);
        return words;
}

static bool ascii_space(char c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* Leading --flags (unquoted, backslash-unescaped); returns the offset where arguments start. */
static size_t extract_flags(const char *s, size_t n, char ***flags)
{
        enum { IN_SPACES, IN_WORD, IN_QUOTE } phase = IN_SPACES;
        struct text_buf w = { 0 };
        bool blank_ok = false;
        char quote = 0;
        size_t pos, n_flags = sb_strv_len(*flags);

        for (pos = 0; pos <= n; pos++) {
                char c = pos < n ? s[pos] : '\0';
                bool dashdash = w.len == 2 && memcmp(w.p, "--", 2) == 0;

                if (phase == IN_SPACES) {
                        if (pos == n)
                                break;
                        if (ascii_space(c))
                                continue;
                        if (c != '-' || pos + 1 == n || s[pos + 1] != '-')
                                break;
                        phase = IN_WORD;
                }
                if (pos == n) {
                        if (!dashdash && (blank_ok || w.len > 0))
                                vec_push_take(flags, &n_flags, text_buf_take(&w));
                        break;
                }
                if (phase == IN_WORD) {
                        if (ascii_space(c)) {
                                phase = IN_SPACES;
                                if (dashdash)
                                        break;
                                if (blank_ok || w.len > 0)
                                        vec_push_take(flags, &n_flags, text_buf_take(&w));
                                w.len = 0;
                                blank_ok = false;
                                continue;
                        }
                        if (c == '\'' || c == '"') {
                                quote = c;
                                blank_ok = true;
                                phase = IN_QUOTE;
                                continue;
                        }
                } else if (c == quote) {
                        phase = IN_WORD;
                        continue;
                }
                if (c == '\\') {
                        if (pos + 1 == n) {
                                phase = IN_WORD;
                                continue;
                        }
                        c = s[++pos];
                }
                text_buf_add(&w, &c, 1);
        }
        text_buf_free(&w);
        return pos > n ? n : pos;
}

static void split_whitespace(struct dockerfile_node *n, const char *s, size_t len)
{
        for (size_t i = 0; i < len;) {
                size_t j = i;
                while (j < len && !is_split_space(s[j]))
                        j++;
                node_add_arg(n, s + i, j - i);
                while (j < len && is_split_space(s[j]))
                        j++;
                i = j;
        }
}

static int maybe_json(struct dockerfile_node *n, const char *s, size_t len, sb_error_t *err)
{
        int r;

        if (len == 0)
                return 0;
        r = parse_json(s, len, n, err);
        if (r == 0)
                node_add_arg(n, s, len);
        return r < 0 ? r : 0;
}

static int name_val(struct dockerfile_node *n, const char *s, size_t len, const char *key,
                    char esc, sb_error_t *err)
{
        cleanup_strv char **words = parse_words(s, len, esc);

        if (!words[0])
                return 0;
        if (!strchr(words[0], '=')) {
                /* The legacy form: KEY name value, the value being the rest of the line. */
                size_t i = 0, j;
                while (i < len && !is_split_space(s[i]))
                        i++;
                if (i == len)
                        return sb_error_set(err, EINVAL, "%s must have two arguments", key);
                for (j = i; j < len && is_split_space(s[j]); j++)
                        ;
                node_add_arg(n, s, i);
                node_add_arg(n, s + j, len - j);
                node_add_arg(n, "", 0);
                return 0;
        }
        for (size_t i = 0; words[i]; i++) {
                const char *eq = strchr(words[i], '=');
                if (!eq)
                        return sb_error_set(err, EINVAL, "syntax error - can't find = in \"%s\". "
                                            "must be of the form: name=value", words[i]);
                node_add_arg(n, words[i], (size_t) (eq - words[i]));
                node_add_arg(n, eq + 1, strlen(eq + 1));
                node_add_arg(n, "=", 1);
        }
        return 0;
}

static bool cmd_is(const char *cmd, const char *const *list)
{
        for (; *list; list++)
                if (strcmp(cmd, *list) == 0)
                        return true;
        return false;
}

/* Split one joined instruction line into a node (BuildKit's newNodeFromLine). */
static int node_from_line(struct dockerfile_node *n, const char *line, size_t len, char esc,
                          int depth, sb_error_t *err)
{
        static const char *const to_list[] = { "add", "copy", "volume", NULL };
        static const char *const maybe_json_cmds[] = { "run", "cmd", "entrypoint", "shell", NULL };
        static const char *const ws_list[] = { "expose", "from", NULL };
        static const char *const string_cmds[] = { "maintainer", "stopsignal", "user", "workdir",
                                                   NULL };
        size_t a = text_utf8_space_prefix(line, len), e = text_utf8_trim_right_len(line, len);
        size_t i, rl, off;
        const char *t = line + a, *rest;
        size_t tl = e > a ? e - a : 0;
        int r = 0;

        n->original = sb_xstrndup(line, len);
        n->flags = sb_xcalloc(1, sizeof(char *));
        n->args = sb_xcalloc(1, sizeof(char *));
        for (i = 0; i < tl && !is_split_space(t[i]); i++)
                ;
        n->cmd = sb_xstrndup(t, i);
        for (char *c = n->cmd; *c; c++)
                if (*c >= 'A' && *c <= 'Z')
                        *c = (char) (*c - 'A' + 'a');
        while (i < tl && is_split_space(t[i]))
                i++;
        rest = t + i;
        rl = tl - i;
        if (i < tl || rl > 0) {
                off = extract_flags(rest, rl, &n->flags);
                rest += off;
                rl -= off;
                a = text_utf8_space_prefix(rest, rl);
                rl = text_utf8_trim_right_len(rest, rl);
                rest += a;
                rl = rl > a ? rl - a : 0;
        }

        if (cmd_is(n->cmd, to_list)) {
                r = parse_json(rest, rl, n, err);
                if (r == 0)
                        split_whitespace(n, rest, rl);
        } else if (cmd_is(n->cmd, maybe_json_cmds)) {
                r = maybe_json(n, rest, rl, err);
        } else if (cmd_is(n->cmd, ws_list)) {
                split_whitespace(n, rest, rl);
        } else if (cmd_is(n->cmd, string_cmds)) {
                if (rl > 0)
                        node_add_arg(n, rest, rl);
        } else if (strcmp(n->cmd, "env") == 0 || strcmp(n->cmd, "label") == 0) {
                r = name_val(n, rest, rl, strcmp(n->cmd, "env") == 0 ? "ENV" : "LABEL", esc, err);
        } else if (strcmp(n->cmd, "arg") == 0) {
                cleanup_strv char **words = parse_words(rest, rl, esc);
                node_add_args(n, words);
        } else if (strcmp(n->cmd, "healthcheck") == 0) {
                for (i = 0; i < rl && !ascii_space(rest[i]); i++)
                        ;
                if (i > 0) {
                        node_add_arg(n, rest, i);
                        while (i < rl && ascii_space(rest[i]))
                                i++;
                        r = maybe_json(n, rest + i, rl - i, err);
                }
        } else if (strcmp(n->cmd, "onbuild") == 0) {
                if (depth >= MAX_ONBUILD_DEPTH)
                        return sb_error_set(err, EINVAL, "ONBUILD nested too deeply");
                if (rl > 0) {
                        n->inner = sb_xcalloc(1, sizeof(*n->inner));
                        r = node_from_line(n->inner, rest, rl, esc, depth + 1, err);
                }
        } else {
                /* Unknown instructions parse; the dispatcher reports them. */
                node_add_arg(n, "", 0);
        }
        return r < 0 ? r : 0;
}

struct scanner {
        const char *s;
        size_t len, pos;
        int line; /* lines consumed so far */
};

/* The next line with its newline, as BuildKit's scanLines keeps it. */
static bool scan_line(struct scanner *sc, const char **ret, size_t *ret_len)
{
        const char *nl;

        if (sc->pos >= sc->len)
                return false;
        *ret = sc->s + sc->pos;
        nl = memchr(*ret, '\n', sc->len - sc->pos);
        *ret_len = nl ? (size_t) (nl - *ret) + 1 : sc->len - sc->pos;
        sc->pos += *ret_len;
        sc->line++;
        return true;
}

static size_t trim_newline(const char *s, size_t n)
{
        while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
                n--;
        return n;
}

static bool is_comment(const char *s, size_t n)
{
        size_t a;

        n = trim_newline(s, n);
        a = text_utf8_space_prefix(s, n);
        return a < n && s[a] == '#';
}

/* Newline trimmed, leading space optionally stripped, a comment line emptied. */
static int process_line(struct dockerfile_directives *d, struct dockerfile *df, const char **p,
                        size_t *n, bool strip, int line, sb_error_t *err)
{
        int r;

        *n = trim_newline(*p, *n);
        if (strip) {
                size_t a = text_utf8_space_prefix(*p, *n);
                *p += a;
                *n -= a;
        }
        r = dockerfile_directive_parse(d, df, *p, *n, line, err);
        if (*n > 0 && (*p)[0] == '#')
                *n = 0;
        return r;
}

/* An escape at the end (spaces and tabs may follow) continues the line, unless escaped. */
static bool trim_continuation(const char *p, size_t *n, char esc)
{
        size_t e = *n;

        while (e > 0 && (p[e - 1] == ' ' || p[e - 1] == '\t'))
                e--;
        if (e == 0 || p[e - 1] != esc || (e >= 2 && p[e - 2] == esc))
                return false;
        *n = e - 1;
        return true;
}

/* The file descriptor digits before <<, 0 when absent (clamped, never overflows). */
static int heredoc_fd(const char *s)
{
        int v = 0;

        for (; *s >= '0' && *s <= '9'; s++)
                v = v > 100000 ? v : v * 10 + (*s - '0');
        return v;
}

static size_t count_quotes(const char *s)
{
        size_t c = 0;

        for (; *s; s++)
                c += *s == '\'' || *s == '"';
        return c;
}

/* The heredoc words of an instruction line (BuildKit's heredocsFromLine). */
static int heredocs_from_line(struct dockerfile_node *n, const char *line, sb_error_t *err)
{
        const unsigned lex = SHELL_EXPAND_SKIP_UNSET;
        cleanup_strv char **words = NULL;
        int r;

        /* A line the lexer cannot split has no heredocs, as in BuildKit. */
        if (shell_expand_full(line, NULL, '\\',
                              lex | SHELL_EXPAND_RAW_QUOTES | SHELL_EXPAND_RAW_ESCAPES, NULL,
                              &words, NULL) < 0)
                return 0;
        for (size_t i = 0; words[i]; i++) {
                cleanup_strv char **plain = NULL;
                cleanup_strv char **raw = NULL;
                const char *p = words[i];
                bool chomp;

                while (*p >= '0' && *p <= '9')
                        p++;
                if (strncmp(p, "<<", 2) != 0)
                        continue;
                p += 2;
                chomp = *p == '-';
                p += chomp;
                if (!*p || strchr(p, '<'))
                        continue;
                r = shell_expand_full(p, NULL, '\\', lex, NULL, &plain, err);
                if (r < 0)
                        return r;
                if (sb_strv_len(plain) != 1)
                        continue;
                r = shell_expand_full(p, NULL, '\\', lex | SHELL_EXPAND_RAW_QUOTES, NULL, &raw,
                                      err);
                if (r < 0)
                        return r;
                if (sb_strv_len(raw) != 1)
                        return sb_error_set(err, EINVAL, "internal lexing of heredoc produced "
                                            "inconsistent results: %s", p);
                n->heredocs = sb_xrealloc(n->heredocs, (n->n_heredocs + 1) * sizeof(*n->heredocs));
                n->heredocs[n->n_heredocs++] = (struct dockerfile_heredoc){
                        .name = sb_xstrdup(plain[0]),
                        /* Any quoting in the delimiter turns expansion of the body off. */
                        .expand = count_quotes(plain[0]) == count_quotes(raw[0]),
                        .chomp = chomp,
                        .fd = heredoc_fd(words[i]),
                };
        }
        return 0;
}

static bool can_contain_heredoc(const struct dockerfile_node *n)
{
        static const char *const cmds[] = { "run", "copy", "add", NULL };

        if (strcmp(n->cmd, "onbuild") == 0 && n->inner)
                n = n->inner;
        return cmd_is(n->cmd, cmds) && !n->json;
}

static void strip_leading_tabs(char *s)
{
        char *w = s;
        bool bol = true;

        for (char *r = s; *r; r++) {
                if (bol && *r == '\t')
                        continue;
                bol = *r == '\n';
                *w++ = *r;
        }
        *w = '\0';
}

static int read_heredoc_bodies(struct scanner *sc, struct dockerfile_node *n, sb_error_t *err)
{
        for (size_t i = 0; i < n->n_heredocs; i++) {
                struct dockerfile_heredoc *h = &n->heredocs[i];
                struct text_buf body = { 0 };
                size_t nl = strlen(h->name), rl, tl;
                const char *raw, *t;
                bool terminated = false;

                while (scan_line(sc, &raw, &rl)) {
                        t = raw;
                        tl = trim_newline(raw, rl);
                        while (h->chomp && tl > 0 && *t == '\t')
                                t++, tl--;
                        if (tl == nl && memcmp(t, h->name, nl) == 0) {
                                terminated = true;
                                break;
                        }
                        text_buf_add(&body, raw, rl);
                }
                h->content = text_buf_take(&body);
                if (!terminated)
                        return sb_error_set(err, EINVAL, "line %d: unterminated heredoc: no "
                                            "line '%s' ends it", n->start_line, h->name);
                if (h->chomp)
                        strip_leading_tabs(h->content);
        }
        return 0;
}

static int parse_fail(sb_error_t *err, int line)
{
        if (!err)
                return -EINVAL;
        return sb_error_prefix(err, "line %d", line);
}

int dockerfile_parse(const char *text, size_t len, struct dockerfile **ret, sb_error_t *err)
{
        struct dockerfile *df;
        struct dockerfile_directives d = { .esc = '\\' };
        struct scanner sc = { .s = text, .len = len };
        const char *raw, *nul;
        size_t rl, nodes_cap = 0, n_warnings = 0;
        int r = 0;

        if (len > DOCKERFILE_MAX_SIZE)
                return sb_error_set(err, EFBIG, "dockerfile is %zu bytes, more than the %u "
                                    "allowed", len, DOCKERFILE_MAX_SIZE);
        nul = memchr(text, '\0', len);
        if (nul) {
                int line = 1;
                for (const char *p = text; p < nul; p++)
                        line += *p == '\n';
                return sb_error_set(err, EINVAL, "line %d: NUL byte in dockerfile", line);
        }
        df = sb_xcalloc(1, sizeof(*df));
        df->warnings = sb_xcalloc(1, sizeof(char *));
        while (scan_line(&sc, &raw, &rl)) {
                struct dockerfile_node n = { 0 };
                struct text_buf line = { 0 };
                bool end, empty_cont = false;
                int start = sc.line;

                if (start == 1 && rl >= 3 && memcmp(raw, "\xef\xbb\xbf", 3) == 0)
                        raw += 3, rl -= 3;
                r = process_line(&d, df, &raw, &rl, true, start, err);
                if (r < 0)
                        goto fail;
                end = !trim_continuation(raw, &rl, d.esc);
                if (end && rl == 0)
                        continue;
                text_buf_add(&line, raw, rl);
                while (!end && scan_line(&sc, &raw, &rl)) {
                        bool comment = is_comment(raw, rl);
                        r = process_line(&d, df, &raw, &rl, false, sc.line, err);
                        if (r < 0) {
                                free(line.p);
                                goto fail;
                        }
                        if (comment)
                                continue;
                        if (text_utf8_space_prefix(raw, rl) == rl) {
                                empty_cont = true;
                                continue;
                        }
                        end = !trim_continuation(raw, &rl, d.esc);
                        text_buf_add(&line, raw, rl);
                }
                if (empty_cont)
                        vec_push_take(&df->warnings, &n_warnings,
                                      sb_xasprintf("line %d: empty continuation line in "
                                                   "instruction (a future BuildKit will "
                                                   "refuse it)", start));
                r = node_from_line(&n, line.p ? line.p : "", line.len, d.esc, 0, err);
                n.start_line = start;
                if (r >= 0 && can_contain_heredoc(&n)) {
                        r = heredocs_from_line(&n, line.p ? line.p : "", err);
                        if (r >= 0)
                                r = read_heredoc_bodies(&sc, &n, err);
                        else
                                r = parse_fail(err, start);
                } else if (r < 0) {
                        r = parse_fail(err, start);
                }
                free(line.p);
                n.end_line = sc.line;
                if (r < 0) {
                        node_done(&n);
                        goto fail;
                }
                if (df->n_nodes == nodes_cap) {
                        nodes_cap = nodes_cap ? nodes_cap * 2 : 16;
                        df->nodes = sb_xrealloc(df->nodes, nodes_cap * sizeof(*df->nodes));
                }
                df->nodes[df->n_nodes++] = n;
        }
        if (df->n_nodes == 0) {
                r = sb_error_set(err, EINVAL, "line %d: file with no instructions",
                                 sc.line > 0 ? sc.line : 1);
                goto fail;
        }
        df->escape = d.esc;
        *ret = df;
        return 0;
fail:
        dockerfile_free(df);
        return r;
}

static const char *const known_instructions[] = {
        "from",    "run",     "cmd",     "label",      "maintainer", "expose",
        "env",     "add",     "copy",    "entrypoint", "volume",     "user",
        "workdir", "arg",     "onbuild", "stopsignal", "healthcheck", "shell",
        NULL,
};

const char *dockerfile_node_unknown(const struct dockerfile_node *n)
{
        for (; n; n = n->inner) {
                bool known = false;
                for (size_t k = 0; known_instructions[k]; k++)
                        known |= strcmp(n->cmd, known_instructions[k]) == 0;
                if (!known)
                        return n->cmd;
        }
        return NULL;
}
