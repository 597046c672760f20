/* History entries: the created_by text of each instruction, as BuildKit's Dockerfile frontend
 * writes it (docker history shows these, and tools compare them). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build/build_internal.h"
#include "build/text_utf8.h"
#include "build/text_buf.h"
#include "common/sb_cleanup.h"
#include "common/sb_util.h"


/* fmt's %q of a []string: ["a" "b"]. */
static void go_quote_list(struct text_buf *o, json_t *arr)
{
        text_buf_adds(o, "[");
        size_t i;
        json_t *v;
        json_array_foreach(arr, i, v) {
                if (i > 0)
                        text_buf_adds(o, " ");
                text_buf_add_quoted(o, json_string_value(v) ? json_string_value(v) : "",
                         json_string_length(v));
        }
        text_buf_adds(o, "]");
}

/* fmt's %v of a []string: [a b]. */
static void go_plain_list(struct text_buf *o, char *const *v)
{
        text_buf_adds(o, "[");
        for (size_t i = 0; v && v[i]; i++) {
                if (i > 0)
                        text_buf_adds(o, " ");
                text_buf_adds(o, v[i]);
        }
        text_buf_adds(o, "]");
}

static void go_plain_json_list(struct text_buf *o, json_t *arr)
{
        text_buf_adds(o, "[");
        size_t i;
        json_t *v;
        json_array_foreach(arr, i, v) {
                if (i > 0)
                        text_buf_adds(o, " ");
                text_buf_adds(o, json_string_value(v) ? json_string_value(v) : "");
        }
        text_buf_adds(o, "]");
}

/* Go's time.Duration.String() of ns: "0s", "1.5s", "1m30s", "1h0m0s", "250ms", "1.5µs". */
static void go_duration(struct text_buf *o, int64_t ns)
{
        char buf[64];
        if (ns == 0) {
                text_buf_adds(o, "0s");
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
                text_buf_adds(o, buf);
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
        text_buf_adds(o, buf);
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
        struct text_buf o = { 0 };
        text_buf_adds(&o, "RUN ");
        cleanup_strv char **names = build_meta_declared_args(st);
        cleanup_strv char **env = build_expansion_env(st);
        if (names && names[0]) {
                char buf[32];
                snprintf(buf, sizeof(buf), "|%zu ", sb_strv_len(names));
                text_buf_adds(&o, buf);
                for (size_t i = 0; names[i]; i++) {
                        const char *v = build_args_lookup(env, names[i]);
                        text_buf_adds(&o, names[i]);
                        text_buf_adds(&o, "=");
                        text_buf_adds(&o, v ? v : "");
                        text_buf_adds(&o, " ");
                }
        }
        if (n->json) {
                for (size_t i = 0; n->args[i]; i++) {
                        if (i > 0)
                                text_buf_adds(&o, " ");
                        text_buf_adds(&o, n->args[i]);
                }
                text_buf_adds(&o, " # buildkit");
                return text_buf_take(&o);
        }
        for (size_t i = 0; st->shell && st->shell[i]; i++) {
                text_buf_adds(&o, st->shell[i]);
                text_buf_adds(&o, " ");
        }
        const char *script = n->args[0] ? n->args[0] : "";
        const struct dockerfile_heredoc *h = n->n_heredocs == 1 ? heredoc_named(n, script) : NULL;
        if (h) {
                /* a lone heredoc runs its body; one with a #! line runs as a file */
                if (strncmp(h->content, "#!", 2) == 0) {
                        text_buf_adds(&o, "/dev/pipes/");
                        text_buf_adds(&o, h->name);
                } else {
                        text_buf_adds(&o, h->content);
                }
        } else {
                text_buf_adds(&o, script);
                for (size_t i = 0; i < n->n_heredocs; i++) {
                        text_buf_adds(&o, "\n");
                        text_buf_adds(&o, n->heredocs[i].content);
                        text_buf_adds(&o, n->heredocs[i].name);
                }
        }
        text_buf_adds(&o, " # buildkit");
        return text_buf_take(&o);
}

/* COPY/ADD: "COPY [--parents] [--chown=U] [--chmod=M] SRC... [<<DOC...] DEST # buildkit". */
static char *copy_text(struct builder *b, struct stage_state *st, const struct dockerfile_node *n)
{
        struct text_buf o = { 0 };
        text_buf_adds(&o, strcmp(n->cmd, "add") == 0 ? "ADD" : "COPY");
        for (size_t i = 0; n->flags[i]; i++)
                if (strcmp(n->flags[i], "--parents") == 0 ||
                    strcmp(n->flags[i], "--parents=true") == 0)
                        text_buf_adds(&o, " --parents");
        const char *flags[] = { "chown", "chmod" };
        for (size_t k = 0; k < 2; k++) {
                const char *v = build_node_flag(n, flags[k]);
                if (!v || !*v)
                        continue;
                cleanup_free char *x = expanded(b, st, v);
                text_buf_adds(&o, " --");
                text_buf_adds(&o, flags[k]);
                text_buf_adds(&o, "=");
                text_buf_adds(&o, x);
        }
        size_t argc = sb_strv_len(n->args);
        for (int pass = 0; pass < 2; pass++) {
                for (size_t i = 0; i + 1 < argc; i++) {
                        const struct dockerfile_heredoc *h = heredoc_named(n, n->args[i]);
                        if (pass == 0 && !h) {
                                cleanup_free char *x = expanded(b, st, n->args[i]);
                                text_buf_adds(&o, " ");
                                text_buf_adds(&o, x);
                        } else if (pass == 1 && h) {
                                text_buf_adds(&o, " <<");
                                text_buf_adds(&o, h->name);
                        }
                }
        }
        if (argc > 0) {
                cleanup_free char *x = expanded(b, st, n->args[argc - 1]);
                text_buf_adds(&o, " ");
                text_buf_adds(&o, x);
        }
        text_buf_adds(&o, " # buildkit");
        return text_buf_take(&o);
}

/* ENV/LABEL: "ENV K=V K2=V2", expanded. */
static char *pairs_text(struct builder *b, struct stage_state *st,
                        const struct dockerfile_node *n, const char *what)
{
        struct text_buf o = { 0 };
        text_buf_adds(&o, what);
        for (size_t i = 0; n->args[i] && n->args[i + 1]; i += 3) {
                cleanup_free char *k = expanded(b, st, n->args[i]);
                cleanup_free char *v = expanded(b, st, n->args[i + 1]);
                text_buf_adds(&o, " ");
                text_buf_adds(&o, k);
                text_buf_adds(&o, "=");
                text_buf_adds(&o, v);
                if (!n->args[i + 2])
                        break;
        }
        return text_buf_take(&o);
}

/* HEALTHCHECK: Go's %+v of the HealthcheckConfig the instruction set. */
static char *healthcheck_text(struct stage_state *st)
{
        json_t *h = json_object_get(build_cfg(st), "Healthcheck");
        struct text_buf o = { 0 };
        text_buf_adds(&o, "HEALTHCHECK {Test:");
        go_plain_json_list(&o, json_object_get(h, "Test"));
        const char *durations[] = { "Interval", "Timeout", "StartPeriod", "StartInterval" };
        for (size_t i = 0; i < 4; i++) {
                text_buf_adds(&o, " ");
                text_buf_adds(&o, durations[i]);
                text_buf_adds(&o, ":");
                go_duration(&o, (int64_t) json_integer_value(json_object_get(h, durations[i])));
        }
        char buf[48];
        snprintf(buf, sizeof(buf), " Retries:%" PRId64 "}",
                 (int64_t) json_integer_value(json_object_get(h, "Retries")));
        text_buf_adds(&o, buf);
        return text_buf_take(&o);
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
        struct text_buf o = { 0 };
        text_buf_adds(&o, what);
        text_buf_adds(&o, " ");
        go_plain_list(&o, words);
        return text_buf_take(&o);
}

char *build_history_text(struct builder *b, struct stage_state *st,
                         const struct dockerfile_node *n)
{
        const char *cmd = n->cmd;
        json_t *c = build_cfg(st);
        struct text_buf o = { 0 };
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
                text_buf_adds(&o, is_cmd ? "CMD " : "ENTRYPOINT ");
                json_t *v = json_object_get(c, is_cmd ? "Cmd" : "Entrypoint");
                if (json_is_array(v))
                        go_quote_list(&o, v);
                else
                        text_buf_adds(&o, "[]");
                return text_buf_take(&o);
        }
        if (strcmp(cmd, "healthcheck") == 0)
                return healthcheck_text(st);
        if (strcmp(cmd, "expose") == 0) {
                cleanup_strv char **ports = NULL;
                sb_error_t err = { 0 };
                if (build_meta_expose_ports(b, st, n, &ports, &err) < 0)
                        return sb_xstrdup(n->original ? n->original : "EXPOSE");
                text_buf_adds(&o, "EXPOSE ");
                go_plain_list(&o, ports);
                return text_buf_take(&o);
        }
        if (strcmp(cmd, "volume") == 0)
                return words_text(b, st, n, "VOLUME", true);
        if (strcmp(cmd, "shell") == 0) {
                text_buf_adds(&o, "SHELL ");
                go_plain_list(&o, n->args);
                return text_buf_take(&o);
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
                text_buf_adds(&o, "ARG");
                for (size_t i = 0; n->args[i]; i++) {
                        cleanup_free char *name =
                                sb_xstrndup(n->args[i], strcspn(n->args[i], "="));
                        const char *v = build_args_lookup(st->args, name);
                        text_buf_adds(&o, " ");
                        text_buf_adds(&o, name);
                        if (v) {
                                text_buf_adds(&o, "=");
                                text_buf_adds(&o, v);
                        }
                }
                return text_buf_take(&o);
        }
        if (strcmp(cmd, "onbuild") == 0) {
                /* BuildKit records no history for ONBUILD; this text is for messages */
                const char *orig = n->original ? n->original : "";
                orig += strcspn(orig, " \t");
                return sb_xasprintf("ONBUILD %s", orig + strspn(orig, " \t"));
        }
        return sb_xstrdup(n->original ? n->original : cmd);
}
