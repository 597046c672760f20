/* The resource limits of a RUN step: rlimits on the command and the step timeout. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <sys/resource.h>
#include <time.h>

#include "sandbox/sandbox_step.h"
#include "sandbox/sandbox_userns.h"
#include "sbx_test.h"

struct step_result {
        int r;
        int status;
        char msg[1024];
};

struct fixture {
        char *dir;
        struct sandbox_userns_plan plan;
        const char *cmd;
        uid_t uid;
        int out_fd;
        int result_fd;
        struct sandbox_step limits; /* only the limit fields are used */
};

static struct fixture fx;

static void setup(void)
{
        sb_error_t err = { 0 };
        if (access(SBX_BUSYBOX, X_OK) < 0)
                cr_skip_test("%s not installed (Debian package busybox-static)", SBX_BUSYBOX);
        memset(&fx.limits, 0, sizeof(fx.limits));
        fx.dir = sbx_tmpdir();
        cr_assert_not_null(fx.dir);
        cr_assert_eq(sandbox_userns_plan_detect(&fx.plan, &err), 0);
        cr_assert_eq(sbx_step_dirs(fx.dir, &fx.plan), 0);
}

static void teardown(void)
{
        sbx_rm_rf(fx.dir);
        free(fx.dir);
}

TestSuite(sandbox_limits, .init = setup, .fini = teardown, .timeout = 60);

static int builder(void *arg)
{
        struct fixture *f = arg;
        struct step_result res = { 0 };
        sb_error_t err = { 0 };
        char *lower = sbx_path(f->dir, "rootfs");
        char *lowers[] = { lower, NULL };
        char *upper = sbx_path(f->dir, "upper"), *work = sbx_path(f->dir, "work");
        char *mnt = sbx_path(f->dir, "mnt");
        char sh[] = "sh", dash_c[] = "-c", path[] = "PATH=/bin";
        char *argv[] = { sh, dash_c, (char *) f->cmd, NULL };
        char *envp[] = { path, NULL };
        struct sandbox_step s = {
                .lowerdirs = lowers,
                .upperdir = upper,
                .workdir = work,
                .mountpoint = mnt,
                .argv = argv,
                .envp = envp,
                .cwd = "/",
                .uid = f->uid,
                .gid = f->uid,
                .stdout_fd = f->out_fd,
                .stderr_fd = f->out_fd,
                .memory_limit = f->limits.memory_limit,
                .pids_limit = f->limits.pids_limit,
                .nofile_limit = f->limits.nofile_limit,
                .timeout_ms = f->limits.timeout_ms,
        };
        res.r = sandbox_step_run(&s, &res.status, &err);
        memcpy(res.msg, err.msg, sizeof(res.msg));
        (void) sb_write_all(f->result_fd, &res, sizeof(res));
        return 0;
}

static int spawn_builder(void *arg)
{
        struct fixture *f = arg;
        return sbx_spawn_wait(&f->plan, builder, f);
}

/* Run `sh -c cmd` as uid with fx.limits; output in out (NUL-terminated). */
static struct step_result run_step(const char *cmd, uid_t uid, char *out, size_t size)
{
        int p[2];
        cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
        char *outpath = sbx_path(fx.dir, "output");
        int ofd = open(outpath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        cr_assert_geq(ofd, 0);
        fx.cmd = cmd;
        fx.uid = uid;
        fx.out_fd = ofd;
        fx.result_fd = p[1];
        int code = sbx_run_forked(spawn_builder, &fx);
        close(p[1]);
        cr_assert_eq(code, 0, "builder exited with %d", code);
        struct step_result res;
        cr_assert_eq(sb_read_all(p[0], &res, sizeof(res)), (ssize_t) sizeof(res));
        close(p[0]);
        close(ofd);
        if (out)
                cr_assert_eq(sbx_read_file(outpath, out, size), 0);
        free(outpath);
        return res;
}

static double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* Whether a process whose command line is exactly argv0 arg1 exists on the host. */
static bool host_has_process(const char *argv0, const char *arg1)
{
        char want[64];
        int wn = snprintf(want, sizeof(want), "%s%c%s", argv0, '\0', arg1);
        DIR *d = opendir("/proc");
        cr_assert_not_null(d);
        bool found = false;
        struct dirent *de;
        while (!found && (de = readdir(d))) {
                if (de->d_name[0] < '0' || de->d_name[0] > '9')
                        continue;
                char path[300], buf[64];
                snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
                int fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        continue;
                ssize_t n = read(fd, buf, sizeof(buf));
                close(fd);
                found = n == wn + 1 && memcmp(buf, want, (size_t) wn + 1) == 0;
        }
        closedir(d);
        return found;
}

Test(sandbox_limits, step_that_outlives_its_timeout_is_killed_with_all_its_processes)
{
        fx.limits.timeout_ms = 1000;
        double t0 = now_s();
        struct step_result res = run_step("sleep 9871 & sleep 9872", 0, NULL, 0);
        double took = now_s() - t0;
        cr_assert_eq(res.r, -ETIMEDOUT, "r %d: %s", res.r, res.msg);
        cr_assert_str_eq(res.msg, "the step ran longer than 1s");
        cr_assert_lt(took, 10.0, "the step took %.1f s", took);
        cr_assert_not(host_has_process("sleep", "9871"));
        cr_assert_not(host_has_process("sleep", "9872"));
}

Test(sandbox_limits, step_within_its_timeout_keeps_its_exit_status)
{
        fx.limits.timeout_ms = 30000;
        struct step_result res = run_step("exit 3", 0, NULL, 0);
        cr_assert_eq(res.r, 0, "%s", res.msg);
        cr_assert(WIFEXITED(res.status) && WEXITSTATUS(res.status) == 3, "status %d", res.status);
}

Test(sandbox_limits, rlimits_are_set_on_the_command)
{
        char out[256];
        fx.limits.memory_limit = 256ull << 20;
        fx.limits.pids_limit = 4000;
        fx.limits.nofile_limit = 64;
        struct step_result res = run_step("ulimit -v; ulimit -u; ulimit -n; ulimit -H -n", 1000,
                                          out, sizeof(out));
        cr_assert_eq(res.r, 0, "%s", res.msg);
        cr_assert(WIFEXITED(res.status) && WEXITSTATUS(res.status) == 0, "%s", out);
        cr_assert_str_eq(out, "262144\n4000\n64\n64\n");
}

Test(sandbox_limits, default_open_files_limit_is_at_most_1048576)
{
        char out[64];
        struct rlimit rl;
        cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
        unsigned long long want = 1048576;
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want)
                want = rl.rlim_max;
        char expect[64];
        snprintf(expect, sizeof(expect), "%llu\n", want);
        struct step_result res = run_step("ulimit -n", 0, out, sizeof(out));
        cr_assert_eq(res.r, 0, "%s", res.msg);
        cr_assert_str_eq(out, expect);
}

Test(sandbox_limits, memory_limit_makes_a_large_allocation_fail)
{
        char out[512];
        fx.limits.memory_limit = 64ull << 20;
        struct step_result res = run_step("head -c 1m /dev/zero | tail > /dev/null", 0, out,
                                          sizeof(out));
        cr_assert_eq(res.r, 0, "%s", res.msg);
        cr_assert(WIFEXITED(res.status) && WEXITSTATUS(res.status) == 0, "small: %s", out);
        res = run_step("head -c 200m /dev/zero | tail > /dev/null", 0, out, sizeof(out));
        cr_assert_eq(res.r, 0, "%s", res.msg);
        cr_assert_not(WIFEXITED(res.status) && WEXITSTATUS(res.status) == 0, "%s", out);
}

Test(sandbox_limits, pids_limit_stops_forks_beyond_it)
{
        char out[4096];
        fx.limits.pids_limit = 8;
        fx.limits.timeout_ms = 20000;
        /* uid 1000 has no other processes in the namespace, so 8 is all the step gets */
        struct step_result res = run_step("i=0; while [ $i -lt 20 ]; do sleep 2 & i=$((i+1)); "
                                          "done; wait",
                                          1000, out, sizeof(out));
        cr_assert_eq(res.r, 0, "%s", res.msg);
        cr_assert(strstr(out, "fork") != NULL, "status %d, output: %s", res.status, out);
}
