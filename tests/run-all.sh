#!/bin/sh
# `make test`: unit tests (release, then ASan+UBSan), integration tests
# (ASan+UBSan, then release), the generated-code check, then short fuzz runs.
# Each phase prints its own summary; the last line, "N passed, N failed,
# N skipped", counts everything (xfailed and xpassed on the line before).
#
# The Makefile passes what it built, so exactly those binaries run and
# nothing stale left under build/ does:
#   UNIT_BINS, UNIT_ASAN_BINS, FUZZ_BINS  space-separated paths
#   PROTO_FILES                           the .proto files of `make proto`
#   FUZZ_SECONDS                          seconds per fuzz target (>= 1)
#
# A phase fails when its command exits non-zero, and also when nothing in it
# passed (everything skipped, or no summary line at all): a phase that ran
# nothing proves nothing. The one exception is a phase named in
# EXPECT_EMPTY_PHASES (space-separated phase keys: unit, unit-asan,
# integration-asan, integration, proto, fuzz), whose skip reasons pytest or
# cmocka printed above; it is reported as skipped, not passed.
total_p=0; total_f=0; total_s=0; total_xf=0; total_xp=0; status=0
for v in UNIT_BINS UNIT_ASAN_BINS FUZZ_BINS PROTO_FILES; do
	eval "val=\${$v}"
	if [ -z "$val" ]; then
		echo "run-all.sh: $v is not set; run it through 'make test'" >&2
		exit 2
	fi
done
count() { # count WORD FILE: the number before WORD on the phase's last summary line
	grep -E "[0-9]+ $1" "$2" | tail -1 | sed -n "s/.*[^0-9]\([0-9][0-9]*\) $1.*/\1/p;s/^\([0-9][0-9]*\) $1.*/\1/p" | head -1
}
phase() {
	key=$1; name=$2; shift 2
	echo "==> $name"
	t0=$(date +%s)
	log=$(mktemp)
	{ "$@"; echo $? >"$log.rc"; } 2>&1 | tee "$log"
	p=$(count passed "$log"); f=$(count failed "$log"); e=$(count error "$log")
	s=$(count skipped "$log"); xf=$(count xfailed "$log"); xp=$(count xpassed "$log")
	p=${p:-0}; f=${f:-0}; e=${e:-0}; s=${s:-0}; xf=${xf:-0}; xp=${xp:-0}
	if [ "$(cat "$log.rc")" != 0 ]; then
		status=1
		[ "$f" -eq 0 ] && [ "$e" -eq 0 ] && f=1
	elif [ "$p" -eq 0 ] && [ "$xp" -eq 0 ]; then
		case " $EXPECT_EMPTY_PHASES " in
		*" $key "*) echo "==> $name: nothing passed ($s skipped); expected (EXPECT_EMPTY_PHASES)" ;;
		*)
			echo "==> $name: FAILED: nothing passed ($s skipped, no other result)"
			status=1; f=$((f + 1)) ;;
		esac
	fi
	echo "==> $name: $p passed, $((f + e)) failed, $s skipped, $xf xfailed, $xp xpassed" \
		"($(($(date +%s) - t0)) s)"
	total_p=$((total_p + p)); total_f=$((total_f + f + e)); total_s=$((total_s + s))
	total_xf=$((total_xf + xf)); total_xp=$((total_xp + xp))
	rm -f "$log" "$log.rc"
}
FUZZ_SECONDS=${FUZZ_SECONDS:-10}
# shellcheck disable=SC2086 # the lists are meant to split into arguments
phase unit "unit tests (release)" tests/run-unit.sh $UNIT_BINS
phase unit-asan "unit tests (ASan+UBSan)" tests/run-unit.sh $UNIT_ASAN_BINS
phase integration-asan "integration tests (ASan+UBSan)" env WSGW_BIN=build/asan/wsgw WSGW_ASAN=1 tests/run-integration.sh
phase integration "integration tests (release)" env WSGW_BIN=build/release/wsgw tests/run-integration.sh
phase proto "generated protobuf-c code matches proto/" tests/proto-check.sh $PROTO_FILES
phase fuzz "fuzz (${FUZZ_SECONDS}s per target)" tests/run-fuzz.sh "$FUZZ_SECONDS" $FUZZ_BINS
echo
echo "xfailed $total_xf, xpassed $total_xp"
echo "$total_p passed, $total_f failed, $total_s skipped"
[ "$status" -eq 0 ] && [ "$total_f" -eq 0 ]
