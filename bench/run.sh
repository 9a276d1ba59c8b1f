#!/usr/bin/env bash
# bench/run.sh — every wsgw benchmark, server pinned to CPU 0 and the load
# generator to CPU 1, each scenario RUNS times; prints every run's RESULT
# line, then a summary of medians with wsgw/rawecho ratios. What each
# scenario measures: bench/README.md.
#
#   make bench                      (builds, then runs this)
#   RUNS=5 ECHO_S=5 HS_S=5 bench/run.sh
#   WSGW=/path/to/other/wsgw bench/run.sh     (another build of wsgw)
#
# The binaries are copied at start, so a rebuild during the run does not
# mix two versions of wsgw in one table.
# Exit status: 0, or 1 if a build is missing, a server fails to start, or
# any run reported errors (the summary is printed either way).
set -euo pipefail

cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}          # runs per scenario (median reported)
ECHO_S=${ECHO_S:-5}      # echo measurement window, seconds
HS_S=${HS_S:-5}          # handshake measurement window, seconds
WARMUP_S=${WARMUP_S:-1}  # traffic before each window
IDLE_NS=${IDLE_NS:-"10000 19000"}
WAIT_QUIET=${WAIT_QUIET:-30}  # seconds to wait for a busy machine to go quiet
RETRIES=${RETRIES:-8}         # repeats allowed for runs disturbed by other processes
SERVER_CPU=0
CLIENT_CPU=1

WSGW=${WSGW:-build/release/wsgw}
RAWECHO=build/bench/rawecho
LOADGEN=build/bench/loadgen
WSGW_FLAGS=(--listen 127.0.0.1:0 --mgmt-listen 127.0.0.1:0 --idle-timeout off
	--ping-interval off --max-connections 25000 --log-level info)
RAW_FLAGS=(--listen 127.0.0.1:0)

die() {
	echo "bench/run.sh: $*" >&2
	exit 1
}

for b in "$WSGW" "$RAWECHO" "$LOADGEN"; do
	[ -x "$b" ] || die "missing $b — build it first: make bench-build"
done
command -v taskset >/dev/null || die "taskset not found (Debian package util-linux)"
if [ "$(nproc)" -lt 2 ]; then
	echo "bench/run.sh: warning: only $(nproc) CPU; server and load generator share CPU 0" >&2
	CLIENT_CPU=0
fi
ulimit -n "$(ulimit -Hn)"

TMP=$(mktemp -d /tmp/wsgw-bench.XXXXXX)
PIDS=()      # every process this script started and may still have to end
ERRORS=0
ODD=()       # wsgw log lines above info, runs with errors

cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

WSGW_ID="$WSGW: sha256 $(sha256sum "$WSGW" | cut -c1-16), built $(date -u -r "$WSGW" '+%F %T UTC')"
cp "$WSGW" "$TMP/wsgw-bin"
cp "$RAWECHO" "$TMP/rawecho-bin"
cp "$LOADGEN" "$TMP/loadgen-bin"
WSGW_SHOWN=$WSGW RAWECHO_SHOWN=$RAWECHO LOADGEN_SHOWN=$LOADGEN
WSGW=$TMP/wsgw-bin RAWECHO=$TMP/rawecho-bin LOADGEN=$TMP/loadgen-bin

forget() { # drops a pid from PIDS once it has been waited for
	local p keep=()
	for p in "${PIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	PIDS=("${keep[@]+"${keep[@]}"}")
}

# start_server NAME BINARY FLAGS... — starts it on SERVER_CPU and waits for
# its "(port N)" line; sets SRV_PID and SRV_PORT.
start_server() {
	local name=$1 log="$TMP/$1.log" i
	shift
	taskset -c "$SERVER_CPU" "$@" >"$log" 2>&1 &
	SRV_PID=$!
	PIDS+=("$SRV_PID")
	SRV_PORT=
	for i in $(seq 100); do
		SRV_PORT=$(grep -o -m1 '(port [0-9]*)' "$log" | head -n1 | tr -dc 0-9) || true
		[ -n "$SRV_PORT" ] && return 0
		kill -0 "$SRV_PID" 2>/dev/null || break
		sleep 0.05
	done
	cat "$log" >&2
	die "$name did not print its \"(port N)\" line: $*"
}

# stop_server NAME PID — SIGTERM, then SIGKILL after 10 s; keeps odd log lines.
stop_server() {
	local name=$1 pid=$2 i line
	kill -TERM "$pid" 2>/dev/null || true
	for i in $(seq 200); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	forget "$pid"
	while IFS= read -r line; do
		ODD+=("$name: $line")
	done < <(grep -E ' (warn|error) |AddressSanitizer|runtime error' "$TMP/$name.log" || true)
}

field() { # field KEY < RESULT line
	tr ' ' '\n' | sed -n "s/^$1=//p" | head -n1
}

median() { # median of the numbers on stdin
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "n/a"; exit }
		if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# record TAG LINE — keeps a RESULT line under TAG and notes its errors.
record() {
	local tag=$1 line=$2 e
	[ -n "$line" ] || { ERRORS=$((ERRORS + 1)); ODD+=("$tag: no RESULT line"); return; }
	echo "$tag $line" >>"$TMP/results"
	echo "  $line"
	e=$(field errors <<<"$line")
	if [ "${e:-0}" != 0 ]; then
		ERRORS=$((ERRORS + 1))
		ODD+=("$tag: $line")
	fi
	e=$(field other_cpu_pct <<<"$line")
	if awk -v o="${e:-0}" 'BEGIN { exit !(o > 10) }'; then
		ODD+=("$tag: other processes used ${e}% of a core during this run")
	fi
}

busy_ticks() { # the machine's non-idle ticks, all CPUs
	awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}

# Something else keeping the machine busy would share the cores: wait up
# to $1 seconds (default WAIT_QUIET) for it to stop, then warn and go on.
quiet_check() {
	local b0 b1 pct waited=0 limit=${1:-$WAIT_QUIET}
	while :; do
		b0=$(busy_ticks)
		sleep 1
		b1=$(busy_ticks)
		pct=$(( (b1 - b0) * 100 / $(getconf CLK_TCK) ))
		[ "$pct" -gt 10 ] || return 0
		[ "$waited" -lt "$limit" ] || break
		[ "$waited" -gt 0 ] || echo "bench/run.sh: the machine is busy (${pct}% of a core);" \
			"waiting up to ${limit} s for it to go quiet" >&2
		waited=$((waited + 1))
	done
	echo "bench/run.sh: warning: the machine is still busy (${pct}% of a core in use);" \
		"figures will be low and noisy — see other_cpu_pct" >&2
	ODD+=("before start: other processes used ${pct}% of a core")
}

med() { # med TAG KEY — median of KEY over TAG's runs
	grep "^$1 " "$TMP/results" | while IFS= read -r l; do field "$2" <<<"$l"; done | median
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "n/a" }'
}

# measure TAG LOADGEN-ARGS... — one echo or handshake run, recorded. A run
# during which other processes took more than 10% of a core is repeated
# (after waiting for quiet), while the RETRIES budget for the whole script
# lasts; the last attempt is kept either way.
measure() {
	local tag=$1 line other
	shift
	while :; do
		line=$(taskset -c "$CLIENT_CPU" "$LOADGEN" "$@" | grep '^RESULT' || true)
		other=$(field other_cpu_pct <<<"$line")
		awk -v o="${other:-0}" 'BEGIN { exit !(o > 10) }' && [ "$RETRIES" -gt 0 ] || break
		RETRIES=$((RETRIES - 1))
		echo "  (other processes used ${other}% of a core: run repeated)"
		quiet_check 10
	done
	record "$tag" "$line"
}

# ---- (a), (b), (c): echo against wsgw and rawecho ------------------------
echo_scenarios() {
	local ws_pid ws_port raw_pid raw_port i spec conns inflight
	start_server wsgw "$WSGW" "${WSGW_FLAGS[@]}"
	ws_pid=$SRV_PID ws_port=$SRV_PORT
	start_server rawecho "$RAWECHO" "${RAW_FLAGS[@]}"
	raw_pid=$SRV_PID raw_port=$SRV_PORT
	for spec in 100x16 1000x1; do
		conns=${spec%x*} inflight=${spec#*x}
		echo "== echo ${conns} conns x ${inflight} in flight x 32 B, ${ECHO_S} s, ${RUNS} runs"
		for i in $(seq "$RUNS"); do
			# Alternate the targets so drift hits both alike.
			measure "echo$spec-ws" echo --mode ws --target "127.0.0.1:$ws_port" \
				--conns "$conns" --inflight "$inflight" --size 32 --duration "$ECHO_S" \
				--warmup "$WARMUP_S" --server-pid "$ws_pid"
			measure "echo$spec-raw" echo --mode raw --target "127.0.0.1:$raw_port" \
				--conns "$conns" --inflight "$inflight" --size 32 --duration "$ECHO_S" \
				--warmup "$WARMUP_S" --server-pid "$raw_pid"
		done
	done
	stop_server rawecho "$raw_pid"
	stop_server wsgw "$ws_pid"
}

# ---- (d): handshakes/s ------------------------------------------------------
handshake_scenario() {
	local i
	start_server wsgw "$WSGW" "${WSGW_FLAGS[@]}"
	echo "== handshake 50 conns (connect, upgrade, close handshake), ${HS_S} s, ${RUNS} runs"
	for i in $(seq "$RUNS"); do
		measure handshake handshake --target "127.0.0.1:$SRV_PORT" --conns 50 \
			--duration "$HS_S" --warmup "$WARMUP_S" --server-pid "$SRV_PID"
	done
	stop_server wsgw "$SRV_PID"
}

rss_kb() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# ---- (e): VmRSS per idle connection, a fresh wsgw per run -------------------
idle_run() {
	local n=$1 out="$TMP/idle.out" lg i rss0 rss1 line bytes
	start_server wsgw "$WSGW" "${WSGW_FLAGS[@]}"
	sleep 0.3
	rss0=$(rss_kb "$SRV_PID")
	# Not through loadgen(): $! must be the load generator itself.
	taskset -c "$CLIENT_CPU" "$LOADGEN" idle --target "127.0.0.1:$SRV_PORT" --conns "$n" \
		--hold 120 >"$out" &
	lg=$!
	PIDS+=("$lg")
	for i in $(seq 1200); do
		grep -q '^ready' "$out" && break
		kill -0 "$lg" 2>/dev/null || break
		sleep 0.05
	done
	sleep 0.5 # let the server finish anything after the last 101
	rss1=$(rss_kb "$SRV_PID")
	kill -TERM "$lg" 2>/dev/null || true
	wait "$lg" || true
	forget "$lg"
	stop_server wsgw "$SRV_PID"
	line=$(grep '^RESULT' "$out" || true)
	if [ -n "$line" ] && grep -q '^ready' "$out"; then
		bytes=$(awk -v a="$rss0" -v b="$rss1" -v n="$n" 'BEGIN { printf "%.1f", (b - a) * 1024 / n }')
		line="$line server_rss_before_kb=$rss0 server_rss_after_kb=$rss1 server_bytes_per_conn=$bytes"
	fi
	record "idle$n" "$line"
}

machine() {
	echo "date:    $(date -u)"
	echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)," \
		"$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)," \
		"kernel $(uname -sr), open files $(ulimit -n)"
	echo "wsgw:    $("$WSGW" --version 2>/dev/null || true), $WSGW_ID;" \
		"source tree $(git describe --always --dirty 2>/dev/null || echo '(not a git checkout)')"
	echo "command: $RUN_CMD"
	echo "servers: taskset -c $SERVER_CPU $WSGW_SHOWN ${WSGW_FLAGS[*]}"
	echo "         taskset -c $SERVER_CPU $RAWECHO_SHOWN ${RAW_FLAGS[*]}"
	echo "loadgen: taskset -c $CLIENT_CPU $LOADGEN_SHOWN echo --mode ws|raw --target 127.0.0.1:PORT" \
		"--conns C --inflight I --size 32 --duration $ECHO_S --warmup $WARMUP_S --server-pid PID"
	echo "         taskset -c $CLIENT_CPU $LOADGEN_SHOWN handshake --target 127.0.0.1:PORT --conns 50" \
		"--duration $HS_S --warmup $WARMUP_S --server-pid PID"
	echo "         taskset -c $CLIENT_CPU $LOADGEN_SHOWN idle --target 127.0.0.1:PORT --conns N" \
		"--hold 120 (SIGTERM after \"ready\"; a fresh wsgw per run)"
}

echo_rows() { # echo_rows SPEC LABEL
	local ws=echo$1-ws raw=echo$1-raw k a b
	for k in msgs_per_s p50_us p99_us server_busy_us_per_msg server_cpu_pct loadgen_cpu_pct \
		other_cpu_pct; do
		a=$(med "$ws" "$k") b=$(med "$raw" "$k")
		printf '%-28s %-24s %12s %12s %9s\n' "$2" "$k" "$a" "$b" "$(ratio "$a" "$b")"
	done
}

summary() {
	local n k
	echo
	echo "== summary: median of $RUNS runs; server on CPU $SERVER_CPU, load generator on CPU $CLIENT_CPU"
	machine
	echo
	printf '%-28s %-24s %12s %12s %9s\n' scenario figure wsgw rawecho wsgw/raw
	echo_rows 100x16 "echo 100 x 16 x 32 B"
	echo_rows 1000x1 "echo 1000 x 1 x 32 B"
	for k in handshakes_per_s p50_us p99_us server_busy_us_per_handshake server_cpu_pct \
		loadgen_cpu_pct other_cpu_pct; do
		printf '%-28s %-24s %12s %12s %9s\n' "handshake 50 conns" "$k" "$(med handshake "$k")" - -
	done
	for n in $IDLE_NS; do
		for k in server_rss_before_kb server_rss_after_kb server_bytes_per_conn; do
			printf '%-28s %-24s %12s %12s %9s\n' "idle $n conns" "$k" "$(med "idle$n" "$k")" - -
		done
	done
	echo
	if [ "${#ODD[@]}" -gt 0 ]; then
		echo "== worth a look:"
		printf '  %s\n' "${ODD[@]}"
	else
		echo "== no errors, no wsgw warnings"
	fi
}

RUN_CMD="${WSGW_SHOWN:+WSGW=$WSGW_SHOWN }RUNS=$RUNS ECHO_S=$ECHO_S HS_S=$HS_S WARMUP_S=$WARMUP_S IDLE_NS=\"$IDLE_NS\" WAIT_QUIET=$WAIT_QUIET RETRIES=$RETRIES $0${*:+ $*}"
: >"$TMP/results"
quiet_check
echo_scenarios
handshake_scenario
for n in $IDLE_NS; do
	echo "== idle $n conns, ${RUNS} runs"
	for i in $(seq "$RUNS"); do
		idle_run "$n"
	done
done
summary
[ "$ERRORS" -eq 0 ] || exit 1
