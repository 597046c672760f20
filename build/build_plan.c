#include "build/build_plan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "build/shell_expand.h"
#include "common/sb_cleanup.h"
#include "common/sb_util.h"
#include "image/image_oci.h"

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
        if (before > 0 && sb_parse_u64(name, before - 1, &idx) == 0)
                return (long) idx;
        return -1;
}

void build_args_unset(char ***kv, const char *name)
{
        size_t n = strlen(name), out = 0;
        for (size_t i = 0; *kv && (*kv)[i]; i++) {
                if (strncmp((*kv)[i], name, n) == 0 && (*kv)[i][n] == '=')
                        free((*kv)[i]);
                else
                        (*kv)[out++] = (*kv)[i];
        }
        if (*kv)
                (*kv)[out] = NULL;
}

static void set_kv(char ***list, const char *name, const char *value)
{
        build_args_unset(list, name);
        sb_strv_push_take(list, sb_xasprintf("%s=%s", name, value));
}

/* --- platforms ------------------------------------------------------------------------ */

static void lower_copy(char *dst, size_t size, const char *src, size_t len)
{
        size_t i = 0;
        for (; i < len && i + 1 < size; i++)
                dst[i] = (char) ((src[i] >= 'A' && src[i] <= 'Z') ? src[i] - 'A' + 'a' : src[i]);
        dst[i] = '\0';
}

/* containerd's normalisation of architecture names and variants */
static void platform_normalise(struct build_platform *p)
{
        char *a = p->arch, *v = p->variant;
        if (strcmp(p->os, "macos") == 0)
                snprintf(p->os, sizeof(p->os), "darwin");
        if (strcmp(a, "i386") == 0) {
                snprintf(a, sizeof(p->arch), "386");
                v[0] = '\0';
        } else if (strcmp(a, "x86_64") == 0 || strcmp(a, "x86-64") == 0 ||
                   strcmp(a, "amd64") == 0) {
                snprintf(a, sizeof(p->arch), "amd64");
                if (strcmp(v, "v1") == 0)
                        v[0] = '\0';
        } else if (strcmp(a, "aarch64") == 0 || strcmp(a, "arm64") == 0) {
                snprintf(a, sizeof(p->arch), "arm64");
                if (strcmp(v, "8") == 0 || strcmp(v, "v8") == 0 || strcmp(v, "v8.0") == 0)
                        v[0] = '\0';
        } else if (strcmp(a, "armhf") == 0) {
                snprintf(a, sizeof(p->arch), "arm");
                snprintf(v, sizeof(p->variant), "v7");
        } else if (strcmp(a, "armel") == 0) {
                snprintf(a, sizeof(p->arch), "arm");
                snprintf(v, sizeof(p->variant), "v6");
        } else if (strcmp(a, "arm") == 0) {
                if (!v[0] || strcmp(v, "7") == 0)
                        snprintf(v, sizeof(p->variant), "v7");
                else if (strcmp(v, "5") == 0 || strcmp(v, "6") == 0 || strcmp(v, "8") == 0) {
                        char d = v[0];
                        snprintf(v, sizeof(p->variant), "v%c", d);
                }
        }
}

static bool platform_part_ok(const char *s, size_t len)
{
        if (len == 0 || len >= 32)
                return false;
        for (size_t i = 0; i < len; i++) {
                char c = s[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '-' || c == '.'))
                        return false;
        }
        return true;
}

int build_platform_parse(const char *text, struct build_platform *ret, sb_error_t *err)
{
        struct build_platform p = { 0 };
        const char *parts[3] = { 0 };
        size_t lens[3] = { 0 }, n = 0;
        for (const char *c = text;; n++) {
                const char *end = strchrnul(c, '/');
                if (n == 3 || !platform_part_ok(c, (size_t) (end - c)))
                        return sb_error_set(err, EINVAL,
                                            "'%s' is not a platform (os/arch[/variant])", text);
                parts[n] = c;
                lens[n] = (size_t) (end - c);
                if (!*end) {
                        n++;
                        break;
                }
                c = end + 1;
        }
        if (n < 2)
                return sb_error_set(err, EINVAL, "'%s' is not a platform (os/arch[/variant])",
                                    text);
        lower_copy(p.os, sizeof(p.os), parts[0], lens[0]);
        lower_copy(p.arch, sizeof(p.arch), parts[1], lens[1]);
        if (n == 3)
                lower_copy(p.variant, sizeof(p.variant), parts[2], lens[2]);
        platform_normalise(&p);
        *ret = p;
        return 0;
}

void build_platform_host(struct build_platform *ret)
{
        const char *os, *arch, *variant;
        image_host_platform(&os, &arch, &variant);
        memset(ret, 0, sizeof(*ret));
        snprintf(ret->os, sizeof(ret->os), "%s", os);
        snprintf(ret->arch, sizeof(ret->arch), "%s", arch);
        snprintf(ret->variant, sizeof(ret->variant), "%s", variant ? variant : "");
        platform_normalise(ret);
}

char *build_platform_format(const struct build_platform *p)
{
        if (p->variant[0])
                return sb_xasprintf("%s/%s/%s", p->os, p->arch, p->variant);
        return sb_xasprintf("%s/%s", p->os, p->arch);
}

void build_plan_set_config_platform(json_t *config, const struct build_platform *pl)
{
        json_object_set_new(config, "os", json_string(pl->os));
        json_object_set_new(config, "architecture", json_string(pl->arch));
        if (pl->variant[0])
                json_object_set_new(config, "variant", json_string(pl->variant));
        else
                json_object_del(config, "variant");
}

void build_plan_final_platform(const struct build_plan *p, json_t *config)
{
        if (!p->platform_explicit)
                return;
        const struct build_platform *t = &p->target_platform;
        const char *os = json_string_value(json_object_get(config, "os"));
        const char *arch = json_string_value(json_object_get(config, "architecture"));
        bool same = os && arch && strcmp(os, t->os) == 0 && strcmp(arch, t->arch) == 0;
        json_object_set_new(config, "os", json_string(t->os));
        json_object_set_new(config, "architecture", json_string(t->arch));
        if (t->variant[0])
                json_object_set_new(config, "variant", json_string(t->variant));
        else if (!same)
                json_object_del(config, "variant");
}

/* BuildKit's automatic platform ARGs, each overridable by a build arg of the same name. */
static void predefined_args(const struct build_plan *p, const char *target_stage,
                            char *const *build_args, char ***out)
{
        cleanup_free char *bp = build_platform_format(&p->build_platform);
        cleanup_free char *tp = build_platform_format(&p->target_platform);
        const char *kv[][2] = {
                { "BUILDPLATFORM", bp },
                { "BUILDOS", p->build_platform.os },
                { "BUILDOSVERSION", "" },
                { "BUILDARCH", p->build_platform.arch },
                { "BUILDVARIANT", p->build_platform.variant },
                { "TARGETPLATFORM", tp },
                { "TARGETOS", p->target_platform.os },
                { "TARGETOSVERSION", "" },
                { "TARGETARCH", p->target_platform.arch },
                { "TARGETVARIANT", p->target_platform.variant },
                { "TARGETSTAGE", target_stage ? target_stage : "" },
        };
        for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
                const char *given = build_args_lookup(build_args, kv[i][0]);
                set_kv(out, kv[i][0], given ? given : kv[i][1]);
        }
}

/* --- ARG inside a stage ----------------------------------------------------------------- */

char **build_plan_scope_env(char *const *config_env, char *const *args)
{
        char **out = sb_strv_copy(config_env);
        for (size_t i = 0; args && args[i]; i++) {
                const char *eq = strchr(args[i], '=');
                if (!eq)
                        continue;
                cleanup_free char *name = sb_xstrndup(args[i], (size_t) (eq - args[i]));
                set_kv(&out, name, eq + 1);
        }
        return out;
}

int build_plan_stage_arg(const struct build_plan *p, char *const *build_args,
                         const struct dockerfile_node *n, char *const *config_env, char ***args,
                         sb_error_t *err)
{
        for (size_t i = 0; n->args && n->args[i]; i++) {
                const char *word = n->args[i];
                const char *eq = strchr(word, '=');
                cleanup_free char *name = eq ? sb_xstrndup(word, (size_t) (eq - word))
                                             : sb_xstrdup(word);
                if (!*name)
                        return sb_error_set(err, EINVAL, "ARG needs a name");
                const char *given = build_args_lookup(build_args, name);
                const char *global = build_args_lookup(p->global_args, name);
                cleanup_free char *value = NULL;
                if (given) {
                        value = sb_xstrdup(given);
                } else if (eq) {
                        cleanup_strv char **env = build_plan_scope_env(config_env, *args);
                        int r = shell_expand_word(eq + 1, env, p->df ? p->df->escape : '\\',
                                                  &value, err);
                        if (r < 0)
                                return r;
                } else if (global) {
                        value = sb_xstrdup(global);
                }
                if (value)
                        set_kv(args, name, value);
        }
        return 0;
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
                        set_kv(global_args, name, given);
                } else if (eq) {
                        cleanup_free char *value = NULL;
                        int r = shell_expand_word(eq + 1, *global_args, '\\', &value, err);
                        if (r < 0)
                                return sb_error_prefix(err, "Dockerfile:%d: ARG", n->start_line);
                        set_kv(global_args, name, value);
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

static bool stage_name_ok(const char *name)
{
        if (!(name[0] >= 'a' && name[0] <= 'z'))
                return false;
        for (const char *c = name; *c; c++)
                if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' ||
                      *c == '_' || *c == '.'))
                        return false;
        return true;
}

/* FROM [--platform=P] image [AS name]: image and P expand with the global scope only. */
static int parse_from(struct build_plan *p, struct build_stage *s, sb_error_t *err)
{
        const struct dockerfile_node *n = s->from;
        size_t argc = sb_strv_len(n->args);
        if (argc != 1 && !(argc == 3 && strcasecmp(n->args[1], "as") == 0))
                return sb_error_set(err, EINVAL,
                                    "Dockerfile:%d: FROM needs 'image' or 'image AS name'",
                                    n->start_line);
        for (size_t i = 0; n->flags && n->flags[i]; i++)
                if (!sb_str_has_prefix(n->flags[i], "--platform="))
                        return sb_error_set(err, EINVAL, "Dockerfile:%d: FROM: unknown flag '%s'",
                                            n->start_line, n->flags[i]);
        int r = shell_expand_word(n->args[0], p->global_args, p->df->escape, &s->base, err);
        if (r < 0)
                return sb_error_prefix(err, "Dockerfile:%d: FROM", n->start_line);
        if (!*s->base)
                return sb_error_set(err, EINVAL, "Dockerfile:%d: FROM '%s' expands to nothing",
                                    n->start_line, n->args[0]);
        s->platform = p->target_platform;
        const char *pf = build_node_flag(n, "platform");
        if (pf) {
                cleanup_free char *text = NULL;
                r = shell_expand_word(pf, p->global_args, p->df->escape, &text, err);
                if (r < 0)
                        return sb_error_prefix(err, "Dockerfile:%d: FROM --platform",
                                               n->start_line);
                if (!*text)
                        return sb_error_set(err, EINVAL,
                                            "Dockerfile:%d: FROM --platform='%s' expands to "
                                            "nothing",
                                            n->start_line, pf);
                r = build_platform_parse(text, &s->platform, err);
                if (r < 0)
                        return sb_error_prefix(err, "Dockerfile:%d: FROM --platform",
                                               n->start_line);
                s->platform_given = true;
        }
        if (argc == 3) {
                s->name = sb_xstrdup(n->args[2]);
                for (char *c = s->name; *c; c++)
                        if (*c >= 'A' && *c <= 'Z')
                                *c = (char) (*c - 'A' + 'a');
                if (!stage_name_ok(s->name))
                        return sb_error_set(err, EINVAL,
                                            "Dockerfile:%d: invalid stage name '%s' (a letter, "
                                            "then letters, digits, '-', '_' or '.')",
                                            n->start_line, n->args[2]);
                for (size_t j = 0; j < s->index; j++)
                        if (p->stages[j].name && strcmp(p->stages[j].name, s->name) == 0)
                                return sb_error_set(err, EINVAL,
                                                    "Dockerfile:%d: duplicate stage name '%s'",
                                                    n->start_line, s->name);
        }
        if (strcasecmp(s->base, "scratch") == 0) {
                /* BuildKit gives scratch the target platform whatever --platform says */
                s->scratch = true;
                s->platform = p->target_platform;
                return 0;
        }
        /*
         * Only names of earlier stages count ("FROM 0" is an image called 0), and this stage's
         * own name is not yet one: `FROM alpine AS alpine` pulls alpine, and a later
         * `FROM alpine` then means that stage, as in BuildKit.
         */
        for (size_t j = 0; j < s->index; j++)
                if (p->stages[j].name && strcasecmp(p->stages[j].name, s->base) == 0)
                        s->base_stage = (long) j;
        if (s->base_stage >= 0)
                s->platform = p->stages[s->base_stage].platform;
        return 0;
}

/* The name TARGETSTAGE has: --target, else the last stage's AS name (may be empty). */
static const char *target_stage_name(const struct dockerfile *df, const char *target)
{
        if (target)
                return target;
        const char *name = "";
        for (size_t i = 0; i < df->n_nodes; i++) {
                const struct dockerfile_node *n = &df->nodes[i];
                if (strcmp(n->cmd, "from") == 0)
                        name = sb_strv_len(n->args) == 3 ? n->args[2] : "";
        }
        return name;
}

static bool all_digits(const char *s)
{
        if (!*s)
                return false;
        for (; *s; s++)
                if (*s < '0' || *s > '9')
                        return false;
        return true;
}

/* COPY/ADD --from: a stage (name or index, earlier than this one) or an image to pull. */
static int plan_copy_from(struct build_plan *p, size_t si, size_t n_real,
                          const struct dockerfile_node *n, sb_error_t *err)
{
        const char *from = build_node_flag(n, "from");
        if (!from)
                return 0;
        if (!*from)
                return sb_error_set(err, EINVAL, "Dockerfile:%d: empty --from", n->start_line);
        /* BuildKit does not expand --from: a word that would change is refused */
        cleanup_free char *plain = NULL;
        sb_error_t ignored = { 0 };
        if (shell_expand_word(from, NULL, p->df->escape, &plain, &ignored) < 0 ||
            strcmp(plain, from) != 0)
                return sb_error_set(err, EINVAL,
                                    "Dockerfile:%d: --from=%s: variable expansion is not "
                                    "supported for --from (use a stage whose FROM uses a "
                                    "global ARG)",
                                    n->start_line, from);
        long dep = build_plan_find_stage(p, from, n_real);
        if (dep < 0 && all_digits(from))
                return sb_error_set(err, EINVAL, "Dockerfile:%d: --from=%s: no stage with index %s",
                                    n->start_line, from, from);
        if (dep >= 0 && (size_t) dep >= si)
                return sb_error_set(err, EINVAL,
                                    "Dockerfile:%d: --from=%s refers to this stage or a later one",
                                    n->start_line, from);
        if (dep >= 0)
                return 0;
        for (size_t j = n_real; j < p->n_stages; j++)
                if (strcmp(p->stages[j].base, from) == 0)
                        return 0;
        struct build_stage *s = add_stage(p);
        s->implicit = true;
        s->base = sb_xstrdup(from);
        s->platform = p->target_platform;
        return 0;
}

int build_plan_make(const struct dockerfile *df, char *const *build_args, const char *target,
                    struct build_plan *ret, sb_error_t *err)
{
        return build_plan_make_for(df, build_args, target, NULL, ret, err);
}

int build_plan_make_for(const struct dockerfile *df, char *const *build_args, const char *target,
                        const char *platform, struct build_plan *ret, sb_error_t *err)
{
        struct build_plan p = { .df = df };
        int r = 0;
        size_t i = 0;
        build_platform_host(&p.build_platform);
        p.target_platform = p.build_platform;
        if (platform) {
                r = build_platform_parse(platform, &p.target_platform, err);
                if (r < 0) {
                        sb_error_prefix(err, "--custom-platform");
                        goto fail;
                }
                p.platform_explicit = true;
        }
        predefined_args(&p, target_stage_name(df, target), build_args, &p.global_args);
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
        for (size_t si = 0; si < n_real; si++) {
                for (size_t k = 0; k < p.stages[si].count; k++) {
                        const struct dockerfile_node *n = &df->nodes[p.stages[si].first + k];
                        if (strcmp(n->cmd, "copy") != 0 && strcmp(n->cmd, "add") != 0)
                                continue;
                        r = plan_copy_from(&p, si, n_real, n, err);
                        if (r < 0)
                                goto fail;
                }
        }
        if (target) {
                long t = -1;
                for (size_t j = 0; j < n_real; j++)
                        if (p.stages[j].name && strcasecmp(p.stages[j].name, target) == 0)
                                t = (long) j;
                if (t < 0) {
                        r = sb_error_set(err, EINVAL,
                                         "--target: no stage named '%s' in the Dockerfile",
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
