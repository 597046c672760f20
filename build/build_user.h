#pragma once
/* USER and --chown: names resolved in the image's own /etc/passwd and /etc/group, read as text
 * (never through NSS, which would load code chosen by the image). */
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/sb_error.h"

#define BUILD_USER_FILE_MAX (4u * 1024u * 1024u)
#define BUILD_USER_GROUPS_MAX 64

struct build_user {
        uid_t uid;
        gid_t gid;
        gid_t groups[BUILD_USER_GROUPS_MAX]; /* supplementary groups */
        size_t n_groups;
        char home[256]; /* the user's home in the image's passwd, "" if unknown */
};

typedef enum build_user_mode {
        BUILD_USER_FOR_RUN,   /* USER: gid from passwd, supplementary groups from group */
        BUILD_USER_FOR_CHOWN, /* --chown: a user without group uses the same number as gid */
} build_user_mode_t;

/*
 * Resolve "user[:group]" (names or numbers). passwd and group are the files' contents (NULL if
 * the image has none). An unknown name fails with -EINVAL naming it.
 */
int build_user_resolve(const char *spec, const char *passwd, const char *group,
                       build_user_mode_t mode, struct build_user *ret, sb_error_t *err);
