#!/bin/bash
# limits: the resource limits of RUN steps (rlimits; this CI has no delegated cgroup v2). A
# step that never ends is killed at --step-timeout, naming its line; a fork bomb under
# --pids-limit, a memory bomb under --memory-limit and a big layer under --max-layer-size are
# stopped; nothing the steps started is left running on the host; bad values are usage errors.
. "$(dirname "$0")/lib.sh"

# build NAME DOCKERFILE-BODY ARGS...: a root build of FROM base + body, with ARGS.
build() {
        local name=$1 body=$2 c=$T/ctx-$1
        shift 2
        mkdir -p "$c"
        printf 'FROM %s\n%s\n' "$BASE_REF" "$body" >"$c/Dockerfile"
        sb_run root --context="$c" --no-push --oci-layout-path="$T/oci-$name" "$@"
}

# no_process PATTERN DESC: no host process has a command line matching PATTERN.
no_process() {
        local left
        left=$(pgrep -f "$1" || true)
        assert_eq "$left" "" "$2"
        [ -z "$left" ] || kill -9 $left 2>/dev/null
}

# --- a step that never ends -------------------------------------------------------------------
build timeout 'RUN sleep 987654' --step-timeout=3s
expect_rc 1 "a step running past --step-timeout fails the build"
assert_contains "$ERR" "Dockerfile:2: RUN: the step ran longer than 3s" \
        "the timeout message names the line and the limit"
if [ "$SECS" -lt 20 ]; then ok "the build stops soon after the timeout (${SECS}s)"; else
        fail "the build stops soon after the timeout" "took ${SECS}s"
fi
no_process '^sleep 987654$' "the timed-out step leaves no process on the host"
assert_contains "$ERR" "limits: rlimits (no delegated cgroup v2)" "the log says rlimits are used"
assert_absent "$T/oci-timeout/index.json" "a timed-out build writes no image"

build bgtimeout 'RUN sleep 987655 & sleep 987656' --step-timeout=2s
expect_rc 1 "a step with background processes is stopped by the timeout too"
no_process '^sleep 98765[56]$' "neither the step nor its background process is left running"

build quick 'RUN echo quick > /q' --step-timeout=1m
expect_rc 0 "a step within --step-timeout builds"
if [ "$(printf '%s\n' "$ERR" | grep -c 'limits: rlimits')" = 1 ]; then
        ok "the limits mode is logged once per build"
else
        fail "the limits mode is logged once per build" "$ERR"
fi

# --- a fork bomb ------------------------------------------------------------------------------
# The bomb's processes end with the step; --step-timeout and the test's own timeout bound it.
build forkbomb 'RUN bomb(){ bomb | bomb & }; bomb; sleep 3; echo survived' --pids-limit=64 \
        --step-timeout=60s
if [ "$RC" = 0 ] || [ "$RC" = 1 ]; then ok "a fork bomb under --pids-limit is contained (rc $RC)"
else
        fail "a fork bomb under --pids-limit is contained" "rc $RC: $(printf '%s' "$ERR" | tail -5)"
fi
if [ "$SECS" -lt 60 ]; then ok "the fork bomb build ends (${SECS}s)"; else
        fail "the fork bomb build ends" "took ${SECS}s"
fi
assert_match "$ERR" "(can't fork|Resource temporarily unavailable)" \
        "the bomb's forks hit the process limit"
no_process 'bomb\(\)' "no fork bomb process is left on the host"
if out=$(for i in 1 2 3 4 5; do sh -c 'echo ok'; done | wc -l) && [ "$out" = 5 ]; then
        ok "the host can still start processes"
else
        fail "the host can still start processes" "$out"
fi

if need_user "user: fork bomb under --pids-limit"; then
        c=$T/ctx-userbomb
        mkdir -p "$c"
        printf 'FROM %s\nRUN bomb(){ bomb | bomb & }; bomb; sleep 3; echo survived\n' "$BASE_REF" \
                >"$c/Dockerfile"
        chown -R "$TEST_USER": "$c"
        sb_run user --context="$c" --no-push --pids-limit=64 --step-timeout=60s
        if [ "$RC" = 0 ] || [ "$RC" = 1 ]; then
                ok "user: a fork bomb under --pids-limit is contained (rc $RC, ${SECS}s)"
        else
                fail "user: a fork bomb under --pids-limit is contained" "rc $RC"
        fi
        assert_match "$ERR" "(can't fork|Resource temporarily unavailable)" \
                "user: the bomb's forks hit the process limit"
        no_process 'bomb\(\)' "user: no fork bomb process is left on the host"
fi

# --- a memory bomb ----------------------------------------------------------------------------
build membomb 'RUN head -c 200m /dev/zero | tail > /dev/null' --memory-limit=64m
expect_rc 1 "a step allocating 200 MB fails under --memory-limit=64m"
assert_contains "$ERR" "Dockerfile:2: RUN" "the memory failure names the line"
build memok 'RUN head -c 8m /dev/zero | tail > /dev/null' --memory-limit=64m
expect_rc 0 "a step within --memory-limit builds"

# --- a big layer ------------------------------------------------------------------------------
build biglayer 'RUN head -c 5m /dev/urandom > /big' --max-layer-size=1m
expect_rc 1 "a 5 MB random layer fails --max-layer-size=1m"
assert_contains "$ERR" "Dockerfile:2: RUN: the step's layer is" "the message names the step"
assert_contains "$ERR" "more than --max-layer-size (1048576 bytes)" "the message names the limit"
assert_absent "$T/oci-biglayer/index.json" "the oversized layer is not written as a result"
build smalllayer 'RUN head -c 100k /dev/urandom > /small' --max-layer-size=1m
expect_rc 0 "a layer under --max-layer-size builds"

# --- nofile -----------------------------------------------------------------------------------
build nofile 'RUN test "$(ulimit -n)" = 100' --nofile-limit=100
expect_rc 0 "--nofile-limit sets the step's open files limit"

# --- bad values -------------------------------------------------------------------------------
for bad in --memory-limit=abc --memory-limit=0 --memory-limit=12x --memory-limit=99999999999t \
        --pids-limit=-1 --pids-limit=0 --pids-limit=many --nofile-limit=1.5 \
        --step-timeout=5x --step-timeout=0 --step-timeout=-3s --step-timeout=s \
        --max-layer-size=1q --max-layer-size=; do
        sb root run --context="$T" --no-push "$bad"
        expect_rc 2 "$bad is a usage error"
        assert_eq "$(printf '%s\n' "$ERR" | wc -l)" 1 "$bad: one line of error"
done

finish
