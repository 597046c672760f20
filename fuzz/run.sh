#!/bin/bash
# fuzz/run.sh FUZZER ARTIFACT_PREFIX DICT SEED...: one bounded libFuzzer run, as a meson test.
#
# SEED is a directory of seed files (read recursively; a missing one is skipped with a note,
# so a clone without ../shared/conformance still runs), or fields:N:FILE, which makes one seed
# of field N ('|'-separated, trimmed) of each line of FILE that is not a comment or an ENV
# line (the word-expansion conformance tables). New inputs go to a temporary corpus, never
# into the source tree. A crash, leak, out-of-memory or timeout makes libFuzzer exit non-zero
# and leaves the input at ARTIFACT_PREFIX<kind>-<sha1>. DICT is a libFuzzer dictionary or "".
# SBUILD_FUZZ_SECONDS sets the run time (default 15).
set -uo pipefail

fuzzer=$1
artifacts=$2
dict=()
[ -z "$3" ] || dict=(-dict="$3")
shift 3
secs=${SBUILD_FUZZ_SECONDS:-15}

work=$(mktemp -d "${TMPDIR:-/tmp}/sbuild-fuzz.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus" "$work/fields"

dirs=()
for s in "$@"; do
        case $s in
        fields:*)
                spec=${s#fields:}
                field=${spec%%:*}
                file=${spec#*:}
                if [ ! -f "$file" ]; then
                        echo "# seed table $file is missing, skipped" >&2
                        continue
                fi
                awk -F'|' -v f="$field" -v out="$work/fields/$(echo "$file" | tr '/' '_')" '
                        /^[ \t]*#/ || /^[ \t]*$/ || /^ENV / { next }
                        NF >= f {
                                v = $f
                                sub(/^[ \t]+/, "", v)
                                sub(/[ \t]+$/, "", v)
                                printf "%s", v > (out "." NR)
                                close(out "." NR)
                        }' "$file"
                ;;
        *)
                if [ -d "$s" ]; then dirs+=("$s"); else
                        echo "# seed directory $s is missing, skipped" >&2
                fi
                ;;
        esac
done

# A smaller quarantine keeps ASan's resident memory well under the -rss_limit_mb bound.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:quarantine_size_mb=32:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
"$fuzzer" -max_total_time="$secs" -rss_limit_mb=512 -timeout=5 -print_final_stats=1 \
        "${dict[@]}" -artifact_prefix="$artifacts" "$work/corpus" "$work/fields" "${dirs[@]}"
rc=$?
[ "$rc" = 0 ] || echo "# $fuzzer failed (exit $rc); reproduce with: $fuzzer ${artifacts}<file>" >&2
exit "$rc"
