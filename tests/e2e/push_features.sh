#!/bin/bash
# push_features: one build pushed to three destinations (two repositories of one registry,
# a second registry) writes the digest files; a layer is in the registry while later steps
# still run; blobs go up once per registry (the second repository and the base image's
# layers are mounted, seen in the registry's access log); and a destination we may not push
# to fails the build before its first step runs.
. "$(dirname "$0")/lib.sh"

REGSH=$E2E_DIR/registry.sh

# start_logged DIR PORT: a docker-registry with its access log in DIR/log.
start_logged() {
        local dir=$1 port=$2 pid i code
        mkdir -p "$dir/data"
        cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $dir/data
http:
  addr: 127.0.0.1:$port
  secret: sbuild-test-secret
EOF
        setsid docker-registry serve "$dir/config.yml" </dev/null >"$dir/log" 2>&1 &
        pid=$!
        echo "$pid" >"$dir/pid"
        for i in $(seq 1 100); do
                code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$port/v2/" ||
                        true)
                [ "$code" = 200 ] && return 0
                sleep 0.2
        done
        return 1
}

R1_DIR=$T/r1 R2_DIR=$T/r2 R3_DIR=$T/r3
stop_all() {
        "$REGSH" stop "$R1_DIR" 2>/dev/null
        "$REGSH" stop "$R2_DIR" 2>/dev/null
        "$REGSH" stop "$R3_DIR" 2>/dev/null
        [ -n "${BUILD_PID:-}" ] && kill "$BUILD_PID" 2>/dev/null
        _cleanup
}
trap stop_all EXIT

P1=$(free_port)
start_logged "$R1_DIR" "$P1" || { fail "registry 1 starts"; finish; }
P2=$(free_port)
"$REGSH" start "$R2_DIR" "$P2" >/dev/null || { fail "registry 2 starts"; finish; }
R1=127.0.0.1:$P1 R2=127.0.0.1:$P2

# the base image lives in registry 1 too, so its layers can be mounted there
if ! skopeo copy -q --src-tls-verify=false --dest-tls-verify=false "docker://$BASE_REF" \
        "docker://$R1/base/busybox:latest" >/dev/null 2>"$T/skopeo.log"; then
        fail "the base image is copied into registry 1" "$(cat "$T/skopeo.log")"
        finish
fi
base_layer=$(skopeo inspect --tls-verify=false --raw "docker://$R1/base/busybox:latest" |
        jq -r '.layers[0].digest // empty')
if [ -z "$base_layer" ]; then
        # an index: the host platform's manifest
        base_layer=$(skopeo inspect --tls-verify=false --format '{{index .Layers 0}}' \
                "docker://$R1/base/busybox:latest")
fi

ctx=$T/ctx
mkdir -p "$ctx"
cat >"$ctx/Dockerfile" <<'DF'
ARG BASE
FROM ${BASE}
RUN head -c 3000000 /dev/urandom > /big.bin
RUN sleep 8 && echo late > /late.txt
DF
out=$T/out
mkdir -p "$out"
SB_ENV=(DOCKER_CONFIG="$T/no-creds")

# Run the build in the background; meanwhile list what registry 1 holds for app/one and ask
# it (HEAD) for each blob, noting only answers seen while the build still runs.
(cd "$T" && timeout -k 10 240 env "${SB_ENV[@]}" "$SBUILD_BIN" run --store="$T/store-root" \
        --context="dir://$ctx" --build-arg BASE="$R1/base/busybox:latest" \
        --destination "$R1/app/one:v1" --destination "$R1/app/two:v2" \
        --destination "$R2/app/three:v3" \
        --digest-file "$out/digest" --image-name-with-digest-file "$out/names" \
        --image-name-tag-with-digest-file "$out/tagnames" \
        >"$T/build.out" 2>"$T/build.err" </dev/null)&
BUILD_PID=$!
: >"$T/seen"
layers_dir=$R1_DIR/data/docker/registry/v2/repositories/app/one/_layers/sha256
while kill -0 "$BUILD_PID" 2>/dev/null; do
        for d in $(ls "$layers_dir" 2>/dev/null); do
                code=$(curl -s -o /dev/null -I -m 2 -w '%{http_code}' \
                        "http://$R1/v2/app/one/blobs/sha256:$d" || true)
                if [ "$code" = 200 ] && kill -0 "$BUILD_PID" 2>/dev/null; then
                        echo "sha256:$d $(date +%s%N)" >>"$T/seen"
                fi
        done
        sleep 0.3
done
wait "$BUILD_PID"
RC=$? ERR=$(cat "$T/build.err") END=$(date +%s%N)
BUILD_PID=
expect_rc 0 "the build with three destinations succeeds"

digest=$(readf "$out/digest")
assert_match "$digest" '^sha256:[0-9a-f]{64}$' "--digest-file holds a digest"
for d in "$R1/app/one:v1" "$R1/app/two:v2" "$R2/app/three:v3"; do
        assert_eq "$(reg_digest "$d" 2>&1)" "$digest" "$d has the built manifest"
done
assert_eq "$(readf "$out/tagnames")" \
        "$R1/app/one:v1@$digest
$R1/app/two:v2@$digest
$R2/app/three:v3@$digest" \
        "--image-name-tag-with-digest-file has REPO:TAG@DIGEST per destination, in order"
assert_eq "$(wc -l <"$out/names")" 3 "--image-name-with-digest-file has a line per destination"

big=$(skopeo inspect --tls-verify=false --raw "docker://$R1/app/one:v1" | jq -r '.layers[-2].digest')
assert_match "$big" '^sha256:' "the image has the RUN layers"
# The final push also runs inside the build's process: only a layer that was there well
# before the end (the next step sleeps 8 s) was uploaded while steps still ran.
first=$(awk -v d="$big" '$1 == d { print $2; exit }' "$T/seen")
if [ -n "$first" ] && [ $(((END - first) / 1000000)) -ge 4000 ]; then
        ok "the first RUN's layer was in the registry while the sleeping step still ran"
else
        fail "the first RUN's layer was in the registry while the sleeping step still ran" \
                "first seen ${first:-never}, build ended $END" "$(sort -u "$T/seen" | head)"
fi

# Access log: what went up to registry 1, and how.
log=$(cat "$R1_DIR/log")
# (skopeo's own uploads of the base image went to base/busybox: count only app/*)
puts_of() { printf '%s\n' "$log" | grep -c "\"PUT /v2/app/[^\"]*blobs/uploads/[^\"]*${1#sha256:}"; }
assert_eq "$(puts_of "$big")" 1 \
        "the layer is uploaded once to registry 1 (the second repository mounts it)"
assert_eq "$(puts_of "$base_layer")" 0 \
        "the base image's layer is never uploaded to the registry it came from"
mounts=$(printf '%s\n' "$log" | grep -c "\"POST /v2/app/[a-z]*/blobs/uploads/?[^\"]*mount=[^\"]*\" 201")
if [ "$mounts" -ge 2 ]; then
        ok "registry 1 answered cross-repository mounts with 201 ($mounts)"
else
        fail "registry 1 answered cross-repository mounts with 201" \
                "$(printf '%s\n' "$log" | grep -E 'POST|PUT' | tail -n 20)"
fi
check "registry 2 holds the whole image (skopeo copies it out)" \
        skopeo copy -q --src-tls-verify=false "docker://$R2/app/three:v3" "oci:$T/copy:img"

# Push permission: checked before the first step, unless skipped.
P3=$(free_port)
"$REGSH" start "$R3_DIR" "$P3" builder s3cret >/dev/null || { fail "registry 3 starts"; finish; }
R3=127.0.0.1:$P3
cat >"$T/ctx/Dockerfile" <<'DF'
ARG BASE
FROM ${BASE}
RUN echo step-ran-marker
DF
sb_run root --context="dir://$ctx" --build-arg BASE="$BASE_REF" \
        --destination "$REG/perm/ok:v1" --destination "$R3/locked/img:v1"
expect_rc 1 "a destination without push access fails the build"
assert_contains "$ERR" "no push access to '$R3/locked/img:v1'" \
        "the error names the destination it may not push to"
assert_not_contains "$ERR$OUT" "[2/" "no build step ran before the check failed"
assert_not_contains "$ERR$OUT" "step-ran-marker" "the RUN command did not run"

sb_run root --context="dir://$ctx" --build-arg BASE="$BASE_REF" \
        --destination "$R3/locked/img:v1" --skip-push-permission-check
expect_rc 1 "with --skip-push-permission-check the push itself fails"
assert_contains "$ERR$OUT" "step-ran-marker" "with --skip-push-permission-check the steps run"

finish
