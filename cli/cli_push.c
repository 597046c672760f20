#include "cli/cli_push.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build/build.h"
#include "cli/cli_registry.h"
#include "common/sb_cleanup.h"
#include "common/sb_log.h"
#include "common/sb_util.h"
#include "image/image_import.h"
#include "image/image_store.h"
#include "registry/registry_agent.h"
#include "registry/registry_ref.h"

enum {
        OPT_VERBOSITY = 'v',
        OPT_HELP = 'h',
        OPT_STORE = 1000,
        OPT_INSECURE,
        OPT_SKIP_TLS,
        OPT_DIGEST_FILE,
        OPT_INSECURE_REGISTRY,
        OPT_SKIP_TLS_REGISTRY,
        OPT_REGISTRY_CERT,
        OPT_REGISTRY_CLIENT_CERT,
        OPT_PUSH_RETRY,
};

static const struct option push_options[] = {
        { "store", required_argument, NULL, OPT_STORE },
        { "insecure", optional_argument, NULL, OPT_INSECURE },
        { "skip-tls-verify", optional_argument, NULL, OPT_SKIP_TLS },
        { "digest-file", required_argument, NULL, OPT_DIGEST_FILE },
        { "insecure-registry", required_argument, NULL, OPT_INSECURE_REGISTRY },
        { "skip-tls-verify-registry", required_argument, NULL, OPT_SKIP_TLS_REGISTRY },
        { "registry-certificate", required_argument, NULL, OPT_REGISTRY_CERT },
        { "registry-client-cert", required_argument, NULL, OPT_REGISTRY_CLIENT_CERT },
        { "push-retry", required_argument, NULL, OPT_PUSH_RETRY },
        { "verbosity", required_argument, NULL, OPT_VERBOSITY },
        { "help", no_argument, NULL, OPT_HELP },
        { NULL, 0, NULL, 0 },
};

void cli_push_help(void)
{
        printf("Usage: sbuild push [flags] LAYOUT-OR-TAR REF\n"
               "\n"
               "Push an image saved earlier to the registry reference REF, through the same\n"
               "registry agent as 'sbuild run'. LAYOUT-OR-TAR is one of:\n"
               "  DIR                an OCI image layout holding one image\n"
               "  DIR:NAME           the layout's image named NAME (its ref.name annotation)\n"
               "  FILE               a docker-archive tarball (--tar-path, docker save, skopeo)\n"
               "  FILE:REPO:TAG      the archive's image tagged REPO:TAG\n"
               "Every blob is checked against its digest before it is sent. A layout's layers\n"
               "are read where they are; an archive is copied into the store first.\n"
               "\n"
               "Flags:\n"
               "      --store=DIR              content store (default as for 'sbuild run')\n"
               "      --insecure               push over plain http\n"
               "      --skip-tls-verify        do not verify registry certificates\n"
               "      --digest-file=FILE       write the pushed manifest's digest\n"
               "      --insecure-registry=HOST plain http allowed for HOST (repeatable)\n"
               "      --skip-tls-verify-registry=HOST\n"
               "                               no certificate checks for HOST (repeatable)\n"
               "      --registry-certificate=HOST=CA.pem\n"
               "                               trust CA.pem for HOST (repeatable)\n"
               "      --registry-client-cert=HOST=CERT,KEY\n"
               "                               TLS client certificate for HOST (repeatable)\n"
               "      --push-retry=N           retry a failed request N times (default 0)\n"
               "  -v, --verbosity=LEVEL        panic|fatal|error|warn|info|debug|trace\n"
               "  -h, --help                   show this help\n"
               "\n"
               "Exit status: 0 pushed, 1 failed, 2 usage error.\n");
}

struct push_args {
        const char *source, *ref;
        char *store, *digest_file;
        bool insecure, skip_tls_verify;
        char **insecure_registries, **skip_tls_verify_registries;
        char **registry_certificates, **registry_client_certs;
        int push_retry;
};

/* 0 to go on, 1 when --help was printed, -EINVAL for a usage error (already reported). */
static int parse_push_flags(int argc, char **argv, struct push_args *p)
{
        opterr = 0;
        optind = 1;
        int c;
        while ((c = getopt_long(argc, argv, ":v:h", push_options, NULL)) != -1) {
                switch (c) {
                case OPT_STORE:
                        free(p->store);
                        p->store = sb_xstrdup(optarg);
                        break;
                case OPT_DIGEST_FILE:
                        free(p->digest_file);
                        p->digest_file = sb_xstrdup(optarg);
                        break;
                case OPT_INSECURE:
                        if (cli_registry_parse_bool("push", "insecure", optarg, &p->insecure) < 0)
                                return -EINVAL;
                        break;
                case OPT_SKIP_TLS:
                        if (cli_registry_parse_bool("push", "skip-tls-verify", optarg,
                                                    &p->skip_tls_verify) < 0)
                                return -EINVAL;
                        break;
                case OPT_INSECURE_REGISTRY:
                        sb_strv_push(&p->insecure_registries, optarg);
                        break;
                case OPT_SKIP_TLS_REGISTRY:
                        sb_strv_push(&p->skip_tls_verify_registries, optarg);
                        break;
                case OPT_REGISTRY_CERT:
                        if (cli_registry_parse_host_value("push", "registry-certificate", optarg,
                                                          &p->registry_certificates) < 0)
                                return -EINVAL;
                        break;
                case OPT_REGISTRY_CLIENT_CERT:
                        if (cli_registry_parse_client_cert("push", "registry-client-cert", optarg,
                                                           &p->registry_client_certs) < 0)
                                return -EINVAL;
                        break;
                case OPT_PUSH_RETRY:
                        if (cli_registry_parse_count("push", "push-retry", optarg,
                                                     &p->push_retry) < 0)
                                return -EINVAL;
                        break;
                case OPT_VERBOSITY: {
                        int level = sb_log_parse_level(optarg);
                        if (level < 0) {
                                fprintf(stderr, "sbuild push: --verbosity: unknown level '%s'\n",
                                        optarg);
                                return -EINVAL;
                        }
                        sb_log_set_level(level);
                        break;
                }
                case OPT_HELP:
                        cli_push_help();
                        return 1;
                case ':':
                        fprintf(stderr, "sbuild push: flag '%s' needs a value\n",
                                argv[optind - 1]);
                        return -EINVAL;
                default:
                        fprintf(stderr,
                                "sbuild push: unknown flag '%s' (see 'sbuild push --help')\n",
                                argv[optind - 1]);
                        return -EINVAL;
                }
        }
        if (argc - optind != 2) {
                fprintf(stderr,
                        "sbuild push: expected LAYOUT-OR-TAR and REF, got %d argument%s (see "
                        "'sbuild push --help')\n",
                        argc - optind, argc - optind == 1 ? "" : "s");
                return -EINVAL;
        }
        p->source = argv[optind];
        p->ref = argv[optind + 1];
        struct registry_ref *ref = NULL;
        sb_error_t err = { 0 };
        if (registry_ref_parse(p->ref, &ref, &err) < 0) {
                fprintf(stderr, "sbuild push: REF: %s\n", err.msg);
                return -EINVAL;
        }
        registry_ref_free(ref);
        return 0;
}

static int push(const struct push_args *p, sb_error_t *err)
{
        cleanup_free char *root = p->store ? sb_xstrdup(p->store) : build_default_store();
        struct image_store *store = NULL;
        int r = image_store_open(root, &store, err);
        if (r < 0)
                return sb_error_prefix(err, "store");
        char manifest[SB_DIGEST_STR_LEN + 1];
        cleanup_free char *layout_blobs = NULL;
        double t0 = sb_now();
        /* a layout's layers go from the layout to the registry, checked on the way, and are
         * not copied into the store first */
        r = image_import_for_push(store, p->source, manifest, &layout_blobs, err);
        image_store_free(store);
        if (r < 0)
                return r;
        sb_debug("imported %s as %s in %.1fs", p->source, manifest, sb_now() - t0);

        struct registry_options ro = {
                .insecure = p->insecure,
                .skip_tls_verify = p->skip_tls_verify,
                .store_root = root,
                .insecure_registries = p->insecure_registries,
                .skip_tls_verify_registries = p->skip_tls_verify_registries,
                .registry_certificates = p->registry_certificates,
                .registry_client_certs = p->registry_client_certs,
                .push_retry = p->push_retry,
        };
        struct registry_agent *agent = NULL;
        r = registry_agent_start(&ro, &agent, err);
        if (r < 0)
                return sb_error_prefix(err, "registry agent");
        char digest[SB_DIGEST_STR_LEN + 1];
        t0 = sb_now();
        r = registry_agent_push_layout(agent, p->ref, manifest, layout_blobs, digest, err);
        registry_agent_stop(agent);
        if (r < 0)
                return r;
        sb_info("pushed %s@%s %.1fs", p->ref, digest, sb_now() - t0);
        if (p->digest_file) {
                r = sb_write_file_atomic_at(AT_FDCWD, p->digest_file, digest, strlen(digest),
                                            0644, err);
                if (r < 0)
                        return sb_error_prefix(err, "--digest-file");
        }
        return 0;
}

int cli_push(int argc, char **argv)
{
        struct push_args p = { 0 };
        int r = parse_push_flags(argc, argv, &p);
        if (r == 0) {
                sb_error_t err = { 0 };
                r = push(&p, &err);
                if (r < 0)
                        sb_log(SB_LOG_ERROR, "%s", err.msg);
                r = r < 0 ? 1 : 0;
        } else {
                r = r > 0 ? 0 : 2;
        }
        free(p.store);
        free(p.digest_file);
        sb_strv_free(p.insecure_registries);
        sb_strv_free(p.skip_tls_verify_registries);
        sb_strv_free(p.registry_certificates);
        sb_strv_free(p.registry_client_certs);
        return r;
}
