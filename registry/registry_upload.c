/* The agent's background blob uploads: a bounded pool of forked workers. */
#include "registry/registry_upload.h"

#include <errno.h>
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
        pid_t pid;
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

int registry_uploads_add(struct registry_uploads *u, const char *ref_s, const char *digest,
                         sb_error_t *err)
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
out:
        registry_ref_free(ref);
        registry_uploads_pump(u);
        return r;
}

/* The worker: skip what the registry has, else mount or upload; exit 0 on success. */
static void __attribute__((noreturn))
worker_main(struct registry_uploads *u, const struct job *j, pid_t parent)
{
        struct registry_ref *ref = NULL;
        struct registry_client *c = NULL;
        sb_error_t err = { 0 };
        bool exists = false;
        int r;

        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                _exit(1);
        if (u->close_fd >= 0)
                close(u->close_fd);
        char **from = registry_uploads_sources(u, j->digest, j->host, j->repo);
        struct registry_push_blob_opts o = { .mount_from = (const char *const *) from };
        struct registry_push_blob_stats st = { 0 };
        r = registry_ref_parse(j->ref, &ref, &err);
        if (r >= 0)
                r = registry_client_new(u->opts, ref, true, &c, &err);
        if (r >= 0)
                r = registry_client_has_blob(c, j->digest, &exists, &err);
        if (r >= 0 && !exists)
                r = registry_client_push_blob(c, u->store, j->digest, &o, &st, &err);
        if (r < 0)
                sb_debug("registry: background upload of %s to %s/%s: %s", j->digest, j->host,
                         j->repo, err.msg);
        else
                sb_debug("registry: background %s of %s to %s/%s done",
                         exists ? "check" : st.mounted ? "mount" : "upload", j->digest, j->host,
                         j->repo);
        registry_client_free(c);
        registry_ref_free(ref);
        _exit(r < 0 ? 1 : 0);
}

static size_t n_running(const struct registry_uploads *u)
{
        size_t n = 0;
        for (size_t i = 0; i < u->n_jobs; i++)
                n += u->jobs[i].state == JOB_RUNNING;
        return n;
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

static void finished(struct registry_uploads *u, struct job *j, int status)
{
        j->pid = -1;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
                j->state = JOB_DONE;
                registry_uploads_note(u, j->digest, j->host, j->repo);
        } else {
                j->state = JOB_FAILED;
        }
}

void registry_uploads_pump(struct registry_uploads *u)
{
        if (!u)
                return;
        for (size_t i = 0; i < u->n_jobs; i++) {
                struct job *j = &u->jobs[i];
                int status = 0;
                if (j->state == JOB_RUNNING && waitpid(j->pid, &status, WNOHANG) == j->pid)
                        finished(u, j, status);
        }
        for (size_t i = 0; i < u->n_jobs && n_running(u) < REGISTRY_UPLOAD_WORKERS; i++) {
                struct job *j = &u->jobs[i];
                if (j->state != JOB_QUEUED || !may_start(u, j))
                        continue;
                pid_t parent = getpid();
                pid_t pid = fork();
                if (pid < 0) {
                        /* no worker now: the push uploads it itself */
                        sb_debug("registry: cannot fork an upload worker: %s", strerror(errno));
                        j->state = JOB_FAILED;
                        continue;
                }
                if (pid == 0)
                        worker_main(u, j, parent);
                j->pid = pid;
                j->state = JOB_RUNNING;
        }
}

bool registry_uploads_busy(const struct registry_uploads *u)
{
        for (size_t i = 0; u && i < u->n_jobs; i++)
                if (u->jobs[i].state == JOB_QUEUED || u->jobs[i].state == JOB_RUNNING)
                        return true;
        return false;
}

void registry_uploads_wait(struct registry_uploads *u)
{
        while (registry_uploads_busy(u)) {
                registry_uploads_pump(u);
                if (!registry_uploads_busy(u))
                        break;
                nanosleep(&(struct timespec){ .tv_nsec = 20 * 1000 * 1000 }, NULL);
        }
}
