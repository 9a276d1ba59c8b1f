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
# One target per core at a time (FUZZ_JOBS, default the number of cores):
# each target still gets its full $secs of one core, in half the wall time
# on this 2-core machine. Results print in the order the targets were given.
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
case "$jobs" in '' | *[!0-9]* | 0) jobs=1 ;; esac
run_one() { # run_one TARGET WORKDIR: writes WORKDIR.log and WORKDIR.rc
	[ -d "tests/fuzz/corpus/$(basename "$1")" ] && cp -r "tests/fuzz/corpus/$(basename "$1")/." "$2/"
	"$1" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$2/" "$2" >"$2.log" 2>&1
	echo $? >"$2.rc"
}
report() { # report TARGET WORKDIR
	name=$(basename "$1"); work=$2
	rc=$(cat "$work.rc")
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
	rm -rf "$work" "$work.log" "$work.rc"
}
passed=0; failed=0
while [ $# -gt 0 ]; do
	batch=""; n=0
	while [ $# -gt 0 ] && [ "$n" -lt "$jobs" ]; do
		work=$(mktemp -d)
		run_one "$1" "$work" &
		batch="$batch $1=$work"; n=$((n + 1)); shift
	done
	wait
	for pair in $batch; do
		report "${pair%%=*}" "${pair#*=}"
	done
done
echo "fuzz: $passed passed, $failed failed, 0 skipped"
[ "$failed" -eq 0 ]
