/*
 * The registry agent process and the supervisor's side of its socket. The agent is forked
 * early, holds the only copy of registry credentials, and answers "pull", "push" and "quit"
 * requests (see registry_proto.h for the framing).
 */
#include "registry/registry_agent.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/sb_cleanup.h"
#include "common/sb_log.h"
#include "common/sb_util.h"
#include "image/image_store.h"
#include "registry/registry_client.h"
#include "registry/registry_download.h"
#include "registry/registry_mirror.h"
#include "registry/registry_proto.h"
#include "registry/registry_seccomp.h"
#include "registry/registry_ref.h"
#include "registry/registry_upload.h"

struct registry_agent {
        pid_t pid;
        int fd;
};

/* ---- agent side ---- */

/* The agent process's background uploads (one agent per process, created in agent_main). */
static struct registry_uploads *agent_uploads;
/* The agent's socket, which download workers close (set in agent_main). */
static int agent_sock = -1;

static json_t *desc_to_json(const struct image_descriptor *d)
{
        return json_pack("{s:s, s:s, s:I}", "mediaType", d->media_type, "digest", d->digest, "size",
                         (json_int_t) d->size);
}

static bool is_index_type(const char *mt)
{
        return strcmp(mt, IMAGE_MT_OCI_INDEX) == 0 || strcmp(mt, IMAGE_MT_DOCKER_LIST) == 0;
}

static bool is_manifest_type(const char *mt)
{
        return strcmp(mt, IMAGE_MT_OCI_MANIFEST) == 0 || strcmp(mt, IMAGE_MT_DOCKER_MANIFEST) == 0;
}

/* The config and the layers of m into the store, in parallel (see registry_download.h). */
static int fetch_blobs(struct registry_client *c, const struct image_store *s,
                       const struct image_manifest *m, sb_error_t *err)
{
        if (m->config.size > IMAGE_CONFIG_MAX)
                return sb_error_set(err, EFBIG, "blob %s is %llu bytes, more than the %llu allowed",
                                    m->config.digest, (unsigned long long) m->config.size,
                                    (unsigned long long) IMAGE_CONFIG_MAX);
        cleanup_free struct image_descriptor *d = sb_xmalloc((m->n_layers + 1) * sizeof(*d));
        d[0] = m->config;
        for (size_t i = 0; i < m->n_layers; i++)
                d[i + 1] = m->layers[i];
        return registry_download_blobs(c, s, d, m->n_layers + 1, agent_sock, err);
}

/* Pull from one source: ref names the registry and repository to ask; the reply names
 * the image as the user wrote it (name). */
static int pull_source(const struct image_store *s, const struct registry_options *opts,
                       const struct registry_ref *ref, const char *name, const char *os,
                       const char *arch, const char *variant, json_t **ret, sb_error_t *err)
{
        struct registry_client *c = NULL;
        struct image_index *idx = NULL;
        struct image_manifest *m = NULL;
        cleanup_free char *body = NULL;
        cleanup_free char *ctype = NULL;
        char top[SB_DIGEST_STR_LEN + 1], digest[SB_DIGEST_STR_LEN + 1];
        char stored[SB_DIGEST_STR_LEN + 1];
        const char *kind;
        size_t len = 0;
        json_t *layers;
        int r;

        r = registry_client_new(opts, ref, false, &c, err);
        if (r < 0)
                goto out;
        r = registry_client_get_manifest(c, ref->digest ? ref->digest : ref->tag, &body, &len,
                                         &ctype, top, err);
        if (r < 0)
                goto out;
        memcpy(digest, top, sizeof(digest));
        kind = image_manifest_kind(body, len, ctype);
        if (kind && is_index_type(kind)) {
                const struct image_descriptor *sel = NULL;
                const char *hos, *harch, *hvar;

                image_host_platform(&hos, &harch, &hvar);
                if (!os || !*os)
                        os = hos;
                if (!arch || !*arch) {
                        arch = harch;
                        if (!variant)
                                variant = hvar;
                }
                r = image_index_parse(body, len, &idx, err);
                if (r < 0)
                        goto out;
                r = image_store_put_blob(s, body, len, stored, err);
                if (r < 0)
                        goto out;
                r = image_index_select(idx, os, arch, variant, &sel, err);
                if (r < 0)
                        goto out;
                memcpy(digest, sel->digest, sizeof(digest));
                free(body);
                free(ctype);
                body = ctype = NULL;
                r = registry_client_get_manifest(c, digest, &body, &len, &ctype, digest, err);
                if (r < 0)
                        goto out;
                /* the digest matched (checked by get_manifest); the size must too */
                if (len != sel->size) {
                        r = sb_error_set(err, EBADMSG,
                                         "manifest %s is %zu bytes, the index says %llu", digest,
                                         len, (unsigned long long) sel->size);
                        goto out;
                }
                kind = image_manifest_kind(body, len, ctype);
        }
        if (!kind || !is_manifest_type(kind)) {
                r = sb_error_set(err, EPROTONOSUPPORT, "unsupported manifest type '%s'",
                                 kind ? kind : (ctype ? ctype : "unknown"));
                goto out;
        }
        r = image_manifest_parse(body, len, &m, err);
        if (r < 0)
                goto out;
        r = image_store_put_blob(s, body, len, stored, err);
        if (r < 0)
                goto out;
        r = fetch_blobs(c, s, m, err);
        if (r < 0)
                goto out;

        layers = json_array();
        for (size_t i = 0; i < m->n_layers; i++)
                json_array_append_new(layers, desc_to_json(&m->layers[i]));
        *ret = json_pack("{s:b, s:s++, s:s, s:o, s:o}", "ok", 1, "resolved", name, "@", top,
                         "manifest_digest", digest, "config", desc_to_json(&m->config), "layers",
                         layers);
        r = 0;
out:
        image_manifest_free(m);
        image_index_free(idx);
        registry_client_free(c);
        return r;
}

/*
 * The "pull" request: try each source (--registry-map targets, then --registry-mirror for
 * Docker Hub images, then the image's own registry) in order until one delivers the image.
 * Every source's content is digest-checked the same way, so a mirror cannot substitute
 * another image for a digest reference; for a tag it is trusted as Kaniko trusts it.
 */
static int do_pull(const struct image_store *s, const struct registry_options *opts,
                   const char *ref_s, const char *os, const char *arch, const char *variant,
                   json_t **ret, sb_error_t *err)
{
        struct registry_ref *ref = NULL;
        struct registry_source *src = NULL;
        cleanup_free char *name = NULL;
        size_t n_src = 0;
        int r;

        r = registry_ref_parse(ref_s, &ref, err);
        if (r < 0)
                return r;
        r = registry_mirror_sources(opts, ref, &src, &n_src, err);
        if (r < 0)
                goto out;
        name = registry_ref_name(ref);
        for (size_t i = 0; i < n_src; i++) {
                struct registry_ref at = { .registry = src[i].registry,
                                           .repository = src[i].repository,
                                           .tag = ref->tag,
                                           .digest = ref->digest };
                sb_error_t e = { 0 };

                r = pull_source(s, opts, &at, name, os, arch, variant, ret, &e);
                if (r >= 0) {
                        if (!src[i].original)
                                sb_debug("registry: pulled %s from %s/%s", ref_s, at.registry,
                                         at.repository);
                        break;
                }
                if (src[i].original) {
                        if (err)
                                *err = e;
                        if (n_src > 1 && err) {
                                size_t l = strlen(err->msg);
                                snprintf(err->msg + l, sizeof(err->msg) - l,
                                         " (after %zu registry mirror/map source%s failed)",
                                         n_src - 1, n_src > 2 ? "s" : "");
                        }
                        break;
                }
                sb_debug("registry: %s/%s failed for %s: %s", at.registry, at.repository, ref_s,
                         e.msg);
        }
out:
        registry_sources_free(src, n_src);
        registry_ref_free(ref);
        return r;
}

/*
 * Open d's blob in layout when the store lacks it, checked against d (*ret_fd stays -1 when
 * the store has it or there is no layout).
 */
static int open_layout_blob(const struct image_store *s, const char *layout,
                            const struct image_descriptor *d, int *ret_fd, sb_error_t *err)
{
        *ret_fd = -1;
        if (!layout || image_store_has_blob(s, d->digest))
                return 0;
        cleanup_close int dfd = open(layout, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return sb_error_errno(err, errno, "layout blobs '%s'", layout);
        return registry_client_open_blob_file(dfd, d->digest, d->size, ret_fd, err);
}

/*
 * layout (may be NULL): an OCI layout's blobs/sha256 directory holding the blobs the store
 * lacks; each is checked against its descriptor before it is sent.
 */
static int do_push(const struct image_store *s, const struct registry_options *opts,
                   const char *ref_s, const char *manifest_digest, const char *layout,
                   json_t **ret, sb_error_t *err)
{
        struct registry_ref *ref = NULL;
        struct registry_client *c = NULL;
        struct image_manifest *m = NULL;
        cleanup_free char *body = NULL;
        char digest[SB_DIGEST_STR_LEN + 1];
        const char *kind;
        size_t len = 0;
        int r;

        r = registry_ref_parse(ref_s, &ref, err);
        if (r < 0)
                return r;
        if (!sb_digest_valid(manifest_digest)) {
                r = sb_error_set(err, EINVAL, "invalid manifest digest");
                goto out;
        }
        if (ref->digest && strcmp(ref->digest, manifest_digest) != 0) {
                r = sb_error_set(err, EINVAL, "the reference's digest is not the image's digest %s",
                                 manifest_digest);
                goto out;
        }
        r = image_store_read_blob(s, manifest_digest, IMAGE_MANIFEST_MAX, &body, &len, err);
        if (r < 0)
                goto out;
        kind = image_manifest_kind(body, len, NULL);
        if (!kind || !is_manifest_type(kind)) {
                r = sb_error_set(err, EINVAL, "%s is not an image manifest", manifest_digest);
                goto out;
        }
        r = image_manifest_parse(body, len, &m, err);
        if (r < 0)
                goto out;
        r = registry_client_new(opts, ref, true, &c, err);
        if (r < 0)
                goto out;
        /* the blobs go up in parallel workers (joining uploads started during the build);
         * then each is checked here, and one a worker failed on is uploaded again so that
         * its error is the push's */
        for (size_t i = 0; agent_uploads && i <= m->n_layers; i++) {
                const struct image_descriptor *d = i == 0 ? &m->config : &m->layers[i - 1];
                sb_error_t qerr = { 0 };
                if (registry_uploads_queue(agent_uploads, ref_s, d->digest, layout, d->size,
                                           &qerr) < 0)
                        sb_debug("registry: %s", qerr.msg);
        }
        registry_uploads_wait(agent_uploads);
        for (size_t i = 0; i <= m->n_layers; i++) {
                const struct image_descriptor *d = i == 0 ? &m->config : &m->layers[i - 1];
                bool exists = false;

                /* a worker of this agent put it there (or found it there, after checking a
                 * layout blob) just now */
                if (registry_uploads_known(agent_uploads, d->digest, ref->registry,
                                           ref->repository))
                        continue;
                cleanup_close int fd = -1;
                r = open_layout_blob(s, layout, d, &fd, err);
                if (r < 0)
                        goto out;
                r = registry_client_has_blob(c, d->digest, &exists, err);
                if (r < 0)
                        goto out;
                if (exists) {
                        sb_debug("registry: %s already has %s", ref->registry, d->digest);
                        continue;
                }
                char **from = registry_uploads_sources(agent_uploads, d->digest, ref->registry,
                                                       ref->repository);
                struct registry_push_blob_opts po = { .mount_from = (const char *const *) from };
                if (fd >= 0)
                        r = registry_client_push_blob_fd(c, fd, d->digest, &po, NULL, err);
                else
                        r = registry_client_push_blob(c, s, d->digest, &po, NULL, err);
                sb_strv_free(from);
                if (r < 0)
                        goto out;
                registry_uploads_note(agent_uploads, d->digest, ref->registry, ref->repository);
        }
        r = registry_client_put_manifest(c, ref->tag ? ref->tag : ref->digest, kind, body, len,
                                         digest, err);
        if (r < 0)
                goto out;
        *ret = json_pack("{s:b, s:s}", "ok", 1, "digest", digest);
out:
        image_manifest_free(m);
        registry_client_free(c);
        registry_ref_free(ref);
        return r;
}

static json_t *error_reply(const sb_error_t *e)
{
        return json_pack("{s:b, s:i, s:s}", "ok", 0, "code", e->code > 0 ? e->code : EIO, "message",
                         e->msg[0] ? e->msg : "unknown error");
}

/* {"op":"fetch","url":...,"checksum":...?} -> {"digest","size","name","last_modified"} */
static json_t *handle_fetch(const struct image_store *s, const sb_error_t *store_err,
                            const struct registry_options *opts, json_t *req)
{
        const char *url = json_string_value(json_object_get(req, "url"));
        const char *checksum = json_string_value(json_object_get(req, "checksum"));
        struct registry_fetched f = { 0 };
        sb_error_t err = { 0 };

        if (!s)
                return error_reply(store_err);
        if (!url) {
                sb_error_set(&err, EINVAL, "fetch without a url");
                return error_reply(&err);
        }
        if (registry_fetch_url(opts, s, url, checksum, REGISTRY_FETCH_MAX, &f, &err) < 0)
                return error_reply(&err);
        json_t *reply = json_pack("{s:b, s:s, s:I, s:s, s:I}", "ok", 1, "digest", f.digest,
                                  "size", (json_int_t) f.size, "name", f.name, "last_modified",
                                  (json_int_t) f.last_modified);
        registry_fetched_done(&f);
        return reply;
}

/*
 * {"op":"upload","ref":DEST,"digest":D,"from":["host/repo",...]?}: queue a background
 * upload of a store blob (from: where the blob is known to be, for mounts) and answer at once.
 */
static json_t *handle_upload(const struct image_store *s, const sb_error_t *store_err,
                             json_t *req)
{
        const char *ref = json_string_value(json_object_get(req, "ref"));
        const char *digest = json_string_value(json_object_get(req, "digest"));
        json_t *from = json_object_get(req, "from");
        sb_error_t err = { 0 };
        size_t i;
        json_t *v;

        if (!s)
                return error_reply(store_err);
        if (!ref || !digest || !sb_digest_valid(digest)) {
                sb_error_set(&err, EINVAL, "upload needs a ref and a blob digest");
                return error_reply(&err);
        }
        json_array_foreach (from, i, v) {
                struct registry_ref *src = NULL;
                const char *name = json_string_value(v);
                if (name && registry_ref_parse(name, &src, NULL) == 0)
                        registry_uploads_note(agent_uploads, digest, src->registry,
                                              src->repository);
                registry_ref_free(src);
        }
        if (!image_store_has_blob(s, digest)) {
                sb_error_set(&err, ENOENT, "upload: %s is not in the store", digest);
                return error_reply(&err);
        }
        if (registry_uploads_add(agent_uploads, ref, digest, &err) < 0) {
                sb_error_prefix(&err, "upload to '%.200s'", ref);
                return error_reply(&err);
        }
        return json_pack("{s:b}", "ok", 1);
}

/* {"op":"check_push","ref":DEST}: may we push there? */
static json_t *handle_check_push(const struct registry_options *opts, json_t *req)
{
        const char *ref_s = json_string_value(json_object_get(req, "ref"));
        struct registry_ref *ref = NULL;
        struct registry_client *c = NULL;
        sb_error_t err = { 0 };
        int r;

        r = registry_ref_parse(ref_s ? ref_s : "", &ref, &err);
        if (r >= 0)
                r = registry_client_new(opts, ref, true, &c, &err);
        if (r >= 0)
                r = registry_client_check_push(c, &err);
        registry_client_free(c);
        registry_ref_free(ref);
        if (r < 0) {
                sb_error_prefix(&err, "no push access to '%.200s'", ref_s ? ref_s : "");
                return error_reply(&err);
        }
        return json_pack("{s:b}", "ok", 1);
}

static json_t *handle(const struct image_store *s, const sb_error_t *store_err,
                      const struct registry_options *opts, json_t *req)
{
        const char *op = json_string_value(json_object_get(req, "op"));
        const char *ref = json_string_value(json_object_get(req, "ref"));
        json_t *reply = NULL;
        sb_error_t err = { 0 };

        if (op && strcmp(op, "fetch") == 0)
                return handle_fetch(s, store_err, opts, req);
        if (op && strcmp(op, "upload") == 0)
                return handle_upload(s, store_err, req);
        if (op && strcmp(op, "check_push") == 0)
                return handle_check_push(opts, req);
        if (!op || !ref) {
                sb_error_set(&err, EINVAL, "malformed request to the registry agent");
                return error_reply(&err);
        }
        if (strcmp(op, "pull") == 0) {
                if (!s)
                        err = *store_err;
                else
                        do_pull(s, opts, ref, json_string_value(json_object_get(req, "os")),
                                json_string_value(json_object_get(req, "arch")),
                                json_string_value(json_object_get(req, "variant")), &reply, &err);
                if (!reply)
                        sb_error_prefix(&err, "pull '%.200s'", ref);
        } else if (strcmp(op, "push") == 0) {
                const char *md = json_string_value(json_object_get(req, "manifest_digest"));
                const char *layout = json_string_value(json_object_get(req, "layout"));
                if (!s)
                        err = *store_err;
                else if (!md)
                        sb_error_set(&err, EINVAL, "no manifest digest");
                else if (layout && layout[0] != '/')
                        sb_error_set(&err, EINVAL, "the layout path must be absolute");
                else
                        do_push(s, opts, ref, md, layout, &reply, &err);
                if (!reply)
                        sb_error_prefix(&err, "push '%.200s'", ref);
        } else {
                sb_error_set(&err, EINVAL, "unknown request '%.40s' to the registry agent", op);
        }
        return reply ? reply : error_reply(&err);
}

/* Leave only the socket (as fd 3), stderr, and /dev/null on stdin/stdout. */
static int isolate_fds(int sock)
{
        int devnull;

        if (sock != 3) {
                if (dup3(sock, 3, O_CLOEXEC) < 0)
                        return -1;
                close(sock);
        }
        devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0)
                return -1;
        if (close_range(4, ~0U, 0) < 0) {
                long max = sysconf(_SC_OPEN_MAX);
                if (max < 0 || max > 65536)
                        max = 65536;
                for (int fd = 4; fd < max; fd++)
                        close(fd);
        }
        return 3;
}

static void __attribute__((noreturn))
agent_main(int sock, pid_t parent, const struct registry_options *opts)
{
        struct image_store *store = NULL;
        sb_error_t store_err = { 0 };

        /* Die with the supervisor; not ptrace-able or core-dumpable by other same-uid
         * processes, since this process holds credentials. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                _exit(1);
        if (prctl(PR_SET_DUMPABLE, 0) < 0)
                _exit(1);
        signal(SIGPIPE, SIG_IGN);
        sock = isolate_fds(sock);
        if (sock < 0)
                _exit(1);
        sb_error_t filter_err = { 0 };
        if (registry_seccomp_apply(&filter_err) < 0) {
                sb_log(SB_LOG_ERROR, "registry agent: %s", filter_err.msg);
                _exit(1);
        }
        if (image_store_open(opts->store_root, &store, &store_err) < 0)
                sb_error_prefix(&store_err, "registry agent");
        agent_uploads = registry_uploads_new(store, opts, sock);
        agent_sock = sock;

        for (;;) {
                json_t *req = NULL, *reply;
                const char *op;

                /* keep background uploads moving while no request comes */
                while (registry_uploads_busy(agent_uploads)) {
                        struct pollfd p = { .fd = sock, .events = POLLIN };
                        registry_uploads_pump(agent_uploads);
                        if (poll(&p, 1, 50) != 0)
                                break;
                }
                if (registry_proto_recv(sock, &req, NULL) < 0)
                        break;
                op = json_string_value(json_object_get(req, "op"));
                if (op && strcmp(op, "quit") == 0) {
                        json_decref(req);
                        break;
                }
                reply = handle(store, &store_err, opts, req);
                json_decref(req);
                if (registry_proto_send(sock, reply, NULL) < 0) {
                        json_decref(reply);
                        break;
                }
                json_decref(reply);
        }
        registry_uploads_free(agent_uploads);
        image_store_free(store);
        _exit(0);
}

/* ---- supervisor side ---- */

int registry_agent_start(const struct registry_options *opts, struct registry_agent **ret,
                         sb_error_t *err)
{
        int sv[2];
        pid_t parent = getpid(), pid;
        struct registry_agent *a;

        if (!opts || !opts->store_root)
                return sb_error_set(err, EINVAL, "registry agent needs a store");
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return sb_error_errno(err, errno, "socketpair for the registry agent");
        pid = fork();
        if (pid < 0) {
                int e = errno;
                close(sv[0]);
                close(sv[1]);
                return sb_error_errno(err, e, "forking the registry agent");
        }
        if (pid == 0) {
                close(sv[0]);
                agent_main(sv[1], parent, opts);
        }
        close(sv[1]);
        a = sb_xcalloc(1, sizeof(*a));
        a->pid = pid;
        a->fd = sv[0];
        *ret = a;
        return 0;
}

int registry_agent_pid(const struct registry_agent *a)
{
        return a ? (int) a->pid : -1;
}

static void reap(struct registry_agent *a, bool wait_long)
{
        int status;
        double deadline = sb_now() + (wait_long ? 5.0 : 0.5);

        if (a->pid <= 0)
                return;
        for (;;) {
                pid_t p = waitpid(a->pid, &status, WNOHANG);
                if (p == a->pid || (p < 0 && errno != EINTR))
                        break;
                if (p == 0 && sb_now() > deadline) {
                        kill(a->pid, SIGKILL);
                        waitpid(a->pid, &status, 0);
                        break;
                }
                nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
        }
        a->pid = -1;
}

void registry_agent_stop(struct registry_agent *a)
{
        if (!a)
                return;
        if (a->fd >= 0) {
                json_t *q = json_pack("{s:s}", "op", "quit");
                registry_proto_send(a->fd, q, NULL);
                json_decref(q);
                close(a->fd);
        }
        reap(a, true);
        free(a);
}

static int agent_dead(struct registry_agent *a, sb_error_t *err)
{
        int status = 0;
        pid_t p;

        if (a->pid <= 0)
                return sb_error_set(err, EPIPE, "the registry agent is not running");
        do
                p = waitpid(a->pid, &status, 0);
        while (p < 0 && errno == EINTR);
        a->pid = -1;
        if (p > 0 && WIFSIGNALED(status))
                return sb_error_set(err, EPIPE, "the registry agent was killed by signal %d",
                                    WTERMSIG(status));
        if (p > 0 && WIFEXITED(status))
                return sb_error_set(err, EPIPE, "the registry agent exited with status %d",
                                    WEXITSTATUS(status));
        return sb_error_set(err, EPIPE, "the registry agent is gone");
}

/* Send req (consumed) and wait for the reply; an {"ok":false} reply becomes err. */
static int agent_call(struct registry_agent *a, json_t *req, json_t **ret, sb_error_t *err)
{
        json_t *reply = NULL;
        int r;

        if (!a || a->fd < 0) {
                json_decref(req);
                return sb_error_set(err, EPIPE, "the registry agent is not running");
        }
        r = registry_proto_send(a->fd, req, err);
        json_decref(req);
        if (r == -EPIPE || r == -ECONNRESET)
                return agent_dead(a, err);
        if (r < 0)
                return r;
        r = registry_proto_recv(a->fd, &reply, err);
        if (r == -ECONNRESET)
                return agent_dead(a, err);
        if (r < 0)
                return r;
        if (!json_is_true(json_object_get(reply, "ok"))) {
                const char *msg = json_string_value(json_object_get(reply, "message"));
                json_int_t code = json_integer_value(json_object_get(reply, "code"));
                if (code <= 0 || code > 4095)
                        code = EIO;
                r = sb_error_set(err, (int) code, "%s", msg ? msg : "registry agent failed");
                json_decref(reply);
                return r;
        }
        *ret = reply;
        return 0;
}

static int desc_from_json(json_t *j, struct image_descriptor *d)
{
        const char *mt = json_string_value(json_object_get(j, "mediaType"));
        const char *dg = json_string_value(json_object_get(j, "digest"));
        json_t *size = json_object_get(j, "size");

        if (!mt || strlen(mt) >= sizeof(d->media_type) || !dg || !sb_digest_valid(dg) ||
            !json_is_integer(size) || json_integer_value(size) < 0)
                return -EBADMSG;
        memcpy(d->media_type, mt, strlen(mt) + 1);
        memcpy(d->digest, dg, SB_DIGEST_STR_LEN + 1);
        d->size = (uint64_t) json_integer_value(size);
        return 0;
}

void registry_pulled_done(struct registry_pulled *p)
{
        if (!p)
                return;
        free(p->resolved);
        free(p->layers);
        memset(p, 0, sizeof(*p));
}

int registry_agent_pull(struct registry_agent *a, const char *ref, const char *os, const char *arch,
                        const char *variant, struct registry_pulled *ret, sb_error_t *err)
{
        struct registry_pulled p = { 0 };
        json_t *req, *reply = NULL, *layers;
        const char *resolved, *md;
        int r;

        req = json_pack("{s:s, s:s}", "op", "pull", "ref", ref ? ref : "");
        if (os)
                json_object_set_new(req, "os", json_string(os));
        if (arch)
                json_object_set_new(req, "arch", json_string(arch));
        if (variant)
                json_object_set_new(req, "variant", json_string(variant));
        r = agent_call(a, req, &reply, err);
        if (r < 0)
                return r;

        resolved = json_string_value(json_object_get(reply, "resolved"));
        md = json_string_value(json_object_get(reply, "manifest_digest"));
        layers = json_object_get(reply, "layers");
        if (!resolved || !md || !sb_digest_valid(md) || !json_is_array(layers) ||
            json_array_size(layers) > IMAGE_LAYERS_MAX ||
            desc_from_json(json_object_get(reply, "config"), &p.config) < 0)
                goto bad;
        p.resolved = sb_xstrdup(resolved);
        memcpy(p.manifest_digest, md, SB_DIGEST_STR_LEN + 1);
        p.n_layers = json_array_size(layers);
        p.layers = sb_xcalloc(p.n_layers ? p.n_layers : 1, sizeof(*p.layers));
        for (size_t i = 0; i < p.n_layers; i++)
                if (desc_from_json(json_array_get(layers, i), &p.layers[i]) < 0)
                        goto bad;
        json_decref(reply);
        *ret = p;
        return 0;
bad:
        registry_pulled_done(&p);
        json_decref(reply);
        return sb_error_set(err, EBADMSG, "pull '%s': malformed reply from the registry agent",
                            ref);
}

int registry_agent_push(struct registry_agent *a, const char *ref, const char *manifest_digest,
                        char ret_digest[SB_DIGEST_STR_LEN + 1], sb_error_t *err)
{
        return registry_agent_push_layout(a, ref, manifest_digest, NULL, ret_digest, err);
}

int registry_agent_push_layout(struct registry_agent *a, const char *ref,
                               const char *manifest_digest, const char *layout_blobs,
                               char ret_digest[SB_DIGEST_STR_LEN + 1], sb_error_t *err)
{
        json_t *req, *reply = NULL;
        const char *d;
        int r;

        req = json_pack("{s:s, s:s, s:s}", "op", "push", "ref", ref ? ref : "", "manifest_digest",
                        manifest_digest ? manifest_digest : "");
        if (req && layout_blobs)
                json_object_set_new(req, "layout", json_string(layout_blobs));
        r = agent_call(a, req, &reply, err);
        if (r < 0)
                return r;
        d = json_string_value(json_object_get(reply, "digest"));
        if (!d || !sb_digest_valid(d)) {
                json_decref(reply);
                return sb_error_set(err, EBADMSG,
                                    "push '%s': malformed reply from the registry "
                                    "agent",
                                    ref);
        }
        memcpy(ret_digest, d, SB_DIGEST_STR_LEN + 1);
        json_decref(reply);
        return 0;
}

int registry_agent_upload(struct registry_agent *a, const char *ref, const char *digest,
                          char *const *from, sb_error_t *err)
{
        json_t *req, *reply = NULL, *list = json_array();
        int r;

        for (size_t i = 0; from && from[i]; i++)
                json_array_append_new(list, json_string(from[i]));
        req = json_pack("{s:s, s:s, s:s, s:o}", "op", "upload", "ref", ref ? ref : "", "digest",
                        digest ? digest : "", "from", list);
        r = agent_call(a, req, &reply, err);
        json_decref(reply);
        return r;
}

int registry_agent_check_push(struct registry_agent *a, const char *ref, sb_error_t *err)
{
        json_t *req, *reply = NULL;
        int r;

        req = json_pack("{s:s, s:s}", "op", "check_push", "ref", ref ? ref : "");
        r = agent_call(a, req, &reply, err);
        json_decref(reply);
        return r;
}

void registry_fetched_done(struct registry_fetched *f)
{
        if (!f)
                return;
        free(f->name);
        memset(f, 0, sizeof(*f));
}

int registry_agent_fetch(struct registry_agent *a, const char *url, const char *checksum,
                         struct registry_fetched *ret, sb_error_t *err)
{
        json_t *req, *reply = NULL;
        int r;

        req = json_pack("{s:s, s:s}", "op", "fetch", "url", url ? url : "");
        if (checksum)
                json_object_set_new(req, "checksum", json_string(checksum));
        r = agent_call(a, req, &reply, err);
        if (r < 0)
                return r;
        const char *d = json_string_value(json_object_get(reply, "digest"));
        const char *name = json_string_value(json_object_get(reply, "name"));
        json_t *size = json_object_get(reply, "size");
        json_t *lm = json_object_get(reply, "last_modified");
        if (!d || !sb_digest_valid(d) || !name || !*name || strchr(name, '/') ||
            !json_is_integer(size) || json_integer_value(size) < 0 || !json_is_integer(lm)) {
                json_decref(reply);
                return sb_error_set(err, EBADMSG, "fetch '%s': malformed reply from the "
                                    "registry agent", url);
        }
        memcpy(ret->digest, d, SB_DIGEST_STR_LEN + 1);
        ret->size = (uint64_t) json_integer_value(size);
        ret->name = sb_xstrdup(name);
        ret->last_modified = (int64_t) json_integer_value(lm);
        json_decref(reply);
        return 0;
}
