#pragma once
/*
 * Running one RUN step inside the builder (which is root of its user namespace): an overlay
 * rootfs, fresh /proc, minimal /dev, the host's resolv.conf and hosts, reduced capabilities,
 * no_new_privs, closed fds, the seccomp filter last, then execve.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/sb_error.h"

struct sandbox_step {
        char *const *lowerdirs; /* absolute, top-most first, at least one (an empty dir for scratch) */
        const char *upperdir;   /* absolute; the step's changes land here */
        const char *workdir;    /* overlay work dir on the same filesystem as upperdir */
        const char *mountpoint; /* an empty directory where the rootfs is mounted */
        char *const *argv;      /* argv[0] found through PATH in envp, inside the rootfs */
        char *const *envp;      /* "K=V" */
        const char *cwd;        /* absolute, inside the rootfs; created (0755) if missing */
        uid_t uid;
        gid_t gid;
        const gid_t *groups; /* supplementary groups */
        size_t n_groups;
        const char *hostname; /* NULL: "sbuild" */
        int stdout_fd;        /* the command's output goes here (inherited as fds 1 and 2) */
        int stderr_fd;
        /*
         * RUN --network=none: the step gets a new network namespace whose only interface is
         * the loopback, brought up. false: the builder's (the host's) network.
         */
        bool network_none;
        /*
         * A file shown read-only at /dev/pipes/<pipe_name> (mode 0755, on its own tmpfs so it
         * may be executed), never in the layer: BuildKit's way of running a RUN heredoc that
         * starts with "#!". pipe_name NULL: none. The name must be a plain file name.
         */
        const char *pipe_name;
        const char *pipe_data;
        size_t pipe_len;
        /*
         * Resource limits, as rlimits set on the command process before execve (everything it
         * starts inherits them). 0 means no limit, except for nofile_limit.
         * memory_limit: RLIMIT_AS in bytes, per process (address space, not resident memory).
         * pids_limit: RLIMIT_NPROC; the kernel counts every process of the command's real uid
         *   in the builder's user namespace (the builder's own included) against it.
         * nofile_limit: RLIMIT_NOFILE; 0: 1048576, or the current hard limit if lower.
         * timeout_ms: the step's init kills every process of the step's pid namespace when the
         *   command has run this long; sandbox_step_run then fails with -ETIMEDOUT and
         *   "the step ran longer than <duration>".
         */
        uint64_t memory_limit;
        uint64_t pids_limit;
        uint64_t nofile_limit;
        uint64_t timeout_ms;
};

/* The largest pipe_data sandbox_step_run accepts. */
#define SANDBOX_STEP_PIPE_MAX (4u * 1024u * 1024u)

/*
 * Run the step; *ret_status is the wait status of the command (WIFEXITED...). Everything the
 * command leaves behind is killed (it runs in its own pid namespace) before this returns and
 * the overlay is unmounted, so upperdir holds exactly the step's change. Mount point stubs that
 * had to be created for /proc, /dev, /etc/hosts and /etc/resolv.conf are removed from upperdir
 * again. Returns -errno if the sandbox could not be set up (the message says which part).
 */
int sandbox_step_run(const struct sandbox_step *step, int *ret_status, sb_error_t *err);

/*
 * Mount an overlay (userxattr) of lowerdirs (top-most first, at least one) and upperdir at
 * target in the caller's mount namespace, for file operations of COPY/ADD/WORKDIR. Uses the
 * new mount API with "lowerdir+" where the kernel has it, so the number of layers is not
 * limited by the page-sized option string.
 */
int sandbox_overlay_mount(char *const *lowerdirs, const char *upperdir, const char *workdir,
                          const char *target, sb_error_t *err);
int sandbox_overlay_umount(const char *target, sb_error_t *err);
