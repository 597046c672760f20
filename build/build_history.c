/* History entries: the created_by text of each instruction. */
#include <stdlib.h>
#include <string.h>

#include "build/build_internal.h"
#include "common/sb_cleanup.h"
#include "common/sb_util.h"

char *build_history_text(struct builder *b, struct stage_state *st,
                         const struct dockerfile_node *n)
{
        (void) b;
        if (strcmp(n->cmd, "run") == 0 && !n->json) {
                cleanup_free char *shell = sb_xstrdup(st->shell[0]);
                for (size_t i = 1; st->shell[i]; i++) {
                        char *more = sb_xasprintf("%s %s", shell, st->shell[i]);
                        free(shell);
                        shell = more;
                }
                return sb_xasprintf("RUN %s %s", shell, n->args[0] ? n->args[0] : "");
        }
        return sb_xstrdup(n->original ? n->original : n->cmd);
}
