#include "common/sb_error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int fill(sb_error_t *err, int code, int with_errno, const char *fmt, va_list ap)
{
        if (code <= 0)
                code = code < 0 ? -code : EIO;
        if (!err)
                return -code;
        err->code = code;
        int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        if (n < 0)
                n = 0;
        if (with_errno && (size_t) n < sizeof(err->msg)) {
                char buf[128];
                const char *s = strerror_r(code, buf, sizeof(buf));
                snprintf(err->msg + n, sizeof(err->msg) - (size_t) n, ": %s", s);
        }
        return -code;
}

int sb_error_set(sb_error_t *err, int code, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int r = fill(err, code, 0, fmt, ap);
        va_end(ap);
        return r;
}

int sb_error_errno(sb_error_t *err, int code, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int r = fill(err, code, 1, fmt, ap);
        va_end(ap);
        return r;
}

int sb_error_prefix(sb_error_t *err, const char *fmt, ...)
{
        if (!err)
                return -EIO;
        if (err->code <= 0)
                err->code = EIO;
        char prefix[512];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(prefix, sizeof(prefix), fmt, ap);
        va_end(ap);
        if (n < 0)
                return -err->code;
        size_t plen = strnlen(prefix, sizeof(prefix) - 1);
        size_t total = sizeof(err->msg);
        if (plen + 2 >= total)
                return -err->code;
        /* shift the old message right, then put "prefix: " in front (truncating the tail) */
        size_t olen = strnlen(err->msg, total - 1);
        if (plen + 2 + olen >= total)
                olen = total - 1 - plen - 2;
        memmove(err->msg + plen + 2, err->msg, olen);
        err->msg[plen + 2 + olen] = '\0';
        memcpy(err->msg, prefix, plen);
        err->msg[plen] = ':';
        err->msg[plen + 1] = ' ';
        return -err->code;
}
