#include "sandbox/sandbox_seccomp.h"

#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "common/sb_log.h"

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
#ifndef AF_ALG
#define AF_ALG 38
#endif
#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#ifndef TIOCLINUX
#define TIOCLINUX 0x541C
#endif

/*
 * Denied with EPERM, whatever the arguments. This is the part of Docker's default profile
 * that matters once the filter's default is "allow": calls Docker leaves out of its allow
 * list, or allows only with CAP_SYS_ADMIN (or another capability a RUN step does not get).
 * A step is root of a user namespace, so for calls checked against that namespace the
 * kernel's own capability checks are not enough; the filter closes those.
 */
static const char *const deny_eperm[] = {
        /* mounts and namespaces: a step must not rearrange its root or nest a userns (a new
         * user namespace gets a full capability set again) */
        "mount",
        "umount",
        "umount2",
        "pivot_root",
        "unshare",
        "setns",
        /* the kernel keyring is not namespaced */
        "keyctl",
        "add_key",
        "request_key",
        /* large kernel attack surface, root-of-host features */
        "bpf",
        "perf_event_open",
        "userfaultfd",
        "io_uring_setup",
        "io_uring_enter",
        "io_uring_register",
        "kexec_load",
        "kexec_file_load",
        "init_module",
        "finit_module",
        "delete_module",
        "iopl",
        "ioperm",
        "swapon",
        "swapoff",
        "reboot",
        "syslog",
        "acct",
        "settimeofday",
        "stime",
        "clock_settime",
        "clock_settime64",
        "lookup_dcookie",
        "quotactl",
        "quotactl_fd",
        "nfsservctl",
        "vm86",
        "vm86old",
        "uselib",
        "_sysctl",
        "sysfs",
        "ustat",
        "vhangup",
        /* file handles bypass path permission checks ("shocker" breakout) */
        "open_by_handle_at",
        "name_to_handle_at",
};

/*
 * The new mount API and clone3 get ENOSYS rather than EPERM: clone3 hides its flags behind a
 * pointer the filter cannot read, and ENOSYS makes libc fall back to clone, whose flags the
 * filter checks. Programs probing the mount API fall back to mount(2), which is denied.
 */
static const char *const deny_enosys[] = {
        "clone3",    "fsopen",     "fsconfig",      "fsmount",        "fspick",
        "open_tree", "move_mount", "mount_setattr", "open_tree_attr",
};

/* personality() values Docker allows (Linux, and the 32-bit/ADDR_NO_RANDOMIZE variants). */
static const uint64_t personality_ok[] = { 0x0, 0x8, 0x20000, 0x20008, 0xffffffff };

static const uint64_t clone_ns_flags[] = {
        CLONE_NEWNS,   CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
        CLONE_NEWUSER, CLONE_NEWPID,    CLONE_NEWNET,
};

static void release_ctx(scmp_filter_ctx *ctx)
{
        if (*ctx)
                seccomp_release(*ctx);
}

/* Resolve a name; 0 and *ret, or -ENOENT when neither the libseccomp nor any arch knows it. */
static int resolve(const char *name, int *ret)
{
        int nr = seccomp_syscall_resolve_name(name);
        if (nr == __NR_SCMP_ERROR)
                return -ENOENT;
        *ret = nr;
        return 0;
}

/*
 * Add one rule. Syscalls that exist only on some of the filter's arches (umount on x86 but
 * not x86_64, for example) are added where they exist; libseccomp reports -EDOM when a call
 * exists on none of them, which is fine to skip.
 */
static int add(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned n,
               const struct scmp_arg_cmp *cmp, sb_error_t *err)
{
        int nr;
        if (resolve(name, &nr) < 0) {
                sb_debug("seccomp: '%s' unknown to libseccomp, skipped", name);
                return 0;
        }
        int r = seccomp_rule_add_array(ctx, action, nr, n, cmp);
        if (r == -EDOM || r == -EOPNOTSUPP) {
                sb_debug("seccomp: '%s' not filterable on this arch, skipped", name);
                return 0;
        }
        if (r < 0)
                return sb_error_errno(err, -r, "seccomp rule for '%s'", name);
        return 0;
}

/* EPERM for name when the low 32 bits of argument 0 are in [lo, hi] (hi < 2^32). */
static int deny_range(scmp_filter_ctx ctx, const char *name, uint64_t lo, uint64_t hi,
                      sb_error_t *err)
{
        while (lo <= hi) {
                /* The largest block of 2^k values that starts at lo and ends by hi. */
                unsigned k = 0;
                while (k < 32 && (lo & ((2ull << k) - 1)) == 0 && lo + (2ull << k) - 1 <= hi)
                        k++;
                uint64_t mask = 0xffffffffull & ~((1ull << k) - 1);
                struct scmp_arg_cmp c = SCMP_CMP(0, SCMP_CMP_MASKED_EQ, mask, lo);
                int r = add(ctx, SCMP_ACT_ERRNO(EPERM), name, 1, &c, err);
                if (r < 0)
                        return r;
                lo += 1ull << k;
        }
        return 0;
}

static int build(scmp_filter_ctx *ret, sb_error_t *err)
{
        __attribute__((cleanup(release_ctx))) scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
        uint32_t native = seccomp_arch_native();
        int r;

        if (!ctx)
                return sb_error_set(err, ENOMEM, "seccomp_init failed");

        /*
         * Compat ABIs run the same kernel with other syscall numbers: a filter written only for
         * x86_64 would let an i386 or x32 binary call mount() freely. With the sub-arches
         * added, libseccomp emits the rules for each; any other arch is killed (the default
         * bad-arch action).
         */
        if (native == SCMP_ARCH_X86_64) {
                r = seccomp_arch_add(ctx, SCMP_ARCH_X32);
                if (r < 0 && r != -EEXIST)
                        return sb_error_errno(err, -r, "seccomp: add the x32 arch");
        }
        /*
         * socket(AF_ALG) and socket(AF_VSOCK), as Docker. Added before the i386 ABI on
         * purpose: there socket() can also go through socketcall(), whose arguments sit behind
         * a pointer, and libseccomp would turn this rule into a denial of every
         * socketcall(SYS_SOCKET), breaking all networking of 32-bit programs. Rules added
         * before seccomp_arch_add() do not reach that arch, so on i386 the family is not
         * checked (a known gap, as in Docker, where only an LSM can close it).
         */
        int families[] = { AF_ALG, AF_VSOCK };
        for (size_t i = 0; i < 2; i++) {
                struct scmp_arg_cmp c =
                        SCMP_CMP(0, SCMP_CMP_MASKED_EQ, 0xffffffffu, (uint64_t) families[i]);
                if ((r = add(ctx, SCMP_ACT_ERRNO(EPERM), "socket", 1, &c, err)) < 0)
                        return r;
        }
        if (native == SCMP_ARCH_X86_64) {
                r = seccomp_arch_add(ctx, SCMP_ARCH_X86);
                if (r < 0 && r != -EEXIST)
                        return sb_error_errno(err, -r, "seccomp: add the x86 arch");
        } else if (native == SCMP_ARCH_AARCH64) {
                r = seccomp_arch_add(ctx, SCMP_ARCH_ARM);
                if (r < 0 && r != -EEXIST)
                        return sb_error_errno(err, -r, "seccomp: add the arm arch");
        }
        /* no_new_privs is already set by the caller; libseccomp setting it again is harmless. */
        (void) seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1);

        for (size_t i = 0; i < sizeof(deny_eperm) / sizeof(deny_eperm[0]); i++)
                if ((r = add(ctx, SCMP_ACT_ERRNO(EPERM), deny_eperm[i], 0, NULL, err)) < 0)
                        return r;
        for (size_t i = 0; i < sizeof(deny_enosys) / sizeof(deny_enosys[0]); i++)
                if ((r = add(ctx, SCMP_ACT_ERRNO(ENOSYS), deny_enosys[i], 0, NULL, err)) < 0)
                        return r;

        /*
         * clone with any namespace flag. The flags are argument 0 everywhere except s390,
         * where the first two arguments are swapped. One rule per flag, because libseccomp
         * has no "masked not equal".
         */
        unsigned clone_arg = (native == SCMP_ARCH_S390X || native == SCMP_ARCH_S390) ? 1 : 0;
        for (size_t i = 0; i < sizeof(clone_ns_flags) / sizeof(clone_ns_flags[0]); i++) {
                struct scmp_arg_cmp c = SCMP_CMP(clone_arg, SCMP_CMP_MASKED_EQ, clone_ns_flags[i],
                                                 clone_ns_flags[i]);
                if ((r = add(ctx, SCMP_ACT_ERRNO(EPERM), "clone", 1, &c, err)) < 0)
                        return r;
        }

        /*
         * personality: only the allowed values. libseccomp refuses two comparisons of one
         * argument in a rule, so the denied gaps between allowed values are each covered by
         * aligned blocks, one MASKED_EQ rule per block. The kernel reads an unsigned int, so
         * only the low 32 bits are compared (upper garbage cannot turn a denied value into an
         * allowed one, nor the other way round).
         */
        uint64_t lo = 0;
        for (size_t i = 0; i <= sizeof(personality_ok) / sizeof(personality_ok[0]); i++) {
                uint64_t next = i < sizeof(personality_ok) / sizeof(personality_ok[0])
                                        ? personality_ok[i]
                                        : 0x100000000ull;
                if (next > lo && (r = deny_range(ctx, "personality", lo, next - 1, err)) < 0)
                        return r;
                lo = next + 1;
        }

        /*
         * TIOCSTI pushes input into a terminal another process reads (CVE-2017-5226),
         * TIOCLINUX can too (CVE-2023-28100). The request is an unsigned int in the kernel,
         * so compare only the low 32 bits: garbage in the upper half must not slip past.
         */
        uint64_t ioctls[] = { TIOCSTI, TIOCLINUX };
        for (size_t i = 0; i < 2; i++) {
                struct scmp_arg_cmp c = SCMP_CMP(1, SCMP_CMP_MASKED_EQ, 0xffffffffu, ioctls[i]);
                if ((r = add(ctx, SCMP_ACT_ERRNO(EPERM), "ioctl", 1, &c, err)) < 0)
                        return r;
        }

        *ret = ctx;
        ctx = NULL;
        return 0;
}

int sandbox_seccomp_load_default(sb_error_t *err)
{
        __attribute__((cleanup(release_ctx))) scmp_filter_ctx ctx = NULL;
        int r = build(&ctx, err);
        if (r < 0)
                return r;
        r = seccomp_load(ctx);
        if (r < 0)
                return sb_error_errno(err, -r, "loading the seccomp filter");
        return 0;
}

int sandbox_seccomp_export_default(int fd, sb_error_t *err)
{
        __attribute__((cleanup(release_ctx))) scmp_filter_ctx ctx = NULL;
        int r = build(&ctx, err);
        if (r < 0)
                return r;
        r = seccomp_export_bpf(ctx, fd);
        if (r < 0)
                return sb_error_errno(err, -r, "exporting the seccomp filter");
        return 0;
}
