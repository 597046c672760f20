#pragma once
/* `sbuild policy check`: the static audit of a Dockerfile against a policy file. */
#include <stddef.h>

#include "build/dockerfile_parse.h"
#include "common/sb_error.h"
#include "policy/policy.h"

/* argv[0] is "policy". Returns the exit status (0 clean, 1 findings, 2 usage/parse error). */
int cli_policy(int argc, char **argv);

/*
 * The instruction list of a parsed Dockerfile for policy_check: FROM arguments expanded with
 * the ARG defaults declared before the first FROM, RUN heredoc bodies joined. *ret_instrs is
 * freed with cli_policy_instrs_free (n entries); fails (-EINVAL) when a FROM does not expand.
 */
int cli_policy_instrs(const struct dockerfile *df, struct policy_instr **ret_instrs,
                      size_t *ret_n, sb_error_t *err);
void cli_policy_instrs_free(struct policy_instr *instrs, size_t n);
