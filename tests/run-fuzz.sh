#!/bin/sh
# Runs each libFuzzer target for $1 seconds from its seed corpus (copied to a
# scratch directory so the repository is never written). A target fails when
# it crashes, leaks, times out, or executed no input at all (a fuzzer that
# never ran proves nothing). $1 must be a whole number of seconds >= 1:
# libFuzzer reads -max_total_time=0 as "no limit", so 0 is refused here.
secs=$1; shift
case "$secs" in
'' | *[!0-9]*) secs_ok=0 ;;
*) [ "$secs" -ge 1 ] && secs_ok=1 || secs_ok=0 ;;
esac
if [ "$secs_ok" -ne 1 ]; then
	echo "run-fuzz.sh: seconds per target must be a whole number >= 1 (FUZZ_SECONDS=$secs)" >&2
	echo "fuzz: 0 passed, 1 failed, 0 skipped"
	exit 1
fi
[ $# -gt 0 ] || { echo "run-fuzz.sh: no fuzz targets given" >&2; echo "fuzz: 0 passed, 1 failed, 0 skipped"; exit 1; }
passed=0; failed=0
for f in "$@"; do
	name=$(basename "$f")
	work=$(mktemp -d)
	[ -d "tests/fuzz/corpus/$name" ] && cp -r "tests/fuzz/corpus/$name/." "$work/"
	"$f" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$work/" "$work" >"$work.log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9][0-9]*\).*/\1/p' "$work.log" | tail -1)
	if [ "$rc" -eq 0 ] && [ "${runs:-0}" -gt 0 ]; then
		echo "fuzz $name: ok, $runs inputs in ${secs}s"
		passed=$((passed + 1))
	else
		if [ "$rc" -eq 0 ]; then
			echo "fuzz $name: FAILED (executed ${runs:-no} inputs)"
		else
			echo "fuzz $name: FAILED (exit status $rc)"
		fi
		tail -40 "$work.log"
		ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* 2>/dev/null
		failed=$((failed + 1))
	fi
	rm -rf "$work" "$work.log"
done
echo "fuzz: $passed passed, $failed failed, 0 skipped"
[ "$failed" -eq 0 ]
