/* The supervisor side of `sbuild run`: plan, pull, run the builder, write outputs, push. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "build/build_internal.h"
#include "build/dockerfile_parse.h"
#include "common/sb_cleanup.h"
#include "common/sb_log.h"
#include "common/sb_util.h"
#include "image/image_archive.h"
#include "registry/registry_ref.h"
#include "sandbox/sandbox_userns.h"

#define BUILD_RESULT_MAX (64u * 1024u)


char *build_default_store(void)
{
        if (geteuid() == 0)
                return sb_xstrdup("/var/lib/sbuild");
        const char *xdg = secure_getenv("XDG_DATA_HOME");
        if (xdg && xdg[0] == '/')
                return sb_path_join(xdg, "sbuild");
        const char *home = secure_getenv("HOME");
        if (home && home[0] == '/')
                return sb_path_join(home, ".local/share/sbuild");
        return sb_xasprintf("/tmp/sbuild-%u", (unsigned) getuid());
}

/* ONBUILD ONBUILD, ONBUILD FROM and ONBUILD MAINTAINER are refused before anything runs. */
static int check_onbuild(const struct dockerfile *df, sb_error_t *err)
{
        for (size_t i = 0; i < df->n_nodes; i++) {
                const struct dockerfile_node *n = &df->nodes[i];
                if (strcmp(n->cmd, "onbuild") != 0 || !n->inner)
                        continue;
                const char *in = n->inner->cmd;
                if (strcmp(in, "onbuild") == 0)
                        return sb_error_set(err, EINVAL,
                                            "Dockerfile:%d: ONBUILD: Chaining ONBUILD via "
                                            "`ONBUILD ONBUILD` isn't allowed",
                                            n->start_line);
                if (strcmp(in, "from") == 0 || strcmp(in, "maintainer") == 0) {
                        char upper[16];
                        snprintf(upper, sizeof(upper), "%s", in);
                        for (char *c = upper; *c; c++)
                                *c = (char) (*c >= 'a' && *c <= 'z' ? *c - 'a' + 'A' : *c);
                        return sb_error_set(err, EINVAL,
                                            "Dockerfile:%d: ONBUILD: %s isn't allowed as an "
                                            "ONBUILD trigger",
                                            n->start_line, upper);
                }
        }
        return 0;
}

static int read_dockerfile(const struct build_options *o, int context_fd, struct dockerfile **ret,
                           sb_error_t *err)
{
        cleanup_free char *text = NULL;
        size_t len = 0;
        int r = sb_read_file_at(o->dockerfile[0] == '/' ? AT_FDCWD : context_fd, o->dockerfile,
                                DOCKERFILE_MAX_SIZE, &text, &len, err);
        if (r < 0)
                return sb_error_set(err, EINVAL, "--dockerfile: %s", err->msg);
        r = dockerfile_parse(text, len, ret, err);
        if (r < 0) {
                /* the parser says "line N: ..."; users read "Dockerfile:N: ..." */
                char msg[sizeof(err->msg)];
                snprintf(msg, sizeof(msg), "%s", err->msg);
                if (sb_str_has_prefix(msg, "line "))
                        return sb_error_set(err, EINVAL, "Dockerfile:%s", msg + 5);
                return sb_error_set(err, EINVAL, "Dockerfile: %s", msg);
        }
        const struct dockerfile *df = *ret;
        for (size_t i = 0; i < df->n_nodes; i++) {
                const char *bad = dockerfile_node_unknown(&df->nodes[i]);
                if (bad) {
                        r = sb_error_set(err, EINVAL, "Dockerfile:%d: unknown instruction '%s'",
                                         df->nodes[i].start_line, bad);
                        *ret = dockerfile_free(*ret);
                        return r;
                }
        }
        r = check_onbuild(df, err);
        if (r < 0) {
                *ret = dockerfile_free(*ret);
                return r;
        }
        return 0;
}

/* Destinations must parse before anything is built. */
static int check_destinations(const struct build_options *o, sb_error_t *err)
{
        for (size_t i = 0; o->destinations && o->destinations[i]; i++) {
                struct registry_ref *ref = NULL;
                int r = registry_ref_parse(o->destinations[i], &ref, err);
                if (r < 0)
                        return sb_error_set(err, EINVAL, "--destination: %s", err->msg);
                registry_ref_free(ref);
        }
        return 0;
}

/*
 * Pull each needed base for its stage's platform: FROM --platform, else the target platform
 * (--custom-platform or the host's). A platform with no variant asks for none, so an index
 * entry that names one still matches (image_index_select's second pass).
 */
static int pull_bases(struct builder *b, struct registry_agent *agent, sb_error_t *err)
{
        for (size_t i = 0; i < b->plan->n_stages; i++) {
                const struct build_stage *s = &b->plan->stages[i];
                if (!s->needed || s->scratch || s->base_stage >= 0)
                        continue;
                const struct build_platform *pl = &s->platform;
                double t0 = sb_now();
                int r = registry_agent_pull(agent, s->base, pl->os, pl->arch, pl->variant,
                                            &b->pulled[i], err);
                if (r < 0) {
                        if (s->from)
                                return sb_error_prefix(err, "Dockerfile:%d: FROM %s",
                                                       s->from->start_line, s->base);
                        return sb_error_prefix(err, "--from=%s", s->base);
                }
                cleanup_free char *plat = build_platform_format(pl);
                sb_info("pulled %s (%zu layers, %s) %.1fs", b->pulled[i].resolved,
                        b->pulled[i].n_layers, plat, sb_now() - t0);
        }
        return 0;
}

/*
 * The store root is handed to the builder's uid in root mode, so it must be a directory that
 * is ours: missing, empty, or holding only the store's own folders.
 */
static int check_store_root(const char *root, sb_error_t *err)
{
        cleanup_close int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : sb_error_errno(err, errno, "--store: '%s'", root);
        struct stat st;
        if (fstat(fd, &st) < 0 || st.st_ino == 2 || strcmp(root, "/") == 0)
                return sb_error_set(err, EINVAL, "--store: '%s' cannot be a store", root);
        DIR *d = fdopendir(fd);
        if (!d)
                return sb_error_errno(err, errno, "--store: '%s'", root);
        fd = -1;
        cleanup_closedir DIR *dir = d;
        static const char *const ours[] = { ".", "..", "blobs", "layers", "tmp", "locks", NULL };
        struct dirent *de;
        while ((de = readdir(dir))) {
                bool known = false;
                for (size_t i = 0; ours[i]; i++)
                        known |= strcmp(de->d_name, ours[i]) == 0;
                if (!known)
                        return sb_error_set(err, EINVAL,
                                            "--store: '%s' holds '%s', so it is not an sbuild "
                                            "store (use an empty or new directory)",
                                            root, de->d_name);
        }
        return 0;
}

/* The builder must be able to walk to the store: check as its outside uid before building. */
static int check_store_reachable(const char *root, uid_t uid, gid_t gid, sb_error_t *err)
{
        pid_t pid = fork();
        if (pid < 0)
                return sb_error_errno(err, errno, "fork");
        if (pid == 0) {
                if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
                    setresuid(uid, uid, uid) < 0)
                        _exit(2);
                /* the store itself is handed over below: its parent must be enterable */
                char parent[PATH_MAX];
                snprintf(parent, sizeof(parent), "%s", root);
                char *slash = strrchr(parent, '/');
                if (slash)
                        slash[slash == parent ? 1 : 0] = '\0';
                _exit(access(parent, X_OK) == 0 ? 0 : 1);
        }
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;
        return sb_error_set(err, EACCES,
                            "--store: the builder (uid %u outside) cannot reach '%s': a parent "
                            "directory is closed to it; use a store under directories others "
                            "may enter (mode o+x), e.g. /var/lib/sbuild",
                            (unsigned) uid, root);
}

/* In root mode the builder is an unprivileged id outside: give it the store's directories. */
static int hand_store_to_builder(const struct image_store *s,
                                 const struct sandbox_userns_plan *plan, sb_error_t *err)
{
        if (plan->mode != SANDBOX_USERNS_ROOT)
                return 0;
        uid_t uid = sandbox_userns_outside_uid(plan, 0);
        gid_t gid = sandbox_userns_outside_gid(plan, 0);
        int r = check_store_reachable(s->root, uid, gid, err);
        if (r < 0)
                return r;
        const int fds[] = { s->root_fd, s->blobs_fd, s->layers_fd, s->tmp_fd, s->locks_fd };
        for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
                if (fchownat(fds[i], "", uid, gid, AT_EMPTY_PATH) < 0)
                        return sb_error_errno(err, errno, "give the store '%s' to uid %u",
                                              s->root, (unsigned) uid);
        }
        /* blobs/ is blobs/sha256's parent: it must be traversable too */
        cleanup_close int blobs = openat(s->root_fd, "blobs", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (blobs >= 0)
                (void) fchownat(blobs, "", uid, gid, AT_EMPTY_PATH);
        return 0;
}

/* Have the agent upload a blob to every destination in the background (nothing waits). */
static void upload_early(const struct build_options *o, struct registry_agent *agent,
                         const char *digest, char *const *from)
{
        for (size_t i = 0; !o->no_push && agent && o->destinations && o->destinations[i]; i++) {
                sb_error_t e = { 0 };
                if (registry_agent_upload(agent, o->destinations[i], digest, from, &e) < 0)
                        sb_debug("early upload of %s: %s", digest, e.msg);
        }
}

/* A {"layer":DIGEST,"size":N} line from the builder: a target layer is in the store. */
static void builder_layer(const struct build_options *o, struct registry_agent *agent,
                          const char *line, size_t len)
{
        json_auto_t *msg = json_loadb(line, len, 0, NULL);
        const char *d = json_string_value(json_object_get(msg, "layer"));
        if (sb_digest_valid(d))
                upload_early(o, agent, d, NULL);
}

/*
 * The builder's pipe: layer lines (each ending in '\n') while it runs, then the result
 * object (no newline) and EOF.
 */
static int read_result(const struct build_options *o, struct registry_agent *agent, int fd,
                       struct build_result *ret, sb_error_t *err)
{
        cleanup_free char *data = sb_xmalloc(BUILD_RESULT_MAX);
        size_t len = 0;
        for (;;) {
                if (len == BUILD_RESULT_MAX)
                        return sb_error_set(err, EIO, "the builder sent an oversized result");
                ssize_t n = read(fd, data + len, BUILD_RESULT_MAX - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                len += (size_t) n;
                char *nl;
                while ((nl = memchr(data, '\n', len))) {
                        size_t line = (size_t) (nl - data);
                        builder_layer(o, agent, data, line);
                        memmove(data, nl + 1, len - line - 1);
                        len -= line + 1;
                }
        }
        if (len == 0)
                return sb_error_set(err, EIO, "the builder stopped without a result");
        json_error_t jerr;
        json_auto_t *msg = json_loadb(data, len, 0, &jerr);
        const char *e = json_string_value(json_object_get(msg, "error"));
        if (e) {
                int code = (int) json_integer_value(json_object_get(msg, "code"));
                /* the builder's usage errors are not the user's flags: report them as failures */
                return sb_error_set(err, code > 0 && code != EINVAL ? code : EIO, "%s", e);
        }
        const char *m = json_string_value(json_object_get(msg, "manifest"));
        const char *c = json_string_value(json_object_get(msg, "config"));
        if (!sb_digest_valid(m) || !sb_digest_valid(c))
                return sb_error_set(err, EIO, "the builder sent a malformed result");
        snprintf(ret->manifest_digest, sizeof(ret->manifest_digest), "%s", m);
        snprintf(ret->config_digest, sizeof(ret->config_digest), "%s", c);
        return 0;
}

/*
 * The target's base image layers are in the store once pulled: start their uploads now,
 * naming where they came from, so a destination in the same registry mounts them.
 */
static void upload_base_layers(struct builder *b, struct registry_agent *agent)
{
        const struct build_plan *plan = b->plan;
        size_t i = plan->target;
        for (size_t hops = 0; plan->stages[i].base_stage >= 0 && hops < plan->n_stages; hops++)
                i = (size_t) plan->stages[i].base_stage;
        const struct build_stage *s = &plan->stages[i];
        const struct registry_pulled *p = &b->pulled[i];
        if (s->scratch || s->base_stage >= 0 || !p->resolved)
                return;
        char *from[] = { p->resolved, NULL };
        for (size_t l = 0; l < p->n_layers; l++)
                upload_early(b->opts, agent, p->layers[l].digest, from);
}

/* Kaniko's check: may each destination be pushed to? Before anything is built. */
static int check_push_access(const struct build_options *o, struct registry_agent *agent,
                             sb_error_t *err)
{
        if (o->no_push || o->skip_push_permission_check)
                return 0;
        for (size_t i = 0; o->destinations && o->destinations[i]; i++) {
                int r = registry_agent_check_push(agent, o->destinations[i], err);
                if (r < 0)
                        return sb_error_prefix(err, "--destination (checked before building; "
                                               "--skip-push-permission-check skips this)");
        }
        return 0;
}

static int run_builder(struct builder *b, struct registry_agent *agent,
                       const struct sandbox_userns_plan *plan, struct build_result *ret,
                       sb_error_t *err)
{
        int pipefd[2];
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return sb_error_errno(err, errno, "pipe");
        b->result_fd = pipefd[1];
        pid_t pid = -1;
        int r = sandbox_spawn(plan, build_builder_main, b, &pid, err);
        close(pipefd[1]);
        if (r < 0) {
                close(pipefd[0]);
                return r;
        }
        r = read_result(b->opts, agent, pipefd[0], ret, err);
        close(pipefd[0]);
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        if (r == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
                r = sb_error_set(err, EIO, "the builder failed (status %d)", status);
        return r;
}

static char *layout_ref_name(const struct build_options *o)
{
        if (o->destinations && o->destinations[0]) {
                struct registry_ref *ref = NULL;
                if (registry_ref_parse(o->destinations[0], &ref, NULL) == 0) {
                        char *tag = sb_xstrdup(ref->tag ? ref->tag : "latest");
                        registry_ref_free(ref);
                        return tag;
                }
        }
        return sb_xstrdup("latest");
}

/*
 * The manifest an OCI layout gets: the image's own, or for --image-format=docker the OCI
 * manifest of the same blobs (OCI layout readers such as skopeo and umoci skip Docker
 * manifests).
 */
static int oci_form(const struct image_store *store, const char *digest,
                    char ret[SB_DIGEST_STR_LEN + 1], sb_error_t *err)
{
        cleanup_free char *body = NULL;
        size_t len = 0;
        int r = image_store_read_blob(store, digest, IMAGE_MANIFEST_MAX, &body, &len, err);
        if (r < 0)
                return r;
        struct image_manifest *m = NULL;
        r = image_manifest_parse(body, len, &m, err);
        if (r < 0)
                return r;
        if (strcmp(m->media_type, IMAGE_MT_DOCKER_MANIFEST) != 0) {
                snprintf(ret, SB_DIGEST_STR_LEN + 1, "%s", digest);
                image_manifest_free(m);
                return 0;
        }
        uint64_t size = 0;
        r = image_manifest_write_format(store, IMAGE_FORMAT_OCI, &m->config, m->layers,
                                        m->n_layers, ret, &size, err);
        image_manifest_free(m);
        if (r >= 0)
                sb_info("the OCI layout holds the OCI form of the image, %s", ret);
        return r;
}

/* "REPO:TAG" of a destination as Kaniko writes it (":latest" when it named no tag). */
static char *tag_ref_name(const char *dest)
{
        struct registry_ref *ref = NULL;
        if (registry_ref_parse(dest, &ref, NULL) < 0)
                return sb_xstrdup(dest);
        cleanup_free char *name = registry_ref_name(ref);
        char *s = ref->tag ? sb_xasprintf("%s:%s", name, ref->tag) : sb_xstrdup(name);
        registry_ref_free(ref);
        return s;
}

/*
 * Queue the config and every layer for every destination before the pushes start, so the
 * agent's workers upload them in parallel; each push then waits for its blobs.
 */
static void queue_image_blobs(const struct build_options *o, struct image_store *store,
                              struct registry_agent *agent, const char *manifest_digest)
{
        cleanup_free char *body = NULL;
        size_t len = 0;
        struct image_manifest *m = NULL;
        if (image_store_read_blob(store, manifest_digest, IMAGE_MANIFEST_MAX, &body, &len,
                                  NULL) < 0 ||
            image_manifest_parse(body, len, &m, NULL) < 0)
                return;
        upload_early(o, agent, m->config.digest, NULL);
        for (size_t i = 0; i < m->n_layers; i++)
                upload_early(o, agent, m->layers[i].digest, NULL);
        image_manifest_free(m);
}

static int write_outputs(const struct build_options *o, struct image_store *store,
                         struct registry_agent *agent, const struct build_result *res,
                         sb_error_t *err)
{
        int r;
        if (o->oci_layout_path) {
                cleanup_free char *name = layout_ref_name(o);
                char layout_digest[SB_DIGEST_STR_LEN + 1];
                r = oci_form(store, res->manifest_digest, layout_digest, err);
                if (r < 0)
                        return sb_error_prefix(err, "--oci-layout-path '%s'", o->oci_layout_path);
                r = image_layout_write(store, o->oci_layout_path, layout_digest, name, err);
                if (r < 0)
                        return sb_error_prefix(err, "--oci-layout-path '%s'", o->oci_layout_path);
                sb_info("wrote OCI layout %s:%s", o->oci_layout_path, name);
        }
        if (o->tar_path) {
                r = image_archive_write(store, o->tar_path, res->manifest_digest,
                                        o->destinations, err);
                if (r < 0)
                        return sb_error_prefix(err, "--tar-path '%s'", o->tar_path);
                sb_info("wrote docker archive %s", o->tar_path);
        }
        cleanup_free char *names = sb_xstrdup("");
        cleanup_free char *tagged = sb_xstrdup("");
        if (!o->no_push)
                queue_image_blobs(o, store, agent, res->manifest_digest);
        for (size_t i = 0; !o->no_push && o->destinations && o->destinations[i]; i++) {
                char digest[SB_DIGEST_STR_LEN + 1];
                double t0 = sb_now();
                r = registry_agent_push(agent, o->destinations[i], res->manifest_digest, digest,
                                        err);
                if (r < 0)
                        return r;
                sb_info("pushed %s@%s %.1fs", o->destinations[i], digest, sb_now() - t0);
                char *more = sb_xasprintf("%s%s@%s\n", names, o->destinations[i], digest);
                free(names);
                names = more;
                cleanup_free char *tag_name = tag_ref_name(o->destinations[i]);
                more = sb_xasprintf("%s%s@%s\n", tagged, tag_name, digest);
                free(tagged);
                tagged = more;
        }
        if (o->digest_file) {
                r = sb_write_file_atomic_at(AT_FDCWD, o->digest_file, res->manifest_digest,
                                            strlen(res->manifest_digest), 0644, err);
                if (r < 0)
                        return sb_error_prefix(err, "--digest-file");
        }
        if (o->image_name_with_digest_file) {
                r = sb_write_file_atomic_at(AT_FDCWD, o->image_name_with_digest_file, names,
                                            strlen(names), 0644, err);
                if (r < 0)
                        return sb_error_prefix(err, "--image-name-with-digest-file");
        }
        if (o->image_name_tag_with_digest_file) {
                r = sb_write_file_atomic_at(AT_FDCWD, o->image_name_tag_with_digest_file, tagged,
                                            strlen(tagged), 0644, err);
                if (r < 0)
                        return sb_error_prefix(err, "--image-name-tag-with-digest-file");
        }
        return 0;
}

int build_run(const struct build_options *o, struct build_result *ret, sb_error_t *err)
{
        double t0 = sb_now();
        cleanup_close int context_fd =
                open(o->context, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (context_fd < 0)
                return sb_error_errno(err, EINVAL, "--context: '%s'", o->context);
        struct dockerfile *df = NULL;
        int r = read_dockerfile(o, context_fd, &df, err);
        if (r < 0)
                return r;
        struct build_plan plan = { 0 };
        struct image_store *store = NULL;
        struct registry_agent *agent = NULL;
        struct builder b = { .opts = o, .df = df, .context_fd = context_fd, .result_fd = -1 };
        cleanup_close int idmapped_fd = -1;
        cleanup_free char *store_root = o->store ? sb_xstrdup(o->store) : build_default_store();
        cleanup_free char *store_path = NULL;
        r = build_plan_make_for(df, o->build_args, o->target, o->platform, &plan, err);
        if (r >= 0)
                r = check_destinations(o, err);
        if (r < 0)
                goto done;
        b.plan = &plan;
        b.pulled = sb_xcalloc(plan.n_stages, sizeof(*b.pulled));

        r = check_store_root(store_root, err);
        if (r < 0)
                goto done;
        r = image_store_open(store_root, &store, err);
        if (r < 0) {
                sb_error_prefix(err, "store");
                goto done;
        }
        struct sandbox_userns_plan userns;
        r = sandbox_userns_plan_detect(&userns, err);
        if (r < 0)
                goto done;
        sb_info("user namespace: %s", userns.description);
        if (userns.mode == SANDBOX_USERNS_SINGLE)
                sb_warn("no subordinate id range for this user: only the caller is mapped, so "
                        "files can belong only to root inside the build (add a range to "
                        "/etc/subuid and /etc/subgid)");
        r = hand_store_to_builder(store, &userns, err);
        if (r < 0)
                goto done;
        if (userns.mode == SANDBOX_USERNS_ROOT) {
                /* the builder is not the host's root: show it the context through an id-mapped
                 * mount, so it reads what the calling root can read */
                sb_error_t ierr = { 0 };
                if (sandbox_userns_open_idmapped(&userns, o->context, &idmapped_fd, &ierr) == 0)
                        b.context_fd = idmapped_fd;
                else
                        sb_warn("%s: the builder reads the context as an unprivileged user, so "
                                "files must be readable by others",
                                ierr.msg);
        }

        struct registry_options ropts = {
                .insecure = o->insecure,
                .insecure_pull = o->insecure_pull,
                .skip_tls_verify = o->skip_tls_verify,
                .store_root = store->root,
                .skip_tls_verify_pull = o->skip_tls_verify_pull,
                .insecure_registries = o->insecure_registries,
                .skip_tls_verify_registries = o->skip_tls_verify_registries,
                .registry_certificates = o->registry_certificates,
                .registry_client_certs = o->registry_client_certs,
                .registry_mirrors = o->registry_mirrors,
                .registry_maps = o->registry_maps,
                .push_retry = o->push_retry,
                .pull_retry = o->pull_retry,
        };
        r = registry_agent_start(&ropts, &agent, err);
        if (r < 0)
                goto done;
        r = check_push_access(o, agent, err);
        if (r >= 0)
                r = pull_bases(&b, agent, err);
        if (r >= 0)
                r = build_fetch_remote_sources(&b, agent, err);
        if (r < 0)
                goto done;
        if (!o->no_push)
                upload_base_layers(&b, agent);

        /* the builder mounts overlays under the store, so it needs a path to it in its own
         * mount namespace (an inherited fd would point into ours, where it cannot mount) */
        store_path = sb_xstrdup(store->root);
        b.store_path = store_path;
        r = run_builder(&b, agent, &userns, ret, err);
        if (r < 0)
                goto done;
        r = write_outputs(o, store, agent, ret, err);
        if (r < 0)
                goto done;
        sb_info("built %s in %.1fs", ret->manifest_digest, sb_now() - t0);
done:
        registry_agent_stop(agent);
        for (size_t i = 0; b.pulled && i < plan.n_stages; i++)
                registry_pulled_done(&b.pulled[i]);
        free(b.pulled);
        sb_strv_free(b.fetched);
        build_ignore_free(b.ignore);
        image_store_free(store);
        build_plan_done(&plan);
        dockerfile_free(df);
        return r;
}
