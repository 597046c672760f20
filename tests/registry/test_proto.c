#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/sb_error.h"
#include "registry/registry_proto.h"

static int sv[2];

static void setup(void)
{
        cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

static void teardown(void)
{
        close(sv[0]);
        if (sv[1] >= 0)
                close(sv[1]);
}

TestSuite(registry_proto, .init = setup, .fini = teardown);

Test(registry_proto, frames_round_trip)
{
        json_t *out = json_pack("{s:s, s:i}", "op", "pull", "n", 42), *in = NULL;
        sb_error_t err = { 0 };

        cr_assert_eq(registry_proto_send(sv[0], out, &err), 0, "%s", err.msg);
        cr_assert_eq(registry_proto_send(sv[0], out, &err), 0);
        for (int i = 0; i < 2; i++) {
                cr_assert_eq(registry_proto_recv(sv[1], &in, &err), 0, "%s", err.msg);
                cr_assert(json_equal(in, out));
                json_decref(in);
        }
        json_decref(out);
}

Test(registry_proto, oversize_frame_is_refused_without_reading_it)
{
        unsigned char hdr[4] = { 0x01, 0x00, 0x00, 0x01 }; /* 16 MiB + 1 */
        json_t *in = NULL;
        sb_error_t err = { 0 };

        cr_assert_eq(write(sv[0], hdr, 4), 4);
        cr_assert_eq(registry_proto_recv(sv[1], &in, &err), -EMSGSIZE);
        cr_assert_null(in);
        cr_assert(strstr(err.msg, "limit"), "%s", err.msg);
}

Test(registry_proto, oversize_message_is_not_sent)
{
        size_t n = REGISTRY_PROTO_MAX + 1;
        char *big = malloc(n + 1);
        json_t *msg;
        sb_error_t err = { 0 };

        memset(big, 'a', n);
        big[n] = '\0';
        msg = json_pack("{s:s}", "x", big);
        free(big);
        cr_assert_eq(registry_proto_send(sv[0], msg, &err), -EMSGSIZE);
        json_decref(msg);
}

Test(registry_proto, closed_peer_and_truncated_frame_are_connection_resets)
{
        unsigned char part[6] = { 0, 0, 0, 10, '{', '}' };
        json_t *in = NULL;

        cr_assert_eq(write(sv[0], part, sizeof(part)), (ssize_t) sizeof(part));
        close(sv[0]);
        cr_assert_eq(registry_proto_recv(sv[1], &in, NULL), -ECONNRESET);
        cr_assert_eq(registry_proto_recv(sv[1], &in, NULL), -ECONNRESET);
        sv[0] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0); /* for teardown */
}

Test(registry_proto, send_to_closed_peer_fails_without_sigpipe)
{
        json_t *msg = json_pack("{s:s}", "op", "quit");

        close(sv[1]);
        sv[1] = -1;
        cr_assert_eq(registry_proto_send(sv[0], msg, NULL), -EPIPE);
        json_decref(msg);
}

Test(registry_proto, non_object_payload_is_bad_message)
{
        unsigned char frame[7] = { 0, 0, 0, 3, '[', '1', ']' };
        json_t *in = NULL;

        cr_assert_eq(write(sv[0], frame, sizeof(frame)), (ssize_t) sizeof(frame));
        cr_assert_eq(registry_proto_recv(sv[1], &in, NULL), -EBADMSG);
}
