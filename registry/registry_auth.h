#pragma once
/*
 * Registry credentials and HTTP authentication challenges. Only the registry agent calls
 * these: credentials never leave that process.
 */
#include <stdbool.h>

#include "common/sb_error.h"

/* docker config.json files are small; anything bigger is refused. */
#define REGISTRY_AUTH_CONFIG_MAX (1024 * 1024)

struct registry_creds {
        char *username; /* NULL when no credentials were found */
        char *password;
};

/*
 * Find credentials for host (host[:port] as in a reference; REGISTRY_DOCKER_HUB for Docker
 * Hub) in the first docker config that exists: $DOCKER_CONFIG/config.json,
 * $HOME/.docker/config.json, /kaniko/.docker/config.json. "auths" keys match by host, with or
 * without a scheme and path ("https://host/v1/"); Docker Hub also matches
 * "https://index.docker.io/v1/". Entries carry "auth" (base64 user:pass) or
 * "username"/"password". Returns 1 and fills ret when found, 0 when there is none, -errno
 * when the config exists but cannot be read or parsed.
 */
int registry_auth_lookup(const char *host, struct registry_creds *ret, sb_error_t *err);
/* Free the strings (wiping the password) and reset to empty. Accepts an empty struct. */
void registry_creds_done(struct registry_creds *c);

enum registry_auth_scheme {
        REGISTRY_AUTH_NONE,
        REGISTRY_AUTH_BASIC,
        REGISTRY_AUTH_BEARER,
};

struct registry_challenge {
        enum registry_auth_scheme scheme;
        char *realm;   /* NULL when absent */
        char *service; /* NULL when absent */
        char *scope;   /* NULL when absent; may hold several space-separated scopes */
        char *error;   /* "invalid_token", "insufficient_scope", or NULL */
};

/*
 * Parse one WWW-Authenticate header value: a scheme ("Basic" or "Bearer", any case) then
 * key=value or key="quoted value" pairs separated by commas (commas inside quotes are kept,
 * backslash escapes honoured). An unknown scheme gives -EPROTONOSUPPORT; a malformed
 * parameter list -EINVAL.
 */
int registry_challenge_parse(const char *header, struct registry_challenge *ret, sb_error_t *err);
void registry_challenge_done(struct registry_challenge *c);
