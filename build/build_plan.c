#include "build/build_plan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "build/shell_expand.h"
#include "common/sb_cleanup.h"
#include "common/sb_util.h"

const char *build_args_lookup(char *const *kv, const char *name)
{
        size_t n = strlen(name);
        const char *found = NULL;
        for (size_t i = 0; kv && kv[i]; i++)
                if (strncmp(kv[i], name, n) == 0 && kv[i][n] == '=')
                        found = kv[i] + n + 1; /* the last one wins, as with repeated flags */
        return found;
}

const char *build_node_flag(const struct dockerfile_node *n, const char *name)
{
        size_t len = strlen(name);
        for (size_t i = 0; n->flags && n->flags[i]; i++) {
                const char *f = n->flags[i];
                if (strncmp(f, "--", 2) == 0 && strncmp(f + 2, name, len) == 0 &&
                    f[2 + len] == '=')
                        return f + 3 + len;
        }
        return NULL;
}

long build_plan_find_stage(const struct build_plan *p, const char *name, size_t before)
{
        for (size_t i = 0; i < before && i < p->n_stages; i++)
                if (p->stages[i].name && strcasecmp(p->stages[i].name, name) == 0)
                        return (long) i;
        uint64_t idx;
        if (sb_parse_u64(name, before ? before - 1 : 0, &idx) == 0 && before > 0)
                return (long) idx;
        return -1;
}

static void set_arg(char ***kv, const char *name, const char *value)
{
        sb_strv_push_take(kv, sb_xasprintf("%s=%s", name, value));
}

/* ARG name[=default]: the build arg wins over the default. */
static int declare_meta_arg(const struct dockerfile_node *n, char *const *build_args,
                            char ***global_args, char ***decl, sb_error_t *err)
{
        for (size_t i = 0; n->args[i]; i++) {
                const char *word = n->args[i];
                const char *eq = strchr(word, '=');
                cleanup_free char *name = eq ? sb_xstrndup(word, (size_t) (eq - word))
                                             : sb_xstrdup(word);
                sb_strv_push(decl, name);
                const char *given = build_args_lookup(build_args, name);
                if (given) {
                        set_arg(global_args, name, given);
                } else if (eq) {
                        cleanup_free char *value = NULL;
                        int r = shell_expand_word(eq + 1, *global_args, '\\', &value, err);
                        if (r < 0)
                                return sb_error_prefix(err, "Dockerfile:%d: ARG", n->start_line);
                        set_arg(global_args, name, value);
                }
        }
        return 0;
}

static void mark_needed(struct build_plan *p, size_t i)
{
        struct build_stage *s = &p->stages[i];
        if (s->needed)
                return;
        s->needed = true;
        if (s->base_stage >= 0)
                mark_needed(p, (size_t) s->base_stage);
        for (size_t k = 0; k < s->count; k++) {
                const struct dockerfile_node *n = &p->df->nodes[s->first + k];
                if (strcmp(n->cmd, "copy") != 0 && strcmp(n->cmd, "add") != 0)
                        continue;
                const char *from = build_node_flag(n, "from");
                if (!from)
                        continue;
                long dep = build_plan_find_stage(p, from, i);
                if (dep < 0) { /* an image: find the implicit stage made for it */
                        for (size_t j = 0; j < p->n_stages; j++)
                                if (p->stages[j].implicit && strcmp(p->stages[j].base, from) == 0)
                                        dep = (long) j;
                }
                if (dep >= 0)
                        mark_needed(p, (size_t) dep);
        }
}

static struct build_stage *add_stage(struct build_plan *p)
{
        p->stages = sb_xrealloc(p->stages, (p->n_stages + 1) * sizeof(*p->stages));
        struct build_stage *s = &p->stages[p->n_stages];
        memset(s, 0, sizeof(*s));
        s->index = p->n_stages++;
        s->base_stage = -1;
        return s;
}

static int parse_from(struct build_plan *p, struct build_stage *s, sb_error_t *err)
{
        const struct dockerfile_node *n = s->from;
        size_t argc = sb_strv_len(n->args);
        if (argc != 1 && !(argc == 3 && strcasecmp(n->args[1], "as") == 0))
                return sb_error_set(err, EINVAL,
                                    "Dockerfile:%d: FROM needs 'image' or 'image AS name'",
                                    n->start_line);
        int r = shell_expand_word(n->args[0], p->global_args, p->df->escape, &s->base, err);
        if (r < 0)
                return sb_error_prefix(err, "Dockerfile:%d: FROM", n->start_line);
        if (!*s->base)
                return sb_error_set(err, EINVAL, "Dockerfile:%d: FROM '%s' expands to nothing",
                                    n->start_line, n->args[0]);
        if (argc == 3) {
                s->name = sb_xstrdup(n->args[2]);
                for (char *c = s->name; *c; c++)
                        if (*c >= 'A' && *c <= 'Z')
                                *c = (char) (*c - 'A' + 'a');
                if (build_plan_find_stage(p, s->name, s->index) >= 0 &&
                    p->stages[build_plan_find_stage(p, s->name, s->index)].name)
                        return sb_error_set(err, EINVAL, "Dockerfile:%d: duplicate stage name '%s'",
                                            n->start_line, s->name);
        }
        if (strcasecmp(s->base, "scratch") == 0) {
                s->scratch = true;
                return 0;
        }
        /* only names count here: "FROM 0" is an image called 0, as in docker */
        for (size_t j = 0; j < s->index; j++)
                if (p->stages[j].name && strcasecmp(p->stages[j].name, s->base) == 0)
                        s->base_stage = (long) j;
        return 0;
}

int build_plan_make(const struct dockerfile *df, char *const *build_args, const char *target,
                    struct build_plan *ret, sb_error_t *err)
{
        struct build_plan p = { .df = df };
        int r = 0;
        size_t i = 0;
        for (; i < df->n_nodes && strcmp(df->nodes[i].cmd, "from") != 0; i++) {
                const struct dockerfile_node *n = &df->nodes[i];
                if (strcmp(n->cmd, "arg") != 0) {
                        r = sb_error_set(err, EINVAL,
                                         "Dockerfile:%d: %s before the first FROM (only ARG may "
                                         "come before FROM)",
                                         n->start_line, n->cmd);
                        goto fail;
                }
                r = declare_meta_arg(n, build_args, &p.global_args, &p.meta_args_decl, err);
                if (r < 0)
                        goto fail;
        }
        if (i == df->n_nodes) {
                r = sb_error_set(err, EINVAL, "Dockerfile: no FROM instruction");
                goto fail;
        }
        while (i < df->n_nodes) {
                struct build_stage *s = add_stage(&p);
                s->from = &df->nodes[i];
                s->first = ++i;
                while (i < df->n_nodes && strcmp(df->nodes[i].cmd, "from") != 0)
                        i++;
                s->count = i - s->first;
                r = parse_from(&p, s, err);
                if (r < 0)
                        goto fail;
        }
        size_t n_real = p.n_stages;
        /* COPY --from=<image>: an implicit stage that is only pulled */
        for (size_t si = 0; si < n_real; si++) {
                for (size_t k = 0; k < p.stages[si].count; k++) {
                        const struct dockerfile_node *n = &df->nodes[p.stages[si].first + k];
                        if (strcmp(n->cmd, "copy") != 0 && strcmp(n->cmd, "add") != 0)
                                continue;
                        const char *from = build_node_flag(n, "from");
                        if (!from)
                                continue;
                        if (!*from) {
                                r = sb_error_set(err, EINVAL, "Dockerfile:%d: empty --from",
                                                 n->start_line);
                                goto fail;
                        }
                        long dep = build_plan_find_stage(&p, from, n_real);
                        if (dep >= 0 && (size_t) dep >= si) {
                                r = sb_error_set(err, EINVAL,
                                                 "Dockerfile:%d: --from=%s refers to this stage or a "
                                                 "later one",
                                                 n->start_line, from);
                                goto fail;
                        }
                        if (dep >= 0)
                                continue;
                        bool have = false;
                        for (size_t j = n_real; j < p.n_stages; j++)
                                have |= strcmp(p.stages[j].base, from) == 0;
                        if (!have) {
                                struct build_stage *s = add_stage(&p);
                                s->implicit = true;
                                s->base = sb_xstrdup(from);
                        }
                }
        }
        if (target) {
                long t = -1;
                for (size_t j = 0; j < n_real; j++)
                        if (p.stages[j].name && strcasecmp(p.stages[j].name, target) == 0)
                                t = (long) j;
                if (t < 0) {
                        r = sb_error_set(err, EINVAL, "--target: no stage named '%s' in the Dockerfile",
                                         target);
                        goto fail;
                }
                p.target = (size_t) t;
        } else {
                p.target = n_real - 1;
        }
        mark_needed(&p, p.target);
        for (size_t j = 0; j < n_real; j++)
                if (p.stages[j].needed)
                        p.total_steps += 1 + p.stages[j].count;
        *ret = p;
        return 0;
fail:
        build_plan_done(&p);
        return r;
}

void build_plan_done(struct build_plan *p)
{
        for (size_t i = 0; i < p->n_stages; i++) {
                free(p->stages[i].name);
                free(p->stages[i].base);
        }
        free(p->stages);
        sb_strv_free(p->global_args);
        sb_strv_free(p->meta_args_decl);
        memset(p, 0, sizeof(*p));
}
