#!/bin/bash
# e2e: `sbuild policy check` audits a Dockerfile as text, JSON and SARIF (fields checked with
# jq), with the built-in policy and a custom one, and exits 0/1/2 as documented.
source "$(dirname "$0")/lib.sh"

d=$T/df
mkdir -p "$d"
PIN=sha256:0000000000000000000000000000000000000000000000000000000000000000

cat >"$d/bad" <<'DF'
ARG BASE=busybox
FROM ${BASE}
ENV GITHUB_TOKEN=abc
RUN curl -fsSL https://get.example.com | sh
ADD https://dl.example.com/tool.tgz /opt/
DF
cat >"$d/good" <<DF
FROM busybox:1.36@$PIN
RUN echo ok
USER 1000:1000
DF

sb root policy check "$d/bad"
expect_rc 1 "errors found exit 1"
assert_match "$OUT" "^$d/bad:2: error base-not-pinned: .*\(pin the base image" \
        "text lines read FILE:LINE: SEVERITY RULE: message (hint)"
assert_contains "$OUT" "$d/bad:3: error secret-in-env-arg:" "a secret-looking ENV is reported"
assert_contains "$OUT" "$d/bad:4: error curl-pipe-shell:" "curl | sh is reported"
assert_contains "$OUT" "$d/bad:5: error add-url-no-checksum:" "ADD without --checksum is reported"
assert_contains "$OUT" "$d/bad:2: error final-user-root:" "no USER in the final stage is reported"

sb root policy check "$d/good"
expect_rc 0 "a Dockerfile that follows the built-in policy exits 0"
assert_eq "$OUT" "" "and prints nothing"

sb root policy check --format=json "$d/bad"
expect_rc 1 "json: exit 1"
printf '%s\n' "$OUT" >"$T/r.json"
assert_eq "$(jq -c '[.findings[] | select(.rule=="curl-pipe-shell") | .line, .severity]' \
        "$T/r.json")" '[4,"error"]' "json findings carry rule, line and severity"
assert_eq "$(jq -r '.findings[0] | has("hint") and has("file") and has("message")' \
        "$T/r.json")" true "json findings carry file, message and hint"
assert_eq "$(jq -r '.summary.warning' "$T/r.json")" 1 "json summary counts warnings"

sb root policy check --format=sarif "$d/bad"
expect_rc 1 "sarif: exit 1"
printf '%s\n' "$OUT" >"$T/r.sarif"
s() { jq -r "$1" "$T/r.sarif" 2>&1; }
assert_eq "$(s '.version')" 2.1.0 "sarif version is 2.1.0"
assert_contains "$(s '."$schema"')" sarif-2.1.0 "sarif names its schema"
assert_eq "$(s '.runs[0].tool.driver | [.name, (.informationUri|startswith("https://"))] | @tsv')" \
        "$(printf 'sbuild\ttrue')" "sarif driver has name and informationUri"
assert_eq "$(s '[.runs[0].tool.driver.rules[] | select(.id and .shortDescription.text and .help.text)] | length')" \
        8 "every sarif rule has id, shortDescription and help"
assert_eq "$(s '[.runs[0].results[] | select(.ruleId and .level and .message.text and
        .locations[0].physicalLocation.artifactLocation.uri and
        .locations[0].physicalLocation.region.startLine)] | length')" \
        "$(s '.runs[0].results | length')" "every sarif result has the required fields"
assert_eq "$(s '.runs[0].results[] | select(.ruleId=="secret-in-env-arg") | .locations[0].physicalLocation.region.startLine')" \
        3 "sarif results point at the line"

# --fail-on: warnings only
printf '{"version":1,"baseImages":{"requireDigest":false}}' >"$T/nodigest.json"
printf 'FROM busybox\nUSER app\n' >"$d/warn"
sb root policy check --policy "$T/nodigest.json" "$d/warn"
expect_rc 0 "only a warning: exit 0 with the default --fail-on=error"
assert_contains "$OUT" "warning base-latest-tag" "the warning is still printed"
sb root policy check --policy "$T/nodigest.json" --fail-on=warning "$d/warn"
expect_rc 1 "--fail-on=warning: exit 1"

# a custom policy
cat >"$T/policy.json" <<'JSON'
{"version": 1,
 "registries": {"pull": ["registry.example.com/team/*"]},
 "baseImages": {"requireDigest": false},
 "add": {"allowedHosts": ["dl.example.com"]},
 "rules": {"final-user-root": "off", "curl-pipe-shell": "warning"}}
JSON
cat >"$d/custom" <<'DF'
FROM registry.example.com/team/app:2
RUN curl -s https://x | bash
ADD --checksum=sha256:00 https://dl.example.com/a /a
DF
sb root policy check --policy "$T/policy.json" "$d/custom"
expect_rc 0 "custom policy: only a downgraded warning, exit 0"
assert_eq "$OUT" "$d/custom:2: warning curl-pipe-shell: RUN pipes the output of curl or wget into an interpreter (download to a file, verify its checksum, then run it)" \
        "custom policy: registries, hosts and rule severities apply"
sb root policy check --policy="$T/policy.json" "$d/good"
expect_rc 1 "custom policy: a registry outside the list fails"
assert_contains "$OUT" "registry-not-allowed" "and names the rule"

# usage and input errors
printf '{"version":1,"rules":{"nope":"error"}}' >"$T/bad.json"
sb root policy check --policy "$T/bad.json" "$d/good"
expect_rc 2 "a bad policy file exits 2"
assert_eq "$ERR" "sbuild policy: $T/bad.json: rules.nope: unknown rule" \
        "one line names the policy file and the problem"
head -c 1100000 /dev/zero | tr '\0' ' ' >"$T/huge.json"
sb root policy check --policy "$T/huge.json" "$d/good"
expect_rc 2 "an oversized policy file exits 2"
printf 'FROM busybox\nRUN <<EOF\necho\n' >"$d/broken"
sb root policy check "$d/broken"
expect_rc 2 "a Dockerfile that does not parse exits 2"
assert_match "$ERR" "^$d/broken:2: unterminated heredoc" "and says FILE:LINE: message"
printf 'FROM busybox\nFROM ${X:?must be set}\n' >"$d/broken"
sb root policy check "$d/broken"
expect_rc 2 "a Dockerfile whose FROM does not expand exits 2"
assert_match "$ERR" "^$d/broken:2: " "and says FILE:LINE"
sb root policy check --format=xml "$d/good"
expect_rc 2 "an unknown format is a usage error"
sb root policy check --fail-on=fatal "$d/good"
expect_rc 2 "an unknown severity is a usage error"
sb root policy check
expect_rc 2 "no Dockerfile is a usage error"
sb root policy check "$d/missing"
expect_rc 2 "a missing Dockerfile exits 2"

finish
