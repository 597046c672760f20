#!/bin/bash
# registry.sh start DIR PORT [USER PASS] | stop DIR
#
# Runs Debian's docker-registry (distribution 2.8) on 127.0.0.1:PORT with its own config and
# storage under DIR, for the tests. With USER and PASS the registry asks for HTTP basic auth
# (htpasswd, bcrypt). "start" returns once GET /v2/ answers (at most ~20 s) and leaves the
# pid in DIR/pid; "stop" ends that process and waits for it.
set -euo pipefail

die() { echo "registry.sh: $*" >&2; exit 1; }

start() {
        local dir=$1 port=$2 user=${3:-} pass=${4:-}
        command -v docker-registry >/dev/null || die "docker-registry is not installed"
        mkdir -p "$dir/data"
        dir=$(cd "$dir" && pwd)
        {
                printf 'version: 0.1\n'
                printf 'log:\n  level: warn\n  accesslog:\n    disabled: true\n'
                printf 'storage:\n  filesystem:\n    rootdirectory: %s/data\n' "$dir"
                printf '  delete:\n    enabled: true\n'
                printf 'http:\n  addr: 127.0.0.1:%s\n  secret: sbuild-test-secret\n' "$port"
                if [ -n "$user" ]; then
                        htpasswd -nbB "$user" "$pass" | sed '/^$/d' >"$dir/htpasswd"
                        printf 'auth:\n  htpasswd:\n    realm: sbuild-test\n'
                        printf '    path: %s/htpasswd\n' "$dir"
                fi
        } >"$dir/config.yml"

        # setsid: the registry must not get the terminal's signals, and must not hold the
        # caller's stdout open (meson/CI wait for it to close).
        setsid docker-registry serve "$dir/config.yml" </dev/null >"$dir/log" 2>&1 &
        local pid=$!
        echo "$pid" >"$dir/pid"

        local i code
        for i in $(seq 1 100); do
                if ! kill -0 "$pid" 2>/dev/null; then
                        cat "$dir/log" >&2
                        die "docker-registry on port $port exited at start"
                fi
                code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$port/v2/" ||
                        true)
                case "$code" in
                200 | 401) return 0 ;;
                esac
                sleep 0.2
        done
        stop "$dir"
        die "docker-registry on port $port did not answer within 20 s"
}

stop() {
        local dir=$1 pid i
        [ -f "$dir/pid" ] || return 0
        pid=$(cat "$dir/pid")
        rm -f "$dir/pid"
        kill "$pid" 2>/dev/null || return 0
        for i in $(seq 1 50); do
                kill -0 "$pid" 2>/dev/null || return 0
                sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
}

case "${1:-}" in
start)
        [ $# -eq 3 ] || [ $# -eq 5 ] || die "usage: registry.sh start DIR PORT [USER PASS]"
        start "$2" "$3" "${4:-}" "${5:-}"
        ;;
stop)
        [ $# -eq 2 ] || [ $# -eq 3 ] || die "usage: registry.sh stop DIR"
        stop "$2"
        ;;
*)
        die "usage: registry.sh start DIR PORT [USER PASS] | stop DIR"
        ;;
esac
