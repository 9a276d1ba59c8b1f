#!/usr/bin/env bash
# bench/run-api.sh — wsgw's management API and message-integration
# benchmarks, server pinned to CPU 0, every load generator (and the test
# backend) to CPU 1, each scenario RUNS times; prints every run, then a
# summary table of medians with the machine, the date and the commands.
# What each scenario measures: bench/API.md.
#
#   make -o deps bench-build && bench/run-api.sh
#   RUNS=1 DUR=2 bench/run-api.sh              (a one-minute smoke run)
#   WSGW=/path/to/other/wsgw bench/run-api.sh  (another build of wsgw)
#   WSGW_OLD=/tmp/old/build/release/wsgw SCENARIOS="api send" bench/run-api.sh
#                                  (old and new binary in turn in every run)
#   SCENARIOS=msg MSG_POINTS="100x1 1000x1" BACKEND_CONNS="256 32" bench/run-api.sh
#                                  (README's --backend-connections tuning)
#
# Scenarios: (1) gRPC Get requests/s with h2load; (2) gRPC Send → client
# delivery latency at fixed rates (sendlat); (3) REST Send requests/s over
# HTTP/1.1 (wrk) and h2 (h2load); (4) message → http backend → reply round
# trips (msgload + fastbackend) at several concurrencies, each point also
# against bench/rawproxy (the same round trip with nothing but the
# unavoidable work: this machine's ceiling), so wsgw reads as a fraction.
#
# Exit status: 0, or 1 if something is missing, a server does not start,
# or any run reported errors (the summary is printed either way).
set -euo pipefail

cd "$(dirname "$0")/.."
BENCH_NAME=bench/run-api.sh
RESULT_NAME=result  # sendlat's and msgload's lines lose "RESULT "; ext_run's never had it
ERRORS_SHOWN=1      # a run with errors shows as "TAG: errors=N: LINE"
ODD_LOG_LINES=20    # odd log lines per process, at most
# shellcheck source-path=SCRIPTDIR/..
. bench/lib.sh

RUNS=${RUNS:-5}                      # runs per scenario (median reported)
DUR=${DUR:-5}                        # measured seconds per run
WARMUP_S=${WARMUP_S:-1}              # sendlat / msgload traffic before the window
SEND_RATES=${SEND_RATES:-"10000 50000"} # (2) target Send rates
SEND_CONNS=${SEND_CONNS:-1000}       # (2) WebSocket connections Sends go to
H2_CONNS=${H2_CONNS:-1}              # (2) h2c connections carrying the Sends
MSG_POINTS=${MSG_POINTS:-"10x1 100x1 250x1 1000x1 2000x1"} # (4) conns x in flight
# (4) one wsgw per value of --backend-connections, measured in turn within
# each run (empty: the flag not given, wsgw's default). BACKEND_CONNS="256 32"
# reproduces README's tuning figures.
BACKEND_CONNS=${BACKEND_CONNS:-""}
read -r -a BC_LIST <<<"$BACKEND_CONNS"
[ "${#BC_LIST[@]}" -gt 0 ] || BC_LIST=("")
SCENARIOS=${SCENARIOS:-"api send msg"} # api = (1)+(3), send = (2), msg = (4)
WAIT_QUIET=${WAIT_QUIET:-30}         # seconds to wait for a busy machine to go quiet
RETRIES=${RETRIES:-8}                # repeats allowed for runs disturbed by others
SERVER_CPU=${SERVER_CPU:-0}          # wsgw alone here
CLIENT_CPU=${CLIENT_CPU:-1}          # load generators, reader, fastbackend here

WSGW=${WSGW:-build/release/wsgw}
# Another wsgw binary (a build of the tree before a change): the api and
# send scenarios then run it too, the new binary then the old in every run,
# and the summary adds the old medians and new/old ratios. msg runs WSGW only.
WSGW_OLD=${WSGW_OLD:-}
VERS=(new)
VBIN=
SENDLAT=build/bench/sendlat
MSGLOAD=build/bench/msgload
FASTBACKEND=build/bench/fastbackend
RAWPROXY=build/bench/rawproxy
WSGW_FLAGS=(--listen 127.0.0.1:0 --mgmt-listen 127.0.0.1:0 --idle-timeout off
	--ping-interval off --max-connections 25000 --log-level info)
GRPC_SVC=/yandex.cloud.serverless.apigateway.websocket.v1.ConnectionService

need_bins "make -o deps bench-build" "$WSGW" "$SENDLAT" "$MSGLOAD" "$FASTBACKEND" "$RAWPROXY"
[ -z "$WSGW_OLD" ] || { need_bins "a build of the old tree (bench/API.md)" "$WSGW_OLD"; VERS=(new old); }
for t in taskset h2load wrk awk; do
	command -v "$t" >/dev/null || die "$t not found (Debian: util-linux, nghttp2-client, wrk)"
done
check_cpus "everything shares CPU 0"
bench_setup wsgw-bench-api
CMDS=()  # one example command per kind of run, for the summary
# $TMP/wsgw etc.: shown() turns these names back into the real ones.
copy_bins "" WSGW SENDLAT MSGLOAD FASTBACKEND RAWPROXY
if [ -n "$WSGW_OLD" ]; then
	WSGW_OLD_ID="$WSGW_OLD: sha256 $(sha256sum "$WSGW_OLD" | cut -c1-16), built $(date -u -r "$WSGW_OLD" '+%F %T UTC')"
	copy_bins "" WSGW_OLD
fi

wsgw_bin() { if [ "$1" = old ]; then echo "$WSGW_OLD"; else echo "$WSGW"; fi; }
vtag() { [ "$1" != old ] || echo -old; } # a version's suffix in result tags

shown() { # the command as printed: real binary names, not the copies
	local s="$*"
	[ -z "$WSGW_OLD" ] || s=${s//$TMP\/wsgw_old/$WSGW_OLD_SHOWN}
	s=${s//$TMP\/wsgw/$WSGW_SHOWN}
	s=${s//$TMP\/sendlat/$SENDLAT_SHOWN}
	s=${s//$TMP\/msgload/$MSGLOAD_SHOWN}
	s=${s//$TMP\/fastbackend/$FASTBACKEND_SHOWN}
	s=${s//$TMP\/rawproxy/$RAWPROXY_SHOWN}
	echo "${s//$TMP/\$TMP}"
}

note_cmd() { # note_cmd KEY COMMAND... — keeps the first command of each kind
	local key=$1 c
	shift
	for c in "${CMDS[@]+"${CMDS[@]}"}"; do
		[ "${c%%|*}" != "$key" ] || return 0
	done
	CMDS+=("$key|$(shown "$@")")
	echo "  \$ $(shown "$@")"
}

# start_bg NAME CPU CMD... — spawn, noting the command for the summary.
start_bg() {
	note_cmd "start-$1" taskset -c "$2" "${@:3}"
	spawn "$@"
}

# start_wsgw NAME [FLAGS...] — wsgw (the binary VBIN, default WSGW) on
# SERVER_CPU; sets WS_PID, WS_PORT, MG_PORT.
start_wsgw() {
	local name=$1
	shift
	start_bg "$name" "$SERVER_CPU" "${VBIN:-$WSGW}" "${WSGW_FLAGS[@]}" "$@"
	WS_PID=$BG_PID
	wait_log "$name" "$WS_PID" 'management on .*\(port [0-9]+\)'
	WS_PORT=$(grep -o -m1 'WebSocket on [^ ]* (port [0-9]*)' "$TMP/$name.log" | sed 's/.*port //; s/)//')
	MG_PORT=$(grep -o -m1 'management on [^ ]* (port [0-9]*)' "$TMP/$name.log" | sed 's/.*port //; s/)//')
	[ -n "$WS_PORT" ] && [ -n "$MG_PORT" ] || die "cannot read the ports from $TMP/$name.log"
}

ticks() { # utime + stime of PID in clock ticks (0 if gone)
	awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}
now_s() { date +%s.%N; }

quiet_check() { # waits up to $1 s (WAIT_QUIET) for other processes to stop using CPU
	wait_quiet "$@"
	[ -n "$STILL_BUSY" ] || return 0
	echo "$BENCH_NAME: warning: the machine is still busy (${STILL_BUSY}% of a core)" >&2
	ODD+=("other processes used ${STILL_BUSY}% of a core before a scenario (figures low and noisy)")
}

# ext_run KIND EXTRA_PID CMD... — runs an external load tool on CLIENT_CPU
# and prints a result line: its own figures (parsed from its output) plus
# the server's CPU over the run. EXTRA_PID: another process on the client
# side (the reading WebSocket client) whose CPU is not "other".
ext_run() {
	local kind=$1 extra=$2 out="$TMP/ext.out" tf="$TMP/ext.time"
	shift 2
	local s0 x0 b0 t0 s1 x1 b1 t1 wall tu ts reqs rps bad ok srv line
	s0=$(ticks "$WS_PID") x0=$(ticks "$extra") b0=$(busy_ticks) t0=$(now_s)
	TIMEFORMAT='%3U %3S'
	{ time taskset -c "$CLIENT_CPU" "$@" >"$out" 2>&1; } 2>"$tf" || true
	s1=$(ticks "$WS_PID") x1=$(ticks "$extra") b1=$(busy_ticks) t1=$(now_s)
	read -r tu ts <"$tf" || true
	case $kind in
	h2load)
		rps=$(sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' "$out")
		reqs=$(sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p' "$out")
		local failed errored timeout s3 s4 s5
		failed=$(sed -n 's/^requests: .* \([0-9]*\) failed.*/\1/p' "$out")
		errored=$(sed -n 's/^requests: .* \([0-9]*\) errored.*/\1/p' "$out")
		timeout=$(sed -n 's/^requests: .* \([0-9]*\) timeout.*/\1/p' "$out")
		s3=$(sed -n 's/^status codes: [0-9]* 2xx, \([0-9]*\) 3xx.*/\1/p' "$out")
		s4=$(sed -n 's/^status codes: .* \([0-9]*\) 4xx.*/\1/p' "$out")
		s5=$(sed -n 's/^status codes: .* \([0-9]*\) 5xx.*/\1/p' "$out")
		ok=$(sed -n 's/^status codes: \([0-9]*\) 2xx.*/\1/p' "$out")
		bad=$((${s3:-0} + ${s4:-0} + ${s5:-0}))
		line="requests=${reqs:-0} ok_2xx=${ok:-0} non_2xx=$bad status_4xx=${s4:-0} status_5xx=${s5:-0}"
		line="$line failed=${failed:-0} errored=${errored:-0} timeout=${timeout:-0}"
		bad=$((bad + ${failed:-0} + ${errored:-0} + ${timeout:-0}))
		[ -n "$rps" ] || bad=$((bad + 1))
		;;
	wrk)
		rps=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$out")
		reqs=$(sed -n 's/^ *\([0-9]*\) requests in .*/\1/p' "$out")
		local non2 sock
		non2=$(sed -n 's/^ *Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' "$out")
		sock=$(sed -n 's/^ *Socket errors: connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\).*/\1 \2 \3 \4/p' "$out" |
			awk '{ print $1 + $2 + $3 + $4 }')
		ok=$((${reqs:-0} - ${non2:-0}))
		line="requests=${reqs:-0} ok_2xx=$ok non_2xx=${non2:-0} socket_errors=${sock:-0}"
		bad=$((${non2:-0} + ${sock:-0}))
		[ -n "$rps" ] || bad=$((bad + 1))
		;;
	esac
	[ "$bad" = 0 ] || { echo "  ($kind output:)" >&2; sed 's/^/    /' "$out" >&2; }
	awk -v rps="${rps:-0}" -v reqs="${reqs:-0}" -v s0="$s0" -v s1="$s1" -v x0="$x0" -v x1="$x1" \
		-v b0="$b0" -v b1="$b1" -v t0="$t0" -v t1="$t1" -v tu="${tu:-0}" -v ts="${ts:-0}" \
		-v tck="$TCK" -v rest="$line" -v bad="$bad" -v kind="$kind" 'BEGIN {
		wall = t1 - t0; srv = (s1 - s0) / tck; ext = (x1 - x0) / tck; tool = tu + ts
		other = (b1 - b0) / tck - srv - ext - tool; if (other < 0) other = 0
		printf "tool=%s req_per_s=%.0f %s server_cpu_s=%.2f server_cpu_pct=%.1f", kind, rps, rest, srv, 100 * srv / wall
		printf " server_busy_us_per_req=%.2f tool_cpu_pct=%.1f reader_cpu_pct=%.1f other_cpu_pct=%.1f errors=%d\n",
			(reqs > 0 ? srv * 1e6 / reqs : -1), 100 * tool / wall, 100 * ext / wall, 100 * other / wall, bad }'
}

# ---- (1) gRPC Get requests/s, and (3) REST Send requests/s -----------------
# One wsgw (echo routes), one WebSocket connection held open by
# `sendlat hold` on CLIENT_CPU, reading and discarding what it receives.
# With WSGW_OLD: the same for the old binary, and every run measures the
# new one, then the old one.
api_rps_scenarios() {
	local v t id i url body_get body_json lua
	local -A vpid=() hold=() mg=() ids=()
	for v in "${VERS[@]}"; do
		t=$(vtag "$v")
		VBIN=$(wsgw_bin "$v")
		start_wsgw "wsgw-api$t"
		vpid[$v]=$WS_PID mg[$v]=$MG_PORT
		start_bg "hold$t" "$CLIENT_CPU" "$SENDLAT" hold --ws "127.0.0.1:$WS_PORT" --conns 1
		hold[$v]=$BG_PID
		wait_log "hold$t" "${hold[$v]}" '^ready '
		id=$(awk '/^id / { print $2; exit }' "$TMP/hold$t.log")
		[ -n "$id" ] || die "sendlat hold printed no connection id"
		ids[$v]=$id
		echo "== live connection $id on $(shown "$VBIN") (held by sendlat hold, pid ${hold[$v]}, CPU $CLIENT_CPU)"
		body_get=$TMP/get$t.bin
		"$SENDLAT" body --method Get --id "$id" >"$body_get"
		note_cmd body-get "$SENDLAT" body --method Get --id "$id" ">$body_get"
		echo "  check: one gRPC Get with that body:"
		note_cmd call-get "$SENDLAT" call --mgmt "127.0.0.1:$MG_PORT" --method Get --id "$id"
		if ! "$SENDLAT" call --mgmt "127.0.0.1:$MG_PORT" --method Get --id "$id" | sed 's/^/  /'; then
			ERRORS=$((ERRORS + 1))
			ODD+=("(1)$t: the gRPC Get body did not get grpc-status 0")
		fi
	done
	VBIN=

	echo "== (1) gRPC Get: h2load -c 4 -m 100, ${DUR} s, ${RUNS} runs${WSGW_OLD:+ (new, then old, in each)}"
	url="http://127.0.0.1:${mg[new]}$GRPC_SVC/Get"
	note_cmd h2load-get taskset -c "$CLIENT_CPU" h2load -c 4 -m 100 -D "$DUR" -d "$TMP/get.bin" \
		-H "'content-type: application/grpc'" -H "'te: trailers'" "$url"
	for i in $(seq "$RUNS"); do
		for v in "${VERS[@]}"; do
			t=$(vtag "$v") WS_PID=${vpid[$v]} url="http://127.0.0.1:${mg[$v]}$GRPC_SVC/Get"
			measure "grpc-get$t" ext_run h2load "${hold[$v]}" h2load -c 4 -m 100 -D "$DUR" \
				-d "$TMP/get$t.bin" -H 'content-type: application/grpc' -H 'te: trailers' "$url"
		done
	done

	# (3) REST Send: 11 bytes of TEXT per call to the held connection.
	body_json=$TMP/send.json
	printf '{"data":"aGVsbG8gd29ybGQ=","type":"TEXT"}' >"$body_json"
	lua=$TMP/send.lua
	cat >"$lua" <<'EOF'
wrk.method = "POST"
wrk.body = '{"data":"aGVsbG8gd29ybGQ=","type":"TEXT"}'
wrk.headers["Content-Type"] = "application/json"
EOF
	echo "== (3a) REST Send over HTTP/1.1 keep-alive: wrk -t 1 -c 100, ${DUR} s, ${RUNS} runs"
	url="http://127.0.0.1:${mg[new]}/apigateways/websocket/v1/connections/${ids[new]}:send"
	note_cmd wrk-send taskset -c "$CLIENT_CPU" wrk -t 1 -c 100 -d "$DUR" -s "$lua" "$url"
	for i in $(seq "$RUNS"); do
		for v in "${VERS[@]}"; do
			t=$(vtag "$v") WS_PID=${vpid[$v]}
			url="http://127.0.0.1:${mg[$v]}/apigateways/websocket/v1/connections/${ids[$v]}:send"
			measure "rest-h1$t" ext_run wrk "${hold[$v]}" wrk -t 1 -c 100 -d "$DUR" -s "$lua" "$url"
		done
	done
	echo "== (3b) REST Send over h2c: h2load -c 4 -m 100, ${DUR} s, ${RUNS} runs"
	url="http://127.0.0.1:${mg[new]}/apigateways/websocket/v1/connections/${ids[new]}:send"
	note_cmd h2load-send taskset -c "$CLIENT_CPU" h2load -c 4 -m 100 -D "$DUR" -d "$body_json" \
		-H "'content-type: application/json'" "$url"
	for i in $(seq "$RUNS"); do
		for v in "${VERS[@]}"; do
			t=$(vtag "$v") WS_PID=${vpid[$v]}
			url="http://127.0.0.1:${mg[$v]}/apigateways/websocket/v1/connections/${ids[$v]}:send"
			measure "rest-h2$t" ext_run h2load "${hold[$v]}" h2load -c 4 -m 100 -D "$DUR" \
				-d "$body_json" -H 'content-type: application/json' "$url"
		done
	done

	sleep 0.5 # the last messages reach the reader
	for v in "${VERS[@]}"; do
		t=$(vtag "$v")
		stop_proc "hold$t" "${hold[$v]}"
		[ "$v" != new ] || HOLD_LINE=$(grep '^RESULT' "$TMP/hold.log" || true)
		stop_proc "wsgw-api$t" "${vpid[$v]}"
	done
	echo "  reader: $HOLD_LINE"
}

# ---- (2) gRPC Send → WebSocket delivery latency ------------------------------
sendlat_run() {
	taskset -c "$CLIENT_CPU" "$SENDLAT" send --ws "127.0.0.1:$WS_PORT" --mgmt "127.0.0.1:$MG_PORT" \
		--conns "$SEND_CONNS" --rate "$1" --h2-conns "$H2_CONNS" --duration "$DUR" \
		--warmup "$WARMUP_S" --server-pid "$WS_PID" | grep '^RESULT' | sed 's/^RESULT //'
}

send_scenario() {
	local rate i v t
	local -A vpid=() ws=() mg=()
	for v in "${VERS[@]}"; do
		t=$(vtag "$v")
		VBIN=$(wsgw_bin "$v")
		start_wsgw "wsgw-send$t"
		vpid[$v]=$WS_PID ws[$v]=$WS_PORT mg[$v]=$MG_PORT
	done
	VBIN=
	for rate in $SEND_RATES; do
		echo "== (2) gRPC Send → delivery, $SEND_CONNS connections, $rate sends/s over" \
			"$H2_CONNS h2c connection(s), ${DUR} s, ${RUNS} runs${WSGW_OLD:+ (new, then old, in each)}"
		note_cmd "sendlat-$rate" taskset -c "$CLIENT_CPU" "$SENDLAT" send --ws "127.0.0.1:${ws[new]}" \
			--mgmt "127.0.0.1:${mg[new]}" --conns "$SEND_CONNS" --rate "$rate" --h2-conns "$H2_CONNS" \
			--duration "$DUR" --warmup "$WARMUP_S" --server-pid "${vpid[new]}"
		for i in $(seq "$RUNS"); do
			for v in "${VERS[@]}"; do
				WS_PID=${vpid[$v]} WS_PORT=${ws[$v]} MG_PORT=${mg[$v]}
				measure "send$rate$(vtag "$v")" sendlat_run "$rate"
			done
		done
	done
	for v in "${VERS[@]}"; do
		stop_proc "wsgw-send$(vtag "$v")" "${vpid[$v]}"
	done
}

# ---- (4) message → http backend → reply ------------------------------------
backend_conns() { # connections fastbackend accepted so far
	local n before
	before=$(grep -c '^STATS' "$TMP/fastbackend.log" || true)
	kill -USR1 "$FB_PID"
	for n in $(seq 40); do
		[ "$(grep -c '^STATS' "$TMP/fastbackend.log" || true)" -gt "$before" ] && break
		sleep 0.025
	done
	grep '^STATS' "$TMP/fastbackend.log" | tail -n1 | field conns
}

# msgload_run PORT PID CONNS INFLIGHT — against the server (wsgw or
# rawproxy) listening on PORT with process id PID.
msgload_run() {
	local port=$1 pid=$2 conns=$3 inflight=$4 c0 c1 line src=1
	[ "$conns" -le 20000 ] || src=$((conns / 20000 + 1))
	c0=$(backend_conns)
	line=$(taskset -c "$CLIENT_CPU" "$MSGLOAD" --target "127.0.0.1:$port" --path /bench \
		--conns "$conns" --inflight "$inflight" --size 32 --duration "$DUR" --warmup "$WARMUP_S" \
		--server-pid "$pid" --backend-pid "$FB_PID" --src-addrs "$src" | grep '^RESULT' |
		sed 's/^RESULT //' || true)
	c1=$(backend_conns)
	[ -n "$line" ] && echo "$line backend_new_conns=$((c1 - c0))"
}

# bc_tag BC — the result tag suffix of a --backend-connections value
bc_tag() { [ -z "$1" ] || echo "-bc$1"; }

msg_scenario() {
	local spec=$TMP/bench-spec.yaml fb_port p conns inflight i rp_pid rp_port bc
	local -A ws_pid=() ws_port=()
	start_bg fastbackend "$CLIENT_CPU" "$FASTBACKEND" --listen 127.0.0.1:0
	FB_PID=$BG_PID
	wait_log fastbackend "$FB_PID" '\(port [0-9]+\)'
	fb_port=$(log_port fastbackend)
	cat >"$spec" <<EOF
openapi: 3.0.0
info: {title: wsgw bench, version: 1.0.0}
paths:
  /bench:
    x-yc-apigateway-websocket-message:
      x-yc-apigateway-integration:
        type: http
        url: http://127.0.0.1:$fb_port/bench
EOF
	echo "== spec $spec:"
	sed 's/^/    /' "$spec"
	# One wsgw per --backend-connections value ("" = the flag not given);
	# each idles (in epoll_wait) while another is measured.
	for bc in "${BC_LIST[@]}"; do
		start_wsgw "wsgw-msg$(bc_tag "$bc")" --spec "$spec" ${bc:+--backend-connections "$bc"}
		ws_pid[x$bc]=$WS_PID ws_port[x$bc]=$WS_PORT
	done
	# The ceiling: the same round trip through bench/rawproxy, pinned like
	# wsgw, with wsgw's default pool of 256 backend connections.
	start_bg rawproxy "$SERVER_CPU" "$RAWPROXY" --listen 127.0.0.1:0 \
		--backend "127.0.0.1:$fb_port" --backend-connections 256 --path /bench
	rp_pid=$BG_PID
	wait_log rawproxy "$rp_pid" '\(port [0-9]+\)'
	rp_port=$(log_port rawproxy)
	for p in $MSG_POINTS; do
		conns=${p%x*} inflight=${p#*x}
		echo "== (4) message → backend → reply, $conns conns x $inflight in flight x 32 B," \
			"${DUR} s, ${RUNS} runs of wsgw${BACKEND_CONNS:+ (--backend-connections ${BACKEND_CONNS// /, })}" \
			"and rawproxy (the ceiling), in turn"
		for bc in "${BC_LIST[@]}"; do
			note_cmd "msgload-$p$(bc_tag "$bc")" taskset -c "$CLIENT_CPU" "$MSGLOAD" \
				--target "127.0.0.1:${ws_port[x$bc]}" --path /bench --conns "$conns" \
				--inflight "$inflight" --size 32 --duration "$DUR" --warmup "$WARMUP_S" \
				--server-pid "${ws_pid[x$bc]}" --backend-pid "$FB_PID"
		done
		note_cmd msgload-rawproxy taskset -c "$CLIENT_CPU" "$MSGLOAD" --target "127.0.0.1:$rp_port" \
			--path /bench --conns "$conns" --inflight "$inflight" --size 32 --duration "$DUR" \
			--warmup "$WARMUP_S" --server-pid "$rp_pid" --backend-pid "$FB_PID"
		for i in $(seq "$RUNS"); do
			# Alternate the servers so the host's drift hits them alike.
			for bc in "${BC_LIST[@]}"; do
				measure "msg$p$(bc_tag "$bc")" msgload_run "${ws_port[x$bc]}" "${ws_pid[x$bc]}" \
					"$conns" "$inflight"
			done
			measure "rawmsg$p" msgload_run "$rp_port" "$rp_pid" "$conns" "$inflight"
		done
	done
	for bc in "${BC_LIST[@]}"; do
		stop_proc "wsgw-msg$(bc_tag "$bc")" "${ws_pid[x$bc]}"
	done
	stop_proc rawproxy "$rp_pid"
	stop_proc fastbackend "$FB_PID"
	grep '^RESULT' "$TMP/fastbackend.log" | sed 's/^/  backend: /' || true
}

# ---- summary -------------------------------------------------------------------
machine() {
	machine_lines
	echo "tools:   $(h2load --version 2>/dev/null | head -n1), $(wrk -v 2>&1 | head -n1 | cut -d' ' -f1-2)"
	echo "run:     $RUN_CMD"
	[ -z "$WSGW_OLD" ] || echo "old:     $WSGW_OLD_ID (api and send scenarios: new, then old, in every run)"
	echo "pinning: wsgw (and, in turn, rawproxy) on CPU $SERVER_CPU alone; load generators, the reader and fastbackend on CPU $CLIENT_CPU"
	local d iv
	for d in /sys/kernel/mm/damon/admin/kdamonds/*; do
		[ -d "$d" ] && [ "$(cat "$d/state" 2>/dev/null)" = on ] || continue
		iv=$(cat "$d"/contexts/0/monitoring_attrs/intervals/sample_us 2>/dev/null || echo '?')
		echo "noise:   DAMON is on (kdamond pid $(cat "$d/pid" 2>/dev/null), sample interval ${iv} us):" \
			"it takes a CPU for ~1-2 ms at each wake-up (bench/API.md, Caveats)"
	done
}

row() { # row SCENARIO FIGURE VALUE [NOTE]
	printf '%-34s %-26s %12s  %s\n' "$1" "$2" "$3" "${4:-}"
}

ran() { # ran SCENARIO — true if SCENARIOS holds it
	case " $SCENARIOS " in *" $1 "*) return 0 ;; esac
	return 1
}

# old_rows TAG KEY... — with WSGW_OLD: the old binary's median of each KEY
# and the new/old ratio (a regression shows as req_per_s below 1, or
# latency and busy time above 1).
old_rows() {
	local tag=$1 k
	shift
	[ -n "$WSGW_OLD" ] || return 0
	for k in "$@"; do
		row "" "old: $k" "$(med "$tag-old" "$k")" "new/old $(ratio "$(med "$tag" "$k")" "$(med "$tag-old" "$k")")"
	done
}

summary_api() {
	local k v
	v=$(med grpc-get req_per_s)
	row "(1) gRPC Get, h2load -c4 -m100" req_per_s "$v" "target >= 150000/s on one core: $(verdict "$v" ">=" 150000)"
	for k in server_busy_us_per_req server_cpu_pct tool_cpu_pct non_2xx errors other_cpu_pct; do
		row "" "$k" "$(med grpc-get "$k")"
	done
	old_rows grpc-get req_per_s server_busy_us_per_req errors
	[ -z "$WSGW_OLD" ] || row "" "pairs: server_busy_us_per_req" \
		"$(pair_med grpc-get grpc-get-old server_busy_us_per_req)" "new/old, median of the per-run ratios"
	row "(3a) REST Send, HTTP/1.1 (wrk)" req_per_s "$(med rest-h1 req_per_s)" "wrk -t1 -c100 keep-alive"
	for k in non_2xx server_busy_us_per_req server_cpu_pct tool_cpu_pct reader_cpu_pct errors other_cpu_pct; do
		row "" "$k" "$(med rest-h1 "$k")"
	done
	old_rows rest-h1 req_per_s server_busy_us_per_req errors
	row "(3b) REST Send, h2c (h2load)" req_per_s "$(med rest-h2 req_per_s)" "h2load -c4 -m100"
	for k in non_2xx server_busy_us_per_req server_cpu_pct tool_cpu_pct reader_cpu_pct errors other_cpu_pct; do
		row "" "$k" "$(med rest-h2 "$k")"
	done
	old_rows rest-h2 req_per_s server_busy_us_per_req errors
	[ -z "${HOLD_LINE:-}" ] || row "" "reader received" "$(field msgs <<<"$HOLD_LINE")" \
		"messages over (3a)+(3b), all runs"
}

summary_send() {
	local k v rate
	for rate in $SEND_RATES; do
		row "(2) gRPC Send->delivery @$rate/s" sends_per_s "$(med "send$rate" sends_per_s)" \
			"$SEND_CONNS conns, $H2_CONNS h2c conn(s)"
		for k in delivered_per_s p50_us p90_us p99_us p999_us max_us resp_p99_us \
			server_busy_us_per_send server_cpu_pct loadgen_cpu_pct errors other_cpu_pct; do
			v=$(med "send$rate" "$k")
			if [ "$k" = p99_us ] && [ "$rate" = 50000 ]; then
				row "" "$k" "$v" "target < 1000 us at 50000/s: $(verdict "$v" "<" 1000)"
			else
				row "" "$k" "$v"
			fi
		done
		old_rows "send$rate" delivered_per_s p50_us p99_us server_busy_us_per_send errors
	done
}

ratio() { # ratio A B — A / B to two places, or n/a
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "n/a" || a == "" || b == "n/a" || b + 0 <= 0) print "n/a"; else printf "%.2f", a / b }'
}

bottleneck() { # bottleneck TAG — which CPU limited TAG's runs (medians)
	local srv c1
	srv=$(med "$1" server_cpu_pct)
	c1=$(awk -v a="$(med "$1" backend_cpu_pct)" -v b="$(med "$1" loadgen_cpu_pct)" \
		'BEGIN { printf "%.1f", a + b }')
	awk -v s="$srv" -v c="$c1" 'BEGIN {
		if (s + 0 >= 90) print "gateway (its CPU saturated)";
		else if (c + 0 >= 90) print "client CPU (load generator + backend)";
		else print "neither CPU saturated" }'
}

summary_msg() {
	local k v rv p bott bc tag label gw_bad gw_sat
	for p in $MSG_POINTS; do
		for bc in "${BC_LIST[@]}"; do
			tag=msg$p$(bc_tag "$bc")
			label="(4) msg->backend->reply ${p/x/ x }"
			[ -z "$bc" ] || label="(4) msg ${p/x/ x }, --backend-connections $bc"
			bott=$(bottleneck "$tag")
			v=$(med "$tag" msgs_per_s)
			row "$label" msgs_per_s "$v" "bottleneck: $bott"
			for k in p50_us p99_us server_busy_us_per_msg server_cpu_pct backend_cpu_pct \
				loadgen_cpu_pct backend_new_conns errors other_cpu_pct; do
				row "" "$k" "$(med "$tag" "$k")"
			done
			rv=$(med "rawmsg$p" msgs_per_s)
			row "" wsgw_over_raw "$(ratio "$v" "$rv")" "msgs/s, wsgw / rawproxy"
			row "" wsgw_over_raw_busy "$(ratio "$(med "$tag" server_busy_us_per_msg)" \
				"$(med "rawmsg$p" server_busy_us_per_msg)")" "server busy per msg, wsgw / rawproxy"
			row "" wsgw_over_raw_pairs "$(pair_med "$tag" "rawmsg$p" msgs_per_s)" \
				"msgs/s, median of the per-run ratios (run i of each)"
			row "" wsgw_over_raw_busy_pairs "$(pair_med "$tag" "rawmsg$p" server_busy_us_per_msg)" \
				"server busy per msg, median of the per-run ratios"
		done
		# the ceiling: the same load through bench/rawproxy
		rv=$(med "rawmsg$p" msgs_per_s)
		row "(4) rawproxy ${p/x/ x } (ceiling)" raw_msgs_per_s "$rv" "bottleneck: $(bottleneck "rawmsg$p")"
		for k in server_busy_us_per_msg p50_us p99_us server_cpu_pct errors other_cpu_pct; do
			row "" "raw_$k" "$(med "rawmsg$p" "$k")"
		done
	done
	[ -n "$MSG_POINTS" ] || return 0
	for bc in "${BC_LIST[@]}"; do
		gw_bad=0 gw_sat=""
		for p in $MSG_POINTS; do
			tag=msg$p$(bc_tag "$bc")
			bott=$(bottleneck "$tag")
			v=$(med "$tag" msgs_per_s)
			if [ "${bott%% *}" = gateway ] && awk -v v="$v" 'BEGIN { exit !(v + 0 < 50000) }'; then
				gw_bad=1
				gw_sat="$gw_sat ${p}:$v/s"
			fi
		done
		label="(4) target${bc:+, bc $bc}"
		if [ "$gw_bad" = 1 ]; then
			row "$label" "gateway never bottleneck" "NOT met" "gateway saturated below 50000 msgs/s at:$gw_sat"
		else
			row "$label" "gateway never bottleneck" "met" "below 50000 msgs/s"
		fi
	done
}

summary() {
	local c
	echo
	echo "== summary: median of $RUNS runs of $DUR s"
	machine
	echo
	printf '%-34s %-26s %12s  %s\n' scenario figure median note
	! ran api || summary_api
	! ran send || summary_send
	! ran msg || summary_msg
	echo
	echo "== commands (ports and ids as in this run; \$TMP = the run's scratch directory)"
	for c in "${CMDS[@]+"${CMDS[@]}"}"; do
		echo "  ${c#*|}"
	done
	echo
	worth_a_look
}

RUN_CMD="${WSGW_SHOWN:+WSGW=$WSGW_SHOWN }${WSGW_OLD:+WSGW_OLD=$WSGW_OLD_SHOWN }SERVER_CPU=$SERVER_CPU CLIENT_CPU=$CLIENT_CPU SCENARIOS=\"$SCENARIOS\" RUNS=$RUNS DUR=$DUR WARMUP_S=$WARMUP_S SEND_RATES=\"$SEND_RATES\" SEND_CONNS=$SEND_CONNS H2_CONNS=$H2_CONNS MSG_POINTS=\"$MSG_POINTS\" BACKEND_CONNS=\"$BACKEND_CONNS\" $0${*:+ $*}"
: >"$TMP/results"
for sc in $SCENARIOS; do
	case $sc in
	api) quiet_check && api_rps_scenarios ;;
	send) quiet_check && send_scenario ;;
	msg) quiet_check && msg_scenario ;;
	*) die "unknown scenario $sc (SCENARIOS: api send msg)" ;;
	esac
done
summary
[ "$ERRORS" -eq 0 ] || exit 1
