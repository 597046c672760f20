#include "cli/cli_parse.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build/dockerfile_parse.h"
#include "build/text_buf.h"
#include "build/text_utf8.h"
#include "common/sb_cleanup.h"
#include "common/sb_util.h"

#define PARSE_JSON_VERSION 1

enum {
        EXIT_OK = 0,
        EXIT_FAILED = 1,
        EXIT_USAGE = 2, /* also: the Dockerfile does not parse */
};

enum { OPT_HELP = 'h', OPT_FORMAT = 1000 };

static const struct option parse_options[] = {
        { "format", required_argument, NULL, OPT_FORMAT },
        { "help", no_argument, NULL, OPT_HELP },
        { NULL, 0, NULL, 0 },
};


void cli_parse_help(void)
{
        printf("Usage: sbuild parse [--format=text|json] FILE\n"
               "\n"
               "Parse a Dockerfile as BuildKit does and print its instructions; nothing is\n"
               "built. FILE may be - for standard input.\n"
               "\n"
               "Flags:\n"
               "      --format=text   one line per instruction (default):\n"
               "                        LINES  INSTRUCTION [--flags] ARGS\n"
               "                      LINES is N, or N-M for an instruction over several lines;\n"
               "                      exec form is shown as a JSON array, control characters\n"
               "                      as \\n, \\t or \\xNN; heredoc bodies are not shown\n"
               "      --format=json   a JSON document for tools and policy audits: directives,\n"
               "                      warnings, and per instruction its name, lines, flags,\n"
               "                      arguments, exec form, heredocs, ONBUILD trigger and\n"
               "                      original text (schema: docs/parse-json.md)\n"
               "  -h, --help          show this help\n"
               "\n"
               "A Dockerfile that does not parse is reported as FILE:LINE: message.\n"
               "Exit status: 0 printed, 1 FILE could not be read, 2 usage error or a\n"
               "Dockerfile that does not parse.\n");
}

/* A JSON string for s[0..n): jansson wants valid UTF-8, so each invalid byte becomes U+FFFD
 * (as Go's encoding/json does); NUL bytes are kept (written as \u0000). */
static json_t *json_text(const char *s, size_t n)
{
        struct text_buf b = { 0 };
        json_t *j;

        text_buf_add(&b, "", 0);
        for (size_t i = 0; i < n;) {
                uint32_t cp;
                size_t l = text_utf8_decode(s + i, n - i, &cp);
                if (cp == TEXT_UTF8_INVALID && l == 1)
                        text_buf_add(&b, "\xef\xbf\xbd", 3);
                else
                        text_buf_add(&b, s + i, l);
                i += l;
        }
        j = json_stringn(b.p, b.len);
        text_buf_free(&b);
        return j;
}

static json_t *json_str(const char *s)
{
        return s ? json_text(s, strlen(s)) : json_null();
}

/* The instruction keyword as written: the first word of the original text (split on the
 * parser's [\t\v\f\r ] class after leading Unicode space). */
static json_t *json_keyword(const char *orig)
{
        size_t len = strlen(orig), a = text_utf8_space_prefix(orig, len), e = a;

        while (e < len && !strchr("\t\v\f\r\n ", orig[e]))
                e++;
        return json_text(orig + a, e - a);
}

static json_t *json_flags(char *const *flags)
{
        json_t *a = json_array();

        for (; *flags; flags++) {
                const char *f = *flags, *eq;
                if (f[0] == '-' && f[1] == '-')
                        f += 2;
                eq = strchr(f, '=');
                json_array_append_new(a, json_pack("{s:o, s:o}",
                        "name", json_text(f, eq ? (size_t) (eq - f) : strlen(f)),
                        "value", eq ? json_str(eq + 1) : json_null()));
        }
        return a;
}

static json_t *json_node(const struct dockerfile_node *n, int start, int end)
{
        json_t *args = json_array(), *raw = json_array(), *heredocs = json_array();

        for (size_t i = 0; n->args[i]; i++)
                json_array_append_new(args, json_text(n->args[i], n->arg_lens ?
                                                      n->arg_lens[i] : strlen(n->args[i])));
        for (size_t i = 0; n->flags[i]; i++)
                json_array_append_new(raw, json_str(n->flags[i]));
        for (size_t i = 0; i < n->n_heredocs; i++) {
                const struct dockerfile_heredoc *h = &n->heredocs[i];
                json_array_append_new(heredocs, json_pack("{s:o, s:o, s:b, s:b, s:o}",
                        "name", json_str(h->name),
                        "content", json_str(h->content ? h->content : ""),
                        "expand", h->expand, "chomp", h->chomp,
                        "fd", h->fd > 0 ? json_integer(h->fd) : json_null()));
        }
        return json_pack("{s:o, s:o, s:i, s:i, s:o, s:o, s:o, s:b, s:o, s:o, s:o}",
                "name", json_str(n->cmd),
                "name_as_written", json_keyword(n->original),
                "start_line", start, "end_line", end,
                "flags", json_flags(n->flags),
                "flags_raw", raw,
                "args", args,
                "json", n->json,
                "heredocs", heredocs,
                "onbuild", n->inner ? json_node(n->inner, start, end) : json_null(),
                "original", json_str(n->original));
}

/* "line N: message" (the parser's form) -> {line, message}. */
static json_t *json_warning(const char *w)
{
        uint64_t line = 0;
        const char *colon = strchr(w, ':');

        if (sb_str_has_prefix(w, "line ") && colon) {
                cleanup_free char *num = sb_xstrndup(w + 5, (size_t) (colon - w - 5));
                if (sb_parse_u64(num, 1u << 30, &line) == 0) {
                        w = colon + 1;
                        w += *w == ' ';
                }
        }
        return json_pack("{s:o, s:o}", "line", line ? json_integer((json_int_t) line) :
                         json_null(), "message", json_str(w));
}

static int print_json(const char *file, const struct dockerfile *df)
{
        char esc[2] = { df->escape, '\0' };
        json_t *instrs = json_array(), *warnings = json_array();
        json_t *root;
        int r;

        for (size_t i = 0; i < df->n_nodes; i++)
                json_array_append_new(instrs, json_node(&df->nodes[i], df->nodes[i].start_line,
                                                        df->nodes[i].end_line));
        for (size_t i = 0; df->warnings && df->warnings[i]; i++)
                json_array_append_new(warnings, json_warning(df->warnings[i]));
        root = json_pack("{s:i, s:o, s:{s:s, s:o, s:o}, s:o, s:o}",
                         "version", PARSE_JSON_VERSION,
                         "file", json_str(file),
                         "directives", "escape", esc, "syntax", json_str(df->syntax),
                         "check", json_str(df->check),
                         "warnings", warnings,
                         "instructions", instrs);
        if (!root) {
                fprintf(stderr, "sbuild parse: cannot build the JSON document\n");
                return EXIT_FAILED;
        }
        r = json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(root);
        if (r < 0 || fputc('\n', stdout) == EOF)
                return EXIT_FAILED;
        return EXIT_OK;
}

/* Text output: bytes as written, except control characters, which would break the one
 * instruction a line layout. */
static void text_escaped(struct text_buf *b, const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) s[i];
                char hex[8];
                if (c == '\n')
                        text_buf_adds(b, "\\n");
                else if (c == '\t')
                        text_buf_adds(b, "\\t");
                else if (c == '\r')
                        text_buf_adds(b, "\\r");
                else if (c < 0x20 || c == 0x7f) {
                        snprintf(hex, sizeof(hex), "\\x%02x", c);
                        text_buf_adds(b, hex);
                } else {
                        text_buf_addc(b, (char) c);
                }
        }
}

static size_t arg_len(const struct dockerfile_node *n, size_t i)
{
        return n->arg_lens ? n->arg_lens[i] : strlen(n->args[i]);
}

/* Exec-form arguments from index `from` on as a JSON array. */
static void text_json_args(struct text_buf *b, const struct dockerfile_node *n, size_t from)
{
        text_buf_addc(b, '[');
        for (size_t i = from; n->args[i]; i++) {
                json_t *s = json_text(n->args[i], arg_len(n, i));
                cleanup_free char *enc = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
                json_decref(s);
                if (i > from)
                        text_buf_adds(b, ", ");
                text_buf_adds(b, enc ? enc : "\"\"");
        }
        text_buf_addc(b, ']');
}

static void text_node(struct text_buf *b, const struct dockerfile_node *n)
{
        size_t i;

        for (const char *c = n->cmd; *c; c++)
                text_buf_addc(b, *c >= 'a' && *c <= 'z' ? (char) (*c - 'a' + 'A') : *c);
        for (i = 0; n->flags[i]; i++) {
                text_buf_addc(b, ' ');
                text_escaped(b, n->flags[i], strlen(n->flags[i]));
        }
        if (n->inner) {
                text_buf_addc(b, ' ');
                text_node(b, n->inner);
                return;
        }
        if (strcmp(n->cmd, "env") == 0 || strcmp(n->cmd, "label") == 0) {
                /* key, value, separator triples: "=" for K=V, "" for the legacy "K V" form */
                for (i = 0; n->args[i] && n->args[i + 1] && n->args[i + 2]; i += 3) {
                        text_buf_addc(b, ' ');
                        text_escaped(b, n->args[i], arg_len(n, i));
                        text_buf_addc(b, n->args[i + 2][0] ? '=' : ' ');
                        text_escaped(b, n->args[i + 1], arg_len(n, i + 1));
                }
                return;
        }
        i = 0;
        if (strcmp(n->cmd, "healthcheck") == 0 && n->args[0]) {
                text_buf_addc(b, ' ');
                text_escaped(b, n->args[0], arg_len(n, 0));
                i = 1;
        }
        if (n->json) {
                text_buf_addc(b, ' ');
                text_json_args(b, n, i);
                return;
        }
        for (; n->args[i]; i++) {
                if (!n->args[i][0] && !n->args[i + 1] && i == 0)
                        break; /* an unknown instruction's placeholder */
                text_buf_addc(b, ' ');
                text_escaped(b, n->args[i], arg_len(n, i));
        }
}

static int print_text(const struct dockerfile *df)
{
        int width = 1;

        for (size_t i = 0; i < df->n_nodes; i++) {
                const struct dockerfile_node *n = &df->nodes[i];
                int w = snprintf(NULL, 0, n->end_line > n->start_line ? "%d-%d" : "%d",
                                 n->start_line, n->end_line);
                width = w > width ? w : width;
        }
        for (size_t i = 0; i < df->n_nodes; i++) {
                const struct dockerfile_node *n = &df->nodes[i];
                struct text_buf b = { 0 };
                char lines[32];

                if (n->end_line > n->start_line)
                        snprintf(lines, sizeof(lines), "%d-%d", n->start_line, n->end_line);
                else
                        snprintf(lines, sizeof(lines), "%d", n->start_line);
                text_node(&b, n);
                printf("%-*s  %s\n", width, lines, b.p ? b.p : "");
                text_buf_free(&b);
        }
        return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAILED;
}


static int read_input(const char *file, char **ret, size_t *ret_len, sb_error_t *err)
{
        cleanup_close int fd = -1;

        if (strcmp(file, "-") == 0)
                return sb_read_fd(STDIN_FILENO, DOCKERFILE_MAX_SIZE, ret, ret_len, err);
        fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return sb_error_errno(err, errno, "cannot open");
        return sb_read_fd(fd, DOCKERFILE_MAX_SIZE, ret, ret_len, err);
}

int cli_parse(int argc, char **argv)
{
        bool json = false;
        int c;

        opterr = 0;
        optind = 1;
        while ((c = getopt_long(argc, argv, ":h", parse_options, NULL)) != -1) {
                switch (c) {
                case OPT_FORMAT:
                        if (strcmp(optarg, "json") == 0) {
                                json = true;
                        } else if (strcmp(optarg, "text") == 0) {
                                json = false;
                        } else {
                                fprintf(stderr, "sbuild parse: --format: '%s' is not text or "
                                        "json\n", optarg);
                                return EXIT_USAGE;
                        }
                        break;
                case OPT_HELP:
                        cli_parse_help();
                        return EXIT_OK;
                case ':':
                        fprintf(stderr, "sbuild parse: %s needs a value\n", argv[optind - 1]);
                        return EXIT_USAGE;
                default:
                        fprintf(stderr, "sbuild parse: unknown flag '%s' (see 'sbuild parse "
                                "--help')\n", argv[optind - 1]);
                        return EXIT_USAGE;
                }
        }
        if (argc - optind != 1) {
                fprintf(stderr, "sbuild parse: %s (see 'sbuild parse --help')\n",
                        argc - optind < 1 ? "missing FILE" : "only one FILE may be given");
                return EXIT_USAGE;
        }

        const char *file = argv[optind];
        const char *shown = strcmp(file, "-") == 0 ? "<stdin>" : file;
        cleanup_free char *text = NULL;
        struct dockerfile *df = NULL;
        sb_error_t err = { 0 };
        size_t len = 0;
        int r = read_input(file, &text, &len, &err);
        if (r == -EFBIG) {
                fprintf(stderr, "%s: larger than %u bytes\n", shown, DOCKERFILE_MAX_SIZE);
                return EXIT_USAGE;
        }
        if (r < 0) {
                fprintf(stderr, "sbuild parse: %s: %s\n", shown, err.msg);
                return EXIT_FAILED;
        }
        r = dockerfile_parse(text ? text : "", len, &df, &err);
        if (r < 0) {
                /* the parser says "line N: message"; editors read "FILE:N: message" */
                if (sb_str_has_prefix(err.msg, "line "))
                        fprintf(stderr, "%s:%s\n", shown, err.msg + 5);
                else
                        fprintf(stderr, "%s: %s\n", shown, err.msg);
                return EXIT_USAGE;
        }
        for (size_t i = 0; i < df->n_nodes; i++) {
                const char *bad = dockerfile_node_unknown(&df->nodes[i]);
                if (bad) {
                        fprintf(stderr, "%s:%d: unknown instruction '%s'\n", shown,
                                df->nodes[i].start_line, bad);
                        dockerfile_free(df);
                        return EXIT_USAGE;
                }
        }
        r = json ? print_json(file, df) : print_text(df);
        dockerfile_free(df);
        if (r != EXIT_OK)
                fprintf(stderr, "sbuild parse: cannot write the output: %s\n", strerror(errno));
        return r;
}
