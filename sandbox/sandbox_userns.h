#pragma once
/*
 * User namespace setup: which id mapping to use, and spawning a process in new user, mount,
 * pid, ipc and uts namespaces with that mapping.
 */
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/sb_error.h"

typedef enum sandbox_userns_mode {
        SANDBOX_USERNS_ROOT,   /* caller is root: 0..65535 inside -> a range outside */
        SANDBOX_USERNS_SUBID,  /* ordinary user with /etc/subuid+subgid: newuidmap/newgidmap */
        SANDBOX_USERNS_SINGLE, /* ordinary user without ranges: only the caller, as 0 */
} sandbox_userns_mode_t;

#define SANDBOX_IDMAP_MAX 4
/* Outside start of the range used as root when /etc/subuid has no entry for root. */
#define SANDBOX_ROOT_RANGE_DEFAULT 1000000000u

struct sandbox_idmap {
        uint32_t inside, outside, count;
};

struct sandbox_userns_plan {
        sandbox_userns_mode_t mode;
        struct sandbox_idmap uid[SANDBOX_IDMAP_MAX];
        size_t n_uid;
        struct sandbox_idmap gid[SANDBOX_IDMAP_MAX];
        size_t n_gid;
        char description[256]; /* one line for the log, e.g. "subuid range 100000+65536" */
};

/*
 * Decide the mapping for the calling user: as root, 0..65535 inside map to root's
 * /etc/subuid range if it has one of at least 65536 ids, else SANDBOX_ROOT_RANGE_DEFAULT;
 * as another user, inside 0 is the caller and 1..65536 come from the first /etc/subuid and
 * /etc/subgid ranges of the user (by name or uid) of at least 65536 ids; without a range,
 * only the caller is mapped (mode SINGLE). Files are parsed as text, never through NSS.
 */
int sandbox_userns_plan_detect(struct sandbox_userns_plan *ret, sb_error_t *err);

/* Largest /etc/passwd, /etc/subuid or /etc/subgid read by the detection. */
#define SANDBOX_IDFILE_MAX (4u * 1024u * 1024u)

/*
 * sandbox_userns_plan_detect for a given caller and files (for tests and callers that know
 * better): uid/gid are the caller's, passwd_path names the user (may be missing), subuid_path
 * and subgid_path hold the ranges (may be missing). Malformed lines are ignored.
 */
int sandbox_userns_plan_detect_from(uid_t uid, gid_t gid, const char *passwd_path,
                                    const char *subuid_path, const char *subgid_path,
                                    struct sandbox_userns_plan *ret, sb_error_t *err);

/* The outside uid/gid that inside id `inside` maps to; (uid_t)-1 if unmapped. */
uid_t sandbox_userns_outside_uid(const struct sandbox_userns_plan *plan, uid_t inside);
gid_t sandbox_userns_outside_gid(const struct sandbox_userns_plan *plan, gid_t inside);

/*
 * Start fn(arg) in a child with new user, mount, pid, ipc and uts namespaces. The parent
 * writes the id maps (directly as root, with newuidmap/newgidmap otherwise). The child runs
 * fn as uid/gid 0 inside, as pid 1 of its pid namespace, with PR_SET_PDEATHSIG(SIGKILL),
 * mount propagation made private, and exits with fn's return value. All fds the child does
 * not need must be O_CLOEXEC or closed by fn. -EPERM/-ENOSPC/-EINVAL from clone give a message
 * that says user namespaces are unavailable and what to allow.
 */
int sandbox_spawn(const struct sandbox_userns_plan *plan, int (*fn)(void *arg), void *arg,
                  pid_t *ret_pid, sb_error_t *err);

/*
 * Open an id-mapped, detached view of the host directory `path` (open_tree + mount_setattr
 * MOUNT_ATTR_IDMAP) through a user namespace with the plan's maps: a file owned by host id N
 * appears owned by the id that N maps to, so the builder's root can read what the calling root
 * can. Needs CAP_SYS_ADMIN (root mode) and a filesystem that supports id-mapped mounts; the
 * caller falls back to a plain fd otherwise. Returns an O_PATH-like fd of the tree's root.
 */
int sandbox_userns_open_idmapped(const struct sandbox_userns_plan *plan, const char *path,
                                 int *ret_fd, sb_error_t *err);
