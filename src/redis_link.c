/* redis_link.c — one Redis connection on our epoll loop (redis_link.h).
 * hiredis parses what we read (redisReaderFeed/GetReply); commands are
 * encoded by resp.c straight into our output buffer. Never blocks: the
 * connect is non-blocking, every wait is a loop timer (connect timeout,
 * reply timeout, reconnect backoff). Replies come back in command order
 * (RESP is a FIFO per connection), so a ring of callbacks is the whole
 * bookkeeping. Commands queued during a batch of events go out in one send
 * after the batch (a deferred flush; EPOLLOUT only when the socket is
 * full): a management read that starts 100 remote calls costs one send(),
 * not one each, nor an epoll_ctl pair and a loop pass of its own.
 * Callbacks must not free the link.
 */
#include "redis_link.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <hiredis.h>

#include "err.h"
#include "list.h"
#include "log.h"
#include "loop.h"
#include "resp.h"

#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 2000

enum link_st { ST_DOWN, ST_CONNECTING, ST_HANDSHAKE, ST_UP };

struct pending {
	redis_reply_fn fn;
	void *arg;
	uint64_t sent_ms;
};

struct redis_link {
	struct redis_link_cfg cfg;
	struct loop *loop;
	struct loop_io io;
	struct loop_timer timer; /* connect/reply timeout, or the backoff */
	struct loop_flush flush_later; /* commands queued during this batch */
	enum link_st st;
	redisReader *reader;
	char *out;
	size_t out_len, out_off, out_cap;
	struct pending *ring;
	unsigned head, count;
	uint64_t backoff_ms;
	uint64_t gen; /* bumped by every failure: callbacks check it */
	uint64_t ups; /* times the handshake completed */
	bool blocked; /* the last send hit EAGAIN: wait for EPOLLOUT */
	char why[160];
};

bool redis_link_is_up(const struct redis_link *l)
{
	return l->st == ST_UP;
}

uint64_t redis_link_reconnects(const struct redis_link *l)
{
	return l->ups ? l->ups - 1 : 0;
}

const char *redis_link_state(const struct redis_link *l)
{
	switch (l->st) {
	case ST_UP:
		return "up";
	case ST_CONNECTING:
	case ST_HANDSHAKE:
		return "connecting";
	case ST_DOWN:
		break;
	}
	return l->why;
}

/* EPOLLOUT while connecting, or while the socket is full (blocked); what
 * is merely queued waits for the deferred flush instead. */
static void update_events(struct redis_link *l)
{
	uint32_t ev = EPOLLIN | (l->blocked || l->st == ST_CONNECTING ? EPOLLOUT : 0);

	if (l->io.fd >= 0 && ev != l->io.events)
		loop_mod(l->loop, &l->io, ev);
}

static void arm_reply_timer(struct redis_link *l)
{
	if (l->st != ST_UP)
		return;
	if (l->count)
		loop_timer_arm(l->loop, &l->timer,
		               l->ring[l->head].sent_ms + l->cfg.reply_timeout_ms);
	else
		loop_timer_disarm(l->loop, &l->timer);
}

/* Drops the connection, answers every pending command with NULL and arms
 * the reconnect. */
static void fail(struct redis_link *l, const char *why)
{
	bool was_up = l->st == ST_UP;

	if (l->st == ST_DOWN)
		return;
	snprintf(l->why, sizeof l->why, "down: %s", why);
	if (was_up || l->backoff_ms == BACKOFF_MIN_MS)
		log_warn("redis %s link: %s", l->cfg.name, why);
	else
		log_debug("redis %s link: %s", l->cfg.name, why);
	l->st = ST_DOWN;
	l->gen++;
	if (l->io.fd >= 0) {
		loop_del(l->loop, &l->io);
		close(l->io.fd);
		l->io.fd = -1;
	}
	redisReaderFree(l->reader);
	l->reader = redisReaderCreate();
	l->out_len = l->out_off = 0;
	l->blocked = false;
	loop_flush_cancel(&l->flush_later);
	loop_timer_arm(l->loop, &l->timer, l->loop->now_ms + l->backoff_ms);
	l->backoff_ms = l->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : l->backoff_ms * 2;
	while (l->count) {
		struct pending p = l->ring[l->head];

		l->head = (l->head + 1) % l->cfg.max_pending;
		l->count--;
		if (p.fn)
			p.fn(p.arg, NULL);
	}
	if (was_up && l->cfg.on_state)
		l->cfg.on_state(l->cfg.arg, false);
}

void redis_link_reset(struct redis_link *l, const char *why)
{
	fail(l, why);
}

/* Appends the command, encoded straight into the output buffer (resp.h
 * says why not hiredis' formatter), and its callback. */
static int queue(struct redis_link *l, redis_reply_fn fn, void *arg, int argc, const char **argv,
                 const size_t *argvlen)
{
	size_t n;

	if (l->count >= l->cfg.max_pending)
		return ERR_LIMIT;
	n = resp_cmd_size(argc, argvlen);
	if (l->out_off == l->out_len)
		l->out_off = l->out_len = 0;
	if (l->out_len - l->out_off + n > l->cfg.max_out)
		return ERR_LIMIT;
	if (l->out_len + n > l->out_cap) {
		size_t cap = l->out_cap ? l->out_cap : 4096;
		char *b;

		if (l->out_off) { /* compact before growing */
			memmove(l->out, l->out + l->out_off, l->out_len - l->out_off);
			l->out_len -= l->out_off;
			l->out_off = 0;
		}
		while (cap < l->out_len + n)
			cap *= 2;
		if (cap != l->out_cap) {
			b = realloc(l->out, cap);
			if (!b)
				return ERR_NOMEM;
			l->out = b;
			l->out_cap = cap;
		}
	}
	l->out_len += resp_cmd_encode((uint8_t *)l->out + l->out_len, argc, argv, argvlen);
	l->ring[(l->head + l->count) % l->cfg.max_pending] =
	    (struct pending){fn, arg, l->loop->now_ms};
	if (l->count++ == 0)
		arm_reply_timer(l);
	if (!l->blocked && l->st != ST_CONNECTING)
		loop_flush_later(l->loop, &l->flush_later);
	return 0;
}

int redis_link_cmd(struct redis_link *l, redis_reply_fn fn, void *arg, int argc, const char **argv,
                   const size_t *argvlen)
{
	if (l->st != ST_UP || l->cfg.num_channels)
		return ERR_AGAIN;
	return queue(l, fn, arg, argc, argv, argvlen);
}

static void flush(struct redis_link *l)
{
	loop_flush_cancel(&l->flush_later);
	l->blocked = false;
	while (l->out_off < l->out_len) {
		ssize_t n =
		    send(l->io.fd, l->out + l->out_off, l->out_len - l->out_off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			l->blocked = true;
			break;
		}
		if (n <= 0) {
			fail(l, strerror(errno));
			return;
		}
		l->out_off += (size_t)n;
	}
	update_events(l);
}

static void on_flush_later(struct loop_flush *f)
{
	struct redis_link *l = list_entry(f, struct redis_link, flush_later);

	if (l->io.fd >= 0 && l->st != ST_CONNECTING && l->st != ST_DOWN)
		flush(l);
}

void redis_link_send_now(struct redis_link *l, int argc, const char **argv, const size_t *argvlen)
{
	size_t n = resp_cmd_size(argc, argvlen);
	uint8_t *cmd;

	if (l->st == ST_UP && l->out_off != l->out_len)
		flush(l); /* what this batch queued goes first */
	if (l->st != ST_UP || l->out_off != l->out_len)
		return;
	cmd = malloc(n);
	if (!cmd)
		return;
	resp_cmd_encode(cmd, argc, argv, argvlen);
	if (send(l->io.fd, cmd, n, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)n)
		log_debug("redis %s link: shutdown command not sent whole", l->cfg.name);
	free(cmd);
}

/* A handshake command answered: AUTH/SELECT want +OK, SUBSCRIBE an array. */
static void on_handshake(void *arg, const struct redisReply *r)
{
	struct redis_link *l = arg;

	if (!r)
		return;
	if (r->type == REDIS_REPLY_ERROR) {
		char why[128];

		snprintf(why, sizeof why, "handshake refused: %.*s",
		         (int)(r->len > 100 ? 100 : r->len), r->str);
		fail(l, why);
		return;
	}
	if (l->count == 0 && l->st == ST_HANDSHAKE) {
		l->st = ST_UP;
		l->ups++;
		l->backoff_ms = BACKOFF_MIN_MS;
		log_info("redis %s link: up", l->cfg.name);
		arm_reply_timer(l);
		if (l->cfg.on_state)
			l->cfg.on_state(l->cfg.arg, true);
	}
}

static void start_handshake(struct redis_link *l)
{
	const struct redis_url *u = l->cfg.url;
	const char *argv[1 + REDIS_LINK_MAX_CHANNELS];
	size_t lens[1 + REDIS_LINK_MAX_CHANNELS];
	char db[16];
	int rc = 0;

	l->st = ST_HANDSHAKE;
	loop_timer_arm(l->loop, &l->timer, l->loop->now_ms + l->cfg.connect_timeout_ms);
	if (u->password[0]) {
		argv[0] = "AUTH", argv[1] = u->password;
		lens[0] = 4, lens[1] = strlen(u->password);
		rc |= queue(l, on_handshake, l, 2, argv, lens);
	}
	if (u->has_db) {
		snprintf(db, sizeof db, "%d", u->db);
		argv[0] = "SELECT", argv[1] = db;
		lens[0] = 6, lens[1] = strlen(db);
		rc |= queue(l, on_handshake, l, 2, argv, lens);
	}
	if (l->cfg.num_channels) {
		argv[0] = "SUBSCRIBE", lens[0] = 9;
		for (unsigned i = 0; i < l->cfg.num_channels; i++)
			argv[1 + i] = l->cfg.channels[i], lens[1 + i] = strlen(l->cfg.channels[i]);
		rc |= queue(l, on_handshake, l, 1 + (int)l->cfg.num_channels, argv, lens);
		/* One confirmation per channel: the ring takes one entry each. */
		for (unsigned i = 1; i < l->cfg.num_channels && l->count < l->cfg.max_pending; i++)
			l->ring[(l->head + l->count++) % l->cfg.max_pending] =
			    (struct pending){on_handshake, l, l->loop->now_ms};
	}
	if (rc) {
		fail(l, "cannot queue the handshake");
		return;
	}
	update_events(l); /* no longer connecting: EPOLLOUT only when blocked */
	if (l->count == 0) { /* nothing to ask: up at once */
		l->st = ST_HANDSHAKE;
		on_handshake(l, &(struct redisReply){.type = REDIS_REPLY_STATUS});
	}
}

static void on_connected(struct redis_link *l)
{
	int err = 0;
	socklen_t len = sizeof err;

	if (getsockopt(l->io.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		fail(l, strerror(err));
		return;
	}
	start_handshake(l);
}

static bool is_message(const redisReply *r)
{
	return r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
	       r->element[0]->type == REDIS_REPLY_STRING && r->element[0]->len == 7 &&
	       !memcmp(r->element[0]->str, "message", 7) &&
	       r->element[1]->type == REDIS_REPLY_STRING &&
	       r->element[2]->type == REDIS_REPLY_STRING;
}

/* Hands one parsed reply to its owner. Returns false when the link failed
 * meanwhile. */
static bool dispatch(struct redis_link *l, redisReply *r)
{
	uint64_t gen = l->gen;

	if (l->cfg.num_channels && is_message(r)) {
		if (l->cfg.on_message)
			l->cfg.on_message(l->cfg.arg, r->element[1]->str, r->element[1]->len,
			                  r->element[2]->str, r->element[2]->len);
	} else if (l->count == 0) {
		fail(l, "a reply nobody asked for");
		return false;
	} else {
		struct pending p = l->ring[l->head];

		l->head = (l->head + 1) % l->cfg.max_pending;
		l->count--;
		arm_reply_timer(l);
		if (p.fn)
			p.fn(p.arg, r);
	}
	return gen == l->gen;
}

static void on_readable(struct redis_link *l)
{
	char buf[16384];
	uint64_t gen = l->gen;

	for (;;) {
		ssize_t n = recv(l->io.fd, buf, sizeof buf, 0);
		void *reply;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			fail(l, n == 0 ? "closed by the server" : strerror(errno));
			return;
		}
		if (redisReaderFeed(l->reader, buf, (size_t)n) != REDIS_OK) {
			fail(l, "out of memory");
			return;
		}
		for (;;) {
			if (redisReaderGetReply(l->reader, &reply) != REDIS_OK) {
				fail(l, "protocol error");
				return;
			}
			if (!reply)
				break;
			bool alive = dispatch(l, reply);

			freeReplyObject(reply);
			if (!alive || gen != l->gen)
				return;
		}
		/* What is left is one unfinished reply: cap it. */
		if (l->reader->len - l->reader->pos > l->cfg.max_in) {
			fail(l, "a reply larger than the cap");
			return;
		}
	}
}

static void on_event(struct loop_io *io, uint32_t events)
{
	struct redis_link *l = list_entry(io, struct redis_link, io);
	uint64_t gen = l->gen;

	if (l->st == ST_CONNECTING) {
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			on_connected(l);
		if (gen != l->gen)
			return;
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
		on_readable(l);
		if (l->cfg.on_read_done)
			l->cfg.on_read_done(l->cfg.arg);
	}
	/* Writable after a full socket (or the connect, with the handshake
	 * queued); otherwise queued commands wait for the deferred flush. */
	if (gen == l->gen && l->io.fd >= 0 && (events & EPOLLOUT))
		flush(l);
}

static void start_connect(struct redis_link *l)
{
	const struct redis_url *u = l->cfg.url;
	struct sockaddr_storage sa = {0};
	socklen_t salen;
	int one = 1, fd;

	if (u->ip.family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&sa;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(u->port);
		memcpy(&s6->sin6_addr, u->ip.addr, 16);
		salen = sizeof *s6;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&sa;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(u->port);
		memcpy(&s4->sin_addr, u->ip.addr, 4);
		salen = sizeof *s4;
	}
	l->st = ST_CONNECTING;
	fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fail(l, strerror(errno));
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	l->io.fd = fd;
	if (connect(fd, (struct sockaddr *)&sa, salen) < 0 && errno != EINPROGRESS) {
		fail(l, strerror(errno));
		return;
	}
	if (loop_add(l->loop, &l->io, EPOLLIN | EPOLLOUT) < 0) {
		fail(l, strerror(errno));
		return;
	}
	loop_timer_arm(l->loop, &l->timer, l->loop->now_ms + l->cfg.connect_timeout_ms);
}

static void on_timer(struct loop_timer *t)
{
	struct redis_link *l = list_entry(t, struct redis_link, timer);

	switch (l->st) {
	case ST_DOWN:
		start_connect(l);
		break;
	case ST_CONNECTING:
	case ST_HANDSHAKE:
		fail(l, "connect timed out");
		break;
	case ST_UP:
		if (l->count &&
		    l->ring[l->head].sent_ms + l->cfg.reply_timeout_ms <= l->loop->now_ms)
			fail(l, "no reply in time");
		else
			arm_reply_timer(l);
		break;
	}
}

struct redis_link *redis_link_new(struct loop *loop, const struct redis_link_cfg *cfg)
{
	struct redis_link *l = calloc(1, sizeof *l);

	if (!l)
		return NULL;
	l->cfg = *cfg;
	l->loop = loop;
	l->io.fd = -1;
	l->io.on_event = on_event;
	l->timer.on_fire = on_timer;
	loop_flush_init(&l->flush_later, on_flush_later);
	l->backoff_ms = BACKOFF_MIN_MS;
	l->st = ST_DOWN;
	snprintf(l->why, sizeof l->why, "down: not connected yet");
	l->ring = calloc(cfg->max_pending + REDIS_LINK_MAX_CHANNELS + 2, sizeof *l->ring);
	l->cfg.max_pending = cfg->max_pending + REDIS_LINK_MAX_CHANNELS + 2;
	l->reader = redisReaderCreate();
	if (!l->ring || !l->reader) {
		redis_link_free(l);
		return NULL;
	}
	start_connect(l);
	return l;
}

void redis_link_free(struct redis_link *l)
{
	if (!l)
		return;
	loop_flush_cancel(&l->flush_later);
	loop_timer_disarm(l->loop, &l->timer);
	if (l->io.fd >= 0) {
		loop_del(l->loop, &l->io);
		close(l->io.fd);
	}
	if (l->reader)
		redisReaderFree(l->reader);
	free(l->ring);
	free(l->out);
	free(l);
}
