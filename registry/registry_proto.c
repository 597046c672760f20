/* Length-prefixed JSON frames for the agent socket. */
#include "registry/registry_proto.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/sb_cleanup.h"
#include "common/sb_util.h"

static int send_all(int fd, const void *buf, size_t len)
{
        const char *p = buf;

        while (len > 0) {
                ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                len -= (size_t) n;
        }
        return 0;
}


int registry_proto_send(int fd, const json_t *msg, sb_error_t *err)
{
        cleanup_free char *body = NULL;
        unsigned char hdr[4];
        size_t len;
        int r;

        body = json_dumps(msg, JSON_COMPACT);
        if (!body)
                return sb_error_set(err, EINVAL, "agent message cannot be serialised");
        len = strlen(body);
        if (len > REGISTRY_PROTO_MAX)
                return sb_error_set(err, EMSGSIZE, "agent message of %zu bytes is too large", len);
        hdr[0] = (unsigned char) (len >> 24);
        hdr[1] = (unsigned char) (len >> 16);
        hdr[2] = (unsigned char) (len >> 8);
        hdr[3] = (unsigned char) len;
        r = send_all(fd, hdr, sizeof(hdr));
        if (r == 0)
                r = send_all(fd, body, len);
        if (r < 0)
                return sb_error_errno(err, -r, "sending to the registry agent socket");
        return 0;
}

int registry_proto_recv(int fd, json_t **ret, sb_error_t *err)
{
        unsigned char hdr[4];
        cleanup_free char *body = NULL;
        json_error_t jerr;
        json_t *msg;
        uint32_t len;
        ssize_t n;

        n = sb_read_all(fd, hdr, sizeof(hdr));
        if (n < 0)
                return sb_error_errno(err, (int) -n, "reading from the registry agent socket");
        if (n < (ssize_t) sizeof(hdr))
                return sb_error_set(err, ECONNRESET, "the other end closed the agent socket");
        len = ((uint32_t) hdr[0] << 24) | ((uint32_t) hdr[1] << 16) | ((uint32_t) hdr[2] << 8) |
              hdr[3];
        if (len > REGISTRY_PROTO_MAX)
                return sb_error_set(err, EMSGSIZE,
                                    "agent frame of %u bytes exceeds the %u byte limit", len,
                                    REGISTRY_PROTO_MAX);
        body = sb_xmalloc(len + 1);
        n = sb_read_all(fd, body, len);
        if (n < 0)
                return sb_error_errno(err, (int) -n, "reading from the registry agent socket");
        if ((size_t) n < len)
                return sb_error_set(err, ECONNRESET,
                                    "agent socket closed in the middle of a frame");
        msg = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!msg || !json_is_object(msg)) {
                json_decref(msg);
                return sb_error_set(err, EBADMSG, "agent frame is not a JSON object");
        }
        *ret = msg;
        return 0;
}
