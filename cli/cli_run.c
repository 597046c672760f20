#include "cli/cli_run.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build/build.h"
#include "cli/cli_registry.h"
#include "common/sb_cleanup.h"
#include "common/sb_log.h"
#include "common/sb_util.h"

enum {
        OPT_CONTEXT = 'c',
        OPT_DOCKERFILE = 'f',
        OPT_DESTINATION = 'd',
        OPT_VERBOSITY = 'v',
        OPT_HELP = 'h',
        OPT_BUILD_ARG = 1000,
        OPT_TARGET,
        OPT_LABEL,
        OPT_NO_PUSH,
        OPT_OCI_LAYOUT,
        OPT_DIGEST_FILE,
        OPT_NAME_DIGEST_FILE,
        OPT_INSECURE,
        OPT_INSECURE_PULL,
        OPT_SKIP_TLS,
        OPT_STORE,
        OPT_IMAGE_FORMAT,
        OPT_PLATFORM,
        OPT_SKIP_TLS_PULL,
        OPT_INSECURE_REGISTRY,
        OPT_SKIP_TLS_REGISTRY,
        OPT_REGISTRY_CERT,
        OPT_REGISTRY_CLIENT_CERT,
        OPT_REGISTRY_MIRROR,
        OPT_REGISTRY_MAP,
        OPT_PUSH_RETRY,
        OPT_PULL_RETRY,
        OPT_NAME_TAG_DIGEST_FILE,
        OPT_SKIP_PUSH_CHECK,
        OPT_TAR_PATH,
        OPT_MEMORY_LIMIT,
        OPT_PIDS_LIMIT,
        OPT_NOFILE_LIMIT,
        OPT_STEP_TIMEOUT,
        OPT_MAX_LAYER_SIZE,
};

static const struct option run_options[] = {
        { "context", required_argument, NULL, OPT_CONTEXT },
        { "dockerfile", required_argument, NULL, OPT_DOCKERFILE },
        { "destination", required_argument, NULL, OPT_DESTINATION },
        { "build-arg", required_argument, NULL, OPT_BUILD_ARG },
        { "target", required_argument, NULL, OPT_TARGET },
        { "label", required_argument, NULL, OPT_LABEL },
        { "no-push", optional_argument, NULL, OPT_NO_PUSH },
        { "oci-layout-path", required_argument, NULL, OPT_OCI_LAYOUT },
        { "digest-file", required_argument, NULL, OPT_DIGEST_FILE },
        { "image-name-with-digest-file", required_argument, NULL, OPT_NAME_DIGEST_FILE },
        { "insecure", optional_argument, NULL, OPT_INSECURE },
        { "insecure-pull", optional_argument, NULL, OPT_INSECURE_PULL },
        { "skip-tls-verify", optional_argument, NULL, OPT_SKIP_TLS },
        { "verbosity", required_argument, NULL, OPT_VERBOSITY },
        { "store", required_argument, NULL, OPT_STORE },
        { "image-format", required_argument, NULL, OPT_IMAGE_FORMAT },
        { "custom-platform", required_argument, NULL, OPT_PLATFORM },
        { "platform", required_argument, NULL, OPT_PLATFORM },
        { "skip-tls-verify-pull", optional_argument, NULL, OPT_SKIP_TLS_PULL },
        { "insecure-registry", required_argument, NULL, OPT_INSECURE_REGISTRY },
        { "skip-tls-verify-registry", required_argument, NULL, OPT_SKIP_TLS_REGISTRY },
        { "registry-certificate", required_argument, NULL, OPT_REGISTRY_CERT },
        { "registry-client-cert", required_argument, NULL, OPT_REGISTRY_CLIENT_CERT },
        { "registry-mirror", required_argument, NULL, OPT_REGISTRY_MIRROR },
        { "registry-map", required_argument, NULL, OPT_REGISTRY_MAP },
        { "push-retry", required_argument, NULL, OPT_PUSH_RETRY },
        { "image-download-retry", required_argument, NULL, OPT_PULL_RETRY },
        { "image-name-tag-with-digest-file", required_argument, NULL, OPT_NAME_TAG_DIGEST_FILE },
        { "skip-push-permission-check", optional_argument, NULL, OPT_SKIP_PUSH_CHECK },
        { "tar-path", required_argument, NULL, OPT_TAR_PATH },
        { "memory-limit", required_argument, NULL, OPT_MEMORY_LIMIT },
        { "pids-limit", required_argument, NULL, OPT_PIDS_LIMIT },
        { "nofile-limit", required_argument, NULL, OPT_NOFILE_LIMIT },
        { "step-timeout", required_argument, NULL, OPT_STEP_TIMEOUT },
        { "max-layer-size", required_argument, NULL, OPT_MAX_LAYER_SIZE },
        { "help", no_argument, NULL, OPT_HELP },
        { NULL, 0, NULL, 0 },
};

void cli_run_help(void)
{
        printf("Usage: sbuild run [flags]\n"
               "\n"
               "Build a Dockerfile in an unprivileged user namespace and push the image.\n"
               "\n"
               "Flags (Kaniko's names):\n"
               "  -c, --context=DIR            build context: a directory or dir://DIR (default .)\n"
               "  -f, --dockerfile=FILE        Dockerfile, relative to the context unless absolute\n"
               "                               (default Dockerfile)\n"
               "  -d, --destination=REF        image to push; repeat for several tags\n"
               "      --build-arg=K=V          set a build argument; a bare K takes $K\n"
               "      --target=STAGE           build up to this stage\n"
               "      --label=K=V              add a label to the image config\n"
               "      --no-push                build only (no --destination needed)\n"
               "      --oci-layout-path=DIR    also write the image as an OCI image layout\n"
               "      --digest-file=FILE       write the image's manifest digest\n"
               "      --image-name-with-digest-file=FILE\n"
               "                               write REF@DIGEST for each destination\n"
               "      --insecure               push over plain http\n"
               "      --insecure-pull          pull over plain http\n"
               "      --skip-tls-verify        do not verify registry certificates\n"
               "  -v, --verbosity=LEVEL        panic|fatal|error|warn|info|debug|trace (default info)\n"
               "      --store=DIR              content store (default $XDG_DATA_HOME/sbuild, or\n"
               "                               /var/lib/sbuild for root)\n"
               "      --image-format=FORMAT    oci (default) or docker manifests and config\n"
               "      --custom-platform=OS/ARCH[/VARIANT]\n"
               "                               platform to build for (default: the host's);\n"
               "                               --platform is an alias\n"
               "\nRegistries:\n"
               "      --skip-tls-verify-pull   do not verify certificates when pulling\n"
               "      --insecure-registry=HOST plain http allowed for HOST (repeatable)\n"
               "      --skip-tls-verify-registry=HOST\n"
               "                               no certificate checks for HOST (repeatable)\n"
               "      --registry-certificate=HOST=CA.pem\n"
               "                               trust CA.pem for HOST (repeatable)\n"
               "      --registry-client-cert=HOST=CERT,KEY\n"
               "                               TLS client certificate for HOST (repeatable)\n"
               "      --registry-mirror=HOST   pull Docker Hub images through HOST (repeatable)\n"
               "      --registry-map=FROM=TO   pull FROM's images from TO (repeatable)\n"
               "      --push-retry=N           retry a failed push N times (default 0)\n"
               "      --image-download-retry=N retry a failed pull N times (default 0)\n"
               "      --image-name-tag-with-digest-file=FILE\n"
               "                               write REF:TAG@DIGEST for each destination\n"
               "      --skip-push-permission-check\n"
               "                               do not check push access before building\n"
               "      --tar-path=FILE          also write the image as a docker-archive tarball\n"
               "\nLimits of RUN steps (rlimits; SIZE like 512m or 2g, DURATION like 30s or 10m):\n"
               "      --memory-limit=SIZE      address space of each process of a step\n"
               "                               (RLIMIT_AS; default none)\n"
               "      --pids-limit=N           processes of the step's user (RLIMIT_NPROC): the\n"
               "                               kernel counts every process of the step's uid in\n"
               "                               the build's user namespace, the builder's own\n"
               "                               included, so leave room above what the step needs\n"
               "                               (default none)\n"
               "      --nofile-limit=N         open files per process (RLIMIT_NOFILE; default\n"
               "                               1048576 or the current hard limit if lower)\n"
               "      --step-timeout=DURATION  kill a RUN step (all its processes) and fail the\n"
               "                               build when it runs longer (default none)\n"
               "      --max-layer-size=SIZE    fail the build when a RUN step's compressed layer\n"
               "                               is larger (default none)\n"
               "\n"
               "  -h, --help                   show this help\n"
               "\n"
               "Registries on localhost, 127.0.0.0/8 and ::1 are spoken to over plain http.\n"
               "Exit status: 0 built, 1 build failed, 2 usage error or Dockerfile syntax error.\n");
}

static void options_done(struct build_options *o)
{
        free(o->context);
        free(o->dockerfile);
        sb_strv_free(o->destinations);
        sb_strv_free(o->build_args);
        sb_strv_free(o->labels);
        free(o->target);
        free(o->oci_layout_path);
        free(o->digest_file);
        free(o->image_name_with_digest_file);
        free(o->store);
        free(o->image_format);
        free(o->platform);
        sb_strv_free(o->insecure_registries);
        sb_strv_free(o->skip_tls_verify_registries);
        sb_strv_free(o->registry_certificates);
        sb_strv_free(o->registry_client_certs);
        sb_strv_free(o->registry_mirrors);
        sb_strv_free(o->registry_maps);
        free(o->image_name_tag_with_digest_file);
        free(o->tar_path);
}

static void set_string(char **slot, const char *value)
{
        free(*slot);
        *slot = sb_xstrdup(value);
}

static int parse_key_value(const char *flag, const char *arg, bool allow_bare, char **ret)
{
        const char *eq = strchr(arg, '=');
        if (eq == arg || !*arg) {
                fprintf(stderr, "sbuild run: --%s: '%s' is not KEY=VALUE\n", flag, arg);
                return -EINVAL;
        }
        if (!eq) {
                if (!allow_bare) {
                        fprintf(stderr, "sbuild run: --%s: '%s' is not KEY=VALUE\n", flag, arg);
                        return -EINVAL;
                }
                /* Kaniko and docker: a bare build arg takes its value from the environment */
                const char *v = secure_getenv(arg);
                *ret = sb_xasprintf("%s=%s", arg, v ? v : "");
                return 0;
        }
        *ret = sb_xstrdup(arg);
        return 0;
}

/* A size: digits with an optional k, m, g or t (powers of 1024), optionally followed by b or ib. */
static int parse_size(const char *flag, const char *arg, uint64_t *ret)
{
        uint64_t v = 0;
        const char *p = arg;
        for (; *p >= '0' && *p <= '9'; p++) {
                if (v > (UINT64_MAX - 9) / 10)
                        goto bad;
                v = v * 10 + (uint64_t) (*p - '0');
        }
        if (p == arg)
                goto bad;
        unsigned shift = 0;
        switch (*p) {
        case 'k':
        case 'K':
                shift = 10;
                break;
        case 'm':
        case 'M':
                shift = 20;
                break;
        case 'g':
        case 'G':
                shift = 30;
                break;
        case 't':
        case 'T':
                shift = 40;
                break;
        default:
                break;
        }
        if (shift) {
                p++;
                if (*p == 'i' || *p == 'I')
                        p++;
        }
        if (*p == 'b' || *p == 'B')
                p++;
        if (*p || v == 0 || v > (UINT64_MAX >> shift))
                goto bad;
        *ret = v << shift;
        return 0;
bad:
        fprintf(stderr, "sbuild run: --%s: '%s' is not a size such as 512m or 2g\n", flag, arg);
        return -EINVAL;
}

/* A positive count. */
static int parse_limit_count(const char *flag, const char *arg, uint64_t *ret)
{
        uint64_t v;
        if (sb_parse_u64(arg, UINT64_MAX, &v) < 0 || v == 0) {
                fprintf(stderr, "sbuild run: --%s: '%s' is not a positive number\n", flag, arg);
                return -EINVAL;
        }
        *ret = v;
        return 0;
}

/* A duration: digits with ms, s, m or h (bare digits are seconds), more than zero. */
static int parse_duration(const char *flag, const char *arg, uint64_t *ret_ms)
{
        uint64_t v = 0;
        const char *p = arg;
        for (; *p >= '0' && *p <= '9'; p++) {
                if (v > (UINT64_MAX - 9) / 10)
                        goto bad;
                v = v * 10 + (uint64_t) (*p - '0');
        }
        if (p == arg)
                goto bad;
        uint64_t mult;
        if (strcmp(p, "ms") == 0)
                mult = 1;
        else if (strcmp(p, "s") == 0 || !*p)
                mult = 1000;
        else if (strcmp(p, "m") == 0)
                mult = 60000;
        else if (strcmp(p, "h") == 0)
                mult = 3600000;
        else
                goto bad;
        /* setitimer takes seconds in a time_t; a year is far beyond any sensible step */
        if (v == 0 || v > 366ull * 24 * 3600000 / mult)
                goto bad;
        *ret_ms = v * mult;
        return 0;
bad:
        fprintf(stderr, "sbuild run: --%s: '%s' is not a duration such as 30s or 10m\n", flag,
                arg);
        return -EINVAL;
}

static int parse_run_flags(int argc, char **argv, struct build_options *o)
{
        opterr = 0;
        optind = 1;
        int c;
        while ((c = getopt_long(argc, argv, ":c:f:d:v:h", run_options, NULL)) != -1) {
                const char *name = "";
                for (const struct option *op = run_options; op->name; op++)
                        if (op->val == c)
                                name = op->name;
                char *kv = NULL;
                switch (c) {
                case OPT_CONTEXT: {
                        const char *p = optarg;
                        if (sb_str_has_prefix(p, "dir://"))
                                p += 6;
                        else if (strstr(p, "://")) {
                                fprintf(stderr,
                                        "sbuild run: --context: '%s': only local directories "
                                        "(dir://PATH or PATH) are supported\n",
                                        optarg);
                                return -EINVAL;
                        }
                        if (!*p) {
                                fprintf(stderr, "sbuild run: --context: empty path\n");
                                return -EINVAL;
                        }
                        set_string(&o->context, p);
                        break;
                }
                case OPT_DOCKERFILE:
                        set_string(&o->dockerfile, optarg);
                        break;
                case OPT_DESTINATION:
                        if (!*optarg) {
                                fprintf(stderr, "sbuild run: --destination: empty reference\n");
                                return -EINVAL;
                        }
                        sb_strv_push(&o->destinations, optarg);
                        break;
                case OPT_BUILD_ARG:
                        if (parse_key_value(name, optarg, true, &kv) < 0)
                                return -EINVAL;
                        sb_strv_push_take(&o->build_args, kv);
                        break;
                case OPT_LABEL:
                        if (parse_key_value(name, optarg, false, &kv) < 0)
                                return -EINVAL;
                        sb_strv_push_take(&o->labels, kv);
                        break;
                case OPT_TARGET:
                        set_string(&o->target, optarg);
                        break;
                case OPT_NO_PUSH:
                        if (cli_registry_parse_bool("run", name, optarg, &o->no_push) < 0)
                                return -EINVAL;
                        break;
                case OPT_OCI_LAYOUT:
                        set_string(&o->oci_layout_path, optarg);
                        break;
                case OPT_DIGEST_FILE:
                        set_string(&o->digest_file, optarg);
                        break;
                case OPT_NAME_DIGEST_FILE:
                        set_string(&o->image_name_with_digest_file, optarg);
                        break;
                case OPT_INSECURE:
                        if (cli_registry_parse_bool("run", name, optarg, &o->insecure) < 0)
                                return -EINVAL;
                        break;
                case OPT_INSECURE_PULL:
                        if (cli_registry_parse_bool("run", name, optarg, &o->insecure_pull) < 0)
                                return -EINVAL;
                        break;
                case OPT_SKIP_TLS:
                        if (cli_registry_parse_bool("run", name, optarg, &o->skip_tls_verify) < 0)
                                return -EINVAL;
                        break;
                case OPT_VERBOSITY: {
                        int level = sb_log_parse_level(optarg);
                        if (level < 0) {
                                fprintf(stderr,
                                        "sbuild run: --verbosity: unknown level '%s' (panic, "
                                        "fatal, error, warn, info, debug, trace)\n",
                                        optarg);
                                return -EINVAL;
                        }
                        sb_log_set_level(level);
                        break;
                }
                case OPT_STORE:
                        set_string(&o->store, optarg);
                        break;
                case OPT_IMAGE_FORMAT:
                        if (strcmp(optarg, "oci") != 0 && strcmp(optarg, "docker") != 0) {
                                fprintf(stderr,
                                        "sbuild run: --image-format: '%s' is not oci or docker\n",
                                        optarg);
                                return -EINVAL;
                        }
                        set_string(&o->image_format, optarg);
                        break;
                case OPT_PLATFORM: {
                        /* os/arch or os/arch/variant, each part a plain lowercase word */
                        size_t slashes = 0;
                        bool ok = *optarg && optarg[0] != '/';
                        for (const char *p = optarg; *p && ok; p++) {
                                if (*p == '/') {
                                        ok = p[1] && p[1] != '/';
                                        slashes++;
                                } else {
                                        ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                                             *p == '_' || *p == '-';
                                }
                        }
                        if (!ok || slashes < 1 || slashes > 2) {
                                fprintf(stderr,
                                        "sbuild run: --%s: '%s' is not os/arch[/variant]\n", name,
                                        optarg);
                                return -EINVAL;
                        }
                        set_string(&o->platform, optarg);
                        break;
                }
                case OPT_SKIP_TLS_PULL:
                        if (cli_registry_parse_bool("run", name, optarg,
                                                    &o->skip_tls_verify_pull) < 0)
                                return -EINVAL;
                        break;
                case OPT_INSECURE_REGISTRY:
                        sb_strv_push(&o->insecure_registries, optarg);
                        break;
                case OPT_SKIP_TLS_REGISTRY:
                        sb_strv_push(&o->skip_tls_verify_registries, optarg);
                        break;
                case OPT_REGISTRY_CERT:
                        if (cli_registry_parse_host_value("run", name, optarg,
                                                          &o->registry_certificates) < 0)
                                return -EINVAL;
                        break;
                case OPT_REGISTRY_CLIENT_CERT:
                        if (cli_registry_parse_client_cert("run", name, optarg,
                                                           &o->registry_client_certs) < 0)
                                return -EINVAL;
                        break;
                case OPT_REGISTRY_MIRROR:
                        if (!*optarg) {
                                fprintf(stderr, "sbuild run: --%s: empty host\n", name);
                                return -EINVAL;
                        }
                        sb_strv_push(&o->registry_mirrors, optarg);
                        break;
                case OPT_REGISTRY_MAP:
                        if (cli_registry_parse_host_value("run", name, optarg,
                                                          &o->registry_maps) < 0)
                                return -EINVAL;
                        break;
                case OPT_PUSH_RETRY:
                        if (cli_registry_parse_count("run", name, optarg, &o->push_retry) < 0)
                                return -EINVAL;
                        break;
                case OPT_PULL_RETRY:
                        if (cli_registry_parse_count("run", name, optarg, &o->pull_retry) < 0)
                                return -EINVAL;
                        break;
                case OPT_NAME_TAG_DIGEST_FILE:
                        set_string(&o->image_name_tag_with_digest_file, optarg);
                        break;
                case OPT_SKIP_PUSH_CHECK:
                        if (cli_registry_parse_bool("run", name, optarg,
                                                    &o->skip_push_permission_check) < 0)
                                return -EINVAL;
                        break;
                case OPT_TAR_PATH:
                        set_string(&o->tar_path, optarg);
                        break;
                case OPT_MEMORY_LIMIT:
                        if (parse_size(name, optarg, &o->memory_limit) < 0)
                                return -EINVAL;
                        break;
                case OPT_MAX_LAYER_SIZE:
                        if (parse_size(name, optarg, &o->max_layer_size) < 0)
                                return -EINVAL;
                        break;
                case OPT_PIDS_LIMIT:
                        if (parse_limit_count(name, optarg, &o->pids_limit) < 0)
                                return -EINVAL;
                        break;
                case OPT_NOFILE_LIMIT:
                        if (parse_limit_count(name, optarg, &o->nofile_limit) < 0)
                                return -EINVAL;
                        break;
                case OPT_STEP_TIMEOUT:
                        if (parse_duration(name, optarg, &o->step_timeout_ms) < 0)
                                return -EINVAL;
                        break;
                case OPT_HELP:
                        cli_run_help();
                        return 1;
                case ':':
                        fprintf(stderr, "sbuild run: flag '%s' needs a value\n", argv[optind - 1]);
                        return -EINVAL;
                default:
                        fprintf(stderr, "sbuild run: unknown flag '%s' (see 'sbuild run --help')\n",
                                argv[optind - 1]);
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "sbuild run: unexpected argument '%s' (see 'sbuild run --help')\n",
                        argv[optind]);
                return -EINVAL;
        }
        if (!o->context)
                o->context = sb_xstrdup(".");
        if (!o->dockerfile)
                o->dockerfile = sb_xstrdup("Dockerfile");
        if (!o->no_push && sb_strv_len(o->destinations) == 0) {
                fprintf(stderr, "sbuild run: no --destination given (use --no-push to build "
                                "without pushing)\n");
                return -EINVAL;
        }
        return 0;
}

int cli_run(int argc, char **argv)
{
        struct build_options o = { 0 };
        int r = parse_run_flags(argc, argv, &o);
        if (r != 0) {
                options_done(&o);
                return r > 0 ? BUILD_EXIT_OK : BUILD_EXIT_USAGE;
        }
        struct build_result result = { 0 };
        sb_error_t err = { 0 };
        r = build_run(&o, &result, &err);
        options_done(&o);
        if (r < 0) {
                sb_log(SB_LOG_ERROR, "%s", err.msg);
                return r == -EINVAL ? BUILD_EXIT_USAGE : BUILD_EXIT_FAILED;
        }
        return BUILD_EXIT_OK;
}
