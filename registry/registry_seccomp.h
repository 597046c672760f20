#pragma once
/* The registry agent's own seccomp filter: it talks to the network and the store, nothing more
 * (no ptrace, no mount, no namespaces, no process tracing or kernel interfaces). */
#include "common/sb_error.h"

/* Load the filter in the calling process (irreversible; sets no_new_privs). */
int registry_seccomp_apply(sb_error_t *err);
