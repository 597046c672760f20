/* Flag parsing shared by `sbuild run` and `sbuild push`. */
#include "cli/cli_registry.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/sb_util.h"

int cli_registry_parse_bool(const char *cmd, const char *flag, const char *arg, bool *ret)
{
        if (!arg || strcmp(arg, "true") == 0 || strcmp(arg, "1") == 0) {
                *ret = true;
                return 0;
        }
        if (strcmp(arg, "false") == 0 || strcmp(arg, "0") == 0) {
                *ret = false;
                return 0;
        }
        fprintf(stderr, "sbuild %s: --%s: '%s' is not true or false\n", cmd, flag, arg);
        return -EINVAL;
}

int cli_registry_parse_count(const char *cmd, const char *flag, const char *arg, int *ret)
{
        uint64_t v;
        if (sb_parse_u64(arg, 100, &v) < 0) {
                fprintf(stderr, "sbuild %s: --%s: '%s' is not a number from 0 to 100\n", cmd,
                        flag, arg);
                return -EINVAL;
        }
        *ret = (int) v;
        return 0;
}

int cli_registry_parse_host_value(const char *cmd, const char *flag, const char *arg,
                                  char ***list)
{
        const char *eq = strchr(arg, '=');
        if (!eq || eq == arg || !eq[1]) {
                fprintf(stderr, "sbuild %s: --%s: '%s' is not HOST=VALUE\n", cmd, flag, arg);
                return -EINVAL;
        }
        sb_strv_push(list, arg);
        return 0;
}

int cli_registry_parse_client_cert(const char *cmd, const char *flag, const char *arg,
                                   char ***list)
{
        const char *eq = strchr(arg, '=');
        const char *comma = eq ? strchr(eq + 1, ',') : NULL;
        if (!eq || eq == arg || !comma || comma == eq + 1 || !comma[1]) {
                fprintf(stderr, "sbuild %s: --%s: '%s' is not HOST=CERT,KEY\n", cmd, flag, arg);
                return -EINVAL;
        }
        sb_strv_push(list, arg);
        return 0;
}
