/*
 * The registry agent's seccomp filter, loaded for real in a forked child (it is irreversible):
 * the calls it must stop fail with EPERM or ENOSYS, and what the agent, its threads, its
 * upload workers and the credential helpers it executes need still works.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "registry/registry_seccomp.h"

/* Exit codes of the child: 0 all good, 90 + n the n-th check failed, 99 the filter failed. */
typedef int (*child_fn)(void);

static int wait_child(pid_t pid)
{
        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -1;
        return status;
}

/* Run fn in a child after loading the filter; return its wait status. */
static int run_filtered(child_fn fn)
{
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0)
                return -1;
        if (pid == 0) {
                sb_error_t err = { 0 };
                alarm(20);
                if (registry_seccomp_apply(&err) < 0) {
                        fprintf(stderr, "registry_seccomp_apply: %s\n", err.msg);
                        _exit(99);
                }
                _exit(fn());
        }
        return wait_child(pid);
}

static void expect_exit0(child_fn fn)
{
        int st = run_filtered(fn);
        cr_assert(WIFEXITED(st), "the child died of signal %d", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
        cr_assert_eq(WEXITSTATUS(st), 0, "the child failed check %d", WEXITSTATUS(st) - 90);
}

/* ---- denied calls ---- */

/*
 * One denied call per entry: the raw syscall with harmless arguments (without the filter each
 * would succeed or fail with some other errno, e.g. EINVAL, EFAULT, ENOENT, EBADF), and the
 * errno the filter must give.
 */
struct denied {
        char name[32];
        long nr;
        long args[6];
        int want;
};

static struct denied denied_calls[] = {
        { "ptrace(PTRACE_TRACEME)", SYS_ptrace, { 0 }, EPERM },
        { "process_vm_readv", SYS_process_vm_readv, { 1, 0, 0, 0, 0, 0 }, EPERM },
        { "process_vm_writev", SYS_process_vm_writev, { 1, 0, 0, 0, 0, 0 }, EPERM },
        { "mount", SYS_mount, { 0, 0, 0, 0, 0 }, EPERM },
        { "umount2", SYS_umount2, { 0, 0 }, EPERM },
        { "pivot_root", SYS_pivot_root, { 0, 0 }, EPERM },
        { "chroot", SYS_chroot, { 0 }, EPERM },
        { "unshare(0)", SYS_unshare, { 0 }, EPERM },
        { "unshare(CLONE_NEWUSER)", SYS_unshare, { CLONE_NEWUSER }, EPERM },
        { "setns", SYS_setns, { -1, 0 }, EPERM },
        { "clone3", SYS_clone3, { 0, 0 }, ENOSYS },
        { "fsopen", SYS_fsopen, { 0, 0 }, ENOSYS },
        { "open_tree", SYS_open_tree, { -1, 0, 0 }, ENOSYS },
        { "kexec_load", SYS_kexec_load, { 0, 0, 0, -1 }, EPERM },
        { "kexec_file_load", SYS_kexec_file_load, { -1, -1, 0, 0, -1 }, EPERM },
        { "init_module", SYS_init_module, { 0, 0, 0 }, EPERM },
        { "finit_module", SYS_finit_module, { -1, 0, 0 }, EPERM },
        { "delete_module", SYS_delete_module, { 0, 0 }, EPERM },
        { "bpf", SYS_bpf, { -1, 0, 0 }, EPERM },
        { "perf_event_open", SYS_perf_event_open, { 0, 0, -1, -1, 0 }, EPERM },
        { "keyctl", SYS_keyctl, { -1 }, EPERM },
        { "add_key", SYS_add_key, { 0, 0, 0, 0, 0 }, EPERM },
        { "request_key", SYS_request_key, { 0, 0, 0, 0 }, EPERM },
        { "userfaultfd", SYS_userfaultfd, { -1 }, EPERM },
        { "io_uring_setup", SYS_io_uring_setup, { 0, 0 }, EPERM },
        { "io_uring_enter", SYS_io_uring_enter, { -1, 0, 0, 0, 0, 0 }, EPERM },
        { "open_by_handle_at", SYS_open_by_handle_at, { -1, 0, 0 }, EPERM },
        { "name_to_handle_at", SYS_name_to_handle_at, { -1, 0, 0, 0, 0 }, EPERM },
        { "personality(NO_RANDOMIZE)", SYS_personality, { 0x0040000 }, EPERM },
        { "personality(READ_IMPL_EXEC)", SYS_personality, { 0x0400000 }, EPERM },
        { "swapon", SYS_swapon, { 0, 0 }, EPERM },
        { "swapoff", SYS_swapoff, { 0 }, EPERM },
        { "reboot(bad magic)", SYS_reboot, { 0, 0, 0, 0 }, EPERM },
        { "acct", SYS_acct, { 1 }, EPERM },
        { "syslog(SIZE_BUFFER)", SYS_syslog, { 10, 0, 0 }, EPERM },
        { "iopl(0)", SYS_iopl, { 0 }, EPERM },
        { "ioperm", SYS_ioperm, { 0, 0, 0 }, EPERM },
        { "pidfd_getfd", SYS_pidfd_getfd, { -1, 0, 0 }, EPERM },
        { "kcmp(0, 0, 99)", SYS_kcmp, { 0, 0, 99, 0, 0 }, EPERM },
        { "settimeofday", SYS_settimeofday, { 0, 0 }, EPERM },
        { "sethostname(len 1000)", SYS_sethostname, { 0, 1000 }, EPERM },
        { "prctl(SET_DUMPABLE, 1)", SYS_prctl, { PR_SET_DUMPABLE, 1 }, EPERM },
        { "prctl(SET_DUMPABLE, 2)", SYS_prctl, { PR_SET_DUMPABLE, 2 }, EPERM },
        { "prctl(SET_DUMPABLE, 1<<32)", SYS_prctl, { PR_SET_DUMPABLE, 1l << 32 }, EPERM },
        { "prctl(SET_PTRACER, any)", SYS_prctl, { 0x59616d61, -1 }, EPERM },
        { "prctl(SET_MM, MAP_SIZE)", SYS_prctl, { 35, 14, 0 }, EPERM },
        { "ioctl(TIOCSTI)", SYS_ioctl, { 0, 0x5412, 0 }, EPERM },
        { "socket(AF_PACKET)", SYS_socket, { AF_PACKET, SOCK_RAW, 0 }, EAFNOSUPPORT },
        { "socket(AF_ALG)", SYS_socket, { 38, SOCK_SEQPACKET, 0 }, EAFNOSUPPORT },
        { "socket(AF_VSOCK)", SYS_socket, { 40, SOCK_STREAM, 0 }, EAFNOSUPPORT },
        { "socket(AF_PACKET, hi bits)", SYS_socket, { AF_PACKET | (1l << 32), SOCK_RAW, 0 },
          EAFNOSUPPORT },
        { "mknodat(block device)", SYS_mknodat, { -100, 0, 0060600, 0 }, ENOSYS },
        { "an unlisted call (msgget)", SYS_msgget, { 0x7fffffff, 0 }, ENOSYS },
};

static struct denied *current;

static int call_denied(void)
{
        struct denied *d = current;
        errno = 0;
        long r = syscall(d->nr, d->args[0], d->args[1], d->args[2], d->args[3], d->args[4],
                         d->args[5]);
        if (r != -1) {
                fprintf(stderr, "%s succeeded (%ld)\n", d->name, r);
                return 91;
        }
        if (errno != d->want) {
                fprintf(stderr, "%s: errno %d (%s), want %d\n", d->name, errno, strerror(errno),
                        d->want);
                return 92;
        }
        return 0;
}

ParameterizedTestParameters(seccomp, denied)
{
        return cr_make_param_array(struct denied, denied_calls,
                                   sizeof(denied_calls) / sizeof(denied_calls[0]));
}

ParameterizedTest(struct denied *d, seccomp, denied)
{
        current = d;
        int st = run_filtered(call_denied);
        cr_assert(WIFEXITED(st), "%s: the child died of signal %d", d->name,
                  WIFSIGNALED(st) ? WTERMSIG(st) : 0);
        cr_assert_eq(WEXITSTATUS(st), 0, "%s: not denied as expected (see stderr)", d->name);
}

/* clone with a namespace flag: a child process would be created if the filter let it by. */
static int clone_with_ns(void)
{
        long flags[] = { CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWUTS,
                         CLONE_NEWIPC, CLONE_NEWCGROUP };
        for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
                long r = syscall(SYS_clone, flags[i] | SIGCHLD, 0, 0, 0, 0);
                if (r == 0)
                        _exit(0);
                if (r > 0) {
                        waitpid((pid_t) r, NULL, 0);
                        return 91;
                }
                if (errno != EPERM)
                        return 92;
        }
        return 0;
}

Test(seccomp, clone_with_a_namespace_flag_is_denied)
{
        expect_exit0(clone_with_ns);
}

/* The agent cleared its dumpable flag before the filter; it cannot set it again. */
static int stays_undumpable(void)
{
        if (prctl(PR_GET_DUMPABLE) != 0)
                return 91;
        if (prctl(PR_SET_DUMPABLE, 0) != 0)
                return 92;
        if (prctl(PR_SET_DUMPABLE, 1) != -1 || errno != EPERM)
                return 93;
        if (prctl(PR_GET_DUMPABLE) != 0)
                return 94;
        return 0;
}

Test(seccomp, a_cleared_dumpable_flag_cannot_be_set_again)
{
        fflush(NULL);
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
                sb_error_t err = { 0 };
                if (prctl(PR_SET_DUMPABLE, 0) < 0 || registry_seccomp_apply(&err) < 0)
                        _exit(99);
                _exit(stays_undumpable());
        }
        int st = wait_child(pid);
        cr_assert(WIFEXITED(st));
        cr_assert_eq(WEXITSTATUS(st), 0, "check %d failed", WEXITSTATUS(st) - 90);
}

static int status_fields(void)
{
        char buf[8192];
        int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return 91;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
                return 92;
        buf[n] = '\0';
        if (!strstr(buf, "\nSeccomp:\t2\n"))
                return 93;
        if (!strstr(buf, "\nNoNewPrivs:\t1\n"))
                return 94;
        return 0;
}

Test(seccomp, the_filter_is_in_filter_mode_with_no_new_privs)
{
        expect_exit0(status_fields);
}

#if defined(__x86_64__)
/* getpid through the i386 entry point (int 0x80): another arch, so the process is killed. */
static int i386_call(void)
{
        long ret = 20; /* __NR_getpid on i386 */
        __asm__ volatile("int $0x80" : "+a"(ret) : : "memory");
        return ret > 0 ? 91 : 92;
}

Test(seccomp, a_32_bit_system_call_kills_the_process)
{
        int st = run_filtered(i386_call);
        cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS,
                  "want death by SIGSYS, got status 0x%x", st);
}

/* x32 numbers (bit 30) match none of the native rules. */
static int x32_call(void)
{
        long r = syscall(0x40000000L | 39 /* getpid */);
        return r == -1 && errno == ENOSYS ? 0 : 91;
}

Test(seccomp, an_x32_system_call_fails)
{
        int st = run_filtered(x32_call);
        cr_assert((WIFEXITED(st) && WEXITSTATUS(st) == 0) ||
                          (WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS),
                  "x32 getpid was not stopped (status 0x%x)", st);
}
#endif

/* ---- what must keep working ---- */

/* A TCP round trip on 127.0.0.1, and a name lookup through NSS (/etc/hosts). */
static int network(void)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t alen = sizeof(a);
        int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (l < 0 || bind(l, (struct sockaddr *) &a, sizeof(a)) < 0 || listen(l, 1) < 0 ||
            getsockname(l, (struct sockaddr *) &a, &alen) < 0)
                return 91;
        int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c < 0 || connect(c, (struct sockaddr *) &a, sizeof(a)) < 0)
                return 92;
        int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        char buf[8] = { 0 };
        if (s < 0 || write(c, "ping", 4) != 4 || read(s, buf, sizeof(buf)) != 4 ||
            memcmp(buf, "ping", 4) != 0)
                return 93;
        close(s);
        close(c);
        close(l);
        int u = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (u < 0)
                return 94;
        close(u);
        int sp[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
                return 95;
        close(sp[0]);
        close(sp[1]);
        struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM,
                                  .ai_flags = AI_ADDRCONFIG };
        struct addrinfo *res = NULL;
        if (getaddrinfo("localhost", "80", &hints, &res) != 0 || !res)
                return 96;
        freeaddrinfo(res);
        return 0;
}

Test(seccomp, loopback_tcp_and_name_lookup_work)
{
        expect_exit0(network);
}

static char tmpdir[64];

/* Store-like I/O: write a temp file, fsync, rename into place, read it back, list, remove. */
static int files(void)
{
        int d = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (d < 0)
                return 91;
        if (mkdirat(d, "blobs", 0755) < 0)
                return 92;
        int fd = openat(d, "tmp-blob", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, "content", 7) != 7 || fsync(fd) < 0 || close(fd) < 0)
                return 93;
        if (renameat(d, "tmp-blob", d, "blobs/blob") < 0)
                return 94;
        char buf[16] = { 0 };
        fd = openat(d, "blobs/blob", O_RDONLY | O_CLOEXEC);
        if (fd < 0 || read(fd, buf, sizeof(buf)) != 7 || strcmp(buf, "content") != 0)
                return 95;
        close(fd);
        if (unlinkat(d, "blobs/blob", 0) < 0 || unlinkat(d, "blobs", AT_REMOVEDIR) < 0)
                return 96;
        close(d);
        return 0;
}

Test(seccomp, files_can_be_written_renamed_and_read)
{
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/sbuild-seccomp.XXXXXX");
        cr_assert_not_null(mkdtemp(tmpdir));
        expect_exit0(files);
        rmdir(tmpdir);
}

/* fork (glibc uses clone without namespace flags) and waitpid. */
static int forking(void)
{
        pid_t p = fork();
        if (p < 0)
                return 91;
        if (p == 0)
                _exit(7);
        int st = wait_child(p);
        return WIFEXITED(st) && WEXITSTATUS(st) == 7 ? 0 : 92;
}

Test(seccomp, fork_works)
{
        expect_exit0(forking);
}

static void *thread_main(void *arg)
{
        *(int *) arg = 42;
        return NULL;
}

/* glibc tries clone3 (ENOSYS) and falls back to clone for the thread. */
static int threads(void)
{
        pthread_t t;
        int v = 0;
        if (pthread_create(&t, NULL, thread_main, &v) != 0)
                return 91;
        if (pthread_join(t, NULL) != 0 || v != 42)
                return 92;
        return 0;
}

Test(seccomp, a_thread_can_be_created)
{
        expect_exit0(threads);
}

/* A credential helper runs as fork + execve, under the inherited filter. */
static int run_program(char *const argv[], int want)
{
        static char path[] = "PATH=/usr/bin:/bin";
        pid_t p = fork();
        if (p < 0)
                return 91;
        if (p == 0) {
                execve(argv[0], argv, (char *[]){ path, NULL });
                _exit(127);
        }
        int st = wait_child(p);
        return WIFEXITED(st) && WEXITSTATUS(st) == want ? 0 : 92;
}

static int exec_true(void)
{
        static char prog[] = "/bin/true";
        return run_program((char *[]){ prog, NULL }, 0);
}

Test(seccomp, execve_of_bin_true_works)
{
        expect_exit0(exec_true);
}

/* A dynamically linked shell running a pipeline: what a shell-script helper needs. */
static int exec_shell(void)
{
        static char sh[] = "/bin/sh", c[] = "-c",
                    script[] = "x=$(echo secret | tr a-z A-Z | cat); "
                               "[ \"$x\" = SECRET ] && ls / >/dev/null && exit 3";
        return run_program((char *[]){ sh, c, script, NULL }, 3);
}

Test(seccomp, a_shell_pipeline_runs_under_the_filter)
{
        expect_exit0(exec_shell);
}

/* Allowed prctl options, and the personality query. */
static int allowed_misc(void)
{
        if (prctl(PR_SET_NAME, "agent-test") < 0)
                return 91;
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
                return 92;
        if (syscall(SYS_personality, 0xffffffffL) < 0)
                return 93;
        if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
                return 94;
        return 0;
}

Test(seccomp, ordinary_prctl_options_still_work)
{
        expect_exit0(allowed_misc);
}
