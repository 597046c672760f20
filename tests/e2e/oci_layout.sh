#!/bin/bash
# oci_layout: --no-push --oci-layout-path writes a valid OCI image layout: every blob hashes
# to its name, sizes match, umoci (which checks diff_ids) and skopeo read it, and
# oci-image-tool validates it when installed. index.json's ref.name is "latest" without a
# destination and the destination's tag with one; --no-push pushes nothing.
. "$(dirname "$0")/lib.sh"

ctx=$T/ctx
mkdir -p "$ctx"
echo data >"$ctx/data.txt"
printf 'FROM %s\nCOPY data.txt /data.txt\nRUN echo ran > /ran && rm /bin/wc\n' \
        "$BASE_REF" >"$ctx/Dockerfile"

# check_layout DIR TAG: structural checks of an image layout.
check_layout() {
        local d=$1 tag=$2 f bad=0 man cfg
        assert_eq "$(jq -r .imageLayoutVersion "$d/oci-layout" 2>/dev/null)" 1.0.0 \
                "$tag: oci-layout file has imageLayoutVersion 1.0.0"
        assert_eq "$(jq -r '.schemaVersion' "$d/index.json" 2>/dev/null)" 2 \
                "$tag: index.json has schemaVersion 2"
        assert_eq "$(jq -r '[.manifests[].annotations["org.opencontainers.image.ref.name"]] | join(",")' \
                "$d/index.json" 2>/dev/null)" "$tag" "$tag: index.json names the image $tag"
        for f in "$d"/blobs/sha256/*; do
                [ "$(sha256sum "$f" | cut -d' ' -f1)" = "$(basename "$f")" ] || {
                        bad=1
                        diag "blob $f does not hash to its name"
                }
        done
        assert_eq "$bad" 0 "$tag: every blob hashes to its file name"
        man=$(jq -r '.manifests[0].digest' "$d/index.json")
        assert_eq "$(stat -c %s "$d/blobs/sha256/${man#sha256:}" 2>/dev/null)" \
                "$(jq -r '.manifests[0].size' "$d/index.json")" "$tag: the manifest size matches"
        assert_eq "$(jq -r '.manifests[0].mediaType' "$d/index.json")" \
                "$(jq -r '.mediaType' "$d/blobs/sha256/${man#sha256:}" 2>/dev/null)" \
                "$tag: index and manifest agree on the media type"
        bad=0
        while read -r dg size; do
                [ "$(stat -c %s "$d/blobs/sha256/${dg#sha256:}" 2>/dev/null)" = "$size" ] || {
                        bad=1
                        diag "blob $dg missing or not $size bytes"
                }
        done < <(jq -r '.config, .layers[] | "\(.digest) \(.size)"' "$d/blobs/sha256/${man#sha256:}")
        assert_eq "$bad" 0 "$tag: the config and every layer are present with the right size"
        cfg=$(layout_config "$d" "$tag")
        assert_eq "$(jq '.rootfs.diff_ids | length' "$cfg")" \
                "$(jq '.layers | length' "$d/blobs/sha256/${man#sha256:}")" \
                "$tag: one diff_id per layer"

        rm -rf "$T/raw-$tag"
        check "$tag: umoci raw unpack --rootless reads it (diff_ids verified)" \
                umoci raw unpack --rootless --image "$d:$tag" "$T/raw-$tag"
        assert_eq "$(readf "$T/raw-$tag/data.txt")" data "$tag: the COPY'd file is in the rootfs"
        assert_eq "$(readf "$T/raw-$tag/ran")" ran "$tag: the RUN's file is in the rootfs"
        assert_absent "$T/raw-$tag/bin/wc" "$tag: a file deleted by RUN is whited out"
        assert_exists "$T/raw-$tag/bin/cat" "$tag: other base files are still there"
        check "$tag: skopeo inspect reads it" skopeo inspect "oci:$d:$tag"
        check "$tag: skopeo copies it to a docker-archive" \
                skopeo copy -q "oci:$d:$tag" "docker-archive:$T/$tag.tar:e2e/layout:$tag"
        if command -v oci-image-tool >/dev/null; then
                check "$tag: oci-image-tool validates it" \
                        oci-image-tool validate --type image --ref "name=$tag" "$d"
        fi
}

# 1. No destination: tag "latest".
sb_run root --context="dir://$ctx" --no-push --oci-layout-path="$T/l1" --digest-file="$T/l1.digest"
expect_rc 0 "a --no-push build with --oci-layout-path succeeds"
[ "$RC" = 0 ] && check_layout "$T/l1" latest
assert_eq "$(readf "$T/l1.digest")" \
        "$(jq -r '.manifests[0].digest' "$T/l1/index.json" 2>/dev/null)" \
        "--digest-file holds the manifest digest written to the layout"

# 2. With a destination and --no-push: tag from the destination, nothing pushed.
sb_run root --context="dir://$ctx" --destination="$REG/e2e/layout-nopush:v2" --no-push \
        --oci-layout-path "$T/l2"
expect_rc 0 "--destination with --no-push succeeds"
[ "$RC" = 0 ] && check_layout "$T/l2" v2
if skopeo inspect --tls-verify=false "docker://$REG/e2e/layout-nopush:v2" >/dev/null 2>&1; then
        fail "--no-push does not push to the destination"
else
        ok "--no-push does not push to the destination"
fi

# 3. The base image's layer is carried over byte for byte, not recompressed.
if [ -n "${SBUILD_TEST_BASE_OCI:-}" ]; then
        assert_eq "$(layout_layers "$T/l1" latest | head -n1 | xargs -r basename)" \
                "$(layout_layers "$SBUILD_TEST_BASE_OCI" latest | head -n1 | xargs -r basename)" \
                "the first layer is the base image's layer blob"
fi

# 4. Two builds at once in one store (each has its own context and output).
for i in 1 2; do
        mkdir -p "$T/par$i"
        printf 'FROM %s\nRUN echo parallel-%s > /p && sleep 1\n' "$BASE_REF" "$i" >"$T/par$i/Dockerfile"
done
store=$T/store-par
(cd "$T" && exec "$SBUILD_BIN" run --store="$store" --context="$T/par1" --no-push \
        --oci-layout-path="$T/par1-oci" >"$T/par1.log" 2>&1 </dev/null) &
p1=$!
(cd "$T" && exec "$SBUILD_BIN" run --store="$store" --context="$T/par2" --no-push \
        --oci-layout-path="$T/par2-oci" >"$T/par2.log" 2>&1 </dev/null) &
p2=$!
wait "$p1"
rc1=$?
wait "$p2"
rc2=$?
assert_eq "$rc1:$rc2" 0:0 "two builds sharing a store at the same time both succeed"
for i in 1 2; do
        rm -rf "$T/par$i-raw"
        umoci raw unpack --rootless --image "$T/par$i-oci:latest" "$T/par$i-raw" >/dev/null 2>&1
        assert_eq "$(readf "$T/par$i-raw/p")" "parallel-$i" "parallel build $i made its own image"
done
[ "$rc1:$rc2" = 0:0 ] || diag "$(tail -n 5 "$T/par1.log" "$T/par2.log")"

finish
