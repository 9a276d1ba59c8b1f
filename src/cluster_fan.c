/* cluster_fan.c — Broadcast, SendToGroup and CountConnections across the
 * cluster (cluster_fan.h), and the owner's side of a remote Join / Leave.
 *
 * The caller runs one EVAL that lists the leases (KEYS wsgw:node:*), asks
 * Redis which of those nodes still has a subscriber on its inbox, and
 * PUBLISHes the request to wsgw:all, atomically: the nodes it must wait
 * for are exactly the live ones that received the request. Meanwhile it
 * runs its own part locally (registry_local, paced as on a single node).
 * Every other node runs the same local code and publishes its counts to
 * the caller's inbox. The call completes when every expected node has
 * answered, or at its deadline with the silent ones in missing_nodes; a
 * node with a lease but no subscriber (killed) is missing at once.
 * SendToConnections: the ids grouped by owner, one request per owner
 * node with the payload once, results merged back in the request order.
 * Never blocks; caps on calls under way, on jobs run for others and on
 * the routes a Count merges answer RESOURCE_EXHAUSTED.
 */
#include "cluster_fan.h"

#include <stdlib.h>
#include <string.h>

#include <hiredis.h>

#include "api.h"
#include "cluster.h"
#include "cluster_msg.h"
#include "conn.h"
#include "ctx.h"
#include "err.h"
#include "groups.h"
#include "gw_api.h"
#include "list.h"
#include "log.h"
#include "redis_link.h"
#include "registry.h"
#include "utf8.h"
#include "ws.h"

#define MAX_CALLS 64      /* fan-out calls this node waits on */
#define MAX_JOBS 256      /* fan-out jobs this node runs for other nodes */
#define MAX_NODES 256     /* nodes one call waits for */
#define MAX_ROUTES 4096   /* distinct routes one Count merges */
#define SEND_DEADLINE_X 5 /* Broadcast / SendToGroup: 5 x --cluster-call-timeout */

/* One script, one round trip: the leases, which of them still listen,
 * and the PUBLISH. Returns {receivers, {tag, subscribers, ...}}. */
static const char fan_lua[] =
    "local out = {} "
    "for _, k in ipairs(redis.call('KEYS', 'wsgw:node:*')) do "
    "local t = string.sub(k, 11) "
    "out[#out + 1] = t "
    "out[#out + 1] = redis.call('PUBSUB', 'NUMSUB', 'wsgw:inbox:' .. t)[2] "
    "end "
    "return {redis.call('PUBLISH', 'wsgw:all', ARGV[1]), out}";

typedef char tag_t[CLUSTER_TAG_LEN + 1];

struct route_sum {
	char *route;
	uint32_t count;
};

/* A call this node was asked. */
struct fan_call {
	struct cluster_fan *cf;
	struct list_node link; /* cf->calls, until freed */
	struct gw_call *call;  /* NULL once completed or cancelled */
	enum gw_kind kind;
	uint64_t call_id;
	struct loop_timer timer;
	bool eval_pending;  /* the EVAL's callback still holds us */
	bool leases_known;  /* the EVAL answered */
	bool local_pending; /* our own part runs */
	struct gw_call local;
	tag_t expect[MAX_NODES], answered[MAX_NODES], missing[MAX_NODES];
	unsigned nexpect, nanswered, nmissing;
	const char *missing_v[MAX_NODES + 1];
	uint32_t delivered, skipped, total;
	struct route_sum *routes;
	size_t nroutes;
	bool over; /* a cap was hit while merging */
};

/* A job run for another node: its reply goes out when the job ends. */
struct fan_job {
	struct cluster_fan *cf;
	struct list_node link; /* cf->jobs */
	struct gw_call call;
	uint64_t call_id;
	tag_t caller;
};

/* SendToConnections with ids of other nodes: one request per owner. */
struct sm_owner {
	struct sm_call *sm;
	uint64_t call_id;
	tag_t tag;
	bool done;         /* its results are in (or failed) */
	bool eval_pending; /* the EVAL's callback still holds the call */
};

struct sm_call {
	struct cluster_fan *cf;
	struct list_node link; /* cf->sms */
	struct gw_call *call;  /* NULL once completed or cancelled */
	struct loop_timer timer;
	size_t nids;
	struct gw_send_result *res; /* handed to call at completion */
	uint16_t *owner_of;         /* per id: its owner's index, NO_OWNER: ours */
	char *store;                /* the ids and the remote messages */
	unsigned nowners, nleft, nevals;
	struct sm_owner owners[];
};

#define NO_OWNER 0xffff
#define SM_MSG_MAX 96

struct cluster_fan {
	struct server *srv;
	struct redis_link *cmd, *sub;
	const char *tag;
	struct list_node calls, jobs, sms;
	unsigned ncalls, njobs;
	uint64_t seq;
};

static void member_done(struct api_call *api);
static void sm_owner_fail(struct sm_call *sm, unsigned o, enum api_code code, const char *msg);
static void sm_end(struct sm_call *sm);

static bool has_tag(tag_t *v, unsigned n, const char *tag)
{
	for (unsigned i = 0; i < n; i++)
		if (!strcmp(v[i], tag))
			return true;
	return false;
}

static void add_tag(tag_t *v, unsigned *n, const char *p, size_t len)
{
	if (*n == MAX_NODES || len != CLUSTER_TAG_LEN)
		return;
	memcpy(v[*n], p, len);
	v[*n][len] = '\0';
	if (!has_tag(v, *n, v[*n]))
		(*n)++;
}

/* ---- the caller's side --------------------------------------------------- */

static void fc_free(struct fan_call *fc)
{
	struct cluster_fan *cf = fc->cf;

	if (fc->local_pending)
		api_call_cancel(&fc->local.api);
	gw_call_fini(&fc->local);
	loop_timer_disarm(&cf->srv->loop, &fc->timer);
	list_remove(&fc->link);
	cf->ncalls--;
	for (size_t i = 0; i < fc->nroutes; i++)
		free(fc->routes[i].route);
	free(fc->routes);
	free(fc);
}

/* Completes the caller's call (once) and frees fc unless the EVAL still
 * holds it. */
static void fc_end(struct fan_call *fc, enum api_code code, const char *msg)
{
	struct gw_call *call = fc->call;

	fc->call = NULL;
	if (fc->local_pending) { /* past the deadline: our own job goes on */
		api_call_cancel(&fc->local.api);
		fc->local_pending = false;
		add_tag(fc->missing, &fc->nmissing, fc->cf->tag, CLUSTER_TAG_LEN);
	}
	if (call) {
		call->api.reg_data = NULL;
		call->api.cancel = NULL;
		if (code == API_OK && fc->over) {
			code = API_RESOURCE_EXHAUSTED;
			msg = "cluster: the answers hold more than 4096 routes";
		}
		if (code != API_OK) {
			api_fail(&call->api.st, code, "%s", msg);
		} else {
			call->api.st.code = API_OK;
			call->api.st.message = "";
			call->total = fc->total;
			call->delivered = fc->delivered;
			call->skipped = fc->skipped;
			if (fc->kind == GW_COUNT) {
				call->routes =
				    calloc(fc->nroutes ? fc->nroutes : 1, sizeof *call->routes);
				if (!call->routes) {
					api_fail(&call->api.st, API_RESOURCE_EXHAUSTED,
					         "out of memory");
				} else {
					for (size_t i = 0; i < fc->nroutes; i++)
						call->routes[i] = (struct gw_route_count){
						    fc->routes[i].route, fc->routes[i].count};
					call->nroutes = fc->nroutes;
				}
			}
			for (unsigned i = 0; i < fc->nmissing; i++)
				fc->missing_v[i] = fc->missing[i];
			call->missing = fc->missing_v;
			call->nmissing = fc->nmissing;
		}
		api_call_complete(&call->api);
	}
	if (!fc->eval_pending)
		fc_free(fc);
}

/* Done when the leases are known, our part ran and every live node
 * answered. */
static void fc_check(struct fan_call *fc)
{
	if (!fc->call || !fc->leases_known || fc->local_pending)
		return;
	for (unsigned i = 0; i < fc->nexpect; i++)
		if (!has_tag(fc->answered, fc->nanswered, fc->expect[i]))
			return;
	fc_end(fc, API_OK, NULL);
}

static void add_route(struct fan_call *fc, const char *p, size_t len, uint32_t count)
{
	for (size_t i = 0; i < fc->nroutes; i++)
		if (strlen(fc->routes[i].route) == len && !memcmp(fc->routes[i].route, p, len)) {
			fc->routes[i].count += count;
			return;
		}
	if (fc->nroutes == MAX_ROUTES) {
		fc->over = true;
		return;
	}
	if (fc->nroutes % 64 == 0) {
		struct route_sum *v = realloc(fc->routes, (fc->nroutes + 64) * sizeof *v);

		if (!v) {
			fc->over = true;
			return;
		}
		fc->routes = v;
	}
	fc->routes[fc->nroutes].route = malloc(len + 1);
	if (!fc->routes[fc->nroutes].route) {
		fc->over = true;
		return;
	}
	memcpy(fc->routes[fc->nroutes].route, p, len);
	fc->routes[fc->nroutes].route[len] = '\0';
	fc->routes[fc->nroutes++].count = count;
}

static void on_local_done(struct api_call *api)
{
	struct fan_call *fc = (struct fan_call *)((char *)api - offsetof(struct fan_call, local));
	struct gw_call *l = &fc->local;

	fc->local_pending = false;
	if (l->api.st.code != API_OK) {
		add_tag(fc->missing, &fc->nmissing, fc->cf->tag, CLUSTER_TAG_LEN);
	} else {
		fc->delivered += l->delivered;
		fc->skipped += l->skipped;
		fc->total += l->total;
		for (size_t i = 0; i < l->nroutes; i++)
			add_route(fc, l->routes[i].route, strlen(l->routes[i].route),
			          l->routes[i].count);
	}
	gw_call_fini(l);
	fc_check(fc);
}

static void on_deadline(struct loop_timer *t)
{
	struct fan_call *fc = (struct fan_call *)((char *)t - offsetof(struct fan_call, timer));

	for (unsigned i = 0; i < fc->nexpect; i++)
		if (!has_tag(fc->answered, fc->nanswered, fc->expect[i]))
			add_tag(fc->missing, &fc->nmissing, fc->expect[i], CLUSTER_TAG_LEN);
	if (!fc->leases_known)
		fc_end(fc, API_UNAVAILABLE,
		       "cluster: Redis did not answer within the deadline; the call's outcome is "
		       "unknown");
	else
		fc_end(fc, API_OK, NULL);
}

/* The EVAL's answer: which nodes received the request. */
static void on_published(void *arg, const redisReply *r)
{
	struct fan_call *fc = arg;
	const redisReply *v;

	fc->eval_pending = false;
	if (!fc->call) {
		fc_free(fc);
		return;
	}
	if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[1]->type != REDIS_REPLY_ARRAY) {
		fc_end(fc, API_UNAVAILABLE,
		       r && r->type == REDIS_REPLY_ERROR ? "cluster: Redis refused the call"
		                                         : "cluster: the link to Redis failed; the "
		                                           "call's outcome is unknown");
		return;
	}
	v = r->element[1];
	for (size_t i = 0; i + 1 < v->elements; i += 2) {
		const redisReply *t = v->element[i], *n = v->element[i + 1];

		if (t->type != REDIS_REPLY_STRING || t->len != CLUSTER_TAG_LEN ||
		    !memcmp(t->str, fc->cf->tag, CLUSTER_TAG_LEN))
			continue;
		if (n->type == REDIS_REPLY_INTEGER && n->integer > 0)
			add_tag(fc->expect, &fc->nexpect, t->str, t->len);
		else /* a lease without a listener: killed, not coming back */
			add_tag(fc->missing, &fc->nmissing, t->str, t->len);
	}
	fc->leases_known = true;
	fc_check(fc);
}

static void on_cancel(struct api_call *api)
{
	struct fan_call *fc = api->reg_data;

	fc->call = NULL;
	if (fc->local_pending) {
		api_call_cancel(&fc->local.api);
		fc->local_pending = false;
	}
	if (!fc->eval_pending)
		fc_free(fc);
}

static void sm_on_reply(struct cluster_fan *cf, const struct cluster_reply *a);

void cluster_fan_on_reply(struct cluster_fan *cf, const struct cluster_reply *a)
{
	struct list_node *n;
	struct cluster_bytes blk, route;
	uint32_t count;

	for (n = cf->calls.next; n != &cf->calls; n = n->next) {
		struct fan_call *fc = list_entry(n, struct fan_call, link);

		if (fc->call_id != a->call_id)
			continue;
		if (!fc->call || a->node.len != CLUSTER_TAG_LEN)
			return;
		if (has_tag(fc->answered, fc->nanswered, (const char *)a->node.p) ||
		    has_tag(fc->missing, fc->nmissing, (const char *)a->node.p))
			return;          /* a duplicate */
		if (a->code != API_OK) { /* the node could not do it */
			add_tag(fc->missing, &fc->nmissing, (const char *)a->node.p, a->node.len);
			add_tag(fc->answered, &fc->nanswered, (const char *)a->node.p, a->node.len);
			fc_check(fc);
			return;
		}
		fc->delivered += a->delivered;
		fc->skipped += a->skipped;
		fc->total += a->total;
		blk = a->routes;
		while (cluster_routes_next(&blk, &route, &count))
			add_route(fc, (const char *)route.p, route.len, count);
		add_tag(fc->answered, &fc->nanswered, (const char *)a->node.p, a->node.len);
		fc_check(fc);
		return;
	}
	sm_on_reply(cf, a);
}

static uint64_t wall_ms(const struct server *srv)
{
	return (uint64_t)(srv->loop.now_wall_ns / 1000000);
}

/* Starts a Count (req NULL) or a paced send across the cluster. */
static void fan_start(struct cluster_fan *cf, const struct gw_req *req, uint8_t opcode,
                      struct gw_call *call)
{
	struct server *srv = cf->srv;
	uint64_t timeout = srv->cfg->cluster_call_timeout_ms;
	struct cluster_request q = {.op = CLUSTER_OP_FAN, .opcode = opcode};
	uint8_t *ids = NULL, *buf = NULL;
	size_t idlen = 0;
	const char *argv[4];
	size_t lens[4];
	struct fan_call *fc;
	int n;

	if (!redis_link_is_up(cf->cmd) || !redis_link_is_up(cf->sub)) {
		api_fail(&call->api.st, API_UNAVAILABLE,
		         "cluster: the link to Redis is down; other nodes cannot be reached");
		api_call_complete(&call->api);
		return;
	}
	if (cf->ncalls >= MAX_CALLS) {
		api_fail(&call->api.st, API_RESOURCE_EXHAUSTED,
		         "cluster: %d fan-out calls already under way", MAX_CALLS);
		api_call_complete(&call->api);
		return;
	}
	fc = calloc(1, sizeof *fc);
	if (req && req->nids)
		ids = malloc(req->nids * (1 + CLUSTER_ID_MAX));
	if (!fc || (req && req->nids && !ids))
		goto nomem;
	fc->cf = cf;
	fc->kind = req ? req->kind : GW_COUNT;
	fc->call_id = ++cf->seq | (uint64_t)1 << 63; /* never a slot's id (cluster.c) */
	q.kind = (uint8_t)fc->kind;
	q.call_id = fc->call_id;
	q.caller = (struct cluster_bytes){(const uint8_t *)cf->tag, CLUSTER_TAG_LEN};
	if (fc->kind != GW_COUNT)
		timeout *= SEND_DEADLINE_X;
	q.deadline_ms = wall_ms(srv) + timeout;
	if (req) {
		for (size_t i = 0; i < req->nids; i++)
			if (req->ids[i].n <= CLUSTER_ID_MAX &&
			    cluster_ids_add(ids, req->nids * (1 + CLUSTER_ID_MAX), &idlen,
			                    req->ids[i].p, req->ids[i].n) == 0)
				q.nids++;
		q.ids = (struct cluster_bytes){ids, idlen};
		q.group = (struct cluster_bytes){(const uint8_t *)req->group.p, req->group.n};
		q.route = (struct cluster_bytes){(const uint8_t *)req->route.p, req->route.n};
		q.prefix = (struct cluster_bytes){(const uint8_t *)req->prefix.p, req->prefix.n};
		q.data = (struct cluster_bytes){req->data, req->len};
	}
	buf = malloc(cluster_request_size(&q));
	if (!buf)
		goto nomem;
	n = cluster_request_encode(&q, buf, cluster_request_size(&q));
	if (n < 0) {
		api_fail(&call->api.st, API_INTERNAL, "cluster: cannot encode the request");
		goto fail;
	}
	argv[0] = "EVAL", argv[1] = fan_lua, argv[2] = "0", argv[3] = (const char *)buf;
	for (int i = 0; i < 3; i++)
		lens[i] = strlen(argv[i]);
	lens[3] = (size_t)n;
	n = redis_link_cmd(cf->cmd, on_published, fc, 4, argv, lens);
	if (n < 0) {
		api_fail(&call->api.st, n == ERR_LIMIT ? API_RESOURCE_EXHAUSTED : API_UNAVAILABLE,
		         "cluster: %s",
		         n == ERR_LIMIT ? "too many bytes queued for Redis"
		                        : "the link to Redis is down");
		goto fail;
	}
	free(buf);
	free(ids);
	fc->eval_pending = true;
	fc->call = call;
	fc->timer.on_fire = on_deadline;
	list_insert_tail(&cf->calls, &fc->link);
	cf->ncalls++;
	loop_timer_arm(&srv->loop, &fc->timer, srv->loop.now_ms + timeout);
	call->api.cancel = on_cancel;
	call->api.reg_data = fc;
	/* Our own part, as on a single node (it may complete inline). */
	fc->local.kind = fc->kind;
	fc->local.api.done = on_local_done;
	fc->local.api.pending = true;
	fc->local_pending = true;
	if (req)
		registry_local.fanout(srv, req, opcode, &fc->local);
	else
		registry_local.count(srv, &fc->local);
	return;
nomem:
	api_fail(&call->api.st, API_RESOURCE_EXHAUSTED, "out of memory");
fail:
	free(buf);
	free(ids);
	free(fc);
	api_call_complete(&call->api);
}

void cluster_fan_count(struct cluster_fan *cf, struct gw_call *call)
{
	fan_start(cf, NULL, 0, call);
}

void cluster_fan_fanout(struct cluster_fan *cf, const struct gw_req *req, uint8_t opcode,
                        struct gw_call *call)
{
	fan_start(cf, req, opcode, call);
}

void cluster_fan_fail_all(struct cluster_fan *cf, const char *why)
{
	struct list_node *n, *next;

	if (!cf) /* a link reported down before the fan existed */
		return;
	list_for_each_safe(n, next, &cf->sms)
	{
		struct sm_call *sm = list_entry(n, struct sm_call, link);

		if (!sm->call)
			continue;
		for (unsigned o = 0; o < sm->nowners; o++)
			sm_owner_fail(sm, o, API_UNAVAILABLE,
			              "cluster: the link to Redis went down; outcome unknown");
		sm_end(sm);
	}
	list_for_each_safe(n, next, &cf->calls)
	{
		struct fan_call *fc = list_entry(n, struct fan_call, link);

		if (fc->call) {
			log_debug("cluster: fan-out call ended: %s", why);
			fc_end(
			    fc, API_UNAVAILABLE,
			    "cluster: the link to Redis went down; the call's outcome is unknown");
		}
	}
}

/* ---- SendToConnections ---------------------------------------------------- */

static const char publish_lua[] = "if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end "
                                  "return redis.call('PUBLISH', KEYS[2], ARGV[1])";

static bool is_remote(const struct cluster_fan *cf, struct gw_str id)
{
	static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";

	if (id.n != CONN_ID_LEN || !memcmp(id.p, cf->tag, CLUSTER_TAG_LEN))
		return false;
	for (int i = 0; i < CLUSTER_TAG_LEN; i++)
		if (!id.p[i] || !memchr(b32, id.p[i], 32))
			return false;
	return true;
}

static void sm_free(struct sm_call *sm)
{
	loop_timer_disarm(&sm->cf->srv->loop, &sm->timer);
	list_remove(&sm->link);
	sm->cf->ncalls--;
	free(sm->res);
	free(sm->owner_of);
	free(sm->store);
	free(sm);
}

/* The ids of owner o that have no result yet get code and msg. */
static void sm_owner_fail(struct sm_call *sm, unsigned o, enum api_code code, const char *msg)
{
	if (sm->owners[o].done)
		return;
	sm->owners[o].done = true;
	sm->nleft--;
	for (size_t i = 0; i < sm->nids; i++)
		if (sm->owner_of[i] == o) {
			sm->res[i].code = code;
			sm->res[i].message = msg;
		}
}

static void sm_end(struct sm_call *sm)
{
	struct gw_call *call = sm->call;

	sm->call = NULL;
	if (call) {
		call->api.cancel = NULL;
		call->api.reg_data = NULL;
		call->results = sm->res;
		call->nresults = sm->nids;
		sm->res = NULL;
		call->api.st.code = API_OK;
		call->api.st.message = "";
		api_call_complete(&call->api);
	}
	if (!sm->nevals)
		sm_free(sm);
}

static void sm_on_deadline(struct loop_timer *t)
{
	struct sm_call *sm = (struct sm_call *)((char *)t - offsetof(struct sm_call, timer));

	for (unsigned o = 0; o < sm->nowners; o++)
		sm_owner_fail(sm, o, API_UNAVAILABLE,
		              "the owner node did not answer within --cluster-call-timeout");
	sm_end(sm);
}

static void sm_on_published(void *arg, const redisReply *r)
{
	struct sm_owner *ow = arg;
	struct sm_call *sm = ow->sm;
	unsigned o = (unsigned)(ow - sm->owners);

	ow->eval_pending = false;
	sm->nevals--;
	if (!sm->call) {
		if (!sm->nevals)
			sm_free(sm);
		return;
	}
	if (!r || r->type != REDIS_REPLY_INTEGER)
		sm_owner_fail(sm, o, API_UNAVAILABLE, "cluster: the call to the owner node failed");
	else if (r->integer < 0)
		sm_owner_fail(sm, o, API_NOT_FOUND,
		              "connection not found (no live node has its tag)");
	else if (r->integer == 0)
		sm_owner_fail(sm, o, API_UNAVAILABLE,
		              "the owner node holds a lease but is not listening");
	if (!sm->nleft)
		sm_end(sm);
}

static void sm_on_cancel(struct api_call *api)
{
	struct sm_call *sm = api->reg_data;

	sm->call = NULL;
	if (!sm->nevals)
		sm_free(sm);
}

static void sm_on_reply(struct cluster_fan *cf, const struct cluster_reply *a)
{
	struct list_node *n;

	for (n = cf->sms.next; n != &cf->sms; n = n->next) {
		struct sm_call *sm = list_entry(n, struct sm_call, link);
		struct cluster_bytes blk = a->routes, msg;
		uint32_t code;
		char *m;

		for (unsigned o = 0; o < sm->nowners; o++) {
			if (sm->owners[o].call_id != a->call_id)
				continue;
			if (!sm->call || sm->owners[o].done)
				return;
			if (a->code != API_OK) {
				sm_owner_fail(sm, o, API_UNAVAILABLE,
				              "the owner node could not run the call");
			} else {
				/* its ids, in order, take the results in order */
				for (size_t i = 0; i < sm->nids; i++) {
					if (sm->owner_of[i] != o)
						continue;
					if (!cluster_routes_next(&blk, &msg, &code) ||
					    !(code == API_OK || code == API_NOT_FOUND ||
					      code == API_RESOURCE_EXHAUSTED)) {
						sm->res[i].code = API_UNAVAILABLE;
						sm->res[i].message =
						    "the owner node's answer was short";
						continue;
					}
					m = (char *)sm->res[i]
					        .message; /* its slot, reserved at start */
					if (msg.len > SM_MSG_MAX - 1)
						msg.len = SM_MSG_MAX - 1;
					memcpy(m, msg.p, msg.len);
					m[msg.len] = '\0';
					sm->res[i].code = (enum api_code)code;
				}
				sm->owners[o].done = true;
				sm->nleft--;
			}
			if (!sm->nleft)
				sm_end(sm);
			return;
		}
	}
}

void cluster_fan_send_many(struct cluster_fan *cf, const struct gw_req *req, uint8_t opcode,
                           struct gw_call *call)
{
	struct server *srv = cf->srv;
	uint64_t timeout = srv->cfg->cluster_call_timeout_ms;
	struct gw_str local[CLUSTER_IDS_MAX];
	size_t nlocal = 0, idbytes = 0, off;
	struct gw_req lreq;
	struct gw_call lcall = {.kind = GW_SEND_MANY};
	struct sm_call *sm;
	unsigned nowners = 0;
	uint8_t *ids = NULL, *buf = NULL;

	for (size_t i = 0; i < req->nids; i++)
		if (!is_remote(cf, req->ids[i]))
			local[nlocal++] = req->ids[i];
	if (nlocal == req->nids) {
		registry_local.send_many(srv, req, opcode, call);
		return;
	}
	if (!redis_link_is_up(cf->cmd) || !redis_link_is_up(cf->sub)) {
		api_fail(
		    &call->api.st, API_UNAVAILABLE,
		    "cluster: the link to Redis is down; some connections are held by other nodes");
		api_call_complete(&call->api);
		return;
	}
	if (cf->ncalls >= MAX_CALLS) {
		api_fail(&call->api.st, API_RESOURCE_EXHAUSTED,
		         "cluster: %d fan-out calls already under way", MAX_CALLS);
		api_call_complete(&call->api);
		return;
	}
	sm = calloc(1, sizeof *sm + req->nids * sizeof sm->owners[0]);
	if (!sm)
		goto nomem;
	sm->cf = cf;
	sm->nids = req->nids;
	for (size_t i = 0; i < req->nids; i++)
		idbytes += req->ids[i].n;
	sm->res = calloc(req->nids, sizeof *sm->res);
	sm->owner_of = calloc(req->nids, sizeof *sm->owner_of);
	sm->store = malloc(idbytes + req->nids * SM_MSG_MAX + 1);
	ids = malloc(req->nids * (1 + CLUSTER_ID_MAX));
	if (!sm->res || !sm->owner_of || !sm->store || !ids)
		goto nomem_sm;
	/* Copies of the ids (the results name them after this returns), a
	 * message slot per id, and each id's owner. */
	off = 0;
	for (size_t i = 0; i < req->nids; i++) {
		struct gw_str id = req->ids[i];
		unsigned o;

		memcpy(sm->store + off, id.p, id.n);
		sm->res[i].id = (struct gw_str){sm->store + off, id.n};
		off += id.n;
		sm->owner_of[i] = NO_OWNER;
		if (!is_remote(cf, id))
			continue;
		for (o = 0; o < nowners; o++)
			if (!memcmp(sm->owners[o].tag, id.p, CLUSTER_TAG_LEN))
				break;
		if (o == nowners) {
			memcpy(sm->owners[o].tag, id.p, CLUSTER_TAG_LEN);
			sm->owners[o].sm = sm;
			sm->owners[o].call_id = ++cf->seq | (uint64_t)1 << 63;
			nowners++;
		}
		sm->owner_of[i] = (uint16_t)o;
	}
	for (size_t i = 0; i < req->nids; i++) {
		char *m = sm->store + idbytes + i * SM_MSG_MAX;

		m[0] = '\0';
		if (sm->owner_of[i] != NO_OWNER)
			sm->res[i].message = m;
	}
	sm->nowners = sm->nleft = nowners;
	/* Our own ids, inline. */
	if (nlocal) {
		lreq = *req;
		lreq.ids = local;
		lreq.nids = nlocal;
		lcall.api.done = member_done;
		lcall.api.pending = true;
		registry_local.send_many(srv, &lreq, opcode, &lcall);
		for (size_t i = 0, k = 0; i < req->nids && lcall.results; i++)
			if (sm->owner_of[i] == NO_OWNER && k < lcall.nresults) {
				sm->res[i].code = lcall.results[k].code;
				sm->res[i].message = lcall.results[k++].message; /* static */
			}
		if (lcall.api.st.code != API_OK)
			for (size_t i = 0; i < req->nids; i++)
				if (sm->owner_of[i] == NO_OWNER) {
					sm->res[i].code = API_RESOURCE_EXHAUSTED;
					sm->res[i].message = "out of memory";
				}
		gw_call_fini(&lcall);
	}
	sm->call = call;
	sm->timer.on_fire = sm_on_deadline;
	list_insert_tail(&cf->sms, &sm->link);
	cf->ncalls++;
	call->api.cancel = sm_on_cancel;
	call->api.reg_data = sm;
	/* One request per owner: its ids and the payload once. */
	for (unsigned o = 0; o < nowners; o++) {
		struct cluster_request q = {.op = CLUSTER_OP_SEND_MANY, .opcode = opcode};
		char key[32], inbox[32];
		const char *argv[6];
		size_t lens[6], idlen = 0;
		int n;

		for (size_t i = 0; i < req->nids; i++)
			if (sm->owner_of[i] == o && !q.id.len) /* the owner checks its tag here */
				q.id = (struct cluster_bytes){(const uint8_t *)req->ids[i].p,
				                              req->ids[i].n};
		for (size_t i = 0; i < req->nids; i++)
			if (sm->owner_of[i] == o &&
			    cluster_ids_add(ids, req->nids * (1 + CLUSTER_ID_MAX), &idlen,
			                    req->ids[i].p, req->ids[i].n) == 0)
				q.nids++;
		q.ids = (struct cluster_bytes){ids, idlen};
		q.call_id = sm->owners[o].call_id;
		q.caller = (struct cluster_bytes){(const uint8_t *)cf->tag, CLUSTER_TAG_LEN};
		q.deadline_ms = wall_ms(srv) + timeout;
		q.data = (struct cluster_bytes){req->data, req->len};
		free(buf);
		buf = malloc(cluster_request_size(&q));
		n = buf ? cluster_request_encode(&q, buf, cluster_request_size(&q)) : ERR_NOMEM;
		if (n < 0) {
			sm_owner_fail(sm, o, API_RESOURCE_EXHAUSTED, "out of memory");
			continue;
		}
		snprintf(key, sizeof key, "wsgw:node:%s", sm->owners[o].tag);
		snprintf(inbox, sizeof inbox, "wsgw:inbox:%s", sm->owners[o].tag);
		argv[0] = "EVAL", argv[1] = publish_lua, argv[2] = "2", argv[3] = key,
		argv[4] = inbox;
		argv[5] = (const char *)buf;
		for (int i = 0; i < 5; i++)
			lens[i] = strlen(argv[i]);
		lens[5] = (size_t)n;
		if (redis_link_cmd(cf->cmd, sm_on_published, &sm->owners[o], 6, argv, lens) < 0) {
			sm_owner_fail(sm, o, API_UNAVAILABLE, "cluster: the link to Redis is down");
			continue;
		}
		sm->owners[o].eval_pending = true;
		sm->nevals++;
	}
	free(buf);
	free(ids);
	if (!sm->nleft) {
		sm_end(sm);
		return;
	}
	loop_timer_arm(&srv->loop, &sm->timer, srv->loop.now_ms + timeout);
	return;
nomem_sm:
	free(sm->res);
	free(sm->owner_of);
	free(sm->store);
	free(sm);
nomem:
	free(ids);
	api_fail(&call->api.st, API_RESOURCE_EXHAUSTED, "out of memory");
	api_call_complete(&call->api);
}

/* ---- the other nodes' side ----------------------------------------------- */

static void publish_reply(struct cluster_fan *cf, const char *caller, struct cluster_reply *a)
{
	char chan[32];
	const char *argv[3];
	size_t lens[3], cap = cluster_reply_size(a);
	uint8_t *buf = malloc(cap);
	int n = buf ? cluster_reply_encode(a, buf, cap) : ERR_NOMEM;

	if (n >= 0) {
		snprintf(chan, sizeof chan, "wsgw:inbox:%s", caller);
		argv[0] = "PUBLISH", argv[1] = chan, argv[2] = (const char *)buf;
		lens[0] = 7, lens[1] = strlen(chan), lens[2] = (size_t)n;
		if (redis_link_cmd(cf->cmd, NULL, NULL, 3, argv, lens) < 0)
			log_debug("cluster: fan-out reply to node %s not queued", caller);
	}
	free(buf);
}

/* Our part is done: its counts go to the caller. */
static void on_job_done(struct api_call *api)
{
	struct fan_job *j = (struct fan_job *)((char *)api - offsetof(struct fan_job, call));
	struct gw_call *c = &j->call;
	struct cluster_fan *cf = j->cf;
	struct cluster_reply a = {.call_id = j->call_id, .has_counts = true};
	uint8_t *routes = NULL;
	size_t rlen = 0, rcap = 0;

	a.code = (uint8_t)c->api.st.code;
	a.message = (struct cluster_bytes){(const uint8_t *)c->api.st.message,
	                                   strnlen(c->api.st.message, CLUSTER_MESSAGE_MAX)};
	a.node = (struct cluster_bytes){(const uint8_t *)cf->tag, CLUSTER_TAG_LEN};
	a.delivered = c->delivered, a.skipped = c->skipped, a.total = c->total;
	for (size_t i = 0; i < c->nroutes; i++)
		rcap += 6 + strlen(c->routes[i].route);
	if (rcap > CLUSTER_ROUTES_BYTES || c->nroutes > CLUSTER_ROUTES_MAX ||
	    (rcap && !(routes = malloc(rcap)))) {
		a.code = API_RESOURCE_EXHAUSTED;
		a.message = (struct cluster_bytes){(const uint8_t *)"too many routes", 15};
	} else {
		for (size_t i = 0; i < c->nroutes; i++)
			if (cluster_routes_add(routes, rcap, &rlen, c->routes[i].route,
			                       strlen(c->routes[i].route), c->routes[i].count) == 0)
				a.nroutes++;
		a.routes = (struct cluster_bytes){routes, rlen};
	}
	publish_reply(cf, j->caller, &a);
	free(routes);
	gw_call_fini(c);
	list_remove(&j->link);
	cf->njobs--;
	free(j);
}

static bool fan_request_ok(const struct cluster_request *q)
{
	if (q->kind == GW_COUNT)
		return true;
	if (q->kind != GW_BROADCAST && q->kind != GW_SEND_GROUP)
		return false;
	if (q->opcode != WS_OP_TEXT && q->opcode != WS_OP_BINARY)
		return false;
	if (!q->data.len || q->data.len > API_MAX_DATA)
		return false;
	if (q->opcode == WS_OP_TEXT && !utf8_is_valid(q->data.p, q->data.len))
		return false;
	if (q->kind == GW_SEND_GROUP && !groups_name_ok((const char *)q->group.p, q->group.len))
		return false;
	if (memchr(q->route.p, '\0', q->route.len) || memchr(q->prefix.p, '\0', q->prefix.len))
		return false;
	return true;
}

static void run_job(struct cluster_fan *cf, const struct cluster_request *q, const char *caller)
{
	struct cluster_reply a = {.call_id = q->call_id, .has_counts = true};
	struct gw_str ids[CLUSTER_IDS_MAX];
	struct gw_req req = {.kind = q->kind};
	struct cluster_bytes blk = q->ids, id;
	struct fan_job *j;

	if (!fan_request_ok(q))
		return; /* the caller lists us as missing */
	a.node = (struct cluster_bytes){(const uint8_t *)cf->tag, CLUSTER_TAG_LEN};
	j = cf->njobs < MAX_JOBS ? calloc(1, sizeof *j) : NULL;
	if (!j) {
		a.code = API_RESOURCE_EXHAUSTED;
		a.message = (struct cluster_bytes){(const uint8_t *)"too many fan-out jobs", 21};
		publish_reply(cf, caller, &a);
		return;
	}
	j->cf = cf;
	j->call_id = q->call_id;
	memcpy(j->caller, caller, sizeof j->caller);
	j->call.kind = q->kind;
	j->call.api.done = on_job_done;
	j->call.api.pending = true;
	list_insert_tail(&cf->jobs, &j->link);
	cf->njobs++;
	if (q->kind == GW_COUNT) {
		registry_local.count(cf->srv, &j->call);
		return;
	}
	while (req.nids < CLUSTER_IDS_MAX && cluster_ids_next(&blk, &id))
		ids[req.nids++] = (struct gw_str){(const char *)id.p, id.len};
	req.ids = ids;
	req.group = (struct gw_str){(const char *)q->group.p, q->group.len};
	req.route = (struct gw_str){(const char *)q->route.p, q->route.len};
	req.prefix = (struct gw_str){(const char *)q->prefix.p, q->prefix.len};
	req.data = q->data.p;
	req.len = q->data.len;
	req.type = q->opcode == WS_OP_TEXT ? API_DATA_TEXT : API_DATA_BINARY;
	registry_local.fanout(cf->srv, &req, q->opcode, &j->call);
}

/* Join / Leave of one of our connections, asked on another node: the
 * reply is the plain one cluster.c's caller side waits for. */
static void member_done(struct api_call *api)
{
	(void)api; /* registry_local completes inline: the caller reads st */
}

static void run_member(struct cluster_fan *cf, const struct cluster_request *q, const char *caller)
{
	struct gw_call call = {.kind = q->op == CLUSTER_OP_JOIN ? GW_JOIN : GW_LEAVE};
	struct gw_req req = {.kind = call.kind};
	struct cluster_reply a = {.call_id = q->call_id};

	if (!groups_name_ok((const char *)q->group.p, q->group.len))
		return;
	req.id = (struct gw_str){(const char *)q->id.p, q->id.len};
	req.group = (struct gw_str){(const char *)q->group.p, q->group.len};
	call.api.pending = true;
	call.api.done = member_done;
	if (q->op == CLUSTER_OP_JOIN)
		registry_local.join(cf->srv, &req, &call);
	else
		registry_local.leave(cf->srv, &req, &call);
	a.code = (uint8_t)call.api.st.code;
	a.message = (struct cluster_bytes){(const uint8_t *)call.api.st.message,
	                                   strnlen(call.api.st.message, CLUSTER_MESSAGE_MAX)};
	publish_reply(cf, caller, &a);
	gw_call_fini(&call);
}

/* Our ids of a SendToConnections asked on another node. */
static void run_send_many(struct cluster_fan *cf, const struct cluster_request *q,
                          const char *caller)
{
	struct cluster_reply a = {.call_id = q->call_id, .has_counts = true};
	struct gw_str ids[CLUSTER_IDS_MAX];
	struct gw_req req = {.kind = GW_SEND_MANY};
	struct gw_call call = {.kind = GW_SEND_MANY};
	struct cluster_bytes blk = q->ids, id;
	size_t cap = 0, len = 0;
	uint8_t *out = NULL;

	if ((q->opcode != WS_OP_TEXT && q->opcode != WS_OP_BINARY) || !q->data.len ||
	    q->data.len > API_MAX_DATA ||
	    (q->opcode == WS_OP_TEXT && !utf8_is_valid(q->data.p, q->data.len)))
		return;
	while (req.nids < CLUSTER_IDS_MAX && cluster_ids_next(&blk, &id))
		ids[req.nids++] = (struct gw_str){(const char *)id.p, id.len};
	req.ids = ids;
	req.data = q->data.p;
	req.len = q->data.len;
	call.api.done = member_done;
	call.api.pending = true;
	registry_local.send_many(cf->srv, &req, q->opcode, &call);
	a.code = (uint8_t)call.api.st.code;
	a.node = (struct cluster_bytes){(const uint8_t *)cf->tag, CLUSTER_TAG_LEN};
	for (size_t i = 0; i < call.nresults; i++)
		cap += 6 + strlen(call.results[i].message);
	if (call.api.st.code == API_OK && (out = malloc(cap ? cap : 1))) {
		for (size_t i = 0; i < call.nresults; i++)
			if (cluster_routes_add(out, cap, &len, call.results[i].message,
			                       strlen(call.results[i].message),
			                       (uint32_t)call.results[i].code) == 0)
				a.nroutes++;
		a.routes = (struct cluster_bytes){out, len};
	} else {
		a.code = API_RESOURCE_EXHAUSTED;
	}
	publish_reply(cf, caller, &a);
	free(out);
	gw_call_fini(&call);
}

void cluster_fan_on_request(struct cluster_fan *cf, const struct cluster_request *q)
{
	char caller[CLUSTER_TAG_LEN + 1];

	if (q->caller.len != CLUSTER_TAG_LEN) /* cluster.c checked it is a tag */
		return;
	memcpy(caller, q->caller.p, CLUSTER_TAG_LEN);
	caller[CLUSTER_TAG_LEN] = '\0';
	if (q->op == CLUSTER_OP_FAN && strcmp(caller, cf->tag) != 0) /* ours ran locally */
		run_job(cf, q, caller);
	else if (q->op == CLUSTER_OP_JOIN || q->op == CLUSTER_OP_LEAVE)
		run_member(cf, q, caller);
	else if (q->op == CLUSTER_OP_SEND_MANY)
		run_send_many(cf, q, caller);
}

/* ---- life ---------------------------------------------------------------- */

struct cluster_fan *cluster_fan_new(struct server *srv, struct redis_link *cmd,
                                    struct redis_link *sub, const char *tag)
{
	struct cluster_fan *cf = calloc(1, sizeof *cf);

	if (!cf)
		return NULL;
	cf->srv = srv;
	cf->cmd = cmd;
	cf->sub = sub;
	cf->tag = tag;
	list_init(&cf->calls);
	list_init(&cf->jobs);
	list_init(&cf->sms);
	return cf;
}

void cluster_fan_free(struct cluster_fan *cf)
{
	struct list_node *n, *next;

	if (!cf)
		return;
	list_for_each_safe(n, next, &cf->calls)
	{
		struct fan_call *fc = list_entry(n, struct fan_call, link);

		if (fc->call) {
			fc->call->api.cancel = NULL;
			fc->call->api.reg_data = NULL;
		}
		fc_free(fc);
	}
	list_for_each_safe(n, next, &cf->jobs)
	{
		struct fan_job *j = list_entry(n, struct fan_job, link);

		api_call_cancel(&j->call.api);
		gw_call_fini(&j->call);
		list_remove(&j->link);
		free(j);
	}
	list_for_each_safe(n, next, &cf->sms)
	{
		struct sm_call *sm = list_entry(n, struct sm_call, link);

		if (sm->call) {
			sm->call->api.cancel = NULL;
			sm->call->api.reg_data = NULL;
		}
		sm_free(sm);
	}
	free(cf);
}
