#!/bin/bash
# sandbox: what a RUN step can and cannot do, as root and as an unprivileged user. The step
# is uid 0 in its own pid namespace; mount and unshare fail; host files are not visible; it
# sees the host's resolv.conf, but what it writes there (or to /etc/hosts), and the mount
# points of /dev, /proc and /sys, never reach a layer; a background process it leaves
# running does not hang the build and is gone afterwards. Each RUN records its findings in
# /results, read back from the image.
. "$(dirname "$0")/lib.sh"

rand=$$-$RANDOM
marker=/tmp/sbuild-e2e-hostmarker-$rand
echo "host secret" >"$marker"
chmod 0644 "$marker"
trap 'rm -f "$marker"; _cleanup' EXIT
host_resolv_sum=$(sha256sum /etc/resolv.conf 2>/dev/null | cut -d' ' -f1)
host_hosts_sum=$(sha256sum /etc/hosts 2>/dev/null | cut -d' ' -f1)
host_pid1=$(tr '\0' ' ' </proc/1/cmdline)

# run_case MODE SLEEP: build the sandbox probe as MODE and check what it found.
run_case() {
        local who=$1 nap=$2 c=$T/ctx-$1 out
        mkdir -p "$c"
        cat >"$c/Dockerfile" <<DF
FROM $BASE_REF
RUN mkdir /results && id -u > /results/uid && id -g > /results/gid
RUN tr '\\0' ' ' < /proc/1/cmdline > /results/pid1; ls -d /proc/[0-9]* | wc -l > /results/nproc
RUN mkdir -p /tmp/mnt; if mount -t tmpfs none /tmp/mnt 2>/dev/null; then echo mounted; else echo denied; fi > /results/mount; rmdir /tmp/mnt
RUN if unshare -U -r true 2>/dev/null || unshare -m true 2>/dev/null || unshare -n true 2>/dev/null; then echo allowed; else echo denied; fi > /results/unshare
RUN for p in $marker $c/Dockerfile /etc/shadow; do test -e \$p && echo "visible \$p"; done > /results/hostfiles; true
RUN (cat /etc/resolv.conf || echo none) > /results/resolv 2>/dev/null; echo "nameserver 192.0.2.99 # by-step" > /etc/resolv.conf 2>/dev/null; echo "192.0.2.1 by-step" >> /etc/hosts 2>/dev/null; true
RUN sleep $nap & echo background-started
RUN echo after-background > /results/after
DF
        [ "$who" = user ] && chown -R "$TEST_USER": "$c"
        out=$(out_dir "$who-out" "$who")
        sb_run "$who" --context="$c" --no-push --oci-layout-path="$out/oci"
        expect_rc 0 "$who: the sandbox probe builds"
        if [ "$SECS" -lt 120 ]; then ok "$who: a background process does not hang the build"; else
                fail "$who: a background process does not hang the build" "took ${SECS}s"
        fi
        local left
        left=$(pgrep -f "^sleep $nap\$" || true)
        assert_eq "$left" "" "$who: the step's background process is gone after the build"
        [ -z "$left" ] || kill $left 2>/dev/null

        if ! unpack_layout "$out/oci" latest "$T/$who-b"; then
                fail "$who: the probe image unpacks"
                return
        fi
        local r=$T/$who-b/rootfs
        assert_eq "$(readf "$r/results/uid"):$(readf "$r/results/gid")" 0:0 \
                "$who: RUN is uid 0, gid 0"
        assert_ne "$(readf "$r/results/pid1")" "$host_pid1" "$who: /proc/1 is not the host's init"
        local n
        n=$(readf "$r/results/nproc")
        if [ "$n" -ge 1 ] 2>/dev/null && [ "$n" -lt 10 ]; then
                ok "$who: the step has its own pid namespace ($n processes seen)"
        else
                fail "$who: the step has its own pid namespace" "it sees '$n' processes"
        fi
        assert_eq "$(readf "$r/results/mount")" denied "$who: mount fails in a RUN step"
        assert_eq "$(readf "$r/results/unshare")" denied "$who: unshare fails in a RUN step"
        assert_eq "$(readf "$r/results/hostfiles")" "" "$who: host files are not visible"
        assert_eq "$(readf "$r/results/after")" after-background "$who: steps after it still run"
        if [ -f /etc/resolv.conf ]; then
                assert_eq "$(readf "$r/results/resolv")" "$(cat /etc/resolv.conf)" \
                        "$who: RUN sees the host's resolv.conf"
        fi
        assert_absent "$r/etc/resolv.conf" "$who: /etc/resolv.conf is not in the image"
        assert_absent "$r/etc/hosts" "$who: /etc/hosts is not in the image"
        assert_eq "$(sha256sum /etc/resolv.conf 2>/dev/null | cut -d' ' -f1)" "$host_resolv_sum" \
                "$who: the host's resolv.conf is unchanged"
        assert_eq "$(sha256sum /etc/hosts 2>/dev/null | cut -d' ' -f1)" "$host_hosts_sum" \
                "$who: the host's /etc/hosts is unchanged"

        # No layer after the base holds resolv.conf, hosts or anything under dev/proc/sys.
        local entries
        entries=$(layout_layers "$out/oci" latest | tail -n +2 | while read -r l; do
                tar -tzf "$l"
        done)
        assert_match "$entries" 'results/uid$' "$who: the probe's layers are readable"
        assert_eq "$(printf '%s\n' "$entries" | grep -E '(^|/)etc/(resolv\.conf|hosts)$|(^|/)(dev|proc|sys)/.' |
                head -n5)" "" "$who: no layer holds resolv.conf, hosts or /dev, /proc, /sys entries"
}

run_case root 1237
if need_user "user: sandbox probe as an unprivileged user"; then
        run_case user 1238
fi

finish
