#pragma once
/* Capabilities of a RUN step: Docker's default set, nothing more. */
#include <stdint.h>
#include <sys/types.h>

#include "common/sb_error.h"

/*
 * Drop every capability outside Docker's default set (CHOWN, DAC_OVERRIDE, FSETID, FOWNER,
 * MKNOD, NET_RAW, SETGID, SETUID, SETFCAP, SETPCAP, NET_BIND_SERVICE, SYS_CHROOT, KILL,
 * AUDIT_WRITE) from the bounding set, and clear the ambient set. Needs CAP_SETPCAP, so call it
 * while still root, before switching to the step's uid. Returns 0 or -errno.
 */
int sandbox_caps_bound(sb_error_t *err);

/*
 * After the switch to the step's uid: permitted and effective = the default set for uid 0,
 * empty otherwise (as Docker, a non-root user gets capabilities only from file caps);
 * inheritable empty (CVE-2022-24769). Returns 0 or -errno.
 */
int sandbox_caps_set(uid_t uid, sb_error_t *err);

/* True if cap (a CAP_* number) is in the default set. */
int sandbox_caps_is_default(int cap);
