/* Rendering an audit report: text lines, JSON, SARIF 2.1.0. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "common/sb_util.h"
#include "policy/policy.h"

#define SARIF_SCHEMA "https://json.schemastore.org/sarif-2.1.0.json"
#define SBUILD_URI "https://github.com/sbuild/sbuild/blob/main/docs/policy.md"

char *policy_report_text(const struct policy_report *r, const char *file)
{
        char *out = sb_xstrdup("");

        for (size_t i = 0; i < r->n_findings; i++) {
                const struct policy_finding *f = &r->findings[i];
                const struct policy_rule_info *ri = policy_rule_info(f->rule);
                char *line = sb_xasprintf("%s%s:%d: %s %s: %s (%s)\n", out, file, f->line,
                                          policy_severity_name(f->severity), ri->id,
                                          f->message, ri->help);
                free(out);
                out = line;
        }
        return out;
}

static char *dump(json_t *root)
{
        char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(root);
        if (!s)
                abort();
        char *out = sb_xasprintf("%s\n", s);
        free(s);
        return out;
}

char *policy_report_json(const struct policy_report *r, const char *file)
{
        json_t *findings = json_array();
        size_t count[POLICY_ERROR + 1] = { 0 };

        for (size_t i = 0; i < r->n_findings; i++) {
                const struct policy_finding *f = &r->findings[i];
                const struct policy_rule_info *ri = policy_rule_info(f->rule);
                count[f->severity]++;
                json_array_append_new(findings, json_pack("{s:s, s:s, s:s, s:i, s:s, s:s}",
                        "rule", ri->id, "severity", policy_severity_name(f->severity),
                        "file", file, "line", f->line, "message", f->message,
                        "hint", ri->help));
        }
        return dump(json_pack("{s:i, s:s, s:o, s:{s:I, s:I, s:I}}", "version", 1,
                              "file", file, "findings", findings, "summary",
                              "error", (json_int_t) count[POLICY_ERROR],
                              "warning", (json_int_t) count[POLICY_WARNING],
                              "note", (json_int_t) count[POLICY_NOTE]));
}

char *policy_report_sarif(const struct policy_report *r, const char *file)
{
        json_t *rules = json_array(), *results = json_array();

        for (int i = 0; i < POLICY_RULE_COUNT; i++) {
                const struct policy_rule_info *ri = policy_rule_info((enum policy_rule) i);
                json_array_append_new(rules, json_pack(
                        "{s:s, s:s, s:{s:s}, s:{s:s}, s:{s:s}, s:s}",
                        "id", ri->id, "name", ri->id,
                        "shortDescription", "text", ri->summary,
                        "help", "text", ri->help,
                        "defaultConfiguration", "level",
                        policy_severity_name(ri->severity),
                        "helpUri", SBUILD_URI));
        }
        for (size_t i = 0; i < r->n_findings; i++) {
                const struct policy_finding *f = &r->findings[i];
                const struct policy_rule_info *ri = policy_rule_info(f->rule);
                char *msg = sb_xasprintf("%s (%s)", f->message, ri->help);
                json_array_append_new(results, json_pack(
                        "{s:s, s:i, s:s, s:{s:s}, s:[{s:{s:{s:s}, s:{s:i}}}]}",
                        "ruleId", ri->id, "ruleIndex", (int) f->rule,
                        "level", policy_severity_name(f->severity),
                        "message", "text", msg,
                        "locations", "physicalLocation", "artifactLocation", "uri", file,
                        "region", "startLine", f->line > 0 ? f->line : 1));
                free(msg);
        }
        return dump(json_pack("{s:s, s:s, s:[{s:{s:{s:s, s:s, s:s, s:o}}, s:o}]}",
                "version", "2.1.0", "$schema", SARIF_SCHEMA,
                "runs", "tool", "driver", "name", "sbuild", "informationUri", SBUILD_URI,
                "version", SBUILD_POLICY_VERSION, "rules", rules,
                "results", results));
}
