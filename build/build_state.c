/* Helpers the builder's instructions share: the config document, the variables words expand
 * with, the user a step runs as, and mounting a step's rootfs. */
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
#include "build/build_user.h"
#include "build/shell_expand.h"
#include "sandbox/sandbox_step.h"

json_t *build_cfg(struct stage_state *st)
{
        json_t *c = json_object_get(st->config, "config");
        if (!json_is_object(c)) {
                c = json_object();
                json_object_set_new(st->config, "config", c);
        }
        return c;
}

char **build_cfg_env(struct stage_state *st)
{
        char **env = NULL;
        json_t *arr = json_object_get(build_cfg(st), "Env");
        size_t i;
        json_t *v;
        json_array_foreach(arr, i, v) if (json_is_string(v)) sb_strv_push(&env, json_string_value(v));
        return env;
}

bool build_env_has(char *const *env, const char *name)
{
        return build_args_lookup(env, name) != NULL;
}

/* The variables an instruction's words expand with (build_plan_scope_env's rules). */
char **build_expansion_env(struct stage_state *st)
{
        cleanup_strv char **env = build_cfg_env(st);
        return build_plan_scope_env(env, st->args);
}

void build_env_set(char ***list, const char *name, const char *value)
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

json_t *build_strv_to_json(char *const *v)
{
        json_t *a = json_array();
        for (size_t i = 0; v && v[i]; i++)
                json_array_append_new(a, json_string(v[i]));
        return a;
}

int build_expand(struct builder *b, struct stage_state *st, const char *word, char **ret,
                  sb_error_t *err)
{
        cleanup_strv char **env = build_expansion_env(st);
        return shell_expand_word(word, env, b->df->escape, ret, err);
}

int build_user_for(struct builder *b, struct stage_state *st, const char *spec,
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

char *build_workdir_of(struct stage_state *st)
{
        const char *w = json_string_value(json_object_get(build_cfg(st), "WorkingDir"));
        return sb_xstrdup(w && *w ? w : "/");
}

int build_mount_step(struct builder *b, struct stage_state *st, struct build_step_dirs *d,
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
