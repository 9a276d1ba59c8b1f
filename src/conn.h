/* conn.h — a WebSocket-port connection: its lifecycle, the single read()
 * and write() paths, the bounded outbound queue, the idle sweep.
 */
#ifndef WSGW_CONN_H
#define WSGW_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conntab.h"
#include "groups.h"
#include "list.h"
#include "loop.h"
#include "net.h"

#define CONN_ID_LEN 33

struct server;
struct ws_rx;
struct obuf;
struct obuf_shared;
struct integ_state;
struct spec;
struct tls;
struct conn_side;

enum conn_state {
	CONN_ST_HANDSHAKE, /* reading the HTTP upgrade request */
	CONN_ST_OPEN,      /* in the table, exchanging messages */
	CONN_ST_CLOSING,   /* close frame sent; waiting for the peer's close */
	CONN_ST_DEAD,      /* on the deferred-free list; ignore its events */
};

enum conn_flag {
	CONN_F_CLOSE_AFTER_FLUSH = 1 << 0, /* close the socket once output drains */
	CONN_F_READ_PAUSED = 1 << 1,       /* backpressure: output queue is full */
	CONN_F_PING_OUT = 1 << 2,          /* a server ping awaits its pong */
	CONN_F_CLOSE_RECEIVED = 1 << 3,    /* the peer's close frame arrived */
	CONN_F_DISCARD = 1 << 4,           /* closing after a protocol error: drop input */
	CONN_F_REJECT_FULL = 1 << 5,       /* over --max-connections: answer 503 */
	CONN_F_SHUT_WR = 1 << 6,           /* shutdown(SHUT_WR) done while lingering */
	CONN_F_WAIT_CONNECT = 1 << 7,      /* the connect integration decides the upgrade */
	CONN_F_BACKLOG_FULL = 1 << 8,      /* inbound queue to the backend is full */
	CONN_F_WAIT_AUTH = 1 << 9,         /* waiting for an authorizer's keys (auth.c) */
};

struct conn {
	/* node and reap never live at once: a connection leaves the table
	 * (leave_open) before it turns DEAD and is queued for freeing, so
	 * they share storage (16 B less per connection). */
	union {
		struct conntab_node node;  /* in server.table while OPEN */
		struct loop_deferred reap; /* queued on the loop once DEAD */
	};
	struct loop_io io;
	struct server *srv;
	struct list_node link;    /* in server.all until DEAD */
	char id[CONN_ID_LEN + 1];
	uint16_t flags;           /* enum conn_flag */
	uint16_t close_code;      /* code reported for the disconnect */
	uint8_t state;            /* enum conn_state */
	int8_t protocol;          /* index into cfg->protocols, -1 none */
	uint8_t close_by;         /* enum metrics_by: who closed first; NONE until upgraded */
	struct net_ip ip;
	/* Registry order while OPEN (0: not indexed): 48 bits (2^48 opens
	 * last 89 years at 100 000 a second) in what was padding after ip,
	 * 8 B less per connection; conn_seq reads it. */
	uint16_t seq_hi;
	uint32_t seq_lo;
	int64_t connected_at_ns;  /* wall clock */
	int64_t last_active_ns;   /* wall clock: last frame in or message out */
	uint64_t opened_ms;       /* monotonic: accept time */
	uint64_t last_rx_ms;      /* monotonic: last frame from the client */
	uint64_t deadline_ms;     /* handshake / close deadline, or next ping time */
	struct ws_rx *rx;         /* NULL unless a frame or message is partial */
	struct conn_side *side;   /* NULL until one of its fields is needed */
	/* rx and side stay next to the timestamps the frame path updates
	 * (the write path checks side's out and shared together);
	 * user_agent, read by Get and the logs only, comes after them. */
	const char *user_agent;   /* NULL when absent; shared (server.user_agents) */
	struct integ_state *integ; /* NULL for echo-only routes */
	/* Where it came: request path, route and spec, shared by every
	 * connection with the same three (registry.c); NULL before the match. */
	const struct conn_origin *origin;
};

/* One pointer instead of three in every connection (16 B less): the path
 * is interned already, and the route and the spec follow from the path
 * (until a reload), so sharing them costs nothing more per distinct path. */
struct conn_origin {
	struct conntab_node node; /* in the registry's pool, by key */
	uint32_t refs, len;       /* len: of key, without its NUL */
	struct spec *spec;        /* reference: the route's strings point into it */
	const char *route;        /* spec path template matched, interned: outlives reloads */
	/* The spec's and the route's addresses, then the request path. */
	char key[];
};

#define CONN_ORIGIN_PATH (2 * sizeof(void *)) /* the path's offset in key */

static inline const char *conn_path(const struct conn *c)
{
	return c->origin ? c->origin->key + CONN_ORIGIN_PATH : NULL;
}

static inline const char *conn_route(const struct conn *c)
{
	return c->origin ? c->origin->route : NULL;
}

/* The spec c's route is in (held while c lives); NULL before the match. */
static inline struct spec *conn_spec(const struct conn *c)
{
	return c->origin ? c->origin->spec : NULL;
}

/* What few connections need — a TLS session, group memberships, output
 * the kernel did not take —, allocated on first use and freed with the
 * connection: an idle plaintext connection holds none of it (40 B less
 * in struct conn, and no allocation). */
struct conn_side {
	struct conn *conn;          /* back: a group's member list leads here */
	struct tls *tls;            /* wss://: the TLS session (conn.c's transport); NULL: plain */
	struct obuf *out;           /* NULL unless output is queued */
	struct obuf_shared *shared; /* queued after out: a shared frame's unsent rest */
	/* How much of shared was written: below its length, which is at most
	 * --max-out-queue (<= 1 GiB, conn_write_shared checks), so 32 bits. */
	uint32_t shared_off;
	struct groups_member groups; /* wsgw.v1 groups (registry.c) */
};

/* c's side part, allocated (zeroed) on the first call; NULL when out of
 * memory. */
struct conn_side *conn_side(struct conn *c);

#define CONN_SEQ_MAX ((UINT64_C(1) << 48) - 1)

static inline uint64_t conn_seq(const struct conn *c)
{
	return (uint64_t)c->seq_hi << 32 | c->seq_lo;
}

static inline void conn_set_seq(struct conn *c, uint64_t seq)
{
	c->seq_hi = (uint16_t)(seq >> 32);
	c->seq_lo = (uint32_t)seq;
}

static inline struct tls *conn_tls(const struct conn *c)
{
	return c->side ? c->side->tls : NULL;
}

/* c's groups (an empty member when it has no side part). */
static inline const struct groups_member *conn_groups(const struct conn *c)
{
	static const struct groups_member none;

	return c->side ? &c->side->groups : &none;
}

/* Listener callback: accepts up to a batch of pending connections. Beyond
 * --max-connections + 1024 a connection gets a static 503 and is closed at
 * once; at EMFILE the spare descriptor answers one client at a time the
 * same way; at ENFILE/ENOMEM/ENOBUFS accepting pauses for 100 ms. */
void conn_on_accept(struct loop_io *listener, uint32_t events);

/* Logs the refusals counted since the last report, at most once per 10 s
 * (a flood must not write a line per connection). Called after each count
 * and from the sweep, so the last counts are not left unreported. */
void conn_report_refusals(struct server *srv);

/* Queues frame bytes (header + payload) for c, writing at once when
 * nothing is queued. With enforce_limit, refuses with ERR_LIMIT when the
 * queue would exceed --max-out-queue (nothing queued); without it the
 * queue may exceed the limit and reading pauses; reads are sized to the
 * room left, so the excess is about one message (echo, backend reply).
 * Returns 0, ERR_LIMIT, or ERR_CLOSED if writing failed and c was closed. */
int conn_write_frame(struct conn *c, const uint8_t *hdr, size_t hdr_len, const uint8_t *payload,
		     size_t len, bool enforce_limit);

/* Queues a whole frame shared with other connections (a broadcast's),
 * as conn_write_frame with enforce_limit. While c's queue is empty the
 * frame is written from f itself, and what the kernel does not take is
 * kept as a reference to f, not a copy; behind other queued bytes it is
 * copied (the queue holds bytes). Returns 0, ERR_LIMIT or ERR_CLOSED. */
int conn_write_shared(struct conn *c, struct obuf_shared *f);

/* A batch of writes to any connections, not started by a read of theirs
 * (the Sends one read from Redis carries for this node's connections):
 * until conn_batch_end, the output for the connection last written is
 * gathered in the cork buffer (as during its own read) and written when
 * another connection is written, when it would pass --max-out-queue (so the
 * limit sees what it saw before: the kernel takes those bytes) or 64 KiB,
 * and at the end; so 100 Sends to one client cost one writev, not 100.
 * Statuses and order are unchanged. conn_batch_end must run before the loop
 * handles another event. */
void conn_batch_begin(struct server *srv);
void conn_batch_end(struct server *srv);

/* Bytes currently queued for c. */
size_t conn_queued(const struct conn *c);

/* Re-registers c's epoll interest after its flags changed: no EPOLLIN
 * while output is full, the connect integration runs, or the inbound
 * queue is full. */
void conn_update_events(struct conn *c);

/* Registers c as OPEN in the table (after a successful handshake). */
void conn_set_open(struct conn *c);

/* Leaves the table and starts waiting (deadline = --close-timeout) for
 * the close handshake to complete. */
void conn_set_closing(struct conn *c);

/* Lingering close after an error response or a protocol failure: input is
 * discarded, queued output is flushed, then FIN is sent; the socket closes
 * at the peer's EOF or the close deadline. */
void conn_linger(struct conn *c);

/* Ends c: socket closed once queued output is flushed (or at once with
 * flush=false), state DEAD, freed after the current batch. */
void conn_finish(struct conn *c, bool flush);

/* The periodic sweep: handshake, idle, ping, lifetime, close deadlines. */
void conn_sweep(struct server *srv);


/* Looks up an OPEN connection by id; NULL if unknown or not open. */
struct conn *conn_find(struct server *srv, const char *id, size_t len);

#endif
