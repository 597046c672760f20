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

int build_step_run(struct builder *b, struct stage_state *st, const struct dockerfile_node *n,
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
        cleanup_strv char **envp = build_expansion_env(st);
        if (!build_env_has(envp, "PATH"))
                sb_strv_push(&envp, "PATH=" DEFAULT_PATH);
        const char *user_spec = json_string_value(json_object_get(build_cfg(st), "User"));
        struct build_user u = { 0 };
        int r = build_user_for(b, st, user_spec && *user_spec ? user_spec : "0", BUILD_USER_FOR_RUN, &u,
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
                cleanup_free char *created = build_history_text(b, st, n);
                r = build_rootfs_commit(b, st, &d, created, err);
        }
        build_rootfs_step_dirs_done(b, &d);
        return r;
}

/* --- stages --------------------------------------------------------------------------- */
