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

static json_t *cfg_obj(struct stage_state *st)
{
        json_t *c = json_object_get(st->config, "config");
        if (!json_is_object(c)) {
                c = json_object();
                json_object_set_new(st->config, "config", c);
        }
        return c;
}

static char **cfg_env(struct stage_state *st)
{
        char **env = NULL;
        json_t *arr = json_object_get(cfg_obj(st), "Env");
        size_t i;
        json_t *v;
        json_array_foreach(arr, i, v) if (json_is_string(v)) sb_strv_push(&env, json_string_value(v));
        return env;
}

static bool env_has(char *const *env, const char *name)
{
        return build_args_lookup(env, name) != NULL;
}

/* The variables an instruction's words expand with: ARGs, overridden by ENV. */
static char **expansion_env(struct stage_state *st)
{
        cleanup_strv char **env = cfg_env(st);
        char **out = NULL;
        for (size_t i = 0; st->args && st->args[i]; i++) {
                cleanup_free char *name = sb_xstrndup(st->args[i], strcspn(st->args[i], "="));
                if (!env_has(env, name))
                        sb_strv_push(&out, st->args[i]);
        }
        for (size_t i = 0; env && env[i]; i++)
                sb_strv_push(&out, env[i]);
        return out;
}

static void env_set(char ***list, const char *name, const char *value)
{
        size_t n = strlen(name);
        for (size_t i = 0; *list && (*list)[i]; i++) {
                if (strncmp((*list)[i], name, n) == 0 && (*list)[i][n] == '=') {
                        free((*list)[i]);
                        (*list)[i] = sb_xasprintf("%s=%s", name, value);
                        return;
                }
        }
        sb_strv_push_take(list, sb_xasprintf("%s=%s", name, value));
}

static json_t *strv_to_json(char *const *v)
{
        json_t *a = json_array();
        for (size_t i = 0; v && v[i]; i++)
                json_array_append_new(a, json_string(v[i]));
        return a;
}

static int expand(struct builder *b, struct stage_state *st, const char *word, char **ret,
                  sb_error_t *err)
{
        cleanup_strv char **env = expansion_env(st);
        return shell_expand_word(word, env, b->df->escape, ret, err);
}

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

/* --- metadata instructions ------------------------------------------------------------ */

static int run_arg(struct builder *b, struct stage_state *st, const struct dockerfile_node *n,
                   sb_error_t *err)
{
        for (size_t i = 0; n->args[i]; i++) {
                const char *word = n->args[i];
                const char *eq = strchr(word, '=');
                cleanup_free char *name = eq ? sb_xstrndup(word, (size_t) (eq - word))
                                             : sb_xstrdup(word);
                const char *given = build_args_lookup(b->opts->build_args, name);
                const char *global = build_args_lookup(b->plan->global_args, name);
                cleanup_free char *value = NULL;
                if (given)
                        value = sb_xstrdup(given);
                else if (eq) {
                        int r = expand(b, st, eq + 1, &value, err);
                        if (r < 0)
                                return r;
                } else if (global)
                        value = sb_xstrdup(global);
                if (value)
                        env_set(&st->args, name, value);
        }
        return 0;
}

static int run_env_or_label(struct builder *b, struct stage_state *st,
                            const struct dockerfile_node *n, bool label, sb_error_t *err)
{
        size_t argc = sb_strv_len(n->args);
        if (argc == 0 || argc % 3 != 0)
                return sb_error_set(err, EINVAL, "%s needs key=value pairs",
                                    label ? "LABEL" : "ENV");
        json_t *c = cfg_obj(st);
        for (size_t i = 0; i + 2 < argc + 1 && n->args[i]; i += 3) {
                cleanup_free char *key = NULL, *value = NULL;
                int r = expand(b, st, n->args[i], &key, err);
                if (r >= 0)
                        r = expand(b, st, n->args[i + 1], &value, err);
                if (r < 0)
                        return r;
                if (!*key)
                        return sb_error_set(err, EINVAL, "empty key");
                if (label) {
                        json_t *labels = json_object_get(c, "Labels");
                        if (!json_is_object(labels)) {
                                labels = json_object();
                                json_object_set_new(c, "Labels", labels);
                        }
                        json_object_set_new(labels, key, json_string(value));
                } else {
                        char **env = cfg_env(st);
                        env_set(&env, key, value);
                        json_object_set_new(c, "Env", strv_to_json(env));
                        sb_strv_free(env);
                }
        }
        return 0;
}

static int command_json(struct builder *b, struct stage_state *st,
                        const struct dockerfile_node *n, json_t **ret, sb_error_t *err)
{
        (void) b;
        if (n->json) {
                *ret = strv_to_json(n->args);
                return 0;
        }
        if (!n->args[0])
                return sb_error_set(err, EINVAL, "missing command");
        json_t *a = strv_to_json(st->shell);
        json_array_append_new(a, json_string(n->args[0]));
        *ret = a;
        return 0;
}

static int run_workdir_dir(struct builder *b, struct stage_state *st, const char *dir,
                           const char *created_by, sb_error_t *err);

static int run_meta(struct builder *b, struct stage_state *st, const struct dockerfile_node *n,
                    bool *cmd_set, sb_error_t *err)
{
        json_t *c = cfg_obj(st);
        const char *cmd = n->cmd;
        int r = 0;
        if (strcmp(cmd, "env") == 0 || strcmp(cmd, "label") == 0) {
                r = run_env_or_label(b, st, n, strcmp(cmd, "label") == 0, err);
        } else if (strcmp(cmd, "cmd") == 0 || strcmp(cmd, "entrypoint") == 0) {
                json_t *v = NULL;
                r = command_json(b, st, n, &v, err);
                if (r < 0)
                        return r;
                if (strcmp(cmd, "cmd") == 0) {
                        json_object_set_new(c, "Cmd", v);
                        *cmd_set = true;
                } else {
                        json_object_set_new(c, "Entrypoint", v);
                        /* docker: an ENTRYPOINT resets a CMD inherited from the base */
                        if (!*cmd_set)
                                json_object_del(c, "Cmd");
                }
        } else if (strcmp(cmd, "user") == 0) {
                cleanup_free char *user = NULL;
                if (!n->args[0])
                        return sb_error_set(err, EINVAL, "USER needs a user");
                r = expand(b, st, n->args[0], &user, err);
                if (r >= 0)
                        json_object_set_new(c, "User", json_string(user));
        } else if (strcmp(cmd, "expose") == 0) {
                json_t *ports = json_object_get(c, "ExposedPorts");
                if (!json_is_object(ports)) {
                        ports = json_object();
                        json_object_set_new(c, "ExposedPorts", ports);
                }
                for (size_t i = 0; n->args[i]; i++) {
                        cleanup_free char *p = NULL;
                        r = expand(b, st, n->args[i], &p, err);
                        if (r < 0)
                                return r;
                        cleanup_free char *key = strchr(p, '/') ? sb_xstrdup(p)
                                                                : sb_xasprintf("%s/tcp", p);
                        uint64_t port;
                        cleanup_free char *num = sb_xstrndup(key, strcspn(key, "/-"));
                        if (sb_parse_u64(num, 65535, &port) < 0)
                                return sb_error_set(err, EINVAL, "EXPOSE: '%s' is not a port", p);
                        json_object_set_new(ports, key, json_object());
                }
        } else if (strcmp(cmd, "shell") == 0) {
                if (!n->json || !n->args[0])
                        return sb_error_set(err, EINVAL, "SHELL needs a JSON array");
                sb_strv_free(st->shell);
                st->shell = sb_strv_copy(n->args);
        } else if (strcmp(cmd, "stopsignal") == 0) {
                cleanup_free char *sig = NULL;
                if (!n->args[0])
                        return sb_error_set(err, EINVAL, "STOPSIGNAL needs a signal");
                r = expand(b, st, n->args[0], &sig, err);
                if (r >= 0)
                        json_object_set_new(c, "StopSignal", json_string(sig));
        } else if (strcmp(cmd, "volume") == 0) {
                json_t *vols = json_object_get(c, "Volumes");
                if (!json_is_object(vols)) {
                        vols = json_object();
                        json_object_set_new(c, "Volumes", vols);
                }
                for (size_t i = 0; n->args[i]; i++) {
                        cleanup_free char *v = NULL;
                        r = expand(b, st, n->args[i], &v, err);
                        if (r < 0)
                                return r;
                        json_object_set_new(vols, v, json_object());
                }
        } else if (strcmp(cmd, "maintainer") == 0) {
                if (n->args[0])
                        json_object_set_new(st->config, "author", json_string(n->args[0]));
        } else if (strcmp(cmd, "onbuild") == 0) {
                json_t *ob = json_object_get(c, "OnBuild");
                if (!json_is_array(ob)) {
                        ob = json_array();
                        json_object_set_new(c, "OnBuild", ob);
                }
                const char *o = n->original ? n->original : "";
                const char *rest = strchr(o, ' ');
                json_array_append_new(ob, json_string(rest ? rest + 1 : o));
        } else {
                return sb_error_set(err, ENOTSUP, "%s is not supported yet", cmd);
        }
        if (r < 0)
                return r;
        build_config_history(st->config, n->original ? n->original : cmd, true);
        return 0;
}

/* --- filesystem instructions ---------------------------------------------------------- */

static int user_for(struct builder *b, struct stage_state *st, const char *spec,
                    build_user_mode_t mode, struct build_user *ret, sb_error_t *err)
{
        cleanup_free char *passwd = NULL, *group = NULL;
        int r = build_rootfs_read_file(b, st, "etc/passwd", &passwd, err);
        if (r >= 0)
                r = build_rootfs_read_file(b, st, "etc/group", &group, err);
        if (r < 0)
                return r;
        return build_user_resolve(spec, passwd, group, mode, ret, err);
}

static char *workdir_of(struct stage_state *st)
{
        const char *w = json_string_value(json_object_get(cfg_obj(st), "WorkingDir"));
        return sb_xstrdup(w && *w ? w : "/");
}

static int mount_step(struct builder *b, struct stage_state *st, struct build_step_dirs *d,
                      int *ret_root_fd, sb_error_t *err)
{
        cleanup_strv char **lowers = build_rootfs_lowers(b, st);
        int r = sandbox_overlay_mount(lowers, d->upper, d->work, d->root, err);
        if (r < 0)
                return r;
        int fd = open(d->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
                r = sb_error_errno(err, errno, "open '%s'", d->root);
                sandbox_overlay_umount(d->root, NULL);
                return r;
        }
        *ret_root_fd = fd;
        return 0;
}

static int run_workdir_dir(struct builder *b, struct stage_state *st, const char *dir,
                           const char *created_by, sb_error_t *err)
{
        struct build_step_dirs d = { 0 };
        int r = build_rootfs_step_dirs(b, &d, err);
        if (r < 0)
                return r;
        int root_fd = -1;
        r = mount_step(b, st, &d, &root_fd, err);
        if (r >= 0) {
                int dfd = -1;
                r = build_fs_mkdir_in_root(root_fd, dir, (uid_t) -1, 0, &dfd, err);
                if (dfd >= 0)
                        close(dfd);
                close(root_fd);
                sandbox_overlay_umount(d.root, NULL);
        }
        if (r >= 0)
                r = build_rootfs_commit(b, st, &d, created_by, err);
        build_rootfs_step_dirs_done(b, &d);
        return r;
}

static int run_workdir(struct builder *b, struct stage_state *st, const struct dockerfile_node *n,
                       sb_error_t *err)
{
        if (!n->args[0])
                return sb_error_set(err, EINVAL, "WORKDIR needs a path");
        cleanup_free char *dir = NULL;
        int r = expand(b, st, n->args[0], &dir, err);
        if (r < 0)
                return r;
        cleanup_free char *cur = workdir_of(st);
        cleanup_free char *joined = dir[0] == '/' ? sb_xstrdup(dir) : sb_path_join(cur, dir);
        cleanup_free char *clean = build_fs_clean(joined);
        json_object_set_new(cfg_obj(st), "WorkingDir", json_string(clean));
        return run_workdir_dir(b, st, clean, n->original, err);
}

static int run_copy(struct builder *b, size_t idx, struct stage_state *st,
                    const struct dockerfile_node *n, sb_error_t *err)
{
        bool add = strcmp(n->cmd, "add") == 0;
        for (size_t i = 0; n->flags[i]; i++) {
                const char *f = n->flags[i];
                if (!sb_str_has_prefix(f, "--from=") && !sb_str_has_prefix(f, "--chown=") &&
                    strcmp(f, "--link") != 0 && strcmp(f, "--link=true") != 0)
                        return sb_error_set(err, ENOTSUP, "flag '%s' is not supported yet", f);
        }
        if (n->n_heredocs > 0)
                return sb_error_set(err, ENOTSUP, "heredocs in %s are not supported yet",
                                    add ? "ADD" : "COPY");
        size_t argc = sb_strv_len(n->args);
        if (argc < 2)
                return sb_error_set(err, EINVAL, "%s needs a source and a destination",
                                    add ? "ADD" : "COPY");
        char **sources = NULL;
        cleanup_strv char **srcs = NULL;
        for (size_t i = 0; i + 1 < argc; i++) {
                char *s = NULL;
                int r = expand(b, st, n->args[i], &s, err);
                if (r < 0)
                        return r;
                sb_strv_push_take(&sources, s);
        }
        srcs = sources;
        cleanup_free char *dest = NULL;
        int r = expand(b, st, n->args[argc - 1], &dest, err);
        if (r < 0)
                return r;
        if (dest[0] != '/') {
                cleanup_free char *wd = workdir_of(st);
                char *joined = sb_path_join(wd, dest);
                /* keep a trailing slash: it means "into this directory" */
                if (sb_str_has_suffix(dest, "/") || strcmp(dest, ".") == 0) {
                        char *with = sb_xasprintf("%s/", joined);
                        free(joined);
                        joined = with;
                }
                free(dest);
                dest = joined;
        }
        struct build_copy_opts o = { .add = add };
        const char *chown = build_node_flag(n, "chown");
        if (chown) {
                cleanup_free char *spec = NULL;
                struct build_user u;
                r = expand(b, st, chown, &spec, err);
                if (r >= 0)
                        r = user_for(b, st, spec, BUILD_USER_FOR_CHOWN, &u, err);
                if (r < 0)
                        return r;
                o.chown = true;
                o.uid = u.uid;
                o.gid = u.gid;
        }
        struct build_step_dirs src_dirs = { 0 };
        int src_fd = b->context_fd;
        bool src_mounted = false;
        const char *from = build_node_flag(n, "from");
        if (from) {
                long dep = build_plan_find_stage(b->plan, from, idx);
                if (dep < 0)
                        for (size_t j = 0; j < b->plan->n_stages; j++)
                                if (b->plan->stages[j].implicit &&
                                    strcmp(b->plan->stages[j].base, from) == 0)
                                        dep = (long) j;
                if (dep < 0 || !b->states[dep].built)
                        return sb_error_set(err, ENOENT, "--from=%s: no such stage or image", from);
                o.keep_owner = true;
                r = build_rootfs_step_dirs(b, &src_dirs, err);
                if (r < 0)
                        return r;
                r = mount_step(b, &b->states[dep], &src_dirs, &src_fd, err);
                if (r < 0) {
                        build_rootfs_step_dirs_done(b, &src_dirs);
                        return r;
                }
                src_mounted = true;
        }
        struct build_step_dirs d = { 0 };
        r = build_rootfs_step_dirs(b, &d, err);
        if (r >= 0) {
                int root_fd = -1;
                r = mount_step(b, st, &d, &root_fd, err);
                if (r >= 0) {
                        r = build_copy(src_fd, sources, root_fd, dest, &o, err);
                        close(root_fd);
                        sandbox_overlay_umount(d.root, NULL);
                }
                if (r >= 0)
                        r = build_rootfs_commit(b, st, &d, n->original, err);
                build_rootfs_step_dirs_done(b, &d);
        }
        if (src_mounted) {
                close(src_fd);
                sandbox_overlay_umount(src_dirs.root, NULL);
                build_rootfs_step_dirs_done(b, &src_dirs);
        }
        return r;
}

static int run_run(struct builder *b, struct stage_state *st, const struct dockerfile_node *n,
                   sb_error_t *err)
{
        for (size_t i = 0; n->flags[i]; i++) {
                const char *f = n->flags[i];
                if (strcmp(f, "--network=default") == 0 || strcmp(f, "--network=host") == 0)
                        continue;
                if (sb_str_has_prefix(f, "--mount"))
                        return sb_error_set(err, ENOTSUP, "RUN --mount is not supported yet");
                return sb_error_set(err, ENOTSUP, "flag '%s' is not supported yet", f);
        }
        cleanup_strv char **argv = NULL;
        if (n->json) {
                argv = sb_strv_copy(n->args);
        } else {
                argv = sb_strv_copy(st->shell);
                const char *script = n->args[0] ? n->args[0] : "";
                if (n->n_heredocs == 1 && sb_str_has_prefix(script, "<<"))
                        script = n->heredocs[0].content;
                else if (n->n_heredocs > 0)
                        return sb_error_set(err, ENOTSUP,
                                            "this form of heredoc in RUN is not supported yet");
                sb_strv_push(&argv, script);
        }
        if (!argv || !argv[0] || !*argv[0])
                return sb_error_set(err, EINVAL, "RUN needs a command");
        /* the environment: ENV, then ARGs not overridden by ENV, and a default PATH */
        cleanup_strv char **envp = expansion_env(st);
        if (!env_has(envp, "PATH"))
                sb_strv_push(&envp, "PATH=" DEFAULT_PATH);
        const char *user_spec = json_string_value(json_object_get(cfg_obj(st), "User"));
        struct build_user u = { 0 };
        int r = user_for(b, st, user_spec && *user_spec ? user_spec : "0", BUILD_USER_FOR_RUN, &u,
                         err);
        if (r < 0)
                return r;
        /* as docker and runc do: HOME from the user's passwd entry unless ENV set it */
        if (!env_has(envp, "HOME"))
                env_set(&envp, "HOME", u.home[0] ? u.home : "/");
        cleanup_free char *cwd = workdir_of(st);
        struct build_step_dirs d = { 0 };
        r = build_rootfs_step_dirs(b, &d, err);
        if (r < 0)
                return r;
        cleanup_strv char **lowers = build_rootfs_lowers(b, st);
        struct sandbox_step step = {
                .lowerdirs = lowers,
                .upperdir = d.upper,
                .workdir = d.work,
                .mountpoint = d.root,
                .argv = argv,
                .envp = envp,
                .cwd = cwd,
                .uid = u.uid,
                .gid = u.gid,
                .groups = u.groups,
                .n_groups = u.n_groups,
                .hostname = NULL,
                .stdout_fd = STDERR_FILENO,
                .stderr_fd = STDERR_FILENO,
        };
        int status = 0;
        r = sandbox_step_run(&step, &status, err);
        if (r >= 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
                if (WIFSIGNALED(status))
                        r = sb_error_set(err, EIO, "the command was killed by signal %d",
                                         WTERMSIG(status));
                else
                        r = sb_error_set(err, EIO, "the command exited with status %d",
                                         WEXITSTATUS(status));
        }
        if (r >= 0) {
                cleanup_free char *created = NULL;
                if (n->json) {
                        cleanup_free char *joined = NULL;
                        json_t *a = strv_to_json(argv);
                        joined = json_dumps(a, JSON_COMPACT);
                        json_decref(a);
                        created = sb_xasprintf("RUN %s", joined);
                } else {
                        cleanup_free char *shell = sb_xstrdup(st->shell[0]);
                        for (size_t i = 1; st->shell[i]; i++) {
                                char *more = sb_xasprintf("%s %s", shell, st->shell[i]);
                                free(shell);
                                shell = more;
                        }
                        created = sb_xasprintf("RUN %s %s", shell, n->args[0] ? n->args[0] : "");
                }
                r = build_rootfs_commit(b, st, &d, created, err);
        }
        build_rootfs_step_dirs_done(b, &d);
        return r;
}

/* --- stages --------------------------------------------------------------------------- */

static int run_node(struct builder *b, size_t idx, struct stage_state *st,
                    const struct dockerfile_node *n, bool *cmd_set, sb_error_t *err)
{
        const char *cmd = n->cmd;
        if (strcmp(cmd, "run") == 0)
                return run_run(b, st, n, err);
        if (strcmp(cmd, "copy") == 0 || strcmp(cmd, "add") == 0)
                return run_copy(b, idx, st, n, err);
        if (strcmp(cmd, "workdir") == 0)
                return run_workdir(b, st, n, err);
        if (strcmp(cmd, "arg") == 0)
                return run_arg(b, st, n, err);
        return run_meta(b, st, n, cmd_set, err);
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
        json_t *c = cfg_obj(st);
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
