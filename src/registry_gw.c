/* registry_gw.c — wsgw.v1's calls on the connections this node holds:
 * list (paged in seq order), count, send to many, group membership, and
 * the paced sends (broadcast, group send) through fanout.c. Rules were
 * checked by gw_api.c; this only looks up, walks and sends. Completes
 * every call inline except the paced sends, which complete after their
 * last slice.
 *
 * Safe iteration: a paced send holds a seq position, never a connection
 * pointer, across slices; within a slice it re-finds its index whenever a
 * send changed the order (a connection that failed to write closes).
 */
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "ctx.h"
#include "err.h"
#include "fanout.h"
#include "log.h"
#include "net.h"
#include "obuf.h"
#include "registry.h"
#include "registry_int.h"
#include "ws.h"
#include "ws_conn.h"

#define LIST_SCAN_MAX 100000 /* entries one List call examines at most */
#define CLOCK_EVERY 32       /* connections between two clock reads */
/* A group up to this size is sent to by visiting its members (a snapshot
 * of their seqs, taken in one go); a larger one by walking the whole order
 * in slices, which costs the same per connection and never a long pass. */
#define GROUP_SNAPSHOT_MAX 4096
/* A page's answer stays under grpcio's default 4 MiB receive limit: it
 * ends early once its connections' estimated size would pass this (1000
 * connections in 64 groups of 128-byte names would be ~8.5 MB). */
#define LIST_MAX_BYTES (3584u * 1024u)

static void ok(struct gw_call *call)
{
	call->api.st.code = API_OK;
	call->api.st.message = "";
}

static struct conn *find(struct server *srv, struct gw_str id)
{
	return id.n == CONN_ID_LEN ? conn_find(srv, id.p, id.n) : NULL;
}

static bool str_eq(const char *s, struct gw_str x)
{
	return s && strlen(s) == x.n && memcmp(s, x.p, x.n) == 0;
}

/* ---- List ------------------------------------------------------------------- */

/* The check value ties a token to the process (or the cluster) and to
 * every filter. */
uint64_t registry_list_check(uint64_t secret, uint64_t seq, const struct gw_req *q)
{
	uint64_t h = pagetok_check_init(secret, seq);
	int64_t t[4] = {q->has_after, q->after_ns, q->has_before, q->before_ns};

	h = pagetok_check_add(h, q->route.p, q->route.n);
	h = pagetok_check_add(h, q->prefix.p, q->prefix.n);
	h = pagetok_check_add(h, q->group.p, q->group.n);
	return pagetok_check_add(h, t, sizeof t);
}

static bool list_match(const struct conn *c, const struct gw_req *q, const struct group *g)
{
	const char *path = conn_path(c);

	if (q->route.n && !str_eq(conn_route(c), q->route))
		return false;
	if (q->prefix.n &&
	    (!path || strlen(path) < q->prefix.n || memcmp(path, q->prefix.p, q->prefix.n)))
		return false;
	if (g && !groups_has(conn_groups(c), g->gid))
		return false;
	if (q->has_after && c->connected_at_ns < q->after_ns)
		return false;
	if (q->has_before && c->connected_at_ns >= q->before_ns)
		return false;
	return true;
}

/* An upper bound of c's size in a ListConnections answer in protobuf:
 * its strings, and per field its tag and length (at most 5 bytes), the
 * timestamps and the message framing; JSON's names and quotes take about
 * as much again per connection, not per byte. */
static size_t list_size(const struct server *srv, const struct conn *c)
{
	size_t n = 96 + strlen(c->id) + strlen(srv->cfg->gateway_id) + 64 /* source_ip */;
	const struct groups_member *gm = conn_groups(c);

	n += c->user_agent ? strlen(c->user_agent) : 0;
	n += conn_path(c) ? strlen(conn_path(c)) : 0;
	n += conn_route(c) ? strlen(conn_route(c)) : 0;
	n += c->protocol >= 0 ? strlen(srv->cfg->protocols[c->protocol]) : 0;
	for (int i = 0; i < gm->n; i++)
		n += 3 + gm->l[i]->g->len;
	return n;
}

/* Appends c to the page; false when out of memory. */
static bool list_add(struct server *srv, struct gw_call *call, const struct conn *c, size_t *names)
{
	struct gw_conn_info *o = &call->conns[call->nconns];
	const struct config *cfg = srv->cfg;
	const struct groups_member *gm = conn_groups(c);

	if (gm->n) {
		const char **v = realloc(call->names, (*names + gm->n) * sizeof *v);

		if (!v)
			return false;
		call->names = v;
		for (int i = 0; i < gm->n; i++)
			v[*names + (size_t)i] = gm->l[i]->g->name;
	}
	*o = (struct gw_conn_info){0};
	o->base.id = c->id;
	o->base.gateway_id = cfg->gateway_id;
	net_ip_format(&c->ip, o->base.source_ip, sizeof o->base.source_ip);
	o->base.user_agent = c->user_agent ? c->user_agent : "";
	o->base.connected_at_ns = c->connected_at_ns;
	o->base.last_active_at_ns = c->last_active_ns;
	o->path = conn_path(c) ? conn_path(c) : "";
	o->route = conn_route(c) ? conn_route(c) : "";
	o->subprotocol = c->protocol >= 0 ? cfg->protocols[c->protocol] : "";
	o->ngroups = gm->n;
	o->groups = (const char *const *)(uintptr_t)*names; /* an offset until the end */
	*names += gm->n;
	call->nconns++;
	return true;
}

bool registry_list_page(struct server *srv, const struct gw_req *q, uint64_t *pos,
                        struct gw_call *call)
{
	struct registry_state *r = srv->reg;
	struct connidx *x = &r->order;
	uint64_t seq = *pos;
	size_t i, scanned = 0, names = 0, page = (size_t)q->page_size, bytes = 0;
	const struct group *g = NULL;

	ok(call);
	if (q->group.n && !(g = groups_find(&r->groups, q->group.p, q->group.n)))
		return false; /* no such group: no member */
	call->conns = malloc((page ? page : 1) * sizeof *call->conns);
	if (!call->conns) {
		api_fail(&call->api.st, API_RESOURCE_EXHAUSTED, "out of memory");
		return false;
	}
	for (i = connidx_lower_bound(x, seq == UINT64_MAX ? seq : seq + 1); i < x->len; i++) {
		struct conn *c = connidx_at(x, i);

		if (call->nconns == page || scanned == LIST_SCAN_MAX)
			break;
		if (c && list_match(c, q, g)) {
			size_t sz = list_size(srv, c);

			if (call->nconns && bytes + sz > LIST_MAX_BYTES)
				break; /* the next page starts with it */
			bytes += sz;
			if (!list_add(srv, call, c, &names)) {
				api_fail(&call->api.st, API_RESOURCE_EXHAUSTED, "out of memory");
				return false;
			}
		}
		scanned++;
		seq = connidx_seq(x, i);
	}
	for (size_t k = 0; k < call->nconns; k++)
		call->conns[k].groups = call->names + (uintptr_t)call->conns[k].groups;
	*pos = seq;
	/* A short page with more to come can happen (a scan budget, the size
	 * bound, filters). */
	return i < x->len;
}

void registry_gw_list(struct server *srv, const struct gw_req *q, struct gw_call *call)
{
	struct registry_state *r = srv->reg;
	uint64_t seq = 0, check;

	if (q->token.n && (pagetok_decode(q->token.p, q->token.n, &seq, &check) < 0 ||
	                   check != registry_list_check(r->secret, seq, q))) {
		api_fail(&call->api.st, API_INVALID_ARGUMENT,
		         "page_token was not issued for this listing (filters must stay the same)");
		goto out;
	}
	/* No token means the walk is over. */
	if (registry_list_page(srv, q, &seq, call))
		pagetok_encode(seq, registry_list_check(r->secret, seq, q), call->next_token);
out:
	api_call_complete(&call->api);
}

/* ---- Count, SendToConnections, groups ---------------------------------------- */

void registry_gw_count(struct server *srv, struct gw_call *call)
{
	struct registry_state *r = srv->reg;

	call->total = (uint32_t)conntab_count(&srv->table);
	call->routes = malloc((r->ncounts ? r->ncounts : 1) * sizeof *call->routes);
	if (!call->routes) {
		api_fail(&call->api.st, API_RESOURCE_EXHAUSTED, "out of memory");
	} else {
		for (size_t i = 0; i < r->ncounts; i++)
			call->routes[i] =
			    (struct gw_route_count){r->counts[i].route, r->counts[i].count};
		call->nroutes = r->ncounts;
		ok(call);
	}
	api_call_complete(&call->api);
}

void registry_gw_send_many(struct server *srv, const struct gw_req *q, uint8_t opcode,
                           struct gw_call *call)
{
	call->results = calloc(q->nids ? q->nids : 1, sizeof *call->results);
	if (!call->results) {
		api_fail(&call->api.st, API_RESOURCE_EXHAUSTED, "out of memory");
		api_call_complete(&call->api);
		return;
	}
	for (size_t i = 0; i < q->nids; i++) {
		struct gw_send_result *res = &call->results[i];
		struct conn *c = find(srv, q->ids[i]);
		int rc = c ? ws_conn_send(c, opcode, q->data, q->len, true) : ERR_CLOSED;

		res->id = q->ids[i];
		res->code = rc == 0           ? API_OK
		            : rc == ERR_LIMIT ? API_RESOURCE_EXHAUSTED
		                              : API_NOT_FOUND;
		res->message = rc == 0           ? ""
		               : rc == ERR_LIMIT ? "outbound queue is full; nothing was sent"
		               : c               ? "connection closed while sending"
		                                 : "connection not found";
	}
	call->nresults = q->nids;
	for (size_t i = 0; i < q->nids; i++) {
		srv->metrics.fan_delivered[METRICS_FAN_SEND_MANY] +=
		    call->results[i].code == API_OK;
		srv->metrics.fan_skipped[METRICS_FAN_SEND_MANY] +=
		    call->results[i].code == API_RESOURCE_EXHAUSTED;
	}
	ok(call);
	api_call_complete(&call->api);
}

static struct conn *member(struct server *srv, const struct gw_req *q, struct gw_call *call)
{
	struct conn *c = find(srv, q->id);

	if (!c)
		api_fail(&call->api.st, API_NOT_FOUND, "connection %.*s not found",
		         (int)(q->id.n > 64 ? 64 : q->id.n), q->id.p);
	return c;
}

void registry_gw_join(struct server *srv, const struct gw_req *q, struct gw_call *call)
{
	struct conn *c = member(srv, q, call);
	int rc;

	if (c) {
		rc = conn_side(c)
		         ? groups_join(&srv->reg->groups, &c->side->groups, q->group.p, q->group.n)
		         : ERR_NOMEM;
		if (rc == ERR_LIMIT)
			api_fail(&call->api.st, API_RESOURCE_EXHAUSTED,
			         "connection %s is in %d groups already, the most allowed", c->id,
			         GROUPS_PER_MEMBER_MAX);
		else if (rc < 0)
			api_fail(&call->api.st, API_RESOURCE_EXHAUSTED, "out of memory");
		else
			ok(call);
	}
	api_call_complete(&call->api);
}

void registry_gw_leave(struct server *srv, const struct gw_req *q, struct gw_call *call)
{
	struct conn *c = member(srv, q, call);

	if (c) {
		if (!c->side ||
		    groups_leave(&srv->reg->groups, &c->side->groups, q->group.p, q->group.n) < 0)
			api_fail(&call->api.st, API_NOT_FOUND, "connection %s is not in group %.*s",
			         c->id, (int)q->group.n, q->group.p);
		else
			ok(call);
	}
	api_call_complete(&call->api);
}

/* ---- paced sends --------------------------------------------------------------- */

struct bcast {
	struct fanout f;
	struct obuf_shared *frame;   /* header + payload, encoded once, shared */
	uint64_t next_seq, last_seq; /* still to visit: [next_seq, last_seq] */
	char *route;                 /* Broadcast path (template), NULL: any */
	char *prefix;                /* path_prefix, NULL: any */
	size_t prefix_len;
	uint64_t gid;      /* SendToGroup's group, 0: none */
	uint64_t *members; /* SendToGroup of a small group: its members' seqs, sorted */
	size_t nmembers, next_member;
	uint64_t *exclude; /* seqs, sorted */
	size_t nexclude;
	uint32_t delivered, skipped;
	/* /metrics: the call (enum metrics_fanout_call), counted as running
	 * once started, and what the counters already hold of the two above */
	unsigned fan;
	bool running;
	uint32_t tallied_delivered, tallied_skipped;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static bool excluded(const struct bcast *b, uint64_t seq)
{
	return b->nexclude && bsearch(&seq, b->exclude, b->nexclude, sizeof seq, cmp_u64);
}

static bool bcast_match(const struct bcast *b, const struct conn *c)
{
	if (b->gid && !groups_has(conn_groups(c), b->gid))
		return false;
	if (b->route && (!conn_route(c) || strcmp(conn_route(c), b->route) != 0))
		return false;
	if (b->prefix && (!conn_path(c) || strncmp(conn_path(c), b->prefix, b->prefix_len) != 0))
		return false;
	return !excluded(b, conn_seq(c));
}

/* A small group: visit its members by seq (each looked up again, so one
 * that closed meanwhile is simply not found), not the whole order. */
static bool members_step(struct bcast *b, uint64_t until_ns)
{
	struct connidx *x = &b->f.srv->reg->order;

	for (unsigned n = 0; b->next_member < b->nmembers; b->next_member++) {
		uint64_t seq = b->members[b->next_member];
		size_t i = connidx_lower_bound(x, seq);
		struct conn *c = i < x->len && connidx_seq(x, i) == seq ? connidx_at(x, i) : NULL;

		if (++n % CLOCK_EVERY == 0 && fanout_now_ns() >= until_ns)
			return false;
		if (!c || !bcast_match(b, c))
			continue;
		if (ws_conn_send_frame(c, b->frame) == 0)
			b->delivered++;
		else
			b->skipped++;
	}
	return true;
}

static bool bcast_step(struct fanout *f, uint64_t until_ns)
{
	struct bcast *b = (struct bcast *)f;
	struct connidx *x = &f->srv->reg->order;
	size_t len = x->len, i = connidx_lower_bound(x, b->next_seq);
	unsigned n = 0;

	if (b->members)
		return members_step(b, until_ns);
	for (; i < x->len && connidx_seq(x, i) <= b->last_seq; i++) {
		struct conn *c = connidx_at(x, i);

		if (++n % CLOCK_EVERY == 0 && fanout_now_ns() >= until_ns)
			return false;
		b->next_seq = connidx_seq(x, i) + 1;
		if (!c || !bcast_match(b, c))
			continue;
		if (ws_conn_send_frame(c, b->frame) == 0)
			b->delivered++;
		else
			b->skipped++; /* queue full (RESOURCE_EXHAUSTED), or it just closed */
		if (x->len != len) {  /* that one closed: the order changed */
			len = x->len;
			i = connidx_lower_bound(x, b->next_seq) - 1;
		}
	}
	return true;
}

/* One slice, then its deliveries into the counters (so they move while a
 * long send runs, not only at its end). */
static bool bcast_slice(struct fanout *f, uint64_t until_ns)
{
	struct bcast *b = (struct bcast *)f;
	struct metrics *m = &f->srv->metrics;
	bool done = bcast_step(f, until_ns);

	m->fan_delivered[b->fan] += b->delivered - b->tallied_delivered;
	m->fan_skipped[b->fan] += b->skipped - b->tallied_skipped;
	b->tallied_delivered = b->delivered;
	b->tallied_skipped = b->skipped;
	return done;
}

static void bcast_result(struct fanout *f, struct api_call *api)
{
	struct bcast *b = (struct bcast *)f;
	struct gw_call *call = (struct gw_call *)api;

	call->delivered = b->delivered;
	call->skipped = b->skipped;
	api->st.code = API_OK;
	api->st.message = "";
}

static void bcast_free(struct fanout *f)
{
	struct bcast *b = (struct bcast *)f;

	if (b->running)
		f->srv->metrics.fan_running[b->fan]--;
	obuf_shared_put(b->frame); /* queues that hold its rest keep it */
	free(b->route);
	free(b->prefix);
	free(b->exclude);
	free(b->members);
	free(b);
}

static char *dup_str(struct gw_str s)
{
	char *p = malloc(s.n + 1);

	if (p) {
		memcpy(p, s.p, s.n);
		p[s.n] = '\0';
	}
	return p;
}

/* Fills b from the request; false when out of memory. */
static bool bcast_setup(struct server *srv, struct bcast *b, const struct gw_req *q, uint8_t opcode)
{
	uint8_t hdr[WS_MAX_HEADER];
	size_t hl = ws_encode_header(hdr, true, opcode, q->len);

	b->frame = obuf_shared_new(hl + q->len);
	if (!b->frame)
		return false;
	memcpy(b->frame->data, hdr, hl);
	memcpy(b->frame->data + hl, q->data, q->len);
	if (q->route.n && !(b->route = dup_str(q->route)))
		return false;
	if (q->prefix.n && !(b->prefix = dup_str(q->prefix)))
		return false;
	b->prefix_len = q->prefix.n;
	if (q->kind == GW_BROADCAST && q->nids) {
		b->exclude = malloc(q->nids * sizeof *b->exclude);
		if (!b->exclude)
			return false;
		for (size_t i = 0; i < q->nids; i++) {
			struct conn *c = find(srv, q->ids[i]);

			if (c && conn_seq(c)) /* unknown ids exclude nobody */
				b->exclude[b->nexclude++] = conn_seq(c);
		}
		qsort(b->exclude, b->nexclude, sizeof *b->exclude, cmp_u64);
	}
	/* Connections that open while it runs are not sent to. */
	b->next_seq = 1;
	b->last_seq = srv->reg->last_seq;
	return true;
}

/* The members of a small group as sorted seqs; false when out of memory. */
static bool snapshot(struct bcast *b, const struct group *g)
{
	const struct list_node *n;

	b->members = malloc((g->members ? g->members : 1) * sizeof *b->members);
	if (!b->members)
		return false;
	for (n = g->links.next; n != &g->links; n = n->next) {
		const struct group_link *l = list_entry(n, struct group_link, in_group);
		const struct conn *c =
		    ((const struct conn_side *)((const char *)l->owner -
		                                offsetof(struct conn_side, groups)))
		        ->conn;

		if (conn_seq(c))
			b->members[b->nmembers++] = conn_seq(c);
	}
	qsort(b->members, b->nmembers, sizeof *b->members, cmp_u64);
	return true;
}

void registry_gw_fanout(struct server *srv, const struct gw_req *q, uint8_t opcode,
                        struct gw_call *call)
{
	struct bcast *b;

	if (q->kind == GW_SEND_GROUP) {
		struct group *g = groups_find(&srv->reg->groups, q->group.p, q->group.n);

		if (!g) { /* groups vanish with their last member: nobody to send to */
			ok(call);
			api_call_complete(&call->api);
			return;
		}
		b = calloc(1, sizeof *b);
		if (b)
			b->gid = g->gid;
		if (b && g->members <= GROUP_SNAPSHOT_MAX && !snapshot(b, g)) {
			free(b);
			b = NULL;
		}
	} else {
		b = calloc(1, sizeof *b);
	}
	if (!b || !bcast_setup(srv, b, q, opcode)) {
		if (b)
			bcast_free(&b->f);
		api_fail(&call->api.st, API_RESOURCE_EXHAUSTED, "out of memory");
		api_call_complete(&call->api);
		return;
	}
	b->f.srv = srv;
	b->fan = q->kind == GW_SEND_GROUP ? METRICS_FAN_SEND_GROUP : METRICS_FAN_BROADCAST;
	b->running = true;
	srv->metrics.fan_running[b->fan]++;
	b->f.step = bcast_slice;
	b->f.result = bcast_result;
	b->f.free_fn = bcast_free;
	fanout_start(&b->f, &call->api);
}
