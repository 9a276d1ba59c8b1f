/* msgload.c — message round trips through an integration, for
 * bench/run-api.sh: --conns WebSocket connections (real RFC 6455 upgrade)
 * each keep --inflight text messages outstanding; each reply releases the
 * next message. One thread, one level-triggered epoll set.
 *
 * Each message is JSON, {"t":"<16 hex digits>","p":"xxx…"} padded to
 * --size bytes, where t is the CLOCK_MONOTONIC ns at which it was written.
 * With a backend that echoes the body (bench/fastbackend) the reply is the
 * same bytes, so round trip = receipt time − t; a reply that does not
 * carry a timestamp in the past counts as bad_payload.
 *
 *   msgload --target IPv4:PORT --path /bench --conns 1000 --inflight 1
 *           --size 32 --duration 5 --warmup 1 --server-pid PID
 *           --backend-pid PID
 *
 * After --warmup seconds it measures for --duration seconds and prints
 *   RESULT scenario=msg conns=… msgs_per_s=… p50_us=… p99_us=…
 *          server_busy_us_per_msg=… backend_cpu_pct=… loadgen_cpu_pct=…
 * server_* from /proc/PID/stat (utime + stime) at the window edges.
 *
 * The WebSocket side (connect, upgrade, server frames, pings) is wsc.c's;
 * this file: flags, the messages and their timestamps, the loop, RESULT.
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
#include <sys/resource.h>
#include <unistd.h>

#include "benchlib.h"
#include "wsc.h"

#define RBUF_SIZE (256 * 1024)
#define MAX_EVENTS 1024
#define MAX_SIZE 4096
#define MAX_INFLIGHT 256
#define TS_OFF 6 /* {"t":" */
#define TS_LEN 16

struct opts {
	struct sockaddr_in dst;
	const char *target, *path;
	unsigned conns, inflight, size, src_addrs, max_pending;
	double duration, warmup, ramp_timeout;
	int server_pid, backend_pid;
};

struct g {
	struct opts o;
	int ep;
	uint8_t *rbuf, *obuf;
	uint8_t mask[4];
	struct wsc_pool ws; /* the connections (wsc.c) and their error counts */
	unsigned next;
	unsigned due;     /* messages to send on the connection being handled */
	uint64_t due_now; /* when what released them was read */
	uint64_t win_start, win_end;
	bool measuring;
	long long cpu0, cpu1, bcpu0, bcpu1, busy0, busy1;
	double self0, self1;
	uint64_t msgs, bad_payload, write_err;
	struct hist h;
};

const char bench_prog[] = "msgload";

/* ---- messages ------------------------------------------------------------ */

static void put_hex16(uint8_t *o, uint64_t v)
{
	for (int i = TS_LEN - 1; i >= 0; i--, v >>= 4)
		o[i] = (uint8_t) "0123456789abcdef"[v & 15];
}

/* Writes k messages stamped now. Returns -1 if the socket failed. */
static int send_msgs(struct g *g, struct wsc *c, unsigned k, uint64_t now)
{
	size_t hl = g->o.size < 126 ? 6 : 8, period = hl + g->o.size, len = period * k, off = 0;
	uint8_t *f = g->obuf;
	uint8_t stamp[TS_LEN];

	put_hex16(stamp, now);
	for (unsigned i = 0; i < k; i++, f += period) {
		/* the template already holds header, mask and masked padding */
		memcpy(f, g->obuf + (size_t)MAX_INFLIGHT * period, period);
		for (unsigned j = 0; j < TS_LEN; j++)
			f[hl + TS_OFF + j] = stamp[j] ^ g->mask[(TS_OFF + j) % 4];
	}
	while (off < len) {
		ssize_t w = write(c->fd, g->obuf + off, len - off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			/* EAGAIN: kernel buffers full with ≤ 256 small messages
			 * in flight means something is badly wrong; count it */
			g->write_err++;
			return -1;
		}
		off += (size_t)w;
	}
	return 0;
}

static void build_template(struct g *g)
{
	size_t hl = g->o.size < 126 ? 6 : 8, period = hl + g->o.size;
	uint8_t *t, plain[MAX_SIZE];
	int n;

	g->obuf = malloc(period * (MAX_INFLIGHT + 1));
	if (!g->obuf)
		bench_die("out of memory");
	t = g->obuf + (size_t)MAX_INFLIGHT * period;
	n = snprintf((char *)plain, sizeof plain, "{\"t\":\"%016x\",\"p\":\"", 0);
	memset(plain + n, 'x', g->o.size - (unsigned)n - 2);
	plain[g->o.size - 2] = '"';
	plain[g->o.size - 1] = '}';
	g->mask[0] = 0x5a, g->mask[1] = 0x13, g->mask[2] = 0xc4, g->mask[3] = 0x7e;
	t[0] = 0x81; /* FIN + text */
	if (hl == 6) {
		t[1] = (uint8_t)(0x80 | g->o.size);
	} else {
		t[1] = 0x80 | 126;
		t[2] = (uint8_t)(g->o.size >> 8);
		t[3] = (uint8_t)g->o.size;
	}
	memcpy(t + hl - 4, g->mask, 4);
	for (unsigned i = 0; i < g->o.size; i++)
		t[hl + i] = plain[i] ^ g->mask[i % 4];
}

/* ---- what the connections report (wsc.c) ---------------------------------- */

/* A reply: its round trip from the timestamp it carries; each reply, good
 * or bad, releases the next message once the whole read is parsed. */
static void on_reply(void *arg, struct wsc *c, uint64_t len, uint64_t now)
{
	struct g *g = arg;
	bool ok = false;
	uint64_t t = 0;

	g->due++;
	g->due_now = now;
	if (c->msg_op == 1 && len == g->o.size && c->pl_len >= TS_OFF + TS_LEN &&
	    !memcmp(c->pl, "{\"t\":\"", TS_OFF))
		t = hex16(c->pl + TS_OFF, &ok);
	if (!ok || t > now) {
		g->bad_payload++;
		return;
	}
	if (g->measuring && now >= g->win_start) {
		g->msgs++;
		hist_add(&g->h, now - t);
	}
}

/* Upgraded: the first --inflight messages (replies before them release
 * nothing). */
static void on_open(void *arg, struct wsc *c, uint64_t now)
{
	struct g *g = arg;

	(void)c;
	g->due = g->o.inflight;
	g->due_now = now;
}

/* Hands c's events to wsc.c, then sends what they released in one write. */
static void on_event(struct g *g, struct wsc *c, uint32_t ev)
{
	g->due = 0;
	wsc_on_event(&g->ws, c, ev);
	if (g->due && c->state == WSC_OPEN && send_msgs(g, c, g->due, g->due_now) < 0)
		wsc_close(&g->ws, c);
}

static void usage(void)
{
	fprintf(stderr, "usage: msgload --target IPv4:PORT [--path /bench] [--conns 1000]\n"
	                "  [--inflight 1] [--size 32] [--duration 5] [--warmup 1]\n"
	                "  [--server-pid PID] [--backend-pid PID] [--src-addrs K]\n"
	                "  [--max-pending 256] [--ramp-timeout 60]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static struct g G;
	struct g *g = &G;
	struct opts *o = &g->o;
	struct sigaction sa = {.sa_handler = on_term};
	struct epoll_event evs[MAX_EVENTS];
	uint64_t t0, ramp_deadline;

	o->target = "127.0.0.1:8080";
	o->path = "/bench";
	o->conns = 1000;
	o->inflight = 1;
	o->size = 32;
	o->src_addrs = 1;
	o->max_pending = 256;
	o->duration = 5;
	o->warmup = 1;
	o->ramp_timeout = 60;
	for (int i = 1; i < argc; i++) {
		const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			usage();
		i++;
		if (!strcmp(f, "--target"))
			o->target = v;
		else if (!strcmp(f, "--path"))
			o->path = v;
		else if (!strcmp(f, "--conns"))
			o->conns = (unsigned)atoi(v);
		else if (!strcmp(f, "--inflight"))
			o->inflight = (unsigned)atoi(v);
		else if (!strcmp(f, "--size"))
			o->size = (unsigned)atoi(v);
		else if (!strcmp(f, "--duration"))
			o->duration = atof(v);
		else if (!strcmp(f, "--warmup"))
			o->warmup = atof(v);
		else if (!strcmp(f, "--server-pid"))
			o->server_pid = atoi(v);
		else if (!strcmp(f, "--backend-pid"))
			o->backend_pid = atoi(v);
		else if (!strcmp(f, "--src-addrs"))
			o->src_addrs = (unsigned)atoi(v);
		else if (!strcmp(f, "--max-pending"))
			o->max_pending = (unsigned)atoi(v);
		else if (!strcmp(f, "--ramp-timeout"))
			o->ramp_timeout = atof(v);
		else
			usage();
	}
	if (!o->conns || !o->inflight || o->inflight > MAX_INFLIGHT || o->size < 32 ||
	    o->size > MAX_SIZE || o->duration <= 0 || !o->max_pending)
		bench_die("bad flags (--inflight 1..256, --size 32..4096)");
	if (bench_parse_addr(o->target, &o->dst, 1) < 0)
		bench_die("bad --target (IPv4:PORT)");
	raise_fd_limit();
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	g->ep = epoll_create1(EPOLL_CLOEXEC);
	g->rbuf = malloc(RBUF_SIZE);
	g->ws = (struct wsc_pool){.ep = g->ep,
	                          .dst = &o->dst,
	                          .host = o->target,
	                          .path = o->path,
	                          .src_addrs = o->src_addrs,
	                          .rbuf = g->rbuf,
	                          .rbuf_size = RBUF_SIZE,
	                          .on_message = on_reply,
	                          .on_open = on_open,
	                          .arg = g};
	g->ws.c = calloc(o->conns, sizeof *g->ws.c);
	g->ws.open_idx = calloc(o->conns, sizeof *g->ws.open_idx);
	if (g->ep < 0 || !g->rbuf || !g->ws.c || !g->ws.open_idx)
		bench_die("out of memory");
	build_template(g);

	/* ramp: connections start their traffic as soon as they are open */
	ramp_deadline = now_ns() + (uint64_t)(o->ramp_timeout * 1e9);
	while (!got_term && (g->next < o->conns || g->ws.pending)) {
		int n;

		while (g->next < o->conns && g->ws.pending < o->max_pending)
			wsc_start(&g->ws, g->next++);
		n = epoll_wait(g->ep, evs, MAX_EVENTS, 50);
		for (int i = 0; i < n; i++)
			on_event(g, evs[i].data.ptr, evs[i].events);
		if (now_ns() > ramp_deadline) {
			fprintf(stderr, "msgload: ramp timeout: %u open, %u pending\n", g->ws.open,
			        g->ws.pending);
			break;
		}
	}
	if (!g->ws.open)
		bench_die("no connection opened");
	t0 = now_ns();
	g->win_start = t0 + (uint64_t)(o->warmup * 1e9);
	g->win_end = g->win_start + (uint64_t)(o->duration * 1e9);
	while (!got_term) {
		uint64_t now = now_ns();
		int n;

		if (!g->measuring && now >= g->win_start) {
			g->measuring = true;
			g->cpu0 = proc_cpu_ticks(o->server_pid);
			g->bcpu0 = proc_cpu_ticks(o->backend_pid);
			g->busy0 = machine_busy_ticks();
			g->self0 = self_cpu_s();
		}
		if (now >= g->win_end)
			break;
		n = epoll_wait(g->ep, evs, MAX_EVENTS, 10);
		for (int i = 0; i < n; i++)
			on_event(g, evs[i].data.ptr, evs[i].events);
	}
	g->cpu1 = proc_cpu_ticks(o->server_pid);
	g->bcpu1 = proc_cpu_ticks(o->backend_pid);
	g->busy1 = machine_busy_ticks();
	g->self1 = self_cpu_s();
	{
		long tck = sysconf(_SC_CLK_TCK);
		double win = (double)(g->win_end - g->win_start) / 1e9;
		double srv =
		    g->cpu0 >= 0 && g->cpu1 >= 0 ? (double)(g->cpu1 - g->cpu0) / (double)tck : -1;
		double be = g->bcpu0 >= 0 && g->bcpu1 >= 0
		                ? (double)(g->bcpu1 - g->bcpu0) / (double)tck
		                : -1;
		double busy = (double)(g->busy1 - g->busy0) / (double)tck;
		double self = g->self1 - g->self0;
		double other = busy - self - (srv > 0 ? srv : 0) - (be > 0 ? be : 0);
		const struct wsc_pool *ws = &g->ws;
		uint64_t errors = ws->connect_err + ws->hs_err + ws->closed + ws->proto_err +
		                  g->bad_payload + g->write_err;

		printf("RESULT scenario=msg conns=%u open=%u inflight=%u size=%u duration_s=%.3f "
		       "msgs=%llu msgs_per_s=%.0f p50_us=%.1f p90_us=%.1f p99_us=%.1f "
		       "p999_us=%.1f max_us=%.1f server_cpu_s=%.2f server_cpu_pct=%.1f "
		       "server_busy_us_per_msg=%.2f backend_cpu_pct=%.1f loadgen_cpu_pct=%.1f "
		       "other_cpu_pct=%.1f errors=%llu connect_err=%llu hs_err=%llu closed=%llu "
		       "proto_err=%llu bad_payload=%llu write_err=%llu\n",
		       o->conns, ws->open, o->inflight, o->size, win, (unsigned long long)g->msgs,
		       (double)g->msgs / win, hist_us(&g->h, 0.5), hist_us(&g->h, 0.9),
		       hist_us(&g->h, 0.99), hist_us(&g->h, 0.999), (double)g->h.max / 1000.0, srv,
		       srv >= 0 ? 100.0 * srv / win : -1.0,
		       srv >= 0 && g->msgs ? srv * 1e6 / (double)g->msgs : -1.0,
		       be >= 0 ? 100.0 * be / win : -1.0, 100.0 * self / win,
		       100.0 * (other > 0 ? other : 0) / win, (unsigned long long)errors,
		       (unsigned long long)ws->connect_err, (unsigned long long)ws->hs_err,
		       (unsigned long long)ws->closed, (unsigned long long)ws->proto_err,
		       (unsigned long long)g->bad_payload, (unsigned long long)g->write_err);
		return errors ? 1 : 0;
	}
}
