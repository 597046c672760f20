#!/bin/bash
# e2e: `sbuild parse` prints a Dockerfile's instructions as text and as the JSON document of
# docs/parse-json.md (checked with jq), reads stdin, and reports parse errors as FILE:LINE.
source "$(dirname "$0")/lib.sh"

d=$T/df
mkdir -p "$d"

# A Dockerfile with directives, continuations, flags, ENV forms, heredocs, exec form,
# HEALTHCHECK and ONBUILD.
cat >"$d/Dockerfile" <<'DF'
# syntax=docker/dockerfile:1
# check=skip=all
from --platform=$BUILDPLATFORM busybox AS build
ENV A=1 B="two words"
ENV LEGACY value here
Run --mount=type=cache,target=/c --network=none \
    echo one && \
    echo two
COPY --from=build --link <<EOF /etc/motd
hello $A
EOF
RUN <<-'SCRIPT' sh
	echo tabbed
	SCRIPT
ONBUILD RUN ["echo", "triggered"]
CMD ["sh", "-c", "echo hi"]
HEALTHCHECK --interval=5s CMD ["true"]
DF

sb root parse --format=json "$d/Dockerfile"
expect_rc 0 "parse --format=json exits 0"
J=$T/out.json
printf '%s\n' "$OUT" >"$J"
q() { jq -c "$1" "$J" 2>&1; }

assert_eq "$(q '.version')" 1 "the document has version 1"
assert_eq "$(q '.directives')" '{"escape":"\\","syntax":"docker/dockerfile:1","check":"skip=all"}' \
        "directives report escape, syntax and check"
assert_eq "$(q '[.instructions[].name] | join(",")')" \
        '"from,env,env,run,copy,run,onbuild,cmd,healthcheck"' "instructions are listed in order"
assert_eq "$(q '.instructions[0] | [.name, .name_as_written, .start_line, .end_line]')" \
        '["from","from",3,3]' "FROM keeps the keyword as written and its line"
assert_eq "$(q '.instructions[0].flags')" '[{"name":"platform","value":"$BUILDPLATFORM"}]' \
        "flags are name/value pairs, unexpanded"
assert_eq "$(q '.instructions[0].args')" '["busybox","AS","build"]' "FROM arguments are words"
assert_eq "$(q '.instructions[1].args')" '["A","1","=","B","\"two words\"","="]' \
        "ENV key=value pairs are key/value/= triples with quotes kept"
assert_eq "$(q '.instructions[2].args')" '["LEGACY","value here",""]' \
        "legacy ENV is a triple with an empty separator"
assert_eq "$(q '.instructions[3] | [.name_as_written, .start_line, .end_line, .json]')" \
        '["Run",6,8,false]' "a continued RUN spans its lines and is shell form"
assert_eq "$(q '.instructions[3].flags_raw')" \
        '["--mount=type=cache,target=/c","--network=none"]' "raw flags are kept as written"
assert_eq "$(q '.instructions[3].args')" '["echo one &&     echo two"]' \
        "continuation lines are joined into one shell-form argument"
assert_eq "$(q '.instructions[4].flags')" \
        '[{"name":"from","value":"build"},{"name":"link","value":null}]' \
        "a bare flag has a null value"
assert_eq "$(q '.instructions[4].heredocs')" \
        '[{"name":"EOF","content":"hello $A\n","expand":true,"chomp":false,"fd":null}]' \
        "a COPY heredoc has its body, unexpanded, and expand=true"
assert_eq "$(q '.instructions[4] | [.start_line, .end_line]')" '[9,11]' \
        "a heredoc's body and terminator belong to its instruction's lines"
assert_eq "$(q '.instructions[5].heredocs[0] | [.name, .content, .expand, .chomp]')" \
        '["SCRIPT","echo tabbed\n",false,true]' \
        "a quoted <<- heredoc has tabs stripped and expansion off"
assert_eq "$(q '.instructions[6] | [.args, .onbuild.name, .onbuild.args, .onbuild.json]')" \
        '[[],"run",["echo","triggered"],true]' "ONBUILD nests its trigger instruction"
assert_eq "$(q '.instructions[6].original')" '"ONBUILD RUN [\"echo\", \"triggered\"]"' \
        "the original text is kept"
assert_eq "$(q '.instructions[7] | [.json, .args]')" '[true,["sh","-c","echo hi"]]' \
        "exec form is decoded with json=true"
assert_eq "$(q '.instructions[8] | [.flags[0].name, .args, .json]')" \
        '["interval",["CMD","true"],true]' "HEALTHCHECK keeps CMD and its exec form"
assert_eq "$(q '.warnings')" '[]' "a clean Dockerfile has no warnings"

# Text format: one line per instruction, line range first.
sb root parse "$d/Dockerfile"
expect_rc 0 "parse (text) exits 0"
assert_eq "$(printf '%s\n' "$OUT" | wc -l)" 9 "text output has one line per instruction"
assert_match "$OUT" '^3 +FROM --platform=\$BUILDPLATFORM busybox AS build$' "text shows FROM"
assert_match "$OUT" '^6-8 +RUN --mount=type=cache,target=/c --network=none echo one' \
        "text shows a line range and flags"
assert_match "$OUT" '^4 +ENV A=1 B="two words"$' "text shows ENV pairs"
assert_match "$OUT" '^15 +ONBUILD RUN \["echo", "triggered"\]$' "text shows ONBUILD and exec form"
assert_match "$OUT" '^17 +HEALTHCHECK --interval=5s CMD \["true"\]$' "text shows HEALTHCHECK"
sb root parse --format=text "$d/Dockerfile"
assert_eq "$RC:$(printf '%s\n' "$OUT" | wc -l)" "0:9" "--format=text is the default format"

# Standard input, an escape directive and a warning.
printf '# escape=`\nFROM scratch\nRUN echo a `\n\n  b\n' >"$d/stdin.df"
RC=0
OUT=$(cd "$T" && "$SBUILD_BIN" parse --format=json - <"$d/stdin.df" 2>"$T/err") || RC=$?
assert_eq "$RC" 0 "parse - reads standard input"
printf '%s\n' "$OUT" >"$J"
assert_eq "$(q '[.file, .directives.escape, .instructions[1].args[0]]')" '["-","`","echo a   b"]' \
        "stdin honours # escape=\` for continuations"
assert_eq "$(q '.warnings[0].line')" 3 "an empty continuation line is a warning with its line"

# Parse errors: FILE:LINE: message and exit 2, nothing on stdout.
printf 'FROM busybox\nRUN <<EOF\necho never ends\n' >"$d/bad"
sb root parse "$d/bad"
expect_rc 2 "an unterminated heredoc exits 2"
assert_match "$ERR" "^$d/bad:2: .*heredoc" "the error names FILE:LINE"
assert_eq "$OUT" "" "nothing is printed on stdout for a file that does not parse"
printf 'FROM busybox\nFOO bar\n' >"$d/unknown"
sb root parse --format=json "$d/unknown"
expect_rc 2 "an unknown instruction exits 2"
assert_match "$ERR" "^$d/unknown:2: unknown instruction 'foo'" "the unknown instruction is named"
printf '# escape=x\nFROM busybox\n' >"$d/badesc"
RC=0
(cd "$T" && "$SBUILD_BIN" parse - <"$d/badesc" >/dev/null 2>"$T/err") || RC=$?
assert_eq "$RC" 2 "a bad escape directive on stdin exits 2"
assert_match "$(cat "$T/err")" '^<stdin>:1: ' "stdin errors are reported as <stdin>:LINE"

# Size: a near-maximal instruction parses in linear time (it once took minutes: every word
# was appended by walking the whole argument list).
{ printf 'FROM busybox\nENV'; head -c 800000 /dev/zero | tr '\0' 'x' | sed 's/xxxx/ a=b/g'
  printf '\nEXPOSE'; head -c 800000 /dev/zero | tr '\0' 'x' | sed 's/xx/ 1/g'; echo; } >"$d/big"
start=$SECONDS
RC=0
OUT=$(timeout 60 "$SBUILD_BIN" parse --format=json "$d/big" | jq -c '[.instructions[].args | length]') ||
        RC=$?
assert_eq "$RC:$OUT" "0:[1,600000,400000]" "an instruction with 600000 arguments parses"
assert_eq "$(( SECONDS - start < 20 ))" 1 "... within 20 seconds ($((SECONDS - start)) s)"

# Usage.
sb root parse --format=yaml "$d/Dockerfile"
expect_rc 2 "an unknown format is a usage error"
sb root parse
expect_rc 2 "a missing FILE is a usage error"
sb root parse "$d/Dockerfile" "$d/bad"
expect_rc 2 "two files are a usage error"
sb root parse "$d/missing"
expect_rc 1 "an unreadable file exits 1"
assert_contains "$ERR" "$d/missing" "the unreadable file is named"
sb root parse --help
expect_rc 0 "parse --help exits 0"
assert_contains "$OUT" "--format=text|json" "parse --help shows the formats"
sb root --help
assert_contains "$OUT" "parse" "sbuild --help lists parse"

finish
