#!/usr/bin/env bash
# bench/run-cluster.sh — cluster mode (README "Running several nodes"):
# two wsgw nodes A and B and one Redis, every connection held by B; the
# same management call made on A (remote: A → Redis → B → Redis → A) and on
# B (local), alternating within every run:
#   (1) REST Get requests/s       h2load -c 4 -m 100 over h2c
#   (2) REST Send requests/s      h2load -c 4 -m 100 over h2c, to one connection
#   (3) gRPC Send → delivery      sendlat send at SEND_RATES: WebSocket clients on
#       latency                   B, the Sends made on A or on B (open loop)
#   (4) broadcast to BC_CONNS     bcastload, one POST /wsgw/v1/broadcast on A
#       (10 000) connections      per broadcast: all the connections on A
#                                 (local: A's part, B answers 0 through Redis),
#                                 then half on A and half on B (split: B's
#                                 part through Redis); time to the last
#                                 delivery, delivered msgs/s, the answer's
#                                 delivered/total (anything but BC_CONNS /
#                                 BC_CONNS is an error), CPU of A, B, Redis
#                                 during the broadcasts
# Each result line carries the CPU the three servers used during the run
# (a_cpu_pct, b_cpu_pct, redis_cpu_pct): where a figure saturates.
# The nodes and Redis run on SERVER_CPU (0), the load on CLIENT_CPU (1).
# Redis is started as the tests start it: a link named redis-server to
# /usr/bin/redis-check-rdb (Debian's redis-tools), loopback, a free port,
# in the scratch directory; never a system service.
#
#   make -o deps bench-build && bench/run-cluster.sh
#   RUNS=1 DUR=2 bench/run-cluster.sh          # smoke run, ~1 minute
#   SEND_RATES="1000 10000 30000" bench/run-cluster.sh
#   SCENARIOS=bcast bench/run-cluster.sh       # (4) alone (default: get send lat bcast)
set -euo pipefail
cd "$(dirname "$0")/.."

BENCH_NAME=bench/run-cluster.sh
# shellcheck disable=SC2034 # read by lib.sh
RESULT_NAME=result
# shellcheck disable=SC2034
ERRORS_SHOWN=1
# shellcheck disable=SC2034
ODD_LOG_LINES=5
RUNS=${RUNS:-5}
DUR=${DUR:-5}
WARMUP_S=${WARMUP_S:-1}
SEND_RATES=${SEND_RATES:-"1000 10000"}
SEND_CONNS=${SEND_CONNS:-100}
SCENARIOS=${SCENARIOS:-"get send lat bcast"}
BC_CONNS=${BC_CONNS:-10000}     # (4): connections, spread over A and B in the split runs
BC_REPEAT=${BC_REPEAT:-10}      # (4): broadcasts per run (bcastload --repeat)
BC_SIZE=${BC_SIZE:-32}          # (4): payload bytes
BC_GAP_MS=${BC_GAP_MS:-200}     # (4): quiet between two broadcasts
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
WAIT_QUIET=${WAIT_QUIET:-30}
RETRIES=${RETRIES:-4}
WSGW=${WSGW:-build/release/wsgw}
SENDLAT=build/bench/sendlat
BCASTLOAD=build/bench/bcastload
REDIS_BIN=${REDIS_BIN:-/usr/bin/redis-check-rdb}
# shellcheck source=bench/lib.sh
. bench/lib.sh

need_bins "make -o deps bench-build" "$WSGW" "$SENDLAT" "$BCASTLOAD"
has() { case " $SCENARIOS " in *" $1 "*) return 0 ;; esac; return 1; }
for s in $SCENARIOS; do
	case $s in get | send | lat | bcast) ;; *) die "unknown scenario $s (SCENARIOS: get send lat bcast)" ;; esac
done
need_bins "apt-get install redis-tools (make deps)" "$REDIS_BIN"
for t in taskset h2load redis-cli awk python3; do
	command -v "$t" >/dev/null || die "$t not found"
done
check_cpus "everything shares CPU 0"
bench_setup wsgw-bench-cluster
copy_bins "" WSGW SENDLAT BCASTLOAD

shown() {
	local s="$*"
	s=${s//$TMP\/wsgw/$WSGW_SHOWN}
	s=${s//$TMP\/sendlat/$SENDLAT_SHOWN}
	s=${s//$TMP\/bcastload/$BCASTLOAD_SHOWN}
	echo "${s//$TMP/\$TMP}"
}
CMDS=()
note_cmd() { # note_cmd KEY COMMAND... — prints and keeps the first of each kind
	local key=$1 c
	shift
	for c in "${CMDS[@]+"${CMDS[@]}"}"; do
		[ "${c%%|*}" != "$key" ] || return 0
	done
	CMDS+=("$key|$(shown "$@")")
	echo "  \$ $(shown "$@")"
}
quiet_check() {
	wait_quiet "$@"
	[ -n "$STILL_BUSY" ] || return 0
	echo "$BENCH_NAME: warning: the machine is still busy (${STILL_BUSY}% of a core)" >&2
	ODD+=("other processes used ${STILL_BUSY}% of a core before a scenario (figures low and noisy)")
}
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
now_s() { date +%s.%N; }

# ---- Redis and the two nodes ---------------------------------------------------
REDIS_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ln -s "$REDIS_BIN" "$TMP/redis-server"
note_cmd redis taskset -c "$SERVER_CPU" "$TMP/redis-server" --port "$REDIS_PORT" --bind 127.0.0.1 \
	--save "''" --appendonly no --dir "$TMP"
spawn redis "$SERVER_CPU" "$TMP/redis-server" --port "$REDIS_PORT" --bind 127.0.0.1 --save '' \
	--appendonly no --dir "$TMP"
REDIS_PID=$BG_PID
wait_log redis "$REDIS_PID" 'Ready to accept connections'
URL="redis://127.0.0.1:$REDIS_PORT/0"
FLAGS=(--listen 127.0.0.1:0 --mgmt-listen 127.0.0.1:0 --idle-timeout off --ping-interval off
	--max-connections 25000 --log-level info --cluster "$URL")
declare -A PID=() WSP=() MGP=()
for n in a b; do
	note_cmd wsgw taskset -c "$SERVER_CPU" "$WSGW" "${FLAGS[@]}"
	spawn "node-$n" "$SERVER_CPU" "$WSGW" "${FLAGS[@]}"
	PID[$n]=$BG_PID
	wait_log "node-$n" "$BG_PID" 'redis subscriber link: up'
	WSP[$n]=$(grep -o -m1 'WebSocket on [^ ]* (port [0-9]*)' "$TMP/node-$n.log" | sed 's/.*port //; s/)//')
	MGP[$n]=$(grep -o -m1 'management on [^ ]* (port [0-9]*)' "$TMP/node-$n.log" | sed 's/.*port //; s/)//')
done
for _ in $(seq 100); do # both leases registered: a remote call can find B
	[ "$(redis-cli -p "$REDIS_PORT" --scan --pattern 'wsgw:node:*' | wc -l)" = 2 ] && break
	sleep 0.05
done
echo "== Redis $URL (pid $REDIS_PID), node A ws ${WSP[a]} mgmt ${MGP[a]} (pid ${PID[a]})," \
	"node B ws ${WSP[b]} mgmt ${MGP[b]} (pid ${PID[b]}), all on CPU $SERVER_CPU; load on CPU $CLIENT_CPU"

note_cmd hold taskset -c "$CLIENT_CPU" "$SENDLAT" hold --ws "127.0.0.1:${WSP[b]}" --conns 1
spawn hold "$CLIENT_CPU" "$SENDLAT" hold --ws "127.0.0.1:${WSP[b]}" --conns 1
HOLD_PID=$BG_PID
wait_log hold "$HOLD_PID" '^ready '
ID=$(awk '/^id / { print $2; exit }' "$TMP/hold.log")
[ -n "$ID" ] || die "sendlat hold printed no connection id"
REST=/apigateways/websocket/v1/connections/$ID
printf '{"data":"aGVsbG8gd29ybGQ=","type":"TEXT"}' >"$TMP/send.json"
for n in a b; do # the check: both nodes answer 200 for B's connection
	st=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${MGP[$n]}$REST")
	[ "$st" = 200 ] || die "GET $REST on node $n answered $st"
done
echo "== connection $ID on node B (held by sendlat hold, CPU $CLIENT_CPU)"

# with_cpu CMD... — runs CMD (which prints one result line) and appends the
# CPU each server used during it; other_cpu_pct (replacing CMD's own) is
# what neither they, the reader (hold) nor CMD used: other lanes' load.
with_cpu() {
	local a0 b0 r0 h0 m0 t0 a1 b1 r1 h1 m1 t1 line tu ts tf="$TMP/with_cpu.time"
	a0=$(ticks "${PID[a]}") b0=$(ticks "${PID[b]}") r0=$(ticks "$REDIS_PID") h0=$(ticks "$HOLD_PID")
	m0=$(busy_ticks) t0=$(now_s)
	TIMEFORMAT='%3U %3S'
	{ time "$@" >"$TMP/with_cpu.out"; } 2>"$tf"
	a1=$(ticks "${PID[a]}") b1=$(ticks "${PID[b]}") r1=$(ticks "$REDIS_PID") h1=$(ticks "$HOLD_PID")
	m1=$(busy_ticks) t1=$(now_s)
	read -r tu ts <"$tf" || true
	line=$(sed 's/ other_cpu_pct=[^ ]*//' "$TMP/with_cpu.out")
	awk -v l="$line" -v a="$((a1 - a0))" -v b="$((b1 - b0))" -v r="$((r1 - r0))" -v h="$((h1 - h0))" \
		-v m="$((m1 - m0))" -v t0="$t0" -v t1="$t1" -v tool="$(awk -v u="${tu:-0}" -v s="${ts:-0}" 'BEGIN { print u + s }')" \
		-v tck="$TCK" 'BEGIN {
		w = t1 - t0; other = m / tck - (a + b + r + h) / tck - tool; if (other < 0) other = 0
		printf "%s a_cpu_pct=%.1f b_cpu_pct=%.1f redis_cpu_pct=%.1f load_cpu_pct=%.1f other_cpu_pct=%.1f\n", l,
			100 * a / tck / w, 100 * b / tck / w, 100 * r / tck / w, 100 * (tool + h / tck) / w, 100 * other / w }'
}

# h2load_run URL [h2load args] — one result line: req_per_s, errors.
h2load_run() {
	local url=$1 out="$TMP/h2load.out" rps ok total errs
	shift
	taskset -c "$CLIENT_CPU" h2load -c 4 -m 100 -D "$DUR" "$@" "$url" >"$out" 2>&1 || true
	rps=$(sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' "$out")
	total=$(sed -n 's/^requests: \([0-9]*\) total.*/\1/p' "$out")
	ok=$(sed -n 's/^status codes: \([0-9]*\) 2xx.*/\1/p' "$out")
	errs=$((${total:-0} - ${ok:-0}))
	[ -n "$rps" ] || errs=$((errs + 1))
	echo "req_per_s=${rps:-0} requests=${total:-0} ok_2xx=${ok:-0} errors=$errs"
}

sendlat_run() { # sendlat_run NODE RATE
	taskset -c "$CLIENT_CPU" "$SENDLAT" send --ws "127.0.0.1:${WSP[b]}" --mgmt "127.0.0.1:${MGP[$1]}" \
		--conns "$SEND_CONNS" --rate "$2" --duration "$DUR" --warmup "$WARMUP_S" |
		grep '^RESULT' | sed 's/^RESULT //; s/ server_cpu_s=[^ ]*//; s/ server_cpu_pct=[^ ]*//; s/ server_busy_us_per_send=[^ ]*//'
}

quiet_check
has get && echo "== (1) REST Get, h2load -c 4 -m 100 over h2c, ${DUR} s, ${RUNS} runs (remote on A, then local on B)"
has get && note_cmd h2load-get taskset -c "$CLIENT_CPU" h2load -c 4 -m 100 -D "$DUR" "http://127.0.0.1:${MGP[a]}$REST"
has get && for _ in $(seq "$RUNS"); do
	for n in a b; do
		measure "get-$n" with_cpu h2load_run "http://127.0.0.1:${MGP[$n]}$REST"
	done
done
has send && echo "== (2) REST Send, h2load -c 4 -m 100 over h2c, ${DUR} s, ${RUNS} runs (remote on A, then local on B)"
has send && note_cmd h2load-send taskset -c "$CLIENT_CPU" h2load -c 4 -m 100 -D "$DUR" -d "$TMP/send.json" \
	-H "'content-type: application/json'" "http://127.0.0.1:${MGP[a]}$REST:send"
has send && for _ in $(seq "$RUNS"); do
	for n in a b; do
		measure "send-$n" with_cpu h2load_run "http://127.0.0.1:${MGP[$n]}$REST:send" \
			-d "$TMP/send.json" -H 'content-type: application/json'
	done
done
has lat || SEND_RATES=
for rate in $SEND_RATES; do
	echo "== (3) gRPC Send → delivery, $SEND_CONNS connections on B, $rate sends/s, ${DUR} s, ${RUNS} runs (Sends on A, then on B)"
	note_cmd "sendlat-$rate" taskset -c "$CLIENT_CPU" "$SENDLAT" send --ws "127.0.0.1:${WSP[b]}" \
		--mgmt "127.0.0.1:${MGP[a]}" --conns "$SEND_CONNS" --rate "$rate" --duration "$DUR" --warmup "$WARMUP_S"
	for _ in $(seq "$RUNS"); do
		for n in a b; do
			measure "lat$rate-$n" with_cpu sendlat_run "$n" "$rate"
		done
	done
done

# Redis's own count of what it ran: commands per second it carried.
REDIS_STATS=$(redis-cli -p "$REDIS_PORT" INFO stats | tr -d '\r' |
	grep -E '^(total_commands_processed|total_net_input_bytes|total_net_output_bytes):' | tr '\n' ' ')
REDIS_CPU=$(redis-cli -p "$REDIS_PORT" INFO cpu | tr -d '\r' | grep -E '^used_cpu_(sys|user):' | tr '\n' ' ')
# the held connection would get the broadcasts too
stop_proc hold "$HOLD_PID"

# bcast_run MODE — one bcastload run, its RESULT line (without "RESULT"):
# local: every connection on A; split: round-robin over A and B. The
# trigger is always A. An answer other than BC_CONNS delivered of BC_CONNS
# total per broadcast counts as an error (count_err=1).
bcast_cmd() { # bcast_cmd MODE — sets BC_CMD
	local t=(--target "127.0.0.1:${WSP[a]}")
	[ "$1" = local ] || t+=(--target "127.0.0.1:${WSP[b]}")
	BC_CMD=(taskset -c "$CLIENT_CPU" "$BCASTLOAD" "${t[@]}" --trigger "127.0.0.1:${MGP[a]}" \
		--conns "$BC_CONNS" --repeat "$BC_REPEAT" --size "$BC_SIZE" --gap-ms "$BC_GAP_MS" \
		--echo-conns 0 --server-pid "${PID[a]}" --cpu-pid "b=${PID[b]}" --cpu-pid "redis=$REDIS_PID")
}
bcast_run() {
	local line
	bcast_cmd "$1"
	line=$("${BC_CMD[@]}" 2>"$TMP/bcastload.err" | sed -n 's/^RESULT //p')
	[ -n "$line" ] || { sed 's/^/    /' "$TMP/bcastload.err" >&2; return 0; }
	awk -v l="$line" -v n="$BC_CONNS" 'BEGIN {
		split(l, f, " "); for (i in f) { split(f[i], kv, "="); v[kv[1]] = kv[2] }
		r = v["repeat"] > 0 ? v["repeat"] : 1; d = v["delivered"] / r; t = v["total"] / r
		bad = v["repeat"] == 0 || v["delivered"] != n * r || v["total"] != n * r
		if (bad) sub(/ errors=[0-9]+/, " errors=" (v["errors"] + 1), l)
		printf "%s delivered_per_bcast=%g total_per_bcast=%g count_err=%d\n", l, d, t, bad }'
}
if has bcast; then
	echo "== (4) broadcast of $BC_SIZE B to $BC_CONNS connections through A, $BC_REPEAT broadcasts per run, ${RUNS} runs" \
		"(all on A, then split A/B)"
	bcast_cmd local
	note_cmd bcast-local "${BC_CMD[@]}"
	bcast_cmd split
	note_cmd bcast-split "${BC_CMD[@]}"
	if has get || has send || has lat; then quiet_check; fi
	for _ in $(seq "$RUNS"); do
		for m in local split; do
			measure "bc-$m" bcast_run "$m"
			sleep 0.5 # the nodes close the last run's connections
		done
	done
fi
for n in a b; do stop_proc "node-$n" "${PID[$n]}"; done
stop_proc redis "$REDIS_PID"

# ---- summary ------------------------------------------------------------------------
row() { # row WHAT TAG KEY
	local n
	for n in a b; do
		printf '  %-30s %-11s %10s   CPU: A %5s%%  B %5s%%  Redis %5s%%  load %5s%%  other %5s%%\n' \
			"$([ $n = a ] && echo "$1")" "$([ $n = a ] && echo "remote (A)" || echo "local (B)")" \
			"$(med "$2-$n" "$3")" "$(med "$2-$n" a_cpu_pct)" "$(med "$2-$n" b_cpu_pct)" \
			"$(med "$2-$n" redis_cpu_pct)" "$(med "$2-$n" load_cpu_pct)" "$(med "$2-$n" other_cpu_pct)"
	done
}
echo
echo "== summary (medians of $RUNS runs; CPU in % of one core; load: the client tool and the reader on CPU $CLIENT_CPU)"
machine_lines
echo "redis:   $("$REDIS_BIN" --version 2>/dev/null | head -n1 || true)"
echo "commands:"
for c in "${CMDS[@]}"; do echo "  ${c#*|}"; done
! has get || row "(1) REST Get req/s" get req_per_s
! has send || row "(2) REST Send req/s" send req_per_s
for rate in $SEND_RATES; do
	row "(3) Send $rate/s p50 us" "lat$rate" p50_us
	row "(3) Send $rate/s p99 us" "lat$rate" p99_us
	row "(3) Send $rate/s achieved/s" "lat$rate" delivered_per_s
done
if has bcast; then
	echo "  (4) broadcast to $BC_CONNS connections through A   all on A (local)   A/B split   split/local"
	for k in last_ms msgs_per_s resp_ms delivered_per_bcast total_per_bcast server_cpu_ms b_cpu_ms \
		redis_cpu_ms server_cpu_pct b_cpu_pct redis_cpu_pct loadgen_cpu_pct other_cpu_pct errors; do
		l=$(med bc-local "$k") s=$(med bc-split "$k")
		printf '      %-44s %16s %12s %13s\n' "$(case $k in server_*) echo "a_${k#server_}" ;; *) echo "$k" ;; esac)" \
			"$l" "$s" "$(awk -v a="$s" -v b="$l" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }')"
	done
	echo "      (CPU: *_cpu_ms per broadcast, *_cpu_pct of one core during the broadcasts; a = node A)"
fi
echo "targets:"
if has lat; then
	first=${SEND_RATES%% *}
	add=$(awk -v r="$(med "lat$first-a" p50_us)" -v l="$(med "lat$first-b" p50_us)" 'BEGIN { printf "%.1f", r - l }')
	echo "  remote Send adds < 200 us at p50 (at $first/s): +$add us: $(verdict "$add" "<" 200)"
fi
! has send || echo "  remote Send >= 30000/s through one node: $(med send-a req_per_s)/s: $(verdict "$(med send-a req_per_s)" ">=" 30000)"
echo "redis:   $REDIS_STATS$REDIS_CPU"
worth_a_look
[ "$ERRORS" = 0 ]
