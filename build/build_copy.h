#pragma once
/* COPY and ADD: sources matched in a source tree (the context or a stage's rootfs), copied
 * into the step's rootfs with Docker's rules for directories, trailing slashes and owners. */
#include <stdbool.h>
#include <sys/types.h>

#include "common/sb_error.h"

struct build_copy_opts {
        bool chown;          /* set every copied entry's owner to uid:gid */
        uid_t uid;
        gid_t gid;
        bool keep_owner;     /* without chown: keep the source's owner (COPY --from) */
        bool add;            /* ADD: local tar archives are extracted */
};

/*
 * Copy `sources` (patterns relative to src_root_fd; globs allowed) to `dest` (absolute, inside
 * dest_root_fd). Errors name the source or destination; -ENOENT when a source matches nothing.
 */
int build_copy(int src_root_fd, char *const *sources, int dest_root_fd, const char *dest,
               const struct build_copy_opts *o, sb_error_t *err);
