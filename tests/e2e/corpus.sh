#!/bin/bash
# corpus: every case under tests/corpus/ is built for real and its image checked against the
# results Docker (BuildKit) gives, written down in the case's `expect` file.
#
# A case is a directory tests/corpus/NN-name/ holding:
#   Dockerfile   built with `sbuild run --no-push --oci-layout-path` and
#                --build-arg BASE=<the test registry's busybox base image>
#   (context)    any other files are the build context, except the three runner files below
#   setup.sh     optional; run with bash in the copied context before the build, for files
#                git cannot store (tarballs, modes other than 0644/0755, empty dirs)
#   args         optional; extra `sbuild run` flags, one per line (e.g. --target=x)
#   expect       the checks, one per line; blank lines and lines starting with # are skipped:
#     file PATH MODE OWNER [TEXT...]  a regular file; MODE octal as `stat %a` prints it (644,
#                                     4755), OWNER uid:gid; `-` skips MODE or OWNER; TEXT, when
#                                     given, is the whole content without its final newline,
#                                     read by printf %b (\n is a newline, \\ a backslash)
#     dir PATH MODE OWNER             a directory
#     symlink PATH TARGET             a symlink and its exact target text
#     absent PATH                     nothing at PATH (not even a dangling symlink)
#     hardlink PATH1 PATH2            two names of one inode
#     ls PATH [NAME...]               the directory holds exactly these names (any order)
#     config JQ VALUE...              `jq -c JQ` of the image config is VALUE (compact JSON), or
#                                     `jq -r JQ` is VALUE; JQ must not contain spaces
#     history IDX EMPTY CREATED_BY... history entry IDX (negative counts from the end) has
#                                     empty_layer EMPTY (true/false, or - to skip) and, when
#                                     given, exactly this created_by
#     layers N                        the image has N layers (the base has 1)
#     no-entry ERE                    no layer tar holds an entry whose path matches ERE
#     output TEXT...                  the build's stdout+stderr contains TEXT
#     fail LINE [TEXT...]             the build fails, its stderr names Dockerfile:LINE (and
#                                     contains TEXT); no other check may follow
# In the Dockerfile and expect, @BASE@ is replaced by the base image reference, @REG@ by the
# test registry's host:port, and @ARCH@ (expect only) by the host's OCI architecture.
# Each check is one TAP line prefixed with the case name. CORPUS_CASES=ERE limits the run to
# matching case names. All cases share one store, so base layers are pulled once.
. "$(dirname "$0")/lib.sh"

corpus=${SBUILD_SOURCE_ROOT:-$E2E_DIR/../..}/tests/corpus
[ -d "$corpus" ] || corpus=$E2E_DIR/../corpus
filter=${CORPUS_CASES:-.}

# The case being checked: its name, image config and unpacked rootfs.
C='' CFG='' R='' LAYOUT=''

cfail() { fail "$C: $1" "${@:2}"; }
cok() { ok "$C: $1"; }

# check_node KIND PATH MODE OWNER: type, mode and owner of PATH in the rootfs.
check_node() {
        local kind=$1 p=$2 m=$3 o=$4 f=$R$2 got
        case "$kind" in
        file) [ -f "$f" ] && [ ! -L "$f" ] || { cfail "$p is a regular file" \
                "found: $(stat -c %F -- "$f" 2>&1)"; return 1; } ;;
        dir) [ -d "$f" ] && [ ! -L "$f" ] || { cfail "$p is a directory" \
                "found: $(stat -c %F -- "$f" 2>&1)"; return 1; } ;;
        esac
        if [ "$m" != - ]; then
                got=$(stat -c %a -- "$f")
                [ "$got" = "$m" ] || { cfail "$kind $p has mode $m" "got mode $got"; return 1; }
        fi
        if [ "$o" != - ]; then
                got=$(stat -c %u:%g -- "$f")
                [ "$got" = "$o" ] || { cfail "$kind $p is owned by $o" "got owner $got"; return 1; }
        fi
        return 0
}

# check_line LINE: one expectation against the built image.
check_line() {
        local kind a b c rest got want f
        read -r kind a b c rest <<<"$1"
        case "$kind" in
        file)
                check_node file "$a" "$b" "$c" || return
                if [ -n "$rest" ]; then
                        got=$(cat -- "$R$a")
                        if [ "$got" = "$(printf '%b' "$rest")" ]; then :; else
                                cfail "file $a holds '$rest'" \
                                        "got: '$(printf '%s' "$got" | head -c 300)'"
                                return
                        fi
                fi
                cok "file $a $b $c${rest:+ '$rest'}"
                ;;
        dir) check_node dir "$a" "$b" "$c" && cok "dir $a $b $c" ;;
        symlink)
                f=$R$a
                if [ -L "$f" ]; then
                        assert_eq "$(readlink -- "$f")" "$b" "$C: symlink $a -> $b"
                else
                        cfail "symlink $a -> $b" "found: $(stat -c %F -- "$f" 2>&1)"
                fi
                ;;
        absent) assert_absent "$R$a" "$C: absent $a" ;;
        hardlink)
                if [ -f "$R$a" ] && [ -f "$R$b" ] &&
                        [ "$(stat -c %d:%i -- "$R$a")" = "$(stat -c %d:%i -- "$R$b")" ]; then
                        cok "hardlink $a = $b"
                else
                        cfail "hardlink $a = $b" "$(stat -c '%n %F %i %h' -- "$R$a" "$R$b" 2>&1)"
                fi
                ;;
        ls)
                read -r _ _ want <<<"$1"
                want=$(set -f; printf '%s\n' $want | grep -v '^$' | sort | tr '\n' ' ')
                got=$(ls -A -- "$R$a" 2>&1 | sort | tr '\n' ' ')
                assert_eq "$got" "$want" "$C: ls $a is '$want'"
                ;;
        config)
                read -r _ _ want <<<"$1"
                # JSON values compare with sorted keys, so the expectation need not follow
                # the writer's key order.
                got=$(jq -cS "$a" "$CFG" 2>&1)
                if f=$(jq -cS . <<<"$want" 2>/dev/null) && [ -n "$f" ]; then want=$f; fi
                if [ "$got" != "$want" ] && [ "$(jq -r "$a" "$CFG" 2>&1)" = "$want" ]; then
                        got=$want
                fi
                assert_eq "$got" "$want" "$C: config $a is $want"
                ;;
        history)
                got=$(jq -r --argjson i "$a" '.history[$i].empty_layer // false' "$CFG" 2>&1)
                if [ "$b" != - ] && [ "$got" != "$b" ]; then
                        cfail "history[$a] has empty_layer $b" "got $got;" \
                                "history: $(jq -c '[.history[] | [.created_by, .empty_layer]]' \
                                        "$CFG")"
                        return
                fi
                read -r _ _ _ want <<<"$1"
                got=$(jq -r --argjson i "$a" '.history[$i].created_by // ""' "$CFG" 2>&1)
                if [ -n "$want" ] && [ "$got" != "$want" ]; then
                        cfail "history[$a] is '$want'" "got '$got'"
                        return
                fi
                cok "history[$a] empty_layer=$b${want:+ '$want'}"
                ;;
        layers)
                assert_eq "$(jq '.rootfs.diff_ids | length' "$CFG")" "$a" "$C: $a layers"
                ;;
        no-entry)
                got=
                while read -r f; do
                        got+=$(tar -tzf "$f" 2>&1 | sed 's|^\./||' | grep -E -- "$a")
                done < <(layout_layers "$LAYOUT" latest)
                if [ -z "$got" ]; then cok "no layer entry matches /$a/"; else
                        cfail "no layer entry matches /$a/" "found: $got"
                fi
                ;;
        output)
                read -r _ want <<<"$1"
                assert_contains "$OUT$ERR" "$want" "$C: output has '$want'"
                ;;
        *) cfail "unknown expectation '$kind'" ;;
        esac
}

# run_case DIR: build one case and check its expectations.
run_case() {
        local dir=$1 ctx out line failline='' msg
        local -a args=()
        C=$(basename "$dir")
        ctx=$T/ctx/$C out=$T/out/$C
        mkdir -p "$ctx" "$T/out"
        (cd "$dir" && tar -cf - --exclude=./expect --exclude=./args --exclude=./setup.sh .) |
                tar -xf - -C "$ctx"
        sed -i -e "s|@BASE@|$BASE_REF|g" -e "s|@REG@|$REG|g" "$ctx/Dockerfile"
        if [ -f "$dir/setup.sh" ] &&
                ! (cd "$ctx" && bash "$dir/setup.sh") >"$T/setup.log" 2>&1; then
                cfail "setup.sh runs" "$(cat "$T/setup.log")"
                return
        fi
        [ -f "$dir/args" ] && mapfile -t args < <(grep -v '^[[:space:]]*$' "$dir/args")
        sb_run root --context="$ctx" --no-push --oci-layout-path="$out" \
                --build-arg "BASE=$BASE_REF" "${args[@]}"

        failline=$(grep -m1 -E '^fail[[:space:]]' "$dir/expect" || true)
        if [ -n "$failline" ]; then
                read -r _ line msg <<<"$failline"
                if [ "$RC" = 0 ]; then
                        cfail "the build fails at Dockerfile:$line" "it succeeded"
                        return
                fi
                assert_contains "$ERR" "Dockerfile:$line" "$C: the error names Dockerfile:$line"
                [ -z "$msg" ] || assert_contains "$ERR" "$msg" "$C: the error says '$msg'"
                return
        fi
        if [ "$RC" != 0 ]; then
                cfail "the build succeeds" "exit code $RC; stderr:" \
                        "$(printf '%s' "$ERR" | tail -n 15)"
                return
        fi
        LAYOUT=$out
        CFG=$(layout_config "$out" latest) || { cfail "the layout has the image"; return; }
        # raw unpack: the rootfs only (a runtime config would need the image's User to exist);
        # umoci checks every diff_id and applies whiteouts
        rm -rf "$T/unpacked"
        if ! umoci raw unpack --image "$out:latest" "$T/unpacked" >"$T/umoci.log" 2>&1; then
                cfail "umoci unpacks the image" "$(tail -n 5 "$T/umoci.log")"
                return
        fi
        R=$T/unpacked
        while IFS= read -r line || [ -n "$line" ]; do
                case "$line" in '' | '#'*) continue ;; esac
                line=${line//@ARCH@/$ARCH}
                line=${line//@BASE@/$BASE_REF}
                line=${line//@REG@/$REG}
                check_line "$line"
        done <"$dir/expect"
        rm -rf "$T/unpacked" "$out"
}

ARCH=$(dpkg --print-architecture 2>/dev/null || uname -m)
case "$ARCH" in
x86_64) ARCH=amd64 ;;
aarch64) ARCH=arm64 ;;
i386) ARCH=386 ;;
armhf | armel) ARCH=arm ;;
esac
start=$SECONDS
ncases=0
for dir in "$corpus"/*/; do
        dir=${dir%/}
        [ -f "$dir/Dockerfile" ] && [ -f "$dir/expect" ] || continue
        [[ $(basename "$dir") =~ $filter ]] || continue
        ncases=$((ncases + 1))
        t0=$(date +%s%N)
        run_case "$dir"
        [ -z "${CORPUS_TIMES:-}" ] ||
                diag "$(basename "$dir"): $((($(date +%s%N) - t0) / 1000000)) ms"
done
diag "$ncases cases in $((SECONDS - start)) s"
[ "$ncases" -gt 0 ] || fail "the corpus at $corpus has cases"
finish
