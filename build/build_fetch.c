/*
 * Before the builder starts, in the supervisor: the remote sources of the needed stages' ADD
 * instructions are fetched by the registry agent into the store (the builder has no network
 * and no credentials), and the context's ignore file is read and checked. The builder inherits
 * both: b->fetched holds "URL\tsha256:<hex>\t<file name>\t<Last-Modified seconds, 0 if none>"
 * per remote source, b->ignore the compiled ignore patterns.
 */
#include <errno.h>
#include <string.h>

#include "build/build_ignore.h"
#include "build/build_internal.h"
#include "build/shell_expand.h"
#include "common/sb_cleanup.h"
#include "common/sb_log.h"
#include "common/sb_util.h"

bool build_source_is_url(const char *s)
{
        return sb_str_has_prefix(s, "http://") || sb_str_has_prefix(s, "https://");
}

bool build_source_is_git(const char *s)
{
        cleanup_free char *base = sb_xstrndup(s, strcspn(s, "#?"));
        return sb_str_has_prefix(s, "git@") || sb_str_has_prefix(s, "git://") ||
               sb_str_has_suffix(base, ".git");
}

static bool already_fetched(char *const *fetched, const char *url)
{
        size_t n = strlen(url);
        for (size_t i = 0; fetched && fetched[i]; i++)
                if (strncmp(fetched[i], url, n) == 0 && fetched[i][n] == '\t')
                        return true;
        return false;
}

static void set_var(char ***env, const char *name, const char *value)
{
        cleanup_free char *prefix = sb_xasprintf("%s=", name);
        for (size_t i = 0; *env && (*env)[i]; i++) {
                if (sb_str_has_prefix((*env)[i], prefix)) {
                        free((*env)[i]);
                        (*env)[i] = sb_xasprintf("%s=%s", name, value);
                        return;
                }
        }
        sb_strv_push_take(env, sb_xasprintf("%s=%s", name, value));
}

/* ARG inside a stage: a build arg, else its default, else the global value if re-declared. */
static void scope_arg(struct builder *b, char ***env, const char *decl)
{
        size_t nlen = strcspn(decl, "=");
        cleanup_free char *name = sb_xstrndup(decl, nlen);
        const char *v = build_args_lookup(b->opts->build_args, name);
        cleanup_free char *expanded = NULL;
        if (!v && decl[nlen] == '=') {
                if (shell_expand_word(decl + nlen + 1, *env, b->df->escape, &expanded, NULL) < 0)
                        return;
                v = expanded;
        }
        if (!v)
                v = build_args_lookup(b->plan->global_args, name);
        if (v)
                set_var(env, name, v);
}

static int fetch_one(struct builder *b, struct registry_agent *agent,
                     const struct dockerfile_node *n, const char *url, const char *checksum,
                     sb_error_t *err)
{
        if (already_fetched(b->fetched, url))
                return 0;
        struct registry_fetched f = { 0 };
        double t0 = sb_now();
        int r = registry_agent_fetch(agent, url, checksum, &f, err);
        if (r < 0)
                return sb_error_prefix(err, "Dockerfile:%d: ADD", n->start_line);
        sb_info("fetched %s (%llu bytes) %.1fs", url, (unsigned long long) f.size,
                sb_now() - t0);
        sb_strv_push_take(&b->fetched, sb_xasprintf("%s\t%s\t%s\t%lld", url, f.digest, f.name,
                                                    (long long) f.last_modified));
        registry_fetched_done(&f);
        return 0;
}

static int fetch_node(struct builder *b, struct registry_agent *agent,
                      const struct dockerfile_node *n, char *const *env, sb_error_t *err)
{
        size_t argc = sb_strv_len(n->args);
        cleanup_free char *checksum = NULL;
        for (size_t i = 0; n->flags[i]; i++) {
                if (!sb_str_has_prefix(n->flags[i], "--checksum="))
                        continue;
                free(checksum);
                checksum = NULL;
                if (shell_expand_word(n->flags[i] + 11, env, b->df->escape, &checksum, NULL) < 0 ||
                    !sb_digest_valid(checksum)) {
                        /* the builder reports the bad flag with its line */
                        free(checksum);
                        checksum = NULL;
                }
        }
        for (size_t i = 0; i + 1 < argc; i++) {
                if (sb_str_has_prefix(n->args[i], "<<"))
                        continue;
                cleanup_free char *src = NULL;
                if (shell_expand_word(n->args[i], env, b->df->escape, &src, NULL) < 0)
                        continue;
                if (!build_source_is_url(src) || build_source_is_git(src))
                        continue;
                int r = fetch_one(b, agent, n, src, checksum, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int fetch_stage(struct builder *b, struct registry_agent *agent,
                       const struct build_stage *s, sb_error_t *err)
{
        cleanup_strv char **env = NULL;
        for (size_t k = 0; k < s->count; k++) {
                const struct dockerfile_node *n = &b->df->nodes[s->first + k];
                if (strcmp(n->cmd, "arg") == 0) {
                        for (size_t i = 0; n->args[i]; i++)
                                scope_arg(b, &env, n->args[i]);
                } else if (strcmp(n->cmd, "env") == 0) {
                        for (size_t i = 0; n->args[i] && n->args[i + 1]; i += 3) {
                                cleanup_free char *v = NULL;
                                if (shell_expand_word(n->args[i + 1], env, b->df->escape, &v,
                                                      NULL) == 0)
                                        set_var(&env, n->args[i], v);
                                if (!n->args[i + 2])
                                        break;
                        }
                } else if (strcmp(n->cmd, "add") == 0) {
                        int r = fetch_node(b, agent, n, env, err);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static int load_ignore(struct builder *b, sb_error_t *err)
{
        cleanup_strv char **patterns = NULL;
        int r = build_ignore_load(b->context_fd, b->opts->dockerfile, &patterns, err);
        if (r < 0)
                return sb_error_prefix(err, "ignore file");
        if (!patterns)
                return 0;
        /* compiled now: a bad pattern is the user's error, before anything runs */
        r = build_ignore_new(patterns, &b->ignore, err);
        return r < 0 ? sb_error_prefix(err, ".dockerignore") : 0;
}

int build_fetch_remote_sources(struct builder *b, struct registry_agent *agent, sb_error_t *err)
{
        int r = load_ignore(b, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < b->plan->n_stages; i++) {
                const struct build_stage *s = &b->plan->stages[i];
                if (!s->needed || s->implicit)
                        continue;
                r = fetch_stage(b, agent, s, err);
                if (r < 0)
                        return r;
        }
        return 0;
}
