#pragma once
/*
 * Stage planning: split a parsed Dockerfile at its FROM lines, resolve the global ARGs that
 * FROM may use, and work out which stages the target needs (its base stages and the stages or
 * images that COPY --from names).
 */
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "build/dockerfile_parse.h"
#include "common/sb_error.h"

/* An OCI platform, normalised as containerd does ("aarch64" -> arm64, "armhf" -> arm/v7...). */
struct build_platform {
        char os[32];
        char arch[32];
        char variant[32]; /* "" when there is none */
};

struct build_stage {
        size_t index;
        char *name;        /* lower-cased AS name, or NULL */
        char *base;        /* FROM's image after expansion ("scratch", a stage name, a ref) */
        long base_stage;   /* index of the stage FROM names, or -1 */
        bool scratch;
        bool implicit;     /* an image named only by COPY --from: pulled, never built */
        const struct dockerfile_node *from; /* NULL for implicit stages */
        size_t first, count; /* the instructions after FROM: df->nodes[first .. first+count) */
        bool needed;
        /* the platform the base is pulled for: FROM --platform (expanded with the global
         * ARGs), else the target platform; FROM scratch always uses the target platform */
        struct build_platform platform;
        bool platform_given; /* FROM had --platform */
};

struct build_plan {
        const struct dockerfile *df;
        struct build_stage *stages;
        size_t n_stages;
        size_t target;        /* index of the stage whose image is the result */
        char **global_args;   /* "K=V" for ARGs before the first FROM (build-args applied) */
        char **meta_args_decl; /* names declared before the first FROM */
        size_t total_steps;   /* FROM + instructions of every needed, non-implicit stage */
        struct build_platform target_platform; /* --custom-platform, else the host's */
        struct build_platform build_platform;  /* the host's (BUILDPLATFORM) */
        bool platform_explicit;                /* --custom-platform was given */
};

/*
 * Plan df for target (NULL: the last stage). build_args are "K=V". Errors (-EINVAL) name the
 * Dockerfile line: no FROM, instructions before FROM other than ARG, an unknown target, a
 * FROM or --from that names a later stage or itself.
 */
int build_plan_make(const struct dockerfile *df, char *const *build_args, const char *target,
                    struct build_plan *ret, sb_error_t *err);
/*
 * As build_plan_make, for the target platform "os/arch[/variant]" (NULL: the host's, which
 * leaves the final image's platform to its base as BuildKit does). The global scope starts
 * with BuildKit's predefined ARGs (BUILDPLATFORM, BUILDOS, BUILDARCH, BUILDVARIANT,
 * TARGETPLATFORM, TARGETOS, TARGETARCH, TARGETVARIANT, TARGETSTAGE, ...), each overridable
 * by a build arg; FROM --platform and the image name expand with it. A stage sees none of
 * them until it declares `ARG NAME`.
 */
int build_plan_make_for(const struct dockerfile *df, char *const *build_args, const char *target,
                        const char *platform, struct build_plan *ret, sb_error_t *err);
void build_plan_done(struct build_plan *p);

/* Find a stage by name (case-insensitive) or decimal index among stages [0, before). */
long build_plan_find_stage(const struct build_plan *p, const char *name, size_t before);

/* Value of build arg `name` from "K=V" list, or NULL. */
const char *build_args_lookup(char *const *kv, const char *name);
/* The --name=value flag of a node, or NULL. */
const char *build_node_flag(const struct dockerfile_node *n, const char *name);
/* Remove name from a "K=V" list (every occurrence). */
void build_args_unset(char ***kv, const char *name);

/*
 * Parse "os/arch[/variant]" (or "os/arch/variant" with an empty part rejected) and normalise it
 * as containerd does. -EINVAL with a message naming the text when it is not a platform.
 */
int build_platform_parse(const char *text, struct build_platform *ret, sb_error_t *err);
/* The platform sbuild runs on, normalised (arm64 has no variant). */
void build_platform_host(struct build_platform *ret);
/* "os/arch" or "os/arch/variant"; the caller frees it. */
char *build_platform_format(const struct build_platform *p);

/*
 * ARG inside a stage, with BuildKit's rules, for every NAME[=default] word of n: the value is
 * the build arg NAME if one was given; else the default, expanded with the stage's variables
 * (build_plan_scope_env of config_env and *args, seeing the words before it); else, for a bare
 * NAME, the global value (an ARG before the first FROM or a predefined platform ARG); else NAME
 * stays undefined. Defined values are set in *args ("K=V"), never in the image config.
 */
int build_plan_stage_arg(const struct build_plan *p, char *const *build_args,
                         const struct dockerfile_node *n, char *const *config_env, char ***args,
                         sb_error_t *err);
/*
 * The variables a stage's words expand with and RUN's environment: config_env ("K=V", the
 * image's Env) overlaid by args. An ARG declared after an ENV of the same name wins, as in
 * BuildKit; an ENV after an ARG wins because ENV removes the name from args
 * (build_args_unset). The caller frees the list.
 */
char **build_plan_scope_env(char *const *config_env, char *const *args);

/*
 * Platform fields of an image config. build_plan_scratch_config_platform: the target platform
 * (BuildKit gives FROM scratch the target platform, whatever FROM --platform says).
 * build_plan_final_platform: for the result image, with an explicit --custom-platform, set
 * os/architecture (and variant when the target has one or the os/arch changed) to the target,
 * as BuildKit does; without one the config keeps the platform of the image actually used.
 */
void build_plan_set_config_platform(json_t *config, const struct build_platform *pl);
void build_plan_final_platform(const struct build_plan *p, json_t *config);
