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
        json_t *c = json_pack("{s:s, s:s, s:{}, s:{s:s, s:[]}, s:[]}", "architecture", arch, "os",
                              os, "config", "rootfs", "type", "layers", "diff_ids", "history");
        if (variant && *variant)
                json_object_set_new(c, "variant", json_string(variant));
        return c;
}

static void state_copy(struct stage_state *dst, const struct stage_state *src)
{
        dst->config = json_deep_copy(src->config);
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
        if (s->scratch) {
                st->config = scratch_config();
                return 0;
        }
        if (s->base_stage >= 0) {
                state_copy(st, &b->states[s->base_stage]);
                return 0;
        }
        return from_image(b, idx, st, err);
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

static int run_stage(struct builder *b, size_t idx, sb_error_t *err)
{
        const struct build_stage *s = &b->plan->stages[idx];
        struct stage_state *st = &b->states[idx];
        st->shell = NULL;
        sb_strv_push(&st->shell, "/bin/sh");
        sb_strv_push(&st->shell, "-c");
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
        bool cmd_set = false;
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
                        snprintf(upper, sizeof(upper), "%s", n->cmd);
                        for (char *c = upper; *c; c++)
                                if (*c >= 'a' && *c <= 'z')
                                        *c = (char) (*c - 'a' + 'A');
                        return sb_error_prefix(err, "Dockerfile:%d: %s", n->start_line, upper);
                }
                progress(b, n, t0);
        }
        st->built = true;
        return 0;
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
        cleanup_free char *data = json_dumps(st->config, JSON_COMPACT | JSON_SORT_KEYS);
        if (!data)
                return sb_error_set(err, ENOMEM, "serialise the image config");
        struct image_descriptor config = { 0 };
        snprintf(config.media_type, sizeof(config.media_type), "%s", IMAGE_MT_OCI_CONFIG);
        int r = image_store_put_blob(b->store, data, strlen(data), config.digest, err);
        if (r < 0)
                return r;
        config.size = strlen(data);
        uint64_t size = 0;
        r = image_manifest_write(b->store, &config, st->layers, st->n_layers,
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
        uint64_t store_fd = 0;
        (void) sb_parse_u64(b->store_path + strlen("/proc/self/fd/"), INT32_MAX, &store_fd);
        int keep[] = { b->context_fd, b->result_fd, (int) store_fd };
        close_other_fds(keep, 3);
        int r = image_store_open(b->store_path, &b->store, &err);
        if (r >= 0)
                r = image_store_mkdtemp(b->store, "empty-", &b->empty_dir, &err);
        if (r >= 0)
                (void) chmod(b->empty_dir, 0755);
        b->states = sb_xcalloc(b->plan->n_stages, sizeof(*b->states));
        for (size_t i = 0; r >= 0 && i < b->plan->n_stages; i++) {
                if (!b->plan->stages[i].needed)
                        continue;
                r = run_stage(b, i, &err);
        }
        if (r >= 0)
                r = finish_image(b, &b->states[b->plan->target], &res, &err);
        send_result(b->result_fd, &res, &err, r);
        if (b->empty_dir)
                (void) rmdir(b->empty_dir);
        return r < 0 ? 1 : 0;
}
