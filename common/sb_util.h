#pragma once
/* Small helpers shared by every folder: allocation, strings, string vectors, files. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/sb_error.h"

/* Allocators that abort on out-of-memory (crun, bubblewrap). */
void *sb_xmalloc(size_t n);
void *sb_xcalloc(size_t n, size_t size);
void *sb_xrealloc(void *p, size_t n);
char *sb_xstrdup(const char *s);
char *sb_xstrndup(const char *s, size_t n);
char *sb_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* NULL-terminated string vectors. */
size_t sb_strv_len(char *const *v);
/* Append a copy of s; *v may be NULL. */
void sb_strv_push(char ***v, const char *s);
/* Append s itself (takes ownership). */
void sb_strv_push_take(char ***v, char *s);
char **sb_strv_copy(char *const *v);
void sb_strv_free(char **v);
bool sb_str_has_prefix(const char *s, const char *prefix);
bool sb_str_has_suffix(const char *s, const char *suffix);

/* Parse a decimal unsigned number that fits in max; -EINVAL/-ERANGE otherwise. */
int sb_parse_u64(const char *s, uint64_t max, uint64_t *ret);

/* write(2)/read(2) loops that retry on EINTR and short counts; -errno on failure. */
int sb_write_all(int fd, const void *buf, size_t len);
/* Reads until EOF or len bytes; returns the number of bytes read or -errno. */
ssize_t sb_read_all(int fd, void *buf, size_t len);

/*
 * Read a whole file (relative to dirfd, or absolute) into a NUL-terminated buffer.
 * Refuses files larger than max with -EFBIG. The caller frees *ret_data.
 */
int sb_read_file_at(int dirfd, const char *path, size_t max, char **ret_data, size_t *ret_len,
                    sb_error_t *err);
/* Read everything from fd up to max bytes (-EFBIG beyond). */
int sb_read_fd(int fd, size_t max, char **ret_data, size_t *ret_len, sb_error_t *err);

/* Write data to dirfd/path through a temporary name, fsync and rename (crash-safe). */
int sb_write_file_atomic_at(int dirfd, const char *path, const void *data, size_t len,
                            mode_t mode, sb_error_t *err);

/* mkdir -p relative to dirfd (or absolute path); existing directories are fine. */
int sb_mkdir_p_at(int dirfd, const char *path, mode_t mode, sb_error_t *err);

/* Remove dirfd/name recursively without following symlinks; missing is fine. */
int sb_rm_rf_at(int dirfd, const char *name, sb_error_t *err);

/* Join two path parts with exactly one '/' between them (plain string work, trusted input). */
char *sb_path_join(const char *a, const char *b);

/* Monotonic clock in seconds. */
double sb_now(void);
