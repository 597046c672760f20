#pragma once
/*
 * Framing between the supervisor and the registry agent: over a stream socket, each message
 * is a 4-byte big-endian length followed by that many bytes of one JSON object.
 */
#include <jansson.h>

#include "common/sb_error.h"

/* Largest frame either side sends or accepts. */
#define REGISTRY_PROTO_MAX (16u * 1024u * 1024u)

/* Send one JSON object (compact). -EMSGSIZE if it serialises to more than REGISTRY_PROTO_MAX;
 * -EPIPE if the peer is gone (never raises SIGPIPE). */
int registry_proto_send(int fd, const json_t *msg, sb_error_t *err);

/*
 * Receive one JSON object. -ECONNRESET when the peer closed the socket (cleanly between
 * frames or in the middle of one), -EMSGSIZE for a frame over REGISTRY_PROTO_MAX (nothing
 * of it is read), -EBADMSG when the payload is not a JSON object.
 */
int registry_proto_recv(int fd, json_t **ret, sb_error_t *err);
