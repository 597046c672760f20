#include <criterion/criterion.h>
#include <grp.h>
#include <stdint.h>
#include <sys/prctl.h>

#include "sandbox/sandbox_userns.h"
#include "sbx_test.h"

static char *dir;
static char *passwd, *subuid, *subgid;

static void setup(void)
{
        dir = sbx_tmpdir();
        cr_assert_not_null(dir);
        passwd = sbx_path(dir, "passwd");
        subuid = sbx_path(dir, "subuid");
        subgid = sbx_path(dir, "subgid");
        cr_assert_eq(sbx_write_file(passwd, "root:x:0:0:root:/root:/bin/sh\n"
                                            "alice:x:1000:1000::/home/alice:/bin/sh\n"
                                            "bob:x:1001:1001::/home/bob:/bin/sh\n"),
                     0);
}

static void teardown(void)
{
        sbx_rm_rf(dir);
        free(dir);
        free(passwd);
        free(subuid);
        free(subgid);
}

TestSuite(sandbox_userns, .init = setup, .fini = teardown, .timeout = 30);

Test(sandbox_userns, user_with_ranges_gets_itself_as_root_plus_its_first_big_enough_range)
{
        /* Malformed lines, other users and too-small ranges come first and must be skipped. */
        cr_assert_eq(sbx_write_file(subuid, "garbage\n"
                                            "alice:abc:65536\n"
                                            "alice:100000\n"
                                            "bob:100000:65536\n"
                                            "alice:200000:1000\n"
                                            "alice:300000:65536:extra\n"
                                            "alice:400000:65536\n"
                                            "alice:500000:65536\n"),
                     0);
        cr_assert_eq(sbx_write_file(subgid, "1000:600000:70000\n"), 0);
        struct sandbox_userns_plan p;
        sb_error_t err = { 0 };
        cr_assert_eq(sandbox_userns_plan_detect_from(1000, 1000, passwd, subuid, subgid, &p, &err),
                     0, "%s", err.msg);
        cr_assert_eq(p.mode, SANDBOX_USERNS_SUBID);
        cr_assert_eq(p.n_uid, 2);
        cr_assert_eq(p.uid[0].inside, 0);
        cr_assert_eq(p.uid[0].outside, 1000);
        cr_assert_eq(p.uid[0].count, 1);
        cr_assert_eq(p.uid[1].inside, 1);
        cr_assert_eq(p.uid[1].outside, 400000);
        cr_assert_eq(p.uid[1].count, 65536);
        /* subgid matched by numeric uid; only 65536 ids are used from a bigger range. */
        cr_assert_eq(p.n_gid, 2);
        cr_assert_eq(p.gid[1].outside, 600000);
        cr_assert_eq(p.gid[1].count, 65536);
        cr_assert_eq(sandbox_userns_outside_uid(&p, 0), 1000);
        cr_assert_eq(sandbox_userns_outside_uid(&p, 1000), 400999);
        cr_assert_eq(sandbox_userns_outside_uid(&p, 65537), (uid_t) -1);
        cr_assert_eq(sandbox_userns_outside_gid(&p, 1), 600000);
        cr_assert(strstr(p.description, "400000"), "%s", p.description);
}

Test(sandbox_userns, user_without_a_subgid_range_is_mapped_alone)
{
        cr_assert_eq(sbx_write_file(subuid, "alice:100000:65536\n"), 0);
        cr_assert_eq(sbx_write_file(subgid, "bob:100000:65536\n"), 0);
        struct sandbox_userns_plan p;
        sb_error_t err = { 0 };
        cr_assert_eq(sandbox_userns_plan_detect_from(1000, 1000, passwd, subuid, subgid, &p, &err),
                     0);
        cr_assert_eq(p.mode, SANDBOX_USERNS_SINGLE);
        cr_assert_eq(p.n_uid, 1);
        cr_assert_eq(p.uid[0].outside, 1000);
        cr_assert_eq(p.uid[0].count, 1);
        cr_assert_eq(p.n_gid, 1);
        cr_assert_eq(sandbox_userns_outside_uid(&p, 1), (uid_t) -1);
        /* Missing files are simply "no range". */
        cr_assert_eq(sandbox_userns_plan_detect_from(1001, 1001, "/nonexistent", "/nonexistent",
                                                     "/nonexistent", &p, &err),
                     0);
        cr_assert_eq(p.mode, SANDBOX_USERNS_SINGLE);
}

Test(sandbox_userns, root_uses_its_subuid_range_or_the_default)
{
        cr_assert_eq(sbx_write_file(subuid, "root:2000000:65536\n"), 0);
        cr_assert_eq(sbx_write_file(subgid, "root:3000000:100\n"), 0);
        struct sandbox_userns_plan p;
        sb_error_t err = { 0 };
        cr_assert_eq(sandbox_userns_plan_detect_from(0, 0, passwd, subuid, subgid, &p, &err), 0);
        cr_assert_eq(p.mode, SANDBOX_USERNS_ROOT);
        cr_assert_eq(p.n_uid, 1);
        cr_assert_eq(p.uid[0].inside, 0);
        cr_assert_eq(p.uid[0].outside, 2000000);
        cr_assert_eq(p.uid[0].count, 65536);
        /* The subgid range is too small: the default range. */
        cr_assert_eq(p.gid[0].outside, SANDBOX_ROOT_RANGE_DEFAULT);
        cr_assert_eq(sandbox_userns_outside_uid(&p, 65535), 2065535);
}

static int read_map(const char *file, uint32_t *a, uint32_t *b, uint32_t *c)
{
        char buf[256];
        if (sbx_read_file(file, buf, sizeof(buf)) < 0)
                return -1;
        /* Exactly one line. */
        if (sscanf(buf, "%u %u %u", a, b, c) != 3 || strchr(buf, '\n') != strrchr(buf, '\n'))
                return -1;
        return 0;
}

struct spawn_check {
        struct sandbox_userns_plan plan;
};

/* Runs inside the namespaces. */
static int check_inside(void *arg)
{
        const struct spawn_check *c = arg;
        uint32_t a, b, n;
        char host[64] = "";

        if (getuid() != 0 || geteuid() != 0 || getgid() != 0)
                return fprintf(stderr, "uid %u gid %u\n", getuid(), getgid()), 1;
        if (getpid() != 1)
                return fprintf(stderr, "pid %d\n", getpid()), 2;
        if (read_map("/proc/self/uid_map", &a, &b, &n) < 0 || a != 0 ||
            b != c->plan.uid[0].outside || n != c->plan.uid[0].count)
                return fprintf(stderr, "uid_map %u %u %u\n", a, b, n), 3;
        if (read_map("/proc/self/gid_map", &a, &b, &n) < 0 || b != c->plan.gid[0].outside)
                return 4;
        if (gethostname(host, sizeof(host)) < 0 || strcmp(host, "sbuild") != 0)
                return fprintf(stderr, "hostname %s\n", host), 5;
        return 0;
}

static int spawn_as_caller(void *arg)
{
        struct spawn_check *c = arg;
        sb_error_t err = { 0 };
        if (sandbox_userns_plan_detect(&c->plan, &err) < 0)
                return 99;
        return sbx_spawn_wait(&c->plan, check_inside, c);
}

Test(sandbox_userns, spawned_function_runs_as_root_and_pid_1_with_the_planned_map)
{
        struct spawn_check c;
        cr_assert_eq(sbx_run_forked(spawn_as_caller, &c), 0);
}

static int spawn_unprivileged(void *arg)
{
        struct spawn_check *c = arg;
        sb_error_t err = { 0 };
        /* Become an ordinary user; stay dumpable so /proc/<child> is ours, as for a login. */
        if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
            setresuid(65534, 65534, 65534) < 0 || prctl(PR_SET_DUMPABLE, 1) < 0)
                return 98;
        if (sandbox_userns_plan_detect_from(65534, 65534, NULL, NULL, NULL, &c->plan, &err) < 0 ||
            c->plan.mode != SANDBOX_USERNS_SINGLE)
                return 99;
        return sbx_spawn_wait(&c->plan, check_inside, c);
}

Test(sandbox_userns, unprivileged_caller_without_ranges_becomes_root_of_a_single_id_namespace)
{
        if (getuid() != 0)
                cr_skip_test("needs root to switch to uid 65534");
        struct spawn_check c;
        cr_assert_eq(sbx_run_forked(spawn_unprivileged, &c), 0);
}

static int fn_exit_7(void *arg)
{
        (void) arg;
        return 7;
}

static int spawn_exit_7(void *arg)
{
        (void) arg;
        struct sandbox_userns_plan p;
        sb_error_t err = { 0 };
        if (sandbox_userns_plan_detect(&p, &err) < 0)
                return 99;
        return sbx_spawn_wait(&p, fn_exit_7, NULL);
}

Test(sandbox_userns, spawned_child_exits_with_the_function_result)
{
        cr_assert_eq(sbx_run_forked(spawn_exit_7, NULL), 7);
}
