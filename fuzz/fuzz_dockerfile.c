/* libFuzzer target: the Dockerfile parser on any text, then the dump of every node. */
#include <stdlib.h>

#include "build/dockerfile_parse.h"
#include "fuzz/fuzz.h"

static void dump_all(const struct dockerfile_node *n)
{
        for (; n; n = n->inner) {
                char *s = dockerfile_node_dump(n);
                free(s);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct dockerfile *df = NULL;
        sb_error_t err = { 0 };

        /* The parser takes a length, so the raw bytes go in as they are (NULs included). */
        if (dockerfile_parse((const char *) data, size, &df, &err) < 0)
                return 0;
        for (size_t i = 0; i < df->n_nodes; i++)
                dump_all(&df->nodes[i]);
        dockerfile_free(df);
        return 0;
}
