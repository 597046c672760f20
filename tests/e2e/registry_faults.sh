#!/bin/bash
# registry_faults: pulls and pushes through a deliberately faulty registry
# (faulty_registry.py, proxying the test registry): dropped connections, 500s and 429s are
# retried with --image-download-retry / --push-retry and fail without them; a blob with the
# wrong digest or size, a lying Docker-Content-Digest and an oversized manifest fail clearly
# and leave no unverified blob in the store; a stalled server fails within the stall
# timeout. Then --registry-mirror and --registry-map with a second local registry.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || { fail "python3 is installed"; finish; }
"$E2E_DIR/registry.sh" start "$T/mirror" "$(free_port)" >"$T/mirror.log" 2>&1 ||
        { fail "the mirror registry starts" "$(cat "$T/mirror.log")"; finish; }
MIRROR=127.0.0.1:$(sed -n 's/^  addr: 127.0.0.1://p' "$T/mirror/config.yml")

setsid python3 "$E2E_DIR/faulty_registry.py" 0 "$REG" "$T/faulty.port" </dev/null \
        >"$T/faulty.log" 2>&1 &
FAULTY_PID=$!
stop_all() {
        kill "$FAULTY_PID" 2>/dev/null
        "$E2E_DIR/registry.sh" stop "$T/mirror" >/dev/null 2>&1
        _cleanup
}
trap stop_all EXIT
for _ in $(seq 1 50); do
        [ -s "$T/faulty.port" ] && break
        sleep 0.1
done
[ -s "$T/faulty.port" ] || { fail "the faulty registry starts" "$(cat "$T/faulty.log")"; finish; }
F=127.0.0.1:$(cat "$T/faulty.port")
ok "the faulty registry listens on $F"

ctx=$T/ctx
mkdir -p "$ctx"
printf 'ARG BASE\nFROM ${BASE}\nRUN echo faults > /faults.txt\n' >"$ctx/Dockerfile"

# build NAME BASE ARGS...: a build from BASE into its own fresh store $T/store-NAME.
build() {
        local name=$1 base=$2
        shift 2
        sb root run --store="$T/store-$name" -c "$ctx" --build-arg BASE="$base" "$@"
}

# store_verified NAME: every blob in the store has the content its name says, and no
# download is left half-written in tmp/.
store_verified() {
        local s=$T/store-$1 f bad=""
        for f in "$s"/blobs/sha256/*; do
                [ -e "$f" ] || continue
                [ "$(sha256sum <"$f" | cut -d' ' -f1)" = "$(basename "$f")" ] || bad="$bad $f"
        done
        if [ -n "$bad" ]; then
                fail "$1: every blob in the store matches its digest" "mismatching:$bad"
        else
                ok "$1: every blob in the store matches its digest"
        fi
        local left
        left=$(find "$s/tmp" -maxdepth 1 -type f 2>/dev/null | head -n 5)
        assert_eq "$left" "" "$1: no partial download is left in the store's tmp/"
}

# --- retries ---------------------------------------------------------------------------------
build err500-a "$F/err500-a/base/busybox:latest" --no-push
assert_ne "$RC" 0 "two 500s fail a pull without retries"
assert_contains "$ERR" "injected 500" "the error shows the registry's message"

build err500-b "$F/err500-b/base/busybox:latest" --no-push --image-download-retry 3
expect_rc 0 "--image-download-retry 3 gets through two 500s"
assert_match "$SECS" '^([3-9]|[1-9][0-9]+)$' "the retries back off (1 s, then 2 s)"

build r429 "$F/r429-a/base/busybox:latest" --no-push --image-download-retry 1
expect_rc 0 "a 429 with Retry-After: 1 is retried"
build r429-b "$F/r429-b/base/busybox:latest" --no-push
assert_ne "$RC" 0 "a 429 without retries fails"

build drop "$F/drop-a/base/busybox:latest" --no-push --image-download-retry 2
expect_rc 0 "dropped connections are retried"
build drop-b "$F/drop-b/base/busybox:latest" --no-push
assert_ne "$RC" 0 "a dropped connection without retries fails"

build dropblob "$F/dropblob-a/base/busybox:latest" --no-push --image-download-retry 1
expect_rc 0 "a layer download cut in the middle is retried from the start"
store_verified dropblob
build dropblob-b "$F/dropblob-b/base/busybox:latest" --no-push
assert_ne "$RC" 0 "a layer download cut in the middle fails without retries"
store_verified dropblob-b

build err500-push "$REG/base/busybox:latest" -d "$F/err500-p/out/retried:v1" --push-retry 3
expect_rc 0 "--push-retry 3 gets a push through two 500s"
check "the retried push is in the registry" \
        skopeo inspect --tls-verify=false "docker://$REG/out/retried:v1"
build err500-push2 "$REG/base/busybox:latest" -d "$F/err500-q/out/notretried:v1"
assert_ne "$RC" 0 "a push that meets 500s fails without --push-retry"

# --- verification and limits -----------------------------------------------------------------
build baddigest "$F/baddigest-a/base/busybox:latest" --no-push --image-download-retry 2
assert_ne "$RC" 0 "a blob whose content does not match its digest fails the build"
assert_match "$ERR" 'digest|sha256' "the digest error is clear"
store_verified baddigest
build bigblob "$F/bigblob-a/base/busybox:latest" --no-push
assert_ne "$RC" 0 "a blob larger than its descriptor fails the build"
store_verified bigblob
build liedigest "$F/liedigest-a/base/busybox:latest" --no-push
assert_ne "$RC" 0 "a Docker-Content-Digest that does not match the manifest fails the pull"
assert_contains "$ERR" "sha256:0000000000" "the error names the digest the registry claimed"
build huge "$F/hugemanifest-a/base/busybox:latest" --no-push
assert_ne "$RC" 0 "a manifest over the size limit fails the pull"
assert_match "$ERR" 'larger than|limit' "the error says the manifest is too large"
store_verified huge

# --- a stalled server --------------------------------------------------------------------------
# REGISTRY_STALL_TIME is 30 s: less than a byte a second for that long ends the request.
build stall "$F/stall-a/base/busybox:latest" --no-push
assert_ne "$RC" 0 "a stalled registry fails the pull"
assert_match "$ERR" 'timed out|too slow' "the error says the registry stalled"
if [ "$SECS" -ge 25 ] && [ "$SECS" -le 90 ]; then
        ok "the stall is detected after the 30 s stall time ($SECS s), not hung"
else
        fail "the stall is detected after the 30 s stall time" "took $SECS s"
fi

# --- mirrors and maps --------------------------------------------------------------------------
copy_to_mirror() {
        skopeo copy -q --src-tls-verify=false --dest-tls-verify=false \
                "docker://$BASE_REF" "docker://$MIRROR/$1"
}
check "the mirror holds library/busybox" copy_to_mirror library/busybox:latest
check "the mirror holds hub/library/busybox" copy_to_mirror hub/library/busybox:latest
check "the mirror holds mapped/base/busybox" copy_to_mirror mapped/base/busybox:latest
DEAD=127.0.0.1:$(free_port)

build mirror busybox:latest --no-push --registry-mirror "$DEAD" --registry-mirror "$MIRROR"
expect_rc 0 "a Docker Hub image comes from the second mirror when the first is down"
build mirror-prefix docker.io/library/busybox:latest --no-push \
        --registry-mirror "$MIRROR/hub"
expect_rc 0 "a mirror with a path prefix serves prefix/library/busybox"
build mirror-other "$DEAD/base/busybox:latest" --no-push --registry-mirror "$MIRROR"
assert_ne "$RC" 0 "mirrors are not used for images outside Docker Hub"

build map "$DEAD/base/busybox:latest" --no-push --registry-map "$DEAD=$MIRROR/mapped"
expect_rc 0 "--registry-map FROM=TO/PATH pulls FROM's image from TO under PATH"
build map-order "$DEAD/base/busybox:latest" --no-push \
        --registry-map "$DEAD=127.0.0.1:1" --registry-map "$DEAD=$MIRROR/mapped"
expect_rc 0 "maps are tried in order"
build map-fallback "$REG/base/busybox:latest" --no-push --registry-map "$REG=$DEAD"
expect_rc 0 "when every map fails the original registry is used"
build map-push "$REG/base/busybox:latest" -d "$REG/out/notmapped:v1" \
        --registry-map "$REG=$MIRROR/mapped"
expect_rc 0 "a build with --registry-map pushes"
check "the push went to the destination itself" \
        skopeo inspect --tls-verify=false "docker://$REG/out/notmapped:v1"
if skopeo inspect --tls-verify=false "docker://$MIRROR/mapped/out/notmapped:v1" >/dev/null 2>&1
then
        fail "pushes are never redirected by --registry-map"
else
        ok "pushes are never redirected by --registry-map"
fi

finish
