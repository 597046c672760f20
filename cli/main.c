/* sbuild: build OCI images from Dockerfiles without root, privileges or a daemon. */
#include <stdio.h>
#include <string.h>

#include "cli/cli_parse.h"
#include "cli/cli_policy.h"
#include "cli/cli_push.h"
#include "cli/cli_run.h"
#include "sbuild_config.h"

static void main_help(void)
{
        printf("sbuild %s: build OCI container images from Dockerfiles, rootless and daemonless\n"
               "\n"
               "Usage:\n"
               "  sbuild run --context=DIR --dockerfile=FILE --destination=REF [flags]\n"
               "  sbuild push [flags] LAYOUT-OR-TAR REF\n"
               "  sbuild parse [--format=text|json] FILE\n"
               "  sbuild policy check [--policy FILE] [--format=text|json|sarif] FILE\n"
               "  sbuild --help | --version\n"
               "\n"
               "Commands:\n"
               "  run        build a Dockerfile and push or save the image (see 'sbuild run --help')\n"
               "  push       push an OCI layout or docker-archive saved earlier (see 'sbuild\n"
               "             push --help')\n"
               "  parse      print a Dockerfile's parsed instructions as text or JSON, without\n"
               "             building (see 'sbuild parse --help')\n"
               "  policy     audit a Dockerfile against a policy file (see 'sbuild policy\n"
               "             --help')\n"
               "\n"
               "Each build runs in an unprivileged user namespace under a seccomp filter; a\n"
               "separate registry agent alone holds the registry credentials.\n",
               SBUILD_VERSION);
}

int main(int argc, char **argv)
{
        if (argc < 2) {
                main_help();
                return 2;
        }
        const char *cmd = argv[1];
        if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
                main_help();
                return 0;
        }
        if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
                printf("sbuild %s\n", SBUILD_VERSION);
                return 0;
        }
        if (strcmp(cmd, "run") == 0)
                return cli_run(argc - 1, argv + 1);
        if (strcmp(cmd, "push") == 0)
                return cli_push(argc - 1, argv + 1);
        if (strcmp(cmd, "parse") == 0)
                return cli_parse(argc - 1, argv + 1);
        if (strcmp(cmd, "policy") == 0)
                return cli_policy(argc - 1, argv + 1);
        fprintf(stderr, "sbuild: unknown command '%s' (see 'sbuild --help')\n", cmd);
        return 2;
}
