/* loadgen.c — load generator for bench/run.sh: one thread, one
 * level-triggered epoll set, many connections.
 *
 * Scenarios (first argument):
 *   echo       keep --inflight messages outstanding on each of --conns
 *              connections (a new one goes out as each echo comes back);
 *              reports messages/s and round-trip latency percentiles
 *   handshake  --conns concurrent loops of TCP connect → RFC 6455 upgrade
 *              → close; reports completed handshakes/s
 *   idle       open --conns WebSocket connections, print "ready", hold
 *              them until SIGTERM or --hold seconds
 * --mode ws (default) speaks RFC 6455 as a client (§4.1 handshake with
 * a random key and a verified Sec-WebSocket-Accept, masked frames, §5.3);
 * --mode raw sends the same payload bytes unframed, for bench/rawecho.
 * --tls puts TLS 1.3 under either (lgtls.c): wss:// against wsgw, raw
 * against bench/tlsecho; handshake --mode raw --tls loops over TLS
 * handshakes alone (--tls-resume: resumed ones).
 *
 * Every run ends with one machine-readable line on stdout:
 *   RESULT scenario=echo target=ws conns=100 ... msgs_per_s=... p50_us=...
 *
 * Must not be the thing measured: output comes from one template buffer
 * (k messages = one write() of k frames, nothing copied per connection),
 * input goes through one loop-wide read buffer and an incremental frame
 * parser, and latency is taken from a per-connection FIFO of send times
 * (echo preserves order), so clock_gettime runs once per read or write.
 * Connections are spread over source addresses 127.0.0.1..127.0.0.K
 * (bind() with IP_BIND_ADDRESS_NO_PORT before connect), so tens of
 * thousands of them do not run out of ephemeral ports.
 *
 * This file holds the flags, the phases, the loop and the report. A
 * connection's lifecycle is in lgconn.c, its bytes in lgwire.c, the
 * upgrade's key and Sec-WebSocket-Accept check in wsupgrade.c; lgstate.h
 * holds the state they share.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "benchlib.h"
#include "lgconn.h"
#include "lgtls.h"
#include "lgstate.h"
#include "lgwire.h"

#define MAX_EVENTS 1024
#define MAX_INFLIGHT 4096
#define MAX_SIZE (16u << 20)

/* ---- latency histogram: log-linear, ~3% resolution ----------------- */

static double hist_pct(const struct hist *h, double q)
{
	uint64_t want, seen = 0;

	if (!h->n)
		return 0;
	want = (uint64_t)ceil(q * (double)h->n);
	if (want < 1)
		want = 1;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= want)
			return hist_value(i);
	}
	return (double)h->max;
}

/* ---- the server process, from /proc ------------------------------- */

static long proc_rss_kb(int pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* ---- phases and the loop --------------------------------------------- */

static double secs(uint64_t ns)
{
	return (double)ns / 1e9;
}

static uint64_t ns_of(double s)
{
	return (uint64_t)(s * 1e9);
}

/* Our own user + system time, in seconds. */
static double self_cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void window_start(struct lg *g, uint64_t now)
{
	g->phase = PH_MEASURE;
	g->win_start_ns = now;
	g->phase_end_ns = now + ns_of(g->o.duration);
	g->cnt.msgs = g->cnt.handshakes = g->cnt.cycles = g->cnt.resumed = 0;
	memset(&g->h, 0, sizeof g->h);
	if (g->o.server_pid)
		g->cpu0 = proc_cpu_ticks(g->o.server_pid);
	g->busy0 = machine_busy_ticks();
	g->self0 = self_cpu();
}

static void window_end(struct lg *g, uint64_t now)
{
	g->phase = PH_DONE;
	g->win_end_ns = now;
	if (g->o.server_pid)
		g->cpu1 = proc_cpu_ticks(g->o.server_pid);
	g->busy1 = machine_busy_ticks();
	g->self1 = self_cpu();
}

/* Opens connections up to --max-pending at a time: all --conns of them
 * during the ramp, and again whatever slot the handshake loop freed. */
static void refill(struct lg *g, uint64_t now)
{
	while (g->pending < g->o.max_pending) {
		struct lconn *c;

		if (g->o.sc == SC_HANDSHAKE) {
			if (g->phase >= PH_DONE || g->nfree == 0)
				break;
			c = &g->c[g->free_slots[--g->nfree]];
		} else {
			if (g->next_slot >= g->o.conns)
				break;
			c = &g->c[g->next_slot++];
		}
		if (lgconn_start(g, c, now) < 0) {
			g->cnt.connect_err++;
			if (g->o.sc == SC_HANDSHAKE) {
				g->free_slots[g->nfree++] = (unsigned)(c - g->c);
				break; /* out of ports or fds: retry after the batch */
			}
		}
	}
}

static void print_ready(struct lg *g, uint64_t now)
{
	if (g->o.server_pid)
		g->rss1_kb = proc_rss_kb(g->o.server_pid);
	printf("ready conns=%u open=%u ramp_s=%.3f\n", g->o.conns, g->opened,
	       secs(now - g->start_ns));
	fflush(stdout);
}

/* Moves between phases when their time is up. */
static void advance(struct lg *g, uint64_t now)
{
	bool ramped = g->next_slot >= g->o.conns && g->pending == 0;
	bool ramp_late = now - g->start_ns >= ns_of(g->o.ramp_timeout);

	if (got_term && g->phase != PH_DONE) {
		if (g->phase == PH_MEASURE)
			window_end(g, now);
		else if (g->phase == PH_HOLD)
			g->win_end_ns = now;
		g->phase = PH_DONE;
		return;
	}
	switch (g->phase) {
	case PH_RAMP:
		if (!ramped && !ramp_late)
			break;
		if (g->o.sc == SC_IDLE) {
			g->win_start_ns = now;
			print_ready(g, now);
			g->phase = PH_HOLD;
			g->phase_end_ns = g->o.hold > 0 ? now + ns_of(g->o.hold) : UINT64_MAX;
		} else {
			g->phase = PH_WARMUP;
			g->phase_end_ns = now + ns_of(g->o.warmup);
		}
		break;
	case PH_WARMUP:
		if (now >= g->phase_end_ns)
			window_start(g, now);
		break;
	case PH_MEASURE:
		if (now >= g->phase_end_ns)
			window_end(g, now);
		break;
	case PH_HOLD:
		if (now >= g->phase_end_ns) {
			g->win_end_ns = now;
			g->phase = PH_DONE;
		}
		break;
	case PH_DONE:
		break;
	}
}

static int wait_ms(const struct lg *g, uint64_t now)
{
	uint64_t left;

	if (g->phase == PH_RAMP)
		return 10;
	if (g->phase_end_ns <= now)
		return 0;
	left = (g->phase_end_ns - now + 999999) / 1000000;
	return left > 100 ? 100 : (int)left;
}

static int run(struct lg *g)
{
	static struct epoll_event evs[MAX_EVENTS];

	g->start_ns = now_ns();
	if (g->o.server_pid)
		g->rss0_kb = proc_rss_kb(g->o.server_pid);
	g->phase = g->o.sc == SC_HANDSHAKE ? PH_WARMUP : PH_RAMP;
	g->phase_end_ns = g->start_ns + ns_of(g->o.warmup);
	while (g->phase != PH_DONE) {
		uint64_t now = now_ns();
		int n;

		advance(g, now);
		if (g->phase == PH_DONE)
			break;
		refill(g, now);
		n = epoll_wait(g->ep, evs, MAX_EVENTS, wait_ms(g, now));
		if (n < 0 && errno != EINTR) {
			perror("loadgen: epoll_wait");
			return -1;
		}
		now = now_ns();
		for (int i = 0; i < n; i++)
			lgconn_on_event(g, evs[i].data.ptr, evs[i].events, now);
	}
	return 0;
}

/* ---- report ------------------------------------------------------------ */

static uint64_t errors(const struct counters *k)
{
	return k->connect_err + k->hs_err + k->closed + k->proto_err + k->bad_payload;
}

static void print_latency(const struct lg *g)
{
	printf(" p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f",
	       hist_pct(&g->h, 0.50) / 1e3, hist_pct(&g->h, 0.90) / 1e3,
	       hist_pct(&g->h, 0.99) / 1e3, hist_pct(&g->h, 0.999) / 1e3, (double)g->h.max / 1e3);
}

/* Server core time over the window, per unit of work (message or
 * handshake), from /proc/PID/stat (sampled at the tick, so ±1 tick), our
 * own, and everything else the machine did meanwhile (other_cpu_pct: a
 * busy neighbour makes the run worthless). Percentages are of one core. */
static void print_cpu(const struct lg *g, double win, uint64_t work, const char *per)
{
	double tck = (double)sysconf(_SC_CLK_TCK), self = g->self1 - g->self0, cpu = 0;

	if (g->o.server_pid && g->cpu0 >= 0 && g->cpu1 >= 0) {
		cpu = (double)(g->cpu1 - g->cpu0) / tck;
		printf(" server_cpu_s=%.2f server_cpu_pct=%.1f server_busy_us_per_%s=%.3f", cpu,
		       100 * cpu / win, per, work ? cpu * 1e6 / (double)work : 0.0);
	}
	printf(" loadgen_cpu_pct=%.1f", 100 * self / win);
	if (g->o.server_pid && g->busy0 >= 0 && g->busy1 >= 0)
		printf(" other_cpu_pct=%.1f",
		       100 * ((double)(g->busy1 - g->busy0) / tck - cpu - self) / win);
}

static void print_errors(const struct lg *g)
{
	const struct counters *k = &g->cnt;

	printf(" errors=%llu connect_err=%llu hs_err=%llu closed=%llu proto_err=%llu "
	       "bad_payload=%llu\n",
	       (unsigned long long)errors(k), (unsigned long long)k->connect_err,
	       (unsigned long long)k->hs_err, (unsigned long long)k->closed,
	       (unsigned long long)k->proto_err, (unsigned long long)k->bad_payload);
}

static void report(const struct lg *g)
{
	const struct opts *o = &g->o;
	double win = secs(g->win_end_ns - g->win_start_ns);
	const char *target =
	    o->mode == MODE_WS ? (o->tls ? "wss" : "ws") : (o->tls ? "tls" : "raw");

	if (win <= 0)
		win = 1e-9;
	if (o->sc == SC_ECHO) {
		printf("RESULT scenario=echo target=%s conns=%u open=%u inflight=%u size=%u "
		       "opcode=%s duration_s=%.3f msgs=%llu msgs_per_s=%.0f",
		       target, o->conns, g->opened, o->inflight, o->size,
		       o->mode == MODE_RAW ? "none"
		       : o->binary         ? "binary"
		                           : "text",
		       win, (unsigned long long)g->cnt.msgs, (double)g->cnt.msgs / win);
		print_latency(g);
		print_cpu(g, win, g->cnt.msgs, "msg");
	} else if (o->sc == SC_HANDSHAKE) {
		printf("RESULT scenario=handshake target=%s conns=%u close=%s duration_s=%.3f "
		       "handshakes=%llu handshakes_per_s=%.0f cycles_per_s=%.0f",
		       target, o->conns, o->close_tcp ? "tcp" : "ws", win,
		       (unsigned long long)g->cnt.handshakes, (double)g->cnt.handshakes / win,
		       (double)g->cnt.cycles / win);
		if (o->tls)
			printf(" resumed=%llu", (unsigned long long)g->cnt.resumed);
		print_latency(g);
		print_cpu(g, win, g->cnt.handshakes, "handshake");
	} else {
		printf("RESULT scenario=idle target=%s conns=%u open=%u held_s=%.3f", target,
		       o->conns, g->opened, win);
		if (o->server_pid && g->rss0_kb >= 0 && g->rss1_kb >= 0)
			printf(" rss_before_kb=%ld rss_ready_kb=%ld bytes_per_conn=%.1f",
			       g->rss0_kb, g->rss1_kb,
			       g->opened ? (double)(g->rss1_kb - g->rss0_kb) * 1024 / g->opened
			                 : 0.0);
	}
	print_errors(g);
	fflush(stdout);
}

/* ---- options ----------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: loadgen echo|handshake|idle [flags]\n"
	        "  --mode ws|raw        WebSocket client (default) or unframed bytes (rawecho)\n"
	        "  --target IPv4:PORT   server address (default 127.0.0.1:8080)\n"
	        "  --conns N            connections (echo 100, handshake 50, idle 10000)\n"
	        "  --inflight N         echo: messages outstanding per connection (16)\n"
	        "  --size N             echo: payload bytes per message (32)\n"
	        "  --binary             echo: binary frames (default text, ASCII payload)\n"
	        "  --duration S         echo/handshake: measurement window (10)\n"
	        "  --warmup S           echo/handshake: traffic before the window (1)\n"
	        "  --hold S             idle: hold this long after \"ready\" (0: until SIGTERM)\n"
	        "  --server-pid PID     report the server's CPU (echo/handshake) or VmRSS (idle)\n"
	        "  --src-addrs K        spread over 127.0.0.1..127.0.0.K (1 + conns/5000;\n"
	        "                       handshake: at least 16)\n"
	        "  --max-pending N      connects + upgrades in progress at once (512)\n"
	        "  --ramp-timeout S     give up waiting for all connections to open (60)\n"
	        "  --close ws|tcp       handshake: close frame, or plain close() after 101 (ws)\n"
	        "  --path P             request target (/)\n"
	        "  --user-agent S       send a User-Agent header (default: none)\n"
	        "  --tls                TLS 1.3, X25519, under ws (wss://) or raw (tlsecho);\n"
	        "                       handshake --mode raw --tls: TLS handshakes alone\n"
	        "  --tls-resume         handshake: offer the last session ticket every time\n");
}

static int num(const char *v, double lo, double hi, double *out)
{
	char *end;

	*out = strtod(v, &end);
	return *end || end == v || !(*out >= lo && *out <= hi) ? -1 : 0;
}

/* One --flag VALUE. Returns 0, or -1 for an unknown flag or bad value. */
static int parse_flag(struct opts *o, const char *k, const char *v)
{
	double d;

	if (!strcmp(k, "--mode") && (!strcmp(v, "ws") || !strcmp(v, "raw")))
		o->mode = !strcmp(v, "ws") ? MODE_WS : MODE_RAW;
	else if (!strcmp(k, "--close") && (!strcmp(v, "ws") || !strcmp(v, "tcp")))
		o->close_tcp = !strcmp(v, "tcp");
	else if (!strcmp(k, "--target"))
		o->target = v;
	else if (!strcmp(k, "--path"))
		o->path = v;
	else if (!strcmp(k, "--user-agent"))
		o->user_agent = v;
	else if (!strcmp(k, "--conns") && !num(v, 1, 1e6, &d))
		o->conns = (unsigned)d;
	else if (!strcmp(k, "--inflight") && !num(v, 1, MAX_INFLIGHT, &d))
		o->inflight = (unsigned)d;
	else if (!strcmp(k, "--size") && !num(v, 0, MAX_SIZE, &d))
		o->size = (unsigned)d;
	else if (!strcmp(k, "--duration") && !num(v, 0.01, 1e6, &d))
		o->duration = d;
	else if (!strcmp(k, "--warmup") && !num(v, 0, 1e6, &d))
		o->warmup = d;
	else if (!strcmp(k, "--hold") && !num(v, 0, 1e9, &d))
		o->hold = d;
	else if (!strcmp(k, "--ramp-timeout") && !num(v, 0.1, 1e6, &d))
		o->ramp_timeout = d;
	else if (!strcmp(k, "--server-pid") && !num(v, 1, 1e9, &d))
		o->server_pid = (int)d;
	else if (!strcmp(k, "--src-addrs") && !num(v, 1, 254, &d))
		o->src_addrs = (unsigned)d;
	else if (!strcmp(k, "--max-pending") && !num(v, 1, 1e6, &d))
		o->max_pending = (unsigned)d;
	else
		return -1;
	return 0;
}

static int parse_args(struct opts *o, int argc, char **argv)
{
	static const char *const names[] = {"echo", "handshake", "idle"};
	unsigned def_conns[] = {100, 50, 10000};
	int sc = -1;

	*o = (struct opts){.target = "127.0.0.1:8080",
	                   .path = "/",
	                   .inflight = 16,
	                   .size = 32,
	                   .duration = 10,
	                   .warmup = 1,
	                   .ramp_timeout = 60,
	                   .max_pending = 512};
	for (int i = 0; i < 3 && argc > 1; i++)
		if (!strcmp(argv[1], names[i]))
			sc = i;
	if (sc < 0) {
		fprintf(stderr, "loadgen: first argument: echo, handshake or idle\n");
		return -1;
	}
	o->sc = (enum scenario)sc;
	for (int i = 2; i < argc; i++) {
		char *eq = strchr(argv[i], '=');

		if (!strcmp(argv[i], "--binary")) {
			o->binary = true;
		} else if (!strcmp(argv[i], "--tls")) {
			o->tls = true;
		} else if (!strcmp(argv[i], "--tls-resume")) {
			o->tls = o->tls_resume = true;
		} else if (eq && !strncmp(argv[i], "--", 2)) {
			*eq = '\0';
			if (parse_flag(o, argv[i], eq + 1) < 0)
				goto bad;
		} else if (i + 1 >= argc || parse_flag(o, argv[i], argv[i + 1]) < 0) {
			goto bad;
		} else {
			i++;
		}
		continue;
	bad:
		fprintf(stderr, "loadgen: bad flag or value: %s%s%s\n", argv[i], eq ? "=" : " ",
		        eq             ? eq + 1
		        : i + 1 < argc ? argv[i + 1]
		                       : "");
		return -1;
	}
	if (!o->conns)
		o->conns = def_conns[sc];
	if (!o->src_addrs)
		o->src_addrs = 1 + o->conns / 5000;
	if (o->sc == SC_HANDSHAKE && o->src_addrs < 16)
		o->src_addrs = 16;
	if (o->mode == MODE_RAW &&
	    (o->sc == SC_IDLE || (o->sc == SC_HANDSHAKE && !o->tls) || o->size == 0)) {
		fprintf(stderr, "loadgen: --mode raw is for echo with --size >= 1, or handshake "
		                "with --tls\n");
		return -1;
	}
	if (bench_parse_addr(o->target, &o->dst, 1) < 0) {
		fprintf(stderr, "loadgen: bad --target %s (want IPv4:PORT)\n", o->target);
		return -1;
	}
	return 0;
}

static int setup(struct lg *g)
{
	uint64_t seed;
	unsigned long long fd_limit;

	if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
		seed = now_ns() ^ (uint64_t)getpid();
	g->rng = seed;
	fd_limit = raise_fd_limit();
	if (fd_limit && fd_limit < (unsigned long long)g->o.conns + 16)
		fprintf(stderr, "loadgen: warning: open-file limit %llu < %u connections\n",
		        fd_limit, g->o.conns);
	g->ep = epoll_create1(EPOLL_CLOEXEC);
	g->c = calloc(g->o.conns, sizeof *g->c);
	g->rbuf = malloc(RBUF_SIZE);
	if (g->ep < 0 || !g->c || !g->rbuf || lgwire_build_template(g) < 0 ||
	    (g->o.tls && lgtls_init(g) < 0))
		return -1;
	if (g->o.sc == SC_ECHO) {
		g->rings = calloc((size_t)g->o.conns * g->o.inflight, sizeof *g->rings);
		if (!g->rings)
			return -1;
		for (unsigned i = 0; i < g->o.conns; i++)
			g->c[i].ring = g->rings + (size_t)i * g->o.inflight;
	}
	if (g->o.sc == SC_HANDSHAKE) {
		g->free_slots = malloc(g->o.conns * sizeof *g->free_slots);
		if (!g->free_slots)
			return -1;
		for (unsigned i = 0; i < g->o.conns; i++)
			g->free_slots[g->nfree++] = g->o.conns - 1 - i;
		if (g->o.max_pending < g->o.conns)
			g->o.max_pending = g->o.conns;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct lg g;
	struct sigaction sa = {.sa_handler = on_term}; /* no SA_RESTART: wake epoll_wait */

	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (parse_args(&g.o, argc, argv) < 0) {
		fprintf(stderr, "(loadgen --help lists the flags)\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (setup(&g) < 0) {
		perror("loadgen: setup");
		return 1;
	}
	if (run(&g) < 0)
		return 1;
	report(&g);
	return 0;
}
