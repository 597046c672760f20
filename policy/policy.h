#pragma once
/*
 * The policy file (docs/policy.md) and the static audit of a Dockerfile against it. The rule
 * engine works on a plain instruction list (struct policy_instr) so that this library does not
 * depend on the Dockerfile parser, which lives in build/ (a later layer); cli/cli_policy.c
 * turns parsed Dockerfiles into that list.
 */
#include <stdbool.h>
#include <stddef.h>

#include "common/sb_error.h"

#define POLICY_MAX_SIZE (1u * 1024u * 1024u)
#define POLICY_MAX_LIST 1024u /* entries in any one list of the policy file */

enum policy_severity { POLICY_OFF = 0, POLICY_NOTE, POLICY_WARNING, POLICY_ERROR };

enum policy_rule {
        POLICY_RULE_REGISTRY = 0,  /* registry-not-allowed */
        POLICY_RULE_DIGEST,        /* base-not-pinned */
        POLICY_RULE_LATEST,        /* base-latest-tag */
        POLICY_RULE_USER_ROOT,     /* final-user-root */
        POLICY_RULE_SECRET,        /* secret-in-env-arg */
        POLICY_RULE_CURL_PIPE,     /* curl-pipe-shell */
        POLICY_RULE_ADD_CHECKSUM,  /* add-url-no-checksum */
        POLICY_RULE_ADD_HOST,      /* add-host-not-allowed */
        POLICY_RULE_COUNT,
};

struct policy_rule_info {
        const char *id;
        enum policy_severity severity; /* built-in default */
        const char *summary;           /* one line: SARIF shortDescription */
        const char *help;              /* how to fix it: SARIF help and the finding's hint */
};

struct policy {
        char **pull_registries;  /* fnmatch patterns over "host/repo"; NULL-terminated */
        bool require_digest;
        char **add_hosts;        /* fnmatch patterns over URL hosts */
        char **secret_names;     /* words that make an ENV/ARG name look secret (upper case) */
        enum policy_severity severity[POLICY_RULE_COUNT]; /* POLICY_OFF disables a rule */
};

/* One instruction: cmd lower case; flags "--x=y" and args as the parser gives them (for env,
 * key/value/"=" triples). FROM's args are already expanded with the global ARG defaults. */
struct policy_instr {
        const char *cmd;
        char *const *flags;
        char *const *args;
        bool json;       /* exec form */
        const char *body; /* RUN: heredoc bodies joined, or NULL */
        int line;
};

struct policy_finding {
        enum policy_rule rule;
        enum policy_severity severity;
        int line;
        char *message;
};

struct policy_report {
        struct policy_finding *findings;
        size_t n_findings;
};

const struct policy_rule_info *policy_rule_info(enum policy_rule r);
/* The rule with this id, or -ENOENT. */
int policy_rule_from_id(const char *id);
const char *policy_severity_name(enum policy_severity s);
/* "error", "warning", "note" (and "off" when allow_off) -> severity; -EINVAL otherwise. */
int policy_severity_from_name(const char *name, bool allow_off, enum policy_severity *ret);

/* The strict built-in policy (docs/policy.md lists it). */
struct policy *policy_new_default(void);
/*
 * Parse a policy document (JSON, at most POLICY_MAX_SIZE bytes). Keys not given keep their
 * built-in default; unknown keys, wrong types and over-long lists are errors (-EINVAL, with
 * err->msg naming the key).
 */
int policy_parse(const char *text, size_t len, struct policy **ret, sb_error_t *err);
struct policy *policy_free(struct policy *p);

/* Check an instruction list; findings come in line order. Never fails. */
struct policy_report *policy_check(const struct policy *p, const struct policy_instr *instrs,
                                   size_t n);
struct policy_report *policy_report_free(struct policy_report *r);
/* Whether any finding has severity >= min. */
bool policy_report_fails(const struct policy_report *r, enum policy_severity min);

/* Render the report as text lines, a JSON document or SARIF 2.1.0; the caller frees it. */
char *policy_report_text(const struct policy_report *r, const char *file);
char *policy_report_json(const struct policy_report *r, const char *file);
char *policy_report_sarif(const struct policy_report *r, const char *file);
