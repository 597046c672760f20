/* Image reference parsing: [host[:port]/]path[:tag][@sha256:hex], as docker reads them. */
#include "registry/registry_ref.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/sb_cleanup.h"
#include "common/sb_digest.h"
#include "common/sb_util.h"

/* Many clients cap host/name at 255 characters; so do we. */
#define REF_NAME_MAX 255
#define REF_TAG_MAX  128

static bool is_lower_alnum(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
        return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* One path component: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* */
static bool component_valid(const char *s, size_t len)
{
        size_t i = 0;

        if (len == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[len - 1]))
                return false;
        while (i < len) {
                if (is_lower_alnum(s[i])) {
                        i++;
                        continue;
                }
                /* a separator run: ".", "_", "__" or "-+", always followed by alnum */
                if (s[i] == '.') {
                        i++;
                } else if (s[i] == '_') {
                        i++;
                        if (i < len && s[i] == '_')
                                i++;
                } else if (s[i] == '-') {
                        while (i < len && s[i] == '-')
                                i++;
                } else {
                        return false;
                }
                if (i >= len || !is_lower_alnum(s[i]))
                        return false;
        }
        return true;
}

static bool path_valid(const char *s)
{
        const char *p = s;

        for (;;) {
                const char *slash = strchr(p, '/');
                size_t len = slash ? (size_t) (slash - p) : strlen(p);
                if (!component_valid(p, len))
                        return false;
                if (!slash)
                        return true;
                p = slash + 1;
        }
}

static bool tag_valid(const char *s)
{
        size_t len = strlen(s);

        if (len == 0 || len > REF_TAG_MAX || !(is_alnum(s[0]) || s[0] == '_'))
                return false;
        for (size_t i = 1; i < len; i++)
                if (!is_alnum(s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
                        return false;
        return true;
}

static bool port_valid(const char *s)
{
        uint64_t port;

        return sb_parse_u64(s, 65535, &port) == 0 && port > 0;
}

/* host[:port], where host is a DNS name, an IPv4 address or a bracketed IPv6 address. */
static bool host_valid(const char *s)
{
        const char *colon;

        if (*s == '[') {
                const char *close = strchr(s, ']');
                char addr[INET6_ADDRSTRLEN + 1];
                struct in6_addr a6;
                size_t len;

                if (!close)
                        return false;
                len = (size_t) (close - s - 1);
                if (len == 0 || len >= sizeof(addr))
                        return false;
                memcpy(addr, s + 1, len);
                addr[len] = '\0';
                if (inet_pton(AF_INET6, addr, &a6) != 1)
                        return false;
                if (close[1] == '\0')
                        return true;
                return close[1] == ':' && port_valid(close + 2);
        }
        colon = strchr(s, ':');
        if (colon && !port_valid(colon + 1))
                return false;
        size_t len = colon ? (size_t) (colon - s) : strlen(s);
        if (len == 0)
                return false;
        for (size_t i = 0; i < len; i++) {
                char c = s[i];
                if (!is_alnum(c) && c != '.' && c != '-')
                        return false;
        }
        return s[0] != '-' && s[0] != '.' && s[len - 1] != '-' && s[len - 1] != '.';
}

static bool is_docker_hub(const char *host)
{
        return strcmp(host, "docker.io") == 0 || strcmp(host, "index.docker.io") == 0 ||
               strcmp(host, REGISTRY_DOCKER_HUB) == 0;
}

int registry_ref_parse(const char *s, struct registry_ref **ret, sb_error_t *err)
{
        cleanup_free char *buf = NULL;
        cleanup_free char *host = NULL;
        cleanup_free char *repo = NULL;
        char *name, *at, *colon, *slash, *tag = NULL, *digest = NULL;
        struct registry_ref *r;

        if (!s || !*s)
                return sb_error_set(err, EINVAL, "empty image reference");
        if (strlen(s) > REGISTRY_REF_MAX_LEN)
                return sb_error_set(err, EINVAL, "image reference is longer than %d characters",
                                    REGISTRY_REF_MAX_LEN);
        buf = sb_xstrdup(s);
        name = buf;

        at = strchr(name, '@');
        if (at) {
                *at = '\0';
                digest = at + 1;
                if (!sb_digest_valid(digest))
                        return sb_error_set(err, EINVAL,
                                            "invalid image reference '%s': malformed digest "
                                            "(expected sha256:<64 lowercase hex>)",
                                            s);
        }
        /* A ':' after the last '/' starts the tag; one before it belongs to host:port. */
        slash = strrchr(name, '/');
        colon = strrchr(slash ? slash : name, ':');
        if (colon) {
                *colon = '\0';
                tag = colon + 1;
                if (!tag_valid(tag))
                        return sb_error_set(err, EINVAL, "invalid image reference '%s': bad tag",
                                            s);
        }

        slash = strchr(name, '/');
        if (slash && (memchr(name, '.', (size_t) (slash - name)) ||
                      memchr(name, ':', (size_t) (slash - name)) ||
                      (slash - name == 9 && strncmp(name, "localhost", 9) == 0))) {
                *slash = '\0';
                if (!host_valid(name))
                        return sb_error_set(err, EINVAL,
                                            "invalid image reference '%s': bad registry host", s);
                host = is_docker_hub(name) ? sb_xstrdup(REGISTRY_DOCKER_HUB) : sb_xstrdup(name);
                name = slash + 1;
        } else {
                host = sb_xstrdup(REGISTRY_DOCKER_HUB);
        }
        if (!path_valid(name))
                return sb_error_set(err, EINVAL,
                                    "invalid image reference '%s': repository names must be "
                                    "lowercase letters, digits and separators",
                                    s);
        if (strcmp(host, REGISTRY_DOCKER_HUB) == 0 && !strchr(name, '/'))
                repo = sb_xasprintf("library/%s", name);
        else
                repo = sb_xstrdup(name);
        if (strlen(host) + 1 + strlen(repo) > REF_NAME_MAX)
                return sb_error_set(err, EINVAL, "invalid image reference '%s': name too long", s);

        r = sb_xcalloc(1, sizeof(*r));
        r->registry = steal_pointer(&host);
        r->repository = steal_pointer(&repo);
        r->digest = digest ? sb_xstrdup(digest) : NULL;
        if (tag)
                r->tag = sb_xstrdup(tag);
        else if (!digest)
                r->tag = sb_xstrdup("latest");
        *ret = r;
        return 0;
}

struct registry_ref *registry_ref_free(struct registry_ref *r)
{
        if (!r)
                return NULL;
        free(r->registry);
        free(r->repository);
        free(r->tag);
        free(r->digest);
        free(r);
        return NULL;
}

char *registry_ref_name(const struct registry_ref *r)
{
        const char *host =
                strcmp(r->registry, REGISTRY_DOCKER_HUB) == 0 ? "docker.io" : r->registry;
        return sb_xasprintf("%s/%s", host, r->repository);
}

char *registry_ref_format(const struct registry_ref *r)
{
        cleanup_free char *name = registry_ref_name(r);

        return sb_xasprintf("%s%s%s%s%s", name, r->tag ? ":" : "", r->tag ? r->tag : "",
                            r->digest ? "@" : "", r->digest ? r->digest : "");
}

bool registry_host_is_loopback(const char *host)
{
        char addr[256];
        const char *end;
        struct in_addr a4;
        struct in6_addr a6;
        size_t len;

        if (!host)
                return false;
        if (host[0] == '[') {
                end = strchr(host, ']');
                if (!end || (end[1] != '\0' && (end[1] != ':' || !port_valid(end + 2))))
                        return false;
                host++;
        } else if (strchr(host, ':') != strrchr(host, ':')) {
                /* a bare IPv6 literal: several colons and no port */
                end = host + strlen(host);
        } else {
                end = strchr(host, ':');
                if (end && !port_valid(end + 1))
                        return false;
                if (!end)
                        end = host + strlen(host);
        }
        len = (size_t) (end - host);
        if (len == 0 || len >= sizeof(addr))
                return false;
        memcpy(addr, host, len);
        addr[len] = '\0';
        if (strcasecmp(addr, "localhost") == 0)
                return true;
        if (inet_pton(AF_INET, addr, &a4) == 1)
                return (ntohl(a4.s_addr) >> 24) == 127;
        if (inet_pton(AF_INET6, addr, &a6) == 1)
                return IN6_IS_ADDR_LOOPBACK(&a6);
        return false;
}
