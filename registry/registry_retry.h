#pragma once
/*
 * Internal to registry/: when and how registry_http_request retries a request (connection
 * errors, timeouts, 5xx, 429), how long it waits, and how a download starts over.
 */
#include <curl/curl.h>
#include <stdbool.h>

#include "common/sb_error.h"
#include "registry/registry_http.h"

/* A transport failure worth another try (not a size limit or a local write error). */
bool registry_retry_code(const struct registry_xfer *x, CURLcode rc);
/* 429, 500, 502, 503, 504. */
bool registry_retry_status(long status);
/*
 * The wait before retry number n (0-based), in ms: the response's Retry-After (seconds or an
 * HTTP date) when it has one, else c->backoff_ms (REGISTRY_BACKOFF_MS) doubled n times;
 * never more than REGISTRY_RETRY_WAIT_MAX seconds.
 */
unsigned registry_retry_wait_ms(const struct registry_client *c, const struct registry_xfer *x,
                                int n);
void registry_retry_sleep_ms(unsigned ms);
/*
 * Make x ready to be sent again. False when it cannot be: a PATCH (the server appends), or a
 * download that has written body bytes without x->writer_store to start a fresh writer in.
 * A used writer is aborted (its temp file removed) and replaced; if that fails, false with
 * *ret_r < 0 and err set.
 */
bool registry_retry_rewind(struct registry_xfer *x, sb_error_t *err, int *ret_r);
