#pragma once
/*
 * Where a pull may come from: --registry-map FROM=TO and --registry-mirror HOST[/PATH], as
 * Kaniko reads them, plus the per-host lookups of the other registry flags. Pushes are never
 * redirected; only the agent's pull handler asks for sources.
 */
#include <stdbool.h>
#include <stddef.h>

#include "common/sb_error.h"
#include "registry/registry_agent.h"
#include "registry/registry_ref.h"

/* How many sources one pull may try (maps + mirrors + the original). */
#define REGISTRY_SOURCES_MAX 32

struct registry_source {
        char *registry;   /* host[:port] */
        char *repository; /* the image's repository under the mirror's or map's path prefix */
        bool original;    /* the image's own registry (always the last source) */
};

/*
 * True when a flag's HOST names host: equal ignoring case, and docker.io, index.docker.io
 * and registry-1.docker.io all name Docker Hub.
 */
bool registry_host_matches(const char *flag_host, const char *host);

/* The VALUE of the first "HOST=VALUE" entry in list (may be NULL) whose HOST matches host,
 * or NULL. */
const char *registry_host_option(char *const *list, const char *host);

/* True when list (plain HOST entries, may be NULL) names host. */
bool registry_host_listed(char *const *list, const char *host);

/*
 * The sources to try, in order, for pulling ref: for each --registry-map entry whose FROM
 * matches ref's registry, its TO (host[/path]; an entry may hold several maps separated by
 * ';'); then, for a Docker Hub image, each --registry-mirror (host[/path]); then ref's own
 * registry. A path is put in front of the repository ("library/busybox" from a mirror
 * "m.example/hub" is m.example's "hub/library/busybox"). A malformed TO or mirror is -EINVAL
 * naming it. Free the array with registry_sources_free.
 */
int registry_mirror_sources(const struct registry_options *opts, const struct registry_ref *ref,
                            struct registry_source **ret, size_t *ret_n, sb_error_t *err);
void registry_sources_free(struct registry_source *s, size_t n);
