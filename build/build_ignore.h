#pragma once
/*
 * .dockerignore and COPY --exclude patterns with Docker's rules (moby/patternmatcher): each
 * pattern is cleaned like Go's filepath.Clean with a leading '/' dropped; '*' and '?' do not
 * cross '/', '**' spans any number of directories, '!' makes an exception, and the last
 * pattern that matches a path or one of its parent directories decides.
 */
#include <stdbool.h>
#include <stddef.h>

#include "common/sb_error.h"

/* An ignore file larger than this is refused rather than read. */
#define BUILD_IGNORE_FILE_MAX (1024u * 1024u)
#define BUILD_IGNORE_PATTERNS_MAX 10000u

struct build_ignore;

/*
 * Compile patterns ("!" prefix for exceptions; whitespace trimmed, empty entries skipped).
 * -EINVAL with a message naming the pattern when one is invalid (e.g. a bare "!").
 */
int build_ignore_new(char *const *patterns, struct build_ignore **ret, sb_error_t *err);

/*
 * Split ignore-file text into patterns as Docker reads it: one per line, '#' lines are
 * comments, blank lines skipped, a leading UTF-8 BOM dropped. The caller frees the list.
 */
char **build_ignore_parse_text(const char *text, size_t len);

/*
 * Read the ignore file for a build: "<dockerfile>.dockerignore" next to the Dockerfile if it
 * exists (absolute, or relative to context_fd like the Dockerfile), else the context's
 * .dockerignore. *ret_patterns is NULL when there is none.
 */
int build_ignore_load(int context_fd, const char *dockerfile, char ***ret_patterns,
                      sb_error_t *err);

struct build_ignore *build_ignore_free(struct build_ignore *ig);

/*
 * Whether `path` (relative to the context, no leading '/', cleaned) is excluded: the last
 * pattern matching it or one of its parents wins. NULL ig excludes nothing.
 */
bool build_ignore_excluded(const struct build_ignore *ig, const char *path);

/* Whether any pattern is an exception ('!'): then an excluded directory must be walked. */
bool build_ignore_has_exceptions(const struct build_ignore *ig);
