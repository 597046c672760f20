#pragma once
/* Image references as docker writes them: [host[:port]/]path[:tag][@sha256:hex]. */
#include <stdbool.h>

#include "common/sb_error.h"

#define REGISTRY_DOCKER_HUB  "registry-1.docker.io"
#define REGISTRY_REF_MAX_LEN 1024

struct registry_ref {
        char *registry;   /* "registry-1.docker.io" for Docker Hub, else host[:port] as written */
        char *repository; /* "library/alpine", "team/app" */
        char *tag;        /* NULL when only a digest was given; "latest" when neither */
        char *digest;     /* NULL or "sha256:<hex>" */
};

/*
 * Parse a reference. A first component with '.' or ':' or equal to "localhost" is a registry
 * host; otherwise the registry is Docker Hub and a one-component name gets "library/".
 * Rejects upper-case repositories, bad tags, malformed digests, over-long input (-EINVAL).
 */
int registry_ref_parse(const char *s, struct registry_ref **ret, sb_error_t *err);
struct registry_ref *registry_ref_free(struct registry_ref *r);
/* "host/repo:tag", "host/repo@digest" or "host/repo:tag@digest" (docker.io for Docker Hub). */
char *registry_ref_format(const struct registry_ref *r);
/* "host/repo" without tag and digest. */
char *registry_ref_name(const struct registry_ref *r);
/* True for localhost, 127.0.0.0/8 and ::1 (with or without port): plain http is allowed. */
bool registry_host_is_loopback(const char *host);
