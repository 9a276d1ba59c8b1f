/* sendlat.c — management-API load for bench/run-api.sh: WebSocket clients
 * on one side, a hand-written gRPC-over-h2c client on the other, one
 * thread, one level-triggered epoll set.
 *
 * Modes (first argument):
 *   send   open --conns WebSocket connections (real RFC 6455 upgrade) and
 *          collect their ids from X-Yc-Apigateway-Websocket-Connection-Id;
 *          then, over --h2-conns h2c connections, issue ConnectionService/
 *          Send calls at --rate per second (open loop, round-robin over the
 *          connections). Each Send carries its send time (16 hex digits of
 *          CLOCK_MONOTONIC ns, padded to --size bytes) as TEXT; the
 *          WebSocket side records receipt time − send time. Reports sends/s
 *          achieved, delivery latency percentiles, gRPC response latency,
 *          grpc-status counts.
 *   hold   open --conns WebSocket connections, print "id ID" per connection
 *          and "ready ...", then read and discard (answering pings) until
 *          SIGTERM or --hold seconds; the RESULT line counts the messages.
 *   call   one gRPC call (--method Get|Send|Disconnect --id ID) over h2c;
 *          prints grpc-status: checks what h2load is fed.
 *   body   write the gRPC request body (5-byte prefix + protobuf) for
 *          --method and --id to stdout, for `h2load -d FILE`.
 *
 * This file holds the flags, the modes, the loop and the figures: the
 * rate, the measurement window, what counts as delivered, ok or an error.
 * The protocols are elsewhere: wsc.c (WebSocket clients), h2c.c (HTTP/2
 * client: framing, flow control, streams), hpack.c (header compression),
 * grpcreq.c (the request bytes). A call is "ok" when its stream carried a
 * response message and trailers with grpc-status 0; a send that a stream
 * limit or the send window holds back waits and is counted in `stalls`.
 *
 * Every run of send/hold ends with one line on stdout:
 *   RESULT scenario=send rate=... sends_per_s=... p50_us=... ...
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "benchlib.h"
#include "grpcreq.h"
#include "h2c.h"
#include "hpack.h"
#include "wsc.h"

#define RBUF_SIZE (256 * 1024)
#define MAX_EVENTS 1024
#define TS_LEN 16

enum mode { M_SEND, M_HOLD, M_CALL, M_BODY };
enum kind { K_WS = 1, K_H2 }; /* first member of struct wsc and struct h2c */
enum phase { PH_RAMP, PH_WARMUP, PH_MEASURE, PH_DRAIN, PH_HOLD, PH_DONE };

struct opts {
	enum mode mode;
	struct sockaddr_in ws, mgmt;
	const char *ws_str, *mgmt_str, *path, *method, *id, *token;
	unsigned conns, src_addrs, max_pending, h2conns, size, max_streams;
	double rate, duration, warmup, hold, drain, ramp_timeout;
	double slow_us; /* send: log deliveries slower than this (0: off) */
	int server_pid;
};

struct g {
	struct opts o;
	int ep;
	enum phase phase;
	uint8_t *rbuf;
	struct wsc_pool ws;
	unsigned ws_next, ws_rr;
	struct h2c *h2;
	unsigned h2_rr;
	uint64_t t0, win_start, win_end, drain_end, sent;
	long long cpu0, cpu1, busy0, busy1;
	double self0, self1;
	struct {
		uint64_t win_sent, win_delivered, win_ok;
		uint64_t ok, grpc_err, rst, no_trailers, stalls;
		uint64_t delivered, msgs, bytes, bad_payload;
		uint64_t codes[17];
	} c;
	int last_status;
	unsigned slow_logged;
	char first_err[256];
	struct hist lat, resp;
	uint8_t hblock_send[512], hblock_get[512], hblock_disc[512];
	size_t hblock_send_len, hblock_get_len, hblock_disc_len;
};

const char bench_prog[] = "sendlat";

/* ---- what the connections report ------------------------------------------ */

/* A complete message on a WebSocket connection (wsc.c); in send mode, the
 * delivery of a Send whose send time it carries. */
static void on_message(void *arg, struct wsc *c, uint64_t len, uint64_t now)
{
	struct g *g = arg;

	g->c.msgs++;
	g->c.bytes += len;
	if (g->o.mode == M_SEND) {
		bool ok = false;
		uint64_t t = 0;

		if (c->msg_op == 1 && c->pl_len >= TS_LEN)
			t = hex16(c->pl, &ok);

		if (!ok || t > now) {
			g->c.bad_payload++;
			return;
		}
		g->c.delivered++;
		if (t >= g->win_start && t < g->win_end) {
			g->c.win_delivered++;
			hist_add(&g->lat, now - t);
			if (g->o.slow_us > 0 && (double)(now - t) > g->o.slow_us * 1000 &&
			    g->slow_logged++ < 2000)
				fprintf(stderr, "slow sent_ms=%.3f lat_us=%.1f conn=%u\n",
				        (double)(t - g->t0) / 1e6, (double)(now - t) / 1e3,
				        (unsigned)(c - g->ws.c));
		}
	}
}

/* A call's stream ended (h2c.c): ok, or which kind of error. */
static void on_call_end(void *arg, const struct h2c_end *e, uint64_t now)
{
	struct g *g = arg;

	g->last_status = e->rst ? -3 : e->status;
	if (e->rst) {
		g->c.rst++;
	} else if (e->status == 0 && e->data) {
		g->c.ok++;
		if (e->t >= g->win_start && e->t < g->win_end) {
			g->c.win_ok++;
			hist_add(&g->resp, now - e->t);
		}
		return;
	} else if (e->status == H2C_NO_TRAILERS) {
		g->c.no_trailers++;
	} else {
		g->c.grpc_err++;
		g->c.codes[e->status >= 0 && e->status < 17 ? e->status : 0]++;
	}
	if (!g->first_err[0])
		snprintf(g->first_err, sizeof g->first_err, "stream %u: %s grpc-status %d: %s",
		         e->sid, e->rst ? "RST_STREAM" : "", e->status, e->msg ? e->msg : "");
}

/* ---- the loop ------------------------------------------------------------ */

static void dispatch(struct g *g, struct epoll_event *ev)
{
	int kind = *(int *)ev->data.ptr;

	if (kind == K_WS)
		wsc_on_event(&g->ws, ev->data.ptr, ev->events);
	else
		h2c_on_event(ev->data.ptr, ev->events, g->rbuf, RBUF_SIZE);
}

static void poll_once(struct g *g, uint64_t timeout_ns)
{
	struct epoll_event evs[MAX_EVENTS];
	struct timespec ts = {(time_t)(timeout_ns / 1000000000u), (long)(timeout_ns % 1000000000u)};
	int n = epoll_pwait2(g->ep, evs, MAX_EVENTS, &ts, NULL);

	for (int i = 0; i < n; i++)
		dispatch(g, &evs[i]);
}

/* Opens the WebSocket connections, at most max_pending at a time. */
static void ramp(struct g *g)
{
	uint64_t deadline = now_ns() + (uint64_t)(g->o.ramp_timeout * 1e9);

	while (!got_term) {
		while (g->ws_next < g->o.conns && g->ws.pending < g->o.max_pending)
			wsc_start(&g->ws, g->ws_next++);
		if (g->ws_next == g->o.conns && !g->ws.pending)
			break;
		if (now_ns() > deadline) {
			fprintf(stderr, "sendlat: ramp timeout: %u open, %u pending\n", g->ws.open,
			        g->ws.pending);
			break;
		}
		poll_once(g, 50000000u);
	}
}

static bool h2_all_ready(struct g *g)
{
	for (unsigned i = 0; i < g->o.h2conns; i++)
		if (!g->h2[i].ready && !g->h2[i].dead)
			return false;
	return true;
}

static void h2_connect_all(struct g *g)
{
	uint64_t deadline = now_ns() + 5000000000u;

	g->h2 = calloc(g->o.h2conns, sizeof *g->h2);
	if (!g->h2)
		bench_die("out of memory");
	for (unsigned i = 0; i < g->o.h2conns; i++) {
		g->h2[i].kind = K_H2;
		if (h2c_open(&g->h2[i], g->ep, &g->o.mgmt, g->o.max_streams, on_call_end, g) < 0)
			bench_die("cannot connect to the management port");
	}
	while (!got_term && !h2_all_ready(g) && now_ns() < deadline)
		poll_once(g, 10000000u);
	for (unsigned i = 0; i < g->o.h2conns; i++)
		if (!g->h2[i].ready)
			bench_die("h2c connection to the management port did not come up "
			          "(no SETTINGS)");
}

static void window_edge(struct g *g, bool start)
{
	if (start) {
		g->cpu0 = proc_cpu_ticks(g->o.server_pid);
		g->busy0 = machine_busy_ticks();
		g->self0 = self_cpu_s();
	} else {
		g->cpu1 = proc_cpu_ticks(g->o.server_pid);
		g->busy1 = machine_busy_ticks();
		g->self1 = self_cpu_s();
	}
}

static void flush_all(struct g *g)
{
	for (unsigned i = 0; i < g->o.h2conns; i++)
		if (!g->h2[i].dead && g->h2[i].out_len > g->h2[i].out_off)
			h2c_flush(&g->h2[i]);
}

/* Issues the sends due by now; returns how many. */
static unsigned issue(struct g *g, uint64_t now)
{
	uint64_t due = (uint64_t)((double)(now - g->t0) * g->o.rate / 1e9);
	unsigned done = 0, tries = 0;
	uint8_t data[4096], msg[4096 + 128];

	if (due > g->sent + 100000)
		due = g->sent + 100000;
	/* one timestamp per batch: the batch is one write() per connection */
	for (int i = TS_LEN - 1; i >= 0; i--)
		data[TS_LEN - 1 - i] = (uint8_t) "0123456789abcdef"[(now >> (4 * i)) & 15];
	memset(data + TS_LEN, 'x', g->o.size - TS_LEN);
	while (g->sent < due && g->ws.open) {
		struct wsc *c = &g->ws.c[g->ws.open_idx[g->ws_rr++ % g->ws.open]];
		size_t n = grpcreq_message(msg, c->id, data, g->o.size, true);
		struct h2c *h = &g->h2[g->h2_rr % g->o.h2conns];

		if (!h2c_call(h, g->hblock_send, g->hblock_send_len, msg, n, now)) {
			g->ws_rr--;
			if (++tries >= g->o.h2conns) {
				g->c.stalls++;
				break;
			}
			g->h2_rr++;
			continue;
		}
		tries = 0;
		g->h2_rr++;
		g->sent++;
		if (now >= g->win_start && now < g->win_end)
			g->c.win_sent++;
		done++;
	}
	return done;
}

static uint64_t in_flight(struct g *g)
{
	uint64_t a = 0;

	for (unsigned i = 0; i < g->o.h2conns; i++)
		a += g->h2[i].active;
	return a;
}

/* Prints the RESULT line of a send run; returns 1 if it counted errors. */
static int report_send(struct g *g)
{
	double win = (double)(g->win_end - g->win_start) / 1e9;
	long tck = sysconf(_SC_CLK_TCK);
	double srv_s =
	    g->cpu0 >= 0 && g->cpu1 >= 0 ? (double)(g->cpu1 - g->cpu0) / (double)tck : -1;
	double busy_s = (double)(g->busy1 - g->busy0) / (double)tck;
	double self = g->self1 - g->self0;
	double other = busy_s - self - (srv_s > 0 ? srv_s : 0);
	uint64_t lost = g->sent > g->c.delivered ? g->sent - g->c.delivered : 0;
	uint64_t rst = g->c.rst, hpack_err = 0, unknown_stream = 0, errors;

	for (unsigned i = 0; i < g->o.h2conns; i++) {
		rst += g->h2[i].lost_streams; /* open when their connection died */
		hpack_err += g->h2[i].hpack_err;
		unknown_stream += g->h2[i].unknown_stream;
	}
	errors = g->c.grpc_err + rst + g->c.no_trailers + hpack_err + unknown_stream + lost +
	         g->ws.closed + g->ws.proto_err + g->c.bad_payload + g->ws.connect_err +
	         g->ws.hs_err;
	printf("RESULT scenario=send rate=%.0f conns=%u open=%u h2conns=%u size=%u "
	       "duration_s=%.3f sent=%llu sends_per_s=%.0f ok=%llu delivered=%llu "
	       "delivered_per_s=%.0f p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f "
	       "max_us=%.1f resp_p50_us=%.1f resp_p99_us=%.1f server_cpu_s=%.2f "
	       "server_cpu_pct=%.1f server_busy_us_per_send=%.2f loadgen_cpu_pct=%.1f "
	       "other_cpu_pct=%.1f stalls=%llu errors=%llu grpc_err=%llu rst=%llu "
	       "no_trailers=%llu lost=%llu closed=%llu proto_err=%llu bad_payload=%llu "
	       "connect_err=%llu hs_err=%llu\n",
	       g->o.rate, g->o.conns, g->ws.open, g->o.h2conns, g->o.size, win,
	       (unsigned long long)g->c.win_sent, (double)g->c.win_sent / win,
	       (unsigned long long)g->c.win_ok, (unsigned long long)g->c.win_delivered,
	       (double)g->c.win_delivered / win, hist_us(&g->lat, 0.5), hist_us(&g->lat, 0.9),
	       hist_us(&g->lat, 0.99), hist_us(&g->lat, 0.999), (double)g->lat.max / 1000.0,
	       hist_us(&g->resp, 0.5), hist_us(&g->resp, 0.99), srv_s,
	       srv_s >= 0 ? 100.0 * srv_s / win : -1.0,
	       srv_s >= 0 && g->c.win_delivered ? srv_s * 1e6 / (double)g->c.win_delivered : -1.0,
	       100.0 * self / win, 100.0 * (other > 0 ? other : 0) / win,
	       (unsigned long long)g->c.stalls, (unsigned long long)errors,
	       (unsigned long long)g->c.grpc_err, (unsigned long long)rst,
	       (unsigned long long)g->c.no_trailers, (unsigned long long)lost,
	       (unsigned long long)g->ws.closed, (unsigned long long)g->ws.proto_err,
	       (unsigned long long)g->c.bad_payload, (unsigned long long)g->ws.connect_err,
	       (unsigned long long)g->ws.hs_err);
	if (g->first_err[0])
		fprintf(stderr, "sendlat: first error: %s\n", g->first_err);
	return errors ? 1 : 0;
}

static int run_send(struct g *g)
{
	uint64_t now;

	ramp(g);
	if (!g->ws.open)
		bench_die("no WebSocket connection opened");
	h2_connect_all(g);
	prctl(PR_SET_TIMERSLACK, 1UL);
	g->t0 = now_ns();
	g->win_start = g->t0 + (uint64_t)(g->o.warmup * 1e9);
	g->win_end = g->win_start + (uint64_t)(g->o.duration * 1e9);
	g->phase = PH_WARMUP;
	while (!got_term) {
		uint64_t next, to;

		now = now_ns();
		if (g->phase == PH_WARMUP && now >= g->win_start) {
			window_edge(g, true);
			g->phase = PH_MEASURE;
		}
		if (g->phase == PH_MEASURE && now >= g->win_end) {
			window_edge(g, false);
			g->phase = PH_DRAIN;
			g->drain_end = now + (uint64_t)(g->o.drain * 1e9);
		}
		if (g->phase == PH_DRAIN &&
		    (now >= g->drain_end ||
		     (!in_flight(g) && g->c.delivered + g->c.bad_payload >= g->c.ok)))
			break;
		if (g->phase != PH_DRAIN) {
			issue(g, now);
			flush_all(g);
			next = g->t0 + (uint64_t)((double)(g->sent + 1) * 1e9 / g->o.rate);
			to = next > now ? next - now : 0;
			if (to > 10000000u)
				to = 10000000u;
		} else {
			to = 10000000u;
		}
		poll_once(g, to);
	}
	if (g->phase != PH_DRAIN && g->phase != PH_DONE)
		window_edge(g, false);
	return report_send(g);
}

static int run_hold(struct g *g)
{
	uint64_t end;

	ramp(g);
	if (g->ws.open < g->o.conns) {
		fprintf(stderr, "sendlat: only %u of %u connections opened\n", g->ws.open,
		        g->o.conns);
		return 1;
	}
	for (unsigned i = 0; i < g->ws.open; i++)
		printf("id %s\n", g->ws.c[g->ws.open_idx[i]].id);
	printf("ready conns=%u open=%u\n", g->o.conns, g->ws.open);
	fflush(stdout);
	end = g->o.hold > 0 ? now_ns() + (uint64_t)(g->o.hold * 1e9) : UINT64_MAX;
	while (!got_term && now_ns() < end)
		poll_once(g, 100000000u);
	printf("RESULT scenario=hold conns=%u open=%u msgs=%llu bytes=%llu closed=%llu "
	       "proto_err=%llu connect_err=%llu hs_err=%llu\n",
	       g->o.conns, g->ws.open, (unsigned long long)g->c.msgs,
	       (unsigned long long)g->c.bytes, (unsigned long long)g->ws.closed,
	       (unsigned long long)g->ws.proto_err, (unsigned long long)g->ws.connect_err,
	       (unsigned long long)g->ws.hs_err);
	return g->ws.open == g->o.conns && !g->ws.closed && !g->ws.proto_err ? 0 : 1;
}

static size_t call_body(struct g *g, uint8_t *msg, const uint8_t **hb, size_t *hbl)
{
	uint8_t data[4096];
	bool send = !strcmp(g->o.method, "Send");

	memset(data, 'x', g->o.size);
	if (send) {
		*hb = g->hblock_send, *hbl = g->hblock_send_len;
	} else if (!strcmp(g->o.method, "Get")) {
		*hb = g->hblock_get, *hbl = g->hblock_get_len;
	} else {
		*hb = g->hblock_disc, *hbl = g->hblock_disc_len;
	}
	return grpcreq_message(msg, g->o.id, data, g->o.size, send);
}

static int run_call(struct g *g)
{
	uint8_t msg[4096 + 128];
	const uint8_t *hb;
	size_t hbl, n = call_body(g, msg, &hb, &hbl);
	uint64_t deadline = now_ns() + 5000000000u;

	g->o.h2conns = 1;
	h2_connect_all(g);
	g->win_start = 0, g->win_end = UINT64_MAX;
	g->last_status = -100;
	if (!h2c_call(&g->h2[0], hb, hbl, msg, n, now_ns()))
		bench_die("cannot start the call");
	h2c_flush(&g->h2[0]);
	while (!got_term && g->h2[0].active && !g->h2[0].dead && now_ns() < deadline)
		poll_once(g, 10000000u);
	printf("RESULT scenario=call method=%s id=%s grpc_status=%d ok=%llu %s\n", g->o.method,
	       g->o.id, g->last_status, (unsigned long long)g->c.ok, g->first_err);
	return g->c.ok == 1 ? 0 : 1;
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: sendlat send|hold|call|body [flags]\n"
	        "  --ws IPv4:PORT        WebSocket address (send, hold)\n"
	        "  --mgmt IPv4:PORT      management address (send, call)\n"
	        "  --conns N             WebSocket connections (send 1000, hold 1)\n"
	        "  --path P              upgrade request target (/)\n"
	        "  --src-addrs K         spread connections over 127.0.0.1..K (1)\n"
	        "  --max-pending N       connects + upgrades in progress at once (256)\n"
	        "  --rate R              send: Send calls per second (10000)\n"
	        "  --duration S          send: measurement window (5)\n"
	        "  --warmup S            send: traffic before the window (1)\n"
	        "  --drain S             send: wait this long after the window (2)\n"
	        "  --h2-conns N          send: h2c connections (1)\n"
	        "  --max-streams N       send: streams open per h2c connection, at most (1000)\n"
	        "  --size N              Send data bytes, >= 16 (16)\n"
	        "  --server-pid PID      send: report the server's CPU time\n"
	        "  --hold S              hold: exit after S seconds (0: at SIGTERM)\n"
	        "  --method M            call/body: Get, Send or Disconnect (Get)\n"
	        "  --id ID               call/body: the connection id\n"
	        "  --token T             bearer token for the management API\n"
	        "  --slow-us U           send: log deliveries slower than U us to stderr\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static struct g G;
	struct g *g = &G;
	struct opts *o = &g->o;
	struct sigaction sa = {.sa_handler = on_term};

	if (argc < 2)
		usage();
	if (!strcmp(argv[1], "send"))
		o->mode = M_SEND;
	else if (!strcmp(argv[1], "hold"))
		o->mode = M_HOLD;
	else if (!strcmp(argv[1], "call"))
		o->mode = M_CALL;
	else if (!strcmp(argv[1], "body"))
		o->mode = M_BODY;
	else
		usage();
	o->ws_str = "127.0.0.1:8080";
	o->mgmt_str = "127.0.0.1:9090";
	o->path = "/";
	o->method = "Get";
	o->conns = o->mode == M_SEND ? 1000 : 1;
	o->src_addrs = 1;
	o->max_pending = 256;
	o->h2conns = 1;
	o->size = TS_LEN;
	o->max_streams = 1000;
	o->rate = 10000;
	o->duration = 5;
	o->warmup = 1;
	o->drain = 2;
	o->ramp_timeout = 60;
	for (int i = 2; i < argc; i++) {
		const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			usage();
		i++;
		if (!strcmp(f, "--ws"))
			o->ws_str = v;
		else if (!strcmp(f, "--mgmt"))
			o->mgmt_str = v;
		else if (!strcmp(f, "--conns"))
			o->conns = (unsigned)atoi(v);
		else if (!strcmp(f, "--path"))
			o->path = v;
		else if (!strcmp(f, "--src-addrs"))
			o->src_addrs = (unsigned)atoi(v);
		else if (!strcmp(f, "--max-pending"))
			o->max_pending = (unsigned)atoi(v);
		else if (!strcmp(f, "--rate"))
			o->rate = atof(v);
		else if (!strcmp(f, "--duration"))
			o->duration = atof(v);
		else if (!strcmp(f, "--warmup"))
			o->warmup = atof(v);
		else if (!strcmp(f, "--drain"))
			o->drain = atof(v);
		else if (!strcmp(f, "--h2-conns"))
			o->h2conns = (unsigned)atoi(v);
		else if (!strcmp(f, "--max-streams"))
			o->max_streams = (unsigned)atoi(v);
		else if (!strcmp(f, "--size"))
			o->size = (unsigned)atoi(v);
		else if (!strcmp(f, "--server-pid"))
			o->server_pid = atoi(v);
		else if (!strcmp(f, "--hold"))
			o->hold = atof(v);
		else if (!strcmp(f, "--method"))
			o->method = v;
		else if (!strcmp(f, "--id"))
			o->id = v;
		else if (!strcmp(f, "--token"))
			o->token = v;
		else if (!strcmp(f, "--slow-us"))
			o->slow_us = atof(v);
		else
			usage();
	}
	if (o->size < TS_LEN || o->size > 4096 || !o->conns || !o->h2conns || o->rate <= 0 ||
	    o->max_streams < 1 || o->max_streams > H2C_SLOTS / 2 || !o->max_pending)
		bench_die("bad flags (--size 16..4096, --max-streams 1..2048, counts > 0)");
	if (strcmp(o->method, "Get") && strcmp(o->method, "Send") &&
	    strcmp(o->method, "Disconnect"))
		bench_die("--method must be Get, Send or Disconnect");
	if ((o->mode == M_CALL || o->mode == M_BODY) && (!o->id || strlen(o->id) > 200))
		bench_die("call/body need --id");
	if (bench_parse_addr(o->ws_str, &o->ws, 1) < 0 ||
	    bench_parse_addr(o->mgmt_str, &o->mgmt, 1) < 0)
		bench_die("bad --ws or --mgmt address (IPv4:PORT)");
	g->hblock_send_len = grpcreq_headers(g->hblock_send, "Send", o->mgmt_str, o->token);
	g->hblock_get_len = grpcreq_headers(g->hblock_get, "Get", o->mgmt_str, o->token);
	g->hblock_disc_len = grpcreq_headers(g->hblock_disc, "Disconnect", o->mgmt_str, o->token);
	if (o->mode == M_BODY) {
		uint8_t msg[4096 + 128];
		const uint8_t *hb;
		size_t hbl, n = call_body(g, msg, &hb, &hbl);

		return fwrite(msg, 1, n, stdout) == n ? 0 : 1;
	}
	hpack_tables_init();
	raise_fd_limit();
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	g->ep = epoll_create1(EPOLL_CLOEXEC);
	g->rbuf = malloc(RBUF_SIZE);
	g->ws = (struct wsc_pool){.ep = g->ep,
	                          .dst = &o->ws,
	                          .host = o->ws_str,
	                          .path = o->path,
	                          .src_addrs = o->src_addrs,
	                          .rbuf = g->rbuf,
	                          .rbuf_size = RBUF_SIZE,
	                          .need_id = true,
	                          .on_message = on_message,
	                          .arg = g};
	g->ws.c = calloc(o->conns, sizeof *g->ws.c);
	g->ws.open_idx = calloc(o->conns, sizeof *g->ws.open_idx);
	if (g->ep < 0 || !g->rbuf || !g->ws.c || !g->ws.open_idx)
		bench_die("out of memory");
	for (unsigned i = 0; i < o->conns; i++)
		g->ws.c[i].kind = K_WS;
	if (o->mode == M_CALL)
		return run_call(g);
	if (o->mode == M_HOLD)
		return run_hold(g);
	return run_send(g);
}
