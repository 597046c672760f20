# setup.sh: run in the copied context before the build.
set -e
chmod 0644 f.txt
