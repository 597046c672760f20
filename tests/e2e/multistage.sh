#!/bin/bash
# multistage: COPY --from a named stage and a numeric stage index, --target stopping at an
# earlier stage (later stages, even broken ones, are not built), and FROM scratch giving an
# image with only the copied files. Outputs go to OCI layouts (--no-push).
. "$(dirname "$0")/lib.sh"

ctx=$T/ctx
mkdir -p "$ctx"
echo "from context" >"$ctx/local.txt"
cat >"$ctx/Dockerfile" <<DF
FROM $BASE_REF AS builder
RUN mkdir -p /out && echo built-in-a > /out/artifact && echo only-in-a > /only-a

FROM $BASE_REF
COPY --from=builder /out/artifact /artifact
RUN test ! -e /only-a && echo "final stage does not see stage A's files" > /isolated
COPY --from=0 /only-a /from-index
DF
cat >"$ctx/Dockerfile.target" <<DF
FROM $BASE_REF AS builder
RUN echo target-stage > /marker
LABEL which=builder

FROM $BASE_REF AS broken
RUN echo "this stage must not run" && exit 7

FROM builder
LABEL which=final
RUN echo final > /final
DF
cat >"$ctx/Dockerfile.scratch" <<DF
FROM $BASE_REF AS build
RUN mkdir -p /o/sub && echo s > /o/s.txt && echo t > /o/sub/t.txt

FROM scratch
COPY --from=build /o/ /
COPY local.txt /local.txt
CMD ["/nothing-to-run"]
DF

# 1. Two stages, COPY --from by name and by index.
sb_run root --context="$ctx" --no-push --oci-layout-path="$T/ms"
expect_rc 0 "the two-stage build succeeds"
if unpack_layout "$T/ms" latest "$T/ms-b"; then
        r=$T/ms-b/rootfs
        assert_eq "$(readf "$r/artifact")" built-in-a "COPY --from=builder copies stage A's file"
        assert_eq "$(readf "$r/from-index")" only-in-a "COPY --from=0 copies by stage index"
        assert_exists "$r/isolated" "the final stage's rootfs does not contain stage A's files"
        assert_absent "$r/only-a" "stage A's files are not in the final image"
        assert_absent "$r/out" "stage A's directories are not in the final image"
        assert_exists "$r/bin/busybox" "the final image has the base's files"
else
        fail "the two-stage image unpacks with umoci"
fi

# 2. --target builder builds stage A only; the broken stage after it never runs.
sb_run root --context="$ctx" --dockerfile=Dockerfile.target --target builder --no-push \
        --oci-layout-path="$T/tg"
expect_rc 0 "--target stops at the named stage"
assert_not_contains "$OUT$ERR" "this stage must not run" "--target does not run later stages"
if unpack_layout "$T/tg" latest "$T/tg-b"; then
        assert_eq "$(readf "$T/tg-b/rootfs/marker")" target-stage \
                "--target image has the stage's file"
        assert_absent "$T/tg-b/rootfs/final" "--target image lacks files of later stages"
        assert_eq "$(jq -r '.config.Labels.which' "$(layout_config "$T/tg" latest)" 2>/dev/null)" \
                builder "--target image has the stage's label, not the later stage's"
else
        fail "the --target image unpacks with umoci"
fi

# 3. --target names the stage to build: the broken stage really runs and fails.
sb_run root --context="$ctx" --dockerfile=Dockerfile.target --target=broken --no-push \
        --oci-layout-path="$T/br"
assert_eq "$RC" 1 "--target=broken runs the failing stage and fails with exit 1"

# 4. FROM scratch holds only what was copied.
sb_run root --context="$ctx" --dockerfile=Dockerfile.scratch --no-push --oci-layout-path="$T/sc"
expect_rc 0 "the FROM scratch build succeeds"
if unpack_layout "$T/sc" latest "$T/sc-b"; then
        assert_eq "$(cd "$T/sc-b/rootfs" && find . -mindepth 1 | sort | tr '\n' ' ')" \
                "./local.txt ./s.txt ./sub ./sub/t.txt " \
                "FROM scratch image has only the copied files"
        assert_eq "$(readf "$T/sc-b/rootfs/sub/t.txt")" t "COPY --from=build /o/ / copies a tree"
else
        fail "the FROM scratch image unpacks with umoci"
fi
cfgf=$(layout_config "$T/sc" latest)
assert_eq "$(jq -c '.config.Cmd' "$cfgf" 2>/dev/null)" '["/nothing-to-run"]' \
        "FROM scratch keeps CMD"
assert_eq "$(jq '.rootfs.diff_ids | length' "$cfgf" 2>/dev/null)" 2 \
        "FROM scratch image has exactly its two COPY layers"

finish
