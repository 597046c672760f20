#pragma once
/* Shared between the supervisor (build_run.c) and the builder (build_stage.c, build_rootfs.c). */
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "build/build.h"
#include "build/build_plan.h"
#include "image/image_oci.h"
#include "image/image_store.h"
#include "registry/registry_agent.h"

/* The state of a stage's image as its instructions run. */
struct stage_state {
        char **diff_ids;                 /* bottom to top */
        struct image_descriptor *layers; /* parallel to diff_ids */
        size_t n_layers;
        json_t *config;                  /* the whole image config document */
        char **args;                     /* ARGs in scope, "K=V" */
        char **shell;                    /* SHELL, default /bin/sh -c */
        bool built;
};

struct builder {
        const struct build_options *opts;
        const struct build_plan *plan;
        const struct dockerfile *df;
        struct registry_pulled *pulled; /* per stage; filled for image bases */
        const char *store_path;         /* a path the builder can open the store by */
        struct image_store *store;
        int context_fd;                 /* O_PATH of the context, opened by the supervisor */
        struct stage_state *states;     /* per stage */
        size_t step;                    /* progress counter */
        char *empty_dir;                /* an empty lower dir for FROM scratch */
        int result_fd;                  /* builder -> supervisor */
};

/* The builder's main, run inside the namespaces; arg is struct builder. */
int build_builder_main(void *arg);

/* Layer stack helpers (build_rootfs.c), used by the builder. */
/* Overlay lower dirs for a state, top-most first (an empty dir when there are none). */
char **build_rootfs_lowers(struct builder *b, const struct stage_state *st);
/* Read a file such as etc/passwd from the layer stack; *ret NULL if absent. */
int build_rootfs_read_file(struct builder *b, const struct stage_state *st, const char *path,
                           char **ret, sb_error_t *err);

struct build_step_dirs {
        char *dir;   /* tmp/step-XXXX */
        char *upper, *work, *root;
};
int build_rootfs_step_dirs(struct builder *b, struct build_step_dirs *ret, sb_error_t *err);
void build_rootfs_step_dirs_done(struct builder *b, struct build_step_dirs *d);

/*
 * Turn the step's upper dir into a layer and push it onto st (or record an empty layer).
 * created_by goes into the history. The upper dir becomes the layer's store directory.
 */
int build_rootfs_commit(struct builder *b, struct stage_state *st, struct build_step_dirs *d,
                        const char *created_by, sb_error_t *err);
/* Add a history entry that made no layer. */
void build_config_history(json_t *config, const char *created_by, bool empty_layer);
