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
};

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
/* Perform x; on 401 authenticate once (Basic or Bearer token) and retry. Returns 0 with
 * x->status set, or -errno for transport failures. */
int registry_http_request(struct registry_client *c, struct registry_xfer *x, sb_error_t *err);
/* Turn a non-success response into a one-line error (what: prefix, may be NULL). */
int registry_http_error(struct registry_client *c, struct registry_xfer *x, const char *what,
                        sb_error_t *err);
/* Perform x once, without authentication (ADD URL downloads). 0 with x->status, or -errno. */
int registry_http_perform(struct registry_client *c, struct registry_xfer *x, sb_error_t *err);
