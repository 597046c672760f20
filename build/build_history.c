/* History entries: the created_by text of each instruction, as BuildKit's Dockerfile frontend
 * writes it (docker history shows these, and tools compare them). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build/build_internal.h"
#include "build/text_utf8.h"
#include "common/sb_cleanup.h"
#include "common/sb_util.h"

/* From build_step_meta.c (to move to build_internal.h). */
char **build_meta_declared_args(struct stage_state *st);
int build_meta_expose_ports(struct builder *b, struct stage_state *st,
                            const struct dockerfile_node *n, char ***ret, sb_error_t *err);

/* A growing string; sb_x* allocation aborts on failure, so appends cannot fail. */
struct str {
        char *s;
        size_t len;
};

static void str_addn(struct str *o, const char *p, size_t n)
{
        o->s = sb_xrealloc(o->s, o->len + n + 1);
        memcpy(o->s + o->len, p, n);
        o->len += n;
        o->s[o->len] = '\0';
}

static void str_add(struct str *o, const char *p)
{
        str_addn(o, p, strlen(p));
}

static char *str_take(struct str *o)
{
        return o->s ? o->s : sb_xstrdup("");
}

/* Go's strconv.Quote of s[0..len), appended to o (what %q prints for a string). */
static void go_quote(struct str *o, const char *s, size_t len)
{
        str_add(o, "\"");
        for (size_t i = 0; i < len;) {
                uint32_t cp;
                size_t n = text_utf8_decode(s + i, len - i, &cp);
                char buf[16];
                if (cp == TEXT_UTF8_INVALID && n == 1) {
                        snprintf(buf, sizeof(buf), "\\x%02x", (unsigned char) s[i]);
                        str_add(o, buf);
                } else if (cp == '"' || cp == '\\') {
                        buf[0] = '\\';
                        buf[1] = (char) cp;
                        str_addn(o, buf, 2);
                } else if (text_utf8_is_print(cp)) {
                        str_addn(o, s + i, n);
                } else {
                        const char *esc = NULL;
                        switch (cp) {
                        case '\a': esc = "\\a"; break;
                        case '\b': esc = "\\b"; break;
                        case '\f': esc = "\\f"; break;
                        case '\n': esc = "\\n"; break;
                        case '\r': esc = "\\r"; break;
                        case '\t': esc = "\\t"; break;
                        case '\v': esc = "\\v"; break;
                        }
                        if (esc)
                                snprintf(buf, sizeof(buf), "%s", esc);
                        else if (cp < 0x80)
                                snprintf(buf, sizeof(buf), "\\x%02x", (unsigned) cp);
                        else if (cp < 0x10000)
                                snprintf(buf, sizeof(buf), "\\u%04x", (unsigned) cp);
                        else
                                snprintf(buf, sizeof(buf), "\\U%08x", (unsigned) cp);
                        str_add(o, buf);
                }
                i += n;
        }
        str_add(o, "\"");
}

/* fmt's %q of a []string: ["a" "b"]. */
static void go_quote_list(struct str *o, json_t *arr)
{
        str_add(o, "[");
        size_t i;
        json_t *v;
        json_array_foreach(arr, i, v) {
                if (i > 0)
                        str_add(o, " ");
                go_quote(o, json_string_value(v) ? json_string_value(v) : "",
                         json_string_length(v));
        }
        str_add(o, "]");
}

/* fmt's %v of a []string: [a b]. */
static void go_plain_list(struct str *o, char *const *v)
{
        str_add(o, "[");
        for (size_t i = 0; v && v[i]; i++) {
                if (i > 0)
                        str_add(o, " ");
                str_add(o, v[i]);
        }
        str_add(o, "]");
}

static void go_plain_json_list(struct str *o, json_t *arr)
{
        str_add(o, "[");
        size_t i;
        json_t *v;
        json_array_foreach(arr, i, v) {
                if (i > 0)
                        str_add(o, " ");
                str_add(o, json_string_value(v) ? json_string_value(v) : "");
        }
        str_add(o, "]");
}

/* Go's time.Duration.String() of ns: "0s", "1.5s", "1m30s", "1h0m0s", "250ms", "1.5µs". */
static void go_duration(struct str *o, int64_t ns)
{
        char buf[64];
        if (ns == 0) {
                str_add(o, "0s");
                return;
        }
        bool neg = ns < 0;
        uint64_t u = neg ? (uint64_t) 0 - (uint64_t) ns : (uint64_t) ns;
        const char *sign = neg ? "-" : "";
        if (u < 1000000000ull) {
                /* below a second: the largest unit that keeps an integer part */
                uint64_t unit = 1;
                const char *name = "ns";
                int digits = 0;
                if (u >= 1000000ull) {
                        unit = 1000000ull, name = "ms", digits = 6;
                } else if (u >= 1000ull) {
                        unit = 1000ull, name = "\xc2\xb5s", digits = 3;
                }
                char frac[16] = "";
                if (unit > 1 && u % unit) {
                        snprintf(frac, sizeof(frac), ".%0*" PRIu64, digits, u % unit);
                        for (size_t k = strlen(frac); k > 1 && frac[k - 1] == '0'; k--)
                                frac[k - 1] = '\0';
                }
                snprintf(buf, sizeof(buf), "%s%" PRIu64 "%s%s", sign, u / unit, frac, name);
                str_add(o, buf);
                return;
        }
        uint64_t secs = u / 1000000000ull, rest = u % 1000000000ull;
        char frac[16] = "";
        if (rest) {
                snprintf(frac, sizeof(frac), ".%09" PRIu64, rest);
                for (size_t k = strlen(frac); k > 1 && frac[k - 1] == '0'; k--)
                        frac[k - 1] = '\0';
        }
        uint64_t h = secs / 3600, m = secs / 60 % 60, s = secs % 60;
        if (h)
                snprintf(buf, sizeof(buf), "%s%" PRIu64 "h%" PRIu64 "m%" PRIu64 "%ss", sign, h, m,
                         s, frac);
        else if (m)
                snprintf(buf, sizeof(buf), "%s%" PRIu64 "m%" PRIu64 "%ss", sign, m, s, frac);
        else
                snprintf(buf, sizeof(buf), "%s%" PRIu64 "%ss", sign, s, frac);
        str_add(o, buf);
}

/* The word expanded as the instruction does, or as written when it does not expand. */
static char *expanded(struct builder *b, struct stage_state *st, const char *word)
{
        char *out = NULL;
        sb_error_t err = { 0 };
        if (build_expand(b, st, word, &out, &err) < 0)
                return sb_xstrdup(word);
        return out;
}

static const struct dockerfile_heredoc *heredoc_named(const struct dockerfile_node *n,
                                                      const char *word)
{
        /* a heredoc word is [digits]<<[-]NAME, NAME maybe quoted */
        const char *p = word + strspn(word, "0123456789");
        if (strncmp(p, "<<", 2) != 0)
                return NULL;
        p += 2;
        if (*p == '-')
                p++;
        for (size_t i = 0; i < n->n_heredocs; i++) {
                const char *name = n->heredocs[i].name;
                size_t len = strlen(name);
                if (strcmp(p, name) == 0)
                        return &n->heredocs[i];
                if ((p[0] == '"' || p[0] == '\'') && strncmp(p + 1, name, len) == 0 &&
                    p[len + 1] == p[0] && p[len + 2] == '\0')
                        return &n->heredocs[i];
        }
        return NULL;
}

/* RUN: "RUN [|N K=V ...] ARGV... # buildkit" (BuildKit's runCommandString). */
static char *run_text(struct stage_state *st, const struct dockerfile_node *n)
{
        struct str o = { 0 };
        str_add(&o, "RUN ");
        cleanup_strv char **names = build_meta_declared_args(st);
        cleanup_strv char **env = build_expansion_env(st);
        if (names && names[0]) {
                char buf[32];
                snprintf(buf, sizeof(buf), "|%zu ", sb_strv_len(names));
                str_add(&o, buf);
                for (size_t i = 0; names[i]; i++) {
                        const char *v = build_args_lookup(env, names[i]);
                        str_add(&o, names[i]);
                        str_add(&o, "=");
                        str_add(&o, v ? v : "");
                        str_add(&o, " ");
                }
        }
        if (n->json) {
                for (size_t i = 0; n->args[i]; i++) {
                        if (i > 0)
                                str_add(&o, " ");
                        str_add(&o, n->args[i]);
                }
                str_add(&o, " # buildkit");
                return str_take(&o);
        }
        for (size_t i = 0; st->shell && st->shell[i]; i++) {
                str_add(&o, st->shell[i]);
                str_add(&o, " ");
        }
        const char *script = n->args[0] ? n->args[0] : "";
        const struct dockerfile_heredoc *h = n->n_heredocs == 1 ? heredoc_named(n, script) : NULL;
        if (h) {
                /* a lone heredoc runs its body; one with a #! line runs as a file */
                if (strncmp(h->content, "#!", 2) == 0) {
                        str_add(&o, "/dev/pipes/");
                        str_add(&o, h->name);
                } else {
                        str_add(&o, h->content);
                }
        } else {
                str_add(&o, script);
                for (size_t i = 0; i < n->n_heredocs; i++) {
                        str_add(&o, "\n");
                        str_add(&o, n->heredocs[i].content);
                        str_add(&o, n->heredocs[i].name);
                }
        }
        str_add(&o, " # buildkit");
        return str_take(&o);
}

/* COPY/ADD: "COPY [--parents] [--chown=U] [--chmod=M] SRC... [<<DOC...] DEST # buildkit". */
static char *copy_text(struct builder *b, struct stage_state *st, const struct dockerfile_node *n)
{
        struct str o = { 0 };
        str_add(&o, strcmp(n->cmd, "add") == 0 ? "ADD" : "COPY");
        for (size_t i = 0; n->flags[i]; i++)
                if (strcmp(n->flags[i], "--parents") == 0 ||
                    strcmp(n->flags[i], "--parents=true") == 0)
                        str_add(&o, " --parents");
        const char *flags[] = { "chown", "chmod" };
        for (size_t k = 0; k < 2; k++) {
                const char *v = build_node_flag(n, flags[k]);
                if (!v || !*v)
                        continue;
                cleanup_free char *x = expanded(b, st, v);
                str_add(&o, " --");
                str_add(&o, flags[k]);
                str_add(&o, "=");
                str_add(&o, x);
        }
        size_t argc = sb_strv_len(n->args);
        for (int pass = 0; pass < 2; pass++) {
                for (size_t i = 0; i + 1 < argc; i++) {
                        const struct dockerfile_heredoc *h = heredoc_named(n, n->args[i]);
                        if (pass == 0 && !h) {
                                cleanup_free char *x = expanded(b, st, n->args[i]);
                                str_add(&o, " ");
                                str_add(&o, x);
                        } else if (pass == 1 && h) {
                                str_add(&o, " <<");
                                str_add(&o, h->name);
                        }
                }
        }
        if (argc > 0) {
                cleanup_free char *x = expanded(b, st, n->args[argc - 1]);
                str_add(&o, " ");
                str_add(&o, x);
        }
        str_add(&o, " # buildkit");
        return str_take(&o);
}

/* ENV/LABEL: "ENV K=V K2=V2", expanded. */
static char *pairs_text(struct builder *b, struct stage_state *st,
                        const struct dockerfile_node *n, const char *what)
{
        struct str o = { 0 };
        str_add(&o, what);
        for (size_t i = 0; n->args[i] && n->args[i + 1]; i += 3) {
                cleanup_free char *k = expanded(b, st, n->args[i]);
                cleanup_free char *v = expanded(b, st, n->args[i + 1]);
                str_add(&o, " ");
                str_add(&o, k);
                str_add(&o, "=");
                str_add(&o, v);
                if (!n->args[i + 2])
                        break;
        }
        return str_take(&o);
}

/* HEALTHCHECK: Go's %+v of the HealthcheckConfig the instruction set. */
static char *healthcheck_text(struct stage_state *st)
{
        json_t *h = json_object_get(build_cfg(st), "Healthcheck");
        struct str o = { 0 };
        str_add(&o, "HEALTHCHECK {Test:");
        go_plain_json_list(&o, json_object_get(h, "Test"));
        const char *durations[] = { "Interval", "Timeout", "StartPeriod", "StartInterval" };
        for (size_t i = 0; i < 4; i++) {
                str_add(&o, " ");
                str_add(&o, durations[i]);
                str_add(&o, ":");
                go_duration(&o, (int64_t) json_integer_value(json_object_get(h, durations[i])));
        }
        char buf[48];
        snprintf(buf, sizeof(buf), " Retries:%" PRId64 "}",
                 (int64_t) json_integer_value(json_object_get(h, "Retries")));
        str_add(&o, buf);
        return str_take(&o);
}

static char *words_text(struct builder *b, struct stage_state *st,
                        const struct dockerfile_node *n, const char *what, bool trim)
{
        cleanup_strv char **words = NULL;
        for (size_t i = 0; n->args[i]; i++) {
                char *x = expanded(b, st, n->args[i]);
                if (trim) {
                        size_t lead = text_utf8_space_prefix(x, strlen(x));
                        size_t end = text_utf8_trim_right_len(x, strlen(x));
                        char *t = sb_xstrndup(x + lead, end > lead ? end - lead : 0);
                        free(x);
                        x = t;
                }
                sb_strv_push_take(&words, x);
        }
        struct str o = { 0 };
        str_add(&o, what);
        str_add(&o, " ");
        go_plain_list(&o, words);
        return str_take(&o);
}

char *build_history_text(struct builder *b, struct stage_state *st,
                         const struct dockerfile_node *n)
{
        const char *cmd = n->cmd;
        json_t *c = build_cfg(st);
        struct str o = { 0 };
        if (strcmp(cmd, "run") == 0)
                return run_text(st, n);
        if (strcmp(cmd, "copy") == 0 || strcmp(cmd, "add") == 0)
                return copy_text(b, st, n);
        if (strcmp(cmd, "env") == 0)
                return pairs_text(b, st, n, "ENV");
        if (strcmp(cmd, "label") == 0)
                return pairs_text(b, st, n, "LABEL");
        if (strcmp(cmd, "workdir") == 0) {
                /* the caller has set the config's (absolute, cleaned) WorkingDir */
                cleanup_free char *wd = build_workdir_of(st);
                return sb_xasprintf("WORKDIR %s", wd);
        }
        if (strcmp(cmd, "user") == 0) {
                const char *u = json_string_value(json_object_get(c, "User"));
                return sb_xasprintf("USER %s", u ? u : "");
        }
        if (strcmp(cmd, "cmd") == 0 || strcmp(cmd, "entrypoint") == 0) {
                bool is_cmd = strcmp(cmd, "cmd") == 0;
                str_add(&o, is_cmd ? "CMD " : "ENTRYPOINT ");
                json_t *v = json_object_get(c, is_cmd ? "Cmd" : "Entrypoint");
                if (json_is_array(v))
                        go_quote_list(&o, v);
                else
                        str_add(&o, "[]");
                return str_take(&o);
        }
        if (strcmp(cmd, "healthcheck") == 0)
                return healthcheck_text(st);
        if (strcmp(cmd, "expose") == 0) {
                cleanup_strv char **ports = NULL;
                sb_error_t err = { 0 };
                if (build_meta_expose_ports(b, st, n, &ports, &err) < 0)
                        return sb_xstrdup(n->original ? n->original : "EXPOSE");
                str_add(&o, "EXPOSE ");
                go_plain_list(&o, ports);
                return str_take(&o);
        }
        if (strcmp(cmd, "volume") == 0)
                return words_text(b, st, n, "VOLUME", true);
        if (strcmp(cmd, "shell") == 0) {
                str_add(&o, "SHELL ");
                go_plain_list(&o, n->args);
                return str_take(&o);
        }
        if (strcmp(cmd, "stopsignal") == 0) {
                const char *s = json_string_value(json_object_get(c, "StopSignal"));
                return sb_xasprintf("STOPSIGNAL %s", s ? s : "");
        }
        if (strcmp(cmd, "maintainer") == 0)
                return sb_xasprintf("MAINTAINER %s", n->args[0] ? n->args[0] : "");
        if (strcmp(cmd, "arg") == 0) {
                /* build_step_arg writes its own entry with the values it resolved; this is
                 * the same text rebuilt from the stage's ARGs */
                str_add(&o, "ARG");
                for (size_t i = 0; n->args[i]; i++) {
                        cleanup_free char *name =
                                sb_xstrndup(n->args[i], strcspn(n->args[i], "="));
                        const char *v = build_args_lookup(st->args, name);
                        str_add(&o, " ");
                        str_add(&o, name);
                        if (v) {
                                str_add(&o, "=");
                                str_add(&o, v);
                        }
                }
                return str_take(&o);
        }
        if (strcmp(cmd, "onbuild") == 0) {
                /* BuildKit records no history for ONBUILD; this text is for messages */
                const char *orig = n->original ? n->original : "";
                orig += strcspn(orig, " \t");
                return sb_xasprintf("ONBUILD %s", orig + strspn(orig, " \t"));
        }
        return sb_xstrdup(n->original ? n->original : cmd);
}
