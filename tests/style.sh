#!/bin/sh
# Style gate (style.md C15): banned C functions and oversized files in the sources.
cd "$(dirname "$0")/.." || exit 1
banned='strcpy|strcat|v?sprintf|gets|atoi|atol|strtol|strtoul|strtok|basename|dirname|getenv|system|popen'
status=0
if git grep -nE "(^|[^A-Za-z0-9_])($banned) *\(" -- '*.c' '*.h' ':!tests/'; then
        echo "not ok 1 - banned functions above (use snprintf, sb_parse_u64, secure_getenv, strtok_r)"
        status=1
else
        echo "ok 1 - no banned functions"
fi
big=$(git ls-files '*.c' '*.h' | xargs wc -l | awk '$2 != "total" && $1 > 900 {print $2 " (" $1 " lines)"}')
if [ -n "$big" ]; then
        echo "not ok 2 - files over 900 lines: $big"
        status=1
else
        echo "ok 2 - no source file over 900 lines"
fi
echo "1..2"
exit $status
