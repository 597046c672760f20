#pragma once
/* The Dockerfile parser: text to a list of instruction nodes shaped as BuildKit's parser makes
 * them (so its conformance dumps can be compared). */
#include <stdbool.h>
#include <stddef.h>

#include "common/sb_error.h"

#define DOCKERFILE_MAX_SIZE (4u * 1024u * 1024u)

struct dockerfile_heredoc {
        char *name;    /* delimiter */
        char *content; /* body, with a final newline */
        bool expand;   /* false when the delimiter was quoted */
        bool chomp;    /* <<- : leading tabs stripped */
        int fd;        /* the digits before << ("3<<EOF"), 0 when there are none */
};

struct dockerfile_node {
        char *cmd;      /* instruction in lower case: "from", "run", ... */
        char **flags;   /* "--from=x" as written; NULL-terminated, never NULL */
        char **args;    /* arguments; for env/label key,value,"=" triples; NULL-terminated */
        bool json;      /* exec (JSON array) form */
        char *original; /* the instruction as written, continuations joined */
        int start_line, end_line;
        struct dockerfile_heredoc *heredocs;
        size_t n_heredocs;
        struct dockerfile_node *inner; /* ONBUILD's instruction, else NULL */
        /* byte length of each args[i]: a JSON "\u0000" puts a NUL inside an argument */
        size_t *arg_lens;
        size_t n_args; /* entries in args (and arg_lens) */
};

struct dockerfile {
        struct dockerfile_node *nodes;
        size_t n_nodes;
        char escape; /* '\\' or '`' */
        char *syntax; /* "# syntax=" directive or NULL */
        char **warnings; /* non-fatal parser warnings (e.g. empty continuation lines) */
        char *check;     /* "# check=" directive or NULL */
};

/*
 * Parse; on failure err->msg is "line N: message" and -EINVAL is returned (-EFBIG, without a
 * line, for text over DOCKERFILE_MAX_SIZE). Heredoc bodies of <<- are stored with their
 * leading tabs already stripped. Unknown instructions parse (with one empty argument, as in
 * BuildKit); rejecting them is the dispatcher's job.
 */
int dockerfile_parse(const char *text, size_t len, struct dockerfile **ret, sb_error_t *err);
struct dockerfile *dockerfile_free(struct dockerfile *df);
/*
 * The first instruction name in n or its ONBUILD trigger that Docker does not know, or NULL.
 * (The parser itself accepts any name, as BuildKit's does; the dispatcher refuses them.)
 */
const char *dockerfile_node_unknown(const struct dockerfile_node *n);
/* BuildKit's test dump of one node, e.g. (copy ["--from=a"] "x" "/y") without newline. */
char *dockerfile_node_dump(const struct dockerfile_node *n);
