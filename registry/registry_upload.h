#pragma once
/*
 * Internal to registry/: the agent's background blob uploads. Each job (one blob for one
 * registry+repository) runs in a worker forked from the agent, at most
 * REGISTRY_UPLOAD_WORKERS at once, so workers inherit the agent's credentials, seccomp filter
 * and non-dumpable state and never anything of the builder's. A job whose blob is being
 * uploaded to another repository of the same registry waits for it and then mounts it from
 * there. A failed job is only logged: the push that needs the blob uploads it again and
 * reports the error.
 */
#include <stdbool.h>
#include <stdint.h>

#include "common/sb_error.h"
#include "image/image_store.h"
#include "registry/registry_agent.h"

#define REGISTRY_UPLOAD_WORKERS 3

struct registry_uploads;

/* A pool for the agent; workers close close_fd (the agent's socket) first. */
struct registry_uploads *registry_uploads_new(const struct image_store *s,
                                              const struct registry_options *opts, int close_fd);
/* Kill and reap any running worker, free the pool. Accepts NULL. */
void registry_uploads_free(struct registry_uploads *u);

/* Remember that host/repo holds digest (a base image's source, a finished upload). */
void registry_uploads_note(struct registry_uploads *u, const char *digest, const char *host,
                           const char *repo);

/*
 * Queue digest for the registry and repository of ref (a tag or digest reference), unless a
 * job for the same pair is queued, running or done, and start workers if slots are free.
 */
int registry_uploads_add(struct registry_uploads *u, const char *ref, const char *digest,
                         sb_error_t *err);

/*
 * As registry_uploads_add without starting workers (pump or wait does, sharing the queued
 * jobs of one destination out over the free workers, each with one connection). layout (may
 * be NULL) is an OCI layout's blobs/sha256 directory to read the blob from, checked against
 * digest and size before it is sent, when the store does not hold it.
 */
int registry_uploads_queue(struct registry_uploads *u, const char *ref, const char *digest,
                           const char *layout, uint64_t size, sb_error_t *err);

/* True when host/repo is known to hold digest (a finished job, a note). */
bool registry_uploads_known(const struct registry_uploads *u, const char *digest,
                            const char *host, const char *repo);

/* Reap finished workers and start queued jobs; never blocks. */
void registry_uploads_pump(struct registry_uploads *u);
/* True while a job is queued or running. */
bool registry_uploads_busy(const struct registry_uploads *u);
/* Block until no job is queued or running. */
void registry_uploads_wait(struct registry_uploads *u);

/*
 * Repositories of host known to hold digest, other than repo, as a NULL-terminated list
 * (caller frees with sb_strv_free); NULL when none.
 */
char **registry_uploads_sources(const struct registry_uploads *u, const char *digest,
                                const char *host, const char *repo);
