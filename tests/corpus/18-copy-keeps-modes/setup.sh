# setup.sh: run in the copied context before the build.
set -e
chmod 0644 a.txt
chmod 0755 run.sh
chmod 0600 secret
chmod 0640 odd
