#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "build/build_user.h"

static const char passwd[] = "root:x:0:0:root:/root:/bin/sh\n"
                             "# a comment\n"
                             "app:x:1000:1001:App:/home/app:/bin/sh\n"
                             "broken line\n";
static const char group[] = "root:x:0:\n"
                            "app:x:1001:\n"
                            "extra:x:2000:other,app\n"
                            "more:x:2001:app\n";

Test(build_user, user_by_name_takes_gid_and_groups_from_the_image)
{
        struct build_user u;
        sb_error_t err = { 0 };
        cr_assert_eq(build_user_resolve("app", passwd, group, BUILD_USER_FOR_RUN, &u, &err), 0,
                     "%s", err.msg);
        cr_assert_eq(u.uid, 1000);
        cr_assert_eq(u.gid, 1001);
        cr_assert_eq(u.n_groups, 2);
        cr_assert_eq(u.groups[0], 2000);
        cr_assert_eq(u.groups[1], 2001);
}

Test(build_user, explicit_group_and_numbers)
{
        struct build_user u;
        sb_error_t err = { 0 };
        cr_assert_eq(build_user_resolve("app:extra", passwd, group, BUILD_USER_FOR_RUN, &u, &err),
                     0);
        cr_assert_eq(u.gid, 2000);
        cr_assert_eq(u.n_groups, 0);
        cr_assert_eq(build_user_resolve("4242", passwd, group, BUILD_USER_FOR_RUN, &u, &err), 0);
        cr_assert_eq(u.uid, 4242);
        cr_assert_eq(u.gid, 0, "an unknown numeric user runs with gid 0");
        cr_assert_eq(build_user_resolve("4242:7", NULL, NULL, BUILD_USER_FOR_RUN, &u, &err), 0);
        cr_assert_eq(u.gid, 7);
}

Test(build_user, chown_without_group_uses_the_same_number)
{
        struct build_user u;
        sb_error_t err = { 0 };
        cr_assert_eq(build_user_resolve("app", passwd, group, BUILD_USER_FOR_CHOWN, &u, &err), 0);
        cr_assert_eq(u.uid, 1000);
        cr_assert_eq(u.gid, 1000);
        cr_assert_eq(build_user_resolve("55", NULL, NULL, BUILD_USER_FOR_CHOWN, &u, &err), 0);
        cr_assert_eq(u.gid, 55);
}

Test(build_user, unknown_names_are_errors_that_name_them)
{
        struct build_user u;
        sb_error_t err = { 0 };
        cr_assert_eq(build_user_resolve("nobody", passwd, group, BUILD_USER_FOR_RUN, &u, &err),
                     -EINVAL);
        cr_assert(strstr(err.msg, "'nobody'"), "%s", err.msg);
        cr_assert_eq(build_user_resolve("app:nogroup", passwd, group, BUILD_USER_FOR_RUN, &u,
                                        &err),
                     -EINVAL);
        cr_assert(strstr(err.msg, "'nogroup'"), "%s", err.msg);
        cr_assert_eq(build_user_resolve("app:", passwd, group, BUILD_USER_FOR_RUN, &u, &err),
                     -EINVAL);
        cr_assert_eq(build_user_resolve("", passwd, group, BUILD_USER_FOR_RUN, &u, &err), -EINVAL);
}
