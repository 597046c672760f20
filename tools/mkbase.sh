#!/bin/bash
# mkbase.sh DIR : make the small base image used by the tests and the example, as an OCI
# image layout at DIR tagged "latest". It holds the static busybox from Debian's
# busybox-static package with a symlink per applet, a passwd/group with root, app (1000)
# and a supplementary group extra (2000) that app belongs to, /tmp (1777) and /home/app
# owned 1000:1000. The output is reproducible: sorted tar, fixed mtimes, gzip -n.
# Prints the manifest digest.
set -euo pipefail

die() { echo "mkbase: $*" >&2; exit 1; }
[ $# -eq 1 ] || die "usage: mkbase.sh DIR"
out=$1
here=$(cd "$(dirname "$0")" && pwd)
busybox=${BUSYBOX:-/bin/busybox}
[ -x "$busybox" ] || die "$busybox not found (apt-get install busybox-static)"
if command -v file >/dev/null && file -L "$busybox" | grep -q 'dynamically linked'; then
        die "$busybox is dynamically linked; install busybox-static"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/rootfs
mkdir -p "$root"/{bin,etc,tmp,root,home/app,dev,proc,sys,usr/bin,usr/sbin,sbin,var}
cp "$busybox" "$root/bin/busybox"
chmod 0755 "$root/bin/busybox"
for applet in $("$busybox" --list); do
        case "$applet" in
        busybox | linuxrc) continue ;;
        esac
        ln -s busybox "$root/bin/$applet"
done

cat >"$root/etc/passwd" <<'PW'
root:x:0:0:root:/root:/bin/sh
app:x:1000:1000:app:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PW
cat >"$root/etc/group" <<'GR'
root:x:0:
app:x:1000:
extra:x:2000:app
nogroup:x:65534:
GR
chmod 0644 "$root/etc/passwd" "$root/etc/group"
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"
chmod 0755 "$root"/{bin,etc,home,home/app,dev,proc,sys,usr,usr/bin,usr/sbin,sbin,var}

# Everything is owned by root except /home/app: tar the tree without it as 0:0, then append
# /home/app as 1000:1000, so ownership does not depend on who runs this script.
tarflags=(--format=gnu --sort=name --numeric-owner --mtime=@0 -C "$root")
tar -cf "$tmp/layer.tar" "${tarflags[@]}" --owner=0 --group=0 --exclude=./home/app .
tar -rf "$tmp/layer.tar" "${tarflags[@]}" --owner=1000 --group=1000 ./home/app

rm -rf "$out"
"$here/mkoci.sh" "$out" latest "$tmp/layer.tar"
