/* `sbuild policy check`: the static audit of a Dockerfile against a policy file. */
#include "cli/cli_policy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "build/shell_expand.h"
#include "common/sb_cleanup.h"
#include "common/sb_util.h"

static void policy_help(void)
{
        printf("Usage: sbuild policy check [--policy FILE] [--format=text|json|sarif]\n"
               "                           [--fail-on=error|warning|note] Dockerfile\n"
               "\n"
               "Audit a Dockerfile against a policy file (docs/policy.md) without building it:\n"
               "base image registries and digest pinning, the final USER, secret-looking\n"
               "ENV/ARG names, curl|sh pipes, remote ADD without --checksum or from a host the\n"
               "policy does not allow. Without --policy the strict built-in policy applies.\n"
               "\n"
               "Exit status: 0 no finding at or above --fail-on (default error), 1 some, 2 usage\n"
               "error, an unreadable or unparsable Dockerfile, or a bad policy file.\n");
}

int cli_policy_instrs(const struct dockerfile *df, struct policy_instr **ret_instrs,
                      size_t *ret_n, sb_error_t *err)
{
        struct policy_instr *v = sb_xcalloc(df->n_nodes + 1, sizeof(*v));
        cleanup_strv char **env = sb_xcalloc(1, sizeof(char *));
        bool seen_from = false;
        size_t i;
        int r;

        for (i = 0; i < df->n_nodes; i++) {
                const struct dockerfile_node *n = &df->nodes[i];
                struct policy_instr *in = &v[i];
                in->cmd = n->cmd;
                in->flags = n->flags;
                in->args = n->args;
                in->json = n->json;
                in->line = n->start_line;
                if (strcmp(n->cmd, "arg") == 0 && !seen_from) {
                        /* the global ARG defaults, as FROM sees them */
                        for (size_t k = 0; n->args[k]; k++) {
                                const char *eq = strchr(n->args[k], '=');
                                cleanup_free char *val = NULL;
                                if (!eq)
                                        continue;
                                r = shell_expand_word(eq + 1, env, df->escape, &val, err);
                                if (r < 0)
                                        goto fail;
                                sb_strv_push_take(&env, sb_xasprintf("%.*s=%s",
                                                  (int) (eq - n->args[k]), n->args[k], val));
                        }
                } else if (strcmp(n->cmd, "from") == 0) {
                        char **args = NULL;
                        seen_from = true;
                        for (size_t k = 0; n->args[k]; k++) {
                                char *w = NULL;
                                r = shell_expand_word(n->args[k], env, df->escape, &w, err);
                                if (r < 0) {
                                        sb_strv_free(args);
                                        goto fail;
                                }
                                sb_strv_push_take(&args, w);
                        }
                        if (!args)
                                args = sb_xcalloc(1, sizeof(char *));
                        in->args = args;
                } else if (strcmp(n->cmd, "run") == 0 && n->n_heredocs) {
                        char *body = sb_xstrdup("");
                        for (size_t k = 0; k < n->n_heredocs; k++) {
                                char *b = sb_xasprintf("%s%s\n", body, n->heredocs[k].content ?
                                                       n->heredocs[k].content : "");
                                free(body);
                                body = b;
                        }
                        in->body = body;
                }
        }
        *ret_instrs = v;
        *ret_n = df->n_nodes;
        return 0;
fail:
        sb_error_prefix(err, "line %d", df->nodes[i].start_line);
        cli_policy_instrs_free(v, i);
        return r;
}

void cli_policy_instrs_free(struct policy_instr *instrs, size_t n)
{
        if (!instrs)
                return;
        for (size_t i = 0; i < n; i++) {
                if (strcmp(instrs[i].cmd, "from") == 0)
                        sb_strv_free((char **) instrs[i].args);
                free((char *) instrs[i].body);
        }
        free(instrs);
}

static int read_input(const char *path, size_t max, char **ret, size_t *ret_len,
                      sb_error_t *err)
{
        if (strcmp(path, "-") == 0)
                return sb_read_fd(STDIN_FILENO, max, ret, ret_len, err);
        return sb_read_file_at(AT_FDCWD, path, max, ret, ret_len, err);
}

static int policy_check_cmd(int argc, char **argv)
{
        const char *policy_file = NULL, *format = "text", *file = NULL;
        enum policy_severity fail_on = POLICY_ERROR;
        struct policy *pol = NULL;
        struct dockerfile *df = NULL;
        struct policy_instr *instrs = NULL;
        struct policy_report *rep = NULL;
        cleanup_free char *text = NULL;
        char *out = NULL;
        size_t len, n = 0;
        sb_error_t err = { 0 };
        int status = 2;

        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
                        policy_help();
                        return 0;
                } else if (strcmp(a, "--policy") == 0 && i + 1 < argc) {
                        policy_file = argv[++i];
                } else if (sb_str_has_prefix(a, "--policy=")) {
                        policy_file = a + 9;
                } else if (sb_str_has_prefix(a, "--format=")) {
                        format = a + 9;
                        if (strcmp(format, "text") && strcmp(format, "json") &&
                            strcmp(format, "sarif")) {
                                fprintf(stderr, "sbuild policy: --format: '%s' is not text, "
                                        "json or sarif\n", format);
                                return 2;
                        }
                } else if (sb_str_has_prefix(a, "--fail-on=")) {
                        if (policy_severity_from_name(a + 10, false, &fail_on) < 0) {
                                fprintf(stderr, "sbuild policy: --fail-on: '%s' is not error, "
                                        "warning or note\n", a + 10);
                                return 2;
                        }
                } else if (a[0] == '-' && a[1]) {
                        fprintf(stderr, "sbuild policy: unknown or incomplete flag '%s'\n", a);
                        return 2;
                } else if (file) {
                        fprintf(stderr, "sbuild policy check: one Dockerfile only\n");
                        return 2;
                } else {
                        file = a;
                }
        }
        if (!file) {
                fprintf(stderr, "sbuild policy check: no Dockerfile given (see --help)\n");
                return 2;
        }
        if (policy_file) {
                cleanup_free char *ptext = NULL;
                size_t plen;
                if (read_input(policy_file, POLICY_MAX_SIZE, &ptext, &plen, &err) < 0 ||
                    policy_parse(ptext, plen, &pol, &err) < 0) {
                        fprintf(stderr, "sbuild policy: %s: %s\n", policy_file, err.msg);
                        return 2;
                }
        } else {
                pol = policy_new_default();
        }
        if (read_input(file, DOCKERFILE_MAX_SIZE, &text, &len, &err) < 0) {
                fprintf(stderr, "sbuild policy: %s: %s\n", file, err.msg);
                goto out;
        }
        if (dockerfile_parse(text, len, &df, &err) < 0 ||
            cli_policy_instrs(df, &instrs, &n, &err) < 0) {
                const char *m = err.msg;
                /* the parser says "line N: msg"; print FILE:N: msg */
                if (sb_str_has_prefix(m, "line "))
                        fprintf(stderr, "%s:%.*s\n", file, (int) strcspn(m + 5, "\n"), m + 5);
                else
                        fprintf(stderr, "%s: %s\n", file, m);
                goto out;
        }
        rep = policy_check(pol, instrs, n);
        if (strcmp(format, "json") == 0)
                out = policy_report_json(rep, file);
        else if (strcmp(format, "sarif") == 0)
                out = policy_report_sarif(rep, file);
        else
                out = policy_report_text(rep, file);
        fputs(out, stdout);
        status = policy_report_fails(rep, fail_on) ? 1 : 0;
        if (fflush(stdout) != 0) {
                fprintf(stderr, "sbuild policy: writing the report: %s\n", strerror(errno));
                status = 2;
        }
out:
        free(out);
        policy_report_free(rep);
        cli_policy_instrs_free(instrs, n);
        dockerfile_free(df);
        policy_free(pol);
        return status;
}

int cli_policy(int argc, char **argv)
{
        if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
                policy_help();
                return argc < 2 ? 2 : 0;
        }
        if (strcmp(argv[1], "check") == 0)
                return policy_check_cmd(argc - 1, argv + 1);
        fprintf(stderr, "sbuild policy: unknown subcommand '%s' (see 'sbuild policy --help')\n",
                argv[1]);
        return 2;
}
