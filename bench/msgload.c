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
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "benchlib.h"

#define RBUF_SIZE (256 * 1024)
#define MAX_EVENTS 1024
#define HEAD_MAX 4096
#define MAX_SIZE 4096
#define MAX_INFLIGHT 256
#define TS_OFF 6 /* {"t":" */
#define TS_LEN 16
#define WS_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define WS_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" /* RFC 6455 §1.3's example */

enum ws_state { WS_CONNECTING = 1, WS_UPGRADING, WS_OPEN, WS_DEAD };

struct opts {
	struct sockaddr_in dst;
	const char *target, *path;
	unsigned conns, inflight, size, src_addrs, max_pending;
	double duration, warmup, ramp_timeout;
	int server_pid, backend_pid;
};

struct wsc {
	int fd;
	uint8_t state;
	bool in_payload, fin;
	uint8_t hdr_len, op, msg_op, pl_len;
	uint8_t hdr[14];
	uint16_t head_len;
	uint32_t outstanding; /* messages sent, reply not yet seen */
	uint64_t rx_left, msg_len;
	char *head;
	uint8_t pl[TS_OFF + TS_LEN]; /* first bytes of the current message */
	uint8_t ctl[125];            /* control frame payload */
	uint8_t ctl_len;
};

struct g {
	struct opts o;
	int ep;
	uint8_t *rbuf, *obuf;
	uint8_t mask[4];
	struct wsc *c;
	unsigned next, pending, open;
	uint64_t win_start, win_end;
	bool measuring;
	long long cpu0, cpu1, bcpu0, bcpu1, busy0, busy1;
	double self0, self1;
	uint64_t msgs, connect_err, hs_err, closed, proto_err, bad_payload, write_err;
	struct hist h;
};

static void die(const char *msg)
{
	fprintf(stderr, "msgload: %s\n", msg);
	exit(2);
}

/* ---- sockets ----------------------------------------------------------- */

static void ep_set(struct g *g, struct wsc *c, uint32_t events, bool add)
{
	struct epoll_event e = {.events = events, .data.ptr = c};

	epoll_ctl(g->ep, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c->fd, &e);
}

static void kill_conn(struct g *g, struct wsc *c, bool count_closed)
{
	if (c->state == WS_DEAD)
		return;
	if (c->state == WS_OPEN) {
		g->open--;
		if (count_closed)
			g->closed++;
	} else {
		g->pending--;
	}
	close(c->fd);
	free(c->head);
	c->head = NULL;
	c->state = WS_DEAD;
}

static void start_conn(struct g *g, unsigned i)
{
	struct wsc *c = &g->c[i];

	c->fd = connect_to(&g->o.dst, g->o.src_addrs > 1 ? (int)(i % g->o.src_addrs) : -1);
	if (c->fd < 0) {
		g->connect_err++;
		c->state = WS_DEAD;
		return;
	}
	c->state = WS_CONNECTING;
	g->pending++;
	ep_set(g, c, EPOLLOUT, true);
}

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
	c->outstanding += k;
	return 0;
}

static void build_template(struct g *g)
{
	size_t hl = g->o.size < 126 ? 6 : 8, period = hl + g->o.size;
	uint8_t *t, plain[MAX_SIZE];
	int n;

	g->obuf = malloc(period * (MAX_INFLIGHT + 1));
	if (!g->obuf)
		die("out of memory");
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

static void on_reply(struct g *g, struct wsc *c, uint64_t now)
{
	bool ok = false;
	uint64_t t = 0;

	if (c->msg_op == 1 && c->msg_len == g->o.size && c->pl_len == TS_OFF + TS_LEN &&
	    !memcmp(c->pl, "{\"t\":\"", TS_OFF))
		t = hex16(c->pl + TS_OFF, &ok);
	if (c->outstanding)
		c->outstanding--;
	if (!ok || t > now) {
		g->bad_payload++;
		return;
	}
	if (g->measuring && now >= g->win_start) {
		g->msgs++;
		hist_add(&g->h, now - t);
	}
}

static void pong(struct wsc *c)
{
	uint8_t f[6 + 125];
	static const uint8_t m[4] = {0x37, 0xfa, 0x21, 0x3d};

	f[0] = 0x8a;
	f[1] = (uint8_t)(0x80 | c->ctl_len);
	memcpy(f + 2, m, 4);
	for (unsigned i = 0; i < c->ctl_len; i++)
		f[6 + i] = c->ctl[i] ^ m[i % 4];
	if (write(c->fd, f, 6u + c->ctl_len) < 0) { /* best effort */
	}
}

/* Parses server frames; returns replies completed, or -1 / -2 (close). */
static int feed(struct g *g, struct wsc *c, const uint8_t *p, size_t n, uint64_t now)
{
	int replies = 0;

	while (n) {
		if (!c->in_payload) {
			size_t need = 2, take;
			uint8_t l7;

			if (c->hdr_len < 2) {
				take = 2u - c->hdr_len < n ? 2u - c->hdr_len : n;
				memcpy(c->hdr + c->hdr_len, p, take);
				c->hdr_len = (uint8_t)(c->hdr_len + take);
				p += take, n -= take;
				if (c->hdr_len < 2)
					return replies;
			}
			if (c->hdr[1] & 0x80) {
				g->proto_err++;
				return -1;
			}
			l7 = c->hdr[1] & 0x7f;
			need += l7 == 126 ? 2 : l7 == 127 ? 8 : 0;
			if (c->hdr_len < need) {
				take = need - c->hdr_len < n ? need - c->hdr_len : n;
				memcpy(c->hdr + c->hdr_len, p, take);
				c->hdr_len = (uint8_t)(c->hdr_len + take);
				p += take, n -= take;
				if (c->hdr_len < need)
					return replies;
			}
			c->rx_left = l7;
			if (l7 == 126)
				c->rx_left = (uint64_t)c->hdr[2] << 8 | c->hdr[3];
			else if (l7 == 127)
				for (int i = 0; i < 8; i++)
					c->rx_left = c->rx_left << 8 | c->hdr[2 + i];
			c->op = c->hdr[0] & 0x0f;
			c->fin = c->hdr[0] & 0x80;
			c->hdr_len = 0;
			c->in_payload = true;
			if (c->op >= 8) {
				if (c->rx_left > 125) {
					g->proto_err++;
					return -1;
				}
				c->ctl_len = 0;
			} else if (c->op) {
				c->msg_op = c->op;
				c->pl_len = 0;
				c->msg_len = 0;
			}
		}
		if (c->rx_left) {
			size_t take = c->rx_left < n ? (size_t)c->rx_left : n;

			if (c->op >= 8) {
				memcpy(c->ctl + c->ctl_len, p, take);
				c->ctl_len = (uint8_t)(c->ctl_len + take);
			} else {
				size_t keep = sizeof c->pl - c->pl_len;

				if (keep > take)
					keep = take;
				memcpy(c->pl + c->pl_len, p, keep);
				c->pl_len = (uint8_t)(c->pl_len + keep);
				c->msg_len += take;
			}
			c->rx_left -= take;
			p += take, n -= take;
			if (c->rx_left)
				return replies;
		}
		c->in_payload = false;
		if (c->op == 8) {
			g->closed++;
			return -2;
		} else if (c->op == 9) {
			pong(c);
		} else if (c->op < 8 && c->fin) {
			on_reply(g, c, now);
			replies++;
		}
	}
	return replies;
}

static void upgraded(struct g *g, struct wsc *c, const uint8_t *p, size_t n, uint64_t now)
{
	size_t take = HEAD_MAX - 1u - c->head_len < n ? HEAD_MAX - 1u - c->head_len : n, hl, rest;
	uint8_t tmp[HEAD_MAX];
	char *eoh;
	int r1 = 0, r2 = 0;

	memcpy(c->head + c->head_len, p, take);
	c->head_len = (uint16_t)(c->head_len + take);
	c->head[c->head_len] = '\0';
	eoh = strstr(c->head, "\r\n\r\n");
	if (!eoh) {
		if (c->head_len >= HEAD_MAX - 1) {
			g->hs_err++;
			kill_conn(g, c, false);
		}
		return;
	}
	hl = (size_t)(eoh + 4 - c->head);
	*eoh = '\0';
	if (strncmp(c->head, "HTTP/1.1 101", 12) ||
	    !strcasestr(c->head, "\r\nsec-websocket-accept: " WS_ACCEPT)) {
		if (!g->hs_err)
			fprintf(stderr, "msgload: upgrade refused: %.300s\n", c->head);
		g->hs_err++;
		kill_conn(g, c, false);
		return;
	}
	rest = c->head_len - hl;
	memcpy(tmp, c->head + hl, rest);
	free(c->head);
	c->head = NULL;
	c->state = WS_OPEN;
	g->pending--;
	g->open++;
	if (rest)
		r1 = feed(g, c, tmp, rest, now);
	if (r1 >= 0 && take < n)
		r2 = feed(g, c, p + take, n - take, now);
	if (r1 < 0 || r2 < 0)
		kill_conn(g, c, r1 == -1 || r2 == -1);
	else if (send_msgs(g, c, g->o.inflight, now) < 0)
		kill_conn(g, c, true);
}

static void on_event(struct g *g, struct wsc *c, uint32_t ev)
{
	ssize_t r;
	uint64_t now;
	int k;

	if (c->state == WS_CONNECTING) {
		char req[1024];
		int err = 0, n;
		socklen_t el = sizeof err;

		if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		n = snprintf(req, sizeof req,
		             "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
		             "Connection: Upgrade\r\nSec-WebSocket-Key: " WS_KEY "\r\n"
		             "Sec-WebSocket-Version: 13\r\n\r\n",
		             g->o.path, g->o.target);
		if (err || write(c->fd, req, (size_t)n) != n) {
			g->connect_err++;
			kill_conn(g, c, false);
			return;
		}
		c->state = WS_UPGRADING;
		c->head = malloc(HEAD_MAX);
		if (!c->head)
			die("out of memory");
		ep_set(g, c, EPOLLIN, false);
		return;
	}
	r = read(c->fd, g->rbuf, RBUF_SIZE);
	if (r <= 0) {
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (c->state == WS_UPGRADING)
			g->hs_err++;
		kill_conn(g, c, true);
		return;
	}
	now = now_ns();
	if (c->state == WS_UPGRADING) {
		upgraded(g, c, g->rbuf, (size_t)r, now);
		return;
	}
	k = feed(g, c, g->rbuf, (size_t)r, now);
	if (k < 0)
		kill_conn(g, c, k == -1);
	else if (k > 0 && send_msgs(g, c, (unsigned)k, now) < 0)
		kill_conn(g, c, true);
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
	struct rlimit rl;
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
		die("bad flags (--inflight 1..256, --size 32..4096)");
	if (bench_parse_addr(o->target, &o->dst, 1) < 0)
		die("bad --target (IPv4:PORT)");
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	g->ep = epoll_create1(EPOLL_CLOEXEC);
	g->rbuf = malloc(RBUF_SIZE);
	g->c = calloc(o->conns, sizeof *g->c);
	if (g->ep < 0 || !g->rbuf || !g->c)
		die("out of memory");
	build_template(g);

	/* ramp: connections start their traffic as soon as they are open */
	ramp_deadline = now_ns() + (uint64_t)(o->ramp_timeout * 1e9);
	while (!got_term && (g->next < o->conns || g->pending)) {
		int n;

		while (g->next < o->conns && g->pending < o->max_pending)
			start_conn(g, g->next++);
		n = epoll_wait(g->ep, evs, MAX_EVENTS, 50);
		for (int i = 0; i < n; i++)
			on_event(g, evs[i].data.ptr, evs[i].events);
		if (now_ns() > ramp_deadline) {
			fprintf(stderr, "msgload: ramp timeout: %u open, %u pending\n", g->open,
			        g->pending);
			break;
		}
	}
	if (!g->open)
		die("no connection opened");
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
		uint64_t errors = g->connect_err + g->hs_err + g->closed + g->proto_err +
		                  g->bad_payload + g->write_err;

		printf("RESULT scenario=msg conns=%u open=%u inflight=%u size=%u duration_s=%.3f "
		       "msgs=%llu msgs_per_s=%.0f p50_us=%.1f p90_us=%.1f p99_us=%.1f "
		       "p999_us=%.1f max_us=%.1f server_cpu_s=%.2f server_cpu_pct=%.1f "
		       "server_busy_us_per_msg=%.2f backend_cpu_pct=%.1f loadgen_cpu_pct=%.1f "
		       "other_cpu_pct=%.1f errors=%llu connect_err=%llu hs_err=%llu closed=%llu "
		       "proto_err=%llu bad_payload=%llu write_err=%llu\n",
		       o->conns, g->open, o->inflight, o->size, win, (unsigned long long)g->msgs,
		       (double)g->msgs / win, hist_us(&g->h, 0.5), hist_us(&g->h, 0.9),
		       hist_us(&g->h, 0.99), hist_us(&g->h, 0.999), (double)g->h.max / 1000.0, srv,
		       srv >= 0 ? 100.0 * srv / win : -1.0,
		       srv >= 0 && g->msgs ? srv * 1e6 / (double)g->msgs : -1.0,
		       be >= 0 ? 100.0 * be / win : -1.0, 100.0 * self / win,
		       100.0 * (other > 0 ? other : 0) / win, (unsigned long long)errors,
		       (unsigned long long)g->connect_err, (unsigned long long)g->hs_err,
		       (unsigned long long)g->closed, (unsigned long long)g->proto_err,
		       (unsigned long long)g->bad_payload, (unsigned long long)g->write_err);
		return errors ? 1 : 0;
	}
}
