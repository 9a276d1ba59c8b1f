/* upstream_int.h — what upstream.c (pools and calls) and upstream_conn.c
 * (one connection's I/O) share. Not for other modules.
 *
 * Ownership: a call (upstream_req) belongs to u->reqs from upstream_start
 * until its done runs; a connection belongs to its pool until it closes,
 * then to the loop's deferred list (an event of the same epoll batch may
 * still name it). A pool lives while it has calls or connections.
 */
#ifndef WSGW_UPSTREAM_INT_H
#define WSGW_UPSTREAM_INT_H

#include "dns.h"
#include "http1_resp.h"
#include "list.h"
#include "loop.h"
#include "tls.h"
#include "upstream.h"

#define UPSTREAM_RESP_INLINE 512

struct upstream {
	struct loop *loop;
	struct dns *dns; /* made at the first backend connection unless servers were given */
	const char *dns_servers;
	struct tls_ctx *tls; /* made at the first https call unless a CA file was given */
	const char *ca_file;
	uint8_t *rbuf, *own_rbuf;
	size_t rbuf_size;
	unsigned per_host;
	uint64_t idle_ms;
	struct loop_timer start_timer;   /* hands waiting calls to connections */
	struct loop_timer timeout_timer; /* the earliest deadline of any connection */
	struct list_node pools;          /* upstream_pool.link */
	struct list_node reqs;           /* upstream_req.link: every call */
	struct list_node conns;          /* upstream_conn.link: every open connection */
	unsigned pending;
	unsigned num_pools;
	uint64_t warned_ms; /* last warning about a URL that cannot be called */
	bool closing;
};

/* One backend: scheme://host:port. */
struct upstream_pool {
	struct list_node link;
	struct list_node waiting; /* upstream_req.wait_link, oldest first */
	struct list_node idle;    /* upstream_conn.idle_link, most recently used first */
	unsigned conns;           /* open connections, any state */
	unsigned calls;           /* calls waiting or on a connection */
	bool https;
	bool admitting; /* inside admit: a nested call leaves the work to it */
	bool queued;    /* on the loop's deferred list (upstream_pool_check) */
	uint16_t port;
	struct upstream *u;
	struct loop_deferred reap;
	struct tls_session *session; /* the last resumable TLS session */
	char host[DNS_MAX_NAME + 1]; /* without IPv6 brackets */
	size_t key_len;
	char key[]; /* "scheme://authority" as written, the lookup key */
};

struct upstream_req {
	struct upstream *u;
	struct upstream_pool *pool;
	struct upstream_conn *conn; /* NULL while waiting */
	struct list_node link;      /* u->reqs */
	struct list_node wait_link; /* pool->waiting, or to itself */
	upstream_done_fn done;
	void *arg;
	uint64_t connect_timeout_ms, timeout_ms;
	uint64_t deadline_ms; /* whole call, set when it gets a connection */
	size_t max_response;
	bool want_headers, head_method, retried;
	long status;
	char *content_type, *hdrs; /* heap, from the final head */
	size_t hdrs_len;
	uint8_t *resp; /* resp_inline or heap */
	size_t resp_len, resp_cap;
	char error[160]; /* why the call failed, when formatted */
	const char *out; /* the whole request: head and body, inside this allocation */
	size_t out_len;
	uint8_t resp_inline[UPSTREAM_RESP_INLINE];
	char data[];
};

enum upstream_conn_state {
	UC_ST_RESOLVING,  /* waiting for c-ares */
	UC_ST_CONNECTING, /* TCP connect under way */
	UC_ST_HANDSHAKE,  /* TLS handshake under way */
	UC_ST_SENDING,    /* writing the request (reading what comes back too) */
	UC_ST_READING,    /* request sent, response under way */
	UC_ST_IDLE,       /* kept alive, no call */
	UC_ST_DEAD,       /* closed, waiting for the loop to free it */
};

struct upstream_conn {
	struct loop_io io;
	struct loop_deferred reap;
	struct upstream *u;
	struct upstream_pool *pool;
	struct list_node link;      /* u->conns */
	struct list_node idle_link; /* pool->idle while idle, else to itself */
	struct upstream_req *req;   /* the call on it, if any */
	struct tls *tls;
	struct dns_query *dq;
	struct dns_addrs *addrs; /* heap, while connecting */
	size_t addr_i;
	uint64_t deadline_ms;         /* 0: none */
	uint64_t connect_deadline_ms; /* while setting up */
	unsigned uses;                /* responses completed on it */
	size_t sent;                  /* bytes of req->out written */
	bool got_bytes;               /* a response byte for the current call */
	uint8_t state;                /* enum upstream_conn_state */
	char *carry;                  /* unparsed response bytes between reads (a head cut short) */
	size_t carry_len;
	struct http1_resp parser;
};

/* ---- upstream_conn.c ---- */

/* Opens a connection of pool for r (resolve, connect, TLS, then send).
 * Failures end in upstream_conn_failed like any other. Returns the
 * connection, or NULL (no memory or no descriptor): r is untouched. */
struct upstream_conn *upstream_conn_open(struct upstream_pool *pool, struct upstream_req *r);

/* Puts r on idle connection c and writes the request. */
void upstream_conn_send(struct upstream_conn *c, struct upstream_req *r);

/* Closes c (its call, if any, must have been taken off first). */
void upstream_conn_close(struct upstream_conn *c);

/* The timeout sweep: c's deadline has passed. */
void upstream_conn_expired(struct upstream_conn *c);

/* Sets c's deadline and moves the sweep timer earlier when needed. */
void upstream_conn_set_deadline(struct upstream_conn *c, uint64_t deadline_ms);

/* ---- upstream.c, called by upstream_conn.c ---- */

/* c's call is complete (status and body in r); keep: c may carry another. */
void upstream_call_complete(struct upstream_conn *c, bool keep);

/* c failed (why: static text or r's buffer). retry: nothing of a response
 * arrived on a connection that had served calls before, so the backend may
 * have closed it while idle: the call goes once more on a new connection. */
void upstream_call_failed(struct upstream_conn *c, const char *why, bool retry);

/* Queues pool's free (after the loop's batch) when it has neither calls
 * nor connections; a pool used again before then stays. */
void upstream_pool_check(struct upstream_pool *pool);

/* The TLS context, made on first use; NULL with *why. */
struct tls_ctx *upstream_tls(struct upstream *u, const char **why);
/* The resolver, made on first use; NULL with *why set when c-ares fails. */
struct dns *upstream_dns(struct upstream *u, const char **why);

#endif
