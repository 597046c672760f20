#include <criterion/criterion.h>
#include <string.h>

#include "registry/registry_http.h"
#include "registry/registry_retry.h"

Test(retry, backoff_doubles_from_one_second_and_is_capped)
{
        struct registry_client c = { 0 };
        struct registry_xfer x = { .method = "GET", .status = 503 };

        cr_assert_eq(registry_retry_wait_ms(&c, &x, 0), 1000);
        cr_assert_eq(registry_retry_wait_ms(&c, &x, 1), 2000);
        cr_assert_eq(registry_retry_wait_ms(&c, &x, 2), 4000);
        cr_assert_eq(registry_retry_wait_ms(&c, &x, 10), REGISTRY_RETRY_WAIT_MAX * 1000);
        cr_assert_eq(registry_retry_wait_ms(&c, &x, 1000), REGISTRY_RETRY_WAIT_MAX * 1000);
}

Test(retry, retry_after_seconds_are_honoured_and_capped)
{
        struct registry_client c = { 0 };
        char one[] = "1", big[] = "3600", past[] = "Wed, 21 Oct 2015 07:28:00 GMT";
        struct registry_xfer x = { .method = "GET", .status = 429, .retry_after = one };

        cr_assert_eq(registry_retry_wait_ms(&c, &x, 3), 1000);
        x.retry_after = big;
        cr_assert_eq(registry_retry_wait_ms(&c, &x, 0), REGISTRY_RETRY_WAIT_MAX * 1000);
        x.retry_after = past;
        cr_assert_eq(registry_retry_wait_ms(&c, &x, 0), 0);
}

Test(retry, server_errors_and_429_are_retried_client_errors_are_not)
{
        cr_assert(registry_retry_status(429));
        cr_assert(registry_retry_status(500));
        cr_assert(registry_retry_status(503));
        cr_assert_not(registry_retry_status(401));
        cr_assert_not(registry_retry_status(404));
        cr_assert_not(registry_retry_status(501));
}

Test(retry, dropped_connections_are_retried_but_size_limits_are_not)
{
        struct registry_xfer x = { .method = "GET" };

        cr_assert(registry_retry_code(&x, CURLE_COULDNT_CONNECT));
        cr_assert(registry_retry_code(&x, CURLE_OPERATION_TIMEDOUT));
        cr_assert(registry_retry_code(&x, CURLE_GOT_NOTHING));
        cr_assert_not(registry_retry_code(&x, CURLE_PEER_FAILED_VERIFICATION));
        x.too_big = true;
        cr_assert_not(registry_retry_code(&x, CURLE_WRITE_ERROR));
}

Test(retry, a_patch_is_never_resent)
{
        struct registry_xfer x = { .method = "PATCH" };
        sb_error_t err = { 0 };
        int r = 1;

        cr_assert_not(registry_retry_rewind(&x, &err, &r));
        cr_assert_eq(r, 0);
        x.method = "PUT";
        cr_assert(registry_retry_rewind(&x, &err, &r));
}
