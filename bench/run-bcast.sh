#!/usr/bin/env bash
# bench/run-bcast.sh — broadcast of one 32-byte message to every open
# WebSocket connection: wsgw's POST /wsgw/v1/broadcast against its anchor,
# uWebSockets' topic publish (bench/uwsbcast.js on uWebSockets.js), and the
# raw epoll ceiling (bench/rawbcast), servers pinned to CPU 0 and
# bench/bcastload to CPU 1, the servers in turn within every run; prints
# every run, then a table of medians and the verdict on the target (wsgw's
# delivered messages/s ≥ 0.9 × the anchor's). What it measures:
# bench/README.md, "Broadcast".
#
#   make bench-bcast                 (builds, then runs this)
#   RUNS=1 NS=1000 REPEAT=3 WAIT_QUIET=0 bench/run-bcast.sh   (smoke run)
#   WSGW=/path/to/other/wsgw bench/run-bcast.sh
#   SERVERS="wsgw raw" bench/run-bcast.sh    (no uWebSockets.js at hand)
#
# The binaries are copied at start, so a rebuild during the run does not
# mix two versions in one table.
# Exit status: 0, or 1 if something is missing, a server does not start,
# or any run reported errors (the summary is printed either way).
set -euo pipefail

cd "$(dirname "$0")/.."
BENCH_NAME=bench/run-bcast.sh
RESULT_NAME=RESULT  # bcastload's lines: "RESULT key=value ..."
ERRORS_SHOWN=       # a run with errors shows as its whole RESULT line
ODD_LOG_LINES=20    # odd log lines per process, at most
# shellcheck source-path=SCRIPTDIR/..
. bench/lib.sh

RUNS=${RUNS:-5}                 # runs per server and N (median reported)
NS=${NS:-"10000 19000"}         # connection counts
REPEAT=${REPEAT:-10}            # broadcasts per run (bcastload --repeat)
SIZE=${SIZE:-32}                # payload bytes
GAP_MS=${GAP_MS:-200}           # quiet between two broadcasts
ECHO_CONNS=${ECHO_CONNS:-1}     # echo probes: round trips during the broadcast (0: none)
SERVERS=${SERVERS:-"wsgw uws raw"} # measured in this order within each run
WAIT_QUIET=${WAIT_QUIET:-30}    # seconds to wait for a busy machine to go quiet
RETRIES=${RETRIES:-8}           # repeats allowed for runs disturbed by other processes
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}

WSGW=${WSGW:-build/release/wsgw}
BCASTLOAD=build/bench/bcastload
RAWBCAST=build/bench/rawbcast
NODE=${NODE:-node}
UWS_DIR=${UWS_DIR:-/work/peers/uws}
# the uWebSockets.js binary for this node's ABI (bench/README.md: how to get it)
UWS_NODE=${UWS_NODE:-$UWS_DIR/package/binaries/uws_linux_x64_$("$NODE" -p process.versions.modules 2>/dev/null || echo X).node}
WSGW_FLAGS=(--listen 127.0.0.1:0 --mgmt-listen 127.0.0.1:0 --idle-timeout off
	--ping-interval off --max-connections 25000 --log-level info)

has() { case " $SERVERS " in *" $1 "*) return 0 ;; esac; return 1; }
for s in $SERVERS; do
	case $s in wsgw | uws | raw) ;; *) die "unknown server $s (SERVERS: wsgw uws raw)" ;; esac
done
has wsgw || die "SERVERS must hold wsgw"
need_bins "make bench-build" "$WSGW" "$BCASTLOAD"
! has raw || need_bins "make bench-build" "$RAWBCAST"
if has uws; then
	command -v "$NODE" >/dev/null || die "node not found (Debian package nodejs), or SERVERS=\"wsgw raw\""
	[ -f "$UWS_NODE" ] || die "missing $UWS_NODE — install uWebSockets.js outside the repo" \
		"(bench/README.md, \"Broadcast\"), or SERVERS=\"wsgw raw\""
fi
command -v taskset >/dev/null || die "taskset not found (Debian package util-linux)"
check_cpus "server and load generator share CPU 0"
bench_setup wsgw-bench-bcast
copy_bins -bin WSGW BCASTLOAD
! has raw || copy_bins -bin RAWBCAST
if has uws; then
	cp bench/uwsbcast.js "$TMP/uwsbcast.js"
	UWS_ID="$UWS_NODE: sha256 $(sha256sum "$UWS_NODE" | cut -c1-16), node $("$NODE" --version)"
fi

# Something else keeping the machine busy would share the cores: wait up
# to $1 seconds (default WAIT_QUIET) for it to stop, then warn and go on.
quiet_check() {
	wait_quiet "$@"
	[ -n "$STILL_BUSY" ] || return 0
	echo "$BENCH_NAME: warning: the machine is still busy (${STILL_BUSY}% of a core in use);" \
		"figures will be low and noisy — see other_cpu_pct" >&2
	ODD+=("before start: other processes used ${STILL_BUSY}% of a core")
}

declare -A PID=() PORT=() TRIG=() CMD=()

shown() { # a command as printed: the real binaries' names, not the copies
	local s="$*"
	s=${s//$WSGW/$WSGW_SHOWN}
	[ -z "${RAWBCAST_SHOWN:-}" ] || s=${s//$RAWBCAST/$RAWBCAST_SHOWN}
	s=${s//$TMP\/uwsbcast.js/bench/uwsbcast.js}
	echo "${s//$TMP/\$TMP}"
}

# start NAME CMD... — on SERVER_CPU, waits for its "(port N)" line (wsgw:
# the WebSocket and the management port); sets PID, PORT, TRIG of NAME.
start() {
	local name=$1 log
	shift
	spawn "$name" "$SERVER_CPU" "$@"
	PID[$name]=$BG_PID
	CMD[$name]=$(shown "taskset -c $SERVER_CPU $*")
	log=$TMP/$name.log
	if [ "$name" = wsgw ]; then
		wait_log wsgw "$BG_PID" 'management on .*\(port [0-9]+\)' 10 "its management port line"
		PORT[$name]=$(grep -o -m1 'WebSocket on [^ ]* (port [0-9]*)' "$log" | sed 's/.*port //; s/)//')
		TRIG[$name]=$(grep -o -m1 'management on [^ ]* (port [0-9]*)' "$log" | sed 's/.*port //; s/)//')
	else
		wait_log "$name" "$BG_PID" '\(port [0-9]+\)' 10 "its \"(port N)\" line"
		PORT[$name]=$(log_port "$name")
		TRIG[$name]=${PORT[$name]} # the trigger is served on the same port
	fi
	[ -n "${PORT[$name]}" ] && [ -n "${TRIG[$name]}" ] || die "cannot read the ports from $log"
}

# bcast_run NAME N — one bcastload run against NAME; its RESULT line.
bcast_run() {
	taskset -c "$CLIENT_CPU" "$BCASTLOAD" --target "127.0.0.1:${PORT[$1]}" \
		--trigger "127.0.0.1:${TRIG[$1]}" --conns "$2" --repeat "$REPEAT" --size "$SIZE" \
		--gap-ms "$GAP_MS" --echo-conns "$ECHO_CONNS" --server-pid "${PID[$1]}" \
		2>"$TMP/bcastload.err" | grep '^RESULT' || {
		sed 's/^/    /' "$TMP/bcastload.err" >&2
		return 0
	}
}

label() { case $1 in wsgw) echo wsgw ;; uws) echo uWebSockets ;; raw) echo rawbcast ;; esac; }

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "n/a" }'
}

machine() {
	local s
	machine_lines
	[ -z "${UWS_ID:-}" ] || echo "uws:     $UWS_ID"
	echo "command: $RUN_CMD"
	for s in $SERVERS; do
		echo "server:  ${CMD[$s]}"
	done
	echo "load:    taskset -c $CLIENT_CPU $BCASTLOAD_SHOWN --target 127.0.0.1:PORT --trigger" \
		"127.0.0.1:MGMT --conns N --repeat $REPEAT --size $SIZE --gap-ms $GAP_MS" \
		"--echo-conns $ECHO_CONNS --server-pid PID"
}

summary() {
	local n k s row
	echo
	echo "== summary: median of $RUNS runs of $REPEAT broadcasts; servers on CPU $SERVER_CPU, bcastload on CPU $CLIENT_CPU"
	machine
	echo
	row=$(printf '%-14s %-24s' scenario figure)
	for s in $SERVERS; do row+=$(printf ' %12s' "$(label "$s")"); done
	for s in $SERVERS; do [ "$s" = wsgw ] || row+=$(printf ' %12s' "wsgw/$s"); done
	echo "$row"
	for n in $NS; do
		for k in last_ms msgs_per_s resp_ms p50_ms p99_ms server_busy_us_per_msg server_cpu_ms \
			server_cpu_pct echo_p50_us echo_p99_us echo_max_us echo_between_p99_us \
			loadgen_cpu_pct other_cpu_pct errors; do
			row=$(printf '%-14s %-24s' "$n conns" "$k")
			for s in $SERVERS; do row+=$(printf ' %12s' "$(med "bc$n-$s" "$k")"); done
			for s in $SERVERS; do
				[ "$s" != wsgw ] || continue
				case $k in
				*_cpu_pct | errors | echo_*) row+=$(printf ' %12s' -) ;;
				*) row+=$(printf ' %12s' "$(ratio "$(med "bc$n-wsgw" "$k")" "$(med "bc$n-$s" "$k")")") ;;
				esac
			done
			echo "$row"
		done
	done
	echo
	echo "== targets"
	for n in $NS; do
		for s in $SERVERS; do
			[ "$s" != wsgw ] || continue
			k=$(ratio "$(med "bc$n-wsgw" msgs_per_s)" "$(med "bc$n-$s" msgs_per_s)")
			if [ "$s" = uws ]; then
				printf '  %-58s %6s >= 0.9  %s\n' "$n conns: delivered msgs/s, wsgw / uWebSockets" \
					"$k" "$(verdict "$k" ">=" 0.9)"
			else
				printf '  %-58s %6s         (the ceiling: no target)\n' \
					"$n conns: delivered msgs/s, wsgw / rawbcast" "$k"
			fi
		done
	done
	echo
	worth_a_look
}

RUN_CMD="${WSGW_SHOWN:+WSGW=$WSGW_SHOWN }RUNS=$RUNS NS=\"$NS\" REPEAT=$REPEAT SIZE=$SIZE GAP_MS=$GAP_MS ECHO_CONNS=$ECHO_CONNS SERVERS=\"$SERVERS\" WAIT_QUIET=$WAIT_QUIET RETRIES=$RETRIES $0${*:+ $*}"
echo "\$ $RUN_CMD"
: >"$TMP/results"
start wsgw "$WSGW" "${WSGW_FLAGS[@]}"
! has uws || start uws env UWS_NODE="$UWS_NODE" "$NODE" "$TMP/uwsbcast.js" --listen 127.0.0.1:0
! has raw || start raw "$RAWBCAST" --listen 127.0.0.1:0
quiet_check
for n in $NS; do
	echo "== broadcast of $SIZE B to $n connections, $REPEAT broadcasts per run, $RUNS runs ($SERVERS in turn)"
	for i in $(seq "$RUNS"); do
		for s in $SERVERS; do
			# Alternate the servers so the host's drift hits them alike.
			echo "  [$i/$RUNS] $(label "$s")"
			measure "bc$n-$s" bcast_run "$s" "$n"
		done
	done
done
for s in $SERVERS; do
	stop_proc "$s" "${PID[$s]}"
done
summary
[ "$ERRORS" -eq 0 ] || exit 1
