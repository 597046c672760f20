/* Instructions that change only the image config: ARG, ENV, LABEL, CMD, ENTRYPOINT, USER,
 * EXPOSE, SHELL, STOPSIGNAL, VOLUME, MAINTAINER, ONBUILD. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build/build_internal.h"
#include "common/sb_cleanup.h"
#include "common/sb_log.h"
#include "common/sb_util.h"

int build_step_arg(struct builder *b, struct stage_state *st, const struct dockerfile_node *n,
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
                        int r = build_expand(b, st, eq + 1, &value, err);
                        if (r < 0)
                                return r;
                } else if (global)
                        value = sb_xstrdup(global);
                if (value)
                        build_env_set(&st->args, name, value);
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
        json_t *c = build_cfg(st);
        for (size_t i = 0; i + 2 < argc + 1 && n->args[i]; i += 3) {
                cleanup_free char *key = NULL, *value = NULL;
                int r = build_expand(b, st, n->args[i], &key, err);
                if (r >= 0)
                        r = build_expand(b, st, n->args[i + 1], &value, err);
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
                        char **env = build_cfg_env(st);
                        build_env_set(&env, key, value);
                        json_object_set_new(c, "Env", build_strv_to_json(env));
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
                *ret = build_strv_to_json(n->args);
                return 0;
        }
        if (!n->args[0])
                return sb_error_set(err, EINVAL, "missing command");
        json_t *a = build_strv_to_json(st->shell);
        json_array_append_new(a, json_string(n->args[0]));
        *ret = a;
        return 0;
}


int build_step_meta(struct builder *b, struct stage_state *st, const struct dockerfile_node *n,
                    bool *cmd_set, sb_error_t *err)
{
        json_t *c = build_cfg(st);
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
                r = build_expand(b, st, n->args[0], &user, err);
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
                        r = build_expand(b, st, n->args[i], &p, err);
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
                r = build_expand(b, st, n->args[0], &sig, err);
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
                        r = build_expand(b, st, n->args[i], &v, err);
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
        cleanup_free char *created = build_history_text(b, st, n);
        build_config_history(st->config, created, true);
        return 0;
}
