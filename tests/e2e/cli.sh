#!/bin/bash
# cli: the command line a user types. --help, run --help and --version; --dockerfile
# relative to the context and absolute; the default Dockerfile; --context with and without
# dir://; "--flag value" and "--flag=value"; a bare --build-arg NAME takes the value from the
# environment; --label adds a label; bad values and unknown sub-commands are usage errors.
. "$(dirname "$0")/lib.sh"

# 1. Help and version.
sb root --help
expect_rc 0 "--help exits 0"
assert_contains "$OUT" "run" "--help lists the run sub-command"
assert_match "$OUT" '[Uu]sage' "--help prints a usage line"
sb root run --help
expect_rc 0 "run --help exits 0"
for f in --context --dockerfile --destination --no-push --build-arg --target --label \
        --oci-layout-path --digest-file --image-name-with-digest-file --insecure --insecure-pull \
        --skip-tls-verify --verbosity --store; do
        assert_contains "$OUT" "$f" "run --help documents $f"
done
sb root --version
expect_rc 0 "--version exits 0"
assert_eq "$OUT" "sbuild ${SBUILD_VERSION:-0.1.0}" "--version prints 'sbuild VERSION'"
sb root frobnicate
assert_eq "$RC" 2 "an unknown sub-command is a usage error (exit 2)"
sb root run --verbosity=nonsense --no-push --context="$T"
assert_eq "$RC" 2 "a bad --verbosity value is a usage error (exit 2)"
assert_eq "$(printf '%s\n' "$ERR" | grep -c .)" 1 "a bad flag value gives one line on stderr"
sb root run --no-push --context="$T/does-not-exist"
assert_eq "$RC" 2 "a context that does not exist is a usage error (exit 2)"
assert_contains "$ERR" "$T/does-not-exist" "the error names the missing context"

# built LAYOUT FILE: prints FILE from the image in LAYOUT (tag latest), or <missing>.
built() {
        rm -rf "$T/raw"
        umoci raw unpack --rootless --image "$1:latest" "$T/raw" >/dev/null 2>&1 || {
                echo "<no image in $1>"
                return
        }
        readf "$T/raw/$2"
}

ctx=$T/ctx
mkdir -p "$ctx/sub" "$T/elsewhere"
printf 'FROM %s\nRUN echo default > /which\n' "$BASE_REF" >"$ctx/Dockerfile"
printf 'FROM %s\nRUN echo relative > /which\n' "$BASE_REF" >"$ctx/sub/Other.dockerfile"
printf 'FROM %s\nRUN echo absolute > /which\n' "$BASE_REF" >"$T/elsewhere/Abs.dockerfile"

# 2. Dockerfile selection; sb runs from $T, so a context-relative path is not cwd-relative.
sb_run root --context="dir://$ctx" --no-push --oci-layout-path="$T/o1"
expect_rc 0 "the default Dockerfile in the context is used"
assert_eq "$(built "$T/o1" which)" default "without --dockerfile, CONTEXT/Dockerfile is built"
sb_run root --context "$ctx" --dockerfile sub/Other.dockerfile --no-push --oci-layout-path "$T/o2"
expect_rc 0 "--dockerfile relative to the context, space-separated flags"
assert_eq "$(built "$T/o2" which)" relative "--dockerfile=REL is read from the context"
sb_run root --context="$ctx" --dockerfile="$T/elsewhere/Abs.dockerfile" --no-push \
        --oci-layout-path="$T/o3"
expect_rc 0 "--dockerfile with an absolute path outside the context"
assert_eq "$(built "$T/o3" which)" absolute "--dockerfile=ABS is read from that path"

# 3. Build args: bare NAME from the environment, NAME=VALUE, and the Dockerfile default.
bctx=$T/bctx
mkdir -p "$bctx"
printf 'FROM %s\nARG FOO\nARG BAR\nARG BAZ=dflt\nLABEL from=label\n%s\n' "$BASE_REF" \
        'RUN echo "$FOO/$BAR/$BAZ" > /args' >"$bctx/Dockerfile"
SB_ENV=(FOO=from-env)
sb_run root --context="$bctx" --build-arg FOO --build-arg=BAR=explicit --label team=e2e \
        --label=from=flag --no-push --oci-layout-path="$T/o4"
SB_ENV=()
expect_rc 0 "a build with build args and labels succeeds"
assert_eq "$(built "$T/o4" args)" "from-env/explicit/dflt" \
        "bare --build-arg FOO takes \$FOO; FOO=V sets V; unset args keep their default"
cfg=$(layout_config "$T/o4" latest)
assert_eq "$(jq -r '.config.Labels.team' "$cfg" 2>/dev/null)" e2e "--label adds a label"
assert_eq "$(jq -r '.config.Labels.from' "$cfg" 2>/dev/null)" flag "--label overrides a LABEL"

# 4. A registry named as localhost:PORT is spoken to over plain http without flags.
lctx=$T/lctx
mkdir -p "$lctx"
printf 'FROM localhost:%s\nRUN echo via-localhost > /l\n' "${BASE_REF#*:}" >"$lctx/Dockerfile"
sb_run root --context="$lctx" --no-push --oci-layout-path="$T/o5"
expect_rc 0 "FROM localhost:PORT/... pulls over plain http"
assert_eq "$(built "$T/o5" l)" via-localhost "the localhost-based image is built"

# 5. The example in examples/hello builds and its CMD runs (as in tools/bootstrap.sh).
if [ -n "${SBUILD_SOURCE_ROOT:-}" ] && [ -d "$SBUILD_SOURCE_ROOT/examples/hello" ]; then
        cp -r "$SBUILD_SOURCE_ROOT/examples/hello" "$T/hello"
        sb_run root --context="$T/hello" --build-arg BASE="$BASE_REF" --no-push \
                --oci-layout-path="$T/hello-oci"
        expect_rc 0 "examples/hello builds"
        if unpack_layout "$T/hello-oci" latest "$T/hello-b"; then
                cfg=$(layout_config "$T/hello-oci" latest)
                mapfile -t argv < <(jq -r '(.config.Entrypoint // []) + (.config.Cmd // []) | .[]' \
                        "$cfg")
                uid=$(awk -F: '$1 == "app" { print $3 }' "$T/hello-b/rootfs/etc/passwd")
                got=$(cd / && chroot --userspec="$uid:$uid" "$T/hello-b/rootfs" \
                        env HELLO_DIR=/srv/hello sh -c 'cd /srv/hello && exec "$@"' sh \
                        "${argv[@]}" 2>&1)
                assert_eq "$got" "hello from a RUN step
running as app in /srv/hello
This file was copied from the build context." "examples/hello's CMD prints its greeting"
        else
                fail "examples/hello's image unpacks"
        fi
fi

finish
