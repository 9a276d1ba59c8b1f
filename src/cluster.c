/* cluster.c — cluster mode on Redis (cluster.h). The owner of a connection
 * is in its id: the first CLUSTER_TAG_LEN characters are the tag of the
 * node that issued it. An id with this node's tag goes to registry_local,
 * inline; any other goes, as one EVAL that checks the owner's lease and
 * PUBLISHes the request to its inbox, over the command link; the owner runs
 * registry_local on it and PUBLISHes the reply to our inbox, which the
 * subscriber link delivers. Every remote call has a deadline (a loop timer
 * over a FIFO: every call gets the same timeout, so the oldest expires
 * first) and a slot out of a table sized at start (--cluster-max-calls).
 * Never blocks; Redis being down only makes remote calls UNAVAILABLE.
 */
#include "cluster.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis.h>

#include "api.h"
#include "cluster_fan.h"
#include "cluster_list.h"
#include "cluster_msg.h"
#include "conn.h"
#include "ctx.h"
#include "err.h"
#include "gw_api.h"
#include "jsonesc.h"
#include "list.h"
#include "log.h"
#include "metrics.h"
#include "net.h"
#include "pagetok.h"
#include "redis_link.h"
#include "registry.h"
#include "utf8.h"
#include "ws.h"

#define TICK_MS 1000       /* lease refresh and inbox probe */
#define LEASE_MS 5000      /* a node silent this long is gone */
#define PROBE_DEAD_MS 3500 /* no probe back this long: resubscribe */
#define LINK_CMDS 32768    /* commands awaiting Redis' reply, at least */
#define LINK_MAX_IN (8u << 20)

/* Both keys first, then the message: one round trip that cannot publish
 * to a node whose lease is gone (-1), and tells how many received it. */
static const char publish_lua[] = "if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end "
                                  "return redis.call('PUBLISH', KEYS[2], ARGV[1])";
/* Refresh only a lease that is absent or ours (its value starts with our
 * nonce): a node that came back after its lease expired and was taken must
 * not steal it back. */
static const char refresh_lua[] =
    "local v = redis.call('GET', KEYS[1]) "
    "if v and string.sub(v, 1, string.len(ARGV[1])) ~= ARGV[1] then return 0 end "
    "redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1";

struct rcall {
	struct cluster *cl;
	struct api_call *call; /* NULL: slot free */
	uint64_t call_id;
	uint64_t deadline_ms;  /* monotonic */
	struct list_node link; /* cluster.pending, in deadline order */
	char tag[CLUSTER_TAG_LEN + 1];
	char id[CONN_ID_LEN + 1]; /* for messages */
	bool eval_pending;        /* its EVAL not answered yet: the slot stays reserved */
	uint8_t op;               /* enum cluster_op, for the metrics */
	uint64_t start_ns;        /* loop time at the call's start, for the metrics */
};

struct cluster {
	struct server *srv;
	struct redis_url url;
	struct redis_link *cmd, *sub;
	char tag[CLUSTER_TAG_LEN + 1];
	char key[32], inbox[32];
	char nonce_prefix[48]; /* {"node":"<nonce>" — the lease value starts so */
	bool registered;       /* our lease is in Redis (as far as we know) */
	bool ever_registered;  /* SET NX once; after that the compare-on-nonce script */
	bool registering;      /* a SET NX in flight: a second would find our own lease */
	uint64_t sub_up_ms;    /* when the subscriber last came up */
	char *ua_buf;          /* a remote Get's User-Agent, during its done */
	struct loop_timer tick, deadline;
	struct rcall *slots;
	unsigned *free_idx, num_free;
	unsigned max_calls; /* --cluster-max-calls: the slots */
	struct list_node pending;
	uint64_t seq;
	uint64_t probe_since; /* monotonic ms of the oldest probe not seen back; 0: none */
	uint8_t *scratch;
	size_t scratch_cap;
	unsigned in_flight; /* calls in cl->pending */
	struct metrics_cluster m;

	struct cluster_fan *fan;   /* wsgw.v1 across the nodes (cluster_fan.c) */
	struct cluster_list *list; /* ListConnections across the nodes (cluster_list.c) */
};

static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";

static bool is_tag(const char *p, size_t n)
{
	if (n != CLUSTER_TAG_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!memchr(b32, p[i], 32) || !p[i])
			return false;
	return true;
}

static uint64_t wall_ms(const struct server *srv)
{
	return (uint64_t)(srv->loop.now_wall_ns / 1000000);
}

/* For tests only (README "Running several nodes"): the first tag to try,
 * so a test can make it collide with a key it created. A random tag has 2^30
 * values; no test could make one collide otherwise. */
#define TAG_ENV_FOR_TESTS "WSGW_CLUSTER_TAG_FOR_TESTS"

static int pick_tag(struct cluster *cl)
{
	const char *fixed = getenv(TAG_ENV_FOR_TESTS);
	uint8_t r[CLUSTER_TAG_LEN];

	if (fixed && !cl->tag[0] && is_tag(fixed, strlen(fixed))) {
		log_warn("cluster: node tag %s taken from %s (for tests only)", fixed,
		         TAG_ENV_FOR_TESTS);
		memcpy(cl->tag, fixed, CLUSTER_TAG_LEN);
	} else {
		if (server_random(cl->srv, r, sizeof r) < 0)
			return ERR_SYS;
		for (int i = 0; i < CLUSTER_TAG_LEN; i++)
			cl->tag[i] = b32[r[i] & 31];
	}
	cl->tag[CLUSTER_TAG_LEN] = '\0';
	memcpy(cl->srv->node_tag, cl->tag, sizeof cl->tag);
	snprintf(cl->key, sizeof cl->key, "wsgw:node:%s", cl->tag);
	snprintf(cl->inbox, sizeof cl->inbox, "wsgw:inbox:%s", cl->tag);
	return 0;
}

/* ---- remote calls: the caller's side ------------------------------------ */

static enum metrics_cluster_outcome outcome_of(enum api_code code)
{
	switch (code) {
	case API_OK:
		return METRICS_CL_OK;
	case API_NOT_FOUND:
		return METRICS_CL_NOT_FOUND;
	case API_INVALID_ARGUMENT:
		return METRICS_CL_INVALID_ARGUMENT;
	case API_RESOURCE_EXHAUSTED:
		return METRICS_CL_RESOURCE_EXHAUSTED;
	case API_UNAVAILABLE:
		return METRICS_CL_UNAVAILABLE;
	default:
		return METRICS_CL_INTERNAL;
	}
}

/* One remote call of op (enum cluster_op) ended: two increments and a
 * bucket search. */
static void count(struct cluster *cl, unsigned op, enum metrics_cluster_outcome out,
                  uint64_t start_ns)
{
	unsigned o = op - CLUSTER_OP_GET;

	if (o >= METRICS_CL_OP_COUNT)
		return;
	cl->m.calls[o][out]++;
	hist_observe(&cl->m.latency[o], cl->srv->loop.now_ns - start_ns);
}

/* A call answered before it left this node. */
static void fail_now(struct cluster *cl, unsigned op, struct api_call *call)
{
	count(cl, op, outcome_of(call->st.code), cl->srv->loop.now_ns);
	api_call_complete(call);
}

static struct rcall *slot_of(struct cluster *cl, uint64_t call_id)
{
	struct rcall *rc = &cl->slots[call_id % cl->max_calls];

	return rc->call && rc->call_id == call_id ? rc : NULL;
}

static void slot_free(struct cluster *cl, struct rcall *rc)
{
	list_remove(&rc->link);
	rc->call = NULL;
	cl->in_flight--;
	if (!rc->eval_pending)
		cl->free_idx[cl->num_free++] = (unsigned)(rc - cl->slots);
}

static void arm_deadline(struct cluster *cl)
{
	if (list_empty(&cl->pending))
		loop_timer_disarm(&cl->srv->loop, &cl->deadline);
	else
		loop_timer_arm(&cl->srv->loop, &cl->deadline,
		               list_entry(cl->pending.next, struct rcall, link)->deadline_ms);
}

/* Completes rc's call with code and message and frees the slot; counts it
 * as out. */
static void finish_as(struct cluster *cl, struct rcall *rc, enum metrics_cluster_outcome out,
                      enum api_code code, const char *fmt, const char *arg)
{
	struct api_call *call = rc->call;

	count(cl, rc->op, out, rc->start_ns);
	slot_free(cl, rc);
	arm_deadline(cl);
	api_fail(&call->st, code, fmt, arg);
	api_call_complete(call);
}

static void finish(struct cluster *cl, struct rcall *rc, enum api_code code, const char *fmt,
                   const char *arg)
{
	finish_as(cl, rc, outcome_of(code), code, fmt, arg);
}

static void on_cancel(struct api_call *call)
{
	struct rcall *rc = call->reg_data;
	struct cluster *cl = rc->cl;

	count(cl, rc->op, METRICS_CL_CANCELLED, rc->start_ns);
	slot_free(cl, rc);
	arm_deadline(cl);
}

static void fail_all(struct cluster *cl, const char *why)
{
	while (!list_empty(&cl->pending))
		finish(cl, list_entry(cl->pending.next, struct rcall, link), API_UNAVAILABLE,
		       "cluster: %s; the call's outcome is unknown", why);
}

static void on_deadline(struct loop_timer *t)
{
	struct cluster *cl = list_entry(t, struct cluster, deadline);

	while (!list_empty(&cl->pending)) {
		struct rcall *rc = list_entry(cl->pending.next, struct rcall, link);

		if (rc->deadline_ms > cl->srv->loop.now_ms)
			break;
		finish_as(cl, rc, METRICS_CL_DEADLINE, API_UNAVAILABLE,
		          "node %s did not answer within --cluster-call-timeout", rc->tag);
	}
	arm_deadline(cl);
}

/* The EVAL's answer: -1 no lease, 0 nobody subscribed, n received. */
static void on_published(void *arg, const redisReply *r)
{
	struct rcall *rc = arg;
	struct cluster *cl = rc->cl;

	rc->eval_pending = false;
	if (!rc->call) { /* answered, timed out or cancelled meanwhile */
		cl->free_idx[cl->num_free++] = (unsigned)(rc - cl->slots);
		return;
	}
	if (!r)
		finish(cl, rc, API_UNAVAILABLE, "cluster: the link to Redis failed (%s)",
		       "call outcome unknown");
	else if (r->type == REDIS_REPLY_INTEGER && r->integer < 0)
		finish(cl, rc, API_NOT_FOUND, "connection %s not found (no live node has its tag)",
		       rc->id);
	else if (r->type == REDIS_REPLY_INTEGER && r->integer == 0)
		finish(cl, rc, API_UNAVAILABLE, "node %s holds a lease but is not listening",
		       rc->tag);
	else if (r->type != REDIS_REPLY_INTEGER)
		finish(cl, rc, API_UNAVAILABLE, "cluster: Redis refused the call (%s)",
		       r->type == REDIS_REPLY_ERROR && r->str ? r->str : "unexpected reply");
}

/* Grows the scratch buffer to n bytes. */
static uint8_t *scratch(struct cluster *cl, size_t n)
{
	if (n > cl->scratch_cap) {
		uint8_t *p = realloc(cl->scratch, n);

		if (!p)
			return NULL;
		cl->scratch = p;
		cl->scratch_cap = n;
	}
	return cl->scratch;
}

/* Starts a remote call: the request goes to the owner's inbox. */
static void remote(struct server *srv, struct cluster_request *q, struct api_call *call)
{
	struct cluster *cl = srv->cluster;
	char key[32], inbox[32];
	const char *argv[6];
	size_t lens[6];
	struct rcall *rc;
	uint8_t *buf;
	int n, err;

	if (!redis_link_is_up(cl->cmd) || !redis_link_is_up(cl->sub)) {
		api_fail(
		    &call->st, API_UNAVAILABLE,
		    "cluster: the link to Redis is down; connection %.*s is held by another node",
		    (int)q->id.len, (const char *)q->id.p);
		fail_now(cl, q->op, call);
		return;
	}
	if (cl->num_free == 0) {
		api_fail(&call->st, API_RESOURCE_EXHAUSTED,
		         "cluster: %u remote calls already in flight (--cluster-max-calls)",
		         cl->max_calls);
		fail_now(cl, q->op, call);
		return;
	}
	rc = &cl->slots[cl->free_idx[cl->num_free - 1]];
	/* The slot in the low part, a sequence above it: slot_of finds the slot
	 * by the remainder and accepts only the exact id, so a late reply for a
	 * slot reused since is ignored. Wraps after 2^64 / max_calls calls. */
	q->call_id = ++cl->seq * cl->max_calls + (uint64_t)(rc - cl->slots);
	q->caller = (struct cluster_bytes){(const uint8_t *)cl->tag, CLUSTER_TAG_LEN};
	q->deadline_ms = wall_ms(srv) + srv->cfg->cluster_call_timeout_ms;
	buf = scratch(cl, cluster_request_size(q));
	n = buf ? cluster_request_encode(q, buf, cluster_request_size(q)) : ERR_NOMEM;
	if (n < 0) {
		api_fail(&call->st, API_INTERNAL, "cluster: cannot encode the request");
		fail_now(cl, q->op, call);
		return;
	}
	/* Built, not printed: this runs for every remote call. */
	memcpy(key, "wsgw:node:", 10);
	memcpy(key + 10, q->id.p, CLUSTER_TAG_LEN);
	memcpy(inbox, "wsgw:inbox:", 11);
	memcpy(inbox + 11, q->id.p, CLUSTER_TAG_LEN);
	argv[0] = "EVAL", argv[1] = publish_lua, argv[2] = "2", argv[3] = key, argv[4] = inbox;
	argv[5] = (const char *)buf;
	lens[0] = 4, lens[1] = sizeof publish_lua - 1, lens[2] = 1;
	lens[3] = 10 + CLUSTER_TAG_LEN, lens[4] = 11 + CLUSTER_TAG_LEN;
	lens[5] = (size_t)n;
	err = redis_link_cmd(cl->cmd, on_published, rc, 6, argv, lens);
	if (err < 0) {
		api_fail(&call->st, err == ERR_LIMIT ? API_RESOURCE_EXHAUSTED : API_UNAVAILABLE,
		         "cluster: %s",
		         err == ERR_LIMIT ? "too many bytes queued for Redis (--cluster-max-queued)"
		                          : "the link to Redis is down");
		fail_now(cl, q->op, call);
		return;
	}
	cl->num_free--;
	rc->call = call;
	rc->call_id = q->call_id;
	rc->eval_pending = true;
	rc->op = q->op;
	rc->start_ns = srv->loop.now_ns;
	cl->in_flight++;
	rc->deadline_ms = srv->loop.now_ms + srv->cfg->cluster_call_timeout_ms;
	memcpy(rc->tag, q->id.p, CLUSTER_TAG_LEN);
	rc->tag[CLUSTER_TAG_LEN] = '\0';
	memcpy(rc->id, q->id.p, CONN_ID_LEN);
	rc->id[CONN_ID_LEN] = '\0';
	list_insert_tail(&cl->pending, &rc->link);
	if (cl->pending.next == &rc->link)
		arm_deadline(cl);
	call->cancel = on_cancel;
	call->reg_data = rc;
}

static size_t copy_text(char *out, size_t cap, struct cluster_bytes b)
{
	size_t n = b.len < cap - 1 ? b.len : cap - 1;

	memcpy(out, b.p, n);
	out[n] = '\0';
	return n;
}

static bool known_code(unsigned code)
{
	return code == API_OK || code == API_INVALID_ARGUMENT || code == API_NOT_FOUND ||
	       code == API_RESOURCE_EXHAUSTED || code == API_UNAVAILABLE || code == API_INTERNAL;
}

/* The owner's answer to one of our calls. */
static void on_reply(struct cluster *cl, const struct cluster_reply *a)
{
	struct rcall *rc = slot_of(cl, a->call_id);
	struct api_call *call;
	char id[CLUSTER_ID_MAX + 1], gw[256], *ua;

	if (a->has_counts) { /* a fan-out's answer */
		cluster_fan_on_reply(cl->fan, a);
		return;
	}
	if (a->has_page) { /* a ListConnections page */
		cluster_list_on_reply(cl->list, a);
		return;
	}
	if (!rc)
		return; /* timed out or cancelled: too late */
	call = rc->call;
	slot_free(cl, rc);
	arm_deadline(cl);
	call->st.code = known_code(a->code) ? (enum api_code)a->code : API_INTERNAL;
	copy_text(call->st.msg_buf, sizeof call->st.msg_buf, a->message);
	call->st.message = call->st.msg_buf;
	/* Not the scratch buffer: done may start another remote call. */
	if (!cl->ua_buf)
		cl->ua_buf = malloc(CLUSTER_TEXT_MAX + 1);
	ua = cl->ua_buf;
	if (call->st.code == API_OK && a->has_conn && ua) {
		copy_text(id, sizeof id, a->id);
		copy_text(gw, sizeof gw, a->gateway_id);
		copy_text(ua, a->user_agent.len + 1, a->user_agent);
		copy_text(call->conn.source_ip, sizeof call->conn.source_ip, a->source_ip);
		call->conn.id = id;
		call->conn.gateway_id = gw;
		call->conn.user_agent = ua;
		call->conn.connected_at_ns = a->connected_at_ns;
		call->conn.last_active_at_ns = a->last_active_at_ns;
	} else if (call->st.code == API_OK && a->has_conn) {
		api_fail(&call->st, API_INTERNAL, "cluster: out of memory");
	}
	count(cl, rc->op, outcome_of(call->st.code), rc->start_ns);
	api_call_complete(call);
}

/* ---- remote calls: the owner's side ------------------------------------- */

struct owner_call {
	struct api_call call;
	struct cluster *cl;
	const struct cluster_request *q;
};

/* registry_local completes inline: publish its answer to the caller. */
static void owner_done(struct api_call *call)
{
	struct owner_call *oc = (struct owner_call *)call;
	struct cluster *cl = oc->cl;
	struct cluster_reply a = {0};
	char chan[32];
	const char *argv[3];
	size_t lens[3];
	uint8_t *buf;
	int n;

	a.call_id = oc->q->call_id;
	a.code = (uint8_t)call->st.code;
	a.message.p = (const uint8_t *)call->st.message;
	a.message.len = strnlen(call->st.message, CLUSTER_MESSAGE_MAX);
	if (call->st.code == API_OK && oc->q->op == CLUSTER_OP_GET) {
		const struct api_connection *c = &call->conn;

		a.has_conn = true;
		a.id = (struct cluster_bytes){(const uint8_t *)c->id, strlen(c->id)};
		a.gateway_id =
		    (struct cluster_bytes){(const uint8_t *)c->gateway_id, strlen(c->gateway_id)};
		a.source_ip =
		    (struct cluster_bytes){(const uint8_t *)c->source_ip, strlen(c->source_ip)};
		a.user_agent = (struct cluster_bytes){(const uint8_t *)c->user_agent,
		                                      strnlen(c->user_agent, CLUSTER_TEXT_MAX)};
		a.connected_at_ns = c->connected_at_ns;
		a.last_active_at_ns = c->last_active_at_ns;
	}
	buf = scratch(cl, cluster_reply_size(&a));
	n = buf ? cluster_reply_encode(&a, buf, cluster_reply_size(&a)) : ERR_NOMEM;
	if (n < 0)
		return; /* the caller times out: UNAVAILABLE */
	/* caller is a tag (on_request checked); built, not printed. */
	memcpy(chan, "wsgw:inbox:", 11);
	memcpy(chan + 11, oc->q->caller.p, CLUSTER_TAG_LEN);
	chan[11 + CLUSTER_TAG_LEN] = '\0';
	argv[0] = "PUBLISH", argv[1] = chan, argv[2] = (const char *)buf;
	lens[0] = 7, lens[1] = 11 + CLUSTER_TAG_LEN, lens[2] = (size_t)n;
	if (redis_link_cmd(cl->cmd, NULL, NULL, 3, argv, lens) < 0)
		log_debug("cluster: reply to node %s not queued", chan + 11);
}

/* A request for one of our connections (or our own probe). */
static void on_request(struct cluster *cl, const struct cluster_request *q)
{
	struct server *srv = cl->srv;
	struct owner_call oc = {.cl = cl, .q = q};
	char reason[CLUSTER_REASON_MAX + 1];

	if (q->op == CLUSTER_OP_PROBE) {
		if (q->caller.len == CLUSTER_TAG_LEN &&
		    !memcmp(q->caller.p, cl->tag, CLUSTER_TAG_LEN))
			cl->probe_since = 0;
		return;
	}
	if (!is_tag((const char *)q->caller.p, q->caller.len))
		return;
	/* Not ours: our subscriber may still listen on a tag we gave up (it
	 * was taken) until it resubscribes; the owner answers, not us. */
	if (q->op != CLUSTER_OP_FAN && /* to every node: no id */
	    (q->id.len < CLUSTER_TAG_LEN || memcmp(q->id.p, cl->tag, CLUSTER_TAG_LEN)))
		return;
	/* The caller gave up at the deadline: running the call now would
	 * deliver a Send it has already reported UNAVAILABLE. */
	if (wall_ms(srv) > q->deadline_ms) {
		cl->m.dropped_late++;
		log_debug("cluster: dropped a request from node %.*s past its deadline",
		          (int)q->caller.len, (const char *)q->caller.p);
		return;
	}
	if (q->op == CLUSTER_OP_LIST) {
		cluster_list_on_request(cl->list, q);
		return;
	}
	if (q->op >= CLUSTER_OP_FAN) {
		cluster_fan_on_request(cl->fan, q);
		return;
	}
	oc.call.done = owner_done;
	oc.call.pending = true;
	if (q->op >= CLUSTER_OP_GET && q->op <= CLUSTER_OP_CLOSE)
		cl->m.served[q->op - CLUSTER_OP_GET]++;
	switch (q->op) {
	case CLUSTER_OP_GET:
		registry_local.get(srv, (const char *)q->id.p, q->id.len, &oc.call);
		break;
	case CLUSTER_OP_SEND:
		if (q->opcode != WS_OP_TEXT && q->opcode != WS_OP_BINARY)
			return;
		if (q->opcode == WS_OP_TEXT && !utf8_is_valid(q->data.p, q->data.len))
			return;
		registry_local.send(srv, (const char *)q->id.p, q->id.len, q->opcode, q->data.p,
		                    q->data.len, &oc.call);
		break;
	case CLUSTER_OP_CLOSE:
		if (!utf8_is_valid(q->reason.p, q->reason.len))
			return;
		copy_text(reason, sizeof reason, q->reason);
		/* Disconnect's 1000, or CloseConnection's code (wsgw.v1 rules) */
		if (!gw_close_code_ok(q->close_code))
			return;
		registry_local.close(srv, (const char *)q->id.p, q->id.len, q->close_code, reason,
		                     &oc.call);
		break;
	}
}

static void on_message(void *arg, const char *chan, size_t chan_len, const char *data, size_t len)
{
	struct cluster *cl = arg;
	struct cluster_request q;
	struct cluster_reply a;

	(void)chan, (void)chan_len;
	if (len && data[0] == CLUSTER_MSG_REQUEST &&
	    cluster_request_decode((const uint8_t *)data, len, &q) == 0) {
		/* Sends to one client in one read leave in one write (ended
		 * by on_sub_read_done, before any other event). */
		conn_batch_begin(cl->srv);
		on_request(cl, &q);
	}
	else if (len && data[0] == CLUSTER_MSG_REPLY &&
	         cluster_reply_decode((const uint8_t *)data, len, &a) == 0)
		on_reply(cl, &a);
	else
		log_debug("cluster: ignored a malformed message (%zu bytes)", len);
}

static void on_sub_read_done(void *arg)
{
	struct cluster *cl = arg;

	if (cl->srv->cork_batch)
		conn_batch_end(cl->srv);
}

/* ---- the registry -------------------------------------------------------- */

static bool is_ours(const struct cluster *cl, const char *id, size_t id_len)
{
	return id_len < CLUSTER_TAG_LEN || !is_tag(id, CLUSTER_TAG_LEN) ||
	       !memcmp(id, cl->tag, CLUSTER_TAG_LEN);
}

static void c_get(struct server *srv, const char *id, size_t id_len, struct api_call *call)
{
	struct cluster_request q = {.op = CLUSTER_OP_GET};

	if (is_ours(srv->cluster, id, id_len) || id_len != CONN_ID_LEN) {
		registry_local.get(srv, id, id_len, call);
		return;
	}
	q.id = (struct cluster_bytes){(const uint8_t *)id, id_len};
	remote(srv, &q, call);
}

static void c_send(struct server *srv, const char *id, size_t id_len, uint8_t opcode,
                   const uint8_t *data, size_t len, struct api_call *call)
{
	struct cluster_request q = {.op = CLUSTER_OP_SEND, .opcode = opcode};

	if (is_ours(srv->cluster, id, id_len) || id_len != CONN_ID_LEN) {
		registry_local.send(srv, id, id_len, opcode, data, len, call);
		return;
	}
	q.id = (struct cluster_bytes){(const uint8_t *)id, id_len};
	q.data = (struct cluster_bytes){data, len};
	remote(srv, &q, call);
}

static void c_close(struct server *srv, const char *id, size_t id_len, uint16_t code,
                    const char *reason, struct api_call *call)
{
	struct cluster_request q = {.op = CLUSTER_OP_CLOSE, .close_code = code};

	if (is_ours(srv->cluster, id, id_len) || id_len != CONN_ID_LEN) {
		registry_local.close(srv, id, id_len, code, reason, call);
		return;
	}
	q.id = (struct cluster_bytes){(const uint8_t *)id, id_len};
	q.reason = (struct cluster_bytes){(const uint8_t *)reason, strlen(reason)};
	remote(srv, &q, call);
}

static void c_list(struct server *srv, const struct gw_req *req, struct gw_call *call)
{
	cluster_list_start(srv->cluster->list, req, call);
}

static void c_count(struct server *srv, struct gw_call *call)
{
	cluster_fan_count(srv->cluster->fan, call);
}

static void c_send_many(struct server *srv, const struct gw_req *req, uint8_t opcode,
                        struct gw_call *call)
{
	cluster_fan_send_many(srv->cluster->fan, req, opcode, call);
}

/* Join / Leave: to the owner, like Get (cluster_fan.c answers there). */
static void c_member(struct server *srv, const struct gw_req *req, struct gw_call *call, uint8_t op)
{
	struct cluster_request q = {.op = op};

	if (is_ours(srv->cluster, req->id.p, req->id.n) || req->id.n != CONN_ID_LEN) {
		if (op == CLUSTER_OP_JOIN)
			registry_local.join(srv, req, call);
		else
			registry_local.leave(srv, req, call);
		return;
	}
	q.id = (struct cluster_bytes){(const uint8_t *)req->id.p, req->id.n};
	q.group = (struct cluster_bytes){(const uint8_t *)req->group.p, req->group.n};
	remote(srv, &q, &call->api);
}

static void c_join(struct server *srv, const struct gw_req *req, struct gw_call *call)
{
	c_member(srv, req, call, CLUSTER_OP_JOIN);
}

static void c_leave(struct server *srv, const struct gw_req *req, struct gw_call *call)
{
	c_member(srv, req, call, CLUSTER_OP_LEAVE);
}

static void c_fanout(struct server *srv, const struct gw_req *req, uint8_t opcode,
                     struct gw_call *call)
{
	cluster_fan_fanout(srv->cluster->fan, req, opcode, call);
}

static const struct registry_ops registry_cluster = {
    .get = c_get,
    .send = c_send,
    .close = c_close,
    .list = c_list,
    .count = c_count,
    .send_many = c_send_many,
    .join = c_join,
    .leave = c_leave,
    .fanout = c_fanout,
};

/* ---- lease, probe, links ------------------------------------------------- */

static void lease_value(struct cluster *cl, char *out, size_t cap)
{
	snprintf(out, cap, "%s,\"connections\":%u,\"address\":\"%s\"}", cl->nonce_prefix,
	         cl->srv->num_open, cl->srv->cfg->listen.text);
}

static void register_lease(struct cluster *cl);

static void on_registered(void *arg, const redisReply *r)
{
	struct cluster *cl = arg;

	cl->registering = false;
	if (!r || r->type == REDIS_REPLY_ERROR)
		return; /* the next tick retries */
	if (r->type == REDIS_REPLY_STATUS) {
		cl->registered = cl->ever_registered = true;
		log_info("cluster: node %s registered (lease %s)", cl->tag, cl->key);
		return;
	}
	/* nil: another live node holds this tag, or our own: the tick and the
	 * link coming up can both send SET NX before the first answer, and
	 * the second finds the lease the first just took. */
	if (cl->ever_registered)
		return;
	if (cl->srv->stats.accepted == 0) {
		log_warn("cluster: tag %s is taken by another node; picking another", cl->tag);
		if (pick_tag(cl) == 0)
			register_lease(cl);
		/* The subscriber still listens on the old inbox: restart it. */
		redis_link_reset(cl->sub, "node tag changed");
	} else {
		log_error("cluster: tag %s is taken by another node and connections already carry "
		          "it; retrying every second",
		          cl->tag);
	}
}

static void register_lease(struct cluster *cl)
{
	char val[256], px[24];
	const char *argv[6];
	size_t lens[6];

	/* The link came up in the loop pass where the tick fired (a loaded
	 * machine): two SET NX in flight, and the second, finding the first's
	 * lease, would take our own tag for another node's. */
	if (cl->registering)
		return;
	lease_value(cl, val, sizeof val);
	snprintf(px, sizeof px, "%d", LEASE_MS);
	argv[0] = "SET", argv[1] = cl->key, argv[2] = val, argv[3] = "NX", argv[4] = "PX";
	argv[5] = px;
	for (int i = 0; i < 6; i++)
		lens[i] = strlen(argv[i]);
	if (redis_link_cmd(cl->cmd, on_registered, cl, 6, argv, lens) == 0)
		cl->registering = true;
}

static void on_refreshed(void *arg, const redisReply *r)
{
	struct cluster *cl = arg;

	if (!r || r->type != REDIS_REPLY_INTEGER)
		return; /* the next tick retries */
	if (r->integer == 1 && !cl->registered) {
		cl->registered = true;
		log_info("cluster: node %s: lease renewed", cl->tag);
	} else if (r->integer == 0 && (cl->registered || !cl->ever_registered)) {
		log_error("cluster: the lease of tag %s is held by another node (this one was "
		          "silent longer than the lease); retrying every second",
		          cl->tag);
		cl->registered = false;
	}
}

static void refresh_lease(struct cluster *cl)
{
	char val[256], px[24];
	const char *argv[7];
	size_t lens[7];

	lease_value(cl, val, sizeof val);
	snprintf(px, sizeof px, "%d", LEASE_MS);
	argv[0] = "EVAL", argv[1] = refresh_lua, argv[2] = "1", argv[3] = cl->key;
	argv[4] = cl->nonce_prefix, argv[5] = val, argv[6] = px;
	for (int i = 0; i < 7; i++)
		lens[i] = strlen(argv[i]);
	redis_link_cmd(cl->cmd, on_refreshed, cl, 7, argv, lens);
}

static void on_probe_published(void *arg, const redisReply *r)
{
	struct cluster *cl = arg;

	/* Our subscriber believes it is subscribed, yet Redis counts nobody
	 * on our inbox: the subscription is gone. */
	if (r && r->type == REDIS_REPLY_INTEGER && r->integer == 0 && redis_link_is_up(cl->sub) &&
	    cl->srv->loop.now_ms - cl->sub_up_ms >
	        TICK_MS) { /* not one sent before it subscribed */
		cl->m.probe_failures[METRICS_CL_PROBE_NO_SUBSCRIBER]++;
		redis_link_reset(cl->sub, "inbox probe reached no subscriber");
	}
}

static void send_probe(struct cluster *cl)
{
	struct cluster_request q = {.op = CLUSTER_OP_PROBE};
	uint8_t buf[64];
	const char *argv[3];
	size_t lens[3];
	int n;

	q.caller = (struct cluster_bytes){(const uint8_t *)cl->tag, CLUSTER_TAG_LEN};
	q.deadline_ms = wall_ms(cl->srv) + PROBE_DEAD_MS;
	n = cluster_request_encode(&q, buf, sizeof buf);
	if (n < 0)
		return;
	argv[0] = "PUBLISH", argv[1] = cl->inbox, argv[2] = (const char *)buf;
	lens[0] = 7, lens[1] = strlen(cl->inbox), lens[2] = (size_t)n;
	if (redis_link_cmd(cl->cmd, on_probe_published, cl, 3, argv, lens) == 0 && !cl->probe_since)
		cl->probe_since = cl->srv->loop.now_ms;
}

static void on_tick(struct loop_timer *t)
{
	struct cluster *cl = list_entry(t, struct cluster, tick);
	uint64_t now = cl->srv->loop.now_ms;

	if (redis_link_is_up(cl->cmd)) {
		if (cl->ever_registered)
			refresh_lease(cl);
		else
			register_lease(cl);
		if (redis_link_is_up(cl->sub)) {
			if (cl->probe_since && now - cl->probe_since > PROBE_DEAD_MS) {
				cl->probe_since = 0;
				cl->m.probe_failures[METRICS_CL_PROBE_TIMEOUT]++;
				redis_link_reset(cl->sub, "inbox probe did not come back");
			} else {
				send_probe(cl);
			}
		}
	}
	loop_timer_arm(&cl->srv->loop, t, now + TICK_MS);
}

static void on_cmd_state(void *arg, bool up)
{
	struct cluster *cl = arg;

	if (up) {
		/* Redis may have lost our lease (a restart): take it back now,
		 * not at the next tick. */
		cl->registered = false;
		if (cl->ever_registered)
			refresh_lease(cl); /* SET NX would find our own lease and fail */
		else
			register_lease(cl);
		return;
	}
	cl->probe_since = 0;
	fail_all(cl, "the command link to Redis went down");
	cluster_fan_fail_all(cl->fan, "the command link to Redis went down");
	cluster_list_fail_all(cl->list);
}

static void on_sub_state(void *arg, bool up)
{
	struct cluster *cl = arg;

	cl->probe_since = 0;
	cl->sub_up_ms = cl->srv->loop.now_ms;
	if (!up) {
		fail_all(cl, "the subscriber link to Redis went down");
		cluster_fan_fail_all(cl->fan, "the subscriber link to Redis went down");
		cluster_list_fail_all(cl->list);
	}
}

/* The page token's key: the same on every node of one cluster (a token is
 * good on any node) and another for another Redis; never the password. */
static uint64_t list_secret(const struct redis_url *u)
{
	char ip[64];
	uint16_t port_db[2] = {u->port, (uint16_t)u->db};

	net_ip_format(&u->ip, ip, sizeof ip);
	return pagetok_check_add(
	    pagetok_check_add(pagetok_check_init(0x77736777, 0), ip, strlen(ip)), port_db,
	    sizeof port_db);
}

int cluster_start(struct server *srv)
{
	const struct config *cfg = srv->cfg;
	struct redis_link_cfg lc = {0};
	struct cluster *cl;
	const char *why = NULL;
	uint8_t nonce[8];

	if (!cfg->cluster_url[0])
		return 0;
	cl = calloc(1, sizeof *cl);
	if (!cl)
		return ERR_NOMEM;
	srv->cluster = cl;
	cl->srv = srv;
	list_init(&cl->pending);
	if (redis_url_parse(cfg->cluster_url, &cl->url, &why) < 0) {
		log_error("--cluster: %s", why);
		return ERR_INVAL;
	}
	cl->max_calls = cfg->cluster_max_calls ? cfg->cluster_max_calls : 1;
	cl->slots = calloc(cl->max_calls, sizeof *cl->slots);
	cl->free_idx = calloc(cl->max_calls, sizeof *cl->free_idx);
	if (!cl->slots || !cl->free_idx || pick_tag(cl) < 0 ||
	    server_random(srv, nonce, sizeof nonce) < 0)
		return ERR_NOMEM;
	for (unsigned i = 0; i < cl->max_calls; i++) {
		cl->slots[i].cl = cl;
		list_init(&cl->slots[i].link);
		cl->free_idx[cl->num_free++] = cl->max_calls - 1 - i;
	}
	snprintf(cl->nonce_prefix, sizeof cl->nonce_prefix,
	         "{\"node\":\"%02x%02x%02x%02x%02x%02x%02x%02x\"", nonce[0], nonce[1], nonce[2],
	         nonce[3], nonce[4], nonce[5], nonce[6], nonce[7]);
	lc.url = &cl->url;
	lc.connect_timeout_ms = 2000;
	lc.reply_timeout_ms = 5000;
	lc.max_out = cfg->cluster_max_queued;
	lc.max_in = LINK_MAX_IN;
	/* Room for every remote call's EVAL plus fan-outs, lists and leases. */
	lc.max_pending = LINK_CMDS;
	if (cl->max_calls * 2 > lc.max_pending)
		lc.max_pending = cl->max_calls * 2;
	lc.arg = cl;
	lc.name = "commands";
	lc.on_state = on_cmd_state;
	cl->cmd = redis_link_new(&srv->loop, &lc);
	lc.name = "subscriber";
	lc.on_state = on_sub_state;
	lc.on_message = on_message;
	lc.on_read_done = on_sub_read_done;
	lc.channels[0] = cl->inbox;
	lc.channels[1] = "wsgw:all";
	lc.num_channels = 2;
	cl->sub = redis_link_new(&srv->loop, &lc);
	if (!cl->cmd || !cl->sub)
		return ERR_NOMEM;
	cl->fan = cluster_fan_new(srv, cl->cmd, cl->sub, cl->tag);
	cl->list = cluster_list_new(srv, cl->cmd, cl->sub, cl->tag, list_secret(&cl->url));
	if (!cl->fan || !cl->list)
		return ERR_NOMEM;
	cl->tick.on_fire = on_tick;
	cl->deadline.on_fire = on_deadline;
	loop_timer_arm(&srv->loop, &cl->tick, srv->loop.now_ms + TICK_MS);
	srv->registry = &registry_cluster;
	log_info("cluster: node tag %s, Redis %s, call timeout %" PRIu64 " ms", cl->tag,
	         cfg->cluster_url, cfg->cluster_call_timeout_ms);
	return 0;
}

void cluster_fini(struct server *srv)
{
	struct cluster *cl = srv->cluster;

	if (!cl)
		return;
	if (cl->cmd && cl->registered) {
		const char *argv[2] = {"DEL", cl->key};
		size_t lens[2] = {3, strlen(cl->key)};

		redis_link_send_now(cl->cmd, 2, argv, lens);
	}
	loop_timer_disarm(&srv->loop, &cl->tick);
	loop_timer_disarm(&srv->loop, &cl->deadline);
	cluster_fan_free(cl->fan);
	cluster_list_free(cl->list);
	redis_link_free(cl->cmd);
	redis_link_free(cl->sub);
	free(cl->slots);
	free(cl->free_idx);
	free(cl->scratch);
	free(cl->ua_buf);
	free(cl);
	srv->cluster = NULL;
	srv->registry = NULL;
}

void cluster_state_json(struct server *srv, char *out, size_t cap)
{
	struct cluster *cl = srv->cluster;
	const char *st = "up";
	char esc[256];

	if (!redis_link_is_up(cl->cmd))
		st = redis_link_state(cl->cmd);
	else if (!redis_link_is_up(cl->sub))
		st = redis_link_state(cl->sub);
	else if (!cl->registered)
		st = "registering";
	jsonesc_encode(st, strlen(st), esc, sizeof esc);
	snprintf(out, cap, "{\"node\":\"%s\",\"link\":\"%s\",\"pending_calls\":%u}", cl->tag, esc,
	         cl->max_calls - cl->num_free);
}

void cluster_metrics(struct server *srv, struct metrics_cluster *out)
{
	struct cluster *cl = srv->cluster;

	*out = cl->m;
	out->in_flight = cl->in_flight;
	out->link_up[METRICS_CL_LINK_COMMANDS] = redis_link_is_up(cl->cmd);
	out->link_up[METRICS_CL_LINK_SUBSCRIBER] = redis_link_is_up(cl->sub);
	out->reconnects[METRICS_CL_LINK_COMMANDS] = redis_link_reconnects(cl->cmd);
	out->reconnects[METRICS_CL_LINK_SUBSCRIBER] = redis_link_reconnects(cl->sub);
}
