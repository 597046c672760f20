/* Instructions that change files without running anything: COPY, ADD and WORKDIR. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build/build_internal.h"
#include "common/sb_cleanup.h"
#include "common/sb_log.h"
#include "common/sb_util.h"
#include "build/build_copy.h"
#include "build/build_fs.h"
#include "build/build_ignore.h"
#include "build/build_user.h"
#include "build/shell_expand.h"
#include "image/image_store.h"
#include "sandbox/sandbox_step.h"
static int run_workdir_dir(struct builder *b, struct stage_state *st, const char *dir,
                           const char *created_by, sb_error_t *err)
{
        /* as BuildKit: directories WORKDIR creates belong to the current USER */
        const char *spec = json_string_value(json_object_get(build_cfg(st), "User"));
        struct build_user u = { 0 };
        int r = build_user_for(b, st, spec && *spec ? spec : "0", BUILD_USER_FOR_RUN, &u, err);
        if (r < 0)
                return r;
        struct build_step_dirs d = { 0 };
        r = build_rootfs_step_dirs(b, &d, err);
        if (r < 0)
                return r;
        int root_fd = -1;
        r = build_mount_step(b, st, &d, &root_fd, err);
        if (r >= 0) {
                int dfd = -1;
                r = build_fs_mkdir_in_root(root_fd, dir, u.uid, u.gid, &dfd, err);
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


struct fetched_src {
        char digest[SB_DIGEST_STR_LEN + 1];
        char *name;
        struct timespec mtime;
        bool has_mtime;
};

static int fetched_lookup(struct builder *b, const char *url, struct fetched_src *ret,
                          sb_error_t *err)
{
        size_t n = strlen(url);
        for (size_t i = 0; b->fetched && b->fetched[i]; i++) {
                const char *e = b->fetched[i];
                if (strncmp(e, url, n) != 0 || e[n] != '\t')
                        continue;
                cleanup_strv char **parts = NULL;
                const char *p = e + n + 1;
                for (int k = 0; k < 3; k++) {
                        size_t len = strcspn(p, "\t");
                        sb_strv_push_take(&parts, sb_xstrndup(p, len));
                        p += len + (p[len] ? 1 : 0);
                }
                uint64_t secs = 0;
                if (!sb_digest_valid(parts[0]) || sb_parse_u64(parts[2], INT64_MAX, &secs) < 0)
                        break;
                memcpy(ret->digest, parts[0], sizeof(ret->digest));
                ret->name = sb_xstrdup(parts[1]);
                ret->mtime = (struct timespec){ .tv_sec = (time_t) secs };
                ret->has_mtime = secs > 0;
                return 0;
        }
        return sb_error_set(err, ENOENT, "'%s' was not fetched before the build", url);
}

/* A flag that may be given bare or as =true/=false. -EINVAL for another value. */
static int bool_flag(const char *f, const char *name, bool *ret)
{
        size_t n = strlen(name);
        if (strncmp(f, name, n) != 0)
                return 0;
        if (!f[n]) {
                *ret = true;
                return 1;
        }
        if (strcmp(f + n, "=true") == 0 || strcmp(f + n, "=false") == 0) {
                *ret = f[n + 1] == 't';
                return 1;
        }
        return f[n] == '=' ? -EINVAL : 0;
}

struct copy_flags {
        const char *from, *chown, *chmod, *checksum;
        char **excludes;
        bool link, parents;
};

static int parse_flags(const struct dockerfile_node *n, bool add, struct copy_flags *fl,
                       sb_error_t *err)
{
        for (size_t i = 0; n->flags[i]; i++) {
                const char *f = n->flags[i];
                int r;
                if (sb_str_has_prefix(f, "--from="))
                        fl->from = f + 7;
                else if (sb_str_has_prefix(f, "--chown="))
                        fl->chown = f + 8;
                else if (sb_str_has_prefix(f, "--chmod="))
                        fl->chmod = f + 8;
                else if (sb_str_has_prefix(f, "--exclude="))
                        sb_strv_push(&fl->excludes, f + 10);
                else if (add && sb_str_has_prefix(f, "--checksum="))
                        fl->checksum = f + 11;
                else if ((r = bool_flag(f, "--link", &fl->link)) != 0 ||
                         (r = bool_flag(f, "--parents", &fl->parents)) != 0 ||
                         (add && (r = bool_flag(f, "--keep-git-dir", &(bool){ 0 })) != 0)) {
                        if (r < 0)
                                return sb_error_set(err, EINVAL, "flag '%s': expected true or "
                                                    "false", f);
                } else {
                        return sb_error_set(err, EINVAL, "unknown flag '%s' for %s", f,
                                            add ? "ADD" : "COPY");
                }
        }
        return 0;
}

/* A heredoc source "<<EOF", "<<-EOF", "<<'EOF'": the index of its body, or -1. */
static long heredoc_source(const struct dockerfile_node *n, const char *arg, size_t *next)
{
        if (!sb_str_has_prefix(arg, "<<") || *next >= n->n_heredocs)
                return -1;
        return (long) (*next)++;
}

/* The body of heredoc h as a file in memory, expanded unless its delimiter was quoted. */
static int heredoc_fd(struct stage_state *st,
                      const struct dockerfile_heredoc *h, int *ret_fd, sb_error_t *err)
{
        cleanup_free char *body = NULL;
        if (h->expand) {
                /* BuildKit expands a COPY heredoc with quotes kept, '\\' as the escape */
                cleanup_strv char **env = build_expansion_env(st);
                int r = shell_expand_full(h->content, env, '\\', SHELL_EXPAND_RAW_QUOTES, &body,
                                          NULL, err);
                if (r < 0)
                        return r;
        } else {
                body = sb_xstrdup(h->content);
        }
        int fd = memfd_create("sbuild-heredoc", MFD_CLOEXEC);
        if (fd < 0)
                return sb_error_errno(err, errno, "memfd_create");
        int r = sb_write_all(fd, body, strlen(body));
        if (r < 0) {
                close(fd);
                return sb_error_errno(err, -r, "write heredoc '%s'", h->name);
        }
        *ret_fd = fd;
        return 0;
}

/* The extra sources: heredoc bodies and fetched URLs, copied one file each. */
static int copy_extra(struct builder *b, struct stage_state *st, const struct dockerfile_node *n,
                      char *const *extra, int root_fd, const char *dest,
                      const struct build_copy_opts *o, const char *checksum, sb_error_t *err)
{
        size_t next_heredoc = 0;
        for (size_t i = 0; extra && extra[i]; i++) {
                long h = heredoc_source(n, extra[i], &next_heredoc);
                cleanup_close int fd = -1;
                int r;
                if (h >= 0) {
                        r = heredoc_fd(st, &n->heredocs[h], &fd, err);
                        if (r >= 0)
                                r = build_copy_fd(fd, n->heredocs[h].name, 0644, NULL, root_fd,
                                                  dest, o, err);
                        if (r < 0)
                                return r;
                        continue;
                }
                struct fetched_src f = { 0 };
                r = fetched_lookup(b, extra[i], &f, err);
                if (r < 0)
                        return r;
                cleanup_free char *name = f.name;
                if (checksum && strcmp(checksum, f.digest) != 0)
                        return sb_error_set(err, EBADMSG, "'%s': checksum mismatch: expected %s, "
                                            "got %s", extra[i], checksum, f.digest);
                r = image_store_open_blob(b->store, f.digest, &fd, err);
                if (r < 0)
                        return sb_error_prefix(err, "'%s'", extra[i]);
                r = build_copy_fd(fd, name, 0600, f.has_mtime ? &f.mtime : NULL, root_fd, dest,
                                  o, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Sort the words into local patterns and extra sources (heredocs and URLs); refuse git. */
static int split_sources(struct builder *b, struct stage_state *st,
                         const struct dockerfile_node *n, bool add, size_t argc, char ***locals,
                         char ***extra, sb_error_t *err)
{
        size_t next_heredoc = 0;
        for (size_t i = 0; i + 1 < argc; i++) {
                if (heredoc_source(n, n->args[i], &next_heredoc) >= 0) {
                        sb_strv_push(extra, n->args[i]);
                        continue;
                }
                char *s = NULL;
                int r = build_expand(b, st, n->args[i], &s, err);
                if (r < 0)
                        return r;
                if (add && build_source_is_git(s)) {
                        r = sb_error_set(err, ENOTSUP, "'%s': git sources are not supported "
                                         "(clone the repository into the context instead)", s);
                        free(s);
                        return r;
                }
                if (add && build_source_is_url(s)) {
                        sb_strv_push_take(extra, s);
                        continue;
                }
                if (strstr(s, "://")) {
                        r = sb_error_set(err, ENOTSUP, "'%s': only http and https URLs can be "
                                         "sources%s", s, add ? "" : ", and only for ADD");
                        free(s);
                        return r;
                }
                sb_strv_push_take(locals, s);
        }
        return 0;
}

int build_step_copy(struct builder *b, size_t idx, struct stage_state *st,
                    const struct dockerfile_node *n, sb_error_t *err)
{
        bool add = strcmp(n->cmd, "add") == 0;
        const char *what = add ? "ADD" : "COPY";
        struct copy_flags fl = { 0 };
        cleanup_strv char **excludes = NULL;
        int r = parse_flags(n, add, &fl, err);
        excludes = fl.excludes;
        if (r < 0)
                return r;
        size_t argc = sb_strv_len(n->args);
        if (argc < 2)
                return sb_error_set(err, EINVAL, "%s needs a source and a destination", what);
        cleanup_strv char **sources = NULL, **extra = NULL;
        r = split_sources(b, st, n, add, argc, &sources, &extra, err);
        if (r < 0)
                return r;
        cleanup_free char *checksum = NULL;
        if (fl.checksum) {
                r = build_expand(b, st, fl.checksum, &checksum, err);
                if (r < 0)
                        return r;
                if (!sb_digest_valid(checksum))
                        return sb_error_set(err, EINVAL, "--checksum=%s: expected "
                                            "sha256:<64 hex digits>", checksum);
                if (sources)
                        return sb_error_set(err, EINVAL, "--checksum can only be used with "
                                            "http(s) sources");
        }
        cleanup_free char *dest = NULL;
        r = build_expand(b, st, n->args[argc - 1], &dest, err);
        if (r < 0)
                return r;
        if (sb_str_has_prefix(dest, "<<"))
                return sb_error_set(err, EINVAL, "%s: a heredoc cannot be the destination", what);
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
        struct build_copy_opts o = { .add = add, .parents = fl.parents };
        cleanup_free char *chmod = NULL;
        if (fl.chmod) {
                mode_t m;
                r = build_expand(b, st, fl.chmod, &chmod, err);
                if (r < 0)
                        return r;
                if (build_copy_chmod(chmod, 0644, false, &m) < 0)
                        return sb_error_set(err, EINVAL, "--chmod=%s: invalid mode", chmod);
                o.chmod = chmod;
        }
        if (fl.chown) {
                cleanup_free char *spec = NULL;
                struct build_user u;
                r = build_expand(b, st, fl.chown, &spec, err);
                if (r >= 0)
                        r = build_user_for(b, st, spec, BUILD_USER_FOR_CHOWN, &u, err);
                if (r < 0)
                        return r;
                o.chown = true;
                o.uid = u.uid;
                o.gid = u.gid;
        }
        struct build_ignore *exclude = NULL;
        if (excludes) {
                cleanup_strv char **expanded = NULL;
                for (size_t i = 0; excludes[i]; i++) {
                        char *s = NULL;
                        r = build_expand(b, st, excludes[i], &s, err);
                        if (r < 0)
                                return r;
                        sb_strv_push_take(&expanded, s);
                }
                r = build_ignore_new(expanded, &exclude, err);
                if (r < 0)
                        return sb_error_prefix(err, "--exclude");
                o.exclude = exclude;
        }
        struct build_step_dirs src_dirs = { 0 };
        int src_fd = b->context_fd;
        bool src_mounted = false;
        const char *from = fl.from;
        if (from && sources) {
                long dep = build_plan_find_stage(b->plan, from, idx);
                if (dep < 0)
                        for (size_t j = 0; j < b->plan->n_stages; j++)
                                if (b->plan->stages[j].implicit &&
                                    strcmp(b->plan->stages[j].base, from) == 0)
                                        dep = (long) j;
                if (dep < 0 || !b->states[dep].built) {
                        build_ignore_free(exclude);
                        return sb_error_set(err, ENOENT, "--from=%s: no such stage or image", from);
                }
                o.keep_owner = true;
                r = build_rootfs_step_dirs(b, &src_dirs, err);
                if (r >= 0) {
                        r = build_mount_step(b, &b->states[dep], &src_dirs, &src_fd, err);
                        if (r < 0)
                                build_rootfs_step_dirs_done(b, &src_dirs);
                }
                if (r < 0) {
                        build_ignore_free(exclude);
                        return r;
                }
                src_mounted = true;
        } else if (sources) {
                o.ignore = b->ignore;
        }
        if (sb_strv_len(sources) + sb_strv_len(extra) > 1 && extra &&
            !sb_str_has_suffix(dest, "/")) {
                r = sb_error_set(err, EINVAL, "'%s': with more than one source the destination "
                                 "must be a directory and end with a /", dest);
                goto unmount_src;
        }
        struct build_step_dirs d = { 0 };
        r = build_rootfs_step_dirs(b, &d, err);
        if (r >= 0) {
                int root_fd = -1;
                r = build_mount_step(b, st, &d, &root_fd, err);
                if (r >= 0) {
                        if (sources)
                                r = build_copy(src_fd, sources, root_fd, dest, &o, err);
                        struct build_copy_opts xo = o;
                        xo.keep_owner = false;
                        if (r >= 0)
                                r = copy_extra(b, st, n, extra, root_fd, dest, &xo, checksum,
                                               err);
                        close(root_fd);
                        sandbox_overlay_umount(d.root, NULL);
                }
                if (r >= 0) {
                        cleanup_free char *created = build_history_text(b, st, n);
                        r = build_rootfs_commit(b, st, &d, created, err);
                }
                build_rootfs_step_dirs_done(b, &d);
        }
unmount_src:
        if (src_mounted) {
                close(src_fd);
                sandbox_overlay_umount(src_dirs.root, NULL);
                build_rootfs_step_dirs_done(b, &src_dirs);
        }
        build_ignore_free(exclude);
        return r;
}
