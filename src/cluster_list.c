/* cluster_list.c — ListConnections across the cluster (cluster_list.h).
 *
 * A listing walks the nodes in tag order, each node's connections in its
 * own seq order (registry_list_page, the single node's code). The page
 * token (pagetok.h, version 2) holds the node the listing is on and the
 * position there; seq UINT64_MAX means "that node is done". Each page is
 * one EVAL that lists the leases, picks the node (the token's while its
 * lease lives, else the next live tag after it), and PUBLISHes the request
 * to that node's inbox with its tag written in (so the owner's tag check
 * applies), atomically; it also tells whether a live tag follows. The
 * owner runs the page and publishes it to our inbox. A page on this node
 * runs here, inline. A node with nothing left and a live node after it is
 * skipped within the same call (a few hops at most), so a listing rarely
 * shows an empty page.
 *
 * Failures never drop connections silently: an owner that does not answer
 * (killed, frozen, Redis down) makes the page UNAVAILABLE and the token
 * stays good for a retry; a node whose lease expired is gone with its
 * connections, and the walk goes on at the next tag.
 */
#include "cluster_list.h"

#include <stdlib.h>
#include <string.h>

#include <hiredis.h>

#include "api.h"
#include "cluster.h"
#include "cluster_msg.h"
#include "ctx.h"
#include "err.h"
#include "groups.h"
#include "gw_api.h"
#include "list.h"
#include "log.h"
#include "pagetok.h"
#include "redis_link.h"
#include "registry.h"

_Static_assert(PAGETOK_TAG_LEN == CLUSTER_TAG_LEN, "the token holds a node tag");

/* Calls waiting on other nodes at once. A page may be ~3.7 MB and every
 * reply comes through our one subscriber connection, whose Redis output
 * buffer is limited (client-output-buffer-limit pubsub, 32 MB by default):
 * 8 full pages stay under it. */
#define MAX_CALLS 8
#define MAX_HOPS 8 /* nodes with nothing left one call skips */
#define ID_AT 26   /* the request's id bytes: 'Q', op, 1 + 6 caller, 8, 8, 1 */

/* One round trip: the leases in tag order, the node the page is on, and
 * its request published with that tag as the id. Returns {tag, a live tag
 * follows (0/1), receivers}: tag "" when the walk is over, receivers -2
 * when the node is the caller itself (nothing published). */
static const char list_lua[] =
    "local cur, past, me, off = ARGV[2], ARGV[3] == '1', ARGV[4], tonumber(ARGV[5]) "
    "local tags = {} "
    "for _, k in ipairs(redis.call('KEYS', 'wsgw:node:*')) do "
    "local t = string.sub(k, 11) "
    "if string.len(t) == 6 then tags[#tags + 1] = t end "
    "end "
    "table.sort(tags) "
    "local target, after = '', 0 "
    "for _, t in ipairs(tags) do "
    "if target ~= '' then after = 1 break end "
    "if (t == cur and not past) or t > cur then target = t end "
    "end "
    "if target == '' then return {'', 0, -1} end "
    "if target == me then return {target, after, -2} end "
    "local msg = string.sub(ARGV[1], 1, off) .. target .. string.sub(ARGV[1], off + 7) "
    "return {target, after, redis.call('PUBLISH', 'wsgw:inbox:' .. target, msg)}";

typedef char tag_t[CLUSTER_TAG_LEN + 1];

struct lcall {
	struct cluster_list *cls;
	struct list_node link; /* cls->calls */
	struct gw_call *call;  /* NULL once completed or cancelled */
	struct loop_timer timer;
	uint64_t call_id;  /* this step's: a late answer of an earlier one is ignored */
	bool eval_pending; /* the EVAL's callback still holds us */
	bool evaled;       /* this step's EVAL answered: target, after */
	bool page_ready;   /* the owner's page is in call (it may beat the EVAL) */
	bool after;        /* a live tag follows target */
	bool more;         /* the owner has more after seq */
	tag_t cur;         /* where the listing is: "" before the first node */
	bool past;         /* cur is done: the next live tag after it */
	uint64_t seq;      /* the position on cur */
	tag_t target, page_node;
	unsigned hops;
	struct gw_req req; /* the filters, views into store */
	char *store;
};

struct cluster_list {
	struct server *srv;
	struct redis_link *cmd, *sub;
	const char *tag;
	uint64_t secret;
	struct list_node calls;
	unsigned ncalls;
	uint64_t seq;
};

static bool is_tag(const char *p, size_t n)
{
	static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";

	if (n != CLUSTER_TAG_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!p[i] || !memchr(b32, p[i], 32))
			return false;
	return true;
}

static uint64_t check_of(const struct cluster_list *cls, const char *tag, uint64_t seq,
                         const struct gw_req *q)
{
	return pagetok_check_add(registry_list_check(cls->secret, seq, q), tag, CLUSTER_TAG_LEN);
}

static void lc_free(struct lcall *lc)
{
	loop_timer_disarm(&lc->cls->srv->loop, &lc->timer);
	list_remove(&lc->link);
	lc->cls->ncalls--;
	free(lc->store);
	free(lc);
}

/* Completes the call (once) as it stands, or with code when not OK; frees
 * lc unless the EVAL still holds it. */
static void lc_end(struct lcall *lc, enum api_code code, const char *fmt, const char *arg)
{
	struct gw_call *call = lc->call;

	lc->call = NULL;
	if (call) {
		call->api.cancel = NULL;
		call->api.reg_data = NULL;
		if (code != API_OK) {
			gw_call_fini(call);
			call->next_token[0] = '\0';
			api_fail(&call->api.st, code, fmt, arg);
		}
		api_call_complete(&call->api);
	}
	if (!lc->eval_pending)
		lc_free(lc);
}

static void step(struct lcall *lc);

/* The page of target is in call: its token, or the next node at once. */
static void page_done(struct lcall *lc)
{
	struct gw_call *call = lc->call;
	uint64_t seq = lc->more ? lc->seq : UINT64_MAX;

	call->next_token[0] = '\0';
	if (!lc->more && !lc->after) { /* the last live node is done */
		lc_end(lc, API_OK, NULL, NULL);
		return;
	}
	if (!lc->more && call->nconns == 0 && lc->hops < MAX_HOPS) {
		lc->hops++;
		gw_call_fini(call);
		memcpy(lc->cur, lc->target, sizeof lc->cur);
		lc->past = true;
		step(lc);
		return;
	}
	pagetok_node_encode(lc->target, seq, check_of(lc->cls, lc->target, seq, &lc->req),
	                    call->next_token);
	lc_end(lc, API_OK, NULL, NULL);
}

static void on_deadline(struct loop_timer *t)
{
	struct lcall *lc = (struct lcall *)((char *)t - offsetof(struct lcall, timer));

	if (!lc->evaled)
		lc_end(lc, API_UNAVAILABLE,
		       "cluster: Redis did not answer within the deadline%s; retry with the same "
		       "page_token",
		       "");
	else
		lc_end(lc, API_UNAVAILABLE,
		       "node %s did not answer within --cluster-call-timeout; retry with the same "
		       "page_token",
		       lc->target);
}

/* This node's own page, as a single node lists. */
static void run_local(struct lcall *lc)
{
	uint64_t seq = lc->past || strcmp(lc->cur, lc->target) ? 0 : lc->seq;

	lc->more = registry_list_page(lc->cls->srv, &lc->req, &seq, lc->call);
	lc->seq = seq;
	if (lc->call->api.st.code != API_OK) {
		lc_end(lc, lc->call->api.st.code, "%s", "out of memory");
		return;
	}
	page_done(lc);
}

/* The EVAL's answer: which node the page is on. */
static void on_published(void *arg, const redisReply *r)
{
	struct lcall *lc = arg;
	const redisReply *t, *after, *n;

	lc->eval_pending = false;
	if (!lc->call) {
		lc_free(lc);
		return;
	}
	if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
	    r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[1]->type != REDIS_REPLY_INTEGER ||
	    r->element[2]->type != REDIS_REPLY_INTEGER) {
		lc_end(lc, API_UNAVAILABLE, "cluster: %s; retry with the same page_token",
		       r && r->type == REDIS_REPLY_ERROR ? "Redis refused the call"
		                                         : "the link to Redis failed");
		return;
	}
	t = r->element[0], after = r->element[1], n = r->element[2];
	lc->evaled = true;
	if (n->integer == -1 || !is_tag(t->str, t->len)) { /* no live node left */
		gw_call_fini(lc->call);
		lc->call->next_token[0] = '\0';
		lc_end(lc, API_OK, NULL, NULL);
		return;
	}
	memcpy(lc->target, t->str, CLUSTER_TAG_LEN);
	lc->target[CLUSTER_TAG_LEN] = '\0';
	lc->after = after->integer == 1;
	if (n->integer == -2) {
		run_local(lc);
	} else if (n->integer == 0) {
		lc_end(lc, API_UNAVAILABLE,
		       "node %s holds a lease but is not listening; retry with the same page_token",
		       lc->target);
	} else if (lc->page_ready) {
		if (strcmp(lc->page_node, lc->target))
			lc_end(lc, API_UNAVAILABLE, "node %s answered for another node",
			       lc->page_node);
		else
			page_done(lc);
	}
}

/* Asks for the next page: on cur (unless past), else the next live node. */
static void step(struct lcall *lc)
{
	struct cluster_list *cls = lc->cls;
	struct server *srv = cls->srv;
	uint64_t timeout = srv->cfg->cluster_call_timeout_ms;
	struct cluster_request q = {.op = CLUSTER_OP_LIST, .kind = GW_LIST};
	const char *argv[8];
	size_t lens[8];
	char off[8];
	uint8_t *buf;
	int n;

	lc->evaled = lc->page_ready = false;
	if (!redis_link_is_up(cls->cmd) || !redis_link_is_up(cls->sub)) {
		lc_end(lc, API_UNAVAILABLE,
		       "cluster: the link to Redis is down%s; retry with the same page_token", "");
		return;
	}
	lc->call_id = ++cls->seq | (uint64_t)1 << 63;
	q.call_id = lc->call_id;
	q.caller = (struct cluster_bytes){(const uint8_t *)cls->tag, CLUSTER_TAG_LEN};
	q.deadline_ms = (uint64_t)(srv->loop.now_wall_ns / 1000000) + timeout;
	q.id = (struct cluster_bytes){(const uint8_t *)"aaaaaa", CLUSTER_TAG_LEN}; /* the EVAL's */
	q.group = (struct cluster_bytes){(const uint8_t *)lc->req.group.p, lc->req.group.n};
	q.route = (struct cluster_bytes){(const uint8_t *)lc->req.route.p, lc->req.route.n};
	q.prefix = (struct cluster_bytes){(const uint8_t *)lc->req.prefix.p, lc->req.prefix.n};
	if (lc->cur[0] && !lc->past)
		q.from = (struct cluster_bytes){(const uint8_t *)lc->cur, CLUSTER_TAG_LEN};
	q.after_seq = lc->seq;
	q.page_size = (uint16_t)lc->req.page_size;
	q.has_after = lc->req.has_after, q.after_ns = lc->req.after_ns;
	q.has_before = lc->req.has_before, q.before_ns = lc->req.before_ns;
	buf = malloc(cluster_request_size(&q));
	n = buf ? cluster_request_encode(&q, buf, cluster_request_size(&q)) : ERR_NOMEM;
	if (n < 0) {
		free(buf);
		lc_end(lc, API_RESOURCE_EXHAUSTED, "cluster: cannot encode the request%s", "");
		return;
	}
	snprintf(off, sizeof off, "%d", ID_AT);
	argv[0] = "EVAL", argv[1] = list_lua, argv[2] = "0", argv[3] = (const char *)buf;
	argv[4] = lc->cur, argv[5] = lc->past ? "1" : "0", argv[6] = cls->tag, argv[7] = off;
	for (int i = 0; i < 8; i++)
		lens[i] = strlen(argv[i]);
	lens[3] = (size_t)n;
	n = redis_link_cmd(cls->cmd, on_published, lc, 8, argv, lens);
	free(buf);
	if (n < 0) {
		lc_end(lc, n == ERR_LIMIT ? API_RESOURCE_EXHAUSTED : API_UNAVAILABLE, "cluster: %s",
		       n == ERR_LIMIT ? "too many bytes queued for Redis"
		                      : "the link to Redis is down");
		return;
	}
	lc->eval_pending = true;
	loop_timer_arm(&srv->loop, &lc->timer, srv->loop.now_ms + timeout);
}

static void on_cancel(struct api_call *api)
{
	struct lcall *lc = api->reg_data;

	lc->call = NULL;
	if (!lc->eval_pending)
		lc_free(lc);
}

/* Copies s to *p (advanced past it); returns where it went. An empty
 * view may hold NULL: memcpy must not see it. */
static const char *keep(char **p, struct gw_str s)
{
	char *at = *p;

	if (s.n)
		memcpy(at, s.p, s.n);
	*p += s.n;
	return at;
}

void cluster_list_start(struct cluster_list *cls, const struct gw_req *req, struct gw_call *call)
{
	struct lcall *lc;
	char tag[CLUSTER_TAG_LEN];
	uint64_t seq = 0, check;
	char *p;

	if (req->token.n &&
	    (pagetok_node_decode(req->token.p, req->token.n, tag, &seq, &check) < 0 ||
	     !is_tag(tag, CLUSTER_TAG_LEN) || check != check_of(cls, tag, seq, req))) {
		api_fail(&call->api.st, API_INVALID_ARGUMENT,
		         "page_token was not issued for this listing (filters must stay the same)");
		api_call_complete(&call->api);
		return;
	}
	if (cls->ncalls >= MAX_CALLS) {
		api_fail(&call->api.st, API_RESOURCE_EXHAUSTED,
		         "cluster: %d listings already wait on other nodes", MAX_CALLS);
		api_call_complete(&call->api);
		return;
	}
	lc = calloc(1, sizeof *lc);
	if (lc)
		lc->store = malloc(req->route.n + req->prefix.n + req->group.n + 1);
	if (!lc || !lc->store) {
		free(lc);
		api_fail(&call->api.st, API_RESOURCE_EXHAUSTED, "out of memory");
		api_call_complete(&call->api);
		return;
	}
	lc->cls = cls;
	lc->call = call;
	lc->req = *req;
	lc->req.token = (struct gw_str){NULL, 0};
	lc->req.ids = NULL, lc->req.nids = 0, lc->req.data = NULL, lc->req.len = 0;
	p = lc->store;
	lc->req.route.p = keep(&p, req->route);
	lc->req.prefix.p = keep(&p, req->prefix);
	lc->req.group.p = keep(&p, req->group);
	if (req->token.n) {
		memcpy(lc->cur, tag, CLUSTER_TAG_LEN);
		lc->seq = seq;
		lc->past = seq == UINT64_MAX;
	}
	lc->timer.on_fire = on_deadline;
	list_insert_tail(&cls->calls, &lc->link);
	cls->ncalls++;
	call->api.cancel = on_cancel;
	call->api.reg_data = lc;
	step(lc);
}

/* The owner's page into the call: every string copied (with its NUL) into
 * one block that call->names owns, the group pointers at its front. */
static bool take_page(struct gw_call *call, const struct cluster_reply *a)
{
	struct cluster_bytes blk = a->conns, g;
	struct cluster_conn c;
	size_t ngroups = 0, bytes = 0, k = 0;
	const char **ptrs;
	char *s;

	while (cluster_conns_next(&blk, &c)) {
		ngroups += c.ngroups;
		bytes += c.id.len + c.gateway_id.len + c.user_agent.len + c.path.len + c.route.len +
		         c.subprotocol.len + 6 +
		         c.groups.len; /* each name: its length byte's room */
	}
	call->conns = malloc((a->nconns ? a->nconns : 1) * sizeof *call->conns);
	call->names = malloc(ngroups * sizeof *ptrs + bytes + 1);
	if (!call->conns || !call->names)
		return false;
	ptrs = call->names;
	s = (char *)(ptrs + ngroups);
	blk = a->conns;
#define COPY(dst, b) (memcpy(s, (b).p, (b).len), s[(b).len] = '\0', (dst) = s, s += (b).len + 1)
	while (cluster_conns_next(&blk, &c)) {
		struct gw_conn_info *o = &call->conns[call->nconns++];
		struct cluster_bytes gb = c.groups;
		size_t ip = c.source_ip.len < sizeof o->base.source_ip
		                ? c.source_ip.len
		                : sizeof o->base.source_ip - 1;

		*o = (struct gw_conn_info){0};
		COPY(o->base.id, c.id);
		COPY(o->base.gateway_id, c.gateway_id);
		COPY(o->base.user_agent, c.user_agent);
		COPY(o->path, c.path);
		COPY(o->route, c.route);
		COPY(o->subprotocol, c.subprotocol);
		memcpy(o->base.source_ip, c.source_ip.p, ip);
		o->base.source_ip[ip] = '\0';
		o->base.connected_at_ns = c.connected_at_ns;
		o->base.last_active_at_ns = c.last_active_at_ns;
		o->groups = ptrs + k;
		o->ngroups = c.ngroups;
		while (cluster_groups_next(&gb, &g))
			COPY(ptrs[k++], g);
	}
#undef COPY
	return true;
}

void cluster_list_on_reply(struct cluster_list *cls, const struct cluster_reply *a)
{
	struct list_node *n;

	for (n = cls->calls.next; n != &cls->calls; n = n->next) {
		struct lcall *lc = list_entry(n, struct lcall, link);

		if (lc->call_id != a->call_id)
			continue;
		if (!lc->call || lc->page_ready || !is_tag((const char *)a->node.p, a->node.len) ||
		    (lc->evaled && memcmp(a->node.p, lc->target, CLUSTER_TAG_LEN)))
			return; /* too late, a duplicate, or not the node asked */
		if (a->code != API_OK) {
			char msg[CLUSTER_MESSAGE_MAX + 1];
			size_t len = a->message.len < CLUSTER_MESSAGE_MAX ? a->message.len
			                                                  : CLUSTER_MESSAGE_MAX;

			memcpy(msg, a->message.p, len);
			msg[len] = '\0';
			lc_end(lc,
			       a->code == API_RESOURCE_EXHAUSTED ? API_RESOURCE_EXHAUSTED
			                                         : API_INTERNAL,
			       "%s", msg);
			return;
		}
		if (!take_page(lc->call, a)) {
			lc_end(lc, API_RESOURCE_EXHAUSTED, "%s", "out of memory");
			return;
		}
		memcpy(lc->page_node, a->node.p, CLUSTER_TAG_LEN);
		lc->page_node[CLUSTER_TAG_LEN] = '\0';
		lc->page_ready = true;
		lc->more = a->more;
		lc->seq = a->seq;
		lc->call->api.st.code = API_OK;
		lc->call->api.st.message = "";
		if (lc->evaled)
			page_done(lc);
		return;
	}
}

void cluster_list_fail_all(struct cluster_list *cls)
{
	struct list_node *n, *next;

	if (!cls)
		return;
	list_for_each_safe(n, next, &cls->calls)
	{
		struct lcall *lc = list_entry(n, struct lcall, link);

		if (lc->call)
			lc_end(lc, API_UNAVAILABLE,
			       "cluster: the link to Redis went down%s; retry with the same "
			       "page_token",
			       "");
	}
}

/* ---- the owner's side ---------------------------------------------------- */

static void publish(struct cluster_list *cls, const struct cluster_request *q,
                    struct cluster_reply *a)
{
	char chan[32];
	const char *argv[3];
	size_t lens[3], cap = cluster_reply_size(a);
	uint8_t *buf = malloc(cap);
	int n = buf ? cluster_reply_encode(a, buf, cap) : ERR_NOMEM;

	if (n >= 0) {
		snprintf(chan, sizeof chan, "wsgw:inbox:%.*s", (int)q->caller.len,
		         (const char *)q->caller.p);
		argv[0] = "PUBLISH", argv[1] = chan, argv[2] = (const char *)buf;
		lens[0] = 7, lens[1] = strlen(chan), lens[2] = (size_t)n;
		if (redis_link_cmd(cls->cmd, NULL, NULL, 3, argv, lens) < 0)
			log_debug("cluster: list page for node %s not queued", chan + 11);
	}
	free(buf);
}

/* Our page into a conns block; false when it cannot be encoded. */
static bool encode_page(const struct gw_call *call, uint8_t **out, size_t *len)
{
	size_t cap = 0;
	uint8_t groups[CLUSTER_GROUPS_MAX * (1 + CLUSTER_GROUP_MAX)];

	for (size_t i = 0; i < call->nconns; i++) {
		const struct gw_conn_info *o = &call->conns[i];

		cap += 64 + strlen(o->base.id) + strlen(o->base.gateway_id) +
		       strlen(o->base.source_ip) + strlen(o->base.user_agent) + strlen(o->path) +
		       strlen(o->route) + strlen(o->subprotocol);
		for (unsigned g = 0; g < o->ngroups; g++)
			cap += 1 + strlen(o->groups[g]);
	}
	*len = 0;
	*out = malloc(cap ? cap : 1);
	if (!*out || cap > CLUSTER_PAGE_BYTES)
		return false;
	for (size_t i = 0; i < call->nconns; i++) {
		const struct gw_conn_info *o = &call->conns[i];
		struct cluster_conn c = {0};
		size_t glen = 0;

#define B(s) ((struct cluster_bytes){(const uint8_t *)(s), strlen(s)})
		c.id = B(o->base.id), c.gateway_id = B(o->base.gateway_id);
		c.source_ip = B(o->base.source_ip), c.user_agent = B(o->base.user_agent);
		c.path = B(o->path), c.route = B(o->route), c.subprotocol = B(o->subprotocol);
#undef B
		c.connected_at_ns = o->base.connected_at_ns;
		c.last_active_at_ns = o->base.last_active_at_ns;
		for (unsigned g = 0; g < o->ngroups && g < CLUSTER_GROUPS_MAX; g++)
			if (cluster_groups_add(groups, sizeof groups, &glen, o->groups[g],
			                       strlen(o->groups[g])) == 0)
				c.ngroups++;
		c.groups = (struct cluster_bytes){groups, glen};
		if (cluster_conns_add(*out, cap, len, &c) < 0)
			return false;
	}
	return true;
}

static void done_inline(struct api_call *api)
{
	(void)api; /* registry_list_page completes nothing */
}

void cluster_list_on_request(struct cluster_list *cls, const struct cluster_request *q)
{
	struct cluster_reply a = {.call_id = q->call_id, .has_page = true};
	struct gw_call call = {.kind = GW_LIST};
	struct gw_req req = {.kind = GW_LIST};
	uint64_t seq = 0;
	uint8_t *block = NULL;
	size_t len = 0;

	if (q->kind != GW_LIST ||
	    (q->group.len && !groups_name_ok((const char *)q->group.p, q->group.len)) ||
	    memchr(q->route.p, '\0', q->route.len) || memchr(q->prefix.p, '\0', q->prefix.len))
		return; /* not from a node of ours: the caller times out */
	req.group = (struct gw_str){(const char *)q->group.p, q->group.len};
	req.route = (struct gw_str){(const char *)q->route.p, q->route.len};
	req.prefix = (struct gw_str){(const char *)q->prefix.p, q->prefix.len};
	req.page_size = q->page_size;
	req.has_after = q->has_after, req.after_ns = q->after_ns;
	req.has_before = q->has_before, req.before_ns = q->before_ns;
	if (q->from.len == CLUSTER_TAG_LEN && !memcmp(q->from.p, cls->tag, CLUSTER_TAG_LEN))
		seq = q->after_seq;
	call.api.done = done_inline;
	call.api.pending = true;
	a.node = (struct cluster_bytes){(const uint8_t *)cls->tag, CLUSTER_TAG_LEN};
	if (seq != UINT64_MAX)
		a.more = registry_list_page(cls->srv, &req, &seq, &call);
	a.seq = seq;
	a.code = (uint8_t)call.api.st.code;
	if (call.api.st.code == API_OK && !encode_page(&call, &block, &len)) {
		a.code = API_INTERNAL;
		len = 0;
	}
	if (a.code != API_OK) {
		a.more = false;
		static const char why[] = "the owner node could not list its connections";

		a.message = (struct cluster_bytes){(const uint8_t *)why, sizeof why - 1};
	} else {
		a.nconns = (uint16_t)call.nconns;
		a.conns = (struct cluster_bytes){block, len};
	}
	publish(cls, q, &a);
	free(block);
	gw_call_fini(&call);
}

/* ---- life ---------------------------------------------------------------- */

struct cluster_list *cluster_list_new(struct server *srv, struct redis_link *cmd,
                                      struct redis_link *sub, const char *tag, uint64_t secret)
{
	struct cluster_list *cls = calloc(1, sizeof *cls);

	if (!cls)
		return NULL;
	cls->srv = srv;
	cls->cmd = cmd;
	cls->sub = sub;
	cls->tag = tag;
	cls->secret = secret;
	list_init(&cls->calls);
	return cls;
}

void cluster_list_free(struct cluster_list *cls)
{
	struct list_node *n, *next;

	if (!cls)
		return;
	list_for_each_safe(n, next, &cls->calls)
	{
		struct lcall *lc = list_entry(n, struct lcall, link);

		if (lc->call) {
			lc->call->api.cancel = NULL;
			lc->call->api.reg_data = NULL;
		}
		lc_free(lc);
	}
	free(cls);
}
