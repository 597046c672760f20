/* The policy file: built-in default, parsing, the rule table. */
#include "policy/policy.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "common/sb_cleanup.h"
#include "common/sb_util.h"

static const struct policy_rule_info rules[POLICY_RULE_COUNT] = {
        [POLICY_RULE_REGISTRY] = { "registry-not-allowed", POLICY_ERROR,
                "Base image comes from a registry the policy does not allow",
                "pull base images only from the registries listed in registries.pull" },
        [POLICY_RULE_DIGEST] = { "base-not-pinned", POLICY_ERROR,
                "Base image is not pinned by digest",
                "pin the base image with @sha256:<digest> so rebuilds use the same bytes" },
        [POLICY_RULE_LATEST] = { "base-latest-tag", POLICY_WARNING,
                "Base image uses the latest tag or no tag",
                "name an explicit version tag (and pin the digest)" },
        [POLICY_RULE_USER_ROOT] = { "final-user-root", POLICY_ERROR,
                "Final stage runs as root",
                "add 'USER <non-root user>' to the final stage" },
        [POLICY_RULE_SECRET] = { "secret-in-env-arg", POLICY_ERROR,
                "ENV or ARG name looks like a secret",
                "pass secrets with RUN --mount=type=secret; ENV and ARG values end up in "
                "the image" },
        [POLICY_RULE_CURL_PIPE] = { "curl-pipe-shell", POLICY_ERROR,
                "RUN pipes a download straight into a shell",
                "download to a file, verify its checksum, then run it" },
        [POLICY_RULE_ADD_CHECKSUM] = { "add-url-no-checksum", POLICY_ERROR,
                "ADD of a remote URL without --checksum",
                "add --checksum=sha256:<hex> to the ADD instruction" },
        [POLICY_RULE_ADD_HOST] = { "add-host-not-allowed", POLICY_ERROR,
                "ADD fetches from a host the policy does not allow",
                "fetch only from the hosts listed in add.allowedHosts" },
};

static const char *const default_registries[] = { "docker.io/library/*", NULL };
static const char *const default_secrets[] = {
        "TOKEN", "PASSWORD", "PASSWD", "PASS", "PWD", "SECRET", "KEY", "APIKEY", "PRIVATE",
        "CREDENTIAL", "CREDENTIALS", "CERT", "AUTH", NULL,
};

const struct policy_rule_info *policy_rule_info(enum policy_rule r)
{
        return &rules[r];
}

int policy_rule_from_id(const char *id)
{
        for (int i = 0; i < POLICY_RULE_COUNT; i++)
                if (strcmp(rules[i].id, id) == 0)
                        return i;
        return -ENOENT;
}

static const char *const severity_names[] = { "off", "note", "warning", "error" };

const char *policy_severity_name(enum policy_severity s)
{
        return severity_names[s];
}

int policy_severity_from_name(const char *name, bool allow_off, enum policy_severity *ret)
{
        for (int i = allow_off ? 0 : 1; i <= POLICY_ERROR; i++) {
                if (strcmp(severity_names[i], name) == 0) {
                        *ret = (enum policy_severity) i;
                        return 0;
                }
        }
        return -EINVAL;
}

struct policy *policy_new_default(void)
{
        struct policy *p = sb_xcalloc(1, sizeof(*p));

        p->pull_registries = sb_strv_copy((char *const *) default_registries);
        p->require_digest = true;
        p->add_hosts = sb_xcalloc(1, sizeof(char *));
        p->secret_names = sb_strv_copy((char *const *) default_secrets);
        for (int i = 0; i < POLICY_RULE_COUNT; i++)
                p->severity[i] = rules[i].severity;
        return p;
}

struct policy *policy_free(struct policy *p)
{
        if (!p)
                return NULL;
        sb_strv_free(p->pull_registries);
        sb_strv_free(p->add_hosts);
        sb_strv_free(p->secret_names);
        free(p);
        return NULL;
}

/* Replace *list with the strings of array j (at most POLICY_MAX_LIST non-empty strings). */
static int parse_list(json_t *j, const char *key, bool upper, char ***list, sb_error_t *err)
{
        char **v = sb_xcalloc(1, sizeof(char *));
        size_t i;
        json_t *e;

        if (!json_is_array(j) || json_array_size(j) > POLICY_MAX_LIST) {
                sb_strv_free(v);
                return sb_error_set(err, EINVAL, "%s: not an array of at most %u strings", key,
                                    POLICY_MAX_LIST);
        }
        json_array_foreach(j, i, e) {
                const char *s = json_string_value(e);
                if (!s || !*s || strlen(s) > 4096) {
                        sb_strv_free(v);
                        return sb_error_set(err, EINVAL, "%s[%zu]: not a non-empty string", key,
                                            i);
                }
                char *c = sb_xstrdup(s);
                for (char *q = c; upper && *q; q++)
                        if (*q >= 'a' && *q <= 'z')
                                *q = (char) (*q - 'a' + 'A');
                sb_strv_push_take(&v, c);
        }
        sb_strv_free(*list);
        *list = v;
        return 0;
}

/* Refuse keys of object o that are not in the NULL-terminated list known. */
static int check_keys(json_t *o, const char *where, const char *const *known, sb_error_t *err)
{
        const char *k;
        json_t *v;

        json_object_foreach(o, k, v) {
                size_t i;
                for (i = 0; known[i] && strcmp(known[i], k) != 0; i++)
                        ;
                if (!known[i])
                        return sb_error_set(err, EINVAL, "%s%s: unknown key", where, k);
        }
        return 0;
}

static int parse_doc(json_t *root, struct policy *p, sb_error_t *err)
{
        static const char *const top[] = { "version", "registries", "baseImages", "add",
                                           "secretNamePatterns", "rules", NULL };
        static const char *const reg[] = { "pull", "push", NULL };
        static const char *const base[] = { "requireDigest", NULL };
        static const char *const add[] = { "allowedHosts", NULL };
        json_t *o, *v;
        const char *k;
        int r;

        if (!json_is_object(root))
                return sb_error_set(err, EINVAL, "the document is not a JSON object");
        if ((r = check_keys(root, "", top, err)) < 0)
                return r;
        v = json_object_get(root, "version");
        if (!json_is_integer(v) || json_integer_value(v) != 1)
                return sb_error_set(err, EINVAL, "version: must be 1");
        if ((o = json_object_get(root, "registries"))) {
                if (!json_is_object(o))
                        return sb_error_set(err, EINVAL, "registries: not an object");
                if ((r = check_keys(o, "registries.", reg, err)) < 0)
                        return r;
                if ((v = json_object_get(o, "pull")) &&
                    (r = parse_list(v, "registries.pull", false, &p->pull_registries, err)) < 0)
                        return r;
                /* push patterns are accepted (sbuild run will enforce them) but unused here */
                cleanup_strv char **push = NULL;
                if ((v = json_object_get(o, "push")) &&
                    (r = parse_list(v, "registries.push", false, &push, err)) < 0)
                        return r;
        }
        if ((o = json_object_get(root, "baseImages"))) {
                if (!json_is_object(o))
                        return sb_error_set(err, EINVAL, "baseImages: not an object");
                if ((r = check_keys(o, "baseImages.", base, err)) < 0)
                        return r;
                if ((v = json_object_get(o, "requireDigest"))) {
                        if (!json_is_boolean(v))
                                return sb_error_set(err, EINVAL,
                                                    "baseImages.requireDigest: not a boolean");
                        p->require_digest = json_is_true(v);
                }
        }
        if ((o = json_object_get(root, "add"))) {
                if (!json_is_object(o))
                        return sb_error_set(err, EINVAL, "add: not an object");
                if ((r = check_keys(o, "add.", add, err)) < 0)
                        return r;
                if ((v = json_object_get(o, "allowedHosts")) &&
                    (r = parse_list(v, "add.allowedHosts", false, &p->add_hosts, err)) < 0)
                        return r;
        }
        if ((v = json_object_get(root, "secretNamePatterns")) &&
            (r = parse_list(v, "secretNamePatterns", true, &p->secret_names, err)) < 0)
                return r;
        if ((o = json_object_get(root, "rules"))) {
                if (!json_is_object(o))
                        return sb_error_set(err, EINVAL, "rules: not an object");
                json_object_foreach(o, k, v) {
                        int id = policy_rule_from_id(k);
                        if (id < 0)
                                return sb_error_set(err, EINVAL, "rules.%s: unknown rule", k);
                        if (!json_is_string(v) ||
                            policy_severity_from_name(json_string_value(v), true,
                                                      &p->severity[id]) < 0)
                                return sb_error_set(err, EINVAL, "rules.%s: not one of "
                                                    "error, warning, note, off", k);
                }
        }
        return 0;
}

int policy_parse(const char *text, size_t len, struct policy **ret, sb_error_t *err)
{
        struct policy *p;
        json_error_t jerr;
        json_t *root;
        int r;

        if (len > POLICY_MAX_SIZE)
                return sb_error_set(err, EFBIG, "larger than %u bytes", POLICY_MAX_SIZE);
        root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root)
                return sb_error_set(err, EINVAL, "line %d: %s", jerr.line, jerr.text);
        p = policy_new_default();
        r = parse_doc(root, p, err);
        json_decref(root);
        if (r < 0) {
                policy_free(p);
                return r;
        }
        *ret = p;
        return 0;
}
