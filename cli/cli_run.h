#pragma once
/* `sbuild run`: flag parsing into struct build_options, then the build. */

/* Parse argv (argv[0] is "run") and run the build; returns the process exit code. */
int cli_run(int argc, char **argv);
/* Print the help of `sbuild run` to stdout. */
void cli_run_help(void);
