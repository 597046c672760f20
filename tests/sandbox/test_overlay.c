#include <criterion/criterion.h>

#include "sandbox/sandbox_step.h"
#include "sandbox/sandbox_userns.h"
#include "sbx_test.h"

struct ov {
        char *dir;
        struct sandbox_userns_plan plan;
};

static int check_overlay(void *arg)
{
        struct ov *o = arg;
        sb_error_t err = { 0 };
        char buf[64];
        char *l1 = sbx_path(o->dir, "l1"), *l2 = sbx_path(o->dir, "l2"),
             *l3 = sbx_path(o->dir, "l3");
        char *lowers[] = { l1, l2, l3, NULL };
        char *up = sbx_path(o->dir, "upper"), *work = sbx_path(o->dir, "work");
        char *mnt = sbx_path(o->dir, "mnt");

        if (sandbox_overlay_mount(lowers, up, work, mnt, &err) < 0)
                return fprintf(stderr, "mount: %s\n", err.msg), 1;
        char *f = sbx_path(mnt, "f"), *only3 = sbx_path(mnt, "only3"), *nw = sbx_path(mnt, "new");
        if (sbx_read_file(f, buf, sizeof(buf)) < 0 || strcmp(buf, "top") != 0)
                return fprintf(stderr, "f is '%s'\n", buf), 2;
        if (sbx_read_file(only3, buf, sizeof(buf)) < 0 || strcmp(buf, "bottom") != 0)
                return 3;
        if (sbx_write_file(nw, "written") < 0)
                return 4;
        if (sandbox_overlay_umount(mnt, &err) < 0)
                return fprintf(stderr, "umount: %s\n", err.msg), 5;
        if (access(f, F_OK) == 0)
                return 6; /* still mounted */
        return 0;
}

static int spawn_overlay(void *arg)
{
        return sbx_spawn_wait(&((struct ov *) arg)->plan, check_overlay, arg);
}

Test(sandbox_overlay, topmost_lower_wins_and_writes_land_in_upper, .timeout = 30)
{
        struct ov o = { .dir = sbx_tmpdir() };
        sb_error_t err = { 0 };
        cr_assert_not_null(o.dir);
        cr_assert_eq(sandbox_userns_plan_detect(&o.plan, &err), 0);
        uid_t ru = getuid() == 0 ? sandbox_userns_outside_uid(&o.plan, 0) : (uid_t) -1;
        gid_t rg = getuid() == 0 ? sandbox_userns_outside_gid(&o.plan, 0) : (gid_t) -1;
        const char *names[] = { "l1", "l2", "l3" };
        const char *data[] = { "top", "mid", "bottom" };
        for (int i = 0; i < 3; i++) {
                cr_assert_eq(sbx_mkdir_owned(o.dir, names[i], (uid_t) -1, (gid_t) -1), 0);
                char *rel = sb_xasprintf("%s/f", names[i]);
                char *p = sbx_path(o.dir, rel);
                cr_assert_eq(sbx_write_file(p, data[i]), 0);
                free(p);
                free(rel);
        }
        char *o3 = sbx_path(o.dir, "l3/only3");
        cr_assert_eq(sbx_write_file(o3, "bottom"), 0);
        free(o3);
        cr_assert_eq(sbx_mkdir_owned(o.dir, "upper", ru, rg), 0);
        cr_assert_eq(sbx_mkdir_owned(o.dir, "work", ru, rg), 0);
        cr_assert_eq(sbx_mkdir_owned(o.dir, "mnt", ru, rg), 0);

        cr_assert_eq(sbx_run_forked(spawn_overlay, &o), 0);

        char buf[64];
        char *nw = sbx_path(o.dir, "upper/new");
        cr_assert_eq(sbx_read_file(nw, buf, sizeof(buf)), 0);
        cr_assert_str_eq(buf, "written");
        free(nw);
        /* The lower layers are untouched. */
        char *l1 = sbx_path(o.dir, "l1/new");
        cr_assert_neq(access(l1, F_OK), 0);
        free(l1);
        sbx_rm_rf(o.dir);
        free(o.dir);
}
