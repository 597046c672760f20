# setup.sh: run in the copied context before the build.
set -e
ln -s target.txt link
mkdir -p dir
ln -s ../target.txt dir/l
ln -s nowhere dir/dangling
