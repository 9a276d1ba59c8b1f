#!/bin/sh
# Integration tests: Debian's python3 + pytest driving the real binary
# ($WSGW_BIN) with real clients. -rsxX prints the reason of every skipped,
# xfailed and xpassed test in pytest's short summary, so a skip is never
# silent; pytest's last line counts them ("N passed, N skipped, ...").
exec /usr/bin/python3 -m pytest -q -p no:cacheprovider -rsxX tests/integration "$@"
