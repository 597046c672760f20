#pragma once
/*
 * The built-in seccomp filter for RUN steps: everything allowed except what Docker's default
 * profile denies to a container without CAP_SYS_ADMIN (namespaces, mounts, keyrings, bpf,
 * kernel modules, io_uring, ...), with the same result for the 32-bit x86 and x32 ABIs.
 */
#include "common/sb_error.h"

/*
 * Compile the default filter for the native architecture plus its compat ABIs and load it
 * into the calling thread. Irreversible. Call it last before execve, after no_new_privs is
 * set (libseccomp sets it too). Allocates; safe in a forked child of a single-threaded
 * process. Returns 0, or -errno from libseccomp or the kernel with *err filled.
 */
int sandbox_seccomp_load_default(sb_error_t *err);

/*
 * Compile the same filter and write its BPF program to fd (for inspection with
 * `scmp_bpf_disasm`, and to test that it builds). Returns 0 or -errno.
 */
int sandbox_seccomp_export_default(int fd, sb_error_t *err);
