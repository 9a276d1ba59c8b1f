#!/usr/bin/env bash
# bench/cluster-percall.sh — what one remote call costs each process, as
# counts that a loaded machine does not blur much: Redis and nodes A and B
# (as bench/run-cluster.sh starts them, all on CPU 0), one connection on B
# (sendlat hold), and N REST calls made on A through h2load -c 4 -m 100
# (CPU 1) after 5 000 to warm up. perf stat counts, per process, the
# system calls by kind and the CPU time; each is printed per call.
#   bench/cluster-percall.sh BIN [N] [send|get]
#   NODE=b ...        the same calls made on B (local)
#   CG=a|b ...        that node under callgrind (instructions per call:
#                     callgrind_annotate $OUT/cg.a.out (OUT, default /tmp): total / (N + 5000))
#   REC=a|b|r ...     perf record of that process (flat profile)
# Needs perf with tracepoint access (root or perf_event_paranoid <= -1).
set -euo pipefail
BIN=$1; N=${2:-50000}; MODE=${3:-send}
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp}
T=$(mktemp -d /tmp/wsgw-percall.XXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill $p 2>/dev/null || true; done; wait 2>/dev/null; rm -rf $T' EXIT
RP=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ln -s /usr/bin/redis-check-rdb $T/redis-server
taskset -c 0 $T/redis-server --port $RP --bind 127.0.0.1 --save '' --appendonly no --dir $T >$T/redis.log 2>&1 & RPID=$!; PIDS+=($RPID)
for i in $(seq 50); do grep -q 'Ready to accept' $T/redis.log && break; sleep 0.1; done
declare -A P WS MG
for n in a b; do
  VG=(); [ "${CG:-}" = $n ] && VG=(valgrind --tool=callgrind --callgrind-out-file=$OUT/cg.$n.out --toggle-collect='loop_run')
  taskset -c 0 "${VG[@]}" $BIN --listen 127.0.0.1:0 --mgmt-listen 127.0.0.1:0 --idle-timeout off --ping-interval off --max-connections 25000 --log-level info --cluster redis://127.0.0.1:$RP/0 >$T/$n.log 2>&1 & P[$n]=$!; PIDS+=($!)
  for i in $(seq 300); do grep -q 'subscriber link: up' $T/$n.log && break; sleep 0.1; done
  WS[$n]=$(grep -o -m1 'WebSocket on [^ ]* (port [0-9]*)' $T/$n.log | sed 's/.*port //; s/)//')
  MG[$n]=$(grep -o -m1 'management on [^ ]* (port [0-9]*)' $T/$n.log | sed 's/.*port //; s/)//')
done
for i in $(seq 100); do [ "$(redis-cli -p $RP --scan --pattern 'wsgw:node:*' | wc -l)" = 2 ] && break; sleep 0.05; done
taskset -c 1 build/bench/sendlat hold --ws 127.0.0.1:${WS[b]} --conns 1 >$T/hold.log 2>&1 & PIDS+=($!)
for i in $(seq 100); do grep -q '^ready ' $T/hold.log && break; sleep 0.05; done
ID=$(awk '/^id / { print $2; exit }' $T/hold.log)
REST=/apigateways/websocket/v1/connections/$ID
printf '{"data":"aGVsbG8gd29ybGQ=","type":"TEXT"}' >$T/send.json
if [ "$MODE" = send ]; then URLA="http://127.0.0.1:${MG[${NODE:-a}]}$REST:send"; EXTRA=(-d $T/send.json -H 'content-type: application/json'); else URLA="http://127.0.0.1:${MG[${NODE:-a}]}$REST"; EXTRA=(); fi
# warm
taskset -c 1 h2load -c 4 -m 100 -n 5000 "${EXTRA[@]}" $URLA >/dev/null 2>&1
EV=raw_syscalls:sys_enter,task-clock,syscalls:sys_enter_sendto,syscalls:sys_enter_recvfrom,syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_writev,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_ctl,syscalls:sys_enter_clock_gettime
for n in a b; do perf stat -x, -e $EV -p ${P[$n]} -o $T/perf.$n 2>/dev/null & PS+=($!); done
perf stat -x, -e $EV -p $RPID -o $T/perf.r 2>/dev/null & PS+=($!)
[ -n "${REC:-}" ] && [ "$REC" != r ] && { perf record -F 2000 -g -p ${P[$REC]} -o $OUT/perf.$REC.data 2>/dev/null & PR=$!; }
[ "${REC:-}" = r ] && { perf record -F 2000 -g -p $RPID -o $OUT/perf.r.data 2>/dev/null & PR=$!; }
sleep 0.3
taskset -c 1 h2load -c 4 -m 100 -n $N "${EXTRA[@]}" $URLA >$T/h2load.out 2>&1
sleep 0.2
for p in "${PS[@]}"; do kill -INT $p; done; wait "${PS[@]}" 2>/dev/null || true
[ -n "${PR:-}" ] && { kill -INT $PR; wait $PR 2>/dev/null || true; }
grep -E '^finished|^status codes' $T/h2load.out
for n in a b r; do
  awk -F, -v who=$n -v N=$N '$3 ~ /:/ || $3 ~ /task-clock/ { k=$3; sub(/.*sys_enter_?/, "", k); v[k]=$1 } END { printf "%s: cpu %.2f us/call  syscalls/call %.3f:", who, v["task-clock"]*1000/N, v[""]/N; for (k in v) if (k != "task-clock" && k != "" && v[k]+0 > 0) printf " %s %.3f", k, v[k]/N; printf "\n" }' $T/perf.$n
done
