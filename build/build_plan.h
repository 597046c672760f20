#pragma once
/*
 * Stage planning: split a parsed Dockerfile at its FROM lines, resolve the global ARGs that
 * FROM may use, and work out which stages the target needs (its base stages and the stages or
 * images that COPY --from names).
 */
#include <stdbool.h>
#include <stddef.h>

#include "build/dockerfile_parse.h"
#include "common/sb_error.h"

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
};

struct build_plan {
        const struct dockerfile *df;
        struct build_stage *stages;
        size_t n_stages;
        size_t target;        /* index of the stage whose image is the result */
        char **global_args;   /* "K=V" for ARGs before the first FROM (build-args applied) */
        char **meta_args_decl; /* names declared before the first FROM */
        size_t total_steps;   /* FROM + instructions of every needed, non-implicit stage */
};

/*
 * Plan df for target (NULL: the last stage). build_args are "K=V". Errors (-EINVAL) name the
 * Dockerfile line: no FROM, instructions before FROM other than ARG, an unknown target, a
 * FROM or --from that names a later stage or itself.
 */
int build_plan_make(const struct dockerfile *df, char *const *build_args, const char *target,
                    struct build_plan *ret, sb_error_t *err);
void build_plan_done(struct build_plan *p);

/* Find a stage by name (case-insensitive) or decimal index among stages [0, before). */
long build_plan_find_stage(const struct build_plan *p, const char *name, size_t before);

/* Value of build arg `name` from "K=V" list, or NULL. */
const char *build_args_lookup(char *const *kv, const char *name);
/* The --name=value flag of a node, or NULL. */
const char *build_node_flag(const struct dockerfile_node *n, const char *name);
