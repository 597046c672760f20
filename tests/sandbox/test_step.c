#include <criterion/criterion.h>
#include <dirent.h>
#include <grp.h>
#include <sys/prctl.h>
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
        gid_t gid;
        int out_fd;
        int result_fd;
        bool unprivileged;
        bool direct; /* cmd is argv[0] itself, found through PATH by the sandbox */
        bool network_none;
        const char *pipe_name, *pipe_data;
};

static struct fixture fx;

static void setup(void)
{
        sb_error_t err = { 0 };
        if (access(SBX_BUSYBOX, X_OK) < 0)
                cr_skip_test("%s not installed (Debian package busybox-static)", SBX_BUSYBOX);
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

TestSuite(sandbox_step, .init = setup, .fini = teardown, .timeout = 60);

/* The builder: runs in the user namespace, reports over result_fd. */
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
        char *direct_argv[] = { (char *) f->cmd, NULL };
        char *envp[] = { path, NULL };
        struct sandbox_step s = {
                .lowerdirs = lowers,
                .upperdir = upper,
                .workdir = work,
                .mountpoint = mnt,
                .argv = f->direct ? direct_argv : argv,
                .envp = envp,
                .cwd = "/",
                .uid = f->uid,
                .gid = f->gid,
                .stdout_fd = f->out_fd,
                .stderr_fd = f->out_fd,
                .network_none = f->network_none,
                .pipe_name = f->pipe_name,
                .pipe_data = f->pipe_data,
                .pipe_len = f->pipe_data ? strlen(f->pipe_data) : 0,
        };
        res.r = sandbox_step_run(&s, &res.status, &err);
        memcpy(res.msg, err.msg, sizeof(res.msg));
        (void) sb_write_all(f->result_fd, &res, sizeof(res));
        return 0;
}

static int spawn_builder(void *arg)
{
        struct fixture *f = arg;
        if (f->unprivileged) {
                sb_error_t err = { 0 };
                uid_t u = 65534;
                if (setgroups(0, NULL) < 0 || setresgid(u, u, u) < 0 || setresuid(u, u, u) < 0 ||
                    prctl(PR_SET_DUMPABLE, 1) < 0)
                        return 98;
                if (sandbox_userns_plan_detect_from(u, u, NULL, NULL, NULL, &f->plan, &err) < 0)
                        return 99;
        }
        return sbx_spawn_wait(&f->plan, builder, f);
}

/* Run `sh -c cmd` as uid:gid; returns the wait status, output in out (NUL-terminated). */
static int run_step(const char *cmd, uid_t uid, char *out, size_t size)
{
        int p[2];
        cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
        char *outpath = sbx_path(fx.dir, "output");
        int ofd = open(outpath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        cr_assert_geq(ofd, 0);
        fx.cmd = cmd;
        fx.uid = uid;
        fx.gid = uid;
        fx.out_fd = ofd;
        fx.result_fd = p[1];
        int code = sbx_run_forked(spawn_builder, &fx);
        close(p[1]);
        cr_assert_eq(code, 0, "builder exited with %d", code);
        struct step_result res;
        cr_assert_eq(sb_read_all(p[0], &res, sizeof(res)), (ssize_t) sizeof(res));
        close(p[0]);
        close(ofd);
        cr_assert_eq(res.r, 0, "sandbox_step_run: %s", res.msg);
        if (out) {
                cr_assert_eq(sbx_read_file(outpath, out, size), 0);
        }
        free(outpath);
        return res.status;
}

static bool upper_has(const char *rel)
{
        struct stat st;
        char *p = sbx_path(fx.dir, rel);
        bool r = lstat(p, &st) == 0;
        free(p);
        return r;
}

Test(sandbox_step, output_goes_to_the_given_fd_and_writes_land_in_upper)
{
        char out[256];
        int st = run_step("echo hi > /out; echo hello; echo oops >&2", 0, out, sizeof(out));
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d: %s", st, out);
        cr_assert_str_eq(out, "hello\noops\n");
        char buf[16];
        char *p = sbx_path(fx.dir, "upper/out");
        cr_assert_eq(sbx_read_file(p, buf, sizeof(buf)), 0);
        cr_assert_str_eq(buf, "hi\n");
        free(p);
}

Test(sandbox_step, exit_status_of_the_command_is_returned)
{
        int st = run_step("exit 7", 0, NULL, 0);
        cr_assert(WIFEXITED(st));
        cr_assert_eq(WEXITSTATUS(st), 7);
}

Test(sandbox_step, missing_command_exits_127_with_a_message)
{
        char out[256];
        int st = run_step("exec nosuchcmd", 0, out, sizeof(out));
        cr_assert(WIFEXITED(st));
        cr_assert_eq(WEXITSTATUS(st), 127, "%s", out);
}

Test(sandbox_step, command_is_found_through_the_path_in_envp)
{
        char out[256];
        fx.direct = true;
        int st = run_step("hostname", 0, out, sizeof(out));
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", out);
        cr_assert_str_eq(out, "sbuild\n");
        st = run_step("nosuchcmd", 0, out, sizeof(out));
        cr_assert(WIFEXITED(st));
        cr_assert_eq(WEXITSTATUS(st), 127);
        cr_assert_str_eq(out, "exec: 'nosuchcmd': No such file or directory\n");
}

Test(sandbox_step, command_runs_as_the_requested_uid)
{
        char out[256];
        int st = run_step("id -u; id -g", 1000, out, sizeof(out));
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", out);
        cr_assert_str_eq(out, "1000\n1000\n");
}

Test(sandbox_step, root_in_the_step_cannot_mount)
{
        char out[256];
        int st = run_step("mount -t tmpfs none /mnt", 0, out, sizeof(out));
        cr_assert(WIFEXITED(st));
        cr_assert_neq(WEXITSTATUS(st), 0, "mount succeeded: %s", out);
}

Test(sandbox_step, root_in_the_step_cannot_create_a_user_namespace)
{
        char out[256];
        int st = run_step("unshare -U true", 0, out, sizeof(out));
        cr_assert(WIFEXITED(st));
        cr_assert_neq(WEXITSTATUS(st), 0, "unshare succeeded: %s", out);
}

Test(sandbox_step, proc_shows_only_the_steps_processes)
{
        char out[1024];
        int st = run_step("echo $$; ls /proc | grep -E '^[0-9]+$'", 0, out, sizeof(out));
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", out);
        /* The shell is pid 2 (the step's init is 1); besides, only ls and grep. */
        cr_assert_eq(strncmp(out, "2\n", 2), 0, "%s", out);
        int n = 0;
        bool has1 = false;
        for (char *save = NULL, *l = strtok_r(out + 2, "\n", &save); l;
             l = strtok_r(NULL, "\n", &save)) {
                n++;
                if (strcmp(l, "1") == 0)
                        has1 = true;
        }
        cr_assert(has1);
        cr_assert_leq(n, 5, "%d processes visible", n);
}

static bool host_has_sleep_1000(void)
{
        DIR *d = opendir("/proc");
        struct dirent *de;
        bool found = false;
        while (d && (de = readdir(d)) && !found) {
                char path[300], buf[64] = "";
                snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
                int fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        continue;
                ssize_t n = read(fd, buf, sizeof(buf) - 1);
                close(fd);
                found = n == 11 && memcmp(buf,
                                          "sleep\0"
                                          "1000\0",
                                          11) == 0;
        }
        if (d)
                closedir(d);
        return found;
}

Test(sandbox_step, background_process_does_not_outlive_the_step)
{
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        int st = run_step("sleep 1000 & echo started", 0, NULL, 0);
        clock_gettime(CLOCK_MONOTONIC, &b);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        cr_assert_lt(b.tv_sec - a.tv_sec, 20);
        cr_assert_not(host_has_sleep_1000(), "the step's sleep is still running");
}

Test(sandbox_step, mount_point_stubs_do_not_remain_in_upper)
{
        char out[4096];
        /* The image has no /proc, /dev or /etc/hosts; the step sees them all the same. */
        int st = run_step("test -c /dev/null && test -d /proc/self && cat /etc/hosts >/dev/null "
                          "&& echo ok",
                          0, out, sizeof(out));
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", out);
        cr_assert_str_eq(out, "ok\n");
        cr_assert_not(upper_has("upper/etc/hosts"));
        cr_assert_not(upper_has("upper/etc/resolv.conf"));
        cr_assert_not(upper_has("upper/proc"));
        cr_assert_not(upper_has("upper/dev"));
}

Test(sandbox_step, dev_null_works)
{
        char out[256];
        int st = run_step("echo x > /dev/null && cat /dev/null && echo done", 1000, out,
                          sizeof(out));
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", out);
        cr_assert_str_eq(out, "done\n");
}

Test(sandbox_step, hosts_symlink_in_the_image_cannot_reach_the_host)
{
        const char *evil = "/tmp/evil-host-file";
        cr_assert_eq(sbx_write_file(evil, "original\n"), 0);
        char *link = sbx_path(fx.dir, "rootfs/etc/hosts");
        cr_assert_eq(symlink(evil, link), 0);
        if (getuid() == 0)
                cr_assert_eq(lchown(link, sandbox_userns_outside_uid(&fx.plan, 0),
                                    sandbox_userns_outside_gid(&fx.plan, 0)),
                             0);
        free(link);
        char out[256];
        int st = run_step("echo pwned > /etc/hosts; cat /etc/hosts", 0, out, sizeof(out));
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", out);
        /* The write followed the link inside the rootfs, so it landed in upper. */
        cr_assert_str_eq(out, "pwned\n");
        char buf[64];
        cr_assert_eq(sbx_read_file(evil, buf, sizeof(buf)), 0);
        cr_assert_str_eq(buf, "original\n");
        cr_assert(upper_has("upper/tmp/evil-host-file"));
        char mi[65536];
        cr_assert_eq(sbx_read_file("/proc/self/mountinfo", mi, sizeof(mi)), 0);
        cr_assert_null(strstr(mi, "evil-host-file"));
        unlink(evil);
}

Test(sandbox_step, unprivileged_single_id_builder_runs_a_step)
{
        if (getuid() != 0)
                cr_skip_test("needs root to switch to uid 65534");
        /* The namespace's root is uid 65534 outside: it must own upper, work and mnt. */
        const char *own[] = { "upper", "work", "mnt", "rootfs" };
        for (int i = 0; i < 4; i++) {
                char *p = sbx_path(fx.dir, own[i]);
                cr_assert_eq(sbx_chown_tree(p, 65534, 65534), 0);
                free(p);
        }
        fx.unprivileged = true;
        char out[256];
        int st = run_step("echo hi > /out; id -u", 0, out, sizeof(out));
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", out);
        cr_assert_str_eq(out, "0\n");
        cr_assert(upper_has("upper/out"));
        cr_assert_not(upper_has("upper/proc"));
}

/* Add an applet symlink to the test image, owned like the rest of it. */
static void add_applet(const char *name)
{
        char *rel = sb_xasprintf("rootfs/bin/%s", name);
        char *p = sbx_path(fx.dir, rel);
        cr_assert_eq(symlink("busybox", p), 0);
        if (getuid() == 0)
                cr_assert_eq(lchown(p, sandbox_userns_outside_uid(&fx.plan, 0),
                                    sandbox_userns_outside_gid(&fx.plan, 0)),
                             0);
        free(p);
        free(rel);
}

Test(sandbox_step, network_none_leaves_only_the_loopback_and_it_is_up)
{
        add_applet("ip");
        add_applet("sed");
        fx.network_none = true;
        char out[4096];
        /* interface names from /proc/net/dev (after its two header lines), then lo's flags */
        int st = run_step("sed -n '3,$s/^ *\\([^:]*\\):.*/\\1/p' /proc/net/dev; "
                          "ip link show lo | sed -n '1s/.*<\\(.*\\)>.*/\\1/p'",
                          0, out, sizeof(out));
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", out);
        char *flags = strchr(out, '\n');
        cr_assert_not_null(flags, "%s", out);
        *flags++ = '\0';
        cr_assert_str_eq(out, "lo", "interfaces other than lo: %s", out);
        cr_assert(strstr(flags, "UP"), "lo is not up: %s", flags);
        /* and 127.0.0.1 answers (with lo down, ping says the network is unreachable) */
        add_applet("ping");
        st = run_step("ping -c 1 -W 2 127.0.0.1", 0, out, sizeof(out));
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", out);
        cr_assert(strstr(out, "1 packets received"), "%s", out);
}

Test(sandbox_step, default_network_is_the_builders)
{
        char out[4096], host[4096];
        cr_assert_eq(sbx_read_file("/proc/net/dev", host, sizeof(host)), 0);
        add_applet("sed");
        int st = run_step("sed -n '3,$s/^ *\\([^:]*\\):.*/\\1/p' /proc/net/dev | sort", 0,
                          out, sizeof(out));
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", out);
        /* every interface the step sees is one this process sees */
        for (char *save = NULL, *l = strtok_r(out, "\n", &save); l;
             l = strtok_r(NULL, "\n", &save)) {
                char want[64];
                snprintf(want, sizeof(want), " %s:", l);
                cr_assert(strstr(host, want), "%s not in the host's /proc/net/dev", l);
        }
}

Test(sandbox_step, pipe_file_is_executable_read_only_and_not_in_the_layer)
{
        fx.pipe_name = "EOF";
        fx.pipe_data = "#!/bin/sh\necho from-pipe $0\n";
        char out[512];
        int st = run_step("/dev/pipes/EOF; echo x > /dev/pipes/EOF || echo read-only", 0, out,
                          sizeof(out));
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", out);
        cr_assert(strstr(out, "from-pipe /dev/pipes/EOF\n"), "%s", out);
        cr_assert(strstr(out, "read-only\n"), "%s", out);
        cr_assert_not(upper_has("upper/dev"));
}
