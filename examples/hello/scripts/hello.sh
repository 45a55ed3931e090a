#!/bin/sh
# Prints a greeting from the configured language.
set -eu
lang=$(sed -n 's/^language = //p' "${HELLO_CONF:-/etc/hello/hello.conf}")
grep "^$lang " "${HELLO_HOME:-/opt/hello}/share/greetings.txt" | cut -d' ' -f2-
