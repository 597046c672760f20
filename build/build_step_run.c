/* RUN: the command in the step sandbox, its upper dir committed as the step's layer. */
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
#include <sys/wait.h>

#include "build/build_user.h"
#include "sandbox/sandbox_step.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static const char *const mount_types[] = { "bind", "cache", "tmpfs", "secret", "ssh", NULL };

/* The type= of a --mount value (BuildKit's default is bind); *ret points into spec. */
static void mount_type(const char *spec, const char **ret, size_t *ret_len)
{
        *ret = "bind";
        *ret_len = 4;
        for (const char *f = spec; *f;) {
                size_t len = strcspn(f, ",");
                if (len > 5 && strncmp(f, "type=", 5) == 0) {
                        *ret = f + 5;
                        *ret_len = len - 5;
                } else if (len == 4 && strncmp(f, "type", 4) == 0) {
                        *ret = "";
                        *ret_len = 0;
                }
                f += len;
                if (*f == ',')
                        f++;
        }
}

/* RUN's flags: --network, --mount (refused, by type), --security, anything else refused. */
static int run_flags(const struct dockerfile_node *n, bool *network_none, sb_error_t *err)
{
        *network_none = false;
        for (size_t i = 0; n->flags && n->flags[i]; i++) {
                const char *f = n->flags[i];
                if (sb_str_has_prefix(f, "--network=")) {
                        const char *v = f + strlen("--network=");
                        if (strcmp(v, "none") == 0)
                                *network_none = true;
                        else if (strcmp(v, "default") == 0 || strcmp(v, "host") == 0)
                                *network_none = false;
                        else
                                return sb_error_set(err, EINVAL,
                                                    "unsupported network mode '%s' (none, "
                                                    "default or host)",
                                                    v);
                } else if (sb_str_has_prefix(f, "--mount=")) {
                        const char *t;
                        size_t len;
                        mount_type(f + strlen("--mount="), &t, &len);
                        for (size_t k = 0; mount_types[k]; k++)
                                if (strlen(mount_types[k]) == len &&
                                    strncmp(mount_types[k], t, len) == 0)
                                        return sb_error_set(err, ENOTSUP,
                                                            "RUN --mount=type=%s is not "
                                                            "supported yet",
                                                            mount_types[k]);
                        return sb_error_set(err, EINVAL, "unknown mount type '%.*s'", (int) len,
                                            t);
                } else if (sb_str_has_prefix(f, "--security=")) {
                        const char *v = f + strlen("--security=");
                        /* sandbox is what every step gets anyway */
                        if (strcmp(v, "sandbox") == 0)
                                continue;
                        if (strcmp(v, "insecure") == 0)
                                return sb_error_set(err, ENOTSUP,
                                                    "RUN --security=insecure is not supported: "
                                                    "every step runs sandboxed");
                        return sb_error_set(err, EINVAL, "unsupported security mode '%s'", v);
                } else {
                        return sb_error_set(err, EINVAL, "unknown flag '%s' for RUN", f);
                }
        }
        return 0;
}

/* BuildKit's test for a command line that is nothing but one heredoc word: [N]<<[-]["']NAME["'] */
static bool only_heredoc(const char *s)
{
        while (*s >= '0' && *s <= '9')
                s++;
        if (strncmp(s, "<<", 2) != 0)
                return false;
        s += 2;
        if (*s == '-')
                s++;
        char open = (*s == '"' || *s == '\'') ? *s++ : 0;
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
                return false;
        while ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9'))
                s++;
        if (*s == '"' || *s == '\'') {
                if (*s != open)
                        return false;
                s++;
        } else if (open) {
                return false;
        }
        return *s == '\0';
}

/*
 * The script a shell-form RUN hands to SHELL, with heredocs as BuildKit runs them. A command
 * line that is only a heredoc runs the heredoc's body as the script (or, when the body starts
 * with "#!", the body as a file at /dev/pipes/NAME: *ret_pipe is set). Otherwise the command
 * line and every body, each followed by its delimiter, go to the shell, which then handles
 * redirections, quoting and <<- itself.
 */
static char *run_script(const struct dockerfile_node *n, const struct dockerfile_heredoc **ret_pipe)
{
        const char *line = n->args[0] ? n->args[0] : "";
        *ret_pipe = NULL;
        if (n->n_heredocs == 0)
                return sb_xstrdup(line);
        if (only_heredoc(line)) {
                const struct dockerfile_heredoc *h = &n->heredocs[0];
                if (sb_str_has_prefix(h->content, "#!")) {
                        *ret_pipe = h;
                        return sb_xasprintf("/dev/pipes/%s", h->name);
                }
                return sb_xstrdup(h->content);
        }
        char *script = sb_xstrdup(line);
        for (size_t i = 0; i < n->n_heredocs; i++) {
                char *more = sb_xasprintf("%s\n%s%s", script, n->heredocs[i].content,
                                          n->heredocs[i].name);
                free(script);
                script = more;
        }
        return script;
}

int build_step_run(struct builder *b, struct stage_state *st, const struct dockerfile_node *n,
                   sb_error_t *err)
{
        bool network_none = false;
        int r = run_flags(n, &network_none, err);
        if (r < 0)
                return r;
        cleanup_strv char **argv = NULL;
        const struct dockerfile_heredoc *pipe = NULL;
        if (n->json) {
                argv = sb_strv_copy(n->args);
        } else {
                argv = sb_strv_copy(st->shell);
                sb_strv_push_take(&argv, run_script(n, &pipe));
        }
        if (!argv || !argv[0] || !*argv[0])
                return sb_error_set(err, EINVAL, "RUN needs a command");
        /* the environment: ENV, then ARGs not overridden by ENV, and a default PATH */
        cleanup_strv char **envp = build_expansion_env(st);
        if (!build_env_has(envp, "PATH"))
                sb_strv_push(&envp, "PATH=" DEFAULT_PATH);
        const char *user_spec = json_string_value(json_object_get(build_cfg(st), "User"));
        struct build_user u = { 0 };
        r = build_user_for(b, st, user_spec && *user_spec ? user_spec : "0", BUILD_USER_FOR_RUN, &u,
                         err);
        if (r < 0)
                return r;
        /* as docker and runc do: HOME from the user's passwd entry unless ENV set it */
        if (!build_env_has(envp, "HOME"))
                build_env_set(&envp, "HOME", u.home[0] ? u.home : "/");
        cleanup_free char *cwd = build_workdir_of(st);
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
                .network_none = network_none,
                .pipe_name = pipe ? pipe->name : NULL,
                .pipe_data = pipe ? pipe->content : NULL,
                .pipe_len = pipe ? strlen(pipe->content) : 0,
                .memory_limit = b->opts->memory_limit,
                .pids_limit = b->opts->pids_limit,
                .nofile_limit = b->opts->nofile_limit,
                .timeout_ms = b->opts->step_timeout_ms,
        };
        /* once per build (the builder is one process per build) */
        static bool limits_logged;
        if (!limits_logged) {
                limits_logged = true;
                sb_info("limits: rlimits (no delegated cgroup v2)");
        }
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
                cleanup_free char *created = build_history_text(b, st, n);
                size_t before = st->n_layers;
                r = build_rootfs_commit(b, st, &d, created, err);
                uint64_t max = b->opts->max_layer_size;
                if (r >= 0 && max && st->n_layers > before &&
                    st->layers[st->n_layers - 1].size > max) {
                        /* the build fails, so the stage's state (and the image) never has it */
                        r = sb_error_set(err, EFBIG,
                                         "the step's layer is %llu bytes compressed, more than "
                                         "--max-layer-size (%llu bytes)",
                                         (unsigned long long) st->layers[st->n_layers - 1].size,
                                         (unsigned long long) max);
                }
        }
        build_rootfs_step_dirs_done(b, &d);
        return r;
}

/* --- stages --------------------------------------------------------------------------- */
