#!/bin/sh
# Runs the cmocka unit-test binaries named on the command line (the Makefile
# passes exactly the ones it builds) and prints each one's counts and a total.
# The output format is chosen here, not left to cmocka's default: TAP
# (CMOCKA_MESSAGE_OUTPUT=TAP), whose lines are "1..N", "ok N - name",
# "not ok N - name" and "not ok N # SKIP name". A binary that crashes, exits
# non-zero, or reports fewer results than its plan counts as failed.
# Exit status: non-zero if any binary failed or none was given.
[ $# -gt 0 ] || { echo "run-unit.sh: no unit-test binaries given" >&2; echo "unit: 0 passed, 1 failed, 0 skipped"; exit 1; }
passed=0; failed=0; skipped=0; status=0
for t in "$@"; do
	name=$(basename "$t")
	out=$(CMOCKA_MESSAGE_OUTPUT=TAP "$t" 2>&1); rc=$?
	plan=$(echo "$out" | sed -n 's/^1\.\.\([0-9][0-9]*\)$/\1/p' | head -1)
	s=$(echo "$out" | grep -cE '^not ok [0-9]+ # SKIP')
	f=$(echo "$out" | grep -E '^not ok [0-9]+' | grep -cvE '^not ok [0-9]+ # SKIP')
	p=$(echo "$out" | grep -cE '^ok [0-9]+')
	bad=""
	[ "$rc" -ne 0 ] && bad="exit status $rc"
	[ -z "$plan" ] && bad="${bad:+$bad, }no TAP plan line"
	[ -n "$plan" ] && [ $((p + f + s)) -ne "$plan" ] && bad="${bad:+$bad, }$((p + f + s)) results for a plan of $plan"
	if [ -n "$bad" ]; then
		status=1
		[ "$f" -eq 0 ] && f=1
		echo "$name: FAILED ($bad)"
		echo "$out" | tail -30
	fi
	echo "$name: $p passed, $f failed, $s skipped"
	echo "$out" | grep -E '^not ok [0-9]+ # SKIP' | sed "s|^|$name: |"
	passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
done
echo "unit: $passed passed, $failed failed, $skipped skipped"
exit $status
