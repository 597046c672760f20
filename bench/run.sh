#!/bin/bash
# bench/run.sh: layer cost against image size, sbuild side by side with buildah (if installed).
#
#   sudo bench/run.sh [RUNS]        (default 3 runs per figure; medians are printed)
#
# Scenarios, each built from the same busybox base served by a loopback registry:
#   big-layer-N   one RUN writes N MiB: time and peak memory of making the layer (sbuild's
#                 must not grow with N: the layer is streamed tar -> gzip -> sha256)
#   small-change  a base with FILES small files, then RUN touches one file: the cost of the
#                 step's snapshot must not grow with the base (sbuild reads only the upper dir)
# Every build is a fresh one (new store, no cache), so the figures include the base pull.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-3}
sbuild=${SBUILD_BIN:-$src/_build/cli/sbuild}
[ -x "$sbuild" ] || { echo "bench: build sbuild first (meson setup _build && ninja -C _build)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "bench: run as root (buildah and the registry fixture)" >&2; exit 1; }

work=$(mktemp -d /tmp/sbuild-bench.XXXXXX)
chmod 0755 "$work" # a root-mode builder is not root outside: it must reach the store
trap '"$src/tests/e2e/registry.sh" stop "$work/reg" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
"$src/tools/mkbase.sh" "$work/base" >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$src/tests/e2e/registry.sh" start "$work/reg" "$port"
skopeo copy -q --dest-tls-verify=false "oci:$work/base:latest" "docker://127.0.0.1:$port/base/busybox:latest"
base=127.0.0.1:$port/base/busybox:latest

have_buildah=0
command -v buildah >/dev/null && have_buildah=1

measure() { python3 "$src/bench/measure.py" "$runs" -- "$@"; }

sbuild_build() { # CTX
        local store=$work/store
        rm -rf "$store"
        measure bash -c "rm -rf '$store'; '$sbuild' run --context='$1' --no-push --store='$store'"
}

buildah_build() { # CTX
        local root=$work/buildah
        measure bash -c "rm -rf '$root'; buildah --root '$root/root' --runroot '$root/run' \
                --storage-driver vfs bud -q --isolation chroot --tls-verify=false --layers \
                -f '$1/Dockerfile' '$1'"
}

printf '%-22s %12s %12s %14s %14s %8s\n' scenario "sbuild s" "sbuild MiB" "buildah s" "buildah MiB" "ratio"
row() { # NAME CTX
        local s b=("-" "-") ratio="-"
        read -r -a s <<<"$(sbuild_build "$2")"
        if [ "$have_buildah" = 1 ]; then
                read -r -a b <<<"$(buildah_build "$2")"
                ratio=$(python3 -c "print(f'{${b[0]}/max(${s[0]},0.01):.1f}x')")
        fi
        printf '%-22s %12s %12s %14s %14s %8s\n' "$1" "${s[0]}" "${s[1]}" "${b[0]}" "${b[1]}" "$ratio"
}

for mib in 64 256 1024; do
        ctx=$work/big-$mib
        mkdir -p "$ctx"
        printf 'FROM %s\nRUN head -c $((%d * 1048576)) /dev/urandom > /big\n' "$base" "$mib" >"$ctx/Dockerfile"
        row "big-layer-${mib}MiB" "$ctx"
done

for files in 2000 20000; do
        ctx=$work/small-$files
        mkdir -p "$ctx/tree"
        python3 - "$ctx/tree" "$files" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, f"d{i // 500}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i}"), "w") as f:
        f.write("x" * 100)
PY
        printf 'FROM %s\nCOPY tree /tree\nRUN touch /tree/d0/f0 && echo changed > /marker\n' "$base" >"$ctx/Dockerfile"
        row "small-change-${files}f" "$ctx"
done
echo "(medians of $runs runs; ratio = buildah time / sbuild time; MiB = peak RSS of the process tree)"
