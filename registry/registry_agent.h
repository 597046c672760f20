#pragma once
/*
 * The registry agent: a separate process, started by the supervisor, that alone reads
 * registry credentials and talks to the network. It never opens a build rootfs; it reads and
 * writes only the store's blobs (and reads the blobs of an OCI layout `sbuild push` names).
 * The supervisor talks to it over a socketpair with length-prefixed JSON messages (see
 * registry_proto.h).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/sb_digest.h"
#include "common/sb_error.h"
#include "image/image_oci.h"

struct registry_options {
        bool insecure;        /* --insecure: plain http allowed for pushes */
        bool insecure_pull;   /* --insecure-pull: plain http allowed for pulls */
        bool skip_tls_verify; /* --skip-tls-verify: no certificate checks */
        const char *store_root;
        /* (the lists are NULL-terminated, may be NULL, and outlive the agent's start) */
        bool skip_tls_verify_pull;                 /* --skip-tls-verify-pull */
        char *const *insecure_registries;          /* --insecure-registry HOST */
        char *const *skip_tls_verify_registries;   /* --skip-tls-verify-registry HOST */
        char *const *registry_certificates;        /* --registry-certificate HOST=CA.pem */
        char *const *registry_client_certs;        /* --registry-client-cert HOST=CERT,KEY */
        char *const *registry_mirrors;             /* --registry-mirror HOST[/PATH] */
        char *const *registry_maps;                /* --registry-map FROM=TO */
        int push_retry;                            /* --push-retry N (0: none) */
        int pull_retry;                            /* --image-download-retry N */
};

struct registry_agent;

/* Fork the agent; it opens the store at opts->store_root itself. */
int registry_agent_start(const struct registry_options *opts, struct registry_agent **ret,
                         sb_error_t *err);
/* Ask the agent to exit and reap it. Accepts NULL. */
void registry_agent_stop(struct registry_agent *a);
/* The agent's process id (-1 once it has been reaped), e.g. to put it in a cgroup. */
int registry_agent_pid(const struct registry_agent *a);

struct registry_pulled {
        char *resolved; /* "host/repo@sha256:...": the digest the tag named (the index if any) */
        char manifest_digest[SB_DIGEST_STR_LEN + 1]; /* the platform manifest */
        struct image_descriptor config;              /* in the store */
        struct image_descriptor *layers;             /* all in the store, digest-verified */
        size_t n_layers;
};
void registry_pulled_done(struct registry_pulled *p);

/*
 * Pull ref (tag or digest; a manifest list or index selects os/arch/variant) into the store:
 * manifest, config and every layer blob, each checked against its digest.
 */
int registry_agent_pull(struct registry_agent *a, const char *ref, const char *os, const char *arch,
                        const char *variant, struct registry_pulled *ret, sb_error_t *err);

/*
 * Push the manifest `manifest_digest` (in the store) and everything it references to ref:
 * blobs the registry already has are skipped (HEAD), the rest uploaded (POST, PUT), then the
 * manifest is PUT under ref's tag. Returns the manifest digest the registry recorded.
 */
int registry_agent_push(struct registry_agent *a, const char *ref, const char *manifest_digest,
                        char ret_digest[SB_DIGEST_STR_LEN + 1], sb_error_t *err);

/*
 * As registry_agent_push, for an image whose manifest and config are in the store but whose
 * layers may be only in layout_blobs (an OCI layout's blobs/sha256 directory, absolute path,
 * may be NULL): the agent reads those there, checks each against its descriptor's digest and
 * size before sending it (-EBADMSG), and copies nothing into the store.
 */
int registry_agent_push_layout(struct registry_agent *a, const char *ref,
                               const char *manifest_digest, const char *layout_blobs,
                               char ret_digest[SB_DIGEST_STR_LEN + 1], sb_error_t *err);

/*
 * Queue a background upload of the store blob `digest` to ref's registry and repository and
 * return at once (the agent's workers, at most 3 at a time, do it; the next push waits for
 * them). from (NULL-terminated, may be NULL) names references ("host/repo[:tag|@digest]")
 * known to hold the blob, so a destination in the same registry mounts it instead. A blob
 * queued twice for one repository goes up once.
 */
int registry_agent_upload(struct registry_agent *a, const char *ref, const char *digest,
                          char *const *from, sb_error_t *err);

/*
 * Check that the credentials may push to ref (an upload session is opened and cancelled).
 * The error names ref: "no push access to 'REF': ...".
 */
int registry_agent_check_push(struct registry_agent *a, const char *ref, sb_error_t *err);

/* The most an ADD URL download may be; larger downloads fail and leave nothing. */
#define REGISTRY_FETCH_MAX (8ull * 1024 * 1024 * 1024)

struct registry_fetched {
        char digest[SB_DIGEST_STR_LEN + 1]; /* the store blob holding the body */
        uint64_t size;
        char *name;            /* the URL path's last component ("download" when it has none) */
        int64_t last_modified; /* Last-Modified as seconds since the epoch; 0 when absent */
};
void registry_fetched_done(struct registry_fetched *f);

/*
 * Download url (http or https only; https certificates verified unless --skip-tls-verify;
 * redirects followed within http(s)) into a store blob, at most REGISTRY_FETCH_MAX bytes.
 * No registry credentials are sent. With checksum ("sha256:<hex>") the body must match it
 * (-EBADMSG naming the URL and both digests). A 404 is -ENOENT.
 */
int registry_agent_fetch(struct registry_agent *a, const char *url, const char *checksum,
                         struct registry_fetched *ret, sb_error_t *err);
