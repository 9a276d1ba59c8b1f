/* bcastload.c — broadcast load for bench/run-bcast.sh: opens --conns
 * WebSocket connections (real RFC 6455 upgrade, wsc.c), waits until every
 * one is open, then --repeat times asks the server to broadcast one
 * --size-byte message to all of them and measures how long it takes to
 * arrive everywhere. One thread, one level-triggered epoll set.
 *
 * The trigger is one HTTP/1.1 request on a fresh connection to --trigger:
 *   POST /wsgw/v1/broadcast  {"data":"<base64>","type":"TEXT"}
 * which wsgw's management port answers 200 {"delivered":N,"skipped":N,
 * "total":N} once the last paced slice is written; bench/uwsbcast.js (the
 * uWebSockets anchor) and bench/rawbcast.c (the raw epoll ceiling) answer
 * the same request the same way, so one program drives all three alike.
 *
 * Per broadcast k: payload "bcast-<8 hex of k>-xxx…" (ASCII, so a server
 * validating UTF-8 has real work); t0 is taken just before the request is
 * written, a client's receipt is when the read that completed its frame
 * returned. The broadcast is done when every connection open at t0 has the
 * message and the response has arrived (or --timeout). Between broadcasts
 * --gap-ms of quiet.
 *
 *   bcastload --target IPv4:PORT --trigger IPv4:PORT --conns 10000
 *             --repeat 10 --size 32 --server-pid PID
 *
 * Cluster mode (bench/run-cluster.sh): --target given twice (or more, up
 * to MAX_TARGETS) spreads the connections round-robin over the nodes
 * (connection i on target i mod n), the echo probes stay on the first;
 * the one trigger goes to the node named by --trigger, which fans out to
 * the others. --cpu-pid NAME=PID (repeatable) adds NAME_cpu_ms (per
 * broadcast) and NAME_cpu_pct (during the broadcasts) for other processes
 * (the second node, Redis), which other_cpu_pct then leaves out.
 *
 * One line on stdout at the end:
 *   RESULT scenario=bcast conns=… open=… last_ms=… msgs_per_s=…
 *          server_busy_us_per_msg=… …
 * last_ms: median over the broadcasts of t0 → the last client's receipt;
 * msgs_per_s = open / last_ms; server CPU from /proc/PID/task/TID/schedstat
 * (exact ns, every thread) over each broadcast, summed, ÷ messages
 * received. Which figure means what: bench/README.md, "Broadcast".
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "bcecho.h"
#include "benchlib.h"
#include "wsc.h"

#define RBUF_SIZE (256 * 1024)
#define MAX_EVENTS 1024
#define MAX_SIZE 125 /* one unfragmented frame with a 2-byte header; wsc keeps 125 bytes */
#define MAX_REPEAT 1000
#define RESP_MAX 4096
#define REQ_MAX 2048
#define MAX_TARGETS 4
#define MAX_CPU_PIDS 4

/* first member of struct wsc and struct trig; target p's connections are
 * K_WS + p */
enum kind { K_ECHO = 1, K_TRIG, K_WS };

/* The trigger's HTTP/1.1 connection: one request, one response. */
struct trig {
	int kind;
	int fd;
	size_t len;
	bool done;   /* response complete (or failed) */
	int status;  /* HTTP status, 0 if none */
	char *reply; /* the response body, in buf */
	char buf[RESP_MAX + 1];
};

/* A process whose CPU is reported besides the server's (--cpu-pid). */
struct cpu_pid {
	const char *name;
	int pid;
	long long ns, span_ns; /* over the broadcasts; over the whole phase */
	bool ok;
};

struct opts {
	struct sockaddr_in dst[MAX_TARGETS], tdst;
	const char *target[MAX_TARGETS], *trigger, *path, *tpath, *token, *route;
	unsigned ntargets, ncpu;
	struct cpu_pid cpu[MAX_CPU_PIDS];
	unsigned conns, echo_conns, echo_us, repeat, size, src_addrs, max_pending, gap_ms;
	bool binary;
	double timeout, ramp_timeout;
	int server_pid;
};

/* What one broadcast measured. */
struct shot {
	uint64_t last_ns, resp_ns; /* t0 → last receipt, t0 → response */
	long long srv_ns;          /* server CPU over the broadcast (-1: unknown) */
	long long srv_ticks;       /* the same from /proc/PID/stat, ticks */
	unsigned long long delivered, skipped, total; /* the server's counts */
	unsigned expected, got;
};

struct g {
	struct opts o;
	int ep;
	uint8_t *rbuf;
	struct wsc_pool ws[MAX_TARGETS]; /* one per --target */
	struct bcecho e;                 /* the echo probe (--echo-conns) */
	struct trig t;
	unsigned next;
	uint8_t payload[MAX_SIZE];
	unsigned cur;      /* the broadcast under way (1-based; 0: none) */
	uint64_t t0, last; /* its call time and latest receipt */
	unsigned got;
	uint64_t stray, bad_payload, lost, trigger_err, miscount;
	struct hist h; /* every receipt, t0 → receipt */
	struct shot shots[MAX_REPEAT];
};

const char bench_prog[] = "bcastload";

/* The connections open over every target. */
static unsigned ws_open(const struct g *g)
{
	unsigned n = 0;

	for (unsigned p = 0; p < g->o.ntargets; p++)
		n += g->ws[p].open;
	return n;
}

static unsigned ws_pending(const struct g *g)
{
	unsigned n = 0;

	for (unsigned p = 0; p < g->o.ntargets; p++)
		n += g->ws[p].pending;
	return n;
}

/* ---- the payload ---------------------------------------------------------- */

static void make_payload(struct g *g, unsigned k)
{
	int n = snprintf((char *)g->payload, sizeof g->payload, "bcast-%08x-", k);

	memset(g->payload + n, 'x', g->o.size - (unsigned)n);
}

static void base64(const uint8_t *in, size_t n, char *out)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, o = 0;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		out[o++] = tab[v >> 18], out[o++] = tab[v >> 12 & 63];
		out[o++] = tab[v >> 6 & 63], out[o++] = tab[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);

		out[o++] = tab[v >> 18], out[o++] = tab[v >> 12 & 63];
		out[o++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
}

/* ---- what the connections report (wsc.c) ---------------------------------- */

static void on_message(void *arg, struct wsc *c, uint64_t len, uint64_t now)
{
	struct g *g = arg;

	if (!g->cur) {
		g->stray++; /* nothing was broadcast: the server sent on its own */
		return;
	}
	if (c->msg_op != (g->o.binary ? 2 : 1) || len != g->o.size || c->pl_len != g->o.size ||
	    memcmp(c->pl, g->payload, g->o.size)) {
		g->bad_payload++;
		return;
	}
	g->got++;
	g->last = now;
	hist_add(&g->h, now - g->t0);
}

/* ---- the trigger ------------------------------------------------------------ */

/* The unsigned number after "key": in s, or 0. */
static unsigned long long json_num(const char *s, const char *key)
{
	char pat[32];
	const char *p;

	snprintf(pat, sizeof pat, "\"%s\"", key);
	p = s ? strstr(s, pat) : NULL;
	if (!p)
		return 0;
	p += strlen(pat);
	while (*p == ' ' || *p == ':')
		p++;
	return strtoull(p, NULL, 10);
}

/* Connects (blocking: loopback answers at once) and builds the request in
 * req; returns its length, or -1. */
static int trig_open(struct g *g, char *req)
{
	const struct opts *o = &g->o;
	char b64[4 * (MAX_SIZE / 3 + 1) + 1], auth[600] = "", route[600] = "";
	char body[1400];
	int fd, nb, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (const struct sockaddr *)&o->tdst, sizeof o->tdst) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	base64(g->payload, o->size, b64);
	if (o->token)
		snprintf(auth, sizeof auth, "Authorization: Bearer %.500s\r\n", o->token);
	if (o->route)
		snprintf(route, sizeof route, ",\"path\":\"%.500s\"", o->route);
	nb = snprintf(body, sizeof body, "{\"data\":\"%s\",\"type\":\"%s\"%s}", b64,
	              o->binary ? "BINARY" : "TEXT", route);
	g->t = (struct trig){.kind = K_TRIG, .fd = fd};
	return snprintf(req, REQ_MAX,
	                "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
	                "%sContent-Length: %d\r\nConnection: close\r\n\r\n%s",
	                o->tpath, o->trigger, auth, nb, body);
}

/* The response so far: done once the head and Content-Length body are in,
 * or at EOF (a response without Content-Length ends there). */
static void trig_readable(struct g *g)
{
	struct trig *t = &g->t;
	ssize_t r = read(t->fd, t->buf + t->len, RESP_MAX - t->len);
	char *eoh, *cl;

	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r > 0)
		t->len += (size_t)r;
	t->buf[t->len] = '\0';
	eoh = strstr(t->buf, "\r\n\r\n");
	if (eoh) {
		*eoh = '\0'; /* the head alone for the searches below */
		cl = strcasestr(t->buf, "\r\ncontent-length:");
		if (sscanf(t->buf, "HTTP/1.%*d %d", &t->status) != 1)
			t->status = 0;
		*eoh = '\r';
		t->reply = eoh + 4;
		if (cl && (size_t)(t->buf + t->len - t->reply) >= strtoul(cl + 17, NULL, 10))
			t->done = true;
	}
	if (r <= 0 || t->len == RESP_MAX)
		t->done = true;
	if (t->done) {
		epoll_ctl(g->ep, EPOLL_CTL_DEL, t->fd, NULL);
		close(t->fd);
		t->fd = -1;
	}
}

/* ---- the loop ---------------------------------------------------------------- */

static void poll_once(struct g *g, int timeout_ms)
{
	struct epoll_event evs[MAX_EVENTS];
	int n;

	if (g->e.conns && timeout_ms > 1)
		timeout_ms = 1; /* the probes' next messages */
	n = epoll_wait(g->ep, evs, MAX_EVENTS, timeout_ms);

	for (int i = 0; i < n; i++) {
		int *kind = evs[i].data.ptr;

		if (*kind == K_TRIG)
			trig_readable(g);
		else if (*kind == K_ECHO)
			bcecho_on_event(&g->e, evs[i].data.ptr, evs[i].events);
		else if (*kind >= K_WS && *kind < K_WS + (int)g->o.ntargets)
			wsc_on_event(&g->ws[*kind - K_WS], evs[i].data.ptr, evs[i].events);
	}
	if (g->e.conns)
		bcecho_tick(&g->e, now_ns());
}

/* Broadcast k: the request, then the loop until every open connection has
 * the message and the response is in, or --timeout. */
static void broadcast(struct g *g, unsigned k)
{
	struct shot *s = &g->shots[k - 1];
	char req[REQ_MAX];
	int len;
	uint64_t deadline, now;
	long long c0, c1, k0, k1, x0[MAX_CPU_PIDS];

	make_payload(g, k);
	len = trig_open(g, req);
	if (len < 0 || len >= REQ_MAX)
		bench_die("cannot connect to --trigger");
	/* the probe's connections get the broadcast too */
	s->expected = ws_open(g) + g->e.pool.open;
	g->got = 0;
	g->cur = k;
	g->e.bcast = g->payload;
	g->e.bcast_len = g->o.size;
	g->e.bcast_got = 0;
	c0 = proc_cpu_ns(g->o.server_pid);
	k0 = proc_cpu_ticks(g->o.server_pid);
	for (unsigned i = 0; i < g->o.ncpu; i++)
		x0[i] = proc_cpu_ns(g->o.cpu[i].pid);
	g->t0 = g->last = g->e.bcast_last = now_ns();
	if (write(g->t.fd, req, (size_t)len) != len)
		bench_die("cannot write the trigger request");
	bench_ep_set(g->ep, g->t.fd, &g->t, EPOLLIN, true);
	deadline = g->t0 + (uint64_t)(g->o.timeout * 1e9);
	while (!got_term) {
		bool all = g->got + g->e.bcast_got >= s->expected;
		uint64_t last = g->last > g->e.bcast_last ? g->last : g->e.bcast_last;

		if (all && !s->last_ns)
			s->last_ns = last - g->t0;
		if (g->t.done && !s->resp_ns)
			s->resp_ns = now_ns() - g->t0;
		if (all && g->t.done)
			break;
		if (g->t.done && g->t.status != 200)
			break; /* refused: nothing is coming */
		now = now_ns();
		if (now >= deadline)
			break;
		poll_once(g, (int)((deadline - now) / 1000000 + 1));
	}
	c1 = proc_cpu_ns(g->o.server_pid);
	k1 = proc_cpu_ticks(g->o.server_pid);
	s->srv_ns = c0 >= 0 && c1 >= 0 ? c1 - c0 : -1;
	s->srv_ticks = k0 >= 0 && k1 >= 0 ? k1 - k0 : -1;
	for (unsigned i = 0; i < g->o.ncpu; i++) {
		struct cpu_pid *x = &g->o.cpu[i];
		long long x1 = proc_cpu_ns(x->pid);

		x->ok = x->ok && x0[i] >= 0 && x1 >= 0;
		x->ns += x1 - x0[i];
	}
	s->got = g->got + (unsigned)g->e.bcast_got;
	g->e.bcast = NULL;
	if (s->got < s->expected) {
		g->lost += s->expected - s->got;
		/* the latest that did arrive */
		s->last_ns = (g->last > g->e.bcast_last ? g->last : g->e.bcast_last) - g->t0;
		fprintf(stderr, "bcastload: broadcast %u: %u of %u clients got it\n", k, s->got,
		        s->expected);
	}
	if (!g->t.done) {
		epoll_ctl(g->ep, EPOLL_CTL_DEL, g->t.fd, NULL);
		close(g->t.fd);
		g->t.fd = -1;
	}
	if (g->t.status != 200) {
		if (!g->trigger_err)
			fprintf(stderr, "bcastload: trigger answered %.300s\n",
			        g->t.len ? g->t.buf : "(nothing)");
		g->trigger_err++;
	} else {
		s->delivered = json_num(g->t.reply, "delivered");
		s->skipped = json_num(g->t.reply, "skipped");
		s->total = json_num(g->t.reply, "total");
		/* the server's own count must match what the clients saw */
		if (s->delivered != s->got || s->delivered + s->skipped != s->total) {
			if (!g->miscount)
				fprintf(stderr,
				        "bcastload: broadcast %u: server says %.200s, %u clients "
				        "got it\n",
				        k, g->t.reply, s->got);
			g->miscount++;
		}
	}
	g->cur = 0;
}

/* Reads for ms milliseconds (stray frames are counted). */
static void quiet(struct g *g, unsigned ms)
{
	uint64_t end = now_ns() + (uint64_t)ms * 1000000u;

	for (uint64_t now; !got_term && (now = now_ns()) < end;)
		poll_once(g, (int)((end - now) / 1000000 + 1));
}

/* ---- figures -------------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Median of the broadcasts' field at offset off (uint64_t), in ms. */
static double med_ms(const struct g *g, unsigned n, size_t off)
{
	uint64_t v[MAX_REPEAT];

	if (!n)
		return 0;
	for (unsigned i = 0; i < n; i++)
		memcpy(&v[i], (const char *)&g->shots[i] + off, sizeof v[i]);
	qsort(v, n, sizeof v[0], cmp_u64);
	return (n % 2 ? (double)v[n / 2] : ((double)v[n / 2 - 1] + (double)v[n / 2]) / 2) / 1e6;
}

static int report(struct g *g, unsigned done, double span_s, long long busy, double self,
                  double srv_span_s)
{
	const struct opts *o = &g->o;
	struct wsc_pool all = {0}; /* every target's counts */
	const struct wsc_pool *ws = &all;
	const struct bcecho *e = &g->e;
	unsigned long long got = 0, delivered = 0, skipped = 0, total = 0;
	long long srv_ns = 0, srv_ticks = 0;
	bool srv_ok = o->server_pid > 0, ticks_ok = o->server_pid > 0;
	double last_ms = med_ms(g, done, offsetof(struct shot, last_ns)), lo = 0, hi = 0;
	double busy_s, srv_s, other, tck = (double)sysconf(_SC_CLK_TCK);
	uint64_t errors;

	for (unsigned p = 0; p < o->ntargets; p++) {
		all.open += g->ws[p].open;
		all.connect_err += g->ws[p].connect_err;
		all.hs_err += g->ws[p].hs_err;
		all.closed += g->ws[p].closed;
		all.proto_err += g->ws[p].proto_err;
	}
	for (unsigned i = 0; i < done; i++) {
		const struct shot *s = &g->shots[i];
		double ms = (double)s->last_ns / 1e6;

		got += s->got, delivered += s->delivered, skipped += s->skipped, total += s->total;
		srv_ok = srv_ok && s->srv_ns >= 0;
		ticks_ok = ticks_ok && s->srv_ticks >= 0;
		srv_ns += s->srv_ns, srv_ticks += s->srv_ticks;
		lo = !i || ms < lo ? ms : lo;
		hi = ms > hi ? ms : hi;
	}
	srv_s = srv_ok ? (double)srv_ns / 1e9 : -1;
	/* machine busy over the whole broadcast phase (gaps too: ticks are
	 * 10 ms, too coarse for single broadcasts) less server and us */
	busy_s = (double)busy / tck;
	other = busy_s - self - (srv_span_s > 0 ? srv_span_s : 0);
	for (unsigned i = 0; i < o->ncpu; i++)
		other -= o->cpu[i].ok ? (double)o->cpu[i].span_ns / 1e9 : 0;
	errors = ws->connect_err + ws->hs_err + ws->closed + ws->proto_err + g->bad_payload +
	         g->stray + g->lost + g->trigger_err + g->miscount + e->pool.connect_err +
	         e->pool.hs_err + e->pool.closed + e->pool.proto_err + e->bad_payload +
	         e->write_err;
	printf("RESULT scenario=bcast conns=%u open=%u repeat=%u size=%u opcode=%s last_ms=%.2f "
	       "last_min_ms=%.2f last_max_ms=%.2f msgs_per_s=%.0f resp_ms=%.2f p50_ms=%.2f "
	       "p99_ms=%.2f received=%llu delivered=%llu skipped=%llu total=%llu "
	       "server_cpu_ms=%.2f server_busy_us_per_msg=%.3f server_ticks_us_per_msg=%.3f "
	       "server_cpu_pct=%.1f loadgen_cpu_pct=%.1f other_cpu_pct=%.1f errors=%llu "
	       "connect_err=%llu hs_err=%llu closed=%llu proto_err=%llu bad_payload=%llu "
	       "stray=%llu lost=%llu trigger_err=%llu miscount=%llu echo_conns=%u echo_open=%u "
	       "echo_n=%llu echo_p50_us=%.1f echo_p99_us=%.1f echo_max_us=%.1f echo_between_n=%llu "
	       "echo_between_p50_us=%.1f echo_between_p99_us=%.1f echo_err=%llu",
	       o->conns, ws->open, done, o->size, o->binary ? "binary" : "text", last_ms, lo, hi,
	       last_ms > 0 ? (double)(ws->open + e->pool.open) / (last_ms / 1e3) : 0,
	       med_ms(g, done, offsetof(struct shot, resp_ns)), hist_us(&g->h, 0.5) / 1e3,
	       hist_us(&g->h, 0.99) / 1e3, got, delivered, skipped, total,
	       srv_ok && done ? srv_s * 1e3 / done : -1.0,
	       srv_ok && got ? srv_s * 1e6 / (double)got : -1.0,
	       ticks_ok && got ? (double)srv_ticks / tck * 1e6 / (double)got : -1.0,
	       srv_ok && last_ms > 0 ? 100.0 * srv_s / (last_ms / 1e3 * done) : -1.0,
	       span_s > 0 ? 100.0 * self / span_s : 0,
	       span_s > 0 ? 100.0 * (other > 0 ? other : 0) / span_s : 0,
	       (unsigned long long)errors, (unsigned long long)ws->connect_err,
	       (unsigned long long)ws->hs_err, (unsigned long long)ws->closed,
	       (unsigned long long)ws->proto_err, (unsigned long long)g->bad_payload,
	       (unsigned long long)g->stray, (unsigned long long)g->lost,
	       (unsigned long long)g->trigger_err, (unsigned long long)g->miscount, e->conns,
	       e->pool.open, (unsigned long long)e->during.n, hist_us(&e->during, 0.5),
	       hist_us(&e->during, 0.99), (double)e->during.max / 1e3,
	       (unsigned long long)e->between.n, hist_us(&e->between, 0.5),
	       hist_us(&e->between, 0.99),
	       (unsigned long long)(e->pool.connect_err + e->pool.hs_err + e->pool.closed +
	                            e->pool.proto_err + e->bad_payload + e->write_err));
	/* cluster mode only, so a single target's line stays as it was */
	if (o->ntargets > 1) {
		printf(" targets=%u open_by_target=", o->ntargets);
		for (unsigned p = 0; p < o->ntargets; p++)
			printf("%s%u", p ? "," : "", g->ws[p].open);
	}
	for (unsigned i = 0; i < o->ncpu; i++) {
		const struct cpu_pid *x = &o->cpu[i];

		printf(" %s_cpu_ms=%.2f %s_cpu_pct=%.1f", x->name,
		       x->ok && done ? (double)x->ns / 1e6 / done : -1.0, x->name,
		       x->ok && last_ms > 0 ? 100.0 * (double)x->ns / 1e9 / (last_ms / 1e3 * done)
		                            : -1.0);
	}
	printf("\n");
	return errors ? 1 : 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: bcastload --target IPv4:PORT [--target IPv4:PORT ...]\n"
	                "  --trigger IPv4:PORT [--conns 1000] [--cpu-pid NAME=PID ...]\n"
	                "  [--repeat 10] [--size 32] [--binary] [--path /] [--gap-ms 200]\n"
	                "  [--timeout 10] [--server-pid PID] [--src-addrs K] [--max-pending 512]\n"
	                "  [--ramp-timeout 60] [--trigger-path /wsgw/v1/broadcast] [--token T]\n"
	                "  [--route SPEC-PATH] [--echo-conns 0]\n"
	                "  [--echo-interval-us 1000]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static struct g G;
	struct g *g = &G;
	struct opts *o = &g->o;
	struct sigaction sa = {.sa_handler = on_term};
	uint64_t ramp_deadline, span0;
	long long busy0, srv0;
	double self0;
	unsigned k;

	o->path = "/";
	o->tpath = "/wsgw/v1/broadcast";
	o->conns = 1000;
	o->repeat = 10;
	o->size = 32;
	o->src_addrs = 0;
	o->max_pending = 512;
	o->gap_ms = 200;
	o->echo_us = 1000;
	o->timeout = 10;
	o->ramp_timeout = 60;
	for (int i = 1; i < argc; i++) {
		const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(f, "--binary")) {
			o->binary = true;
			continue;
		}
		if (!v)
			usage();
		i++;
		if (!strcmp(f, "--target")) {
			if (o->ntargets == MAX_TARGETS)
				bench_die("at most 4 --target");
			o->target[o->ntargets++] = v;
		} else if (!strcmp(f, "--cpu-pid")) {
			const char *eq = strchr(v, '=');
			struct cpu_pid *x = &o->cpu[o->ncpu];

			if (o->ncpu == MAX_CPU_PIDS || !eq || eq == v || eq - v > 16 ||
			    atoi(eq + 1) <= 0)
				bench_die("bad --cpu-pid (NAME=PID, at most 4)");
			x->name = strndup(v, (size_t)(eq - v));
			x->pid = atoi(eq + 1);
			x->ok = true;
			o->ncpu++;
		} else if (!strcmp(f, "--trigger"))
			o->trigger = v;
		else if (!strcmp(f, "--path"))
			o->path = v;
		else if (!strcmp(f, "--trigger-path"))
			o->tpath = v;
		else if (!strcmp(f, "--token"))
			o->token = v;
		else if (!strcmp(f, "--route"))
			o->route = v;
		else if (!strcmp(f, "--conns"))
			o->conns = (unsigned)atoi(v);
		else if (!strcmp(f, "--echo-conns"))
			o->echo_conns = (unsigned)atoi(v);
		else if (!strcmp(f, "--echo-interval-us"))
			o->echo_us = (unsigned)atoi(v);
		else if (!strcmp(f, "--repeat"))
			o->repeat = (unsigned)atoi(v);
		else if (!strcmp(f, "--size"))
			o->size = (unsigned)atoi(v);
		else if (!strcmp(f, "--gap-ms"))
			o->gap_ms = (unsigned)atoi(v);
		else if (!strcmp(f, "--timeout"))
			o->timeout = atof(v);
		else if (!strcmp(f, "--server-pid"))
			o->server_pid = atoi(v);
		else if (!strcmp(f, "--src-addrs"))
			o->src_addrs = (unsigned)atoi(v);
		else if (!strcmp(f, "--max-pending"))
			o->max_pending = (unsigned)atoi(v);
		else if (!strcmp(f, "--ramp-timeout"))
			o->ramp_timeout = atof(v);
		else
			usage();
	}
	if (!o->conns || !o->repeat || o->repeat > MAX_REPEAT || o->size < 16 ||
	    o->size > MAX_SIZE || o->timeout <= 0 || !o->max_pending)
		bench_die("bad flags (--repeat 1..1000, --size 16..125)");
	if (!o->ntargets)
		o->target[o->ntargets++] = "127.0.0.1:8080";
	for (unsigned p = 0; p < o->ntargets; p++)
		if (bench_parse_addr(o->target[p], &o->dst[p], 1) < 0)
			bench_die("bad --target (IPv4:PORT)");
	if (!o->trigger || bench_parse_addr(o->trigger, &o->tdst, 1) < 0)
		bench_die("bad or missing --trigger (IPv4:PORT)");
	/* ports: one source address per 5000 connections, as loadgen does */
	if (!o->src_addrs)
		o->src_addrs = 1 + o->conns / 5000;
	if (raise_fd_limit() < o->conns + o->echo_conns + 16ull)
		bench_die("open files limit below --conns (ulimit -n)");
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	g->ep = epoll_create1(EPOLL_CLOEXEC);
	g->rbuf = malloc(RBUF_SIZE);
	if (g->ep < 0 || !g->rbuf)
		bench_die("out of memory");
	/* connection i is target (i mod n)'s connection i / n */
	for (unsigned p = 0; p < o->ntargets; p++) {
		struct wsc_pool *ws = &g->ws[p];
		unsigned n = (o->conns + o->ntargets - 1 - p) / o->ntargets;

		*ws = (struct wsc_pool){.ep = g->ep,
		                        .dst = &o->dst[p],
		                        .host = o->target[p],
		                        .path = o->path,
		                        .src_addrs = o->src_addrs,
		                        .rbuf = g->rbuf,
		                        .rbuf_size = RBUF_SIZE,
		                        .on_message = on_message,
		                        .arg = g};
		ws->c = calloc(n ? n : 1, sizeof *ws->c);
		ws->open_idx = calloc(n ? n : 1, sizeof *ws->open_idx);
		if (!ws->c || !ws->open_idx)
			bench_die("out of memory");
		for (unsigned i = 0; i < n; i++)
			ws->c[i].kind = K_WS + (int)p;
	}
	g->e.pool = (struct wsc_pool){.ep = g->ep,
	                              .dst = &o->dst[0],
	                              .host = o->target[0],
	                              .path = o->path,
	                              .rbuf = g->rbuf,
	                              .rbuf_size = RBUF_SIZE};
	if (bcecho_init(&g->e, o->echo_conns, K_ECHO, o->echo_us) < 0)
		bench_die("out of memory");

	ramp_deadline = now_ns() + (uint64_t)(o->ramp_timeout * 1e9);
	while (!got_term && (g->next < o->conns || ws_pending(g) || g->e.next < o->echo_conns ||
	                     g->e.pool.pending)) {
		while (g->next < o->conns && ws_pending(g) < o->max_pending) {
			wsc_start(&g->ws[g->next % o->ntargets], g->next / o->ntargets);
			g->next++;
		}
		if (g->next == o->conns)
			bcecho_start(&g->e, o->max_pending);
		poll_once(g, 50);
		if (now_ns() > ramp_deadline) {
			fprintf(stderr, "bcastload: ramp timeout: %u open, %u pending\n",
			        ws_open(g), ws_pending(g));
			break;
		}
	}
	if (!ws_open(g))
		bench_die("no connection opened");
	fprintf(stderr, "bcastload: %u of %u connections open, %u of %u echo probes\n", ws_open(g),
	        o->conns, g->e.pool.open, o->echo_conns);
	quiet(g, 500); /* the server finishes what the last upgrades left */

	span0 = now_ns();
	busy0 = machine_busy_ticks();
	self0 = self_cpu_s();
	srv0 = proc_cpu_ns(o->server_pid);
	for (unsigned i = 0; i < o->ncpu; i++)
		o->cpu[i].span_ns = proc_cpu_ns(o->cpu[i].pid);
	for (k = 1; k <= o->repeat && !got_term; k++) {
		broadcast(g, k);
		if (k < o->repeat)
			quiet(g, o->gap_ms);
	}
	for (unsigned i = 0; i < o->ncpu; i++) {
		struct cpu_pid *x = &o->cpu[i];
		long long x1 = proc_cpu_ns(x->pid);

		x->ok = x->ok && x->span_ns >= 0 && x1 >= 0;
		x->span_ns = x1 - x->span_ns;
	}
	return report(g, k - 1, (double)(now_ns() - span0) / 1e9, machine_busy_ticks() - busy0,
	              self_cpu_s() - self0,
	              srv0 >= 0 ? (double)(proc_cpu_ns(o->server_pid) - srv0) / 1e9 : 0);
}
