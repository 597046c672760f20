#include "build/build_user.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/sb_cleanup.h"
#include "common/sb_util.h"

/* Field `idx` (0-based) of a colon-separated line into buf; false if missing. */
static bool field(const char *line, size_t len, unsigned idx, char *buf, size_t size)
{
        const char *p = line, *end = line + len;
        for (unsigned i = 0; i < idx; i++) {
                const char *c = memchr(p, ':', (size_t) (end - p));
                if (!c)
                        return false;
                p = c + 1;
        }
        const char *c = memchr(p, ':', (size_t) (end - p));
        size_t n = (size_t) ((c ? c : end) - p);
        if (n >= size)
                return false;
        memcpy(buf, p, n);
        buf[n] = '\0';
        return true;
}

static int parse_id(const char *s, uint32_t *ret)
{
        uint64_t v;
        int r = sb_parse_u64(s, UINT32_MAX - 1, &v);
        if (r == 0)
                *ret = (uint32_t) v;
        return r;
}

/* Calls fn for each line of a passwd/group file; stops when fn returns true. */
typedef bool (*line_fn)(const char *line, size_t len, void *ctx);
static void for_each_line(const char *text, line_fn fn, void *ctx)
{
        for (const char *p = text; p && *p;) {
                const char *nl = strchr(p, '\n');
                size_t len = nl ? (size_t) (nl - p) : strlen(p);
                if (len > 0 && p[0] != '#' && fn(p, len, ctx))
                        return;
                p = nl ? nl + 1 : NULL;
        }
}

struct lookup {
        const char *key; /* name or number as text */
        bool by_name;
        bool found;
        uint32_t id, gid;
        char name[256];
        char home[256];
};

static bool match_passwd(const char *line, size_t len, void *ctx)
{
        struct lookup *l = ctx;
        char name[256], uid[32], gid[32];
        if (!field(line, len, 0, name, sizeof(name)) || !field(line, len, 2, uid, sizeof(uid)) ||
            !field(line, len, 3, gid, sizeof(gid)))
                return false;
        if (l->by_name ? strcmp(name, l->key) != 0 : strcmp(uid, l->key) != 0)
                return false;
        if (parse_id(uid, &l->id) < 0 || parse_id(gid, &l->gid) < 0)
                return false;
        memcpy(l->name, name, sizeof(name));
        if (!field(line, len, 5, l->home, sizeof(l->home)))
                l->home[0] = '\0';
        l->found = true;
        return true;
}

static bool match_group(const char *line, size_t len, void *ctx)
{
        struct lookup *l = ctx;
        char name[256], gid[32];
        if (!field(line, len, 0, name, sizeof(name)) || !field(line, len, 2, gid, sizeof(gid)))
                return false;
        if (strcmp(name, l->key) != 0)
                return false;
        if (parse_id(gid, &l->id) < 0)
                return false;
        l->found = true;
        return true;
}

struct members {
        const char *user;
        struct build_user *u;
};

static bool collect_groups(const char *line, size_t len, void *ctx)
{
        struct members *m = ctx;
        char gid[32];
        cleanup_free char *list = sb_xmalloc(len + 1);
        if (!field(line, len, 2, gid, sizeof(gid)) || !field(line, len, 3, list, len + 1))
                return false;
        uint32_t id = 0;
        if (parse_id(gid, &id) < 0)
                return false;
        for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok;
             tok = strtok_r(NULL, ",", &save)) {
                if (strcmp(tok, m->user) != 0)
                        continue;
                bool dup = id == m->u->gid;
                for (size_t i = 0; i < m->u->n_groups; i++)
                        dup |= m->u->groups[i] == id;
                if (!dup && m->u->n_groups < BUILD_USER_GROUPS_MAX)
                        m->u->groups[m->u->n_groups++] = id;
        }
        return false;
}

static bool is_number(const char *s)
{
        uint32_t v;
        return parse_id(s, &v) == 0;
}

int build_user_resolve(const char *spec, const char *passwd, const char *group,
                       build_user_mode_t mode, struct build_user *ret, sb_error_t *err)
{
        struct build_user u = { 0 };
        if (!spec || !*spec)
                return sb_error_set(err, EINVAL, "empty user");
        const char *colon = strchr(spec, ':');
        cleanup_free char *user = colon ? sb_xstrndup(spec, (size_t) (colon - spec))
                                        : sb_xstrdup(spec);
        const char *grp = colon ? colon + 1 : NULL;
        if (!*user || (grp && !*grp))
                return sb_error_set(err, EINVAL, "'%s' is not user[:group]", spec);

        struct lookup l = { .key = user, .by_name = !is_number(user) };
        for_each_line(passwd, match_passwd, &l);
        if (l.by_name && !l.found)
                return sb_error_set(err, EINVAL,
                                    "unable to find user '%s': no matching entry in the image's "
                                    "/etc/passwd",
                                    user);
        if (l.found) {
                memcpy(u.home, l.home, sizeof(u.home));
                u.uid = l.id;
                u.gid = mode == BUILD_USER_FOR_RUN ? l.gid : l.id;
        } else {
                parse_id(user, &u.uid);
                u.gid = mode == BUILD_USER_FOR_RUN ? 0 : u.uid;
        }
        if (grp) {
                if (is_number(grp)) {
                        parse_id(grp, &u.gid);
                } else {
                        struct lookup g = { .key = grp };
                        for_each_line(group, match_group, &g);
                        if (!g.found)
                                return sb_error_set(err, EINVAL,
                                                    "unable to find group '%s': no matching entry "
                                                    "in the image's /etc/group",
                                                    grp);
                        u.gid = g.id;
                }
        } else if (mode == BUILD_USER_FOR_RUN && l.found) {
                struct members m = { .user = l.name, .u = &u };
                for_each_line(group, collect_groups, &m);
        }
        *ret = u;
        return 0;
}
