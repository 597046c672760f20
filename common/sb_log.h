#pragma once
/*
 * Logging to stderr. Only cli/ prints at LOG_INFO and above for the user; library folders
 * use sb_debug() (printed with --verbosity=debug) and report failures through sb_error_t.
 */
#include <syslog.h>

typedef enum sb_log_level {
        SB_LOG_ERROR = LOG_ERR,
        SB_LOG_WARN = LOG_WARNING,
        SB_LOG_INFO = LOG_INFO,
        SB_LOG_DEBUG = LOG_DEBUG,
        SB_LOG_TRACE = LOG_DEBUG + 1,
} sb_log_level_t;

void sb_log_set_level(int level);
int sb_log_get_level(void);
/* Parse "panic|fatal|error|warn|info|debug|trace" (Kaniko's names); -EINVAL if unknown. */
int sb_log_parse_level(const char *name);
void sb_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define sb_debug(...) sb_log(SB_LOG_DEBUG, __VA_ARGS__)
#define sb_warn(...)  sb_log(SB_LOG_WARN, __VA_ARGS__)
#define sb_info(...)  sb_log(SB_LOG_INFO, __VA_ARGS__)
