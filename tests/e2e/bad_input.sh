#!/bin/bash
# bad_input: what a user sees when things go wrong. Dockerfiles that do not parse (exit 2,
# "Dockerfile:N"), a failing RUN (exit 1, "error: Dockerfile:N:"), a missing base image, an
# unreachable registry (quickly), an unknown flag (exit 2, one line), and hostile base layers
# ("../" entries, absolute and relative symlink escapes, a hardlink to a host file): those
# builds fail, create nothing outside the store, leave no extracted layer behind, and the
# same store still builds a good image afterwards.
. "$(dirname "$0")/lib.sh"

store=$T/store-root # the store sb_run uses for root
rand=$$-$RANDOM

# df NAME CONTENT: a context dir holding a Dockerfile.
df() {
        mkdir -p "$T/$1"
        printf '%s\n' "$2" >"$T/$1/Dockerfile"
        echo "$T/$1"
}

# 1. Unknown instruction on line 3.
c=$(df unknown "FROM $BASE_REF
RUN true
FROBNICATE x")
sb_run root --context="$c" --no-push
assert_eq "$RC" 2 "an unknown instruction is a usage error (exit 2)"
assert_contains "$ERR" "Dockerfile:3" "the error names the line of the unknown instruction"
assert_match "$ERR" "[Ff][Rr][Oo][Bb][Nn][Ii][Cc][Aa][Tt][Ee]" \
        "the error names the unknown instruction"
assert_not_contains "$ERR" "[1/" "a Dockerfile that does not parse runs no step"

# 2. FROM without an argument on line 1.
c=$(df noarg "FROM
RUN true")
sb_run root --context="$c" --no-push
assert_eq "$RC" 2 "FROM without an image is a usage error (exit 2)"
assert_contains "$ERR" "Dockerfile:1" "the error names line 1"

# 3. A RUN that exits 3 (line 3, after a comment line).
c=$(df runfail "FROM $BASE_REF
# a comment
RUN echo before-failure && exit 3
RUN echo never-reached")
sb_run root --context="$c" --no-push
assert_eq "$RC" 1 "a failing RUN fails the build with exit 1"
assert_contains "$ERR" "error: Dockerfile:3:" "the error names the RUN's line"
assert_match "$ERR" '(exit|status|code)[^0-9]{0,20}3' "the error gives the exit status 3"
assert_contains "$OUT$ERR" "before-failure" "the failing command's output is shown"
assert_not_contains "$OUT$ERR" "never-reached" "steps after the failure do not run"

# 4. A base image that does not exist.
c=$(df nobase "FROM $REG/e2e/does-not-exist:nope
RUN true")
sb_run root --context="$c" --no-push
assert_eq "$RC" 1 "a missing base image fails the build with exit 1"
assert_contains "$ERR" "e2e/does-not-exist" "the error names the missing image"

# 5. A registry that is not there (a closed loopback port).
port=$(free_port)
c=$(df noreg "FROM 127.0.0.1:$port/e2e/x:y
RUN true")
sb_run root --context="$c" --no-push
assert_ne "$RC" 0 "an unreachable registry fails the build"
assert_contains "$ERR" "127.0.0.1:$port" "the error names the unreachable registry"
if [ "$SECS" -lt 30 ]; then ok "an unreachable registry fails within 30 s (${SECS}s)"; else
        fail "an unreachable registry fails within 30 s" "took ${SECS}s"
fi

# 6. An unknown flag.
sb root run --frobnicate --context="$c"
assert_eq "$RC" 2 "an unknown flag is a usage error (exit 2)"
assert_eq "$(printf '%s\n' "$ERR" | grep -c .)" 1 "an unknown flag gives one line on stderr"
assert_contains "$ERR" "--frobnicate" "the error names the unknown flag"

# 7. Hostile base layers, each on top of the good base layer, pushed as e2e/evil-NAME.
base_oci=${SBUILD_TEST_BASE_OCI:-}
if [ -z "$base_oci" ]; then
        base_oci=$T/base-oci
        "$E2E_DIR/../../tools/mkbase.sh" "$base_oci" >/dev/null
fi
gunzip -c "$(layout_layers "$base_oci" latest | head -n1)" >"$T/base.tar"
base_diff=$(sha256sum "$T/base.tar" | cut -d' ' -f1)

python3 - "$T" "$rand" <<'PY'
import io, sys, tarfile
out, rand = sys.argv[1], sys.argv[2]

def layer(name, entries):
    with tarfile.open(f"{out}/evil-{name}.tar", "w", format=tarfile.GNU_FORMAT) as tf:
        for kind, path, arg in entries:
            ti = tarfile.TarInfo(path)
            ti.mtime = 0
            if kind == "file":
                data = arg.encode()
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
            elif kind == "sym":
                ti.type = tarfile.SYMTYPE
                ti.linkname = arg
                tf.addfile(ti)
            elif kind == "hard":
                ti.type = tarfile.LNKTYPE
                ti.linkname = arg
                tf.addfile(ti)

up = "../" * 12
layer("dotdot", [("file", "ok.txt", "fine"),
                 ("file", f"../escape-{rand}", "pwned"),
                 ("file", f"{up}tmp/sbuild-pwned-dotdot-{rand}", "pwned")])
layer("abslink", [("sym", "link", "/"),
                  ("file", f"link/tmp/sbuild-pwned-abs-{rand}", "pwned")])
layer("rellink", [("sym", "rel", f"{up}tmp"),
                  ("file", f"rel/sbuild-pwned-rel-{rand}", "pwned")])
layer("hardlink", [("hard", "hl", f"{up}etc/passwd")])
PY

for evil in dotdot abslink rellink hardlink; do
        rm -rf "$T/evil-oci"
        "$E2E_DIR/../../tools/mkoci.sh" "$T/evil-oci" latest "$T/base.tar" "$T/evil-$evil.tar" \
                >/dev/null
        skopeo copy -q --dest-tls-verify=false "oci:$T/evil-oci:latest" \
                "docker://$REG/e2e/evil-$evil:latest" >/dev/null ||
                fail "$evil: the hostile image is pushed to the test registry"
        c=$(df "evil-$evil" "FROM $REG/e2e/evil-$evil:latest
RUN echo this-step-must-not-run")
        sb_run root --context="$c" --no-push --oci-layout-path="$T/evil-out-$evil"
        assert_eq "$RC" 1 "$evil: a base layer with an escaping entry fails the build (exit 1)"
        assert_match "$ERR" '^error: ' "$evil: stderr has an error: line"
        # The message must point at the culprit: the entry's name or the layer's digest.
        case $evil in
        dotdot) culprit='escape|\.\./' ;;
        abslink) culprit='(^|[^a-z])link([^a-z]|$)' ;;
        rellink) culprit='(^|[^a-z])rel([^a-z]|$)' ;;
        hardlink) culprit='hl|hard ?link|passwd' ;;
        esac
        evil_blob=$(layout_layers "$T/evil-oci" latest | tail -n1 | xargs basename)
        evil_diff=$(sha256sum "$T/evil-$evil.tar" | cut -d' ' -f1)
        assert_match "$ERR" "$culprit|${evil_blob:0:12}|${evil_diff:0:12}" \
                "$evil: the error names the bad entry or the layer"
        assert_not_contains "$OUT$ERR" "this-step-must-not-run" "$evil: no step runs on it"

        chain=$(printf 'sha256:%s sha256:%s' "$base_diff" "$evil_diff" | sha256sum | cut -d' ' -f1)
        assert_eq "$(find "$store" -path '*layers*' \( -name "*$chain*" -o -name "*$evil_diff*" \) \
                2>/dev/null | head -n3)" "" "$evil: the store keeps no extracted dir for the layer"
done
assert_eq "$(find "$T" /tmp -maxdepth 8 -name "*escape-$rand*" 2>/dev/null)" "" \
        "dotdot: no ../escape file was written next to the store"
for p in /tmp/sbuild-pwned-dotdot-$rand /tmp/sbuild-pwned-abs-$rand /tmp/sbuild-pwned-rel-$rand; do
        assert_absent "$p" "no file was written outside the store: $p"
done
assert_eq "$(find "$store" -samefile /etc/passwd 2>/dev/null | head -n1)" "" \
        "hardlink: the store holds no hard link to the host's /etc/passwd"

assert_eq "$(ls "$store/layers" 2>/dev/null | tr '\n' ' ')" "$base_diff " \
        "after the failed builds the store's layers/ holds only the good base layer"

# 8. A build killed with SIGKILL in the middle of a RUN: its step processes go away with it.
nap=$((4000 + RANDOM % 1000))
c=$(df killed "FROM $BASE_REF
RUN echo step-started && sleep $nap")
(cd "$T" && exec "$SBUILD_BIN" run --store="$store" --context="$c" --no-push \
        >"$T/killed.out" 2>&1 </dev/null) &
kpid=$!
for _ in $(seq 1 100); do
        grep -q step-started "$T/killed.out" 2>/dev/null && break
        sleep 0.1
done
assert_contains "$(cat "$T/killed.out")" step-started "the build to be killed reaches its RUN step"
kill -KILL "$kpid" 2>/dev/null
wait "$kpid" 2>/dev/null
left=
for _ in $(seq 1 50); do
        left=$(pgrep -f "^sleep $nap\$" || true)
        [ -n "$left" ] || break
        sleep 0.1
done
assert_eq "$left" "" "killing sbuild also ends its RUN step's processes (within 5 s)"
[ -z "$left" ] || kill $left 2>/dev/null

# 9. After all these failures the same store still builds a good image.
c=$(df good "FROM $BASE_REF
RUN echo still-works > /ok")
sb_run root --context="$c" --no-push --oci-layout-path="$T/good"
expect_rc 0 "a good build succeeds in the same store after the failures"
rm -rf "$T/good-raw"
if umoci raw unpack --rootless --image "$T/good:latest" "$T/good-raw" >/dev/null 2>&1; then
        assert_eq "$(readf "$T/good-raw/ok")" still-works "the good build's image is correct"
else
        fail "the good build's image unpacks with umoci"
fi

finish
