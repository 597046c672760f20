#!/bin/bash
# reference: a subset of the corpus (tests/corpus) is built by sbuild and by buildah, the
# reference builder here, and the two images are compared: the unpacked file trees (path,
# type, mode, owner, size, link count, content hash, symlink target) and the key config
# fields (Env, Cmd, Entrypoint, WorkingDir, User, Labels, ExposedPorts, Volumes, StopSignal)
# and the layer count. Skipped when buildah is not installed (Debian package buildah).
#
# buildah runs as root with a private vfs store under $T, --isolation=chroot (no runc/crun
# needed inside the test environment), --layers and --format oci, FROM the same base image in
# the test registry, and pushes to an oci: directory that umoci unpacks like sbuild's layout.
#
# Known, legitimate differences, filtered out before comparing:
#   - mtimes are not compared (neither builder is reproducible about them by default);
#   - directory sizes are not compared (they depend on the filesystem);
#   - buildah adds the label io.buildah.version;
#   - buildah's chroot isolation leaves the empty mount points it made in the image:
#     /etc/hostname, /etc/hosts, /etc/resolv.conf (empty, 0755) and /run; Docker does not;
#   - hardlink counts are not compared: buildah's vfs driver stores a hardlink made to a file
#     of a lower layer as a separate copy (link count 1) where Docker's overlay snapshotter,
#     like sbuild, keeps one inode; the corpus checks hardlinks itself.
#   - (why 20-copy-destinations is not here) buildah makes no layer for WORKDIR, while
#     BuildKit commits the created directory as a layer, as sbuild does.
# The cases are ones whose Dockerfile both builders must treat the same way (no BuildKit-only
# syntax such as heredocs, --chmod symbolic modes, --parents or --exclude).
. "$(dirname "$0")/lib.sh"

if ! command -v buildah >/dev/null; then
        echo "1..0 # SKIP buildah is not installed"
        exit 0
fi

corpus=${SBUILD_SOURCE_ROOT:-$E2E_DIR/../..}/tests/corpus
[ -d "$corpus" ] || corpus=$E2E_DIR/../corpus
cases=(19-copy-dir-contents 23-copy-chown 24-copy-chown-creates-parents
        28-copy-from-keeps-owner-and-bits 35-copy-through-dest-symlink 65-whiteout-dir-recreated
        66-opaque-dir 67-file-dir-symlink-replaced 69-hardlinks 70-special-bits
        72-deleted-under-deleted-dir)
filter=${CORPUS_CASES:-.}

# Lines of buildah's tree that are its own artifacts (see above).
buildah_only='^\./(etc/hostname|etc/hosts|etc/resolv\.conf) f 755 0:0 0 e3b0c44298fc1c14$'
buildah_only+='|^\./run d 755 0:0$'
bh=(buildah --root "$T/buildah/root" --runroot "$T/buildah/runroot" --storage-driver vfs)

# tree DIR: one line per path under DIR, sorted, with what both builders must agree on.
tree() {
        (cd "$1" && find . -mindepth 1 -printf '%p %y %m %U:%G %l\n' | sort |
                while read -r p y rest; do
                        case "$y" in
                        f) echo "$p $y $rest $(stat -c %s "$p") $(sha256sum <"$p" | cut -c1-16)" ;;
                        *) echo "$p $y $rest" ;;
                        esac
                done)
}

# keycfg CONFIG: the compared config fields and the layer count, as sorted JSON.
keycfg() {
        jq -S '{Env: .config.Env, Cmd: .config.Cmd, Entrypoint: .config.Entrypoint,
                WorkingDir: (.config.WorkingDir // ""), User: (.config.User // ""),
                Labels: ((.config.Labels // {}) | del(.["io.buildah.version"])),
                ExposedPorts: .config.ExposedPorts, Volumes: .config.Volumes,
                StopSignal: .config.StopSignal, layers: (.rootfs.diff_ids | length)}' "$1"
}

ref_case() {
        local name=$1 dir=$corpus/$1 ctx=$T/ctx/$1 a=$T/a/$1 b=$T/b/$1
        local -a args=()
        mkdir -p "$ctx" "$T/a" "$T/b"
        (cd "$dir" && tar -cf - --exclude=./expect --exclude=./args --exclude=./setup.sh .) |
                tar -xf - -C "$ctx"
        sed -i -e "s|@BASE@|$BASE_REF|g" -e "s|@REG@|$REG|g" "$ctx/Dockerfile"
        if [ -f "$dir/setup.sh" ]; then (cd "$ctx" && bash "$dir/setup.sh") >/dev/null 2>&1; fi
        [ -f "$dir/args" ] && mapfile -t args < <(grep -v '^[[:space:]]*$' "$dir/args")

        sb_run root --context="$ctx" --no-push --oci-layout-path="$a" \
                --build-arg "BASE=$BASE_REF" "${args[@]}"
        if [ "$RC" != 0 ]; then
                fail "$name: sbuild builds it" "$(printf '%s' "$ERR" | tail -n 10)"
                return
        fi
        if ! "${bh[@]}" bud --tls-verify=false --layers --format oci --isolation chroot \
                --build-arg "BASE=$BASE_REF" "${args[@]}" -t "corpus-$name" "$ctx" \
                >"$T/buildah.log" 2>&1 ||
                ! "${bh[@]}" push --quiet "corpus-$name" "oci:$b:latest" \
                        >>"$T/buildah.log" 2>&1; then
                fail "$name: buildah builds it" "$(tail -n 10 "$T/buildah.log")"
                return
        fi
        rm -rf "$T/ua" "$T/ub"
        if ! umoci raw unpack --image "$a:latest" "$T/ua" >"$T/umoci.log" 2>&1 ||
                ! umoci raw unpack --image "$b:latest" "$T/ub" >>"$T/umoci.log" 2>&1; then
                fail "$name: both images unpack" "$(tail -n 5 "$T/umoci.log")"
                return
        fi
        local d
        if d=$(diff <(tree "$T/ub" | grep -Ev "$buildah_only") <(tree "$T/ua")); then
                ok "$name: the file trees match buildah's"
        else
                fail "$name: the file trees match buildah's" "diff buildah sbuild:" "$d"
        fi
        if d=$(diff <(keycfg "$(layout_config "$b" latest)") \
                <(keycfg "$(layout_config "$a" latest)")); then
                ok "$name: the config matches buildah's"
        else
                fail "$name: the config matches buildah's" "diff buildah sbuild:" "$d"
        fi
        "${bh[@]}" rmi "corpus-$name" >/dev/null 2>&1
        rm -rf "$T/ua" "$T/ub" "$a" "$b"
}

for c in "${cases[@]}"; do
        [[ $c =~ $filter ]] || continue
        ref_case "$c"
done
finish
