#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/sb_error.h"
#include "registry/registry_mirror.h"
#include "registry/registry_ref.h"

/* sources for ref under opts, as "registry/repository" lines joined by ' ' */
static int sources(const struct registry_options *opts, const char *ref_s, char *out,
                   size_t out_len)
{
        struct registry_ref *ref = NULL;
        struct registry_source *src = NULL;
        size_t n = 0;
        sb_error_t err = { 0 };
        int r;

        cr_assert_eq(registry_ref_parse(ref_s, &ref, &err), 0, "%s", err.msg);
        r = registry_mirror_sources(opts, ref, &src, &n, &err);
        out[0] = '\0';
        if (r == 0) {
                for (size_t i = 0; i < n; i++) {
                        size_t l = strlen(out);
                        snprintf(out + l, out_len - l, "%s%s/%s", i ? " " : "", src[i].registry,
                                 src[i].repository);
                }
                cr_assert(src[n - 1].original);
        }
        registry_sources_free(src, n);
        registry_ref_free(ref);
        return r;
}

Test(mirror, docker_hub_images_try_each_mirror_in_order_then_docker_hub)
{
        static char s1[] = "m1.example";
        static char s2[] = "m2.example:5000/hub/";
        char *mirrors[] = { s1, s2, NULL };
        struct registry_options o = { .registry_mirrors = mirrors };
        char out[512];

        cr_assert_eq(sources(&o, "busybox", out, sizeof(out)), 0);
        cr_assert_str_eq(out, "m1.example/library/busybox m2.example:5000/hub/library/busybox "
                              "registry-1.docker.io/library/busybox");
}

Test(mirror, mirrors_do_not_apply_to_other_registries)
{
        static char s3[] = "m1.example";
        char *mirrors[] = { s3, NULL };
        struct registry_options o = { .registry_mirrors = mirrors };
        char out[512];

        cr_assert_eq(sources(&o, "ghcr.io/team/app:v1", out, sizeof(out)), 0);
        cr_assert_str_eq(out, "ghcr.io/team/app");
}

Test(mirror, maps_apply_in_order_before_mirrors_and_accept_semicolon_lists)
{
        static char s4[] = "index.docker.io=a.example/x;ghcr.io=b.example";
        static char s5[] = "docker.io=c.example";
        char *maps[] = { s4, s5, NULL };
        static char s6[] = "m.example";
        char *mirrors[] = { s6, NULL };
        struct registry_options o = { .registry_maps = maps, .registry_mirrors = mirrors };
        char out[512];

        cr_assert_eq(sources(&o, "alpine:3", out, sizeof(out)), 0);
        cr_assert_str_eq(out, "a.example/x/library/alpine c.example/library/alpine "
                              "m.example/library/alpine registry-1.docker.io/library/alpine");
        cr_assert_eq(sources(&o, "ghcr.io/o/r", out, sizeof(out)), 0);
        cr_assert_str_eq(out, "b.example/o/r ghcr.io/o/r");
}

Test(mirror, map_hosts_match_with_port_and_ignoring_case)
{
        static char s7[] = "LOCALHOST:5000=127.0.0.1:6000";
        char *maps[] = { s7, NULL };
        struct registry_options o = { .registry_maps = maps };
        char out[512];

        cr_assert_eq(sources(&o, "localhost:5000/a/b", out, sizeof(out)), 0);
        cr_assert_str_eq(out, "127.0.0.1:6000/a/b localhost:5000/a/b");
        cr_assert_eq(sources(&o, "localhost:5001/a/b", out, sizeof(out)), 0);
        cr_assert_str_eq(out, "localhost:5001/a/b");
}

Test(mirror, malformed_mirrors_and_maps_are_rejected)
{
        static char s8[] = "m.example/UPPER";
        char *bad_mirror[] = { s8, NULL };
        static char s9[] = "user@m.example";
        char *bad_host[] = { s9, NULL };
        static char s10[] = "docker.io";
        char *bad_map[] = { s10, NULL };
        struct registry_options o1 = { .registry_mirrors = bad_mirror };
        struct registry_options o2 = { .registry_mirrors = bad_host };
        struct registry_options o3 = { .registry_maps = bad_map };
        char out[512];

        cr_assert_eq(sources(&o1, "busybox", out, sizeof(out)), -EINVAL);
        cr_assert_eq(sources(&o2, "busybox", out, sizeof(out)), -EINVAL);
        cr_assert_eq(sources(&o3, "busybox", out, sizeof(out)), -EINVAL);
}

Test(mirror, host_options_find_the_value_for_their_host_only)
{
        static char s11[] = "reg.example=/a.pem";
        static char s12[] = "Docker.io=/hub.pem";
        char *certs[] = { s11, s12, NULL };
        static char s13[] = "reg.example:5000";
        char *hosts[] = { s13, NULL };

        cr_assert_str_eq(registry_host_option(certs, "reg.example"), "/a.pem");
        cr_assert_null(registry_host_option(certs, "reg.example:443"));
        cr_assert_str_eq(registry_host_option(certs, REGISTRY_DOCKER_HUB), "/hub.pem");
        cr_assert_null(registry_host_option(NULL, "reg.example"));
        cr_assert(registry_host_listed(hosts, "REG.example:5000"));
        cr_assert_not(registry_host_listed(hosts, "reg.example"));
}
