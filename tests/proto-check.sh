#!/bin/sh
# Regenerates the protobuf-c code from proto/ into a scratch directory and
# compares it with the committed vendor/pb: they must be identical.
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
if ! protoc-c --c_out="$out" -Iproto -I/usr/include "$@"; then
	echo "proto-check: protoc-c failed"; echo "proto: 0 passed, 1 failed"; exit 1
fi
if diff -r "$out" vendor/pb >/dev/null; then
	echo "proto-check: vendor/pb matches proto/"; echo "proto: 1 passed, 0 failed"
else
	diff -r "$out" vendor/pb | head -20
	echo "proto-check: vendor/pb is stale; run 'make proto'"; echo "proto: 0 passed, 1 failed"; exit 1
fi
