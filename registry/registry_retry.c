/* Retry policy for registry requests: what is retried, the waits, restarting downloads. */
#include "registry/registry_retry.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "common/sb_util.h"
#include "image/image_store.h"

/* Failures worth another try: the network or the server may do better next time. */
bool registry_retry_code(const struct registry_xfer *x, CURLcode rc)
{
        if (x->too_big || x->werr_set)
                return false;
        switch (rc) {
        case CURLE_COULDNT_CONNECT:
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
                return true;
        default:
                return false;
        }
}

bool registry_retry_status(long status)
{
        return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

/* How long to wait before retry number n (0-based): Retry-After when the server sent one
 * (seconds or an HTTP date), else exponential backoff; never more than the cap. */
unsigned registry_retry_wait_ms(const struct registry_client *c, const struct registry_xfer *x,
                              int n)
{
        const uint64_t cap = REGISTRY_RETRY_WAIT_MAX * 1000ull;
        uint64_t ms = c->backoff_ms ? c->backoff_ms : REGISTRY_BACKOFF_MS;
        uint64_t secs;

        for (int i = 0; i < n && ms < cap; i++)
                ms *= 2;
        if (x->retry_after && x->status != 0) {
                if (sb_parse_u64(x->retry_after, REGISTRY_RETRY_WAIT_MAX, &secs) == 0) {
                        ms = secs * 1000;
                } else {
                        /* an HTTP date: wall-clock time, so compare with time() */
                        time_t when = curl_getdate(x->retry_after, NULL);
                        time_t now = time(NULL);
                        if (when > 0)
                                ms = when > now ? (uint64_t) (when - now) * 1000 : 0;
                        else if (sb_parse_u64(x->retry_after, UINT64_MAX, &secs) == 0)
                                ms = cap; /* a number above the cap */
                }
        }
        return (unsigned) (ms < cap ? ms : cap);
}

void registry_retry_sleep_ms(unsigned ms)
{
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* Make x ready to be sent again; false when it cannot be (a download that has written body
 * bytes and no store to start a fresh writer in, or a PATCH, which the server appends). */
bool registry_retry_rewind(struct registry_xfer *x, sb_error_t *err, int *ret_r)
{
        *ret_r = 0;
        if (strcmp(x->method, "PATCH") == 0)
                return false;
        if (!x->writer || image_blob_writer_size(x->writer) == 0)
                return true;
        if (!x->writer_store)
                return false;
        /* nothing half-kept: the partial temp file goes, the retry writes a new one */
        image_blob_writer_abort(x->writer);
        x->writer = NULL;
        *ret_r = image_blob_writer_new(x->writer_store, &x->writer, err);
        return *ret_r == 0;
}
