#include "common/sb_log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int current_level = SB_LOG_INFO;

void sb_log_set_level(int level)
{
        current_level = level;
}

int sb_log_get_level(void)
{
        return current_level;
}

int sb_log_parse_level(const char *name)
{
        static const struct {
                const char *name;
                int level;
        } table[] = {
                { "panic", SB_LOG_ERROR }, { "fatal", SB_LOG_ERROR }, { "error", SB_LOG_ERROR },
                { "warn", SB_LOG_WARN },   { "warning", SB_LOG_WARN }, { "info", SB_LOG_INFO },
                { "debug", SB_LOG_DEBUG }, { "trace", SB_LOG_TRACE },
        };
        for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
                if (strcmp(name, table[i].name) == 0)
                        return table[i].level;
        return -EINVAL;
}

void sb_log(int level, const char *fmt, ...)
{
        if (level > current_level)
                return;
        const char *prefix = "";
        if (level <= SB_LOG_ERROR)
                prefix = "error: ";
        else if (level == SB_LOG_WARN)
                prefix = "warning: ";
        else if (level >= SB_LOG_DEBUG)
                prefix = "debug: ";
        char line[4096];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        /* one write per line so lines from several processes do not interleave */
        fprintf(stderr, "%s%s\n", prefix, line);
}
