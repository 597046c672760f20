/* docker config.json credential lookup and WWW-Authenticate parsing. */
#include "registry/registry_auth.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/sb_cleanup.h"
#include "common/sb_log.h"
#include "common/sb_util.h"
#include "registry/registry_ref.h"

#define CRED_FIELD_MAX 4096

static int b64_value(unsigned char c)
{
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '+')
                return 62;
        if (c == '/')
                return 63;
        return -1;
}

/* Decode standard base64 (padding optional) into a NUL-terminated string; NULL if invalid
 * or if the result contains a NUL byte. */
static char *b64_decode(const char *in)
{
        size_t len = strlen(in), o = 0;
        uint32_t acc = 0;
        int bits = 0;
        char *out;

        while (len > 0 && in[len - 1] == '=')
                len--;
        out = sb_xmalloc(len * 3 / 4 + 1);
        for (size_t i = 0; i < len; i++) {
                int v = b64_value((unsigned char) in[i]);
                if (v < 0) {
                        free(out);
                        return NULL;
                }
                acc = (acc << 6) | (uint32_t) v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        out[o] = (char) ((acc >> bits) & 0xff);
                        if (out[o] == '\0') {
                                free(out);
                                return NULL;
                        }
                        o++;
                }
        }
        out[o] = '\0';
        return out;
}

static void wipe_free(char *s)
{
        if (!s)
                return;
        explicit_bzero(s, strlen(s));
        free(s);
}

void registry_creds_done(struct registry_creds *c)
{
        if (!c)
                return;
        free(c->username);
        wipe_free(c->password);
        c->username = NULL;
        c->password = NULL;
}

/* "https://host:port/v1/" -> does "host:port" equal host (case-insensitive)? */
static bool auth_key_matches(const char *key, const char *host)
{
        const char *k = key;
        size_t len;
        bool hub = strcmp(host, REGISTRY_DOCKER_HUB) == 0;

        if (strncasecmp(k, "https://", 8) == 0)
                k += 8;
        else if (strncasecmp(k, "http://", 7) == 0)
                k += 7;
        len = strcspn(k, "/");
        if (len == strlen(host) && strncasecmp(k, host, len) == 0)
                return true;
        if (hub) {
                static const char *const hub_names[] = { "index.docker.io", "docker.io" };
                for (size_t i = 0; i < sizeof(hub_names) / sizeof(hub_names[0]); i++)
                        if (len == strlen(hub_names[i]) && strncasecmp(k, hub_names[i], len) == 0)
                                return true;
        }
        return false;
}

static int creds_from_entry(json_t *entry, const char *path, struct registry_creds *ret,
                            sb_error_t *err)
{
        const char *auth = json_string_value(json_object_get(entry, "auth"));
        const char *user = json_string_value(json_object_get(entry, "username"));
        const char *pass = json_string_value(json_object_get(entry, "password"));

        if (auth && *auth) {
                char *plain, *colon;
                if (strlen(auth) > CRED_FIELD_MAX)
                        return sb_error_set(err, EINVAL, "%s: \"auth\" entry too long", path);
                plain = b64_decode(auth);
                if (!plain)
                        return sb_error_set(err, EINVAL, "%s: \"auth\" is not valid base64", path);
                colon = strchr(plain, ':');
                if (!colon) {
                        wipe_free(plain);
                        return sb_error_set(err, EINVAL,
                                            "%s: \"auth\" does not decode to user:password", path);
                }
                *colon = '\0';
                ret->username = sb_xstrdup(plain);
                ret->password = sb_xstrdup(colon + 1);
                explicit_bzero(colon + 1, strlen(colon + 1));
                free(plain);
                return 1;
        }
        if (user && pass) {
                if (strlen(user) > CRED_FIELD_MAX || strlen(pass) > CRED_FIELD_MAX)
                        return sb_error_set(err, EINVAL, "%s: credentials too long", path);
                ret->username = sb_xstrdup(user);
                ret->password = sb_xstrdup(pass);
                return 1;
        }
        return 0;
}

static int lookup_in_file(const char *path, const char *host, struct registry_creds *ret,
                          sb_error_t *err)
{
        cleanup_free char *data = NULL;
        size_t len = 0;
        json_error_t jerr;
        json_t *root, *auths, *entry;
        const char *key;
        int r;

        r = sb_read_file_at(AT_FDCWD, path, REGISTRY_AUTH_CONFIG_MAX, &data, &len, err);
        if (r < 0)
                return r;
        root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
        explicit_bzero(data, len);
        if (!root)
                return sb_error_set(err, EINVAL, "%s: invalid JSON at line %d", path, jerr.line);
        r = 0;
        auths = json_object_get(root, "auths");
        if (json_is_object(auths)) {
                json_object_foreach(auths, key, entry)
                {
                        if (!json_is_object(entry) || !auth_key_matches(key, host))
                                continue;
                        r = creds_from_entry(entry, path, ret, err);
                        if (r != 0)
                                break;
                }
        }
        if (r == 0 && (json_object_get(root, "credHelpers") || json_object_get(root, "credsStore")))
                sb_debug("%s: credential helpers are not supported; using \"auths\" only", path);
        json_decref(root);
        return r;
}

int registry_auth_lookup(const char *host, struct registry_creds *ret, sb_error_t *err)
{
        const char *dc = secure_getenv("DOCKER_CONFIG");
        const char *home = secure_getenv("HOME");
        char *paths[3] = { NULL, NULL, NULL };
        int r = 0;

        ret->username = ret->password = NULL;
        if (dc && *dc)
                paths[0] = sb_path_join(dc, "config.json");
        if (home && *home)
                paths[1] = sb_path_join(home, ".docker/config.json");
        paths[2] = sb_xstrdup("/kaniko/.docker/config.json");

        for (size_t i = 0; i < 3; i++) {
                if (!paths[i] || access(paths[i], F_OK) < 0)
                        continue;
                r = lookup_in_file(paths[i], host, ret, err);
                if (r != 0)
                        break;
                sb_debug("no credentials for %s in %s", host, paths[i]);
        }
        for (size_t i = 0; i < 3; i++)
                free(paths[i]);
        return r;
}

void registry_challenge_done(struct registry_challenge *c)
{
        if (!c)
                return;
        free(c->realm);
        free(c->service);
        free(c->scope);
        free(c->error);
        memset(c, 0, sizeof(*c));
}

static const char *skip_ws(const char *p)
{
        while (*p == ' ' || *p == '\t')
                p++;
        return p;
}

int registry_challenge_parse(const char *header, struct registry_challenge *ret, sb_error_t *err)
{
        struct registry_challenge c = { 0 };
        const char *p = skip_ws(header);
        size_t n = strcspn(p, " \t");

        if (n == 5 && strncasecmp(p, "Basic", 5) == 0)
                c.scheme = REGISTRY_AUTH_BASIC;
        else if (n == 6 && strncasecmp(p, "Bearer", 6) == 0)
                c.scheme = REGISTRY_AUTH_BEARER;
        else
                return sb_error_set(err, EPROTONOSUPPORT, "unsupported authentication scheme");
        p = skip_ws(p + n);

        while (*p) {
                const char *kstart = p;
                size_t klen;
                char *val;
                size_t vlen = 0;

                klen = strcspn(p, "= \t,");
                if (klen == 0)
                        goto bad;
                p = skip_ws(p + klen);
                if (*p != '=')
                        goto bad;
                p = skip_ws(p + 1);
                val = sb_xmalloc(strlen(p) + 1);
                if (*p == '"') {
                        p++;
                        while (*p && *p != '"') {
                                if (*p == '\\' && p[1])
                                        p++;
                                val[vlen++] = *p++;
                        }
                        if (*p != '"') {
                                free(val);
                                goto bad;
                        }
                        p++;
                } else {
                        while (*p && *p != ',' && *p != ' ' && *p != '\t')
                                val[vlen++] = *p++;
                }
                val[vlen] = '\0';

                char **slot = NULL;
                if (klen == 5 && strncasecmp(kstart, "realm", 5) == 0)
                        slot = &c.realm;
                else if (klen == 7 && strncasecmp(kstart, "service", 7) == 0)
                        slot = &c.service;
                else if (klen == 5 && strncasecmp(kstart, "scope", 5) == 0)
                        slot = &c.scope;
                else if (klen == 5 && strncasecmp(kstart, "error", 5) == 0)
                        slot = &c.error;
                if (slot) {
                        free(*slot);
                        *slot = val;
                } else {
                        free(val);
                }

                p = skip_ws(p);
                if (*p == ',')
                        p = skip_ws(p + 1);
                else if (*p)
                        goto bad;
        }
        *ret = c;
        return 0;
bad:
        registry_challenge_done(&c);
        return sb_error_set(err, EINVAL, "malformed WWW-Authenticate header");
}
