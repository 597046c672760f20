#!/bin/bash
# bench/push_pull.sh: push and pull an image of many layers through a loopback docker-registry,
# sbuild side by side with skopeo. Not a test: it prints a table.
#
#   sudo bench/push_pull.sh [RUNS] [LAYERS] [LAYER_MIB]     (defaults 3, 20, 8)
#
# The image is made by hand as an OCI layout: LAYERS layers, each one file of LAYER_MIB MiB of
# random data (gzip cannot shrink it, so bytes on the wire = bytes on disk). Each run starts
# from an empty registry (restarted between runs, outside the timing) and an empty store or
# destination directory, so nothing is skipped as already present.
#   push   sbuild push LAYOUT:img REF     (stores the manifest and config in a fresh store; the
#                                          agent's workers check each layer against its digest
#                                          and upload it from the layout)
#          skopeo copy oci:LAYOUT:img docker://REF
#   pull   sbuild's pull phase: the "pulled REF (N layers, ...) S.Ss" time sbuild run prints on
#          stderr (manifest, config and layers into the store, as skopeo's copy does)
#          skopeo copy docker://REF oci:DIR:img
#   run    the whole sbuild run of "FROM REF" with --no-push into a fresh store (there is no
#          pull-only command: this also plans, starts the builder and extracts the layers), for
#          reference only: skopeo does no such work
# Figures are medians of RUNS runs: seconds, MiB/s of image data, and peak RSS of the whole
# process tree (bench/measure.py); the pull row's peak is that of its whole run.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-3}
n_layers=${2:-20}
layer_mib=${3:-8}
sbuild=${SBUILD_BIN:-$src/_build/cli/sbuild}
[ -x "$sbuild" ] || { echo "bench: build sbuild first (meson setup _build && ninja -C _build)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "bench: run as root (sbuild run's builder, the registry)" >&2; exit 1; }
for tool in skopeo docker-registry python3 curl; do
        command -v "$tool" >/dev/null || { echo "bench: $tool is missing" >&2; exit 1; }
done

work=$(mktemp -d /tmp/sbuild-pushpull.XXXXXX)
chmod 0755 "$work" # a root-mode builder is not root outside: it must reach the store
trap '"$src/tests/e2e/registry.sh" stop "$work/reg" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
reg=127.0.0.1:$port

# The image: an OCI layout written with the python standard library.
python3 - "$work/layout" "$n_layers" "$layer_mib" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
out, n, mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
blobs = os.path.join(out, "blobs", "sha256")
os.makedirs(blobs)
def put(data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, d), "wb") as f:
        f.write(data)
    return "sha256:" + d, len(data)
layers, diff_ids = [], []
for i in range(n):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        payload = os.urandom(mib << 20)
        info = tarfile.TarInfo(f"data/layer-{i:03d}.bin")
        info.size, info.mtime = len(payload), 0
        t.addfile(info, io.BytesIO(payload))
    raw = raw.getvalue()
    diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
    digest, size = put(gzip.compress(raw, compresslevel=1, mtime=0))
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                   "digest": digest, "size": size})
config = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/true"]},
          "rootfs": {"type": "layers", "diff_ids": diff_ids},
          "history": [{"created_by": f"layer {i}"} for i in range(n)]}
cd, cs = put(json.dumps(config).encode())
manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": cd, "size": cs}, "layers": layers}
md, ms = put(json.dumps(manifest).encode())
index = {"schemaVersion": 2, "manifests": [{
    "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms,
    "annotations": {"org.opencontainers.image.ref.name": "img"}}]}
with open(os.path.join(out, "index.json"), "w") as f:
    json.dump(index, f)
with open(os.path.join(out, "oci-layout"), "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')
PY
image_mib=$(du -sm --apparent-size "$work/layout/blobs" | cut -f1)

reset_registry() {
        "$src/tests/e2e/registry.sh" stop "$work/reg" >/dev/null 2>&1 || true
        rm -rf "$work/reg"
        "$src/tests/e2e/registry.sh" start "$work/reg" "$port" >/dev/null
}

# once TOOL-COMMAND: one measured run ("SECONDS RSS_MIB").
once() { python3 "$src/bench/measure.py" 1 -- "$@"; }

# median of "S R" lines on stdin: "S R".
median() {
        python3 -c 'import statistics, sys
rows = [l.split() for l in sys.stdin if l.strip()]
print(f"{statistics.median(float(r[0]) for r in rows):.2f}",
      f"{statistics.median(float(r[1]) for r in rows):.0f}")'
}

declare -A result
for ((run = 1; run <= runs; run++)); do
        # push: each tool into an empty registry
        reset_registry
        rm -rf "$work/store"
        result[sb_push]+="$(once "$sbuild" push --store="$work/store" "$work/layout:img" \
                "$reg/bench/img:sb")"$'\n'
        reset_registry
        result[sk_push]+="$(once skopeo copy -q --dest-tls-verify=false "oci:$work/layout:img" \
                "docker://$reg/bench/img:sk")"$'\n'
        # pull: the image skopeo pushed (the same manifest), into an empty store or directory
        mkdir -p "$work/ctx"
        printf 'FROM %s/bench/img:sk\n' "$reg" >"$work/ctx/Dockerfile"
        rm -rf "$work/store-pull"
        : >"$work/run.err"
        whole=$(once sh -c 'exec "$@" 2>"$0"' "$work/run.err" "$sbuild" run --context="$work/ctx" \
                --no-push --store="$work/store-pull")
        result[sb_run]+="$whole"$'\n'
        pulled=$(sed -n 's/.*pulled .* \([0-9][0-9.]*\)s$/\1/p' "$work/run.err" | tail -n 1)
        if [ -z "$pulled" ]; then
                echo "bench: no 'pulled' line from sbuild run:" >&2
                cat "$work/run.err" >&2
                exit 1
        fi
        result[sb_pull]+="$pulled ${whole#* }"$'\n'
        rm -rf "$work/pulled"
        result[sk_pull]+="$(once skopeo copy -q --src-tls-verify=false \
                "docker://$reg/bench/img:sk" "oci:$work/pulled:img")"$'\n'
done

echo "image: $n_layers layers x $layer_mib MiB random data ($image_mib MiB of blobs)," \
        "$runs runs, medians"
echo "pull: sbuild's pull phase alone (to 0.1 s, as it prints it);" \
        "run: sbuild's whole FROM-only build"
printf '%-6s %-22s %10s %10s %10s\n' op tool seconds "MiB/s" "peak MiB"
for op in push pull run; do
        for tool in sb sk; do
                [ -n "${result[${tool}_$op]:-}" ] || continue
                read -r secs rss <<<"$(printf '%s' "${result[${tool}_$op]}" | median)"
                name=sbuild
                [ "$tool" = sk ] && name=skopeo
                [ "$op" = run ] && name="sbuild (whole build)"
                printf '%-6s %-22s %10s %10s %10s\n' "$op" "$name" "$secs" \
                        "$(python3 -c "print(f'{$image_mib/max($secs,0.01):.0f}')")" "$rss"
        done
done
