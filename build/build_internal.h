#pragma once
/* Shared between the supervisor (build_run.c) and the builder (build_stage.c, build_rootfs.c). */
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "build/build.h"
#include "build/build_ignore.h"
#include "build/build_plan.h"
#include "build/build_user.h"
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
        char **fetched;                 /* "URL\tsha256:\tname\tmtime" of fetched ADD sources */
        struct build_ignore *ignore;    /* the context's .dockerignore, NULL if none */
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

/* --- shared by the instruction files (build_state.c) ---------------------------------- */
/* The "config" object of the image config, created if missing. */
json_t *build_cfg(struct stage_state *st);
/* The config's Env as "K=V" strings. */
char **build_cfg_env(struct stage_state *st);
bool build_env_has(char *const *env, const char *name);
/* Set or replace name in a "K=V" list. */
void build_env_set(char ***list, const char *name, const char *value);
/* The variables an instruction's words expand with: ARGs in scope, overridden by ENV. */
char **build_expansion_env(struct stage_state *st);
json_t *build_strv_to_json(char *const *v);
int build_expand(struct builder *b, struct stage_state *st, const char *word, char **ret,
                 sb_error_t *err);
/* Resolve USER or --chown against the stage's /etc/passwd and /etc/group. */
int build_user_for(struct builder *b, struct stage_state *st, const char *spec,
                   build_user_mode_t mode, struct build_user *ret, sb_error_t *err);
/* WorkingDir of the config, "/" if unset. */
char *build_workdir_of(struct stage_state *st);
/* Mount the stage's rootfs (layers + d->upper) at d->root; returns an O_PATH fd of it. */
int build_mount_step(struct builder *b, struct stage_state *st, struct build_step_dirs *d,
                     int *ret_root_fd, sb_error_t *err);

/* --- instructions ----------------------------------------------------------------------- */
int build_step_arg(struct builder *b, struct stage_state *st, const struct dockerfile_node *n,
                   sb_error_t *err);
int build_step_meta(struct builder *b, struct stage_state *st, const struct dockerfile_node *n,
                    bool *cmd_set, sb_error_t *err);
int build_step_workdir(struct builder *b, struct stage_state *st,
                       const struct dockerfile_node *n, sb_error_t *err);
int build_step_copy(struct builder *b, size_t idx, struct stage_state *st,
                    const struct dockerfile_node *n, sb_error_t *err);
int build_step_run(struct builder *b, struct stage_state *st, const struct dockerfile_node *n,
                   sb_error_t *err);

/* The history entry's created_by for an instruction, as Docker writes it (build_history.c). */
char *build_history_text(struct builder *b, struct stage_state *st,
                         const struct dockerfile_node *n);

/*
 * Before the builder starts: have the agent fetch the remote sources of the needed stages'
 * ADD instructions into the store, filling b->fetched (build_fetch.c).
 */
int build_fetch_remote_sources(struct builder *b, struct registry_agent *agent, sb_error_t *err);

/* The ARG names a stage declared, in order (build_step_meta.c; for RUN's history text). */
char **build_meta_declared_args(struct stage_state *st);
/* EXPOSE's ports after expansion, as "80/tcp" (build_step_meta.c). */
int build_meta_expose_ports(struct builder *b, struct stage_state *st,
                            const struct dockerfile_node *n, char ***ret, sb_error_t *err);
/* ADD sources: an http(s) URL (fetched by the agent); a git URL (refused). */
bool build_source_is_url(const char *s);
bool build_source_is_git(const char *s);
