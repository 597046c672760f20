/* Pull sources from --registry-map and --registry-mirror; per-host flag lookups. */
#include "registry/registry_mirror.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/sb_cleanup.h"
#include "common/sb_util.h"

static bool is_docker_hub(const char *host, size_t len)
{
        static const char *const names[] = { "docker.io", "index.docker.io",
                                             REGISTRY_DOCKER_HUB };

        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                if (strlen(names[i]) == len && strncasecmp(host, names[i], len) == 0)
                        return true;
        return false;
}

/* Compare the first flen bytes of flag_host with host. */
static bool host_matches_n(const char *flag_host, size_t flen, const char *host)
{
        if (flen == strlen(host) && strncasecmp(flag_host, host, flen) == 0)
                return true;
        return is_docker_hub(flag_host, flen) && is_docker_hub(host, strlen(host));
}

bool registry_host_matches(const char *flag_host, const char *host)
{
        return flag_host && host && host_matches_n(flag_host, strlen(flag_host), host);
}

const char *registry_host_option(char *const *list, const char *host)
{
        for (size_t i = 0; list && list[i]; i++) {
                const char *eq = strchr(list[i], '=');
                if (eq && host_matches_n(list[i], (size_t) (eq - list[i]), host))
                        return eq + 1;
        }
        return NULL;
}

bool registry_host_listed(char *const *list, const char *host)
{
        for (size_t i = 0; list && list[i]; i++)
                if (registry_host_matches(list[i], host))
                        return true;
        return false;
}

/* host[:port] as registry_ref accepts it: letters, digits, '.', '-', one ':' port, or [v6]. */
static bool valid_host(const char *h, size_t len)
{
        bool colon = false;

        if (len == 0 || len > 255)
                return false;
        for (size_t i = 0; i < len; i++) {
                char c = h[i];
                if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-' || c == '[' || c == ']')
                        continue;
                if (c == ':' && !colon) {
                        colon = true;
                        continue;
                }
                if (c == ':' && h[0] == '[')
                        continue;
                return false;
        }
        return true;
}

/* A path prefix: lower-case repository components separated by single '/'. */
static bool valid_prefix(const char *p)
{
        bool start = true;

        if (strlen(p) > 255)
                return false;
        for (; *p; p++) {
                char c = *p;
                if (c == '/') {
                        if (start)
                                return false;
                        start = true;
                        continue;
                }
                if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      (!start && (c == '.' || c == '_' || c == '-'))))
                        return false;
                start = false;
        }
        return !start;
}

/* Add "host[/path]" (len bytes at to) as a source for repository. */
static int add_source(struct registry_source **v, size_t *n, const char *to, size_t len,
                      const char *repository, const char *flag, sb_error_t *err)
{
        cleanup_free char *spec = sb_xstrndup(to, len);
        char *slash = strchr(spec, '/');
        struct registry_source *s;

        if (slash) {
                *slash = '\0';
                while (slash[1] && slash[strlen(slash + 1)] == '/')
                        slash[strlen(slash + 1)] = '\0'; /* "host/path/" is "host/path" */
                if (!slash[1])
                        slash = NULL; /* "host/" is "host" */
        }
        if (!valid_host(spec, strlen(spec)) || (slash && !valid_prefix(slash + 1)))
                return sb_error_set(err, EINVAL, "--%s: '%.200s' is not HOST[:PORT][/PATH]", flag,
                                    to);
        if (*n >= REGISTRY_SOURCES_MAX - 1)
                return sb_error_set(err, E2BIG, "more than %d registry maps and mirrors apply",
                                    REGISTRY_SOURCES_MAX - 1);
        *v = sb_xrealloc(*v, (*n + 1) * sizeof(**v));
        s = &(*v)[(*n)++];
        s->registry = sb_xstrdup(spec);
        s->repository = slash ? sb_xasprintf("%s/%s", slash + 1, repository)
                              : sb_xstrdup(repository);
        s->original = false;
        return 0;
}

int registry_mirror_sources(const struct registry_options *opts, const struct registry_ref *ref,
                            struct registry_source **ret, size_t *ret_n, sb_error_t *err)
{
        struct registry_source *v = NULL;
        size_t n = 0;
        int r = 0;

        /* maps first, each entry possibly "a=b;c=d" as Kaniko's flag allows */
        for (size_t i = 0; r >= 0 && opts->registry_maps && opts->registry_maps[i]; i++) {
                const char *p = opts->registry_maps[i];
                while (r >= 0 && *p) {
                        size_t len = strcspn(p, ";");
                        const char *eq = memchr(p, '=', len);
                        if (len > 0 && (!eq || eq == p || eq + 1 == p + len)) {
                                r = sb_error_set(err, EINVAL,
                                                 "--registry-map: '%.*s' is not FROM=TO",
                                                 (int) (len > 200 ? 200 : len), p);
                                break;
                        }
                        if (len > 0 && host_matches_n(p, (size_t) (eq - p), ref->registry))
                                r = add_source(&v, &n, eq + 1, (size_t) (p + len - eq - 1),
                                               ref->repository, "registry-map", err);
                        p += len;
                        if (*p == ';')
                                p++;
                }
        }
        /* mirrors serve Docker Hub images only */
        if (is_docker_hub(ref->registry, strlen(ref->registry)))
                for (size_t i = 0; r >= 0 && opts->registry_mirrors && opts->registry_mirrors[i];
                     i++)
                        r = add_source(&v, &n, opts->registry_mirrors[i],
                                       strlen(opts->registry_mirrors[i]), ref->repository,
                                       "registry-mirror", err);
        if (r < 0) {
                registry_sources_free(v, n);
                return r;
        }
        v = sb_xrealloc(v, (n + 1) * sizeof(*v));
        v[n].registry = sb_xstrdup(ref->registry);
        v[n].repository = sb_xstrdup(ref->repository);
        v[n].original = true;
        *ret = v;
        *ret_n = n + 1;
        return 0;
}

void registry_sources_free(struct registry_source *s, size_t n)
{
        for (size_t i = 0; s && i < n; i++) {
                free(s[i].registry);
                free(s[i].repository);
        }
        free(s);
}
