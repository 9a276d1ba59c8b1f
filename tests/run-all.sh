#!/bin/sh
# `make test`: unit tests (release, then ASan+UBSan), integration tests
# (ASan+UBSan, then release), the generated-code check, then short fuzz runs. Each phase prints its own
# summary; the last line, "N passed, N failed", counts everything.
total_p=0; total_f=0; status=0
count() { # count WORD FILE: the number before WORD on the phase's last summary line
	grep -E "[0-9]+ $1" "$2" | tail -1 | sed -n "s/.*[^0-9]\([0-9][0-9]*\) $1.*/\1/p;s/^\([0-9][0-9]*\) $1.*/\1/p" | head -1
}
phase() {
	name=$1; shift
	echo "==> $name"
	log=$(mktemp)
	{ "$@"; echo $? >"$log.rc"; } 2>&1 | tee "$log"
	p=$(count passed "$log"); f=$(count failed "$log"); e=$(count error "$log")
	p=${p:-0}; f=${f:-0}; e=${e:-0}
	if [ "$(cat "$log.rc")" != 0 ]; then
		status=1
		[ "$f" -eq 0 ] && [ "$e" -eq 0 ] && f=1
	fi
	total_p=$((total_p + p)); total_f=$((total_f + f + e))
	rm -f "$log" "$log.rc"
}
FUZZ_SECONDS=${FUZZ_SECONDS:-10}
phase "unit tests (release)" sh -c 'tests/run-unit.sh build/release/tests/*'
phase "unit tests (ASan+UBSan)" sh -c 'tests/run-unit.sh build/asan/tests/*'
phase "integration tests (ASan+UBSan)" env WSGW_BIN=build/asan/wsgw WSGW_ASAN=1 tests/run-integration.sh
phase "integration tests (release)" env WSGW_BIN=build/release/wsgw tests/run-integration.sh
phase "generated protobuf-c code matches proto/" sh -c "tests/proto-check.sh \$(find proto -name '*.proto' | sort) /usr/include/google/protobuf/timestamp.proto"
phase "fuzz (${FUZZ_SECONDS}s per target)" sh -c "tests/run-fuzz.sh $FUZZ_SECONDS build/fuzz/fuzz_*"
echo
echo "$total_p passed, $total_f failed"
[ "$status" -eq 0 ] && [ "$total_f" -eq 0 ]
