#pragma once
/*
 * Flag parsing shared by `sbuild run` and `sbuild push`: the per-registry flags and the
 * value forms they use. Each parser reports a usage error on stderr as "sbuild CMD: --FLAG:
 * ..." and returns -EINVAL; 0 when the value was taken.
 */
#include <stdbool.h>

/* Kaniko's boolean forms: --flag (arg NULL), --flag=true|1, --flag=false|0. */
int cli_registry_parse_bool(const char *cmd, const char *flag, const char *arg, bool *ret);

/* A count from 0 to 100 (--push-retry, --image-download-retry). */
int cli_registry_parse_count(const char *cmd, const char *flag, const char *arg, int *ret);

/* "HOST=VALUE" with both parts non-empty, appended to *list. */
int cli_registry_parse_host_value(const char *cmd, const char *flag, const char *arg,
                                  char ***list);

/* "HOST=CERT,KEY" (--registry-client-cert), appended to *list. */
int cli_registry_parse_client_cert(const char *cmd, const char *flag, const char *arg,
                                   char ***list);
