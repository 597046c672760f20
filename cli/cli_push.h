#pragma once
/* `sbuild push LAYOUT-OR-TAR REF`: push an image saved earlier through the registry agent. */

/* Parse argv (argv[0] is "push") and push; returns the process exit code (0, 1 or 2). */
int cli_push(int argc, char **argv);
/* Print the help of `sbuild push` to stdout. */
void cli_push_help(void);
