#!/bin/bash
# tools/bootstrap.sh: from a fresh Debian 12 machine (as root) to a first image. Installs the
# packages in tools/packages.txt, builds sbuild into _build, makes the busybox base image,
# serves it from a throwaway registry on a free loopback port, builds examples/hello into an
# OCI layout (_build/hello-oci) and prints the image digest. The registry is stopped on exit.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src"
say() { echo "bootstrap: $*" >&2; }

[ "$(id -u)" = 0 ] || { say "run me as root (apt-get install)"; exit 1; }
export DEBIAN_FRONTEND=noninteractive
say "installing packages"
apt-get update -q
xargs -a tools/packages.txt apt-get install -y -q --no-install-recommends

say "building sbuild"
[ -f _build/build.ninja ] || meson setup _build
ninja -C _build

work=$(mktemp -d /tmp/sbuild-bootstrap.XXXXXX)
trap 'tests/e2e/registry.sh stop "$work/registry" || true; rm -rf "$work"' EXIT

say "making the base image"
tools/mkbase.sh "$work/base-oci" >/dev/null
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
tests/e2e/registry.sh start "$work/registry" "$port"
skopeo copy -q --dest-tls-verify=false "oci:$work/base-oci:latest" \
        "docker://127.0.0.1:$port/base/busybox:latest"

say "building examples/hello"
rm -rf _build/hello-oci _build/hello.digest
_build/cli/sbuild run --context=examples/hello \
        --build-arg BASE="127.0.0.1:$port/base/busybox:latest" --no-push \
        --oci-layout-path=_build/hello-oci --digest-file=_build/hello.digest
say "image written to _build/hello-oci (tag latest), digest:"
cat _build/hello.digest
echo
