#include <criterion/criterion.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "sandbox/sandbox_seccomp.h"
#include "sbx_test.h"

static int expect_errno(long r, int e)
{
        return r == -1 && errno == e;
}

/* Each failed check returns its own number, so a failure names the syscall. */
static int probe(void *arg)
{
        (void) arg;
        sb_error_t err = { 0 };
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return 90;
        if (sandbox_seccomp_load_default(&err) < 0)
                return fprintf(stderr, "%s\n", err.msg), 91;
        if (!expect_errno(unshare(CLONE_NEWUSER), EPERM))
                return 1;
        if (!expect_errno(mount("none", "/mnt", "tmpfs", 0, NULL), EPERM))
                return 2;
        char args[88] = { 0 };
        if (!expect_errno(syscall(SYS_clone3, args, sizeof(args)), ENOSYS))
                return 3;
        if (!expect_errno(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0),
                          EPERM))
                return 4;
        if (!expect_errno(syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL),
                          EPERM))
                return 5;
        if (!expect_errno(syscall(SYS_fsopen, "tmpfs", 0), ENOSYS))
                return 6;
        if (!expect_errno(setns(0, 0), EPERM))
                return 7;
        if (!expect_errno(socket(38 /* AF_ALG */, SOCK_SEQPACKET, 0), EPERM))
                return 8;
        /* Upper bits of the (32-bit) ioctl request must not get TIOCSTI past the filter. */
        char c = 'x';
        if (!expect_errno(syscall(SYS_ioctl, 0, 0x100000000ul | TIOCSTI, &c), EPERM))
                return 9;
        if (!expect_errno(personality(PER_BSD), EPERM))
                return 10;
        if (personality(0xffffffff) < 0)
                return 11; /* querying is allowed */
        if (!expect_errno(syscall(SYS_bpf, 0, NULL, 0), EPERM))
                return 12;
        if (!expect_errno(syscall(SYS_io_uring_setup, 1, NULL), EPERM))
                return 13;
        if (!expect_errno(umount2("/", MNT_DETACH), EPERM))
                return 14;
        /* Ordinary process creation still works (glibc falls back from clone3 to clone). */
        pid_t pid = fork();
        if (pid < 0)
                return 20;
        if (pid == 0)
                _exit(42);
        if (sbx_wait_code(pid) != 42)
                return 21;
        int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0)
                return 22;
        close(s);
        return 0;
}

Test(sandbox_seccomp, default_filter_denies_namespaces_mounts_keyrings_and_clone3, .timeout = 30)
{
        cr_assert_eq(sbx_run_forked(probe, NULL), 0);
}

Test(sandbox_seccomp, default_filter_compiles_for_native_and_compat_abis)
{
        char path[] = "/tmp/sbuild-bpf-XXXXXX";
        int fd = mkstemp(path);
        cr_assert_geq(fd, 0);
        unlink(path);
        sb_error_t err = { 0 };
        cr_assert_eq(sandbox_seccomp_export_default(fd, &err), 0, "%s", err.msg);
        off_t len = lseek(fd, 0, SEEK_END);
        close(fd);
        /* struct sock_filter is 8 bytes; three arches' worth of rules is far more than 100. */
        cr_assert_eq(len % 8, 0);
        cr_assert_gt(len / 8, 100);
}
