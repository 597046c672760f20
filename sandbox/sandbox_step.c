#include "sandbox/sandbox_step.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <net/if.h>
#include <linux/openat2.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/sb_cleanup.h"
#include "common/sb_log.h"
#include "common/sb_util.h"
#include "sandbox/sandbox_caps.h"
#include "sandbox/sandbox_mount.h"
#include "sandbox/sandbox_seccomp.h"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

/* Docker's PATH when the image sets none. */
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
/* At most this many stubs (proc, dev, etc, etc/hosts, etc/resolv.conf, with room to spare). */
#define MAX_STUBS 16

/*
 * Messages from the step's init to the builder. Each is written with one write(2) and is
 * smaller than PIPE_BUF, so it arrives whole.
 */
enum { MSG_STUB = 1, MSG_ERROR, MSG_STATUS };
struct step_msg {
        int type;
        int status;
        int timed_out;
        struct sandbox_stub stub;
        sb_error_t err;
};
_Static_assert(sizeof(struct step_msg) <= PIPE_BUF, "step message must be written atomically");

static void send_msg(int fd, const struct step_msg *m)
{
        (void) sb_write_all(fd, m, sizeof(*m));
}

static void send_stub(const struct sandbox_stub *stub, void *userdata)
{
        struct step_msg m = { .type = MSG_STUB, .stub = *stub };
        send_msg(*(int *) userdata, &m);
}

/* ---- the command process ------------------------------------------------------------------ */

static const char *env_get(char *const *envp, const char *name)
{
        size_t n = strlen(name);
        for (size_t i = 0; envp && envp[i]; i++)
                if (strncmp(envp[i], name, n) == 0 && envp[i][n] == '=')
                        return envp[i] + n + 1;
        return NULL;
}

static void __attribute__((noreturn)) exec_failed(const char *file, int e)
{
        dprintf(STDERR_FILENO, "exec: '%s': %s\n", file, strerror(e));
        _exit(e == ENOENT || e == ENOTDIR ? 127 : 126);
}

/*
 * execvpe(3) would search the PATH of *this* process (glibc reads its own environment), not
 * the step's envp, and runs ENOEXEC files through /bin/sh. Search envp's PATH ourselves,
 * inside the new root, with the shell's exit codes: 127 not found, 126 found but not runnable.
 */
static void __attribute__((noreturn)) exec_in_path(char *const *argv, char *const *envp)
{
        const char *file = argv[0];
        char buf[PATH_MAX];

        if (!file || !*file)
                exec_failed("", ENOENT);
        if (strchr(file, '/')) {
                execve(file, argv, envp);
                exec_failed(file, errno);
        }
        const char *path = env_get(envp, "PATH");
        if (!path)
                path = DEFAULT_PATH;
        int found_err = 0;
        for (const char *p = path;;) {
                const char *end = strchrnul(p, ':');
                size_t len = (size_t) (end - p);
                /* An empty PATH entry means the current directory (POSIX). */
                int n = len ? snprintf(buf, sizeof(buf), "%.*s/%s", (int) len, p, file)
                            : snprintf(buf, sizeof(buf), "%s", file);
                if (n > 0 && (size_t) n < sizeof(buf)) {
                        execve(buf, argv, envp);
                        switch (errno) {
                        case ENOENT:
                        case ENOTDIR:
                        case ELOOP:
                        case ENAMETOOLONG:
                        case ESTALE:
                        case ENODEV:
                                break;
                        case EACCES:
                                found_err = EACCES; /* keep looking, like the shell */
                                break;
                        default:
                                exec_failed(file, errno);
                        }
                }
                if (!*end)
                        break;
                p = end + 1;
        }
        exec_failed(file, found_err ? found_err : ENOENT);
}

static void __attribute__((noreturn)) cmd_fail(int fd, sb_error_t *e)
{
        (void) sb_write_all(fd, e, sizeof(*e));
        _exit(127);
}

static void close_from(int lowfd)
{
        if (syscall(SYS_close_range, (unsigned) lowfd, ~0U, 0) == 0)
                return;
        long max = sysconf(_SC_OPEN_MAX);
        if (max < 0 || max > 65536)
                max = 65536;
        for (int fd = lowfd; fd < max; fd++)
                (void) close(fd);
}

/* The default RLIMIT_NOFILE of a step when none is asked for (capped by the hard limit). */
#define DEFAULT_NOFILE 1048576u

static int set_one_limit(int resource, const char *what, uint64_t value, sb_error_t *e)
{
        struct rlimit cur;
        if (getrlimit(resource, &cur) < 0)
                return sb_error_errno(e, errno, "getrlimit %s", what);
        /* Raising a hard limit needs CAP_SYS_RESOURCE on the host: say so instead of EPERM. */
        if (cur.rlim_max != RLIM_INFINITY && value > cur.rlim_max)
                return sb_error_set(e, EPERM, "the %s limit %llu is above the hard limit %llu",
                                    what, (unsigned long long) value,
                                    (unsigned long long) cur.rlim_max);
        struct rlimit rl = { .rlim_cur = (rlim_t) value, .rlim_max = (rlim_t) value };
        if (setrlimit(resource, &rl) < 0)
                return sb_error_errno(e, errno, "setting the %s limit to %llu", what,
                                      (unsigned long long) value);
        return 0;
}

/* The step's rlimits; soft and hard alike, so the command cannot raise them again. */
static int set_limits(const struct sandbox_step *s, sb_error_t *e)
{
        uint64_t nofile = s->nofile_limit;
        if (nofile == 0) {
                struct rlimit cur;
                if (getrlimit(RLIMIT_NOFILE, &cur) < 0)
                        return sb_error_errno(e, errno, "getrlimit open files");
                nofile = DEFAULT_NOFILE;
                if (cur.rlim_max != RLIM_INFINITY && cur.rlim_max < nofile)
                        nofile = cur.rlim_max;
        }
        if (set_one_limit(RLIMIT_NOFILE, "open files", nofile, e) < 0)
                return -e->code;
        if (s->memory_limit && set_one_limit(RLIMIT_AS, "memory", s->memory_limit, e) < 0)
                return -e->code;
        if (s->pids_limit && set_one_limit(RLIMIT_NPROC, "processes", s->pids_limit, e) < 0)
                return -e->code;
        return 0;
}

/*
 * Runs as the step's pid 2, after the pivot. Setup errors go to errfd (then fd 3) as an
 * sb_error_t; exec errors are the command's own (stderr, status 127/126).
 */
static void __attribute__((noreturn)) step_command(const struct sandbox_step *s, int errfd)
{
        sb_error_t e = { 0 };

        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        /* A new session: no controlling terminal to push input into (TIOCSTI). */
        if (setsid() < 0)
                cmd_fail(errfd, (sb_error_errno(&e, errno, "setsid"), &e));

        /*
         * Descriptors first, before any path is resolved: fds inherited from the builder may
         * point at host directories, and chdir("/proc/self/fd/N") to one of them would leave
         * the root (CVE-2024-21626). Copy what we keep above 3, then put it in place.
         */
        int nul = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
        int out = fcntl(s->stdout_fd, F_DUPFD_CLOEXEC, 4);
        int err2 = fcntl(s->stderr_fd, F_DUPFD_CLOEXEC, 4);
        int ef = fcntl(errfd, F_DUPFD_CLOEXEC, 4);
        int nul2 = nul >= 0 ? fcntl(nul, F_DUPFD_CLOEXEC, 4) : -1;
        if (out < 0 || err2 < 0 || ef < 0 || nul2 < 0)
                cmd_fail(errfd, (sb_error_errno(&e, errno, "preparing the step's stdio"), &e));
        if (dup2(nul2, 0) < 0 || dup2(out, 1) < 0 || dup2(err2, 2) < 0 || dup2(ef, 3) < 0 ||
            fcntl(3, F_SETFD, FD_CLOEXEC) < 0)
                cmd_fail(ef, (sb_error_errno(&e, errno, "setting up the step's stdio"), &e));
        errfd = 3;
        close_from(4);

        /* The working directory, created as root like Docker's WORKDIR; then checked. */
        const char *cwd = s->cwd ? s->cwd : "/";
        if (cwd[0] != '/')
                cmd_fail(errfd, (sb_error_set(&e, EINVAL,
                                              "working directory '%s' is not "
                                              "absolute",
                                              cwd),
                                 &e));
        if (sb_mkdir_p_at(AT_FDCWD, cwd, 0755, &e) < 0)
                cmd_fail(errfd, (sb_error_prefix(&e, "creating the working directory"), &e));
        struct open_how how = {
                .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
                .resolve = RESOLVE_NO_MAGICLINKS,
        };
        int cfd = (int) syscall(SYS_openat2, AT_FDCWD, cwd, &how, sizeof(how));
        if (cfd < 0 && errno == ENOSYS)
                cfd = open(cwd, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (cfd < 0 || fchdir(cfd) < 0)
                cmd_fail(errfd, (sb_error_errno(&e, errno, "chdir to '%s'", cwd), &e));
        close(cfd);
        char buf[PATH_MAX];
        /* getcwd fails (or says "(unreachable)") when the directory is outside our root. */
        if (!getcwd(buf, sizeof(buf)) || buf[0] != '/')
                cmd_fail(errfd, (sb_error_set(&e, EPERM,
                                              "working directory '%s' is outside "
                                              "the rootfs",
                                              cwd),
                                 &e));

        /* Bounding set while we still hold CAP_SETPCAP, then the ids, then the final sets. */
        if (sandbox_caps_bound(&e) < 0)
                cmd_fail(errfd, &e);
        if (setgroups(s->n_groups, s->groups) < 0 && (errno != EPERM || s->n_groups > 0))
                cmd_fail(errfd,
                         (sb_error_errno(&e, errno, "setgroups (%zu groups)", s->n_groups), &e));
        if (setresgid(s->gid, s->gid, s->gid) < 0)
                cmd_fail(errfd, (sb_error_errno(&e, errno,
                                                "setresgid(%u): is the gid mapped "
                                                "in the user namespace?",
                                                (unsigned) s->gid),
                                 &e));
        if (setresuid(s->uid, s->uid, s->uid) < 0)
                cmd_fail(errfd, (sb_error_errno(&e, errno,
                                                "setresuid(%u): is the uid mapped "
                                                "in the user namespace?",
                                                (unsigned) s->uid),
                                 &e));
        if (sandbox_caps_set(s->uid, &e) < 0)
                cmd_fail(errfd, &e);
        if (set_limits(s, &e) < 0)
                cmd_fail(errfd, &e);
        /* No setuid bits or file caps can raise privileges again after this. */
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                cmd_fail(errfd, (sb_error_errno(&e, errno, "PR_SET_NO_NEW_PRIVS"), &e));
        /* Last: the filter would block some of the setup above. */
        if (sandbox_seccomp_load_default(&e) < 0)
                cmd_fail(errfd, &e);
        exec_in_path(s->argv, s->envp);
}

/* ---- the step's init (pid 1 of the step's pid namespace) ---------------------------------- */

static volatile sig_atomic_t step_timed_out;

/* The step's time is up: kill every other process of the pid namespace (we are its pid 1). */
static void on_timeout(int sig)
{
        (void) sig;
        step_timed_out = 1;
        (void) kill(-1, SIGKILL);
}

static int start_timer(uint64_t ms, sb_error_t *e)
{
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_timeout;
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGALRM, &sa, NULL) < 0)
                return sb_error_errno(e, errno, "sigaction SIGALRM");
        struct itimerval it = { 0 };
        it.it_value.tv_sec = (time_t) (ms / 1000);
        it.it_value.tv_usec = (suseconds_t) ((ms % 1000) * 1000);
        if (setitimer(ITIMER_REAL, &it, NULL) < 0)
                return sb_error_errno(e, errno, "setitimer for the step timeout");
        return 0;
}

/* In a fresh network namespace the loopback exists but is down: bring it up. */
static int loopback_up(sb_error_t *e)
{
        cleanup_close int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return sb_error_errno(e, errno, "socket for the loopback");
        struct ifreq ifr;
        memset(&ifr, 0, sizeof(ifr));
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
        if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
                return sb_error_errno(e, errno, "SIOCGIFFLAGS lo");
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
                return sb_error_errno(e, errno, "bringing up the loopback (SIOCSIFFLAGS lo)");
        return 0;
}

/*
 * After the pivot: a small tmpfs at /dev/pipes (exec allowed, unlike /dev) holding the one
 * file, then made read-only. It lives in the step's mount namespace only.
 */
static int setup_pipe(const struct sandbox_step *s, sb_error_t *e)
{
        if (mkdir("/dev/pipes", 0755) < 0 && errno != EEXIST)
                return sb_error_errno(e, errno, "mkdir /dev/pipes");
        if (mount("tmpfs", "/dev/pipes", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0)
                return sb_error_errno(e, errno, "mounting tmpfs on /dev/pipes");
        cleanup_close int dir = open("/dev/pipes", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dir < 0)
                return sb_error_errno(e, errno, "open /dev/pipes");
        int fd = openat(dir, s->pipe_name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                        0755);
        if (fd < 0)
                return sb_error_errno(e, errno, "creating /dev/pipes/%s", s->pipe_name);
        bool ok = sb_write_all(fd, s->pipe_data, s->pipe_len) >= 0 && fchmod(fd, 0755) == 0;
        int saved = errno;
        /* a file open for writing would make the read-only remount fail with EBUSY */
        if (close(fd) < 0 || !ok)
                return sb_error_errno(e, ok ? errno : saved, "writing /dev/pipes/%s",
                                      s->pipe_name);
        if (mount(NULL, "/dev/pipes", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV,
                  NULL) < 0)
                return sb_error_errno(e, errno, "making /dev/pipes read-only");
        return 0;
}

static int step_init(const struct sandbox_step *s, int msg_fd)
{
        struct step_msg m = { .type = MSG_ERROR };
        sb_error_t *e = &m.err;

        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
                sb_error_errno(e, errno, "make / private");
                goto fail;
        }
        const char *host = s->hostname ? s->hostname : "sbuild";
        if (sethostname(host, strlen(host)) < 0) {
                sb_error_errno(e, errno, "sethostname '%s'", host);
                goto fail;
        }
        if (s->network_none && loopback_up(e) < 0)
                goto fail;
        if (sandbox_overlay_mount(s->lowerdirs, s->upperdir, s->workdir, s->mountpoint, e) < 0)
                goto fail;
        int rootfd = open(s->mountpoint, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0) {
                sb_error_errno(e, errno, "open '%s'", s->mountpoint);
                goto fail;
        }
        if (sandbox_mount_setup_root(rootfd, send_stub, &msg_fd, e) < 0 ||
            sandbox_mount_pivot(rootfd, e) < 0) {
                close(rootfd);
                goto fail;
        }
        close(rootfd);
        if (s->pipe_name && setup_pipe(s, e) < 0)
                goto fail;

        int ep[2];
        if (pipe2(ep, O_CLOEXEC) < 0) {
                sb_error_errno(e, errno, "pipe");
                goto fail;
        }
        pid_t cmd = fork();
        if (cmd < 0) {
                sb_error_errno(e, errno, "fork");
                goto fail;
        }
        if (cmd == 0) {
                close(ep[0]);
                step_command(s, ep[1]);
        }
        close(ep[1]);
        if (s->timeout_ms && start_timer(s->timeout_ms, e) < 0) {
                (void) kill(cmd, SIGKILL);
                goto fail;
        }
        /* Our copies would keep the builder's output pipes open after the step. */
        if (s->stdout_fd > 2)
                close(s->stdout_fd);
        if (s->stderr_fd > 2 && s->stderr_fd != s->stdout_fd)
                close(s->stderr_fd);

        /* EOF: the command reached execve (the pipe is close-on-exec) or died before. */
        sb_error_t cerr = { 0 };
        ssize_t n = sb_read_all(ep[0], &cerr, sizeof(cerr));
        close(ep[0]);

        /*
         * Reap everything: orphans of the step are re-parented to us. When the command itself
         * exits, the step is over: kill whatever it left behind (kill(-1) from pid 1 reaches
         * every other process of the namespace), again after each reap in case one forked.
         */
        int status = 0;
        bool done = false;
        for (;;) {
                int st;
                pid_t p = waitpid(-1, &st, 0);
                if (p < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (p == cmd) {
                        status = st;
                        done = true;
                }
                if (done)
                        (void) kill(-1, SIGKILL);
        }
        if (s->timeout_ms) {
                struct itimerval off = { 0 };
                (void) setitimer(ITIMER_REAL, &off, NULL);
        }
        if (n == (ssize_t) sizeof(cerr)) {
                *e = cerr;
                e->msg[sizeof(e->msg) - 1] = '\0';
                if (e->code <= 0)
                        e->code = EIO;
                goto fail;
        }
        m.type = MSG_STATUS;
        m.status = status;
        m.timed_out = step_timed_out;
        send_msg(msg_fd, &m);
        return 0;

fail:
        m.type = MSG_ERROR;
        send_msg(msg_fd, &m);
        return 1;
}

/* A duration the way a user writes it: 30s, 10m, 2h, 1500ms. */
static void format_duration(uint64_t ms, char *buf, size_t size)
{
        if (ms >= 3600000 && ms % 3600000 == 0)
                snprintf(buf, size, "%lluh", (unsigned long long) (ms / 3600000));
        else if (ms >= 60000 && ms % 60000 == 0)
                snprintf(buf, size, "%llum", (unsigned long long) (ms / 60000));
        else if (ms % 1000 == 0)
                snprintf(buf, size, "%llus", (unsigned long long) (ms / 1000));
        else
                snprintf(buf, size, "%llums", (unsigned long long) ms);
}

int sandbox_step_run(const struct sandbox_step *step, int *ret_status, sb_error_t *err)
{
        if (!step || !ret_status || !step->lowerdirs || !step->lowerdirs[0] || !step->upperdir ||
            !step->workdir || !step->mountpoint || !step->argv || !step->argv[0] ||
            (step->n_groups > 0 && !step->groups))
                return sb_error_set(err, EINVAL, "incomplete step description");
        if (fcntl(step->stdout_fd, F_GETFD) < 0 || fcntl(step->stderr_fd, F_GETFD) < 0)
                return sb_error_set(err, EBADF, "step output fds are not open");
        const char *pn = step->pipe_name;
        if (pn && (!*pn || strchr(pn, '/') || strcmp(pn, ".") == 0 || strcmp(pn, "..") == 0 ||
                   strlen(pn) > NAME_MAX || (step->pipe_len > 0 && !step->pipe_data) ||
                   step->pipe_len > SANDBOX_STEP_PIPE_MAX))
                return sb_error_set(err, EINVAL, "bad /dev/pipes file for the step");

        int msg[2];
        if (pipe2(msg, O_CLOEXEC) < 0)
                return sb_error_errno(err, errno, "pipe");
        /*
         * New pid namespace: the step's processes cannot see the builder and all die with the
         * step's init. New mount namespace: the overlay and everything on it vanish with it.
         * UTS and IPC: per-step hostname, and no SysV IPC objects left behind.
         */
        unsigned long flags = SIGCHLD | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC;
        /* --network=none: a network namespace of its own, with only the loopback */
        if (step->network_none)
                flags |= CLONE_NEWNET;
        pid_t pid = (pid_t) syscall(SYS_clone, flags, NULL, NULL, NULL, NULL);
        if (pid < 0) {
                int e = errno;
                close(msg[0]);
                close(msg[1]);
                return sb_error_errno(err, e,
                                      "clone for the step (is the caller root of its "
                                      "user namespace?)");
        }
        if (pid == 0) {
                close(msg[0]);
                _exit(step_init(step, msg[1]));
        }
        close(msg[1]);

        struct sandbox_stub stubs[MAX_STUBS];
        size_t n_stubs = 0;
        struct step_msg m, last = { 0 };
        int read_err = 0;
        for (;;) {
                ssize_t n = sb_read_all(msg[0], &m, sizeof(m));
                if (n == 0)
                        break;
                if (n != (ssize_t) sizeof(m)) {
                        read_err = n < 0 ? (int) -n : EIO;
                        break;
                }
                if (m.type == MSG_STUB && n_stubs < MAX_STUBS)
                        stubs[n_stubs++] = m.stub;
                else if (m.type == MSG_ERROR || m.type == MSG_STATUS)
                        last = m;
        }
        close(msg[0]);
        int st = 0;
        while (waitpid(pid, &st, 0) < 0) {
                if (errno != EINTR) {
                        st = -1;
                        break;
                }
        }

        /*
         * The step's mount namespace is gone with its init, so nothing is mounted on the stubs
         * any more and they can be removed from the upper directory.
         */
        sb_error_t rm_err = { 0 };
        if (n_stubs > 0 && sandbox_mount_remove_stubs(step->upperdir, stubs, n_stubs, &rm_err) < 0)
                sb_debug("removing mount point stubs: %s", rm_err.msg);

        if (last.type == MSG_ERROR) {
                last.err.msg[sizeof(last.err.msg) - 1] = '\0';
                return sb_error_set(err, last.err.code > 0 ? last.err.code : EIO,
                                    "setting up the RUN sandbox: %s", last.err.msg);
        }
        if (last.type != MSG_STATUS)
                return sb_error_set(err, read_err ? read_err : EIO,
                                    "the step's init died without a result (wait status %d)", st);
        *ret_status = last.status;
        if (last.timed_out) {
                char d[32];
                format_duration(step->timeout_ms, d, sizeof(d));
                return sb_error_set(err, ETIMEDOUT, "the step ran longer than %s", d);
        }
        return 0;
}
