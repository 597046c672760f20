#!/bin/bash
# tar_push: --tar-path writes a docker-archive that skopeo reads (diff_ids checked) and that
# unpacks to the same files as the --oci-layout-path image; `sbuild push` pushes that tarball
# and an OCI layout to the test registry with the same config; bad inputs fail with one clear
# line and exit 1 (2 for usage).
. "$(dirname "$0")/lib.sh"

ctx=$T/ctx
mkdir -p "$ctx"
echo data >"$ctx/data.txt"
printf 'FROM %s\nCOPY data.txt /data.txt\nRUN echo ran > /ran && rm /bin/wc\n' \
        "$BASE_REF" >"$ctx/Dockerfile"
dest=$REG/e2e/tarpush:v1

sb_run root --context="$ctx" --no-push --destination="$dest" --tar-path="$T/img.tar" \
        --oci-layout-path="$T/layout" --digest-file="$T/built.digest"
expect_rc 0 "a --no-push build with --tar-path succeeds"
assert_exists "$T/img.tar" "--tar-path wrote the archive"
if reg_digest "$dest" >/dev/null 2>&1; then
        fail "--no-push pushed nothing" "$dest is in the registry"
else
        ok "--no-push pushed nothing"
fi

mj=$(tar -xOf "$T/img.tar" manifest.json 2>/dev/null)
assert_eq "$(jq -r '.[0].RepoTags | join(",")' <<<"$mj" 2>/dev/null)" "$dest" \
        "manifest.json's RepoTags is the destination"
cfg_name=$(jq -r '.[0].Config' <<<"$mj" 2>/dev/null)
layout_cfg=$(layout_config "$T/layout" v1)
assert_eq "${cfg_name%.json}" "$(basename "$layout_cfg")" \
        "the archive's config is the layout's config (<hex>.json)"
assert_eq "$(jq '.[0].Layers | length' <<<"$mj" 2>/dev/null)" \
        "$(jq '.rootfs.diff_ids | length' "$layout_cfg" 2>/dev/null)" "one layer per diff_id"
assert_contains "$(tar -tf "$T/img.tar")" repositories "the legacy repositories file is there"

check "skopeo copies the archive to an OCI layout (diff_ids verified)" \
        skopeo copy -q "docker-archive:$T/img.tar" "oci:$T/from-tar:img"
check "umoci raw unpack reads the copy" \
        umoci raw unpack --rootless --image "$T/from-tar:img" "$T/raw-tar"
check "umoci raw unpack reads the --oci-layout-path image" \
        umoci raw unpack --rootless --image "$T/layout:v1" "$T/raw-layout"
assert_eq "$(readf "$T/raw-tar/data.txt")" data "the COPY'd file is in the archive's rootfs"
assert_absent "$T/raw-tar/bin/wc" "a file deleted by RUN stays deleted"
check "the archive and the layout unpack to the same files" \
        diff -r --no-dereference "$T/raw-tar" "$T/raw-layout"
check "skopeo reads the archive by its tag" \
        skopeo inspect "docker-archive:$T/img.tar:$dest"

# sbuild push of the archive, into a fresh store so that everything is imported and checked.
sb root push --store="$T/store-push" --digest-file="$T/push-tar.digest" "$T/img.tar" \
        "$REG/e2e/tarpush:from-tar"
expect_rc 0 "sbuild push of the archive succeeds"
want_cfg="sha256:$(basename "$layout_cfg")"
raw=$(skopeo inspect --tls-verify=false --raw "docker://$REG/e2e/tarpush:from-tar" 2>/dev/null)
assert_eq "$(jq -r .config.digest <<<"$raw" 2>/dev/null)" "$want_cfg" \
        "the pushed archive has the built config"
assert_eq "$(readf "$T/push-tar.digest")" "$(reg_digest "$REG/e2e/tarpush:from-tar")" \
        "--digest-file holds the digest the registry has"
rm -rf "$T/pulled"
check "the pushed archive pulls and unpacks" pull_unpack "$REG/e2e/tarpush:from-tar" "$T/pulled"
assert_eq "$(readf "$T/pulled/bundle/rootfs/ran")" ran "the pushed image has the RUN's file"

# sbuild push of the layout: the same manifest bytes reach the registry.
sb root push --store="$T/store-push2" "$T/layout:v1" "$REG/e2e/tarpush:from-layout"
expect_rc 0 "sbuild push of an OCI layout (DIR:NAME) succeeds"
raw=$(skopeo inspect --tls-verify=false --raw "docker://$REG/e2e/tarpush:from-layout" 2>/dev/null)
assert_eq "$(jq -r .config.digest <<<"$raw" 2>/dev/null)" "$want_cfg" \
        "the pushed layout has the built config"
assert_eq "$(reg_digest "$REG/e2e/tarpush:from-layout")" \
        "$(jq -r '.manifests[0].digest' "$T/layout/index.json")" \
        "the pushed layout keeps its manifest digest"

# A docker-archive skopeo wrote (plain layers, legacy symlinks) pushes too.
check "skopeo writes a docker-archive of the layout" \
        skopeo copy -q "oci:$T/layout:v1" "docker-archive:$T/sk.tar:e2e/sk:v1"
sb root push --store="$T/store-push3" "$T/sk.tar" "$REG/e2e/tarpush:from-skopeo"
expect_rc 0 "sbuild push of a skopeo docker-archive succeeds"
raw=$(skopeo inspect --tls-verify=false --raw "docker://$REG/e2e/tarpush:from-skopeo" 2>/dev/null)
assert_eq "$(jq -r .config.digest <<<"$raw" 2>/dev/null)" "$want_cfg" \
        "the pushed skopeo archive has the built config"

# one_line DESC: the last sb run's stderr is a single line.
one_line() {
        assert_eq "$(printf '%s\n' "$ERR" | grep -c .)" 1 "$1"
}

sb root push --store="$T/store-bad" "$T/missing.tar" "$REG/e2e/tarpush:bad"
expect_rc 1 "a missing file fails with exit 1"
assert_contains "$ERR" "missing.tar" "the error names the missing file"
one_line "the error is one line"

echo "not an image" >"$T/notes.txt"
sb root push --store="$T/store-bad" "$T/notes.txt" "$REG/e2e/tarpush:bad"
expect_rc 1 "a file that is not an image fails with exit 1"
assert_contains "$ERR" "not a docker archive" "the error says it is not a docker archive"
one_line "the error is one line"

mkdir -p "$T/empty-dir"
sb root push --store="$T/store-bad" "$T/empty-dir" "$REG/e2e/tarpush:bad"
expect_rc 1 "a directory that is not a layout fails with exit 1"
assert_contains "$ERR" "not an OCI image layout" "the error says it is not a layout"

cp -a "$T/layout" "$T/corrupt"
big=$(ls -S "$T/corrupt/blobs/sha256/" | head -n1)
size=$(stat -c %s "$T/corrupt/blobs/sha256/$big")
printf 'XXXXXXXX' | dd of="$T/corrupt/blobs/sha256/$big" bs=1 seek=$((size / 2)) conv=notrunc \
        status=none
sb root push --store="$T/store-bad" "$T/corrupt:v1" "$REG/e2e/tarpush:bad"
expect_rc 1 "a layout with a corrupted blob fails with exit 1"
assert_contains "$ERR" "sha256:$big" "the error names the corrupted blob"
one_line "the error is one line"
if reg_digest "$REG/e2e/tarpush:bad" >/dev/null 2>&1; then
        fail "nothing is pushed from bad input"
else
        ok "nothing is pushed from bad input"
fi
if [ -e "$T/store-bad/blobs/sha256/$big" ]; then
        fail "the corrupted layer is not kept in the store"
else
        ok "the corrupted layer is not kept in the store"
fi

# A layout's layers go straight from the layout to the registry: the store keeps only the
# manifest and config.
sb root push --store="$T/store-direct" --insecure-registry="$REG" --push-retry=2 \
        "$T/layout:v1" "$REG/e2e/tarpush:direct"
expect_rc 0 "sbuild push takes --insecure-registry and --push-retry"
assert_eq "$(reg_digest "$REG/e2e/tarpush:direct")" \
        "$(jq -r '.manifests[0].digest' "$T/layout/index.json")" \
        "the layout pushed with per-registry flags keeps its manifest digest"
assert_eq "$(ls "$T/store-direct/blobs/sha256" | wc -l)" 2 \
        "a layout push stores only the manifest and config, not the layers"
sb root push --push-retry=many "$T/layout:v1" "$REG/e2e/tarpush:bad"
expect_rc 2 "a --push-retry that is not a number is a usage error"
sb root push --registry-client-cert="$REG=cert.pem" "$T/layout:v1" "$REG/e2e/tarpush:bad"
expect_rc 2 "a --registry-client-cert without a key is a usage error"
assert_contains "$ERR" "HOST=CERT,KEY" "the error shows the expected form"
sb root push --registry-certificate="$REG" "$T/layout:v1" "$REG/e2e/tarpush:bad"
expect_rc 2 "a --registry-certificate without a file is a usage error"

sb root push "$T/img.tar"
expect_rc 2 "push without a REF is a usage error"
sb root push --no-such-flag "$T/img.tar" "$REG/e2e/tarpush:bad"
expect_rc 2 "an unknown flag is a usage error"
sb root push "$T/img.tar" "$REG/Bad/Ref:v1"
expect_rc 2 "an invalid reference is a usage error"
sb root push --help
expect_rc 0 "push --help succeeds"
assert_contains "$OUT" "LAYOUT-OR-TAR REF" "push --help describes its input"
sb root --help
assert_contains "$OUT" "push" "sbuild --help lists push"

finish
