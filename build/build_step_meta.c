/* Instructions that change only the image config: ARG, ENV, LABEL, CMD, ENTRYPOINT, USER,
 * EXPOSE, SHELL, STOPSIGNAL, VOLUME, HEALTHCHECK, MAINTAINER, ONBUILD. Each writes the config
 * field BuildKit writes, with its validation and error texts. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "build/build_internal.h"
#include "build/shell_expand.h"
#include "common/sb_cleanup.h"
#include "common/sb_log.h"
#include "common/sb_util.h"

/*
 * The ARG names a stage declared, in order (a base stage's first), kept in the config
 * document under a key finish_image drops: RUN's history names them ("RUN |2 A=1 B=2 ...").
 * In the document, a stage built FROM another stage inherits them with the rest of its state.
 */
#define DECLARED_ARGS_KEY "sbuild.declared_args"

char **build_meta_declared_args(struct stage_state *st)
{
        char **out = NULL;
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(st->config, DECLARED_ARGS_KEY), i, v) {
                const char *name = json_string_value(v);
                bool seen = false;
                for (size_t k = 0; name && out && out[k]; k++)
                        seen |= strcmp(out[k], name) == 0;
                if (name && !seen)
                        sb_strv_push(&out, name);
        }
        return out;
}

static void declare_arg(struct stage_state *st, const char *name)
{
        json_t *a = json_object_get(st->config, DECLARED_ARGS_KEY);
        if (!json_is_array(a)) {
                a = json_array();
                json_object_set_new(st->config, DECLARED_ARGS_KEY, a);
        }
        json_array_append_new(a, json_string(name));
}

int build_step_arg(struct builder *b, struct stage_state *st, const struct dockerfile_node *n,
                   sb_error_t *err)
{
        if (!n->args[0])
                return sb_error_set(err, EINVAL, "ARG requires at least one argument");
        for (size_t i = 0; n->args[i]; i++)
                if (n->args[i][0] == '=')
                        return sb_error_set(err, EINVAL, "ARG names can not be blank");
        cleanup_strv char **env = build_cfg_env(st);
        int r = build_plan_stage_arg(b->plan, b->opts->build_args, n, env, &st->args, err);
        if (r < 0)
                return r;
        /* history: each name with the value it now has, as BuildKit writes it */
        cleanup_free char *history = sb_xstrdup("ARG");
        for (size_t i = 0; n->args[i]; i++) {
                cleanup_free char *name = sb_xstrndup(n->args[i], strcspn(n->args[i], "="));
                const char *value = build_args_lookup(st->args, name);
                declare_arg(st, name);
                char *more = value ? sb_xasprintf("%s %s=%s", history, name, value)
                                   : sb_xasprintf("%s %s", history, name);
                free(history);
                history = more;
        }
        build_config_history(st->config, history, true);
        return 0;
}

/* --- EXPOSE --------------------------------------------------------------------------- */

/* Go's strconv.ParseUint(s, 10, 16). */
static int parse_port(const char *s, size_t len, uint64_t *ret)
{
        char buf[16];
        if (len == 0 || len >= sizeof(buf))
                return -EINVAL;
        for (size_t i = 0; i < len; i++)
                if (!isdigit((unsigned char) s[i]))
                        return -EINVAL;
        memcpy(buf, s, len);
        buf[len] = '\0';
        return sb_parse_u64(buf, 65535, ret);
}

static int parse_port_range(const char *s, uint64_t *start, uint64_t *end)
{
        const char *dash = strchr(s, '-');
        if (!dash)
                return parse_port(s, strlen(s), start) < 0 ? -EINVAL : (*end = *start, 0);
        if (strchr(dash + 1, '-'))
                return -EINVAL;
        if (parse_port(s, (size_t) (dash - s), start) < 0 ||
            parse_port(dash + 1, strlen(dash + 1), end) < 0 || *end < *start)
                return -EINVAL;
        return 0;
}

/* One [ip:][hostport:]port[-end][/proto] spec, as "port/proto" strings appended to out. */
static int parse_port_spec(const char *raw, char ***out, sb_error_t *err)
{
        cleanup_free char *copy = sb_xstrdup(raw);
        char *container = strrchr(copy, ':');
        char *host = NULL, *ip = NULL;
        if (container) {
                *container++ = '\0';
                host = strrchr(copy, ':');
                if (host) {
                        *host++ = '\0';
                        ip = copy;
                } else {
                        host = copy;
                }
        } else {
                container = copy;
        }
        char *slash = strchr(container, '/');
        const char *proto = "tcp";
        if (slash) {
                *slash = '\0';
                proto = slash + 1;
        }
        if (!*container)
                return sb_error_set(err, EINVAL, "no port specified: %s<empty>", raw);
        cleanup_free char *lproto = sb_xstrdup(proto);
        for (char *p = lproto; *p; p++)
                *p = (char) tolower((unsigned char) *p);
        if (!*lproto) {
                free(lproto);
                lproto = sb_xstrdup("tcp");
        }
        if (strcmp(lproto, "tcp") != 0 && strcmp(lproto, "udp") != 0 &&
            strcmp(lproto, "sctp") != 0)
                return sb_error_set(err, EINVAL, "invalid proto: %s", lproto);
        if (ip && *ip) {
                size_t l = strlen(ip);
                if (ip[0] == '[' && ip[l - 1] == ']') {
                        ip[l - 1] = '\0';
                        ip++;
                }
                unsigned char addr[16];
                if (inet_pton(AF_INET, ip, addr) != 1 && inet_pton(AF_INET6, ip, addr) != 1)
                        return sb_error_set(err, EINVAL, "invalid IP address: %s", ip);
        }
        uint64_t start, end;
        if (parse_port_range(container, &start, &end) < 0)
                return sb_error_set(err, EINVAL, "invalid containerPort: %s", container);
        if (host && *host) {
                uint64_t hs, he;
                if (parse_port_range(host, &hs, &he) < 0)
                        return sb_error_set(err, EINVAL, "invalid hostPort: %s", host);
                if (end - start != he - hs && end != start)
                        return sb_error_set(err, EINVAL,
                                            "invalid ranges specified for container and host "
                                            "Ports: %s and %s",
                                            container, host);
        }
        for (uint64_t p = start; p <= end; p++)
                sb_strv_push_take(out, sb_xasprintf("%" PRIu64 "/%s", p, lproto));
        return 0;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int build_meta_expose_ports(struct builder *b, struct stage_state *st,
                            const struct dockerfile_node *n, char ***ret, sb_error_t *err)
{
        /* BuildKit sorts the words as written, then expands each into words */
        cleanup_strv char **raw = sb_strv_copy(n->args);
        size_t count = sb_strv_len(raw);
        if (count == 0)
                return sb_error_set(err, EINVAL, "EXPOSE requires at least one argument");
        qsort(raw, count, sizeof(char *), cmp_str);
        cleanup_strv char **env = build_expansion_env(st);
        char **ports = NULL;
        for (size_t i = 0; i < count; i++) {
                cleanup_strv char **words = NULL;
                int r = shell_expand_words(raw[i], env, b->df->escape, &words, err);
                for (size_t k = 0; r >= 0 && words && words[k]; k++)
                        r = parse_port_spec(words[k], &ports, err);
                if (r < 0) {
                        sb_strv_free(ports);
                        return r;
                }
        }
        *ret = ports;
        return 0;
}

/* --- HEALTHCHECK ------------------------------------------------------------------------ */

static void go_quoted(char *out, size_t size, const char *s)
{
        /* enough of Go's %q for error messages: the text in double quotes */
        snprintf(out, size, "\"%s\"", s);
}

/* Go's time.ParseDuration, in nanoseconds, with its error texts. */
static int parse_go_duration(const char *orig, int64_t *ret, sb_error_t *err)
{
        char q[256];
        go_quoted(q, sizeof(q), orig);
        const char *s = orig;
        bool neg = false;
        if (*s == '-' || *s == '+')
                neg = *s++ == '-';
        if (strcmp(s, "0") == 0) {
                *ret = 0;
                return 0;
        }
        if (!*s)
                return sb_error_set(err, EINVAL, "time: invalid duration %s", q);
        static const struct {
                const char *name;
                uint64_t ns;
        } units[] = {
                { "ns", 1ull }, { "us", 1000ull }, { "\xc2\xb5s", 1000ull },
                { "\xce\xbcs", 1000ull }, { "ms", 1000000ull }, { "s", 1000000000ull },
                { "m", 60000000000ull }, { "h", 3600000000000ull },
        };
        uint64_t total = 0;
        while (*s) {
                if (*s != '.' && !isdigit((unsigned char) *s))
                        return sb_error_set(err, EINVAL, "time: invalid duration %s", q);
                uint64_t v = 0, frac = 0, scale = 1;
                const char *p = s;
                while (isdigit((unsigned char) *s)) {
                        if (v > (UINT64_C(1) << 63) / 10)
                                return sb_error_set(err, EINVAL, "time: invalid duration %s", q);
                        v = v * 10 + (uint64_t) (*s++ - '0');
                }
                bool pre = s != p, post = false;
                if (*s == '.') {
                        s++;
                        p = s;
                        while (isdigit((unsigned char) *s)) {
                                if (scale < UINT64_C(1000000000000000000)) {
                                        frac = frac * 10 + (uint64_t) (*s - '0');
                                        scale *= 10;
                                }
                                s++;
                        }
                        post = s != p;
                }
                if (!pre && !post)
                        return sb_error_set(err, EINVAL, "time: invalid duration %s", q);
                p = s;
                while (*s && *s != '.' && !isdigit((unsigned char) *s))
                        s++;
                if (s == p)
                        return sb_error_set(err, EINVAL, "time: missing unit in duration %s", q);
                uint64_t unit = 0;
                for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
                        if (strlen(units[i].name) == (size_t) (s - p) &&
                            strncmp(units[i].name, p, (size_t) (s - p)) == 0)
                                unit = units[i].ns;
                if (!unit) {
                        char u[64], uq[80];
                        snprintf(u, sizeof(u), "%.*s", (int) (s - p), p);
                        go_quoted(uq, sizeof(uq), u);
                        return sb_error_set(err, EINVAL, "time: unknown unit %s in duration %s",
                                            uq, q);
                }
                if (v > (UINT64_C(1) << 63) / unit)
                        return sb_error_set(err, EINVAL, "time: invalid duration %s", q);
                v *= unit;
                v += (uint64_t) ((long double) frac * (long double) unit / (long double) scale);
                total += v;
                if (total > (UINT64_C(1) << 63) - (neg ? 0 : 1))
                        return sb_error_set(err, EINVAL, "time: invalid duration %s", q);
        }
        *ret = neg ? (int64_t) (0 - total) : (int64_t) total;
        return 0;
}

static const char *const health_flags[] = { "interval", "timeout", "start-period",
                                            "start-interval", "retries" };
#define N_HEALTH_FLAGS (sizeof(health_flags) / sizeof(health_flags[0]))

static int healthcheck_flags(const struct dockerfile_node *n, const char **values,
                             sb_error_t *err)
{
        for (size_t i = 0; n->flags[i]; i++) {
                const char *f = n->flags[i] + strspn(n->flags[i], "-");
                size_t len = strcspn(f, "=");
                size_t k = 0;
                while (k < N_HEALTH_FLAGS &&
                       !(strlen(health_flags[k]) == len && strncmp(health_flags[k], f, len) == 0))
                        k++;
                if (k == N_HEALTH_FLAGS)
                        return sb_error_set(err, EINVAL, "Unknown flag: %.*s", (int) len, f);
                if (values[k])
                        return sb_error_set(err, EINVAL, "Duplicate flag specified: %s",
                                            health_flags[k]);
                if (f[len] != '=')
                        return sb_error_set(err, EINVAL, "Missing a value on flag: %s",
                                            n->flags[i]);
                values[k] = f + len + 1;
        }
        return 0;
}

static int run_healthcheck(const struct dockerfile_node *n, json_t *c, sb_error_t *err)
{
        if (!n->args[0])
                return sb_error_set(err, EINVAL, "HEALTHCHECK requires at least one argument");
        cleanup_free char *type = sb_xstrdup(n->args[0]);
        for (char *p = type; *p; p++)
                *p = (char) toupper((unsigned char) *p);
        /* the parser leaves one empty argument when nothing follows the type */
        size_t nargs = 0;
        for (size_t i = 1; n->args[i]; i++)
                if (n->json || *n->args[i])
                        nargs = i;
        if (strcmp(type, "NONE") == 0) {
                if (nargs > 0)
                        return sb_error_set(err, EINVAL, "HEALTHCHECK NONE takes no arguments");
                json_object_set_new(c, "Healthcheck", json_pack("{s:[s]}", "Test", "NONE"));
                return 0;
        }
        const char *values[N_HEALTH_FLAGS] = { 0 };
        int r = healthcheck_flags(n, values, err);
        if (r < 0)
                return r;
        if (strcmp(type, "CMD") != 0)
                return sb_error_set(err, EINVAL, "Unknown type \"%s\" in HEALTHCHECK (try CMD)",
                                    type);
        if (nargs == 0)
                return sb_error_set(err, EINVAL, "Missing command after HEALTHCHECK CMD");
        json_t *test = json_array();
        json_array_append_new(test, json_string(n->json ? "CMD" : "CMD-SHELL"));
        for (size_t i = 1; i <= nargs; i++)
                json_array_append_new(test, json_string(n->args[i]));
        json_t *h = json_pack("{s:o}", "Test", test);
        static const char *const keys[] = { "Interval", "Timeout", "StartPeriod",
                                            "StartInterval" };
        for (size_t k = 0; k < 4; k++) {
                int64_t d = 0;
                if (values[k] && *values[k]) {
                        r = parse_go_duration(values[k], &d, err);
                        if (r >= 0 && d != 0 && d < 1000000) /* docker's minimum: 1ms */
                                r = sb_error_set(err, EINVAL,
                                                 "Interval \"%s\" cannot be less than 1ms",
                                                 health_flags[k]);
                        if (r < 0) {
                                json_decref(h);
                                return r;
                        }
                }
                if (d)
                        json_object_set_new(h, keys[k], json_integer(d));
        }
        if (values[4] && *values[4]) {
                const char *v = values[4];
                const char *digits = v + (*v == '-' || *v == '+');
                bool ok = *digits && strspn(digits, "0123456789") == strlen(digits);
                long long x = 0;
                for (const char *p = digits; ok && *p; p++) {
                        x = x * 10 + (*p - '0');
                        if (x > 2147483648LL)
                                break;
                }
                if (*v == '-')
                        x = -x;
                if (!ok) {
                        json_decref(h);
                        return sb_error_set(err, EINVAL,
                                            "strconv.ParseInt: parsing \"%s\": invalid syntax", v);
                }
                if (x > 2147483647LL || x < -2147483648LL) {
                        json_decref(h);
                        return sb_error_set(err, ERANGE,
                                            "strconv.ParseInt: parsing \"%s\": value out of range",
                                            v);
                }
                if (x < 0) {
                        json_decref(h);
                        return sb_error_set(err, EINVAL, "--retries cannot be negative (%lld)",
                                            x);
                }
                if (x)
                        json_object_set_new(h, "Retries", json_integer(x));
        }
        json_object_set_new(c, "Healthcheck", h);
        return 0;
}

/* --- the rest ----------------------------------------------------------------------------- */

/* moby/sys/signal's names on Linux (SIG prefix optional, any case), or a non-zero number. */
static bool valid_signal(const char *s)
{
        const char *d = s + (*s == '-' || *s == '+');
        if (*d && strspn(d, "0123456789") == strlen(d))
                return strspn(d, "0") != strlen(d);
        static const char *const names[] = {
                "ABRT", "ALRM", "BUS",  "CHLD",   "CLD",  "CONT",   "FPE",    "HUP",  "ILL",
                "INT",  "IO",   "IOT",  "KILL",   "PIPE", "POLL",   "PROF",   "PWR",  "QUIT",
                "SEGV", "STKFLT", "STOP", "SYS",  "TERM", "TRAP",   "TSTP",   "TTIN", "TTOU",
                "UNUSED", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ", "RTMIN",
                "RTMAX",
        };
        if (strncasecmp(s, "SIG", 3) == 0)
                s += 3;
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                if (strcasecmp(s, names[i]) == 0)
                        return true;
        /* RTMIN+1..RTMIN+15 and RTMAX-14..RTMAX-1 */
        bool min = strncasecmp(s, "RTMIN+", 6) == 0, max = strncasecmp(s, "RTMAX-", 6) == 0;
        uint64_t k;
        if ((min || max) && sb_parse_u64(s + 6, min ? 15 : 14, &k) == 0 && k >= 1 &&
            isdigit((unsigned char) s[6]))
                return true;
        return false;
}

static json_t *object_in(json_t *c, const char *key)
{
        json_t *o = json_object_get(c, key);
        if (!json_is_object(o)) {
                o = json_object();
                json_object_set_new(c, key, o);
        }
        return o;
}

static int run_env_or_label(struct builder *b, struct stage_state *st,
                            const struct dockerfile_node *n, bool label, sb_error_t *err)
{
        const char *what = label ? "LABEL" : "ENV";
        size_t argc = sb_strv_len(n->args);
        if (argc == 0)
                return sb_error_set(err, EINVAL, "%s requires at least one argument", what);
        if (argc % 3 != 0)
                return sb_error_set(err, EINVAL, "Bad input to %s, too many arguments", what);
        /* every word expands with the variables from before the instruction, as in BuildKit:
         * ENV A=changed B=$A gives B the old A */
        cleanup_strv char **kv = NULL;
        for (size_t i = 0; i + 2 < argc + 1 && n->args[i]; i += 3) {
                char *key = NULL, *value = NULL;
                if (!*n->args[i])
                        return sb_error_set(err, EINVAL, "%s names can not be blank", what);
                int r = build_expand(b, st, n->args[i], &key, err);
                if (r >= 0)
                        r = build_expand(b, st, n->args[i + 1], &value, err);
                if (r < 0) {
                        free(key);
                        return r;
                }
                sb_strv_push_take(&kv, key);
                sb_strv_push_take(&kv, value);
        }
        json_t *c = build_cfg(st);
        for (size_t i = 0; kv && kv[i]; i += 2) {
                if (label) {
                        json_object_set_new(object_in(c, "Labels"), kv[i], json_string(kv[i + 1]));
                        continue;
                }
                char **env = build_cfg_env(st);
                build_env_set(&env, kv[i], kv[i + 1]);
                json_object_set_new(c, "Env", build_strv_to_json(env));
                sb_strv_free(env);
                /* an ENV hides an ARG of the same name from here on */
                build_args_unset(&st->args, kv[i]);
        }
        return 0;
}

/* CMD/ENTRYPOINT's argv: the JSON form as written, the shell form through SHELL. */
static json_t *command_json(struct stage_state *st, const struct dockerfile_node *n)
{
        if (n->json)
                return build_strv_to_json(n->args);
        json_t *a = build_strv_to_json(st->shell);
        cleanup_free char *line = NULL;
        for (size_t i = 0; n->args[i]; i++) {
                char *more = line ? sb_xasprintf("%s %s", line, n->args[i])
                                  : sb_xstrdup(n->args[i]);
                free(line);
                line = more;
        }
        json_array_append_new(a, json_string(line ? line : ""));
        return a;
}

/* The trigger text BuildKit stores in OnBuild: the instruction after "ONBUILD", with its
 * heredoc bodies. */
static int run_onbuild(const struct dockerfile_node *n, json_t *c, sb_error_t *err)
{
        const struct dockerfile_node *in = n->inner;
        if (!in || !in->cmd)
                return sb_error_set(err, EINVAL, "ONBUILD requires at least one argument");
        if (strcmp(in->cmd, "onbuild") == 0)
                return sb_error_set(err, EINVAL,
                                    "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
        if (strcmp(in->cmd, "from") == 0 || strcmp(in->cmd, "maintainer") == 0)
                return sb_error_set(err, EINVAL, "%s isn't allowed as an ONBUILD trigger",
                                    strcmp(in->cmd, "from") == 0 ? "FROM" : "MAINTAINER");
        const char *o = n->original ? n->original : "";
        o += strspn(o, " \t");
        if (strncasecmp(o, "onbuild", 7) == 0)
                o += 7;
        o += strspn(o, " \t\r\n\v\f");
        cleanup_free char *expr = sb_xstrdup(o);
        const struct dockerfile_node *h = n->n_heredocs ? n : in;
        for (size_t i = 0; i < h->n_heredocs; i++) {
                char *more = sb_xasprintf("%s\n%s%s", expr, h->heredocs[i].content,
                                          h->heredocs[i].name);
                free(expr);
                expr = more;
        }
        json_t *ob = json_object_get(c, "OnBuild");
        if (!json_is_array(ob)) {
                ob = json_array();
                json_object_set_new(c, "OnBuild", ob);
        }
        json_array_append_new(ob, json_string(expr));
        return 0;
}

static int one_expanded(struct builder *b, struct stage_state *st,
                        const struct dockerfile_node *n, const char *what, char **ret,
                        sb_error_t *err)
{
        if (!n->args[0] || n->args[1])
                return sb_error_set(err, EINVAL, "%s requires exactly one argument", what);
        return build_expand(b, st, n->args[0], ret, err);
}

static int run_meta(struct builder *b, struct stage_state *st, const struct dockerfile_node *n,
                    bool *cmd_set, sb_error_t *err)
{
        json_t *c = build_cfg(st);
        const char *cmd = n->cmd;
        if (strcmp(cmd, "env") == 0 || strcmp(cmd, "label") == 0)
                return run_env_or_label(b, st, n, strcmp(cmd, "label") == 0, err);
        if (strcmp(cmd, "cmd") == 0) {
                json_t *v = command_json(st, n);
                /* Go's omitempty: CMD [] leaves no Cmd, not even the base's */
                if (json_array_size(v) > 0)
                        json_object_set_new(c, "Cmd", v);
                else {
                        json_decref(v);
                        json_object_del(c, "Cmd");
                }
                json_object_set_new(c, "ArgsEscaped", json_true());
                *cmd_set = true;
                return 0;
        }
        if (strcmp(cmd, "entrypoint") == 0) {
                json_t *v = command_json(st, n);
                if (json_array_size(v) > 0)
                        json_object_set_new(c, "Entrypoint", v);
                else {
                        json_decref(v);
                        json_object_del(c, "Entrypoint");
                }
                /* an ENTRYPOINT resets a CMD inherited from the base, not one set here */
                if (!*cmd_set)
                        json_object_del(c, "Cmd");
                return 0;
        }
        if (strcmp(cmd, "user") == 0 || strcmp(cmd, "stopsignal") == 0) {
                bool user = strcmp(cmd, "user") == 0;
                cleanup_free char *v = NULL;
                int r = one_expanded(b, st, n, user ? "USER" : "STOPSIGNAL", &v, err);
                if (r < 0)
                        return r;
                if (!user && !valid_signal(v))
                        return sb_error_set(err, EINVAL, "Invalid signal: %s", v);
                json_object_set_new(c, user ? "User" : "StopSignal", json_string(v));
                return 0;
        }
        if (strcmp(cmd, "expose") == 0) {
                cleanup_strv char **ports = NULL;
                int r = build_meta_expose_ports(b, st, n, &ports, err);
                if (r < 0)
                        return r;
                json_t *o = object_in(c, "ExposedPorts");
                for (size_t i = 0; ports && ports[i]; i++)
                        json_object_set_new(o, ports[i], json_object());
                return 0;
        }
        if (strcmp(cmd, "volume") == 0) {
                if (!n->args[0])
                        return sb_error_set(err, EINVAL, "VOLUME requires at least one argument");
                json_t *vols = object_in(c, "Volumes");
                for (size_t i = 0; n->args[i]; i++) {
                        cleanup_free char *v = NULL;
                        int r = build_expand(b, st, n->args[i], &v, err);
                        if (r < 0)
                                return r;
                        size_t lead = strspn(v, " \t\r\n\v\f"), len = strlen(v);
                        while (len > lead && strchr(" \t\r\n\v\f", v[len - 1]))
                                len--;
                        if (len == lead)
                                return sb_error_set(err, EINVAL,
                                                    "VOLUME specified can not be an empty string");
                        v[len] = '\0';
                        json_object_set_new(vols, v + lead, json_object());
                }
                return 0;
        }
        if (strcmp(cmd, "shell") == 0) {
                if (!n->args[0] || (n->json && !n->args[0]))
                        return sb_error_set(err, EINVAL, "SHELL requires at least one argument");
                if (!n->json)
                        return sb_error_set(err, EINVAL,
                                            "SHELL requires the arguments to be in JSON form");
                sb_strv_free(st->shell);
                st->shell = sb_strv_copy(n->args);
                json_object_set_new(c, "Shell", build_strv_to_json(n->args));
                return 0;
        }
        if (strcmp(cmd, "maintainer") == 0) {
                if (!n->args[0] || n->args[1])
                        return sb_error_set(err, EINVAL,
                                            "MAINTAINER requires exactly one argument");
                /* BuildKit sets the author only; no label */
                json_object_set_new(st->config, "author", json_string(n->args[0]));
                return 0;
        }
        if (strcmp(cmd, "healthcheck") == 0)
                return run_healthcheck(n, c, err);
        if (strcmp(cmd, "onbuild") == 0)
                return run_onbuild(n, c, err);
        return sb_error_set(err, EINVAL, "unknown instruction: %s", cmd);
}

int build_step_meta(struct builder *b, struct stage_state *st, const struct dockerfile_node *n,
                    bool *cmd_set, sb_error_t *err)
{
        /* ENV/LABEL's text shows the words expanded before the instruction applies (ENV
         * A=x B=$A records the old A); the others show what they set */
        bool pairs = strcmp(n->cmd, "env") == 0 || strcmp(n->cmd, "label") == 0;
        cleanup_free char *created = pairs ? build_history_text(b, st, n) : NULL;
        int r = run_meta(b, st, n, cmd_set, err);
        if (r < 0)
                return r;
        /* BuildKit writes no history entry for ONBUILD */
        if (strcmp(n->cmd, "onbuild") == 0)
                return 0;
        if (!created)
                created = build_history_text(b, st, n);
        build_config_history(st->config, created, true);
        return 0;
}
