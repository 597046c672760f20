/* Remote ADD sources, fetched by the registry agent before the builder starts. */
#include "build/build_internal.h"

int build_fetch_remote_sources(struct builder *b, struct registry_agent *agent, sb_error_t *err)
{
        (void) b;
        (void) agent;
        (void) err;
        return 0;
}
