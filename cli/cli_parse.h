#pragma once
/* `sbuild parse`: print a Dockerfile's parsed instructions as text or JSON (docs/parse-json.md). */

/* Parse argv (argv[0] is "parse"), print the instructions; returns the process exit code
 * (0 printed, 2 usage error or a Dockerfile that does not parse, 1 other failures). */
int cli_parse(int argc, char **argv);
/* Print the help of `sbuild parse` to stdout. */
void cli_parse_help(void);
