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
        char prefix[512], old[sizeof(err->msg)];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(prefix, sizeof(prefix), fmt, ap);
        va_end(ap);
        memcpy(old, err->msg, sizeof(old));
        snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
        return -err->code;
}
