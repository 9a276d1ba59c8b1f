# shellcheck shell=bash
# bench/lib.sh — the helpers bench/run.sh and bench/run-api.sh share:
# starting, stopping and (on exit) ending what they run, waiting for a log
# line or a quiet machine, keeping result lines and taking their medians,
# describing the machine. Sourced, not run: each script cds to the
# repository root and sources it from there (`. bench/lib.sh`).
#
# The script sets, before sourcing:
#   BENCH_NAME     how its messages start ("bench/run.sh")
#   RESULT_NAME    what "TAG: no ... line" calls a missing result line
#   ERRORS_SHOWN   1: a run with errors shows in "worth a look" as
#                  "TAG: errors=N: LINE" rather than "TAG: LINE"
#   ODD_LOG_LINES  at most this many odd log lines per process (empty: all)
# and before the helpers run: SERVER_CPU, CLIENT_CPU, WAIT_QUIET, RETRIES,
# WSGW, and a function quiet_check [LIMIT_S] that calls wait_quiet and
# says in its own words what a still busy machine means (measure calls it).

die() {
	echo "$BENCH_NAME: $*" >&2
	exit 1
}

# need_bins HINT BINARY... — dies naming the first binary that is missing.
need_bins() {
	local hint=$1 b
	shift
	for b in "$@"; do
		[ -x "$b" ] || die "missing $b — build it first: $hint"
	done
}

# check_cpus WHAT — with one CPU there is no second core for the load:
# warn ("only 1 CPU; WHAT") and put the client side on CPU 0 too.
check_cpus() {
	if [ "$(nproc)" -lt 2 ]; then
		echo "$BENCH_NAME: warning: only $(nproc) CPU; $1" >&2
		# shellcheck disable=SC2034 # the script's setting
		CLIENT_CPU=0
	fi
}

# bench_setup PREFIX — raises the open files limit to the hard limit (a
# server and its load generator hold up to 19 000 connections each), makes
# the scratch directory $TMP (/tmp/PREFIX.XXXXXX), and on exit ends every
# process still in PIDS and removes $TMP. Sets WSGW_ID: the measured wsgw
# binary (path, sha256, build time), taken before it is copied.
bench_setup() {
	ulimit -n "$(ulimit -Hn)"
	TMP=$(mktemp -d "/tmp/$1.XXXXXX")
	PIDS=()  # every process this script started and may still have to end
	ERRORS=0
	ODD=()   # wsgw log lines above info, runs with errors, failed checks
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	WSGW_ID="$WSGW: sha256 $(sha256sum "$WSGW" | cut -c1-16), built $(date -u -r "$WSGW" '+%F %T UTC')"
}

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

# copy_bins SUFFIX VAR... — copies the binary $VAR to $TMP/var+SUFFIX (the
# variable's name in lower case), keeps the path it had in VAR_SHOWN for
# what is printed and points VAR at the copy: a rebuild while the benchmark
# runs then does not mix two versions in one table.
copy_bins() {
	local suffix=$1 v copy
	shift
	for v in "$@"; do
		copy=$TMP/${v,,}$suffix
		cp "${!v}" "$copy"
		printf -v "${v}_SHOWN" '%s' "${!v}"
		printf -v "$v" '%s' "$copy"
	done
}

# spawn NAME CPU CMD... — starts CMD pinned to CPU in the background, output
# to $TMP/NAME.log; sets BG_PID.
spawn() {
	local name=$1 cpu=$2
	shift 2
	taskset -c "$cpu" "$@" >"$TMP/$name.log" 2>&1 &
	BG_PID=$!
	PIDS+=("$BG_PID")
}

# wait_log NAME PID REGEX [TIMEOUT_S [WHAT]] — waits until $TMP/NAME.log has
# a line matching REGEX (extended); if the process exits or TIMEOUT_S (10)
# runs out, prints the log and dies: "NAME did not print WHAT" (/REGEX/).
wait_log() {
	local name=$1 pid=$2 re=$3 limit=$((${4:-10} * 20))
	for _ in $(seq "$limit"); do
		grep -Eq "$re" "$TMP/$name.log" && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	cat "$TMP/$name.log" >&2
	die "$name did not print ${5:-/$re/}"
}

log_port() { # log_port NAME — N from the first "(port N)" in $TMP/NAME.log
	grep -o -m1 '(port [0-9]*)' "$TMP/$1.log" | head -n1 | tr -dc 0-9
}

forget() { # drops a pid from PIDS once it has been waited for
	local p keep=()
	for p in "${PIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	PIDS=("${keep[@]+"${keep[@]}"}")
}

# stop_proc NAME PID — SIGTERM, SIGKILL after 10 s; keeps odd log lines
# (warnings, errors, sanitizer reports) for "worth a look".
stop_proc() {
	local name=$1 pid=$2 line
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 200); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	forget "$pid"
	while IFS= read -r line; do
		ODD+=("$name: $line")
	done < <(grep -E ' (warn|error) |AddressSanitizer|runtime error' "$TMP/$name.log" |
		awk -v max="${ODD_LOG_LINES:-0}" 'max == 0 || NR <= max' || true)
}

busy_ticks() { # the machine's non-idle ticks, all CPUs
	awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}
TCK=$(getconf CLK_TCK)

# wait_quiet [LIMIT_S] — something else keeping the machine busy would share
# the cores: waits up to LIMIT_S (WAIT_QUIET) seconds for it to stop. Sets
# STILL_BUSY to the percent of a core in use if it did not, else empty.
wait_quiet() {
	local b0 b1 pct waited=0 limit=${1:-$WAIT_QUIET}
	STILL_BUSY=  # for the script's quiet_check
	while :; do
		b0=$(busy_ticks)
		sleep 1
		b1=$(busy_ticks)
		pct=$(((b1 - b0) * 100 / TCK))
		[ "$pct" -gt 10 ] || return 0
		[ "$waited" -lt "$limit" ] || break
		[ "$waited" -gt 0 ] || echo "$BENCH_NAME: the machine is busy (${pct}% of a core);" \
			"waiting up to ${limit} s for it to go quiet" >&2
		waited=$((waited + 1))
	done
	# shellcheck disable=SC2034 # read by the script's quiet_check
	STILL_BUSY=$pct
}

field() { # field KEY < line
	tr ' ' '\n' | sed -n "s/^$1=//p" | head -n1
}

median() { # median of the numbers on stdin
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "n/a"; exit }
		if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

med() { # med TAG KEY — median of KEY over TAG's runs ("n/a" when there are none)
	{ grep "^$1 " "$TMP/results" 2>/dev/null || true; } |
		while IFS= read -r l; do field "$2" <<<"$l"; done | median
}

# pair_med TAG_A TAG_B KEY — the median over runs of A's KEY / B's KEY, run i
# of A with run i of B (the runners alternate them, so each pair shared the
# machine's state of the moment); "n/a" without pairs. On a busy machine a
# disturbed run moves one pair, where it can move either median alone.
pair_med() {
	local a b
	a=$({ grep "^$1 " "$TMP/results" 2>/dev/null || true; } | while IFS= read -r l; do field "$3" <<<"$l"; done)
	b=$({ grep "^$2 " "$TMP/results" 2>/dev/null || true; } | while IFS= read -r l; do field "$3" <<<"$l"; done)
	paste <(echo "$a") <(echo "$b") | awk '$1 + 0 > 0 && $2 + 0 > 0 { print $1 / $2 }' | median |
		awk '{ if ($1 == "n/a") print; else printf "%.2f\n", $1 }'
}

# record TAG LINE — keeps a result line under TAG and notes its errors.
record() {
	local tag=$1 line=$2 e
	[ -n "$line" ] || { ERRORS=$((ERRORS + 1)); ODD+=("$tag: no $RESULT_NAME line"); return; }
	echo "$tag $line" >>"$TMP/results"
	echo "  $line"
	e=$(field errors <<<"$line")
	if [ "${e:-0}" != 0 ]; then
		ERRORS=$((ERRORS + 1))
		ODD+=("$tag: ${ERRORS_SHOWN:+errors=$e: }$line")
	fi
	e=$(field other_cpu_pct <<<"$line")
	if awk -v o="${e:-0}" 'BEGIN { exit !(o > 10) }'; then
		ODD+=("$tag: other processes used ${e}% of a core during this run")
	fi
}

# measure TAG FN ARGS... — runs FN ARGS (which prints one result line on
# stdout) and records the line. A run during which other processes took
# more than 10% of a core is repeated (after waiting for quiet) while the
# RETRIES budget for the whole script lasts; the last attempt is kept
# either way.
measure() {
	local tag=$1 line other
	shift
	while :; do
		line=$("$@" || true)
		other=$(field other_cpu_pct <<<"$line")
		awk -v o="${other:-0}" 'BEGIN { exit !(o > 10) }' || break
		[ "$RETRIES" -gt 0 ] || break
		RETRIES=$((RETRIES - 1))
		echo "  (other processes used ${other}% of a core: run repeated)"
		quiet_check 10
	done
	record "$tag" "$line"
}

# verdict VALUE OP LIMIT — "met" / "NOT met" (OP: >=, <=, <), "n/a" without
# a value: the runners print each target's verdict from the medians, so no
# table needs a hand-written mark.
verdict() {
	awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {
		if (v == "n/a" || v == "") { print "n/a"; exit }
		if (op == ">=") ok = v + 0 >= l; else if (op == "<=") ok = v + 0 <= l; else ok = v + 0 < l
		print ok ? "met" : "NOT met" }'
}

machine_lines() { # the summary's first lines: date, machine, wsgw and source tree
	echo "date:    $(date -u)"
	echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)," \
		"$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)," \
		"kernel $(uname -sr), open files $(ulimit -n)"
	echo "wsgw:    $("$WSGW" --version 2>/dev/null || true), $WSGW_ID;" \
		"source tree $(git describe --always --dirty 2>/dev/null || echo '(not a git checkout)')"
}

worth_a_look() { # the summary's last lines
	if [ "${#ODD[@]}" -gt 0 ]; then
		echo "== worth a look:"
		printf '  %s\n' "${ODD[@]}"
	else
		echo "== no errors, no wsgw warnings"
	fi
}
