#!/usr/bin/env bash
# bench/run.sh — every wsgw benchmark, server pinned to CPU 0 and the load
# generator to CPU 1, each scenario RUNS times; prints every run's RESULT
# line, then a summary of medians with wsgw/rawecho ratios. What each
# scenario measures: bench/README.md.
#
#   make bench                      (builds, then runs this)
#   RUNS=5 ECHO_S=5 HS_S=5 bench/run.sh
#   WSGW=/path/to/other/wsgw bench/run.sh     (another build of wsgw)
#   WSGW_OLD=/tmp/old/build/release/wsgw SCENARIOS=echo bench/run.sh
#                               (old and new wsgw in turn in every echo run)
#   UWS=1 SCENARIOS=echo bench/run.sh
#                               (uWebSockets.js in turn in every echo run too)
#
# The binaries are copied at start, so a rebuild during the run does not
# mix two versions of wsgw in one table.
# Exit status: 0, or 1 if a build is missing, a server fails to start, or
# any run reported errors (the summary is printed either way).
set -euo pipefail

cd "$(dirname "$0")/.."
BENCH_NAME=bench/run.sh
RESULT_NAME=RESULT  # loadgen's lines: "RESULT key=value ..."
ERRORS_SHOWN=       # a run with errors shows as its whole RESULT line
ODD_LOG_LINES=      # every odd wsgw log line
# shellcheck source-path=SCRIPTDIR/..
. bench/lib.sh

RUNS=${RUNS:-5}          # runs per scenario (median reported)
ECHO_S=${ECHO_S:-5}      # echo measurement window, seconds
HS_S=${HS_S:-5}          # handshake measurement window, seconds
WARMUP_S=${WARMUP_S:-1}  # traffic before each window
IDLE_NS=${IDLE_NS:-"10000 19000"}
# (e) is run twice per run, alternately: without a User-Agent and with this
# one on every connection (a 111-byte Chrome string); IDLE_UA= skips it.
IDLE_UA=${IDLE_UA-"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"}
SCENARIOS=${SCENARIOS:-"echo handshake idle"} # echo = (a)-(c), handshake = (d), idle = (e)
WAIT_QUIET=${WAIT_QUIET:-30}  # seconds to wait for a busy machine to go quiet
RETRIES=${RETRIES:-8}         # repeats allowed for runs disturbed by other processes
SERVER_CPU=0
CLIENT_CPU=1

WSGW=${WSGW:-build/release/wsgw}
# Another wsgw binary (a build of the tree before a change): the echo
# scenarios then run it too, new, old and rawecho in turn in every run, and
# the summary adds its medians and new/old ratios. handshake and idle run
# WSGW only.
WSGW_OLD=${WSGW_OLD:-}
# UWS=1: uWebSockets (bench/uwsbcast.js on uWebSockets.js, installed outside
# the repo as bench/README.md "Broadcast" says; it echoes every message) in
# the echo scenarios too, after wsgw in every run; the summary adds its
# medians and wsgw/uws ratios, and issue 12's echo target.
UWS=${UWS:-}
NODE=${NODE:-node}
UWS_DIR=${UWS_DIR:-/work/peers/uws}
UWS_NODE=${UWS_NODE:-$UWS_DIR/package/binaries/uws_linux_x64_$("$NODE" -p process.versions.modules 2>/dev/null || echo X).node}
RAWECHO=build/bench/rawecho
LOADGEN=build/bench/loadgen
WSGW_FLAGS=(--listen 127.0.0.1:0 --mgmt-listen 127.0.0.1:0 --idle-timeout off
	--ping-interval off --max-connections 25000 --log-level info)
RAW_FLAGS=(--listen 127.0.0.1:0)

need_bins "make bench-build" "$WSGW" "$RAWECHO" "$LOADGEN"
[ -z "$WSGW_OLD" ] || need_bins "a build of the old tree" "$WSGW_OLD"
if [ -n "$UWS" ]; then
	command -v "$NODE" >/dev/null || die "node not found (Debian package nodejs), or UWS="
	[ -f "$UWS_NODE" ] || die "missing $UWS_NODE — install uWebSockets.js outside the repo" \
		"(bench/README.md, \"Broadcast\"), or UWS="
fi
for sc in $SCENARIOS; do
	case $sc in echo | handshake | idle) ;; *) die "unknown scenario $sc (SCENARIOS: echo handshake idle)" ;; esac
done
command -v taskset >/dev/null || die "taskset not found (Debian package util-linux)"
check_cpus "server and load generator share CPU 0"
bench_setup wsgw-bench
copy_bins -bin WSGW RAWECHO LOADGEN
if [ -n "$WSGW_OLD" ]; then
	WSGW_OLD_ID="$WSGW_OLD: sha256 $(sha256sum "$WSGW_OLD" | cut -c1-16), built $(date -u -r "$WSGW_OLD" '+%F %T UTC')"
	copy_bins -bin WSGW_OLD
fi
if [ -n "$UWS" ]; then
	cp bench/uwsbcast.js "$TMP/uwsbcast.js"
	UWS_ID="$UWS_NODE: sha256 $(sha256sum "$UWS_NODE" | cut -c1-16), node $("$NODE" --version)"
fi

# start_server NAME BINARY FLAGS... — starts it on SERVER_CPU and waits for
# its "(port N)" line; sets SRV_PID and SRV_PORT.
start_server() {
	local name=$1
	shift
	spawn "$name" "$SERVER_CPU" "$@"
	SRV_PID=$BG_PID
	wait_log "$name" "$SRV_PID" '\(port [0-9]+\)' 5 "its \"(port N)\" line: $*"
	SRV_PORT=$(log_port "$name")
}

# Something else keeping the machine busy would share the cores: wait up
# to $1 seconds (default WAIT_QUIET) for it to stop, then warn and go on.
quiet_check() {
	wait_quiet "$@"
	[ -n "$STILL_BUSY" ] || return 0
	echo "$BENCH_NAME: warning: the machine is still busy (${STILL_BUSY}% of a core in use);" \
		"figures will be low and noisy — see other_cpu_pct" >&2
	ODD+=("before start: other processes used ${STILL_BUSY}% of a core")
}

ran() { # ran SCENARIO — true if SCENARIOS holds it
	case " $SCENARIOS " in *" $1 "*) return 0 ;; esac
	return 1
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "n/a" }'
}

# loadgen_run LOADGEN-ARGS... — one echo or handshake run on CLIENT_CPU; its
# RESULT line (run it through measure).
loadgen_run() {
	taskset -c "$CLIENT_CPU" "$LOADGEN" "$@" | grep '^RESULT'
}

# ---- (a), (b), (c): echo against wsgw and rawecho ------------------------
echo_scenarios() {
	local ws_pid ws_port raw_pid raw_port old_pid old_port uws_pid uws_port spec conns inflight
	start_server wsgw "$WSGW" "${WSGW_FLAGS[@]}"
	ws_pid=$SRV_PID ws_port=$SRV_PORT
	if [ -n "$WSGW_OLD" ]; then
		start_server wsgw-old "$WSGW_OLD" "${WSGW_FLAGS[@]}"
		old_pid=$SRV_PID old_port=$SRV_PORT
	fi
	if [ -n "$UWS" ]; then
		start_server uws env UWS_NODE="$UWS_NODE" "$NODE" "$TMP/uwsbcast.js" --listen 127.0.0.1:0
		uws_pid=$SRV_PID uws_port=$SRV_PORT
	fi
	start_server rawecho "$RAWECHO" "${RAW_FLAGS[@]}"
	raw_pid=$SRV_PID raw_port=$SRV_PORT
	for spec in 100x16 1000x1; do
		conns=${spec%x*} inflight=${spec#*x}
		echo "== echo ${conns} conns x ${inflight} in flight x 32 B, ${ECHO_S} s, ${RUNS} runs"
		for _ in $(seq "$RUNS"); do
			# Alternate the targets so drift hits both alike.
			measure "echo$spec-ws" loadgen_run echo --mode ws --target "127.0.0.1:$ws_port" \
				--conns "$conns" --inflight "$inflight" --size 32 --duration "$ECHO_S" \
				--warmup "$WARMUP_S" --server-pid "$ws_pid"
			[ -z "$WSGW_OLD" ] ||
				measure "echo$spec-old" loadgen_run echo --mode ws --target "127.0.0.1:$old_port" \
					--conns "$conns" --inflight "$inflight" --size 32 --duration "$ECHO_S" \
					--warmup "$WARMUP_S" --server-pid "$old_pid"
			[ -z "$UWS" ] ||
				measure "echo$spec-uws" loadgen_run echo --mode ws --target "127.0.0.1:$uws_port" \
					--conns "$conns" --inflight "$inflight" --size 32 --duration "$ECHO_S" \
					--warmup "$WARMUP_S" --server-pid "$uws_pid"
			measure "echo$spec-raw" loadgen_run echo --mode raw --target "127.0.0.1:$raw_port" \
				--conns "$conns" --inflight "$inflight" --size 32 --duration "$ECHO_S" \
				--warmup "$WARMUP_S" --server-pid "$raw_pid"
		done
	done
	stop_proc rawecho "$raw_pid"
	[ -z "$UWS" ] || stop_proc uws "$uws_pid"
	[ -z "$WSGW_OLD" ] || stop_proc wsgw-old "$old_pid"
	stop_proc wsgw "$ws_pid"
}

# ---- (d): handshakes/s ------------------------------------------------------
handshake_scenario() {
	start_server wsgw "$WSGW" "${WSGW_FLAGS[@]}"
	echo "== handshake 50 conns (connect, upgrade, close handshake), ${HS_S} s, ${RUNS} runs"
	for _ in $(seq "$RUNS"); do
		measure handshake loadgen_run handshake --target "127.0.0.1:$SRV_PORT" --conns 50 \
			--duration "$HS_S" --warmup "$WARMUP_S" --server-pid "$SRV_PID"
	done
	stop_proc wsgw "$SRV_PID"
}

rss_kb() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# ---- (e): VmRSS per idle connection, a fresh wsgw per run -------------------
# idle_run N [USER-AGENT] — recorded as idleN, or idleN-ua with a User-Agent.
idle_run() {
	local n=$1 ua=${2:-} out="$TMP/idle.out" lg rss0 rss1 line bytes tag=idle$1
	local uaflag=()
	[ -z "$ua" ] || { uaflag=(--user-agent "$ua"); tag=idle$n-ua; }
	start_server wsgw "$WSGW" "${WSGW_FLAGS[@]}"
	sleep 0.3
	rss0=$(rss_kb "$SRV_PID")
	# Not through loadgen(): $! must be the load generator itself.
	taskset -c "$CLIENT_CPU" "$LOADGEN" idle --target "127.0.0.1:$SRV_PORT" --conns "$n" \
		--hold 120 "${uaflag[@]+"${uaflag[@]}"}" >"$out" &
	lg=$!
	PIDS+=("$lg")
	for _ in $(seq 1200); do
		grep -q '^ready' "$out" && break
		kill -0 "$lg" 2>/dev/null || break
		sleep 0.05
	done
	sleep 0.5 # let the server finish anything after the last 101
	rss1=$(rss_kb "$SRV_PID")
	kill -TERM "$lg" 2>/dev/null || true
	wait "$lg" || true
	forget "$lg"
	stop_proc wsgw "$SRV_PID"
	line=$(grep '^RESULT' "$out" || true)
	if [ -n "$line" ] && grep -q '^ready' "$out"; then
		bytes=$(awk -v a="$rss0" -v b="$rss1" -v n="$n" 'BEGIN { printf "%.1f", (b - a) * 1024 / n }')
		line="$line server_rss_before_kb=$rss0 server_rss_after_kb=$rss1 server_bytes_per_conn=$bytes"
	fi
	record "$tag" "$line"
}

machine() {
	machine_lines
	echo "command: $RUN_CMD"
	echo "servers: taskset -c $SERVER_CPU $WSGW_SHOWN ${WSGW_FLAGS[*]}"
	[ -z "$WSGW_OLD" ] || echo "old:     taskset -c $SERVER_CPU $WSGW_OLD_SHOWN ${WSGW_FLAGS[*]}; $WSGW_OLD_ID;" \
		"$("$WSGW_OLD" --version 2>/dev/null || true)"
	[ -z "$UWS" ] || echo "uws:     taskset -c $SERVER_CPU env UWS_NODE=$UWS_NODE $NODE bench/uwsbcast.js" \
		"--listen 127.0.0.1:0; $UWS_ID"
	echo "         taskset -c $SERVER_CPU $RAWECHO_SHOWN ${RAW_FLAGS[*]}"
	echo "loadgen: taskset -c $CLIENT_CPU $LOADGEN_SHOWN echo --mode ws|raw --target 127.0.0.1:PORT" \
		"--conns C --inflight I --size 32 --duration $ECHO_S --warmup $WARMUP_S --server-pid PID"
	echo "         taskset -c $CLIENT_CPU $LOADGEN_SHOWN handshake --target 127.0.0.1:PORT --conns 50" \
		"--duration $HS_S --warmup $WARMUP_S --server-pid PID"
	echo "         taskset -c $CLIENT_CPU $LOADGEN_SHOWN idle --target 127.0.0.1:PORT --conns N" \
		"--hold 120 (SIGTERM after \"ready\"; a fresh wsgw per run)${IDLE_UA:+; alternately with --user-agent of ${#IDLE_UA} bytes}"
}

echo_rows() { # echo_rows SPEC LABEL
	local ws=echo$1-ws raw=echo$1-raw k a b
	for k in msgs_per_s p50_us p99_us server_busy_us_per_msg server_cpu_pct loadgen_cpu_pct \
		other_cpu_pct; do
		a=$(med "$ws" "$k") b=$(med "$raw" "$k")
		printf '%-28s %-24s %12s %12s %9s' "$2" "$k" "$a" "$b" "$(ratio "$a" "$b")"
		# with WSGW_OLD: the old binary's median and new/old
		[ -z "$WSGW_OLD" ] || printf ' %12s %9s' "$(med "echo$1-old" "$k")" "$(ratio "$a" "$(med "echo$1-old" "$k")")"
		# with UWS: uWebSockets' median and wsgw/uws
		[ -z "$UWS" ] || printf ' %12s %9s' "$(med "echo$1-uws" "$k")" "$(ratio "$a" "$(med "echo$1-uws" "$k")")"
		printf '\n'
	done
}

summary() {
	local n k
	echo
	echo "== summary: median of $RUNS runs; server on CPU $SERVER_CPU, load generator on CPU $CLIENT_CPU"
	machine
	echo
	printf '%-28s %-24s %12s %12s %9s' scenario figure wsgw rawecho wsgw/raw
	[ -z "$WSGW_OLD" ] || printf ' %12s %9s' wsgw-old new/old
	[ -z "$UWS" ] || printf ' %12s %9s' uws wsgw/uws
	printf '\n'
	if ran echo; then
		echo_rows 100x16 "echo 100 x 16 x 32 B"
		echo_rows 1000x1 "echo 1000 x 1 x 32 B"
	fi
	! ran handshake || for k in handshakes_per_s p50_us p99_us server_busy_us_per_handshake server_cpu_pct \
		loadgen_cpu_pct other_cpu_pct; do
		printf '%-28s %-24s %12s %12s %9s\n' "handshake 50 conns" "$k" "$(med handshake "$k")" - -
	done
	! ran idle || for n in $IDLE_NS; do
		for k in server_rss_before_kb server_rss_after_kb server_bytes_per_conn; do
			printf '%-28s %-24s %12s %12s %9s\n' "idle $n conns" "$k" "$(med "idle$n" "$k")" - -
		done
		[ -n "$IDLE_UA" ] || continue
		printf '%-28s %-24s %12s %12s %9s\n' "idle $n conns, User-Agent" server_bytes_per_conn \
			"$(med "idle$n-ua" server_bytes_per_conn)" - -
	done
	echo
	targets
	echo
	worth_a_look
}

# The targets of README.md's table, judged from the medians above.
target() { # target WHAT VALUE OP LIMIT
	printf '  %-52s %10s %-3s %-6s %s\n' "$1" "$2" "$3" "$4" "$(verdict "$2" "$3" "$4")"
}

targets() {
	local spec n a b
	echo "== targets"
	! ran echo || for spec in 100x16 1000x1; do
		a=$(med "echo$spec-ws" msgs_per_s) b=$(med "echo$spec-raw" msgs_per_s)
		target "echo ${spec/x/ x }: messages/s, wsgw / raw echo" "$(ratio "$a" "$b")" ">=" 0.9
		a=$(med "echo$spec-ws" server_busy_us_per_msg) b=$(med "echo$spec-raw" server_busy_us_per_msg)
		target "echo ${spec/x/ x }: server busy per message, wsgw / raw" "$(ratio "$a" "$b")" "<=" 1.15
		printf '  %-52s %10s (median of the per-run ratios, no target)\n' \
			"  the same, run by run" "$(pair_med "echo$spec-ws" "echo$spec-raw" server_busy_us_per_msg)"
		[ -z "$UWS" ] || printf '  %-52s %10s (median of the per-run ratios, no target)\n' \
			"  wsgw / uWebSockets, run by run" "$(pair_med "echo$spec-ws" "echo$spec-uws" server_busy_us_per_msg)"
		[ -z "$WSGW_OLD" ] || printf '  %-52s %10s (no target; a slowdown shows above 1)\n' \
			"echo ${spec/x/ x }: server busy per message, new / old" \
			"$(ratio "$a" "$(med "echo$spec-old" server_busy_us_per_msg)")"
		# issue 12: server busy per message <= uWebSockets', or <= 1.05x rawecho's
		target "  issue 12: the same, wsgw / raw" "$(ratio "$a" "$b")" "<=" 1.05
		[ -z "$UWS" ] ||
			target "  issue 12: the same, wsgw / uWebSockets" \
				"$(ratio "$a" "$(med "echo$spec-uws" server_busy_us_per_msg)")" "<=" 1.00
	done
	! ran idle || for n in $IDLE_NS; do
		target "RSS per idle connection, $n conns (B)" "$(med "idle$n" server_bytes_per_conn)" "<=" 256
		[ -z "$IDLE_UA" ] ||
			target "  the same with a User-Agent (B)" "$(med "idle$n-ua" server_bytes_per_conn)" "<=" 256
	done
}

RUN_CMD="${WSGW_SHOWN:+WSGW=$WSGW_SHOWN }${WSGW_OLD:+WSGW_OLD=$WSGW_OLD_SHOWN }${UWS:+UWS=$UWS }SCENARIOS=\"$SCENARIOS\" RUNS=$RUNS ECHO_S=$ECHO_S HS_S=$HS_S WARMUP_S=$WARMUP_S IDLE_NS=\"$IDLE_NS\" IDLE_UA=\"$IDLE_UA\" WAIT_QUIET=$WAIT_QUIET RETRIES=$RETRIES $0${*:+ $*}"
: >"$TMP/results"
quiet_check
! ran echo || echo_scenarios
! ran handshake || handshake_scenario
! ran idle || for n in $IDLE_NS; do
	echo "== idle $n conns, ${RUNS} runs"
	for _ in $(seq "$RUNS"); do
		idle_run "$n"
		[ -z "$IDLE_UA" ] || idle_run "$n" "$IDLE_UA"
	done
done
summary
[ "$ERRORS" -eq 0 ] || exit 1
