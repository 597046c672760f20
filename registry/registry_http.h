#pragma once
/*
 * Internal to registry/: the HTTP layer under registry_client.c. One libcurl handle per
 * client, reused for every request; credentials are loaded only when a registry asks.
 */
#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/sb_error.h"
#include "image/image_store.h"
#include "registry/registry_auth.h"

#define CHALLENGES_MAX 4

struct registry_client {
        CURL *curl;
        char *host; /* host[:port] */
        char *repo;
        char *base; /* "https://host[:port]" once the scheme is known */
        bool allow_http;
        bool skip_tls_verify;
        bool push;
        bool creds_loaded;
        struct registry_creds creds;
        enum registry_auth_scheme auth; /* what requests to the registry carry */
        char *token;
        char errbuf[CURL_ERROR_SIZE];
        /* transport options for this registry (set by registry_client_new) */
        char *ca_file;     /* --registry-certificate: extra CA bundle (system CAs kept) */
        char *client_cert; /* --registry-client-cert: PEM certificate and key (mTLS) */
        char *client_key;
        int retries;         /* --push-retry / --image-download-retry */
        unsigned backoff_ms; /* first retry wait, doubled each time (0: REGISTRY_BACKOFF_MS) */
};

/* Retry waits: exponential from 1 s; each wait (and any Retry-After) at most 30 s. */
#define REGISTRY_BACKOFF_MS     1000u
#define REGISTRY_RETRY_WAIT_MAX 30u
/* A connection must be up within this many seconds. */
#define REGISTRY_CONNECT_TIMEOUT 30L
/* Fewer than REGISTRY_STALL_BYTES bytes per second for REGISTRY_STALL_TIME seconds, in
 * either direction or while waiting for a response, ends a request as stalled. */
#define REGISTRY_STALL_BYTES 1L
#define REGISTRY_STALL_TIME  30L
/* The most kept of an error response's body (the rest is read and dropped). */
#define REGISTRY_ERR_BODY_MAX (64u * 1024u)

struct registry_xfer {
        const char *method;
        const char *url;
        const char *accept;       /* a full "Accept: ..." header line or NULL */
        const char *content_type; /* value or NULL */
        bool follow;
        bool registry_auth; /* attach the client's token or Basic credentials */
        bool basic_creds;   /* attach Basic credentials (token requests) */
        /* PUT body: from memory or from an fd */
        const char *up_data;
        int up_fd;
        uint64_t up_size, up_off;
        /* response of the last hop */
        long status;
        char *location, *content_digest, *content_type_resp;
        char *challenges[CHALLENGES_MAX];
        size_t n_challenges;
        /* 2xx body: into a blob writer (at most limit bytes) or memory (at most body_max) */
        struct image_blob_writer *writer;
        uint64_t limit;
        sb_error_t werr;
        bool werr_set;
        char *body;
        size_t body_len, body_cap, body_max;
        bool too_big;
        char *last_modified; /* Last-Modified of the last hop, or NULL */
        char *retry_after;   /* Retry-After of the last hop, or NULL */
        /* With writer: the store it writes to, so that a retried download starts over with a
         * fresh writer (without it, a download that has written body bytes is not retried). */
        const struct image_store *writer_store;
        int retried; /* how many times registry_http_request retried */
        /* PATCH (chunked upload, body as for PUT) sends "Content-Range: start-end" */
        const char *content_range;
        /* Extra token scopes this request needs besides the client's repository, e.g.
         * "repository:OTHER:pull" for a cross-repository mount; NULL-terminated or NULL.
         * Asked for (with the challenge's) when the registry answers 401. */
        char *const *scopes;
};

/* Free the response fields and body of x (not x itself). */
void registry_http_xfer_done(struct registry_xfer *x);
/* Replace control characters so a server string stays on one line; cut at max. */
void registry_http_clean_line(char *s, size_t max);
/*
 * Find the scheme once (GET /v2/ over https; over http when the host is loopback or
 * --insecure allows it and https fails). Transport errors give one-line messages.
 */
int registry_http_ensure_base(struct registry_client *c, sb_error_t *err);
/* Perform x; on 401 authenticate once (Basic or Bearer token) and retry. Connection errors,
 * timeouts, 5xx and 429 are retried c->retries times with exponential backoff (Retry-After
 * honoured, capped); a download into x->writer starts over with a fresh writer. Returns 0
 * with x->status set (possibly a last 5xx/429), or -errno for transport failures. */
int registry_http_request(struct registry_client *c, struct registry_xfer *x, sb_error_t *err);
/* Turn a non-success response into a one-line error (what: prefix, may be NULL). */
int registry_http_error(struct registry_client *c, struct registry_xfer *x, const char *what,
                        sb_error_t *err);
/* Perform x once, without authentication (ADD URL downloads). 0 with x->status, or -errno. */
int registry_http_perform(struct registry_client *c, struct registry_xfer *x, sb_error_t *err);
