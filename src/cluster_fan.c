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

struct cluster_fan {
	struct server *srv;
	struct redis_link *cmd, *sub;
	const char *tag;
	struct list_node calls, jobs;
	unsigned ncalls, njobs;
	uint64_t seq;
};

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
	free(cf);
}
