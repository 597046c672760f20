/* The builder: runs inside the user namespace and executes each needed stage's instructions. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/close_range.h>

#include "build/build_copy.h"
#include "build/build_fs.h"
#include "build/build_internal.h"
#include "build/build_user.h"
#include "build/shell_expand.h"
#include "common/sb_cleanup.h"
#include "common/sb_log.h"
#include "common/sb_util.h"
#include "image/image_layer.h"
#include "sandbox/sandbox_step.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static void progress(struct builder *b, const struct dockerfile_node *n, double started)
{
        char text[96];
        const char *o = n->original ? n->original : n->cmd;
        size_t len = strcspn(o, "\n");
        if (len > 80)
                snprintf(text, sizeof(text), "%.77s...", o);
        else
                snprintf(text, sizeof(text), "%.*s", (int) len, o);
        fprintf(stderr, "[%zu/%zu] %s  %.1fs\n", b->step, b->plan->total_steps, text,
                sb_now() - started);
}

/* --- FROM ------------------------------------------------------------------------------- */

static json_t *scratch_config(void)
{
        const char *os, *arch, *variant;
        image_host_platform(&os, &arch, &variant);
        /* BuildKit's empty image: PATH set and WorkingDir "/" */
        json_t *c = json_pack("{s:s, s:s, s:{s:[s], s:s}, s:{s:s, s:[]}, s:[]}", "architecture",
                              arch, "os", os, "config", "Env", "PATH=" DEFAULT_PATH, "WorkingDir",
                              "/", "rootfs", "type", "layers", "diff_ids", "history");
        if (variant && *variant)
                json_object_set_new(c, "variant", json_string(variant));
        return c;
}

static void state_copy(struct stage_state *dst, const struct stage_state *src)
{
        dst->config = json_deep_copy(src->config);
        /* BuildKit: a stage FROM a stage inherits its ARG values with the rest of its state */
        dst->args = sb_strv_copy(src->args);
        dst->diff_ids = sb_strv_copy(src->diff_ids);
        dst->n_layers = src->n_layers;
        dst->layers = sb_xcalloc(src->n_layers + 1, sizeof(*dst->layers));
        memcpy(dst->layers, src->layers, src->n_layers * sizeof(*dst->layers));
}

static int from_image(struct builder *b, size_t idx, struct stage_state *st, sb_error_t *err)
{
        const struct registry_pulled *p = &b->pulled[idx];
        cleanup_free char *data = NULL;
        size_t len = 0;
        int r = image_store_read_blob(b->store, p->config.digest, IMAGE_CONFIG_MAX, &data, &len,
                                      err);
        if (r < 0)
                return sb_error_prefix(err, "image '%s': config", p->resolved);
        json_error_t jerr;
        st->config = json_loadb(data, len, 0, &jerr);
        if (!json_is_object(st->config))
                return sb_error_set(err, EBADMSG, "image '%s': config is not valid JSON: %s",
                                    p->resolved, jerr.text);
        json_t *ids = json_object_get(json_object_get(st->config, "rootfs"), "diff_ids");
        if (!json_is_array(ids) || json_array_size(ids) != p->n_layers)
                return sb_error_set(err, EBADMSG,
                                    "image '%s': config lists %zu diff_ids for %zu layers",
                                    p->resolved, json_is_array(ids) ? json_array_size(ids) : 0,
                                    p->n_layers);
        st->layers = sb_xcalloc(p->n_layers + 1, sizeof(*st->layers));
        for (size_t i = 0; i < p->n_layers; i++) {
                const char *want = json_string_value(json_array_get(ids, i));
                if (!want || !sb_digest_valid(want))
                        return sb_error_set(err, EBADMSG, "image '%s': bad diff_id %zu",
                                            p->resolved, i);
                char got[SB_DIGEST_STR_LEN + 1];
                r = image_layer_extract(b->store, p->layers[i].digest, want, got, err);
                if (r < 0)
                        return sb_error_prefix(err, "image '%s': layer %s", p->resolved,
                                               p->layers[i].digest);
                sb_strv_push(&st->diff_ids, got);
                st->layers[i] = p->layers[i];
                /* docker's gzip layer is the same bytes as OCI's: name it the OCI way */
                if (strcmp(st->layers[i].media_type, IMAGE_MT_DOCKER_LAYER) == 0)
                        snprintf(st->layers[i].media_type, sizeof(st->layers[i].media_type),
                                 "%s", IMAGE_MT_OCI_LAYER_GZIP);
        }
        st->n_layers = p->n_layers;
        return 0;
}

static int run_from(struct builder *b, size_t idx, sb_error_t *err)
{
        const struct build_stage *s = &b->plan->stages[idx];
        struct stage_state *st = &b->states[idx];
        int r = 0;
        if (s->scratch) {
                st->config = scratch_config();
                build_plan_set_config_platform(st->config, &b->plan->target_platform);
        }
        else if (s->base_stage >= 0)
                state_copy(st, &b->states[s->base_stage]);
        else
                r = from_image(b, idx, st, err);
        if (r < 0)
                return r;
        /* as BuildKit does: every stage's config has a PATH */
        cleanup_strv char **env = build_cfg_env(st);
        if (!build_env_has(env, "PATH")) {
                sb_strv_push(&env, "PATH=" DEFAULT_PATH);
                json_object_set_new(build_cfg(st), "Env", build_strv_to_json(env));
        }
        return 0;
}

/* The stage's shell: the config's Shell (SHELL here or in the base), else /bin/sh -c. */
static void init_shell(struct stage_state *st)
{
        sb_strv_free(st->shell);
        st->shell = NULL;
        json_t *sh = json_object_get(build_cfg(st), "Shell");
        size_t i;
        json_t *v;
        json_array_foreach(sh, i, v) if (json_is_string(v)) sb_strv_push(&st->shell,
                                                                          json_string_value(v));
        if (!st->shell) {
                sb_strv_push(&st->shell, "/bin/sh");
                sb_strv_push(&st->shell, "-c");
        }
}

static int run_node(struct builder *b, size_t idx, struct stage_state *st,
                    const struct dockerfile_node *n, bool *cmd_set, sb_error_t *err)
{
        const char *cmd = n->cmd;
        if (strcmp(cmd, "run") == 0)
                return build_step_run(b, st, n, err);
        if (strcmp(cmd, "copy") == 0 || strcmp(cmd, "add") == 0)
                return build_step_copy(b, idx, st, n, err);
        if (strcmp(cmd, "workdir") == 0)
                return build_step_workdir(b, st, n, err);
        if (strcmp(cmd, "arg") == 0)
                return build_step_arg(b, st, n, err);
        return build_step_meta(b, st, n, cmd_set, err);
}

static void upper_name(char *out, size_t size, const char *cmd)
{
        snprintf(out, size, "%s", cmd);
        for (char *c = out; *c; c++)
                if (*c >= 'a' && *c <= 'z')
                        *c = (char) (*c - 'a' + 'A');
}

/*
 * ONBUILD: the base's triggers (an image's config OnBuild, or an earlier stage's ONBUILD
 * instructions, which its config holds) run right after FROM, before the stage's own
 * instructions, as BuildKit does. The new image does not inherit them.
 */
static int run_triggers(struct builder *b, size_t idx, struct stage_state *st, bool *cmd_set,
                        sb_error_t *err)
{
        const struct build_stage *s = &b->plan->stages[idx];
        json_t *c = build_cfg(st);
        json_t *ob = json_incref(json_object_get(c, "OnBuild"));
        json_object_del(c, "OnBuild");
        int r = 0;
        size_t i;
        json_t *v;
        json_array_foreach(ob, i, v) {
                const char *text = json_string_value(v);
                if (!text)
                        continue;
                struct dockerfile *df = NULL;
                double t0 = sb_now();
                r = dockerfile_parse(text, strlen(text), &df, err);
                if (r >= 0 && df->n_nodes != 1)
                        r = sb_error_set(err, EINVAL,
                                         "onbuild trigger should be a single expression");
                const struct dockerfile_node *n = r >= 0 ? &df->nodes[0] : NULL;
                if (n && strcmp(n->cmd, "from") == 0)
                        r = sb_error_set(err, EINVAL, "FROM isn't allowed as an ONBUILD trigger");
                if (r >= 0) {
                        fprintf(stderr, "[%zu/%zu] ONBUILD %.*s\n", b->step,
                                b->plan->total_steps, (int) strcspn(text, "\n"), text);
                        r = run_node(b, idx, st, n, cmd_set, err);
                }
                if (r >= 0)
                        fprintf(stderr, "[%zu/%zu] ONBUILD %.*s  %.1fs\n", b->step,
                                b->plan->total_steps, (int) strcspn(text, "\n"), text,
                                sb_now() - t0);
                dockerfile_free(df);
                if (r < 0) {
                        r = sb_error_prefix(err, "Dockerfile:%d: ONBUILD trigger '%.*s' of %s",
                                            s->from->start_line, (int) strcspn(text, "\n"),
                                            text, s->base);
                        break;
                }
        }
        json_decref(ob);
        return r;
}


static int run_stage(struct builder *b, size_t idx, sb_error_t *err)
{
        const struct build_stage *s = &b->plan->stages[idx];
        struct stage_state *st = &b->states[idx];
        st->shell = NULL;
        if (s->implicit) {
                int r = from_image(b, idx, st, err);
                if (r < 0)
                        return r;
                st->built = true;
                return 0;
        }
        double t0 = sb_now();
        b->step++;
        int r = run_from(b, idx, err);
        if (r < 0)
                return sb_error_prefix(err, "Dockerfile:%d: FROM %s", s->from->start_line,
                                       s->base);
        progress(b, s->from, t0);
        init_shell(st);
        bool cmd_set = false;
        r = run_triggers(b, idx, st, &cmd_set, err);
        if (r < 0)
                return r;
        for (size_t k = 0; k < s->count; k++) {
                const struct dockerfile_node *n = &b->df->nodes[s->first + k];
                b->step++;
                t0 = sb_now();
                if (strcmp(n->cmd, "run") == 0) {
                        /* show what runs before its output */
                        fprintf(stderr, "[%zu/%zu] %.*s\n", b->step, b->plan->total_steps,
                                (int) strcspn(n->original ? n->original : "run", "\n"),
                                n->original ? n->original : "run");
                }
                r = run_node(b, idx, st, n, &cmd_set, err);
                if (r < 0) {
                        char upper[32];
                        upper_name(upper, sizeof(upper), n->cmd);
                        return sb_error_prefix(err, "Dockerfile:%d: %s", n->start_line, upper);
                }
                progress(b, n, t0);
        }
        st->built = true;
        return 0;
}

/* Drop a key whose value Go's omitempty would leave out (empty, zero or false). */
static void omit_empty(json_t *o, const char *key)
{
        json_t *v = json_object_get(o, key);
        if (!v)
                return;
        if (json_is_null(v) || json_is_false(v) || (json_is_string(v) && !json_string_length(v)) ||
            (json_is_array(v) && !json_array_size(v)) ||
            (json_is_object(v) && !json_object_size(v)) ||
            (json_is_integer(v) && !json_integer_value(v)))
                json_object_del(o, key);
}

static void keep_only(json_t *o, const char *const *keys)
{
        const char *k;
        json_t *v;
        void *tmp;
        json_object_foreach_safe(o, tmp, k, v) {
                bool known = false;
                for (size_t i = 0; keys[i]; i++)
                        known |= strcmp(k, keys[i]) == 0;
                if (!known)
                        json_object_del(o, k);
                else
                        omit_empty(o, k);
        }
}

/*
 * The config document as BuildKit writes it: the OCI image fields plus Docker's Healthcheck,
 * OnBuild and Shell, empty fields left out, and nothing else a base image carried (docker's
 * container_config, Hostname, Image...). History entries of this build carry BuildKit's
 * Dockerfile comment.
 */
static void normalize_config(json_t *img)
{
        static const char *const top[] = { "created", "author", "architecture", "os",
                                           "os.version", "os.features", "variant", "config",
                                           "rootfs", "history", NULL };
        static const char *const cfg[] = { "User", "ExposedPorts", "Env", "Entrypoint", "Cmd",
                                           "Volumes", "WorkingDir", "Labels", "StopSignal",
                                           "ArgsEscaped", "Healthcheck", "OnBuild", "Shell",
                                           NULL };
        static const char *const health[] = { "Test", "Interval", "Timeout", "StartPeriod",
                                              "StartInterval", "Retries", NULL };
        json_t *c = json_object_get(img, "config");
        if (!json_is_object(c))
                json_object_set_new(img, "config", json_object());
        else {
                keep_only(c, cfg);
                if (json_is_object(json_object_get(c, "Healthcheck")))
                        keep_only(json_object_get(c, "Healthcheck"), health);
        }
        keep_only(img, top);
        if (!json_object_get(img, "config"))
                json_object_set_new(img, "config", json_object());
}

static int finish_image(struct builder *b, struct stage_state *st, struct build_result *res,
                        sb_error_t *err)
{
        json_t *c = build_cfg(st);
        for (size_t i = 0; b->opts->labels && b->opts->labels[i]; i++) {
                const char *kv = b->opts->labels[i];
                cleanup_free char *key = sb_xstrndup(kv, strcspn(kv, "="));
                json_t *labels = json_object_get(c, "Labels");
                if (!json_is_object(labels)) {
                        labels = json_object();
                        json_object_set_new(c, "Labels", labels);
                }
                json_object_set_new(labels, key, json_string(kv + strlen(key) + 1));
        }
        image_format_t format;
        int r = image_format_parse(b->opts->image_format, &format, err);
        if (r < 0)
                return sb_error_prefix(err, "--image-format");
        build_plan_final_platform(b->plan, st->config);
        normalize_config(st->config);
        cleanup_free char *data = json_dumps(st->config, JSON_COMPACT | JSON_SORT_KEYS);
        if (!data)
                return sb_error_set(err, ENOMEM, "serialise the image config");
        struct image_descriptor config = { 0 };
        /* the same config document in both formats, Healthcheck/Shell/OnBuild included */
        snprintf(config.media_type, sizeof(config.media_type), "%s",
                 format == IMAGE_FORMAT_DOCKER ? IMAGE_MT_DOCKER_CONFIG : IMAGE_MT_OCI_CONFIG);
        r = image_store_put_blob(b->store, data, strlen(data), config.digest, err);
        if (r < 0)
                return r;
        config.size = strlen(data);
        uint64_t size = 0;
        r = image_manifest_write_format(b->store, format, &config, st->layers, st->n_layers,
                                        res->manifest_digest, &size, err);
        if (r < 0)
                return r;
        memcpy(res->config_digest, config.digest, sizeof(res->config_digest));
        return 0;
}

static void send_result(int fd, const struct build_result *res, const sb_error_t *err, int r)
{
        json_t *msg = r < 0 ? json_pack("{s:s, s:i}", "error", err->msg, "code", -r)
                            : json_pack("{s:s, s:s}", "manifest", res->manifest_digest,
                                        "config", res->config_digest);
        char *text = json_dumps(msg, JSON_COMPACT);
        if (text)
                (void) sb_write_all(fd, text, strlen(text));
        free(text);
        json_decref(msg);
}

static int cmp_int(const void *a, const void *b)
{
        return *(const int *) a - *(const int *) b;
}

/* The builder inherits the supervisor's fds (the agent's socket among them): keep only ours. */
static void close_other_fds(int *keep, size_t n)
{
        qsort(keep, n, sizeof(int), cmp_int);
        unsigned from = 3;
        for (size_t i = 0; i < n; i++) {
                if (keep[i] < 3)
                        continue;
                if ((unsigned) keep[i] > from)
                        close_range(from, (unsigned) keep[i] - 1, 0);
                from = (unsigned) keep[i] + 1;
        }
        close_range(from, ~0U, 0);
}

int build_builder_main(void *arg)
{
        struct builder *b = arg;
        sb_error_t err = { 0 };
        struct build_result res = { 0 };
        int keep[] = { b->context_fd, b->result_fd };
        close_other_fds(keep, 2);
        int r = image_store_open(b->store_path, &b->store, &err);
        if (r >= 0)
                r = image_store_mkdtemp(b->store, "empty-", &b->empty_dir, &err);
        if (r >= 0)
                (void) chmod(b->empty_dir, 0755);
        b->states = sb_xcalloc(b->plan->n_stages, sizeof(*b->states));
        /* images named only by COPY --from come first: stages may use them in any order */
        for (int pass = 0; pass < 2; pass++) {
                for (size_t i = 0; r >= 0 && i < b->plan->n_stages; i++) {
                        const struct build_stage *s = &b->plan->stages[i];
                        if (s->needed && s->implicit == (pass == 0))
                                r = run_stage(b, i, &err);
                }
        }
        if (r >= 0)
                r = finish_image(b, &b->states[b->plan->target], &res, &err);
        send_result(b->result_fd, &res, &err, r);
        if (b->empty_dir)
                (void) rmdir(b->empty_dir);
        return r < 0 ? 1 : 0;
}
