#pragma once
/*
 * The build: what `sbuild run` asks for, and the supervisor that carries it out (plans the
 * stages, pulls through the registry agent, runs the builder in its namespaces, writes the
 * outputs and pushes through the agent).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/sb_digest.h"
#include "common/sb_error.h"

struct build_options {
        char *context;         /* directory (dir:// stripped) */
        char *dockerfile;      /* as given; relative to the context unless absolute */
        char **destinations;   /* NULL-terminated; may be empty with no_push */
        char **build_args;     /* "K=V" (bare K already resolved from the environment) */
        char **labels;         /* "K=V" */
        char *target;          /* stage name or NULL for the last stage */
        bool no_push;
        char *oci_layout_path;
        char *digest_file;
        char *image_name_with_digest_file;
        bool insecure, insecure_pull, skip_tls_verify;
        char *store;           /* store root; NULL: the default */
        char *image_format;    /* "oci" (default) or "docker" */
        char *platform;        /* --custom-platform: "os/arch[/variant]", NULL: the host's */
        /* registries (issue 4): passed to the agent as struct registry_options */
        bool skip_tls_verify_pull;
        char **insecure_registries;        /* HOST */
        char **skip_tls_verify_registries; /* HOST */
        char **registry_certificates;      /* HOST=CA.pem */
        char **registry_client_certs;      /* HOST=CERT,KEY */
        char **registry_mirrors;           /* HOST[/PATH] */
        char **registry_maps;              /* FROM=TO */
        int push_retry, pull_retry;
        char *image_name_tag_with_digest_file;
        bool skip_push_permission_check;
        char *tar_path;                    /* docker-archive output */
        /* resource limits of RUN steps (issue 5); 0: none (nofile: sandbox default) */
        uint64_t memory_limit;    /* bytes, RLIMIT_AS */
        uint64_t pids_limit;      /* RLIMIT_NPROC */
        uint64_t nofile_limit;    /* RLIMIT_NOFILE */
        uint64_t step_timeout_ms; /* per RUN step */
        uint64_t max_layer_size;  /* bytes, compressed size of a RUN step's layer */
};

struct build_result {
        char manifest_digest[SB_DIGEST_STR_LEN + 1];
        char config_digest[SB_DIGEST_STR_LEN + 1];
};

/* Exit codes of `sbuild run`. */
enum {
        BUILD_EXIT_OK = 0,
        BUILD_EXIT_FAILED = 1, /* a step failed, a registry or store error */
        BUILD_EXIT_USAGE = 2,  /* bad flags or a Dockerfile that does not parse */
};

/*
 * Run the whole build. Returns 0, or -errno with err->msg naming the input at fault (the
 * Dockerfile line for a failed step). -EINVAL means the user's input was wrong (usage).
 */
int build_run(const struct build_options *o, struct build_result *ret, sb_error_t *err);

/* The default store root for the calling user. The caller frees it. */
char *build_default_store(void);
