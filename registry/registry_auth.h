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
        /* (added) an OAuth2 refresh token: config "identitytoken", or a helper's Secret when
         * its Username is "<token>"; used with a POST to the token realm */
        char *identity_token;
        /* (added) config "registrytoken": sent as the Bearer token with no token server */
        char *registry_token;
};

/* The longest a credential helper may run, and the most it may print. */
#define REGISTRY_AUTH_HELPER_TIMEOUT_MS 10000
#define REGISTRY_AUTH_HELPER_OUTPUT_MAX (64 * 1024)

/*
 * Find credentials for host (host[:port] as in a reference; REGISTRY_DOCKER_HUB for Docker
 * Hub) in the first docker config that exists: $DOCKER_CONFIG/config.json,
 * $HOME/.docker/config.json, /kaniko/.docker/config.json. Docker's order: a helper named by
 * "credHelpers" for the host, else the "credsStore" helper, else "auths". Keys match by host,
 * with or without a scheme and path ("https://host/v1/"); Docker Hub also matches
 * "https://index.docker.io/v1/" (and that is what its helper is asked for). Entries carry
 * "auth" (base64 user:pass) or "username"/"password", "identitytoken", "registrytoken".
 * A helper is `docker-credential-NAME get` found in $PATH, run with the server on stdin, a
 * clean environment (PATH, HOME and the session variables keyrings need), stderr discarded,
 * a timeout and an output bound; "credentials not found" from credsStore falls back to
 * "auths". Returns 1 and fills ret when found (username, identity_token or registry_token
 * set), 0 when there is none, -errno when the config or a helper fails; error messages never
 * quote a credential.
 */
int registry_auth_lookup(const char *host, struct registry_creds *ret, sb_error_t *err);
/* Free the strings (wiping the secrets) and reset to empty. Accepts an empty struct. */
void registry_creds_done(struct registry_creds *c);
/* True when c holds anything to authenticate with. */
bool registry_creds_present(const struct registry_creds *c);

/*
 * Run credential helper `docker-credential-<name> get` for server (the string written to
 * its stdin) as described above. 1 with ret filled, 0 when the helper has no credentials
 * for server, -errno when it is missing, fails, times out or prints garbage.
 */
int registry_auth_helper_get(const char *name, const char *server, struct registry_creds *ret,
                             sb_error_t *err);

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
