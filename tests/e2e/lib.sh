# lib.sh: helpers for the end-to-end tests. Source it from a test script.
#
# Output is TAP: each check prints "ok N - ..." or "not ok N - ...", and finish() prints the
# plan and exits 1 if any check failed. Every script gets a private temp dir ($T) under
# $SBUILD_TEST_WORK (world-traversable, so the unprivileged user can read contexts there),
# removed on exit.
#
# Environment (exported by tests/run):
#   SBUILD_BIN                  the sbuild binary (a copy the test user can execute)
#   SBUILD_TEST_REGISTRY        host:port of a plain registry that holds base/busybox:latest
#   SBUILD_TEST_AUTH_REGISTRY   host:port of a registry with basic auth (same image)
#   SBUILD_TEST_AUTH_CREDS      user:password for it
#   SBUILD_TEST_USER            an unprivileged user with subuid/subgid ranges (may be empty)
#   SBUILD_TEST_WORK            a world-traversable scratch directory
#   SBUILD_TEST_BASE_OCI        the base image as an OCI layout (tag latest)
#   SBUILD_E2E_REQUIRED=1       missing environment is a failure, not a skip

set -uo pipefail

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_NAME=$(basename "$0" .sh)
_n=0
_failed=0

_bail_or_skip() {
        if [ "${SBUILD_E2E_REQUIRED:-0}" = 1 ]; then
                echo "1..1"
                echo "not ok 1 - $E2E_NAME: $*"
                exit 1
        fi
        echo "1..0 # SKIP $*"
        exit 0
}

[ -n "${SBUILD_BIN:-}" ] || _bail_or_skip "SBUILD_BIN is not set (run tests/run)"
[ -x "$SBUILD_BIN" ] || _bail_or_skip "SBUILD_BIN=$SBUILD_BIN is not executable"
[ -n "${SBUILD_TEST_REGISTRY:-}" ] ||
        _bail_or_skip "SBUILD_TEST_REGISTRY is not set (run tests/run)"
[ "$(id -u)" = 0 ] || _bail_or_skip "the e2e tests run as root (umoci unpack, chroot, runuser)"

REG=$SBUILD_TEST_REGISTRY
BASE_REF=$REG/base/busybox:latest
TEST_USER=${SBUILD_TEST_USER:-}

T=$(mktemp -d "${SBUILD_TEST_WORK:-/tmp}/$E2E_NAME.XXXXXX")
chmod 0755 "$T"
_cleanup() {
        # A store may hold read-only dirs made inside the user namespace: make them writable.
        chmod -R u+rwX "$T" 2>/dev/null
        rm -rf "$T" 2>/dev/null || echo "# warning: could not remove $T" >&2
}
trap _cleanup EXIT

# diag: TAP comment lines, on stderr so that `meson test --print-errorlogs` shows them.
diag() { printf '%s\n' "$@" | sed 's/^/# /' >&2; }

ok() {
        _n=$((_n + 1))
        echo "ok $_n - $1"
}

fail() {
        _n=$((_n + 1))
        _failed=$((_failed + 1))
        echo "not ok $_n - $1"
        diag "not ok $_n - $1"
        shift
        [ $# -eq 0 ] || diag "$@"
}

skip() {
        _n=$((_n + 1))
        echo "ok $_n - $1 # SKIP ${2:-}"
}

# check DESC CMD...: passes when CMD succeeds; its output is shown only when it fails.
check() {
        local desc=$1
        shift
        if "$@" >"$T/check.log" 2>&1; then ok "$desc"; else
                fail "$desc" "command failed: $*" "$(tail -n 20 "$T/check.log")"
        fi
}

assert_eq() { # GOT WANT DESC
        if [ "$1" = "$2" ]; then ok "$3"; else fail "$3" "got:  '$1'" "want: '$2'"; fi
}

assert_ne() { # GOT UNWANTED DESC
        if [ "$1" != "$2" ]; then ok "$3"; else fail "$3" "got the unwanted value '$1'"; fi
}

assert_contains() { # HAYSTACK NEEDLE DESC
        case "$1" in
        *"$2"*) ok "$3" ;;
        *) fail "$3" "'$2' not found in:" "$(printf '%s' "$1" | head -c 3000)" ;;
        esac
}

assert_not_contains() { # HAYSTACK NEEDLE DESC
        case "$1" in
        *"$2"*) fail "$3" "'$2' unexpectedly found in:" "$(printf '%s' "$1" | head -c 3000)" ;;
        *) ok "$3" ;;
        esac
}

assert_match() { # STRING EXTENDED-REGEX DESC
        # a here-string, not a pipe: grep -q stops early, and with pipefail the writer's
        # SIGPIPE would turn a match in a long text into a failure
        if grep -Eq -- "$2" <<<"$1"; then ok "$3"; else
                fail "$3" "no line matches /$2/ in:" "$(printf '%s' "$1" | head -c 3000)"
        fi
}

assert_exists() { if [ -e "$1" ] || [ -L "$1" ]; then ok "$2"; else fail "$2" "missing: $1"; fi; }
assert_absent() { if [ -e "$1" ] || [ -L "$1" ]; then fail "$2" "exists: $1"; else ok "$2"; fi; }

finish() {
        echo "1..$_n"
        [ "$_failed" -eq 0 ] || { diag "$_failed of $_n checks failed"; exit 1; }
        exit 0
}

# --- running sbuild -------------------------------------------------------------------------

# user_home: a home directory owned by the test user inside $T (its store lives under it).
user_home() {
        local h=$T/home-user
        if [ ! -d "$h" ]; then
                mkdir -p "$h/.local/share"
                chown -R "$TEST_USER": "$h"
        fi
        echo "$h"
}

# out_dir NAME MODE: a fresh directory the builder (root or the test user) may write to.
out_dir() {
        local d=$T/$1
        mkdir -p "$d"
        [ "$2" = user ] && chown "$TEST_USER": "$d"
        echo "$d"
}

# sb MODE ARGS...: run "$SBUILD_BIN ARGS..." as root (MODE root, store $T/store-root) or as
# the test user (MODE user, default store under its XDG_DATA_HOME). Sets RC, OUT (stdout) and
# ERR (stderr), and the elapsed seconds in SECS. A build that hangs is killed after 240 s.
# Extra environment for the builder can be given in SB_ENV (an array of K=V).
SB_ENV=()
sb() {
        local mode=$1
        shift
        local start=$SECONDS outf errf
        outf=$(mktemp "$T/out.XXXXXX") errf=$(mktemp "$T/err.XXXXXX")
        if [ "$mode" = user ]; then
                local h
                h=$(user_home)
                chmod 0666 "$outf" "$errf"
                (cd "$T" && timeout -k 10 240 runuser -u "$TEST_USER" -- env -i \
                        HOME="$h" XDG_DATA_HOME="$h/.local/share" \
                        PATH=/usr/sbin:/usr/bin:/sbin:/bin \
                        "${SB_ENV[@]}" "$SBUILD_BIN" "$@" >"$outf" 2>"$errf" </dev/null)
                RC=$?
        else
                (cd "$T" && timeout -k 10 240 env "${SB_ENV[@]}" "$SBUILD_BIN" "$@" \
                        >"$outf" 2>"$errf" </dev/null)
                RC=$?
        fi
        SECS=$((SECONDS - start))
        OUT=$(cat "$outf") ERR=$(cat "$errf")
        rm -f "$outf" "$errf"
}

# sb_run MODE ARGS...: "sb MODE run ARGS...", adding --store for root builds.
sb_run() {
        local mode=$1
        shift
        if [ "$mode" = user ]; then
                sb user run "$@"
        else
                sb root run --store="$T/store-root" "$@"
        fi
}

# expect_rc WANT DESC: checks the last sb exit code, showing stderr when it is wrong.
expect_rc() {
        if [ "$RC" = "$1" ]; then ok "$2"; else
                fail "$2" "exit code $RC, want $1; stderr:" "$(printf '%s' "$ERR" | tail -n 40)"
        fi
}

# --- inspecting images ----------------------------------------------------------------------

# reg_config REF FILE: the image config of REF in the test registry, as JSON.
reg_config() { skopeo inspect --tls-verify=false --config "docker://$1" >"$2"; }

reg_digest() { skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$1"; }

# unpack_layout LAYOUT TAG DIR: unpack with umoci as root (owners kept) into DIR/rootfs.
unpack_layout() {
        if ! umoci unpack --image "$1:$2" "$3" >"$T/umoci.log" 2>&1; then
                cat "$T/umoci.log" >&2
                return 1
        fi
}

# pull_unpack REF DIR: copy REF from the registry to DIR/oci and unpack it into DIR/bundle.
pull_unpack() {
        mkdir -p "$2"
        skopeo copy -q --src-tls-verify=false "docker://$1" "oci:$2/oci:img" >/dev/null &&
                unpack_layout "$2/oci" img "$2/bundle"
}

# owner PATH: "uid:gid" of PATH (not following symlinks); mode PATH: octal permissions.
owner() { stat -c '%u:%g' -- "$1" 2>/dev/null || echo missing; }
mode() { stat -c '%a' -- "$1" 2>/dev/null || echo missing; }
readf() { cat -- "$1" 2>/dev/null || echo "<missing $1>"; }

# free_port: a loopback TCP port nobody listens on right now.
free_port() {
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# layout_layers LAYOUT TAG: the layer blob paths of the image TAG in LAYOUT, bottom first.
layout_layers() {
        local man
        man=$(jq -r --arg t "$2" '.manifests[] |
                select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest' \
                "$1/index.json" | head -n1)
        jq -r '.layers[].digest' "$1/blobs/sha256/${man#sha256:}" |
                sed "s|^sha256:|$1/blobs/sha256/|"
}

# need_user DESC: true when the unprivileged test user is available; else records a skip.
need_user() {
        if [ -n "$TEST_USER" ] && id "$TEST_USER" >/dev/null 2>&1; then return 0; fi
        if [ "${SBUILD_E2E_REQUIRED:-0}" = 1 ]; then
                fail "$1" "SBUILD_TEST_USER is not set or does not exist"
        else
                skip "$1" "no unprivileged test user"
        fi
        return 1
}

# layout_config LAYOUT TAG: path of the config blob of image TAG in LAYOUT.
layout_config() {
        local man cfg
        man=$(jq -r --arg t "$2" '.manifests[] |
                select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest' \
                "$1/index.json" 2>/dev/null | head -n1)
        [ -n "$man" ] || { echo "$1/no-such-tag-$2"; return 1; }
        cfg=$(jq -r '.config.digest' "$1/blobs/sha256/${man#sha256:}")
        echo "$1/blobs/sha256/${cfg#sha256:}"
}
