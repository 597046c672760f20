#!/bin/sh
# Prints the greeting written at build time and the files copied from the context.
cat /etc/greeting
echo "running as $(whoami) in $(pwd)"
cat "$HELLO_DIR/message.txt"
