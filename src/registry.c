/* registry.c — the local connection registry: the management API's view of
 * the connections this node holds (conn.c's table), by id. Knows no
 * transport and no API rule (api.c validates); must never block.
 */
#include "registry.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conn.h"
#include "ctx.h"
#include "err.h"
#include "log.h"
#include "net.h"
#include "registry_int.h"
#include "spec.h"
#include "ws.h"
#include "ws_conn.h"

static struct conn *find(struct server *srv, const char *id, size_t id_len, struct api_status *st)
{
	/* Every id this node issues has one length: skip the hash otherwise. */
	struct conn *c = id_len == CONN_ID_LEN ? conn_find(srv, id, id_len) : NULL;

	if (!c && st)
		api_fail(st, API_NOT_FOUND, "connection %.*s not found", (int)id_len, id);
	return c;
}

bool registry_has(struct server *srv, const char *id, size_t id_len)
{
	return find(srv, id, id_len, NULL) != NULL;
}

static void ok(struct api_call *call)
{
	call->st.code = API_OK;
	call->st.message = "";
}

static void local_get(struct server *srv, const char *id, size_t id_len, struct api_call *call)
{
	struct conn *c = find(srv, id, id_len, &call->st);
	struct api_connection *out = &call->conn;

	if (c) {
		out->id = c->id;
		out->gateway_id = srv->cfg->gateway_id;
		net_ip_format(&c->ip, out->source_ip, sizeof out->source_ip);
		out->user_agent = c->user_agent ? c->user_agent : "";
		out->connected_at_ns = c->connected_at_ns;
		out->last_active_at_ns = c->last_active_ns;
		ok(call);
	}
	api_call_complete(call);
}

static void local_send(struct server *srv, const char *id, size_t id_len, uint8_t opcode,
                       const uint8_t *data, size_t len, struct api_call *call)
{
	struct conn *c = find(srv, id, id_len, &call->st);
	int rc;

	if (!c)
		goto out;
	rc = ws_conn_send(c, opcode, data, len, true);
	if (rc == ERR_LIMIT)
		srv->metrics.send_queue_full++;
	if (rc == ERR_LIMIT)
		api_fail(&call->st, API_RESOURCE_EXHAUSTED,
		         "connection %s: outbound queue is full (%zu bytes queued, limit %zu); "
		         "nothing was sent",
		         c->id, conn_queued(c), srv->cfg->max_out_queue);
	else if (rc < 0)
		api_fail(&call->st, API_NOT_FOUND, "connection %.*s closed while sending",
		         (int)id_len, id);
	else
		ok(call);
out:
	api_call_complete(call);
}

static void local_close(struct server *srv, const char *id, size_t id_len, uint16_t code,
                        const char *reason, struct api_call *call)
{
	struct conn *c = find(srv, id, id_len, &call->st);

	if (c) {
		log_debug_f(LOG_FIELDS(LF_STR("conn", c->id)), "disconnect requested by the API");
		ws_conn_close(c, code, reason);
		ok(call);
	}
	api_call_complete(call);
}

const struct registry_ops registry_local = {
    .get = local_get,
    .send = local_send,
    .close = local_close,
    .list = registry_gw_list,
    .count = registry_gw_count,
    .send_many = registry_gw_send_many,
    .join = registry_gw_join,
    .leave = registry_gw_leave,
    .fanout = registry_gw_fanout,
};

void registry_each(struct server *srv, bool (*fn)(void *arg, const char *id, size_t id_len),
                   void *arg)
{
	struct list_node *n, *next;

	list_for_each_safe(n, next, &srv->all)
	{
		struct conn *c = list_entry(n, struct conn, link);

		if (c->state == CONN_ST_OPEN && !fn(arg, c->id, CONN_ID_LEN))
			return;
	}
}

/* ---- the local state and the connection hooks -------------------------------- */

static struct conntab_key origin_key(const struct conntab_node *n)
{
	const struct conn_origin *o = (const struct conn_origin *)n;

	return (struct conntab_key){o->key, o->len};
}

/* The order index reads a live connection's seq from the connection. */
static uint64_t seq_of(const void *p)
{
	return conn_seq((const struct conn *)p);
}

int registry_init(struct server *srv)
{
	struct registry_state *r = calloc(1, sizeof *r);
	uint64_t seed[2];

	if (!r)
		return ERR_NOMEM;
	srv->reg = r;
	r->order.seq_of = seq_of;
	if (server_random(srv, (uint8_t *)seed, sizeof seed) < 0)
		return ERR_SYS;
	r->secret = seed[0];
	if (conntab_init(&r->origins, 64, seed[1], origin_key) < 0 ||
	    strpool_init(&r->routes, seed[1] ^ 0x5bd1e995u) < 0 ||
	    groups_init(&r->groups, seed[1] ^ 0x27d4eb2du) < 0)
		return ERR_NOMEM;
	return 0;
}

void registry_fini(struct server *srv)
{
	struct registry_state *r = srv->reg;

	if (!r)
		return;
	connidx_fini(&r->order);
	conntab_fini(&r->origins);
	strpool_fini(&r->routes);
	groups_fini(&r->groups);
	free(r->counts);
	free(r);
	srv->reg = NULL;
}

int registry_on_upgrade(struct conn *c, const char *path, size_t path_len, const char *route,
                        struct spec *spec)
{
	struct registry_state *r = c->srv->reg;
	const char *rt = strpool_get(&r->routes, route, strlen(route));
	char buf[256], *key = buf; /* most paths fit: no allocation to look up */
	struct conntab_node *n;
	struct conn_origin *o;

	if (!rt || path_len > UINT32_MAX - CONN_ORIGIN_PATH - 1 ||
	    (CONN_ORIGIN_PATH + path_len > sizeof buf &&
	     !(key = malloc(CONN_ORIGIN_PATH + path_len))))
		goto out_nomem;
	memcpy(key, &spec, sizeof spec);
	memcpy(key + sizeof spec, &rt, sizeof rt);
	memcpy(key + CONN_ORIGIN_PATH, path, path_len);
	n = conntab_find(&r->origins, key, CONN_ORIGIN_PATH + path_len);
	if (n) {
		o = (struct conn_origin *)n;
		o->refs++;
		strpool_put(&r->routes, rt); /* o holds it already */
		goto out_ok;
	}
	o = malloc(sizeof *o + CONN_ORIGIN_PATH + path_len + 1);
	if (!o)
		goto out_nomem;
	o->refs = 1;
	o->len = (uint32_t)(CONN_ORIGIN_PATH + path_len);
	o->spec = spec_hold(spec);
	o->route = rt;
	memcpy(o->key, key, o->len);
	o->key[o->len] = '\0';
	conntab_insert(&r->origins, &o->node); /* ERR_NOMEM: inserted, denser */
out_ok:
	if (key != buf)
		free(key);
	c->origin = o;
	return 0;
out_nomem:
	if (key != buf)
		free(key);
	strpool_put(&r->routes, rt);
	return ERR_NOMEM;
}

static struct route_count *count_of(struct registry_state *r, const char *route, bool add)
{
	for (size_t i = 0; i < r->ncounts; i++)
		if (r->counts[i].route == route)
			return &r->counts[i];
	if (!add)
		return NULL;
	if (r->ncounts == r->cap_counts) {
		size_t cap = r->cap_counts ? r->cap_counts * 2 : 8;
		struct route_count *v = realloc(r->counts, cap * sizeof *v);

		if (!v)
			return NULL;
		r->counts = v;
		r->cap_counts = cap;
	}
	r->counts[r->ncounts] = (struct route_count){route, 0};
	return &r->counts[r->ncounts++];
}

void registry_on_open(struct conn *c)
{
	struct registry_state *r = c->srv->reg;
	struct route_count *rc;

	/* 2^48 - 1 opens: 89 years at 100 000 a second; past that, none is
	 * indexed rather than the order broken. */
	if (r->last_seq < CONN_SEQ_MAX)
		conn_set_seq(c, ++r->last_seq);
	if (conn_seq(c) && connidx_append(&r->order, conn_seq(c), c) < 0) {
		log_error("conn %s: out of memory: it will not be listed or broadcast to", c->id);
		conn_set_seq(c, 0);
	}
	/* Keyed by the interned template string, never by a spec pointer:
	 * a reloaded spec may replace the routes while connections stay. */
	if (conn_route(c) && (rc = count_of(r, conn_route(c), true)) != NULL)
		rc->count++;
}

void registry_on_leave(struct conn *c)
{
	struct registry_state *r = c->srv->reg;
	struct route_count *rc;

	if (conn_seq(c))
		connidx_remove(&r->order, conn_seq(c));
	if (conn_route(c) && (rc = count_of(r, conn_route(c), false)) != NULL && --rc->count == 0)
		*rc = r->counts[--r->ncounts];
	if (c->side)
		groups_leave_all(&r->groups, &c->side->groups);
}

void registry_on_free(struct conn *c)
{
	struct registry_state *r = c->srv->reg;

	struct conn_origin *o = (struct conn_origin *)c->origin;

	c->origin = NULL;
	if (!o || --o->refs > 0)
		return;
	conntab_remove(&r->origins, &o->node);
	strpool_put(&r->routes, o->route);
	spec_drop(o->spec);
	free(o);
}

#define GROUPS_HEADER "x-wsgw-groups"

static void join_one(struct conn *c, const char *name, size_t n)
{
	struct conn_side *s;
	int rc = -1;

	if (groups_name_ok(name, n))
		rc = (s = conn_side(c)) ? groups_join(&c->srv->reg->groups, &s->groups, name, n)
		                         : ERR_NOMEM;
	if (rc < 0)
		log_warn("conn %s: X-Wsgw-Groups: cannot join group \"%.*s\" (%s)", c->id,
		         (int)(n > 128 ? 128 : n), name,
		         rc == ERR_LIMIT           ? "64 groups already"
		         : groups_name_ok(name, n) ? "out of memory"
		                                   : "not a valid group name");
}

void registry_join_listed(struct conn *c, const char *h, size_t len)
{
	const size_t hl = sizeof GROUPS_HEADER - 1;

	for (size_t i = 0; i < len;) {
		const char *line = h + i, *nl = memchr(line, '\n', len - i);
		size_t ll = nl ? (size_t)(nl - line) : len - i;

		i += ll + (nl != NULL);
		if (ll && line[ll - 1] == '\r')
			ll--;
		if (ll <= hl || line[hl] != ':' || strncasecmp(line, GROUPS_HEADER, hl) != 0)
			continue;
		/* RFC 9110 §5.6.1: a list, elements separated by commas, with
		 * optional whitespace; empty elements are ignored. */
		for (size_t k = hl + 1; k < ll;) {
			size_t end = k, a, b;

			while (end < ll && line[end] != ',')
				end++;
			for (a = k; a < end && (line[a] == ' ' || line[a] == '\t'); a++)
				;
			for (b = end; b > a && (line[b - 1] == ' ' || line[b - 1] == '\t'); b--)
				;
			if (b > a)
				join_one(c, line + a, b - a);
			k = end + 1;
		}
	}
}

void registry_group_totals(const struct server *srv, uint64_t *groups, uint64_t *memberships)
{
	*groups = srv->reg ? srv->reg->groups.count : 0;
	*memberships = srv->reg ? srv->reg->groups.memberships : 0;
}
