#!/bin/bash
# uploader: the registry agent (the uploader) keeps the registry password out of the build's
# reach. A build that pulls from and pushes to the basic-auth test registry runs a RUN step
# that hunts for the password: its environment, every visible process's environ, cmdline,
# maps and readable memory, the docker config paths, /proc/1/root, every file on the rootfs
# holding docker config keys, and the files of every other mount. The step copies all it finds
# into the image; after the push the image is read back (skopeo + umoci) and the password (plain
# and as the base64 "auth" value) must appear nowhere in it, while a canary the step itself
# carries must appear in the copied environ and memory, which proves the hunt could see what a
# process holds. The step also records how many processes it saw (its own pid namespace only).
# From the host, while a RUN step sleeps, the agent (the supervisor's child outside the builder's
# pid namespace) must show Seccomp 2 and NoNewPrivs 1, be undumpable (its /proc files unreadable
# by the test user) and live in a pid namespace above the step's. As root and as the test user.
. "$(dirname "$0")/lib.sh"

[ -n "${SBUILD_TEST_AUTH_REGISTRY:-}" ] && [ -n "${SBUILD_TEST_AUTH_CREDS:-}" ] ||
        _bail_or_skip "SBUILD_TEST_AUTH_REGISTRY/SBUILD_TEST_AUTH_CREDS are not set"

AREG=$SBUILD_TEST_AUTH_REGISTRY
CREDS=$SBUILD_TEST_AUTH_CREDS
PASS=${CREDS#*:}
AUTH64=$(printf '%s' "$CREDS" | base64 -w0)
SB_REAL=$(readlink -f "$SBUILD_BIN")
MARK=$RANDOM$RANDOM

# The hunting step. It never sees the password itself (that is the point), so it copies out
# everything it can reach and the host greps the image afterwards.
mkdir -p "$T/ctx"
cat >"$T/ctx/hunt.sh" <<'SH'
out=/hunt
mkdir -p $out/proc $out/files
env >$out/env.txt
readlink /proc/self/ns/pid >$out/pidns.txt
ls /proc | grep -c '^[0-9]' >$out/nproc.txt
cat /proc/self/mountinfo >$out/mountinfo.txt
: >$out/procs.txt
for d in /proc/[0-9]*; do
        p=${d#/proc/}
        [ -d "$d" ] || continue
        echo "$p $(readlink $d/ns/pid 2>/dev/null || echo unreadable)" \
                "$(tr '\0' ' ' <$d/cmdline 2>/dev/null)" >>$out/procs.txt
        cat $d/environ >$out/proc/$p.environ 2>/dev/null
        cat $d/cmdline >$out/proc/$p.cmdline 2>/dev/null
        cat $d/status >$out/proc/$p.status 2>/dev/null
        cat $d/maps >$out/proc/$p.maps 2>/dev/null || continue
        : >$out/proc/$p.mem
        while read -r range perms rest; do
                case $perms in r*) ;; *) continue ;; esac
                case $rest in *vsyscall* | *vvar*) continue ;; esac
                s=$((0x${range%-*})) e=$((0x${range#*-}))
                pages=$(((e - s) / 4096))
                [ $pages -le 16384 ] || pages=16384
                dd if=$d/mem bs=4096 skip=$((s / 4096)) count=$pages 2>/dev/null \
                        >>$out/proc/$p.mem
        done <$out/proc/$p.maps
done
cat $out/proc/*.mem | wc -c >$out/membytes.txt
ls -la /proc/1/root/ >$out/proc1root.txt 2>&1
for f in /root/.docker "${HOME:-/root}/.docker" /kaniko/.docker "${DOCKER_CONFIG:-/none}" \
        /proc/1/root/root/.docker /proc/1/root/kaniko/.docker /etc/docker /run/containers; do
        if [ -e "$f" ]; then
                echo "present $f"
                mkdir -p "$out/files$f" && cp -a "$f/." "$out/files$f/" 2>/dev/null
        else
                echo "absent $f"
        fi
done >$out/dockercfg.txt
find / -xdev -path /hunt -prune -o -type f -print 2>/dev/null | wc -l >$out/nfiles.txt
find / -xdev -path /hunt -prune -o -type f -size -16384k \
        -exec grep -l -e '"auths"' -e credHelpers -e credsStore {} + \
        >$out/cred-files.txt 2>/dev/null
# Files on every other mount (resolv.conf, hosts, /dev, ...): not part of the image otherwise.
while read -r _ _ _ _ mp _; do
        case $mp in /proc | /proc/* | /sys | /sys/*) continue ;; esac
        echo "$mp" >>$out/mounts.txt
        [ "$mp" = / ] && continue
        find "$mp" -xdev -type f -size -16384k 2>/dev/null | while read -r f; do
                mkdir -p "$out/files${f%/*}"
                cat "$f" >"$out/files$f" 2>/dev/null
        done
done </proc/self/mountinfo
echo done >$out/done
SH
cat >"$T/ctx/Dockerfile" <<DF
ARG BASE
FROM \${BASE}
ENV HUNT_CANARY=canary-$MARK-visible
RUN ["/bin/sh", "-c", "sleep 8; true", "uploader-$MARK"]
COPY hunt.sh /hunt/hunt.sh
RUN sh /hunt/hunt.sh
DF

# field FILE NAME: the value of "NAME:" in a /proc status file.
field() { awk -v k="$2:" '$1 == k { print $2; exit }' "$1" 2>/dev/null; }
is_sbuild() { [ "$(readlink "/proc/$1/exe" 2>/dev/null)" = "$SB_REAL" ]; }

# find_marker: the pid of the sleeping RUN step's shell (its argv[0] is the marker).
find_marker() {
        local p
        for p in /proc/[0-9]*; do
                case $(tr '\0' ' ' <"$p/cmdline" 2>/dev/null) in
                *"uploader-$MARK"*) echo "${p#/proc/}"; return 0 ;;
                esac
        done
        return 1
}

# check_agent WHO MARKER: the host-side checks on the running agent.
check_agent() {
        local who=$1 m=$2 sup p agent="" ppid
        # The supervisor: the topmost sbuild process among the step's ancestors.
        p=$m sup=""
        while [ -n "$p" ] && [ "$p" -gt 1 ]; do
                is_sbuild "$p" && sup=$p
                ppid=$(field "/proc/$p/status" PPid)
                if [ -n "$sup" ] && ! is_sbuild "$ppid"; then break; fi
                p=$ppid
        done
        if [ -z "$sup" ]; then
                fail "$who: the supervisor is found above the RUN step"
                return
        fi
        local sup_ns
        sup_ns=$(readlink "/proc/$sup/ns/pid")
        for p in /proc/[0-9]*; do
                p=${p#/proc/}
                [ "$(field "/proc/$p/status" PPid)" = "$sup" ] && is_sbuild "$p" || continue
                [ "$(readlink "/proc/$p/ns/pid")" = "$sup_ns" ] || continue
                agent=$p
        done
        if [ -z "$agent" ]; then
                fail "$who: the agent (the supervisor's child in its pid namespace) is running"
                return
        fi
        ok "$who: the agent (the supervisor's child in its pid namespace) is running"
        local st=/proc/$agent/status
        assert_eq "$(field "$st" Seccomp)" 2 "$who: the agent runs under a seccomp filter"
        assert_eq "$(field "$st" NoNewPrivs)" 1 "$who: the agent has no_new_privs"
        local uid
        uid=$(field "$st" Uid)
        if [ "$who" = user ]; then
                assert_eq "$uid" "$(id -u "$TEST_USER")" "user: the agent runs as the test user"
                assert_eq "$(stat -c %u "/proc/$agent/environ")" 0 \
                        "user: the agent is not dumpable (its /proc files belong to root)"
                # Control: the supervisor, same user and dumpable, is readable.
                assert_contains "$(runuser -u "$TEST_USER" -- cat "/proc/$sup/environ" 2>&1 |
                        tr '\0' '\n')" DOCKER_CONFIG= \
                        "user: the test user can read the dumpable supervisor's environ"
        else
                assert_eq "$uid" 0 "root: the agent runs as root"
        fi
        local got
        if got=$(runuser -u "$TEST_USER" -- cat "/proc/$agent/environ" 2>/dev/null); then
                fail "$who: the test user cannot read the agent's environ" "read: ${got:0:200}"
        else
                ok "$who: the test user cannot read the agent's environ"
        fi
        if runuser -u "$TEST_USER" -- dd if="/proc/$agent/mem" bs=1 count=1 \
                >/dev/null 2>&1; then
                fail "$who: the test user cannot open the agent's memory"
        else
                ok "$who: the test user cannot open the agent's memory"
        fi
        AGENT_NS=$(readlink "/proc/$agent/ns/pid")
        local step_ns
        step_ns=$(readlink "/proc/$m/ns/pid")
        assert_ne "$step_ns" "$AGENT_NS" "$who: the RUN step is in another pid namespace"
        # NSpid lists a process's pid in each namespace from the top one down: the step is
        # nested deeper than the agent, so the agent has no pid in the step's namespace.
        local an sn
        an=$(awk '/^NSpid:/ { print NF - 1 }' "$st")
        sn=$(awk '/^NSpid:/ { print NF - 1 }' "/proc/$m/status")
        if [ -n "$an" ] && [ -n "$sn" ] && [ "$sn" -gt "$an" ]; then
                ok "$who: the step's pid namespace is nested below the agent's"
        else
                fail "$who: the step's pid namespace is nested below the agent's" \
                        "NSpid levels: agent $an, step $sn"
        fi
}

# hunt WHO: build (in the background), check the agent while the sleep step runs, then
# check the pushed image.
hunt() {
        local who=$1 ctx=$T/ctx cfgdir=$T/docker-$1 ref=$AREG/e2e/uploader-$1:v1
        mkdir -p "$cfgdir"
        printf '{"auths":{"%s":{"auth":"%s"}}}' "$AREG" "$AUTH64" >"$cfgdir/config.json"
        chmod 0700 "$cfgdir"
        chmod 0600 "$cfgdir/config.json"
        if [ "$who" = user ]; then
                ctx=$T/ctx-user
                cp -a "$T/ctx" "$ctx"
                chown -R "$TEST_USER": "$ctx" "$cfgdir"
        fi
        SB_ENV=(DOCKER_CONFIG="$cfgdir")
        (
                sb_run "$who" --context="dir://$ctx" --destination="$ref" \
                        --build-arg BASE="$AREG/base/busybox:latest"
                printf '%s' "$RC" >"$T/$who.rc"
                printf '%s\n%s\n' "$OUT" "$ERR" >"$T/$who.log"
        ) &
        local bg=$! m="" i
        for i in $(seq 1 600); do
                m=$(find_marker) && break
                kill -0 "$bg" 2>/dev/null || break
                sleep 0.2
        done
        AGENT_NS=""
        if [ -n "$m" ]; then
                ok "$who: the sleeping RUN step is seen from the host"
                check_agent "$who" "$m"
        else
                fail "$who: the sleeping RUN step is seen from the host"
        fi
        wait "$bg"
        SB_ENV=()
        local rc log
        rc=$(cat "$T/$who.rc" 2>/dev/null) log=$(cat "$T/$who.log" 2>/dev/null)
        if [ "$rc" != 0 ]; then
                fail "$who: the hunting build pulls and pushes with basic auth" \
                        "exit code $rc:" "$(printf '%s' "$log" | tail -n 30)"
                return
        fi
        ok "$who: the hunting build pulls and pushes with basic auth"
        assert_not_contains "$log" "$PASS" "$who: sbuild's output does not hold the password"

        local img=$T/$who-img
        mkdir -p "$img"
        if ! skopeo copy -q --src-tls-verify=false --src-creds "$CREDS" "docker://$ref" \
                "oci:$img/oci:img" >/dev/null || ! unpack_layout "$img/oci" img "$img/bundle"; then
                fail "$who: the pushed image copies back and unpacks"
                return
        fi
        ok "$who: the pushed image copies back and unpacks"
        local h=$img/bundle/rootfs/hunt
        assert_exists "$h/done" "$who: the hunt ran to the end"
        local n
        n=$(readf "$h/nproc.txt")
        if [ "$n" -ge 1 ] 2>/dev/null && [ "$n" -le 10 ]; then
                ok "$who: the step saw only the few processes of its own pid namespace ($n)"
        else
                fail "$who: the step saw only the few processes of its own pid namespace" \
                        "it saw: $n" "$(readf "$h/procs.txt")"
        fi
        local self_ns others
        self_ns=$(readf "$h/pidns.txt")
        others=$(awk -v ns="$self_ns" '$2 != ns && $2 != "unreadable"' "$h/procs.txt")
        assert_eq "$others" "" "$who: every process the step saw is in its pid namespace"
        [ -z "$AGENT_NS" ] || assert_ne "$self_ns" "$AGENT_NS" \
                "$who: the hunting step's pid namespace is not the agent's"
        local mem
        mem=$(readf "$h/membytes.txt")
        if [ "$mem" -gt 0 ] 2>/dev/null; then
                ok "$who: the step read process memory ($mem bytes)"
        else
                fail "$who: the step read process memory" "membytes: $mem"
        fi
        if [ "$(readf "$h/nfiles.txt")" -ge 3 ] 2>/dev/null; then
                ok "$who: the step listed the rootfs files"
        else
                fail "$who: the step listed the rootfs files" "nfiles: $(readf "$h/nfiles.txt")"
        fi
        assert_contains "$(readf "$h/dockercfg.txt")" "absent /root/.docker" \
                "$who: the step looked for the docker config paths"
        assert_eq "$(readf "$h/cred-files.txt")" "" \
                "$who: no file reachable in the step holds docker config keys"
        # /proc/1 is the step's init: its root is the step's own rootfs, or it is unreadable.
        assert_match "$(readf "$h/proc1root.txt")" 'hunt|Permission denied' \
                "$who: the step looked into /proc/1/root and found only its own rootfs"
        # The canary proves that what a process holds would have been caught.
        assert_contains "$(cat "$h"/proc/*.environ 2>/dev/null | tr '\0' '\n')" \
                "canary-$MARK-visible" "$who: the copied environ holds the step's canary"
        if grep -aqF "canary-$MARK-visible" "$h"/proc/*.mem 2>/dev/null; then
                ok "$who: the copied memory holds the step's canary"
        else
                fail "$who: the copied memory holds the step's canary"
        fi
        local where needle
        for needle in "$PASS" "$AUTH64"; do
                where=$(grep -rlaF -- "$needle" "$img/bundle" 2>/dev/null | head -n 5)
                assert_eq "$where" "" \
                        "$who: the credential (${#needle} chars) is nowhere in the image"
        done
        skopeo inspect --tls-verify=false --creds "$CREDS" --config "docker://$ref" \
                >"$T/$who-config.json" 2>/dev/null
        assert_not_contains "$(cat "$T/$who-config.json")" "$PASS" \
                "$who: the password is not in the image config"
}

hunt root
if need_user "user: the hunt as an unprivileged user"; then
        hunt user
fi

finish
