#!/usr/bin/env bash
# bench/run-tls.sh — the TLS benchmark (issue 14): wss:// echo and TLS
# handshakes against wsgw and against bench/tlsecho, a bare OpenSSL epoll
# echo with wsgw's TLS settings (the ceiling), side by side in every run;
# server pinned to CPU 0, loadgen to CPU 1. Prints every RESULT line, the
# medians with wsgw/tlsecho ratios and the verdict on each target. What
# each scenario measures: bench/README.md, "TLS".
#
#   make bench-tls
#   RUNS=5 ECHO_S=5 HS_S=5 bench/run-tls.sh
#   SERVERS="wsgw tlsecho" SCENARIOS=echo bench/run-tls.sh
#
# A test certificate (ECDSA P-256, self-signed) is made with the openssl
# CLI in the scratch directory. Exit status: 0, or 1 if a build is missing,
# a server fails to start, or any run reported errors.
set -euo pipefail

cd "$(dirname "$0")/.."
BENCH_NAME=bench/run-tls.sh
RESULT_NAME=RESULT
ERRORS_SHOWN=
ODD_LOG_LINES=
# shellcheck source-path=SCRIPTDIR/..
. bench/lib.sh

RUNS=${RUNS:-5}
ECHO_S=${ECHO_S:-5}
HS_S=${HS_S:-5}
WARMUP_S=${WARMUP_S:-1}
SCENARIOS=${SCENARIOS:-"echo handshake"}
# tlsecho-rb: tlsecho --release-buffers (OpenSSL's buffers released when
# idle, as wsgw does): what that costs, with no WebSocket work
SERVERS=${SERVERS:-"wsgw tlsecho tlsecho-rb"}
WAIT_QUIET=${WAIT_QUIET:-30}
RETRIES=${RETRIES:-8}
SERVER_CPU=0
CLIENT_CPU=1

WSGW=${WSGW:-build/release/wsgw}
TLSECHO=build/bench/tlsecho
LOADGEN=build/bench/loadgen
WSGW_FLAGS=(--listen 127.0.0.1:0 --mgmt-listen 127.0.0.1:0 --idle-timeout off
	--ping-interval off --max-connections 25000 --log-level info)

need_bins "make bench-build" "$WSGW" "$TLSECHO" "$LOADGEN"
command -v taskset >/dev/null || die "taskset not found (Debian package util-linux)"
command -v openssl >/dev/null || die "openssl not found (Debian package openssl)"
for s in $SERVERS; do
	case $s in wsgw | tlsecho | tlsecho-rb) ;; *) die "unknown server $s (SERVERS: wsgw tlsecho tlsecho-rb)" ;; esac
done
case " $SERVERS " in *" wsgw "*) ;; *) die "SERVERS must hold wsgw" ;; esac
check_cpus "server and load generator share CPU 0"
bench_setup wsgw-bench-tls
copy_bins -bin WSGW TLSECHO LOADGEN

CERT=$TMP/cert.pem KEY=$TMP/key.pem
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$KEY" \
	-out "$CERT" -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
	>/dev/null 2>&1 || die "openssl req failed to make the test certificate"

quiet_check() {
	wait_quiet "$@"
	[ -n "$STILL_BUSY" ] || return 0
	echo "$BENCH_NAME: warning: the machine is still busy (${STILL_BUSY}% of a core in use);" \
		"figures will be low and noisy — see other_cpu_pct" >&2
	ODD+=("before start: other processes used ${STILL_BUSY}% of a core")
}

ran() {
	case " $SCENARIOS " in *" $1 "*) return 0 ;; esac
	return 1
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "n/a" }'
}

declare -A PID PORT
start_servers() {
	local s
	for s in $SERVERS; do
		case $s in
		wsgw) spawn "$s" "$SERVER_CPU" "$WSGW" "${WSGW_FLAGS[@]}" --tls-cert "$CERT" --tls-key "$KEY" ;;
		tlsecho) spawn "$s" "$SERVER_CPU" "$TLSECHO" --cert "$CERT" --key "$KEY" ;;
		tlsecho-rb) spawn "$s" "$SERVER_CPU" "$TLSECHO" --cert "$CERT" --key "$KEY" --release-buffers ;;
		esac
		PID[$s]=$BG_PID
		wait_log "$s" "$BG_PID" '\(port [0-9]+\)' 5 "its \"(port N)\" line"
		PORT[$s]=$(log_port "$s")
	done
}

stop_servers() {
	local s
	for s in $SERVERS; do
		stop_proc "$s" "${PID[$s]}"
	done
}

loadgen_run() {
	taskset -c "$CLIENT_CPU" "$LOADGEN" "$@" | grep '^RESULT'
}

mode_of() { # wsgw speaks WebSocket; tlsecho echoes bytes
	[ "$1" = wsgw ] && echo ws || echo raw
}

echo_scenarios() {
	local spec conns inflight s
	for spec in 100x16 1000x1; do
		conns=${spec%x*} inflight=${spec#*x}
		echo "== wss:// echo ${conns} conns x ${inflight} in flight x 32 B, ${ECHO_S} s, ${RUNS} runs"
		for _ in $(seq "$RUNS"); do
			for s in $SERVERS; do # in turn, so drift hits all alike
				measure "echo$spec-$s" loadgen_run echo --tls --mode "$(mode_of "$s")" \
					--target "127.0.0.1:${PORT[$s]}" --conns "$conns" --inflight "$inflight" \
					--size 32 --duration "$ECHO_S" --warmup "$WARMUP_S" --server-pid "${PID[$s]}"
			done
		done
	done
}

# TLS handshakes alone (loadgen --mode raw --tls: connect, TLS 1.3 handshake,
# the server's ticket, close) against every server; full, then resumed.
handshake_scenarios() {
	local kind flag s
	for kind in full resumed; do
		flag=--tls
		[ "$kind" = full ] || flag=--tls-resume
		echo "== TLS 1.3 handshakes ($kind), 50 conns, ${HS_S} s, ${RUNS} runs"
		for _ in $(seq "$RUNS"); do
			for s in $SERVERS; do
				measure "hs$kind-$s" loadgen_run handshake --mode raw "$flag" \
					--target "127.0.0.1:${PORT[$s]}" --conns 50 --duration "$HS_S" \
					--warmup "$WARMUP_S" --server-pid "${PID[$s]}"
			done
		done
	done
	echo "== wss:// handshakes (TLS + upgrade + close handshake), wsgw only, ${RUNS} runs"
	for _ in $(seq "$RUNS"); do
		measure hswss-wsgw loadgen_run handshake --tls --target "127.0.0.1:${PORT[wsgw]}" \
			--conns 50 --duration "$HS_S" --warmup "$WARMUP_S" --server-pid "${PID[wsgw]}"
	done
}

rows() { # rows TAG LABEL KEY...
	local tag=$1 label=$2 k s a b
	shift 2
	for k in "$@"; do
		a=$(med "$tag-wsgw" "$k") b=$(med "$tag-tlsecho" "$k")
		printf '%-26s %-30s %11s %11s %9s' "$label" "$k" "$a" "$b" "$(ratio "$a" "$b")"
		case " $SERVERS " in *" tlsecho-rb "*) printf ' %11s' "$(med "$tag-tlsecho-rb" "$k")" ;; esac
		printf '\n'
	done
}

target() { # target WHAT VALUE OP LIMIT
	printf '  %-58s %8s %-3s %-5s %s\n' "$1" "$2" "$3" "$4" "$(verdict "$2" "$3" "$4")"
}

summary() {
	local spec kind a b
	echo
	echo "== summary: median of $RUNS runs; servers on CPU $SERVER_CPU, loadgen on CPU $CLIENT_CPU"
	machine_lines
	echo "command: $RUN_CMD"
	echo "servers: taskset -c $SERVER_CPU $WSGW_SHOWN ${WSGW_FLAGS[*]} --tls-cert C --tls-key K"
	echo "         taskset -c $SERVER_CPU $TLSECHO_SHOWN --cert C --key K [--release-buffers]"
	echo "         (C, K: self-signed ECDSA P-256, openssl req; TLS 1.3, X25519, TLS_AES_256_GCM_SHA384)"
	echo "loadgen: taskset -c $CLIENT_CPU $LOADGEN_SHOWN echo --tls --mode ws|raw --conns C --inflight I" \
		"--size 32 --duration $ECHO_S --warmup $WARMUP_S --server-pid PID"
	echo "         taskset -c $CLIENT_CPU $LOADGEN_SHOWN handshake --mode raw --tls|--tls-resume --conns 50" \
		"--duration $HS_S --warmup $WARMUP_S --server-pid PID"
	echo
	printf '%-26s %-30s %11s %11s %9s' scenario figure wsgw tlsecho wsgw/tls
	case " $SERVERS " in *" tlsecho-rb "*) printf ' %11s' tlsecho-rb ;; esac
	printf '\n'
	if ran echo; then
		for spec in 100x16 1000x1; do
			rows "echo$spec" "echo ${spec/x/ x } x 32 B" msgs_per_s p50_us p99_us \
				server_busy_us_per_msg server_cpu_pct loadgen_cpu_pct other_cpu_pct
		done
	fi
	if ran handshake; then
		for kind in full resumed; do
			rows "hs$kind" "TLS handshake, $kind" handshakes_per_s resumed p50_us \
				server_busy_us_per_handshake server_cpu_pct loadgen_cpu_pct other_cpu_pct
		done
		for k in handshakes_per_s p50_us server_busy_us_per_handshake server_cpu_pct; do
			printf '%-26s %-30s %11s %11s %9s\n' "wss:// upgrade (wsgw)" "$k" "$(med hswss-wsgw "$k")" - -
		done
	fi
	echo
	echo "== targets"
	if ran echo; then
		for spec in 100x16 1000x1; do
			a=$(med "echo$spec-wsgw" msgs_per_s) b=$(med "echo$spec-tlsecho" msgs_per_s)
			target "wss:// echo ${spec/x/ x }: messages/s, wsgw / tlsecho" "$(ratio "$a" "$b")" ">=" 0.9
			a=$(med "echo$spec-wsgw" server_busy_us_per_msg) b=$(med "echo$spec-tlsecho" server_busy_us_per_msg)
			target "wss:// echo ${spec/x/ x }: server busy per message, wsgw / tlsecho" \
				"$(ratio "$a" "$b")" "<=" 1.15
		done
	fi
	if ran handshake; then
		for kind in full resumed; do
			a=$(med "hs$kind-wsgw" handshakes_per_s) b=$(med "hs$kind-tlsecho" handshakes_per_s)
			target "TLS handshakes/s ($kind), wsgw / tlsecho" "$(ratio "$a" "$b")" ">=" 0.9
		done
	fi
	echo
	worth_a_look
}

RUN_CMD="SERVERS=\"$SERVERS\" SCENARIOS=\"$SCENARIOS\" RUNS=$RUNS ECHO_S=$ECHO_S HS_S=$HS_S WARMUP_S=$WARMUP_S $0${*:+ $*}"
: >"$TMP/results"
quiet_check
start_servers
! ran echo || echo_scenarios
! ran handshake || handshake_scenarios
stop_servers
summary
[ "$ERRORS" -eq 0 ] || exit 1
