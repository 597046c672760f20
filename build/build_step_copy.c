/* Instructions that change files without running anything: COPY, ADD and WORKDIR. */
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
#include "build/build_copy.h"
#include "build/build_fs.h"
#include "build/build_user.h"
#include "sandbox/sandbox_step.h"

static int run_workdir_dir(struct builder *b, struct stage_state *st, const char *dir,
                           const char *created_by, sb_error_t *err)
{
        struct build_step_dirs d = { 0 };
        int r = build_rootfs_step_dirs(b, &d, err);
        if (r < 0)
                return r;
        int root_fd = -1;
        r = build_mount_step(b, st, &d, &root_fd, err);
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

int build_step_workdir(struct builder *b, struct stage_state *st, const struct dockerfile_node *n,
                       sb_error_t *err)
{
        if (!n->args[0])
                return sb_error_set(err, EINVAL, "WORKDIR needs a path");
        cleanup_free char *dir = NULL;
        int r = build_expand(b, st, n->args[0], &dir, err);
        if (r < 0)
                return r;
        cleanup_free char *cur = build_workdir_of(st);
        cleanup_free char *joined = dir[0] == '/' ? sb_xstrdup(dir) : sb_path_join(cur, dir);
        cleanup_free char *clean = build_fs_clean(joined);
        json_object_set_new(build_cfg(st), "WorkingDir", json_string(clean));
        cleanup_free char *created = build_history_text(b, st, n);
        return run_workdir_dir(b, st, clean, created, err);
}

int build_step_copy(struct builder *b, size_t idx, struct stage_state *st,
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
                int r = build_expand(b, st, n->args[i], &s, err);
                if (r < 0)
                        return r;
                sb_strv_push_take(&sources, s);
        }
        srcs = sources;
        cleanup_free char *dest = NULL;
        int r = build_expand(b, st, n->args[argc - 1], &dest, err);
        if (r < 0)
                return r;
        if (dest[0] != '/') {
                cleanup_free char *wd = build_workdir_of(st);
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
                r = build_expand(b, st, chown, &spec, err);
                if (r >= 0)
                        r = build_user_for(b, st, spec, BUILD_USER_FOR_CHOWN, &u, err);
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
                r = build_mount_step(b, &b->states[dep], &src_dirs, &src_fd, err);
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
                r = build_mount_step(b, st, &d, &root_fd, err);
                if (r >= 0) {
                        r = build_copy(src_fd, sources, root_fd, dest, &o, err);
                        close(root_fd);
                        sandbox_overlay_umount(d.root, NULL);
                }
                if (r >= 0) {
                        cleanup_free char *created = build_history_text(b, st, n);
                        r = build_rootfs_commit(b, st, &d, created, err);
                }
                build_rootfs_step_dirs_done(b, &d);
        }
        if (src_mounted) {
                close(src_fd);
                sandbox_overlay_umount(src_dirs.root, NULL);
                build_rootfs_step_dirs_done(b, &src_dirs);
        }
        return r;
}
