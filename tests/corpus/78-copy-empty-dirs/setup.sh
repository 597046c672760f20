# setup.sh: run in the copied context before the build.
set -e
mkdir -p empty tree/hollow
chmod 0700 tree/hollow
