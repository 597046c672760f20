/* The agent's parallel blob downloads: the agent and a few forked workers share a queue. */
#include "registry/registry_download.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/sb_cleanup.h"
#include "common/sb_log.h"
#include "common/sb_util.h"
#include "registry/registry_http.h"

/* What the downloaders share (an anonymous shared mapping): the next job, a stop flag after
 * a failure, and one failure slot per downloader (slot 0 is the calling process). */
struct shared {
        atomic_size_t next;
        atomic_int stop;
        struct {
                size_t job; /* SIZE_MAX: no failure */
                int ret;
                sb_error_t err;
        } fail[REGISTRY_DOWNLOAD_WORKERS];
};

struct queue {
        struct registry_client *c;
        const struct image_store *s;
        const struct image_descriptor *d;
        const size_t *jobs; /* indexes into d of the blobs to fetch */
        size_t n_jobs;
        struct shared *sh;
};

/* Take jobs until none is left or some downloader failed; the first failure goes in slot. */
static void download_loop(const struct queue *q, unsigned slot)
{
        while (!atomic_load(&q->sh->stop)) {
                size_t i = atomic_fetch_add(&q->sh->next, 1);
                if (i >= q->n_jobs)
                        return;
                const struct image_descriptor *d = &q->d[q->jobs[i]];
                sb_error_t e = { 0 };
                /* another process may have stored it meanwhile (a concurrent pull) */
                if (image_store_has_blob(q->s, d->digest))
                        continue;
                int r = registry_client_get_blob(q->c, q->s, d->digest, d->size, &e);
                if (r < 0) {
                        q->sh->fail[slot].job = q->jobs[i];
                        q->sh->fail[slot].ret = r;
                        q->sh->fail[slot].err = e;
                        atomic_store(&q->sh->stop, 1);
                        return;
                }
        }
}

static void __attribute__((noreturn))
worker_main(const struct queue *q, unsigned slot, pid_t parent, int close_fd)
{
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                _exit(1);
        if (close_fd >= 0)
                close(close_fd);
        /* the copy of the client keeps its scheme, credentials and token; the inherited
         * handle's connection stays the parent's, so this worker opens its own */
        q->c->curl = curl_easy_init();
        if (!q->c->curl) {
                atomic_store(&q->sh->stop, 1);
                _exit(1);
        }
        download_loop(q, slot);
        _exit(0);
}

/* Indexes of the blobs of d to fetch: not in the store, each digest once. */
static size_t missing_blobs(const struct image_store *s, const struct image_descriptor *d,
                            size_t n, size_t *jobs)
{
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
                bool dup = false;
                for (size_t j = 0; j < k && !dup; j++)
                        dup = strcmp(d[jobs[j]].digest, d[i].digest) == 0;
                if (!dup && !image_store_has_blob(s, d[i].digest))
                        jobs[k++] = i;
        }
        return k;
}

int registry_download_blobs(struct registry_client *c, const struct image_store *s,
                            const struct image_descriptor *d, size_t n, int close_fd,
                            sb_error_t *err)
{
        pid_t pids[REGISTRY_DOWNLOAD_WORKERS];
        unsigned n_workers = 0;
        bool worker_died = false;
        int r = 0;

        if (n == 0)
                return 0;
        cleanup_free size_t *jobs = sb_xmalloc(n * sizeof(*jobs));
        size_t n_jobs = missing_blobs(s, d, n, jobs);
        if (n_jobs == 0)
                return 0;
        for (size_t i = 0; i < n_jobs; i++)
                if (!sb_digest_valid(d[jobs[i]].digest))
                        return sb_error_set(err, EINVAL, "invalid blob digest");

        struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
                                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (sh == MAP_FAILED)
                return sb_error_errno(err, errno, "shared memory for the blob downloads");
        atomic_init(&sh->next, 0);
        atomic_init(&sh->stop, 0);
        for (unsigned w = 0; w < REGISTRY_DOWNLOAD_WORKERS; w++)
                sh->fail[w].job = SIZE_MAX;
        struct queue q = { .c = c, .s = s, .d = d, .jobs = jobs, .n_jobs = n_jobs, .sh = sh };

        /* one blob needs no worker; else workers 1.. beside this process (slot 0) */
        pid_t parent = getpid();
        for (unsigned w = 1; w < REGISTRY_DOWNLOAD_WORKERS && w < n_jobs; w++) {
                pid_t pid = fork();
                if (pid < 0) {
                        /* fewer downloaders, same result */
                        sb_debug("registry: cannot fork a download worker: %s", strerror(errno));
                        break;
                }
                if (pid == 0)
                        worker_main(&q, w, parent, close_fd);
                pids[n_workers++] = pid;
        }
        sb_debug("registry: downloading %zu blobs with %u workers besides the agent", n_jobs,
                 n_workers);
        download_loop(&q, 0);
        for (unsigned w = 0; w < n_workers; w++) {
                int status = 0;
                pid_t p;
                do
                        p = waitpid(pids[w], &status, 0);
                while (p < 0 && errno == EINTR);
                if (p != pids[w] || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                        worker_died = true;
        }

        /* the failure first in d's order is the error */
        size_t first = SIZE_MAX;
        unsigned slot = 0;
        for (unsigned w = 0; w < REGISTRY_DOWNLOAD_WORKERS; w++)
                if (sh->fail[w].job < first) {
                        first = sh->fail[w].job;
                        slot = w;
                }
        if (first != SIZE_MAX) {
                if (err)
                        *err = sh->fail[slot].err;
                r = sh->fail[slot].ret;
                goto out;
        }
        /* a worker that died (killed, out of memory) left its blob out: name it */
        for (size_t i = 0; i < n_jobs; i++) {
                const struct image_descriptor *b = &d[jobs[i]];
                if (!image_store_has_blob(s, b->digest)) {
                        r = sb_error_set(err, EIO, "blob %s: %s", b->digest,
                                         worker_died ? "its download worker died"
                                                     : "not downloaded");
                        goto out;
                }
        }
out:
        munmap(sh, sizeof(*sh));
        return r;
}
