/* docker config.json credential lookup (files and credential helpers) and WWW-Authenticate
 * parsing. */
#include "registry/registry_auth.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
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
        wipe_free(c->identity_token);
        wipe_free(c->registry_token);
        c->username = NULL;
        c->password = NULL;
        c->identity_token = NULL;
        c->registry_token = NULL;
}

bool registry_creds_present(const struct registry_creds *c)
{
        return c->username || c->identity_token || c->registry_token;
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

/* A string field of a config entry or helper reply: NULL when absent or empty. */
static int cred_field(json_t *obj, const char *name, const char *what, const char **ret,
                      sb_error_t *err)
{
        const char *v = json_string_value(json_object_get(obj, name));

        *ret = NULL;
        if (!v || !*v)
                return 0;
        if (strlen(v) > CRED_FIELD_MAX)
                return sb_error_set(err, EINVAL, "%s: \"%s\" is too long", what, name);
        *ret = v;
        return 0;
}

static int creds_from_entry(json_t *entry, const char *path, struct registry_creds *ret,
                            sb_error_t *err)
{
        const char *auth, *user, *pass, *idtok, *regtok;
        int r;

        if ((r = cred_field(entry, "auth", path, &auth, err)) < 0 ||
            (r = cred_field(entry, "username", path, &user, err)) < 0 ||
            (r = cred_field(entry, "password", path, &pass, err)) < 0 ||
            (r = cred_field(entry, "identitytoken", path, &idtok, err)) < 0 ||
            (r = cred_field(entry, "registrytoken", path, &regtok, err)) < 0)
                return r;

        if (auth) {
                char *plain = b64_decode(auth), *colon;
                if (!plain)
                        return sb_error_set(err, EINVAL, "%s: \"auth\" is not valid base64", path);
                colon = strchr(plain, ':');
                if (!colon || colon == plain) {
                        wipe_free(plain);
                        return sb_error_set(err, EINVAL,
                                            "%s: \"auth\" does not decode to user:password", path);
                }
                *colon = '\0';
                ret->username = sb_xstrdup(plain);
                ret->password = sb_xstrdup(colon + 1);
                explicit_bzero(colon + 1, strlen(colon + 1));
                free(plain);
        } else if (user && pass) {
                ret->username = sb_xstrdup(user);
                ret->password = sb_xstrdup(pass);
        } else if (user && idtok) {
                ret->username = sb_xstrdup(user);
        }
        if (idtok)
                ret->identity_token = sb_xstrdup(idtok);
        if (regtok)
                ret->registry_token = sb_xstrdup(regtok);
        return registry_creds_present(ret) ? 1 : 0;
}

/* Helper names come from the config file: a plain word, never a path. */
static bool helper_name_ok(const char *name)
{
        size_t n = strlen(name);

        if (n == 0 || n > 64)
                return false;
        for (const char *p = name; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
                        return false;
        return name[0] != '.';
}

/* The executable docker-credential-<name> in an absolute $PATH directory, or NULL. */
static char *helper_find(const char *name)
{
        const char *path = secure_getenv("PATH");
        cleanup_free char *prog = sb_xasprintf("docker-credential-%s", name);

        if (!path || !*path)
                path = "/usr/local/bin:/usr/bin:/bin";
        while (*path) {
                size_t n = strcspn(path, ":");
                /* relative entries ("", ".") would run whatever is in the cwd */
                if (n > 0 && path[0] == '/') {
                        cleanup_free char *dir = sb_xstrndup(path, n);
                        char *full = sb_path_join(dir, prog);
                        struct stat st;
                        if (stat(full, &st) == 0 && S_ISREG(st.st_mode) &&
                            access(full, X_OK) == 0)
                                return full;
                        free(full);
                }
                path += n;
                if (*path == ':')
                        path++;
        }
        return NULL;
}

/* What a helper may see of our environment: enough to find its keyring, nothing else. */
static char **helper_env(void)
{
        static const char *const keep[] = { "PATH", "HOME", "USER", "LOGNAME", "XDG_RUNTIME_DIR",
                                            "DBUS_SESSION_BUS_ADDRESS", "GNUPGHOME",
                                            "PASSWORD_STORE_DIR" };
        char **env = NULL;

        for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
                const char *v = secure_getenv(keep[i]);
                if (v)
                        sb_strv_push_take(&env, sb_xasprintf("%s=%s", keep[i], v));
        }
        if (!env)
                sb_strv_push(&env, "PATH=/usr/local/bin:/usr/bin:/bin");
        return env;
}

static _Noreturn void helper_child(const char *prog, int in_fd, int out_fd, char **env)
{
        char *argv[] = { (char *) prog, (char *) "get", NULL };
        sigset_t none;
        int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

        if (null_fd < 0 || dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(null_fd, 2) < 0)
                _exit(127);
        /* the helper's diagnostics may echo what it read; they go nowhere */
        syscall(SYS_close_range, 3U, ~0U, 0U);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        execve(prog, argv, env);
        _exit(127);
}

/* Run the helper; its stdout (at most the bound) in *ret_out and its wait status. */
static int helper_run(const char *prog, const char *server, char **ret_out, size_t *ret_len,
                      int *ret_status, sb_error_t *err)
{
        cleanup_strv char **env = helper_env();
        int in[2], out[2], status = 0;
        size_t len = 0, cap = REGISTRY_AUTH_HELPER_OUTPUT_MAX;
        char *buf;
        double deadline = sb_now() + REGISTRY_AUTH_HELPER_TIMEOUT_MS / 1000.0;
        bool timed_out = false, too_big = false;
        pid_t pid;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) < 0)
                return sb_error_errno(err, errno, "socketpair");
        if (pipe2(out, O_CLOEXEC) < 0) {
                int e = errno;
                close(in[0]);
                close(in[1]);
                return sb_error_errno(err, e, "pipe");
        }
        pid = fork();
        if (pid < 0) {
                int e = errno;
                close(in[0]);
                close(in[1]);
                close(out[0]);
                close(out[1]);
                return sb_error_errno(err, e, "fork");
        }
        if (pid == 0)
                helper_child(prog, in[1], out[1], env);
        close(in[1]);
        close(out[1]);
        /* the server name is short: one send fits the socket buffer */
        if (send(in[0], server, strlen(server), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
                sb_debug("credential helper did not read its input: %s", strerror(errno));
        close(in[0]);

        buf = sb_xmalloc(cap + 1);
        for (;;) {
                struct pollfd pfd = { .fd = out[0], .events = POLLIN };
                int left = (int) ((deadline - sb_now()) * 1000.0);
                ssize_t n;

                if (left <= 0) {
                        timed_out = true;
                        break;
                }
                n = poll(&pfd, 1, left);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        timed_out = n == 0;
                        break;
                }
                if (len == cap) {
                        too_big = true;
                        break;
                }
                n = read(out[0], buf + len, cap - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                len += (size_t) n;
        }
        close(out[0]);
        if (timed_out || too_big)
                kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        buf[len] = '\0';
        if (timed_out || too_big) {
                explicit_bzero(buf, len);
                free(buf);
                if (timed_out)
                        return sb_error_set(err, ETIMEDOUT, "%s did not answer within %d s", prog,
                                            REGISTRY_AUTH_HELPER_TIMEOUT_MS / 1000);
                return sb_error_set(err, EFBIG, "%s printed more than %d bytes", prog,
                                    REGISTRY_AUTH_HELPER_OUTPUT_MAX);
        }
        *ret_out = buf;
        *ret_len = len;
        *ret_status = status;
        return 0;
}

int registry_auth_helper_get(const char *name, const char *server, struct registry_creds *ret,
                             sb_error_t *err)
{
        cleanup_free char *prog = NULL;
        char *out = NULL;
        size_t len = 0;
        int status = 0, r;
        json_t *root = NULL;
        const char *user, *secret;

        ret->username = ret->password = ret->identity_token = ret->registry_token = NULL;
        if (!helper_name_ok(name))
                return sb_error_set(err, EINVAL, "invalid credential helper name in docker config");
        prog = helper_find(name);
        if (!prog)
                return sb_error_set(err, ENOENT, "credential helper docker-credential-%s is not "
                                                 "in PATH", name);
        r = helper_run(prog, server, &out, &len, &status, err);
        if (r < 0)
                return r;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                /* the protocol's "not found" is an answer, not a failure */
                bool not_found = WIFEXITED(status) && WEXITSTATUS(status) == 1 &&
                                 strstr(out, "credentials not found") != NULL;
                explicit_bzero(out, len);
                free(out);
                if (not_found) {
                        sb_debug("docker-credential-%s has no credentials for %s", name, server);
                        return 0;
                }
                if (WIFEXITED(status))
                        return sb_error_set(err, EACCES,
                                            "credential helper docker-credential-%s failed for %s "
                                            "(exit status %d)",
                                            name, server, WEXITSTATUS(status));
                return sb_error_set(err, EACCES,
                                    "credential helper docker-credential-%s was killed by signal %d",
                                    name, WTERMSIG(status));
        }
        root = json_loadb(out, len, 0, NULL);
        explicit_bzero(out, len);
        free(out);
        r = -EPROTO;
        if (!json_is_object(root)) {
                r = sb_error_set(err, EPROTO, "docker-credential-%s did not print JSON", name);
                goto out;
        }
        if ((r = cred_field(root, "Username", prog, &user, err)) < 0 ||
            (r = cred_field(root, "Secret", prog, &secret, err)) < 0)
                goto out;
        r = 0;
        if (!secret)
                goto out;
        if (user && strcmp(user, "<token>") == 0) {
                ret->identity_token = sb_xstrdup(secret);
        } else if (user) {
                ret->username = sb_xstrdup(user);
                ret->password = sb_xstrdup(secret);
        } else {
                r = sb_error_set(err, EPROTO, "docker-credential-%s gave a secret without a "
                                              "Username", name);
                goto out;
        }
        r = 1;
out:
        if (root) {
                /* jansson keeps its own copy of the secret; clear it before freeing */
                json_t *sec = json_object_get(root, "Secret");
                if (json_is_string(sec) && json_string_length(sec) > 0) {
                        char *mut = (char *) json_string_value(sec);
                        explicit_bzero(mut, json_string_length(sec));
                }
                json_decref(root);
        }
        return r;
}

static const char *helper_server(const char *host)
{
        return strcmp(host, REGISTRY_DOCKER_HUB) == 0 ? "https://index.docker.io/v1/" : host;
}

static int lookup_in_file(const char *path, const char *host, struct registry_creds *ret,
                          sb_error_t *err)
{
        cleanup_free char *data = NULL;
        size_t len = 0;
        json_error_t jerr;
        json_t *root, *auths, *helpers, *entry;
        const char *key, *store;
        int r;

        r = sb_read_file_at(AT_FDCWD, path, REGISTRY_AUTH_CONFIG_MAX, &data, &len, err);
        if (r < 0)
                return r;
        root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
        explicit_bzero(data, len);
        if (!root)
                return sb_error_set(err, EINVAL, "%s: invalid JSON at line %d", path, jerr.line);
        r = 0;

        /* docker's order: the host's own helper, then the default store, then "auths" */
        helpers = json_object_get(root, "credHelpers");
        if (json_is_object(helpers)) {
                json_object_foreach(helpers, key, entry)
                {
                        if (!json_is_string(entry) || !auth_key_matches(key, host))
                                continue;
                        r = registry_auth_helper_get(json_string_value(entry), helper_server(host),
                                                     ret, err);
                        if (r < 0)
                                sb_error_prefix(err, "%s: credHelpers", path);
                        goto out;
                }
        }
        store = json_string_value(json_object_get(root, "credsStore"));
        if (store && *store) {
                sb_error_t herr = { 0 };
                r = registry_auth_helper_get(store, helper_server(host), ret, &herr);
                if (r != 0 && !(r == -ENOENT && json_is_object(json_object_get(root, "auths")))) {
                        if (r < 0 && err)
                                *err = herr;
                        if (r < 0)
                                sb_error_prefix(err, "%s: credsStore", path);
                        goto out;
                }
                if (r < 0)
                        sb_debug("%s: %s; using \"auths\"", path, herr.msg);
                r = 0;
        }
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
out:
        if (r < 0)
                registry_creds_done(ret);
        json_decref(root);
        return r;
}

int registry_auth_lookup(const char *host, struct registry_creds *ret, sb_error_t *err)
{
        const char *dc = secure_getenv("DOCKER_CONFIG");
        const char *home = secure_getenv("HOME");
        char *paths[3] = { NULL, NULL, NULL };
        int r = 0;

        ret->username = ret->password = ret->identity_token = ret->registry_token = NULL;
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
