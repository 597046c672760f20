#pragma once
/* COPY and ADD: sources matched in a source tree (the context or a stage's rootfs), copied
 * into the step's rootfs with Docker's rules for directories, trailing slashes and owners. */
#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "build/build_ignore.h"
#include "common/sb_error.h"

struct build_copy_opts {
        bool chown;          /* set every copied entry's owner to uid:gid */
        uid_t uid;
        gid_t gid;
        bool keep_owner;     /* without chown: keep the source's owner (COPY --from) */
        bool add;            /* ADD: local tar archives are extracted */
        /* paths of the source tree that do not exist for this copy (.dockerignore); matched
         * against the path relative to src_root_fd */
        const struct build_ignore *ignore;
        /* --exclude: matched against the path relative to each source (a file source: its
         * name) */
        const struct build_ignore *exclude;
        const char *chmod;   /* --chmod: octal or symbolic (u+x,g-w,a=r); NULL keeps modes */
        bool parents;        /* --parents: keep the source's path (from a "/./" pivot) */
};

/*
 * Copy `sources` (patterns relative to src_root_fd; globs allowed) to `dest` (absolute, inside
 * dest_root_fd). Errors name the source or destination; -ENOENT when a source matches nothing.
 */
int build_copy(int src_root_fd, char *const *sources, int dest_root_fd, const char *dest,
               const struct build_copy_opts *o, sb_error_t *err);

/*
 * Copy the regular file open at fd (a heredoc body, a downloaded blob) as `name` to dest:
 * dest ending in '/' or naming an existing directory receives dest/name, else the file is
 * dest. Its mode is `mode` (o->chmod overrides), its mtime `mtime` (NULL: now), its owner
 * o->uid:o->gid with o->chown, else 0:0. fd is read from offset 0.
 */
int build_copy_fd(int fd, const char *name, mode_t mode, const struct timespec *mtime,
                  int dest_root_fd, const char *dest, const struct build_copy_opts *o,
                  sb_error_t *err);

/*
 * The mode --chmod=spec gives an entry whose mode is `mode` (permission bits; is_dir for 'X').
 * spec is octal ("0755", at most 07777) or chmod(1) symbolic clauses ("u+x,g-w,a=r", no
 * umask). -EINVAL for an invalid spec.
 */
int build_copy_chmod(const char *spec, mode_t mode, bool is_dir, mode_t *ret);
