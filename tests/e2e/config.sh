#!/bin/bash
# config: the image config and history every metadata instruction writes, checked exactly as
# BuildKit writes them: ENV (both forms), LABEL, MAINTAINER, EXPOSE (ranges, protocols),
# USER, WORKDIR, VOLUME (both forms), STOPSIGNAL, HEALTHCHECK (every option, and NONE),
# SHELL with shell-form RUN/CMD/ENTRYPOINT, CMD/ENTRYPOINT interplay, ONBUILD (recorded, then
# triggered by a build FROM the pushed image and FROM an earlier stage), FROM scratch, and
# the errors Docker gives. One image is pushed with --image-format=docker and read back by
# skopeo (docker-archive) and umoci.
. "$(dirname "$0")/lib.sh"

ctx=$T/ctx
mkdir -p "$ctx"
echo "f" >"$ctx/f.txt"

if ! reg_config "$BASE_REF" "$T/base-config.json"; then
        fail "the base image is in the registry"
        finish
fi
base_hist=$(jq '.history | length' "$T/base-config.json")
base_path=$(jq -r '.config.Env[] | select(startswith("PATH="))' "$T/base-config.json")
default_path=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# raw_config REF FILE: the config blob of REF as stored (skopeo's plain --config rewrites it
# as an OCI config, which drops Docker's Healthcheck, OnBuild and Shell).
raw_config() { skopeo inspect --tls-verify=false --config --raw "docker://$1" >"$2"; }

# hist CONFIG FROM: this build's history entries (from index FROM) as "created_by|empty" lines.
hist() {
        jq -r --argjson n "$2" '.history[$n:][] | "\(.created_by)|\(.empty_layer // false)"' "$1"
}

# comments CONFIG FROM: the distinct comments of the entries from index FROM.
comments() {
        jq -r --argjson n "$2" '[.history[$n:][] | .comment] | unique | join(",")' "$1"
}

# build_layout NAME DOCKERFILE [ARGS...]: build $ctx/DOCKERFILE into the OCI layout $T/NAME
# (tag latest) without pushing; CFG is then the path of its config (empty on failure).
build_layout() {
        local name=$1 df=$2
        shift 2
        sb_run root --context="$ctx" --dockerfile="$df" --no-push \
                --oci-layout-path="$T/$name" --build-arg BASE="$BASE_REF" "$@"
        CFG=
        [ "$RC" != 0 ] || CFG=$(layout_config "$T/$name" latest)
}

# --- 1. every metadata instruction, pushed so that a second build can use it as a base ------
cat >"$ctx/meta.Dockerfile" <<'DF'
ARG BASE
FROM ${BASE}
ARG V=1
LABEL a=b "c d"=e
MAINTAINER Jane Doe <jane@example.com>
ENV A=one B="two words"
ENV C $A
EXPOSE 80 443/udp 8000-8002
USER app
WORKDIR /srv
VOLUME ["/data", "/logs"]
VOLUME /cache /tmp/x
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=30s --timeout=1m30s --start-period=500ms --start-interval=2s --retries=3 CMD wget -q -O- http://localhost/ || exit 1
SHELL ["/bin/sh", "-ec"]
RUN echo $V > /tmp/v
CMD echo "hi"
ONBUILD RUN echo triggered > /tmp/onbuild
ONBUILD LABEL from.onbuild=yes
DF
sb_run root --context="$ctx" --dockerfile=meta.Dockerfile --build-arg BASE="$BASE_REF" \
        --destination="$REG/e2e/config-meta:v1"
expect_rc 0 "meta: the build with every metadata instruction succeeds"
cfg=$T/meta-config.json
if raw_config "$REG/e2e/config-meta:v1" "$cfg"; then
        ok "meta: the image is in the registry"
else
        fail "meta: the image is in the registry"
fi
want=$(jq -cS -n --arg p "$base_path" '{
        ArgsEscaped: true,
        Cmd: ["/bin/sh", "-ec", "echo \"hi\""],
        Env: [$p, "A=one", "B=two words", "C=one"],
        ExposedPorts: {"443/udp": {}, "80/tcp": {}, "8000/tcp": {}, "8001/tcp": {},
                       "8002/tcp": {}},
        Healthcheck: {Test: ["CMD-SHELL", "wget -q -O- http://localhost/ || exit 1"],
                      Interval: 30000000000, Timeout: 90000000000, StartPeriod: 500000000,
                      StartInterval: 2000000000, Retries: 3},
        Labels: {a: "b", "c d": "e"},
        OnBuild: ["RUN echo triggered > /tmp/onbuild", "LABEL from.onbuild=yes"],
        Shell: ["/bin/sh", "-ec"],
        StopSignal: "SIGQUIT",
        User: "app",
        Volumes: {"/cache": {}, "/data": {}, "/logs": {}, "/tmp/x": {}},
        WorkingDir: "/srv"}')
assert_eq "$(jq -cS .config "$cfg")" "$want" "meta: the config holds every field as Docker writes it"
assert_eq "$(jq -r .author "$cfg")" "Jane Doe <jane@example.com>" "meta: MAINTAINER sets the author"
assert_eq "$(jq -c '[.config.Labels | keys[] | select(test("maint"; "i"))]' "$cfg")" "[]" \
        "meta: MAINTAINER adds no label (BuildKit sets only the author)"
assert_eq "$(jq -c '[paths | map(tostring) | join(".")] | map(select(test("sbuild"))) ' "$cfg")" \
        "[]" "meta: no builder-private key reaches the config"
want_hist='ARG V=1|true
LABEL a=b c d=e|true
MAINTAINER Jane Doe <jane@example.com>|true
ENV A=one B=two words|true
ENV C=one|true
EXPOSE [443/udp 80/tcp 8000/tcp 8001/tcp 8002/tcp]|true
USER app|true
WORKDIR /srv|false
VOLUME [/data /logs]|true
VOLUME [/cache /tmp/x]|true
STOPSIGNAL SIGQUIT|true
HEALTHCHECK {Test:[CMD-SHELL wget -q -O- http://localhost/ || exit 1] Interval:30s Timeout:1m30s StartPeriod:500ms StartInterval:2s Retries:3}|true
SHELL [/bin/sh -ec]|true
RUN |1 V=1 /bin/sh -ec echo $V > /tmp/v # buildkit|false
CMD ["/bin/sh" "-ec" "echo \"hi\""]|true'
assert_eq "$(hist "$cfg" "$base_hist")" "$want_hist" \
        "meta: history has BuildKit's created_by and empty_layer for each instruction (none for ONBUILD)"
assert_eq "$(comments "$cfg" "$base_hist")" "buildkit.dockerfile.v0" \
        "meta: history entries carry BuildKit's Dockerfile comment"
assert_eq "$(jq -r '.history[0].created_by' "$cfg")" \
        "$(jq -r '.history[0].created_by' "$T/base-config.json")" "meta: the base's history is kept"

# --- 2. FROM the pushed image: its triggers run first; pushed as a Docker schema2 image ------
cat >"$ctx/child.Dockerfile" <<DF
FROM $REG/e2e/config-meta:v1
ENTRYPOINT ["/bin/cat"]
DF
sb_run root --context="$ctx" --dockerfile=child.Dockerfile --image-format=docker \
        --destination="$REG/e2e/config-child:v1" --oci-layout-path="$T/child-layout"
expect_rc 0 "child: a build FROM an image with ONBUILD triggers succeeds"
assert_contains "$ERR" "ONBUILD RUN echo triggered" "child: progress shows the trigger running"
ccfg=$T/child-config.json
raw_config "$REG/e2e/config-child:v1" "$ccfg" || fail "child: the image is in the registry"
assert_eq "$(jq -c '.config.OnBuild' "$ccfg")" null "child: the new image has no OnBuild"
assert_eq "$(jq -r '.config.Labels["from.onbuild"]' "$ccfg")" yes "child: the LABEL trigger ran"
assert_eq "$(jq -c '.config.Entrypoint' "$ccfg")" '["/bin/cat"]' "child: ENTRYPOINT is set"
assert_eq "$(jq -c '.config.Cmd' "$ccfg")" null "child: ENTRYPOINT resets the inherited CMD"
assert_eq "$(jq -c '.config.Healthcheck.Test' "$ccfg")" \
        '["CMD-SHELL","wget -q -O- http://localhost/ || exit 1"]' \
        "child: Healthcheck is kept in the Docker config"
assert_eq "$(jq -c '.config.Shell' "$ccfg")" '["/bin/sh","-ec"]' "child: Shell is kept"
n=$(jq '.history | length' "$cfg")
assert_eq "$(hist "$ccfg" "$n")" 'RUN /bin/sh -ec echo triggered > /tmp/onbuild # buildkit|false
LABEL from.onbuild=yes|true
ENTRYPOINT ["/bin/cat"]|true' "child: triggers are recorded in history before the stage's own steps"
raw=$(skopeo inspect --tls-verify=false --raw "docker://$REG/e2e/config-child:v1" 2>&1)
assert_eq "$(jq -r .mediaType <<<"$raw")" application/vnd.docker.distribution.manifest.v2+json \
        "docker: the manifest is Docker schema2"
assert_eq "$(jq -r .config.mediaType <<<"$raw")" application/vnd.docker.container.image.v1+json \
        "docker: the config has Docker's media type"
assert_eq "$(jq -r '[.layers[].mediaType] | unique | join(",")' <<<"$raw")" \
        application/vnd.docker.image.rootfs.diff.tar.gzip "docker: every layer is a Docker gzip layer"
assert_eq "$(jq -r '.manifests[0].mediaType' "$T/child-layout/index.json")" \
        application/vnd.oci.image.manifest.v1+json \
        "docker: the OCI layout's index names the OCI form of the image (OCI readers skip Docker manifests)"
man=$(jq -r '.manifests[0].digest' "$T/child-layout/index.json")
missing=
for d in "$man" $(jq -r '.config.digest, .layers[].digest' \
        "$T/child-layout/blobs/sha256/${man#sha256:}" 2>/dev/null); do
        [ -f "$T/child-layout/blobs/sha256/${d#sha256:}" ] || missing+=" $d"
done
assert_eq "$missing" "" "docker: the OCI layout holds every blob its manifest names"
assert_eq "$(jq -c '[.config.digest, (.layers[].digest)]' "$T/child-layout/blobs/sha256/${man#sha256:}")" \
        "$(jq -c '[.config.digest, (.layers[].digest)]' <<<"$raw")" \
        "docker: the layout's OCI manifest names the same config and layers as the pushed one"
check "docker: skopeo reads the layout" skopeo inspect "oci:$T/child-layout:v1"
check "docker: skopeo copies the image to a docker-archive" skopeo copy -q \
        --src-tls-verify=false "docker://$REG/e2e/config-child:v1" \
        "docker-archive:$T/child.tar:child:v1"
assert_contains "$(tar -tf "$T/child.tar" 2>&1)" manifest.json \
        "docker: the docker-archive has a manifest.json"
if pull_unpack "$REG/e2e/config-child:v1" "$T/child-img"; then
        ok "docker: umoci unpacks the image after skopeo copies it to OCI"
        r=$T/child-img/bundle/rootfs
        assert_eq "$(readf "$r/tmp/onbuild")" triggered "child: the RUN trigger wrote its file"
        assert_eq "$(owner "$r/tmp/onbuild")" 1000:1000 "child: the trigger ran as the base's USER"
        assert_eq "$(readf "$r/tmp/v")" 1 "child: the base's RUN output is there"
else
        fail "docker: umoci unpacks the image after skopeo copies it to OCI"
fi

# --- 3. stages: ONBUILD FROM a stage, CMD/ENTRYPOINT interplay, ARGs in RUN history ---------
cat >"$ctx/stages.Dockerfile" <<'DF'
ARG BASE
FROM ${BASE} AS tpl
ONBUILD RUN echo from-stage > /tmp/stage-trigger
CMD ["base-cmd"]

FROM tpl AS child
ARG A=1
ARG B
ENV B=2
RUN echo x > /x
ENTRYPOINT echo "ep $A"
HEALTHCHECK NONE
STOPSIGNAL 9
COPY f.txt /f.txt

FROM ${BASE} AS same
CMD ["c"]
ENTRYPOINT ["e"]

FROM ${BASE} AS empties
CMD []
ENTRYPOINT []
EXPOSE 53/UDP 7:8/tcp

FROM scratch AS bare
COPY f.txt /
DF
build_layout stages stages.Dockerfile --target=child
expect_rc 0 "stages: the build of a stage FROM a stage with ONBUILD succeeds"
assert_eq "$(hist "$CFG" "$base_hist")" 'CMD ["base-cmd"]|true
RUN /bin/sh -c echo from-stage > /tmp/stage-trigger # buildkit|false
ARG A=1|true
ARG B|true
ENV B=2|true
RUN |2 A=1 B=2 /bin/sh -c echo x > /x # buildkit|false
ENTRYPOINT ["/bin/sh" "-c" "echo \"ep $A\""]|true
HEALTHCHECK {Test:[NONE] Interval:0s Timeout:0s StartPeriod:0s StartInterval:0s Retries:0}|true
STOPSIGNAL 9|true
COPY f.txt /f.txt # buildkit|false' \
        "stages: the earlier stage's ONBUILD runs first; RUN names the ARGs in scope"
assert_eq "$(jq -cS .config "$CFG")" "$(jq -cS -n --arg p "$base_path" '{
        ArgsEscaped: true, Env: [$p, "B=2"], Entrypoint: ["/bin/sh", "-c", "echo \"ep $A\""],
        Healthcheck: {Test: ["NONE"]}, StopSignal: "9"}')" \
        "stages: the config: Cmd reset by ENTRYPOINT, HEALTHCHECK NONE, no OnBuild"

build_layout same stages.Dockerfile --target=same
assert_eq "$(jq -c '[.config.Entrypoint, .config.Cmd]' "$CFG" 2>&1)" '[["e"],["c"]]' \
        "stages: ENTRYPOINT keeps a CMD set in the same stage"

build_layout empties stages.Dockerfile --target=empties
assert_eq "$(jq -cS .config "$CFG" 2>&1)" "$(jq -cS -n --arg p "$base_path" '{
        ArgsEscaped: true, Env: [$p], ExposedPorts: {"53/udp": {}, "8/tcp": {}}}')" \
        "stages: CMD [] and ENTRYPOINT [] leave neither; EXPOSE lowercases the protocol"
assert_eq "$(hist "$CFG" "$base_hist" 2>&1)" 'CMD []|true
ENTRYPOINT []|true
EXPOSE [53/udp 8/tcp]|true' "stages: empty CMD/ENTRYPOINT history"

build_layout bare stages.Dockerfile --target=bare
assert_eq "$(jq -cS .config "$CFG" 2>&1)" "{\"Env\":[\"$default_path\"],\"WorkingDir\":\"/\"}" \
        "scratch: the config has BuildKit's default PATH and WorkingDir /"

# --- 4. errors, as Docker words them --------------------------------------------------------
# bad NAME EXPECTED INSTRUCTION...: a Dockerfile FROM the base with these lines must fail
# before the image is made, with EXPECTED in the message.
bad() {
        local name=$1 want=$2
        shift 2
        { echo 'ARG BASE'; echo 'FROM ${BASE}'; printf '%s\n' "$@"; } >"$ctx/bad-$name.Dockerfile"
        build_layout "bad-$name" "bad-$name.Dockerfile"
        if [ "$RC" = 0 ]; then
                fail "error: $name fails" "the build succeeded"
        else
                assert_contains "$ERR" "$want" "error: $name: '$want'"
        fi
}
bad interval 'Interval "interval" cannot be less than 1ms' 'HEALTHCHECK --interval=1us CMD true'
bad unit 'time: missing unit in duration "5"' 'HEALTHCHECK --timeout=5 CMD true'
bad retries '--retries cannot be negative (-1)' 'HEALTHCHECK --retries=-1 CMD true'
bad type 'Unknown type "FOO" in HEALTHCHECK (try CMD)' 'HEALTHCHECK FOO bar'
bad none-args 'HEALTHCHECK NONE takes no arguments' 'HEALTHCHECK NONE x'
bad flag 'Unknown flag: bogus' 'HEALTHCHECK --bogus=1 CMD true'
bad signal 'Invalid signal: SIGFOO' 'STOPSIGNAL SIGFOO'
bad proto 'invalid proto: foo' 'EXPOSE 80/foo'
bad volume 'VOLUME specified can not be an empty string' 'VOLUME [""]'
bad shell 'SHELL requires the arguments to be in JSON form' 'SHELL /bin/bash -c'
bad chain 'Chaining ONBUILD via `ONBUILD ONBUILD` isn'"'"'t allowed' 'RUN true' \
        'ONBUILD ONBUILD RUN true'
assert_not_contains "$ERR" "[2/" "error: ONBUILD ONBUILD is refused before any step runs"
bad onfrom "FROM isn't allowed as an ONBUILD trigger" 'ONBUILD FROM busybox'
bad onmaint "MAINTAINER isn't allowed as an ONBUILD trigger" 'ONBUILD MAINTAINER me'

# A failing trigger names itself.
printf 'ARG BASE\nFROM ${BASE} AS t\nONBUILD RUN exit 3\nFROM t\nRUN true\n' \
        >"$ctx/trigfail.Dockerfile"
build_layout trigfail trigfail.Dockerfile
assert_ne "$RC" 0 "error: a failing ONBUILD trigger fails the build"
assert_contains "$ERR" "ONBUILD trigger 'RUN exit 3'" "error: the message names the trigger"

finish
