#!/bin/sh
# Integration tests: Debian's python3 + pytest driving the real binary
# ($WSGW_BIN) with real clients.
exec /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration "$@"
