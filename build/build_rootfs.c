/* The builder's layer stack: overlay lower dirs, step directories, and committing a step's
 * upper directory as a layer. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "build/build_internal.h"
#include "common/sb_cleanup.h"
#include "common/sb_log.h"
#include "common/sb_util.h"
#include "image/image_layer.h"

char **build_rootfs_lowers(struct builder *b, const struct stage_state *st)
{
        char **lowers = NULL;
        for (size_t i = st->n_layers; i > 0; i--)
                sb_strv_push_take(&lowers, image_store_layer_path(b->store, st->diff_ids[i - 1]));
        if (!lowers)
                sb_strv_push(&lowers, b->empty_dir);
        return lowers;
}

static bool is_whiteout(const struct stat *st)
{
        return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

static bool is_opaque(int dirfd)
{
        char v[2] = { 0 };
        ssize_t n = fgetxattr(dirfd, "user.overlay.opaque", v, sizeof(v));
        if (n < 0)
                n = fgetxattr(dirfd, "trusted.overlay.opaque", v, sizeof(v));
        return n == 1 && v[0] == 'y';
}

/*
 * Look `path` up through the layers the way overlayfs would merge them, for plain files whose
 * parents are real directories (enough for /etc/passwd and /etc/group). Symlinks are not
 * followed: an image that makes /etc/passwd a symlink is treated as having none.
 */
int build_rootfs_read_file(struct builder *b, const struct stage_state *st, const char *path,
                           char **ret, sb_error_t *err)
{
        *ret = NULL;
        for (size_t i = st->n_layers; i > 0; i--) {
                cleanup_free char *lp = image_store_layer_path(b->store, st->diff_ids[i - 1]);
                cleanup_close int cur = open(lp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (cur < 0)
                        return sb_error_errno(err, errno, "open layer '%s'", st->diff_ids[i - 1]);
                cleanup_free char *copy = sb_xstrdup(path);
                bool stop_below = false;
                char *save = NULL;
                char *comp = strtok_r(copy, "/", &save);
                while (comp) {
                        char *next = strtok_r(NULL, "/", &save);
                        struct stat s;
                        if (fstatat(cur, comp, &s, AT_SYMLINK_NOFOLLOW) < 0)
                                break; /* not in this layer: look below */
                        if (is_whiteout(&s))
                                return 0;
                        if (!next) {
                                if (!S_ISREG(s.st_mode))
                                        return 0;
                                int r = sb_read_file_at(cur, comp, 4u << 20, ret, NULL, err);
                                return r < 0 ? r : 0;
                        }
                        if (!S_ISDIR(s.st_mode))
                                return 0;
                        int fd = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                                                           O_CLOEXEC);
                        if (fd < 0)
                                return 0;
                        close(cur);
                        cur = fd;
                        if (is_opaque(cur))
                                stop_below = true;
                        comp = next;
                }
                if (stop_below)
                        return 0;
        }
        return 0;
}

int build_rootfs_step_dirs(struct builder *b, struct build_step_dirs *ret, sb_error_t *err)
{
        struct build_step_dirs d = { 0 };
        int r = image_store_mkdtemp(b->store, "step-", &d.dir, err);
        if (r < 0)
                return r;
        d.upper = sb_path_join(d.dir, "upper");
        d.work = sb_path_join(d.dir, "work");
        d.root = sb_path_join(d.dir, "root");
        const char *dirs[] = { d.upper, d.work, d.root };
        for (size_t i = 0; i < 3; i++) {
                if (mkdir(dirs[i], 0755) < 0) {
                        r = sb_error_errno(err, errno, "mkdir '%s'", dirs[i]);
                        build_rootfs_step_dirs_done(b, &d);
                        return r;
                }
                /* the upper dir is the rootfs '/': it must not be narrowed by the umask */
                chmod(dirs[i], 0755);
        }
        *ret = d;
        return 0;
}

void build_rootfs_step_dirs_done(struct builder *b, struct build_step_dirs *d)
{
        (void) b;
        if (d->dir) {
                sb_error_t ignored = { 0 };
                (void) sb_rm_rf_at(AT_FDCWD, d->dir, &ignored);
        }
        free(d->dir);
        free(d->upper);
        free(d->work);
        free(d->root);
        memset(d, 0, sizeof(*d));
}

void build_config_history(json_t *config, const char *created_by, bool empty_layer)
{
        json_t *history = json_object_get(config, "history");
        if (!json_is_array(history)) {
                history = json_array();
                json_object_set_new(config, "history", history);
        }
        char when[64];
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        json_t *h = json_pack("{s:s, s:s, s:s}", "created", when, "created_by", created_by,
                              "comment", "buildkit.dockerfile.v0");
        if (empty_layer)
                json_object_set_new(h, "empty_layer", json_true());
        json_array_append_new(history, h);
        json_object_set_new(config, "created", json_string(when));
}

/*
 * Tell the supervisor about a layer of the target stage as soon as it is in the store, so it
 * can have the agent upload it while later steps run: one JSON line on the result pipe,
 * before the final result (which has no newline).
 */
static void report_layer(struct builder *b, const struct stage_state *st,
                         const struct image_descriptor *l)
{
        if (b->result_fd < 0 || !b->plan || !b->states || st != &b->states[b->plan->target])
                return;
        cleanup_free char *line = sb_xasprintf("{\"layer\":\"%s\",\"size\":%llu}\n", l->digest,
                                               (unsigned long long) l->size);
        (void) sb_write_all(b->result_fd, line, strlen(line));
}

int build_rootfs_commit(struct builder *b, struct stage_state *st, struct build_step_dirs *d,
                        const char *created_by, sb_error_t *err)
{
        cleanup_close int ufd = open(d->upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (ufd < 0)
                return sb_error_errno(err, errno, "open '%s'", d->upper);
        struct image_layer_desc desc;
        int r = image_layer_write_from_dir(b->store, ufd, &desc, err);
        if (r < 0)
                return sb_error_prefix(err, "write layer");
        if (desc.n_entries == 0) {
                build_config_history(st->config, created_by, true);
                return 0;
        }
        cleanup_free char *lp = image_store_layer_path(b->store, desc.diff_id);
        if (!image_store_has_layer(b->store, desc.diff_id)) {
                /* the upper dir already is the layer in overlay form: keep it, no re-extract */
                if (rename(d->upper, lp) < 0 && errno != EEXIST && errno != ENOTEMPTY)
                        return sb_error_errno(err, errno, "keep layer '%s'", desc.diff_id);
        }
        st->diff_ids = sb_xrealloc(st->diff_ids, (st->n_layers + 2) * sizeof(char *));
        st->diff_ids[st->n_layers] = sb_xstrdup(desc.diff_id);
        st->diff_ids[st->n_layers + 1] = NULL;
        st->layers = sb_xrealloc(st->layers, (st->n_layers + 1) * sizeof(*st->layers));
        struct image_descriptor *l = &st->layers[st->n_layers];
        memset(l, 0, sizeof(*l));
        snprintf(l->media_type, sizeof(l->media_type), "%s", IMAGE_MT_OCI_LAYER_GZIP);
        memcpy(l->digest, desc.digest, sizeof(l->digest));
        l->size = desc.size;
        st->n_layers++;
        json_t *rootfs = json_object_get(st->config, "rootfs");
        if (!json_is_object(rootfs)) {
                rootfs = json_pack("{s:s, s:[]}", "type", "layers", "diff_ids");
                json_object_set_new(st->config, "rootfs", rootfs);
        }
        json_t *ids = json_object_get(rootfs, "diff_ids");
        if (!json_is_array(ids)) {
                ids = json_array();
                json_object_set_new(rootfs, "diff_ids", ids);
        }
        json_array_append_new(ids, json_string(desc.diff_id));
        build_config_history(st->config, created_by, false);
        sb_debug("layer %s (%llu bytes, %llu entries)", desc.digest,
                 (unsigned long long) desc.size, (unsigned long long) desc.n_entries);
        report_layer(b, st, l);
        return 0;
}
