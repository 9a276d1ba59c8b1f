/* upstream.c — backend calls: pools of kept-alive connections per backend
 * (scheme://host:port), the FIFO of calls waiting for one, the whole-call
 * and idle deadlines, and the done callbacks. One connection's I/O is
 * upstream_conn.c's; the request bytes are laid out by upstream_req.c.
 *
 * A call waits in its pool until the end of the loop pass (the start
 * timer), then takes the most recently used idle connection, or a new one
 * while the pool has fewer than --backend-connections; else it waits, in
 * order, so a stalled backend holds up only its own calls. A call that
 * fails before any response byte on a connection that served calls before
 * is tried once more on a new connection (RFC 9112 §9.3.1: the server may
 * close an idle connection at any time; a client may retry then).
 *
 * Deadlines: one loop timer for all connections, armed at the earliest
 * one; when it fires a sweep over the open connections ends those due
 * (connect, whole call, idle) and re-arms it.
 *
 * Must never: block, call done from inside upstream_start, or call done
 * twice.
 */
#include "upstream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "log.h"
#include "upstream_int.h"
#include "upstream_req.h"

#define DEFAULT_IDLE_MS 4000
#define DNS_CACHE_ENTRIES 64
#define DNS_MAX_TTL_S 300
#define OWN_RBUF_SIZE (64 * 1024)
/* Pools without calls or connections are kept for their TLS session (the
 * next handshake resumes it) while there are at most this many pools. */
#define KEEP_POOLS 64

/* ---- finishing calls ----------------------------------------------------------- */

static void req_free(struct upstream_req *r)
{
	if (r->resp != r->resp_inline)
		free(r->resp);
	free(r->content_type);
	free(r->hdrs);
	free(r);
}

/* Reports r (why: NULL for an answer) and frees it. */
static void finish(struct upstream_req *r, const char *why)
{
	struct upstream_result res = {0};

	list_remove(&r->link);
	list_remove(&r->wait_link);
	r->u->pending--;
	r->pool->calls--;
	if (why) {
		res.error = why;
	} else {
		res.status = r->status;
		res.content_type = r->content_type;
		res.body = r->resp;
		res.body_len = r->resp_len;
		res.headers = r->hdrs;
		res.headers_len = r->hdrs ? r->hdrs_len : 0;
	}
	if (r->done)
		r->done(r->arg, &res);
	req_free(r);
}

static void pool_free(struct upstream_pool *pool)
{
	pool->u->num_pools--;
	list_remove(&pool->link);
	tls_session_drop(pool->session);
	free(pool);
}

static void pool_reap(struct loop_deferred *d)
{
	struct upstream_pool *pool =
	    (struct upstream_pool *)((char *)d - offsetof(struct upstream_pool, reap));

	pool->queued = false;
	if (!pool->calls && !pool->conns && !(pool->session && pool->u->num_pools <= KEEP_POOLS))
		pool_free(pool);
}

void upstream_pool_check(struct upstream_pool *pool)
{
	if (pool->calls || pool->conns || pool->queued)
		return;
	pool->queued = true;
	loop_defer_free(pool->u->loop, &pool->reap, pool_reap);
}

/* Gives waiting calls connections while there are some to give. A nested
 * call (a call that failed at once, whose done started another) leaves the
 * work to the outer one, so the stack stays flat. */
static void admit(struct upstream_pool *pool)
{
	struct upstream *u = pool->u;

	if (pool->admitting)
		return;
	pool->admitting = true;
	while (!list_empty(&pool->waiting) && !u->closing) {
		struct upstream_req *r =
		    list_entry(pool->waiting.next, struct upstream_req, wait_link);
		bool idle = !list_empty(&pool->idle);

		if (!idle && pool->conns >= u->per_host)
			break;
		list_remove(&r->wait_link);
		r->deadline_ms = u->loop->now_ms + (r->timeout_ms ? r->timeout_ms : 1);
		if (idle)
			upstream_conn_send(
			    list_entry(pool->idle.next, struct upstream_conn, idle_link), r);
		else if (!upstream_conn_open(pool, r))
			finish(r, "out of memory opening a backend connection");
	}
	pool->admitting = false;
	upstream_pool_check(pool);
}

void upstream_call_complete(struct upstream_conn *c, bool keep)
{
	struct upstream_req *r = c->req;
	struct upstream_pool *pool = c->pool;
	struct upstream *u = c->u;

	c->req = NULL;
	r->conn = NULL;
	c->uses++;
	if (keep && !u->closing) {
		c->state = UC_ST_IDLE;
		list_insert_head(&pool->idle, &c->idle_link);
		upstream_conn_set_deadline(c, u->loop->now_ms + u->idle_ms);
	} else {
		upstream_conn_close(c);
	}
	finish(r, NULL);
	admit(pool);
}

void upstream_call_failed(struct upstream_conn *c, const char *why, bool retry)
{
	struct upstream_req *r = c->req;
	struct upstream_pool *pool = c->pool;

	c->req = NULL;
	r->conn = NULL;
	upstream_conn_close(c);
	if (retry && !r->retried && !r->u->closing) {
		log_debug("backend %.*s: %s on a kept-alive connection; trying a new one",
		          (int)pool->key_len, pool->key, why);
		r->retried = true;
		if (upstream_conn_open(pool, r))
			return;
		why = "out of memory opening a backend connection";
	}
	finish(r, why);
	admit(pool);
}

/* ---- deadlines ------------------------------------------------------------------- */

static void on_timeout_timer(struct loop_timer *t)
{
	struct upstream *u =
	    (struct upstream *)((char *)t - offsetof(struct upstream, timeout_timer));
	uint64_t now = u->loop->now_ms, next = 0;
	struct list_node due, *n, *tmp;

	/* Due connections move to a list of their own first: ending one may
	 * close or reuse others, which a walk over u->conns would trip on. */
	list_init(&due);
	list_for_each_safe(n, tmp, &u->conns)
	{
		struct upstream_conn *c = list_entry(n, struct upstream_conn, link);

		if (c->deadline_ms && c->deadline_ms <= now) {
			list_remove(&c->link);
			list_insert_tail(&due, &c->link);
		}
	}
	while (!list_empty(&due)) {
		struct upstream_conn *c = list_entry(due.next, struct upstream_conn, link);

		list_remove(&c->link);
		list_insert_tail(&u->conns, &c->link);
		upstream_conn_expired(c);
	}
	for (n = u->conns.next; n != &u->conns; n = n->next) {
		struct upstream_conn *c = list_entry(n, struct upstream_conn, link);

		if (c->deadline_ms && (!next || c->deadline_ms < next))
			next = c->deadline_ms;
	}
	if (next && (!t->armed || next < t->deadline_ms))
		loop_timer_arm(u->loop, t, next);
}

static void on_start_timer(struct loop_timer *t)
{
	struct upstream *u =
	    (struct upstream *)((char *)t - offsetof(struct upstream, start_timer));
	struct list_node *n, *tmp;

	/* admit frees no pool (only the loop's reap does): the walk is safe */
	list_for_each_safe(n, tmp, &u->pools) admit(list_entry(n, struct upstream_pool, link));
}

/* ---- starting calls ----------------------------------------------------------------- */

static struct upstream_pool *pool_of(struct upstream *u, const char *url,
                                     const struct upstream_url *p)
{
	struct upstream_pool *pool;
	struct list_node *n;

	for (n = u->pools.next; n != &u->pools; n = n->next) {
		pool = list_entry(n, struct upstream_pool, link);
		if (pool->key_len == p->key_len && !memcmp(pool->key, url, p->key_len))
			return pool;
	}
	pool = calloc(1, sizeof *pool + p->key_len + 1);
	if (!pool)
		return NULL;
	u->num_pools++;
	pool->u = u;
	pool->https = p->https;
	pool->port = p->port;
	memcpy(pool->host, p->host, p->host_len);
	pool->key_len = p->key_len;
	memcpy(pool->key, url, p->key_len);
	list_init(&pool->waiting);
	list_init(&pool->idle);
	list_insert_tail(&u->pools, &pool->link);
	return pool;
}

struct upstream_req *upstream_start(struct upstream *u, const struct upstream_call *call,
                                    upstream_done_fn done, void *arg)
{
	struct upstream_url url;
	struct upstream_req *r;
	const char *why;
	char stack[2048];
	long head;

	if (u->closing)
		return NULL;
	if (upstream_url_parse(call->url, &url, &why) < 0) {
		/* a URL filled from client input may be bad per client: one
		 * line a second at most */
		if (!u->warned_ms || u->loop->now_ms - u->warned_ms >= 1000) {
			log_warn("backend call to %.200s: %s", call->url, why);
			u->warned_ms = u->loop->now_ms ? u->loop->now_ms : 1;
		}
		return NULL;
	}
	/* One pass into the stack when the head fits (a message's is ~300 B):
	 * formatting it twice, once to size it, cost ~1 800 instructions per
	 * call (callgrind). A longer head gets the second pass. */
	head = upstream_req_head(&url, call, stack, sizeof stack);
	if (head < 0 || !(r = malloc(sizeof *r + (size_t)head + call->body_len)))
		return NULL;
	memset(r, 0, sizeof *r);
	if ((size_t)head <= sizeof stack)
		memcpy(r->data, stack, (size_t)head);
	else
		upstream_req_head(&url, call, r->data, (size_t)head);
	if (call->body_len)
		memcpy(r->data + head, call->body, call->body_len);
	r->out = r->data;
	r->out_len = (size_t)head + call->body_len;
	if (!(r->pool = pool_of(u, call->url, &url))) {
		free(r);
		return NULL;
	}
	r->u = u;
	r->done = done;
	r->arg = arg;
	r->connect_timeout_ms = call->connect_timeout_ms;
	r->timeout_ms = call->timeout_ms;
	r->max_response = call->max_response;
	r->want_headers = call->want_headers;
	r->head_method = !strcmp(call->method, "HEAD");
	r->resp = r->resp_inline;
	r->resp_cap = sizeof r->resp_inline;
	r->pool->calls++;
	list_insert_tail(&r->pool->waiting, &r->wait_link);
	list_insert_tail(&u->reqs, &r->link);
	u->pending++;
	if (!u->start_timer.armed)
		loop_timer_arm(u->loop, &u->start_timer, u->loop->now_ms);
	return r;
}

void upstream_detach(struct upstream_req *r)
{
	r->done = NULL;
	r->arg = NULL;
}

unsigned upstream_pending(const struct upstream *u)
{
	return u ? u->pending : 0;
}

void upstream_each_backend(const struct upstream *u,
			   void (*fn)(void *arg, const char *key, unsigned in_flight,
				      unsigned waiting),
			   void *arg)
{
	for (const struct list_node *n = u->pools.next; n != &u->pools; n = n->next) {
		const struct upstream_pool *p = list_entry(n, struct upstream_pool, link);
		unsigned waiting = 0;

		/* a scrape walks the waiting line: no counter on the hot path */
		for (const struct list_node *w = p->waiting.next; w != &p->waiting; w = w->next)
			waiting++;
		fn(arg, p->key, p->calls - waiting, waiting);
	}
}

/* ---- life cycle ------------------------------------------------------------------- */

struct tls_ctx *upstream_tls(struct upstream *u, const char **why)
{
	if (!u->tls)
		u->tls = tls_client_ctx_new(u->ca_file, why);
	return u->tls;
}

/* c-ares' channel (resolv.conf read, servers and state allocated: about
 * 100 KiB of heap and library pages) waits for the first backend
 * connection: a gateway without integrations never needs it. */
struct dns *upstream_dns(struct upstream *u, const char **why)
{
	struct dns_config dc = {.servers = u->dns_servers,
	                        .cache_entries = DNS_CACHE_ENTRIES,
	                        .max_ttl_s = DNS_MAX_TTL_S};

	if (!u->dns)
		u->dns = dns_new(u->loop, &dc, why);
	return u->dns;
}

struct upstream *upstream_new_opts(struct loop *loop, const struct upstream_opts *o,
                                   const char **why)
{
	struct upstream *u = calloc(1, sizeof *u);

	*why = "out of memory";
	if (!u)
		return NULL;
	u->loop = loop;
	u->per_host = o->per_host ? o->per_host : 1;
	u->idle_ms = o->idle_timeout_ms ? o->idle_timeout_ms : DEFAULT_IDLE_MS;
	u->ca_file = o->ca_file && *o->ca_file ? o->ca_file : NULL;
	u->rbuf = o->rbuf;
	u->rbuf_size = o->rbuf_size;
	if (!u->rbuf && !(u->rbuf = u->own_rbuf = malloc(u->rbuf_size = OWN_RBUF_SIZE)))
		goto out_free;
	list_init(&u->pools);
	list_init(&u->reqs);
	list_init(&u->conns);
	u->start_timer.on_fire = on_start_timer;
	u->timeout_timer.on_fire = on_timeout_timer;
	/* A CA file is checked at start-up; the system store alone is
	 * loaded at the first https call (it costs memory and time). */
	if (u->ca_file && !upstream_tls(u, why))
		goto out_free;
	u->dns_servers = o->dns_servers;
	/* Servers given explicitly are checked at start-up. */
	if (u->dns_servers && !upstream_dns(u, why))
		goto out_free;
	*why = NULL;
	return u;
out_free:
	tls_ctx_free(u->tls);
	free(u->own_rbuf);
	free(u);
	return NULL;
}

struct upstream *upstream_new(struct loop *loop, unsigned per_host)
{
	struct upstream_opts o = {.per_host = per_host};
	const char *why;

	return upstream_new_opts(loop, &o, &why);
}

void upstream_free(struct upstream *u)
{
	if (!u)
		return;
	/* Every caller hears of its call, so nothing it owns leaks; calls
	 * started from these callbacks are refused. */
	u->closing = true;
	while (!list_empty(&u->reqs)) {
		struct upstream_req *r = list_entry(u->reqs.next, struct upstream_req, link);

		if (r->conn) {
			r->conn->req = NULL;
			upstream_conn_close(r->conn);
		}
		finish(r, "gateway stopped");
	}
	while (!list_empty(&u->conns))
		upstream_conn_close(list_entry(u->conns.next, struct upstream_conn, link));
	loop_timer_disarm(u->loop, &u->start_timer);
	loop_timer_disarm(u->loop, &u->timeout_timer);
	loop_reap(u->loop); /* the connections and pools just queued */
	while (!list_empty(&u->pools))
		pool_free(list_entry(u->pools.next, struct upstream_pool, link));
	dns_free(u->dns);
	tls_ctx_free(u->tls);
	free(u->own_rbuf);
	free(u);
}
