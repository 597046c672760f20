/* The static audit: each rule over the instruction list. */
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/sb_cleanup.h"
#include "common/sb_util.h"
#include "policy/policy.h"

struct check {
        const struct policy *p;
        struct policy_report *r;
};

static void add(struct check *c, enum policy_rule rule, int line, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static void add(struct check *c, enum policy_rule rule, int line, const char *fmt, ...)
{
        struct policy_report *r = c->r;
        va_list ap;
        char *msg;

        if (c->p->severity[rule] == POLICY_OFF)
                return;
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                abort();
        va_end(ap);
        r->findings = sb_xrealloc(r->findings, (r->n_findings + 1) * sizeof(*r->findings));
        r->findings[r->n_findings++] = (struct policy_finding) {
                .rule = rule, .severity = c->p->severity[rule], .line = line, .message = msg,
        };
}

static bool match_any(char *const *patterns, const char *s)
{
        for (; patterns && *patterns; patterns++)
                if (fnmatch(*patterns, s, 0) == 0)
                        return true;
        return false;
}

static const char *flag_value(char *const *flags, const char *name)
{
        size_t n = strlen(name);

        for (; flags && *flags; flags++)
                if (strncmp(*flags, name, n) == 0 && (*flags)[n] == '=')
                        return *flags + n + 1;
        return NULL;
}

/* A base image reference: registry/repository ("docker.io/library/busybox"), tag, digest. */
static void check_from(struct check *c, const char *ref, int line)
{
        const char *at = strchr(ref, '@'), *slash, *colon;
        cleanup_free char *name = sb_xstrndup(ref, at ? (size_t) (at - ref) : strlen(ref));
        cleanup_free char *full = NULL;
        const char *tag = NULL;

        slash = strrchr(name, '/');
        colon = strrchr(slash ? slash : name, ':');
        if (colon) {
                tag = colon + 1;
                name[colon - name] = '\0';
        }
        slash = strchr(name, '/');
        if (slash && (memchr(name, '.', (size_t) (slash - name)) ||
                      memchr(name, ':', (size_t) (slash - name)) ||
                      strncmp(name, "localhost/", 10) == 0))
                full = sb_xstrdup(name);
        else
                full = sb_xasprintf("docker.io/%s%s", slash ? "" : "library/", name);

        if (!match_any(c->p->pull_registries, full))
                add(c, POLICY_RULE_REGISTRY, line, "base image '%s' (%s) is not from an "
                    "allowed registry", ref, full);
        if (c->p->require_digest && !(at && sb_str_has_prefix(at + 1, "sha256:")))
                add(c, POLICY_RULE_DIGEST, line, "base image '%s' is not pinned by digest",
                    ref);
        if (!at && (!tag || strcmp(tag, "latest") == 0))
                add(c, POLICY_RULE_LATEST, line, "base image '%s' uses %s", ref,
                    tag ? "the latest tag" : "no tag (latest)");
}

static bool is_root_user(const char *u)
{
        size_t n = strcspn(u, ":");
        return (n == 4 && strncmp(u, "root", 4) == 0) || (n == 1 && u[0] == '0') || n == 0;
}

/* Whether name contains secret word w on '_' boundaries ("API_KEY" has KEY, "MONKEY" not). */
static bool has_word(const char *name, const char *w)
{
        size_t wl = strlen(w), nl = strlen(name);

        for (size_t i = 0; i + wl <= nl; i++) {
                if (strncasecmp(name + i, w, wl) != 0)
                        continue;
                bool left = i == 0 || name[i - 1] == '_' || name[i - 1] == '-';
                bool right = i + wl == nl || name[i + wl] == '_' || name[i + wl] == '-';
                if (left && right)
                        return true;
        }
        return false;
}

static void check_name(struct check *c, const char *cmd, const char *name, int line)
{
        for (char *const *w = c->p->secret_names; w && *w; w++) {
                if (has_word(name, *w)) {
                        add(c, POLICY_RULE_SECRET, line, "%s name '%s' looks like a secret "
                            "(matches '%s')", cmd, name, *w);
                        return;
                }
        }
}

static bool is_word_char(char ch)
{
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
               ch == '_' || ch == '-' || ch == '.';
}

/* Whether s[a..b) holds the word curl or wget. */
static bool has_fetcher(const char *s, size_t a, size_t b)
{
        static const char *const tools[] = { "curl", "wget", NULL };

        for (size_t i = a; i < b; i++) {
                for (const char *const *t = tools; *t; t++) {
                        size_t n = strlen(*t);
                        if (i + n <= b && strncmp(s + i, *t, n) == 0 &&
                            (i == a || !is_word_char(s[i - 1]) || s[i - 1] == '/') &&
                            (i + n == b || !is_word_char(s[i + n])))
                                return true;
                }
        }
        return false;
}

/* After a '|': the command the pipe feeds (skipping sudo and a directory), a shell? */
static bool feeds_shell(const char *s)
{
        static const char *const shells[] = { "sh", "bash", "dash", "zsh", "ksh", "ash",
                                              "python", "python3", "perl", "ruby", NULL };
        for (;;) {
                s += strspn(s, " \t\\\n");
                size_t n = strcspn(s, " \t\n;&|)");
                const char *w = s, *sl;
                for (sl = w; sl < s + n; sl++)
                        if (*sl == '/')
                                w = sl + 1;
                size_t wl = (size_t) (s + n - w);
                if (wl == 4 && strncmp(w, "sudo", 4) == 0) {
                        s += n;
                        continue;
                }
                for (const char *const *sh = shells; *sh; sh++)
                        if (strlen(*sh) == wl && strncmp(w, *sh, wl) == 0)
                                return true;
                return false;
        }
}

static bool curl_pipe(const char *s)
{
        size_t seg = 0, len = strlen(s);

        for (size_t i = 0; i < len; i++) {
                if (s[i] == ';' || s[i] == '\n' || (s[i] == '&' && s[i + 1] == '&') ||
                    (s[i] == '|' && s[i + 1] == '|')) {
                        i += s[i] != ';' && s[i] != '\n';
                        seg = i + 1;
                        continue;
                }
                if (s[i] == '|' && has_fetcher(s, seg, i) && feeds_shell(s + i + 1))
                        return true;
        }
        return false;
}

static void check_run(struct check *c, const struct policy_instr *in)
{
        cleanup_free char *text = NULL;
        size_t n = 0;

        for (char *const *a = in->args; a && *a; a++)
                n += strlen(*a) + 1;
        n += in->body ? strlen(in->body) + 1 : 0;
        text = sb_xcalloc(1, n + 1);
        for (char *const *a = in->args; a && *a; a++) {
                strncat(text, *a, n - strlen(text));
                strncat(text, " ", n - strlen(text));
        }
        if (in->body)
                strncat(text, in->body, n - strlen(text));
        if (curl_pipe(text))
                add(c, POLICY_RULE_CURL_PIPE, in->line, "RUN pipes the output of curl or wget "
                    "into an interpreter");
}

static void check_add(struct check *c, const struct policy_instr *in)
{
        size_t n = 0;

        while (in->args && in->args[n])
                n++;
        for (size_t i = 0; i + 1 < n; i++) {
                const char *src = in->args[i], *h;
                if (sb_str_has_prefix(src, "http://") || sb_str_has_prefix(src, "https://"))
                        h = strstr(src, "://") + 3;
                else
                        continue;
                if (!flag_value(in->flags, "--checksum"))
                        add(c, POLICY_RULE_ADD_CHECKSUM, in->line, "ADD of '%s' has no "
                            "--checksum", src);
                size_t hl = strcspn(h, "/?#");
                const char *userinfo = memchr(h, '@', hl);
                if (userinfo) {
                        hl -= (size_t) (userinfo + 1 - h);
                        h = userinfo + 1;
                }
                cleanup_free char *host = sb_xstrndup(h, hl);
                if (host[0] != '[' && strchr(host, ':'))
                        *strchr(host, ':') = '\0';
                if (!match_any(c->p->add_hosts, host))
                        add(c, POLICY_RULE_ADD_HOST, in->line, "ADD fetches from host '%s', "
                            "which the policy does not allow", host);
        }
}

static int cmp_finding(const void *a, const void *b)
{
        const struct policy_finding *x = a, *y = b;
        if (x->line != y->line)
                return x->line < y->line ? -1 : 1;
        /* stable enough: same line keeps rule order */
        return (int) x->rule - (int) y->rule;
}

struct policy_report *policy_check(const struct policy *p, const struct policy_instr *instrs,
                                   size_t n)
{
        struct check c = { .p = p, .r = sb_xcalloc(1, sizeof(struct policy_report)) };
        /* per stage: its name and the user it ends with (NULL: the base image's, unknown) */
        cleanup_strv char **names = NULL;
        const char **users = sb_xcalloc(n + 1, sizeof(char *));
        size_t n_stages = 0;
        int final_from = 0, final_user_line = 0;

        for (size_t i = 0; i < n; i++) {
                const struct policy_instr *in = &instrs[i];
                if (strcmp(in->cmd, "from") == 0 && in->args[0]) {
                        const char *ref = in->args[0], *inherit = NULL;
                        bool stage = false;
                        for (size_t s = 0; s < n_stages; s++) {
                                if (strcasecmp(names[s], ref) == 0) {
                                        stage = true;
                                        inherit = users[s];
                                }
                        }
                        if (!stage && strcmp(ref, "scratch") != 0)
                                check_from(&c, ref, in->line);
                        const char *as = in->args[1] && in->args[2] &&
                                         strcasecmp(in->args[1], "as") == 0 ? in->args[2] : "";
                        sb_strv_push(&names, as);
                        users[n_stages++] = inherit;
                        final_from = in->line;
                        final_user_line = in->line;
                } else if (strcmp(in->cmd, "user") == 0 && in->args[0] && n_stages) {
                        users[n_stages - 1] = in->args[0];
                        final_user_line = in->line;
                } else if (strcmp(in->cmd, "env") == 0) {
                        for (size_t k = 0; in->args[k] && in->args[k + 1]; k += 3)
                                check_name(&c, "ENV", in->args[k], in->line);
                } else if (strcmp(in->cmd, "arg") == 0) {
                        for (size_t k = 0; in->args[k]; k++) {
                                cleanup_free char *nm = sb_xstrndup(in->args[k],
                                                                    strcspn(in->args[k], "="));
                                check_name(&c, "ARG", nm, in->line);
                        }
                } else if (strcmp(in->cmd, "run") == 0) {
                        check_run(&c, in);
                } else if (strcmp(in->cmd, "add") == 0) {
                        check_add(&c, in);
                }
        }
        if (n_stages) {
                const char *u = users[n_stages - 1];
                if (!u)
                        add(&c, POLICY_RULE_USER_ROOT, final_from, "the final stage sets no "
                            "USER, so it runs as the base image's user (often root)");
                else if (is_root_user(u))
                        add(&c, POLICY_RULE_USER_ROOT, final_user_line, "the final stage runs "
                            "as USER '%s'", u);
        }
        free(users);
        if (c.r->n_findings > 1)
                qsort(c.r->findings, c.r->n_findings, sizeof(*c.r->findings), cmp_finding);
        return c.r;
}

struct policy_report *policy_report_free(struct policy_report *r)
{
        if (!r)
                return NULL;
        for (size_t i = 0; i < r->n_findings; i++)
                free(r->findings[i].message);
        free(r->findings);
        free(r);
        return NULL;
}

bool policy_report_fails(const struct policy_report *r, enum policy_severity min)
{
        for (size_t i = 0; i < r->n_findings; i++)
                if (r->findings[i].severity >= min)
                        return true;
        return false;
}
