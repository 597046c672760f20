#pragma once
/*
 * Mounts inside a step's root: the targets (/proc, /dev, /etc/hosts, /etc/resolv.conf) are
 * resolved inside the rootfs and mounted through an O_PATH fd, so a symlink in the image
 * cannot point a mount at the host. Also the builder-side removal of the mount point stubs.
 */
#include <stddef.h>

#include "common/sb_error.h"

typedef enum sandbox_stub_kind {
        SANDBOX_STUB_DIR = 1,
        SANDBOX_STUB_FILE = 2,
} sandbox_stub_kind_t;

#define SANDBOX_STUB_PATH_MAX 64

/* Something created in the rootfs only to mount on; path is relative to the root. */
struct sandbox_stub {
        int kind; /* sandbox_stub_kind_t */
        char path[SANDBOX_STUB_PATH_MAX];
};

/*
 * Called right after each stub is created, before anything is mounted on it, so that the
 * record survives a failure later in the setup.
 */
typedef void (*sandbox_stub_fn)(const struct sandbox_stub *stub, void *userdata);

/*
 * In the step's mount namespace, with rootfd an O_PATH/O_DIRECTORY fd of the mounted rootfs:
 * mount a fresh proc on /proc, a minimal /dev (tmpfs, bind-mounted host nodes, devpts,
 * /dev/shm) and the host's /etc/hosts and /etc/resolv.conf read-only. Missing targets are
 * created (reported through stub_fn); a file target that is a symlink leading nowhere inside
 * the root is skipped. Returns 0 or -errno.
 */
int sandbox_mount_setup_root(int rootfd, sandbox_stub_fn stub_fn, void *userdata, sb_error_t *err);

/*
 * Make rootfd the root of the calling process's mount namespace and detach the old root
 * (pivot_root(".", ".") then umount2(MNT_DETACH)); the cwd is "/" afterwards.
 */
int sandbox_mount_pivot(int rootfd, sb_error_t *err);

/*
 * Remove stubs (in reverse order of creation) from upperdir once nothing is mounted on them:
 * a file only while it is still an empty regular file, a directory only while empty. The
 * walk never follows symlinks. Failures to remove are not errors (the step may have put
 * something there); returns 0, or -errno if upperdir cannot be opened.
 */
int sandbox_mount_remove_stubs(const char *upperdir, const struct sandbox_stub *stubs, size_t n,
                               sb_error_t *err);
