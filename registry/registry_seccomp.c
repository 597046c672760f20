/*
 * The registry agent's seccomp filter. An allow list: the agent (libcurl with OpenSSL and
 * nghttp2, glibc's resolver and its threads, jansson, store file I/O), its forked upload
 * workers and the docker-credential-* helpers it executes (the filter survives execve, and a
 * helper may be any program, Go ones included) get the ordinary process, file, memory,
 * signal, time and network calls. Everything else fails: calls known to be dangerous with
 * EPERM, anything unlisted (including syscalls newer than this list) with ENOSYS, as on an
 * older kernel, so that programs probing for new calls fall back. Only the native ABI is
 * accepted; a 32-bit or x32 system call kills the process.
 */
#include "registry/registry_seccomp.h"

#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include "common/sb_log.h"

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
#ifndef TIOCLINUX
#define TIOCLINUX 0x541C
#endif
#ifndef PR_SET_PTRACER
#define PR_SET_PTRACER 0x59616d61
#endif
#ifndef PR_SET_MM
#define PR_SET_MM 35
#endif

#define N_ELEM(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Allowed whatever the arguments. Names unknown to libseccomp or absent on this arch are
 * skipped (they then fail with ENOSYS).
 */
static const char *const allowed[] = {
        /* files and directories (the store, CA bundles, config.json, NSS files) */
        "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev",
        "preadv2", "pwritev2", "open", "openat", "openat2", "creat", "close", "close_range",
        "lseek", "_llseek", "stat", "fstat", "lstat", "newfstatat", "statx", "statfs", "fstatfs",
        "access", "faccessat", "faccessat2", "getdents", "getdents64", "mkdir", "mkdirat",
        "rmdir", "unlink", "unlinkat", "rename", "renameat", "renameat2", "link", "linkat",
        "symlink", "symlinkat", "readlink", "readlinkat", "chmod", "fchmod", "fchmodat",
        "fchmodat2", "chown", "fchown", "lchown", "fchownat", "truncate", "ftruncate",
        "fallocate", "fsync", "fdatasync", "sync_file_range", "syncfs", "flock", "fcntl", "dup",
        "dup2", "dup3", "pipe", "pipe2", "utime", "utimes", "utimensat", "futimesat", "umask",
        "chdir", "fchdir", "getcwd", "fadvise64", "readahead", "copy_file_range", "sendfile",
        "splice", "tee", "getxattr", "lgetxattr", "fgetxattr", "listxattr", "llistxattr",
        "flistxattr", "setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr",
        "fremovexattr", "inotify_init", "inotify_init1", "inotify_add_watch",
        "inotify_rm_watch", "memfd_create",
        /* memory */
        "brk", "mmap", "munmap", "mprotect", "mremap", "madvise", "msync", "mincore", "mlock",
        "mlock2", "munlock", "mlockall", "munlockall", "pkey_alloc", "pkey_free",
        "pkey_mprotect", "membarrier", "get_mempolicy", "set_mempolicy", "mbind",
        "set_mempolicy_home_node", "map_shadow_stack", "mseal",
        /* processes and threads (clone is below: only without namespace flags) */
        "fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4", "waitid",
        "getpid", "getppid", "gettid", "getuid", "geteuid", "getgid", "getegid", "getresuid",
        "getresgid", "getgroups", "setuid", "setgid", "setreuid", "setregid", "setresuid",
        "setresgid", "setgroups", "setfsuid", "setfsgid", "capget", "capset", "setsid",
        "getsid", "setpgid", "getpgid", "getpgrp", "getpriority", "setpriority", "getrlimit",
        "setrlimit", "prlimit64", "getrusage", "times", "sysinfo", "uname", "arch_prctl",
        "set_tid_address", "set_robust_list", "rseq", "sched_yield", "sched_getaffinity",
        "sched_setaffinity", "sched_getparam", "sched_setparam", "sched_getscheduler",
        "sched_setscheduler", "sched_get_priority_max", "sched_get_priority_min",
        "sched_rr_get_interval", "sched_getattr", "sched_setattr", "ioprio_get", "ioprio_set",
        "getcpu", "futex", "futex_waitv", "futex_wake", "futex_wait", "futex_requeue",
        "pidfd_open", "pidfd_send_signal", "seccomp", "landlock_create_ruleset",
        "landlock_add_rule", "landlock_restrict_self", "restart_syscall",
        /* signals */
        "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigsuspend", "rt_sigpending",
        "rt_sigtimedwait", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "sigaltstack", "kill",
        "tkill", "tgkill", "pause", "alarm", "signalfd", "signalfd4",
        /* time and waiting */
        "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
        "getitimer", "setitimer", "timer_create", "timer_settime", "timer_gettime",
        "timer_getoverrun", "timer_delete", "timerfd_create", "timerfd_settime",
        "timerfd_gettime", "poll", "ppoll", "select", "pselect6", "epoll_create",
        "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd",
        "eventfd2", "getrandom",
        /* network (socket() is below: only some families) */
        "socketpair", "bind", "listen", "accept", "accept4", "connect", "getsockname",
        "getpeername", "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg",
        "shutdown", "setsockopt", "getsockopt",
};

/*
 * Denied with EPERM, whatever the arguments: reaching into other processes, mounts and
 * namespaces, kernel-wide state and large kernel attack surface. Most need a capability the
 * agent lacks when it runs as an ordinary user; the agent of a root build has them all, so
 * the filter, not the capability check, is what stops them there.
 */
static const char *const deny_eperm[] = {
        "ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "pidfd_getfd",
        "kcmp", "get_robust_list", "mount", "umount", "umount2", "pivot_root", "chroot",
        "unshare", "setns", "kexec_load", "kexec_file_load", "init_module", "finit_module",
        "delete_module", "bpf", "perf_event_open", "keyctl", "add_key", "request_key",
        "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
        "open_by_handle_at", "name_to_handle_at", "swapon", "swapoff", "reboot", "acct",
        "syslog", "iopl", "ioperm", "settimeofday", "stime", "clock_settime", "clock_adjtime",
        "adjtimex", "sethostname", "setdomainname", "quotactl", "quotactl_fd", "nfsservctl",
        "lookup_dcookie", "fanotify_init", "vhangup", "uselib", "_sysctl", "sysfs", "ustat",
        "vm86", "vm86old", "modify_ldt", "migrate_pages", "move_pages",
};

/*
 * Not listed, so ENOSYS (the default) on purpose: clone3, whose flags sit behind a pointer the
 * filter cannot read (glibc then falls back to clone, whose flags are checked below), and the
 * new mount API (fsopen, fsmount, open_tree, move_mount, mount_setattr, ...).
 */

static const uint64_t clone_ns_flags[] = {
        CLONE_NEWNS,   CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
        CLONE_NEWUSER, CLONE_NEWPID,    CLONE_NEWNET,
};

/* Socket families the agent, glibc's resolver (netlink for AI_ADDRCONFIG, nscd's unix
 * socket) and credential helpers (D-Bus) use; sorted. */
static const uint64_t socket_families[] = { AF_UNIX, AF_INET, AF_INET6, AF_NETLINK };

/* prctl options that are denied (sorted); PR_SET_DUMPABLE is allowed only to clear it. */
static const uint64_t prctl_denied[] = { PR_SET_DUMPABLE, PR_SET_MM, PR_SET_PTRACER };

/* ioctl requests that push input into a terminal another process reads (sorted). */
static const uint64_t ioctl_denied[] = { TIOCSTI, TIOCLINUX };

/* personality(): only the plain Linux persona and the query (sorted). */
static const uint64_t personality_ok[] = { 0x0, 0xffffffff };

static void release_ctx(scmp_filter_ctx *ctx)
{
        if (*ctx)
                seccomp_release(*ctx);
}

/*
 * Add one rule. A name libseccomp does not know, or one that does not exist on this arch
 * (-EDOM), is skipped: it then hits the default action (ENOSYS).
 */
static int add(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned n,
               const struct scmp_arg_cmp *cmp, sb_error_t *err)
{
        int nr = seccomp_syscall_resolve_name(name);
        if (nr == __NR_SCMP_ERROR) {
                sb_debug("registry seccomp: '%s' unknown to libseccomp, skipped", name);
                return 0;
        }
        int r = seccomp_rule_add_array(ctx, action, nr, n, cmp);
        if (r == -EDOM || r == -EOPNOTSUPP) {
                sb_debug("registry seccomp: '%s' not on this arch, skipped", name);
                return 0;
        }
        if (r < 0)
                return sb_error_errno(err, -r, "seccomp rule for '%s'", name);
        return 0;
}

/*
 * action for name when the low 32 bits of argument arg are in [lo, hi] (hi < 2^32), with
 * optional extra comparisons on other arguments. libseccomp refuses two comparisons of one
 * argument in a rule, so the range is covered by aligned power-of-two blocks, one MASKED_EQ
 * rule each. Only the low 32 bits count because the kernel reads these arguments as int:
 * garbage in the upper half must not move a value into or out of the range.
 */
static int add_range(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned arg,
                     uint64_t lo, uint64_t hi, sb_error_t *err)
{
        while (lo <= hi) {
                unsigned k = 0;
                while (k < 32 && (lo & ((2ull << k) - 1)) == 0 && lo + (2ull << k) - 1 <= hi)
                        k++;
                uint64_t mask = 0xffffffffull & ~((1ull << k) - 1);
                struct scmp_arg_cmp c = SCMP_CMP(arg, SCMP_CMP_MASKED_EQ, mask, lo);
                int r = add(ctx, action, name, 1, &c, err);
                if (r < 0)
                        return r;
                lo += 1ull << k;
        }
        return 0;
}

/*
 * in_action for the listed values of argument arg (32 bits, sorted), out_action for every
 * other 32-bit value; either may be skipped with skip_in / skip_out.
 */
static int add_split(scmp_filter_ctx ctx, const char *name, unsigned arg, const uint64_t *vals,
                     size_t n, uint32_t in_action, uint32_t out_action, bool skip_in,
                     sb_error_t *err)
{
        uint64_t lo = 0;
        int r;

        for (size_t i = 0; i <= n; i++) {
                uint64_t next = i < n ? vals[i] : 0x100000000ull;
                if (next > lo && (r = add_range(ctx, out_action, name, arg, lo, next - 1, err)) < 0)
                        return r;
                if (i < n && !skip_in &&
                    (r = add_range(ctx, in_action, name, arg, next, next, err)) < 0)
                        return r;
                lo = next + 1;
        }
        return 0;
}

static int add_list(scmp_filter_ctx ctx, uint32_t action, const char *const *names, size_t n,
                    sb_error_t *err)
{
        for (size_t i = 0; i < n; i++) {
                int r = add(ctx, action, names[i], 0, NULL, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int build(scmp_filter_ctx *ret, sb_error_t *err)
{
        __attribute__((cleanup(release_ctx))) scmp_filter_ctx ctx =
                seccomp_init(SCMP_ACT_ERRNO(ENOSYS));
        int r;

        if (!ctx)
                return sb_error_set(err, ENOMEM, "seccomp_init failed");
        /*
         * Only the native arch is in the filter. Compat ABIs (i386 via int 0x80, x32 numbers
         * on x86_64) run the same kernel with other syscall numbers, so rules written for the
         * native numbers would not hold there: such calls kill the process instead.
         */
        if ((r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS)) < 0)
                return sb_error_errno(err, -r, "seccomp: set the bad-arch action");
        if ((r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1)) < 0)
                return sb_error_errno(err, -r, "seccomp: set no_new_privs");

        if ((r = add_list(ctx, SCMP_ACT_ALLOW, allowed, N_ELEM(allowed), err)) < 0 ||
            (r = add_list(ctx, SCMP_ACT_ERRNO(EPERM), deny_eperm, N_ELEM(deny_eperm), err)) < 0)
                return r;

        /*
         * clone: threads, fork and posix_spawn, but no namespace flag (flags are argument 0
         * everywhere but s390). One EPERM rule per flag: libseccomp has no "masked not equal".
         */
        uint32_t native = seccomp_arch_native();
        unsigned clone_arg = (native == SCMP_ARCH_S390X || native == SCMP_ARCH_S390) ? 1 : 0;
        uint64_t ns_mask = 0;
        for (size_t i = 0; i < N_ELEM(clone_ns_flags); i++) {
                struct scmp_arg_cmp c = SCMP_CMP(clone_arg, SCMP_CMP_MASKED_EQ, clone_ns_flags[i],
                                                 clone_ns_flags[i]);
                if ((r = add(ctx, SCMP_ACT_ERRNO(EPERM), "clone", 1, &c, err)) < 0)
                        return r;
                ns_mask |= clone_ns_flags[i];
        }
        struct scmp_arg_cmp no_ns = SCMP_CMP(clone_arg, SCMP_CMP_MASKED_EQ, ns_mask, 0);
        if ((r = add(ctx, SCMP_ACT_ALLOW, "clone", 1, &no_ns, err)) < 0)
                return r;

        /* socket: the families above; any other one is "not supported", as on a kernel
         * built without it. */
        if ((r = add_split(ctx, "socket", 0, socket_families, N_ELEM(socket_families),
                           SCMP_ACT_ALLOW, SCMP_ACT_ERRNO(EAFNOSUPPORT), false, err)) < 0)
                return r;

        /*
         * prctl: everything but the denied options. PR_SET_DUMPABLE may only clear the flag:
         * the agent made itself undumpable and must not become dumpable (readable through
         * /proc/PID/mem by its user's other processes) again. PR_SET_PTRACER would let a
         * named process trace it; PR_SET_MM rewrites the memory map's metadata.
         */
        if ((r = add_split(ctx, "prctl", 0, prctl_denied, N_ELEM(prctl_denied), 0,
                           SCMP_ACT_ALLOW, true, err)) < 0)
                return r;
        struct scmp_arg_cmp dump_off[2] = {
                SCMP_CMP(0, SCMP_CMP_MASKED_EQ, 0xffffffffu, PR_SET_DUMPABLE),
                SCMP_CMP(1, SCMP_CMP_EQ, 0),
        };
        struct scmp_arg_cmp dump_on[2] = {
                SCMP_CMP(0, SCMP_CMP_MASKED_EQ, 0xffffffffu, PR_SET_DUMPABLE),
                SCMP_CMP(1, SCMP_CMP_NE, 0),
        };
        if ((r = add(ctx, SCMP_ACT_ALLOW, "prctl", 2, dump_off, err)) < 0 ||
            (r = add(ctx, SCMP_ACT_ERRNO(EPERM), "prctl", 2, dump_on, err)) < 0)
                return r;
        uint64_t prctl_eperm[] = { PR_SET_MM, PR_SET_PTRACER };
        for (size_t i = 0; i < N_ELEM(prctl_eperm); i++) {
                struct scmp_arg_cmp c = SCMP_CMP(0, SCMP_CMP_MASKED_EQ, 0xffffffffu,
                                                 prctl_eperm[i]);
                if ((r = add(ctx, SCMP_ACT_ERRNO(EPERM), "prctl", 1, &c, err)) < 0)
                        return r;
        }

        /* ioctl: all but the terminal-injection requests (CVE-2017-5226, CVE-2023-28100). */
        if ((r = add_split(ctx, "ioctl", 1, ioctl_denied, N_ELEM(ioctl_denied),
                           SCMP_ACT_ERRNO(EPERM), SCMP_ACT_ALLOW, false, err)) < 0)
                return r;

        /* personality: only the query and plain Linux; no ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC. */
        if ((r = add_split(ctx, "personality", 0, personality_ok, N_ELEM(personality_ok),
                           SCMP_ACT_ALLOW, SCMP_ACT_ERRNO(EPERM), false, err)) < 0)
                return r;

        *ret = ctx;
        ctx = NULL;
        return 0;
}

int registry_seccomp_apply(sb_error_t *err)
{
        __attribute__((cleanup(release_ctx))) scmp_filter_ctx ctx = NULL;
        int r;

        /* Set here too, so that a failure to set it is reported as such. */
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return sb_error_errno(err, errno, "setting no_new_privs for the registry agent");
        if ((r = build(&ctx, err)) < 0)
                return r;
        r = seccomp_load(ctx);
        if (r < 0)
                return sb_error_errno(err, -r, "loading the registry agent's seccomp filter");
        return 0;
}
