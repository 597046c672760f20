#pragma once
/* The registry agent's own seccomp filter: it talks to the network and the store, nothing more
 * (no ptrace, no mount, no namespaces, no process tracing or kernel interfaces). */
#include "common/sb_error.h"

/*
 * Load the filter in the calling process (irreversible; sets no_new_privs). It is inherited by
 * forked upload workers and by credential helpers the agent executes. Denied calls fail with
 * EPERM (ptrace, process_vm_*, mount, chroot, unshare/setns, clone with namespace flags, kexec,
 * modules, bpf, perf_event_open, keyrings, userfaultfd, io_uring, open_by_handle_at, swap,
 * reboot, acct, syslog, iopl/ioperm, prctl(PR_SET_DUMPABLE, != 0), personality changes, ...),
 * socket families other than unix/inet/inet6/netlink with EAFNOSUPPORT, and every call not on
 * the allow list (clone3, the new mount API, SysV IPC, ...) with ENOSYS. A system call through
 * a non-native ABI (i386 int 0x80) kills the process.
 */
int registry_seccomp_apply(sb_error_t *err);
