/* The agent's background blob uploads: a bounded pool of forked workers. */
#include "registry/registry_upload.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/sb_cleanup.h"
#include "common/sb_log.h"
#include "common/sb_util.h"
#include "registry/registry_client.h"
#include "registry/registry_ref.h"

/* Bounds on what one build can queue: far above any real image's layers x destinations. */
#define JOBS_MAX 4096
#define KNOWN_MAX 16384

enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_FAILED };

struct job {
        char *ref; /* the destination as given, for the worker's client */
        char *host, *repo;
        char digest[SB_DIGEST_STR_LEN + 1];
        enum job_state state;
        pid_t pid; /* the worker (several jobs of one destination may share one) */
        char *layout; /* a layout's blobs/sha256 to read the blob from when not in the store */
        uint64_t size; /* the blob's size when read from layout */
};

struct known {
        char digest[SB_DIGEST_STR_LEN + 1];
        char *host, *repo;
};

struct registry_uploads {
        const struct image_store *store;
        const struct registry_options *opts;
        int close_fd;
        struct job *jobs;
        size_t n_jobs;
        struct known *known;
        size_t n_known;
        size_t n_workers;
};

struct registry_uploads *registry_uploads_new(const struct image_store *s,
                                              const struct registry_options *opts, int close_fd)
{
        struct registry_uploads *u = sb_xcalloc(1, sizeof(*u));
        u->store = s;
        u->opts = opts;
        u->close_fd = close_fd;
        return u;
}

void registry_uploads_free(struct registry_uploads *u)
{
        if (!u)
                return;
        for (size_t i = 0; i < u->n_jobs; i++) {
                struct job *j = &u->jobs[i];
                if (j->state == JOB_RUNNING && j->pid > 0) {
                        kill(j->pid, SIGKILL);
                        while (waitpid(j->pid, NULL, 0) < 0 && errno == EINTR)
                                ;
                }
                free(j->ref);
                free(j->host);
                free(j->repo);
                free(j->layout);
        }
        for (size_t i = 0; i < u->n_known; i++) {
                free(u->known[i].host);
                free(u->known[i].repo);
        }
        free(u->jobs);
        free(u->known);
        free(u);
}

void registry_uploads_note(struct registry_uploads *u, const char *digest, const char *host,
                           const char *repo)
{
        if (!u || !sb_digest_valid(digest) || u->n_known >= KNOWN_MAX)
                return;
        for (size_t i = 0; i < u->n_known; i++) {
                const struct known *k = &u->known[i];
                if (strcmp(k->digest, digest) == 0 && strcmp(k->host, host) == 0 &&
                    strcmp(k->repo, repo) == 0)
                        return;
        }
        u->known = sb_xrealloc(u->known, (u->n_known + 1) * sizeof(*u->known));
        struct known *k = &u->known[u->n_known++];
        memcpy(k->digest, digest, sizeof(k->digest));
        k->host = sb_xstrdup(host);
        k->repo = sb_xstrdup(repo);
}

char **registry_uploads_sources(const struct registry_uploads *u, const char *digest,
                                const char *host, const char *repo)
{
        char **v = NULL;
        for (size_t i = 0; u && i < u->n_known; i++) {
                const struct known *k = &u->known[i];
                if (strcmp(k->digest, digest) == 0 && strcmp(k->host, host) == 0 &&
                    strcmp(k->repo, repo) != 0)
                        sb_strv_push(&v, k->repo);
        }
        return v;
}

bool registry_uploads_known(const struct registry_uploads *u, const char *digest,
                            const char *host, const char *repo)
{
        for (size_t i = 0; u && i < u->n_known; i++) {
                const struct known *k = &u->known[i];
                if (strcmp(k->digest, digest) == 0 && strcmp(k->host, host) == 0 &&
                    strcmp(k->repo, repo) == 0)
                        return true;
        }
        return false;
}

int registry_uploads_add(struct registry_uploads *u, const char *ref_s, const char *digest,
                         sb_error_t *err)
{
        int r = registry_uploads_queue(u, ref_s, digest, NULL, 0, err);
        registry_uploads_pump(u);
        return r;
}

int registry_uploads_queue(struct registry_uploads *u, const char *ref_s, const char *digest,
                           const char *layout, uint64_t size, sb_error_t *err)
{
        struct registry_ref *ref = NULL;
        int r;

        if (!sb_digest_valid(digest))
                return sb_error_set(err, EINVAL, "invalid blob digest");
        r = registry_ref_parse(ref_s, &ref, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < u->n_jobs; i++) {
                const struct job *j = &u->jobs[i];
                if (j->state != JOB_FAILED && strcmp(j->digest, digest) == 0 &&
                    strcmp(j->host, ref->registry) == 0 && strcmp(j->repo, ref->repository) == 0)
                        goto out;
        }
        if (u->n_jobs >= JOBS_MAX) {
                r = sb_error_set(err, E2BIG, "more than %d uploads queued", JOBS_MAX);
                goto out;
        }
        u->jobs = sb_xrealloc(u->jobs, (u->n_jobs + 1) * sizeof(*u->jobs));
        struct job *j = &u->jobs[u->n_jobs++];
        memset(j, 0, sizeof(*j));
        j->ref = sb_xstrdup(ref_s);
        j->host = sb_xstrdup(ref->registry);
        j->repo = sb_xstrdup(ref->repository);
        memcpy(j->digest, digest, sizeof(j->digest));
        j->state = JOB_QUEUED;
        j->pid = -1;
        j->layout = layout ? sb_xstrdup(layout) : NULL;
        j->size = size;
out:
        registry_ref_free(ref);
        return r;
}

/* One job in a worker: skip what the registry has, else mount or upload. */
static int worker_job(struct registry_uploads *u, struct registry_client *c, const struct job *j,
                      sb_error_t *err)
{
        cleanup_close int fd = -1;
        bool exists = false;
        int r = 0;

        /* a layout blob is checked even when the registry has it: bad input is reported */
        if (j->layout && !image_store_has_blob(u->store, j->digest)) {
                cleanup_close int dfd = open(j->layout, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dfd < 0)
                        return sb_error_errno(err, errno, "layout blobs '%s'", j->layout);
                r = registry_client_open_blob_file(dfd, j->digest, j->size, &fd, err);
                if (r < 0)
                        return r;
        }
        r = registry_client_has_blob(c, j->digest, &exists, err);
        if (r < 0)
                return r;
        if (exists) {
                sb_debug("registry: %s/%s already has %s", j->host, j->repo, j->digest);
                return 0;
        }
        char **from = registry_uploads_sources(u, j->digest, j->host, j->repo);
        struct registry_push_blob_opts o = { .mount_from = (const char *const *) from };
        struct registry_push_blob_stats st = { 0 };
        if (fd >= 0)
                r = registry_client_push_blob_fd(c, fd, j->digest, &o, &st, err);
        else
                r = registry_client_push_blob(c, u->store, j->digest, &o, &st, err);
        sb_strv_free(from);
        if (r >= 0)
                sb_debug("registry: background %s of %s to %s/%s done",
                         st.mounted ? "mount" : "upload", j->digest, j->host, j->repo);
        return r;
}

/*
 * The worker: the jobs at idx (all for one destination) through one client, so one
 * connection and one scheme probe serve them all; exit 0 when every job succeeded.
 */
static void __attribute__((noreturn))
worker_main(struct registry_uploads *u, const size_t *idx, size_t n, pid_t parent)
{
        struct registry_ref *ref = NULL;
        struct registry_client *c = NULL;
        sb_error_t err = { 0 };
        int r, failed = 0;

        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                _exit(1);
        if (u->close_fd >= 0)
                close(u->close_fd);
        const struct job *first = &u->jobs[idx[0]];
        r = registry_ref_parse(first->ref, &ref, &err);
        if (r >= 0)
                r = registry_client_new(u->opts, ref, true, &c, &err);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                const struct job *j = &u->jobs[idx[i]];
                sb_error_t jerr = { 0 };
                if (worker_job(u, c, j, &jerr) < 0) {
                        sb_debug("registry: background upload of %s to %s/%s: %s", j->digest,
                                 j->host, j->repo, jerr.msg);
                        failed = 1;
                }
        }
        if (r < 0)
                sb_debug("registry: background uploads to %s: %s", first->ref, err.msg);
        registry_client_free(c);
        registry_ref_free(ref);
        _exit(r < 0 || failed ? 1 : 0);
}

/* A job waits while the same blob goes to the same registry: it can then be mounted. */
static bool may_start(const struct registry_uploads *u, const struct job *j)
{
        for (size_t i = 0; i < u->n_jobs; i++) {
                const struct job *o = &u->jobs[i];
                if (o != j && o->state == JOB_RUNNING && strcmp(o->digest, j->digest) == 0 &&
                    strcmp(o->host, j->host) == 0)
                        return false;
        }
        return true;
}

/* Every job of the worker pid ends with its status (a failed one is uploaded by the push). */
static void finished(struct registry_uploads *u, pid_t pid, int status)
{
        bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        for (size_t i = 0; i < u->n_jobs; i++) {
                struct job *j = &u->jobs[i];
                if (j->state != JOB_RUNNING || j->pid != pid)
                        continue;
                j->pid = -1;
                j->state = ok ? JOB_DONE : JOB_FAILED;
                if (ok)
                        registry_uploads_note(u, j->digest, j->host, j->repo);
        }
        u->n_workers--;
}

/* The share of a worker: the startable queued jobs for j's destination over the free slots. */
static size_t batch_jobs(const struct registry_uploads *u, size_t from, size_t *idx)
{
        const struct job *j = &u->jobs[from];
        size_t same = 0, n = 0, free_slots = REGISTRY_UPLOAD_WORKERS - u->n_workers;
        for (size_t i = from; i < u->n_jobs; i++) {
                const struct job *o = &u->jobs[i];
                same += o->state == JOB_QUEUED && strcmp(o->ref, j->ref) == 0 && may_start(u, o);
        }
        size_t want = (same + free_slots - 1) / free_slots;
        for (size_t i = from; i < u->n_jobs && n < want; i++) {
                const struct job *o = &u->jobs[i];
                if (o->state == JOB_QUEUED && strcmp(o->ref, j->ref) == 0 && may_start(u, o))
                        idx[n++] = i;
        }
        return n;
}

void registry_uploads_pump(struct registry_uploads *u)
{
        if (!u)
                return;
        for (size_t i = 0; i < u->n_jobs; i++) {
                struct job *j = &u->jobs[i];
                int status = 0;
                pid_t pid = j->pid;
                if (j->state == JOB_RUNNING && waitpid(pid, &status, WNOHANG) == pid)
                        finished(u, pid, status);
        }
        cleanup_free size_t *idx = NULL;
        for (size_t i = 0; i < u->n_jobs && u->n_workers < REGISTRY_UPLOAD_WORKERS; i++) {
                struct job *j = &u->jobs[i];
                if (j->state != JOB_QUEUED || !may_start(u, j))
                        continue;
                if (!idx)
                        idx = sb_xmalloc(u->n_jobs * sizeof(*idx));
                size_t n = batch_jobs(u, i, idx);
                pid_t parent = getpid();
                pid_t pid = fork();
                if (pid < 0) {
                        /* no worker now: the push uploads them itself */
                        sb_debug("registry: cannot fork an upload worker: %s", strerror(errno));
                        for (size_t k = 0; k < n; k++)
                                u->jobs[idx[k]].state = JOB_FAILED;
                        continue;
                }
                if (pid == 0)
                        worker_main(u, idx, n, parent);
                for (size_t k = 0; k < n; k++) {
                        u->jobs[idx[k]].pid = pid;
                        u->jobs[idx[k]].state = JOB_RUNNING;
                }
                u->n_workers++;
        }
}

bool registry_uploads_busy(const struct registry_uploads *u)
{
        for (size_t i = 0; u && i < u->n_jobs; i++)
                if (u->jobs[i].state == JOB_QUEUED || u->jobs[i].state == JOB_RUNNING)
                        return true;
        return false;
}

static bool is_worker(const struct registry_uploads *u, pid_t pid)
{
        for (size_t i = 0; pid > 0 && i < u->n_jobs; i++)
                if (u->jobs[i].state == JOB_RUNNING && u->jobs[i].pid == pid)
                        return true;
        return false;
}

void registry_uploads_wait(struct registry_uploads *u)
{
        while (registry_uploads_busy(u)) {
                registry_uploads_pump(u);
                if (!registry_uploads_busy(u))
                        break;
                /* sleep until some child ends (left for pump to reap); a short nap instead
                 * when the child is not a worker (a zombie pump would never reap) */
                siginfo_t si = { 0 };
                if (u->n_workers == 0 || waitid(P_ALL, 0, &si, WEXITED | WNOWAIT) < 0 ||
                    !is_worker(u, si.si_pid))
                        nanosleep(&(struct timespec){ .tv_nsec = 2 * 1000 * 1000 }, NULL);
        }
}
