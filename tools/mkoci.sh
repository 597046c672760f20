#!/bin/bash
# mkoci.sh LAYOUT TAG LAYER.tar... : write a one-image OCI image layout at LAYOUT whose
# layers are the given uncompressed tar files (bottom first), tagged TAG in index.json.
# The layers are gzipped with -n so the same input gives the same digests. The config is
# written by printf: os linux, the host's Debian architecture, PATH, Cmd ["sh"].
# Env: MKOCI_CMD (JSON array, default ["sh"]) overrides the image's Cmd.
set -euo pipefail

die() { echo "mkoci: $*" >&2; exit 1; }
[ $# -ge 3 ] || die "usage: mkoci.sh LAYOUT TAG LAYER.tar..."
layout=$1 tag=$2
shift 2

arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
case "$arch" in
i386) arch=386 ;;
armhf | armel) arch=arm ;;
esac
created=1970-01-01T00:00:00Z
cmd=${MKOCI_CMD:-'["sh"]'}

mkdir -p "$layout/blobs/sha256"
printf '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"

# put_blob FILE: move FILE into the layout under its digest and print "HEX SIZE".
put_blob() {
        local hex size
        hex=$(sha256sum "$1" | cut -d' ' -f1)
        size=$(stat -c %s "$1")
        mv -f "$1" "$layout/blobs/sha256/$hex"
        printf '%s %s\n' "$hex" "$size"
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

diff_ids= layers= history=
for tarball in "$@"; do
        [ -f "$tarball" ] || die "no such layer tar: $tarball"
        diff_id=$(sha256sum "$tarball" | cut -d' ' -f1)
        gzip -n -c "$tarball" >"$tmp/layer.gz"
        read -r hex size < <(put_blob "$tmp/layer.gz")
        diff_ids+="${diff_ids:+,}\"sha256:$diff_id\""
        layers+="${layers:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\","
        layers+="\"digest\":\"sha256:$hex\",\"size\":$size}"
        history+="${history:+,}{\"created\":\"$created\",\"created_by\":\"mkoci $(basename "$tarball")\"}"
done

printf '{"created":"%s","architecture":"%s","os":"linux","config":{"Env":["PATH=%s"],"Cmd":%s},"rootfs":{"type":"layers","diff_ids":[%s]},"history":[%s]}' \
        "$created" "$arch" "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
        "$cmd" "$diff_ids" "$history" >"$tmp/config.json"
read -r cfg_hex cfg_size < <(put_blob "$tmp/config.json")

printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
        "$cfg_hex" "$cfg_size" "$layers" >"$tmp/manifest.json"
read -r man_hex man_size < <(put_blob "$tmp/manifest.json")

printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
        "$man_hex" "$man_size" "$tag" >"$layout/index.json"
echo "sha256:$man_hex"
