/* cluster_msg.c — encode and decode the cluster's request and reply
 * (cluster_msg.h). Integers are big-endian; a string is a length (1, 2 or
 * 4 bytes as the field's cap needs) then its bytes. Every length is checked
 * against its cap and against what is left of the input.
 */
#include "cluster_msg.h"

#include <string.h>

#include "err.h"

struct wr {
	uint8_t *p;
	size_t len, cap;
	bool over;
};

static void put(struct wr *w, const void *src, size_t n)
{
	if (w->over || n > w->cap - w->len) {
		w->over = true;
		return;
	}
	memcpy(w->p + w->len, src, n);
	w->len += n;
}

static void put_uint(struct wr *w, uint64_t v, unsigned bytes)
{
	uint8_t b[8];

	for (unsigned i = 0; i < bytes; i++)
		b[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
	put(w, b, bytes);
}

static void put_bytes(struct wr *w, struct cluster_bytes s, unsigned lenbytes, size_t max)
{
	if (s.len > max) {
		w->over = true;
		return;
	}
	put_uint(w, s.len, lenbytes);
	if (s.len)
		put(w, s.p, s.len);
}

struct rd {
	const uint8_t *p;
	size_t len, off;
	bool bad;
};

static uint64_t get_uint(struct rd *r, unsigned bytes)
{
	uint64_t v = 0;

	if (r->bad || bytes > r->len - r->off) {
		r->bad = true;
		return 0;
	}
	for (unsigned i = 0; i < bytes; i++)
		v = (v << 8) | r->p[r->off++];
	return v;
}

static struct cluster_bytes get_bytes(struct rd *r, unsigned lenbytes, size_t max)
{
	struct cluster_bytes s = {NULL, 0};
	uint64_t n = get_uint(r, lenbytes);

	if (r->bad || n > max || n > r->len - r->off) {
		r->bad = true;
		return s;
	}
	s.p = r->p + r->off;
	s.len = (size_t)n;
	r->off += s.len;
	return s;
}

size_t cluster_request_size(const struct cluster_request *q)
{
	size_t n = 1 + 1 + 1 + q->caller.len + 8 + 8 + 1 + q->id.len + 1 + 2 + 1 + q->reason.len +
	           4 + q->data.len;

	if (q->op >= CLUSTER_OP_FAN)
		n += 1 + 1 + q->group.len + 2 + q->route.len + 2 + q->prefix.len + 2 + 4 +
		     q->ids.len;
	if (q->op == CLUSTER_OP_LIST)
		n += 1 + q->from.len + 8 + 2 + 1 + 8 + 8;
	return n;
}

/* An ids block holds exactly nids well-formed entries. */
static bool ids_ok(struct cluster_bytes b, uint16_t nids)
{
	struct cluster_bytes id;
	unsigned n = 0;

	while (b.len) {
		if (!cluster_ids_next(&b, &id))
			return false;
		n++;
	}
	return n == nids;
}

bool cluster_ids_next(struct cluster_bytes *block, struct cluster_bytes *id)
{
	size_t n;

	if (block->len == 0)
		return false;
	n = block->p[0];
	if (n > CLUSTER_ID_MAX || n > block->len - 1)
		return false;
	id->p = block->p + 1;
	id->len = n;
	block->p += 1 + n;
	block->len -= 1 + n;
	return true;
}

int cluster_ids_add(uint8_t *out, size_t cap, size_t *len, const void *id, size_t n)
{
	if (n > CLUSTER_ID_MAX || cap < *len || 1 + n > cap - *len)
		return ERR_LIMIT;
	out[*len] = (uint8_t)n;
	memcpy(out + *len + 1, id, n);
	*len += 1 + n;
	return 0;
}

static bool routes_ok(struct cluster_bytes b, uint16_t nroutes)
{
	struct cluster_bytes r;
	uint32_t c;
	unsigned n = 0;

	while (b.len) {
		if (!cluster_routes_next(&b, &r, &c))
			return false;
		n++;
	}
	return n == nroutes;
}

bool cluster_routes_next(struct cluster_bytes *block, struct cluster_bytes *route, uint32_t *count)
{
	size_t n;

	if (block->len < 2)
		return false;
	n = (size_t)block->p[0] << 8 | block->p[1];
	if (n > CLUSTER_FILTER_MAX || n + 4 > block->len - 2)
		return false;
	route->p = block->p + 2;
	route->len = n;
	*count = (uint32_t)block->p[2 + n] << 24 | (uint32_t)block->p[3 + n] << 16 |
	         (uint32_t)block->p[4 + n] << 8 | block->p[5 + n];
	block->p += 6 + n;
	block->len -= 6 + n;
	return true;
}

int cluster_routes_add(uint8_t *out, size_t cap, size_t *len, const void *route, size_t n,
                       uint32_t count)
{
	if (n > CLUSTER_FILTER_MAX || cap < *len || 6 + n > cap - *len)
		return ERR_LIMIT;
	out[*len] = (uint8_t)(n >> 8);
	out[*len + 1] = (uint8_t)n;
	memcpy(out + *len + 2, route, n);
	for (int i = 0; i < 4; i++)
		out[*len + 2 + n + (size_t)i] = (uint8_t)(count >> (24 - 8 * i));
	*len += 6 + n;
	return 0;
}

bool cluster_groups_next(struct cluster_bytes *block, struct cluster_bytes *name)
{
	size_t n;

	if (block->len == 0)
		return false;
	n = block->p[0];
	if (n == 0 || n > CLUSTER_GROUP_MAX || n > block->len - 1)
		return false;
	name->p = block->p + 1;
	name->len = n;
	block->p += 1 + n;
	block->len -= 1 + n;
	return true;
}

int cluster_groups_add(uint8_t *out, size_t cap, size_t *len, const void *name, size_t n)
{
	if (n == 0 || n > CLUSTER_GROUP_MAX || cap < *len || 1 + n > cap - *len)
		return ERR_LIMIT;
	out[*len] = (uint8_t)n;
	memcpy(out + *len + 1, name, n);
	*len += 1 + n;
	return 0;
}

static bool groups_ok(struct cluster_bytes b, unsigned ngroups)
{
	struct cluster_bytes g;
	unsigned n = 0;

	while (b.len) {
		if (!cluster_groups_next(&b, &g))
			return false;
		n++;
	}
	return n == ngroups;
}

size_t cluster_conn_size(const struct cluster_conn *c)
{
	return 1 + c->id.len + 2 + c->gateway_id.len + 1 + c->source_ip.len + 2 +
	       c->user_agent.len + 16 + 2 + c->path.len + 2 + c->route.len + 1 +
	       c->subprotocol.len + 1 + 2 + c->groups.len;
}

int cluster_conns_add(uint8_t *out, size_t cap, size_t *len, const struct cluster_conn *c)
{
	struct wr w = {out, *len, cap, cap < *len};

	if (c->ngroups > CLUSTER_GROUPS_MAX || !groups_ok(c->groups, c->ngroups))
		return ERR_LIMIT;
	put_bytes(&w, c->id, 1, CLUSTER_ID_MAX);
	put_bytes(&w, c->gateway_id, 2, CLUSTER_TEXT_MAX);
	put_bytes(&w, c->source_ip, 1, 64);
	put_bytes(&w, c->user_agent, 2, CLUSTER_TEXT_MAX);
	put_uint(&w, (uint64_t)c->connected_at_ns, 8);
	put_uint(&w, (uint64_t)c->last_active_at_ns, 8);
	put_bytes(&w, c->path, 2, CLUSTER_TEXT_MAX);
	put_bytes(&w, c->route, 2, CLUSTER_TEXT_MAX);
	put_bytes(&w, c->subprotocol, 1, 255);
	put_uint(&w, c->ngroups, 1);
	put_bytes(&w, c->groups, 2, CLUSTER_GROUPS_MAX * (1 + CLUSTER_GROUP_MAX));
	if (w.over)
		return ERR_LIMIT;
	*len = w.len;
	return 0;
}

bool cluster_conns_next(struct cluster_bytes *block, struct cluster_conn *c)
{
	struct rd r = {block->p, block->len, 0, false};

	if (block->len == 0)
		return false;
	c->id = get_bytes(&r, 1, CLUSTER_ID_MAX);
	c->gateway_id = get_bytes(&r, 2, CLUSTER_TEXT_MAX);
	c->source_ip = get_bytes(&r, 1, 64);
	c->user_agent = get_bytes(&r, 2, CLUSTER_TEXT_MAX);
	c->connected_at_ns = (int64_t)get_uint(&r, 8);
	c->last_active_at_ns = (int64_t)get_uint(&r, 8);
	c->path = get_bytes(&r, 2, CLUSTER_TEXT_MAX);
	c->route = get_bytes(&r, 2, CLUSTER_TEXT_MAX);
	c->subprotocol = get_bytes(&r, 1, 255);
	c->ngroups = (uint8_t)get_uint(&r, 1);
	c->groups = get_bytes(&r, 2, CLUSTER_GROUPS_MAX * (1 + CLUSTER_GROUP_MAX));
	if (r.bad || c->ngroups > CLUSTER_GROUPS_MAX || !groups_ok(c->groups, c->ngroups))
		return false;
	block->p += r.off;
	block->len -= r.off;
	return true;
}

static bool conns_ok(struct cluster_bytes b, unsigned nconns)
{
	struct cluster_conn c;
	unsigned n = 0;

	while (b.len) {
		if (!cluster_conns_next(&b, &c))
			return false;
		n++;
	}
	return n == nconns;
}

int cluster_request_encode(const struct cluster_request *q, uint8_t *out, size_t cap)
{
	struct wr w = {out, 0, cap, false};

	if (q->op > CLUSTER_OP_LAST)
		return ERR_LIMIT;
	put_uint(&w, CLUSTER_MSG_REQUEST, 1);
	put_uint(&w, q->op, 1);
	put_bytes(&w, q->caller, 1, CLUSTER_TAG_MAX);
	put_uint(&w, q->call_id, 8);
	put_uint(&w, q->deadline_ms, 8);
	put_bytes(&w, q->id, 1, CLUSTER_ID_MAX);
	put_uint(&w, q->opcode, 1);
	put_uint(&w, q->close_code, 2);
	put_bytes(&w, q->reason, 1, CLUSTER_REASON_MAX);
	put_bytes(&w, q->data, 4, CLUSTER_DATA_MAX);
	if (q->op >= CLUSTER_OP_FAN) {
		if (q->nids > CLUSTER_IDS_MAX || !ids_ok(q->ids, q->nids))
			return ERR_LIMIT;
		put_uint(&w, q->kind, 1);
		put_bytes(&w, q->group, 1, CLUSTER_GROUP_MAX);
		put_bytes(&w, q->route, 2, CLUSTER_FILTER_MAX);
		put_bytes(&w, q->prefix, 2, CLUSTER_FILTER_MAX);
		put_uint(&w, q->nids, 2);
		put_bytes(&w, q->ids, 4, CLUSTER_IDS_MAX * (1 + CLUSTER_ID_MAX));
	}
	if (q->op == CLUSTER_OP_LIST) {
		if (q->page_size == 0 || q->page_size > CLUSTER_PAGE_MAX)
			return ERR_LIMIT;
		put_bytes(&w, q->from, 1, CLUSTER_TAG_MAX);
		put_uint(&w, q->after_seq, 8);
		put_uint(&w, q->page_size, 2);
		put_uint(&w, (unsigned)q->has_after | (unsigned)q->has_before << 1, 1);
		put_uint(&w, (uint64_t)q->after_ns, 8);
		put_uint(&w, (uint64_t)q->before_ns, 8);
	}
	return w.over ? ERR_LIMIT : (int)w.len;
}

int cluster_request_decode(const uint8_t *in, size_t len, struct cluster_request *q)
{
	struct rd r = {in, len, 0, false};

	memset(q, 0, sizeof *q);
	if (get_uint(&r, 1) != CLUSTER_MSG_REQUEST)
		return ERR_PROTO;
	q->op = (uint8_t)get_uint(&r, 1);
	q->caller = get_bytes(&r, 1, CLUSTER_TAG_MAX);
	q->call_id = get_uint(&r, 8);
	q->deadline_ms = get_uint(&r, 8);
	q->id = get_bytes(&r, 1, CLUSTER_ID_MAX);
	q->opcode = (uint8_t)get_uint(&r, 1);
	q->close_code = (uint16_t)get_uint(&r, 2);
	q->reason = get_bytes(&r, 1, CLUSTER_REASON_MAX);
	q->data = get_bytes(&r, 4, CLUSTER_DATA_MAX);
	if (q->op >= CLUSTER_OP_FAN && q->op <= CLUSTER_OP_LAST) {
		q->kind = (uint8_t)get_uint(&r, 1);
		q->group = get_bytes(&r, 1, CLUSTER_GROUP_MAX);
		q->route = get_bytes(&r, 2, CLUSTER_FILTER_MAX);
		q->prefix = get_bytes(&r, 2, CLUSTER_FILTER_MAX);
		q->nids = (uint16_t)get_uint(&r, 2);
		q->ids = get_bytes(&r, 4, CLUSTER_IDS_MAX * (1 + CLUSTER_ID_MAX));
		if (!r.bad && (q->nids > CLUSTER_IDS_MAX || !ids_ok(q->ids, q->nids)))
			return ERR_PROTO;
	}
	if (q->op == CLUSTER_OP_LIST) {
		uint64_t flags;

		q->from = get_bytes(&r, 1, CLUSTER_TAG_MAX);
		q->after_seq = get_uint(&r, 8);
		q->page_size = (uint16_t)get_uint(&r, 2);
		flags = get_uint(&r, 1);
		q->after_ns = (int64_t)get_uint(&r, 8);
		q->before_ns = (int64_t)get_uint(&r, 8);
		if (flags > 3 || q->page_size == 0 || q->page_size > CLUSTER_PAGE_MAX)
			return ERR_PROTO;
		q->has_after = flags & 1;
		q->has_before = flags & 2;
	}
	if (r.bad || r.off != len || q->op > CLUSTER_OP_LAST)
		return ERR_PROTO;
	return 0;
}

size_t cluster_reply_size(const struct cluster_reply *a)
{
	return 1 + 8 + 1 + 1 + a->message.len + 1 + 1 + a->id.len + 2 + a->gateway_id.len + 1 +
	       a->source_ip.len + 2 + a->user_agent.len + 16 + 1 + a->node.len + 12 + 2 + 4 +
	       a->routes.len + 1 + 8 + 2 + 4 + a->conns.len;
}

int cluster_reply_encode(const struct cluster_reply *a, uint8_t *out, size_t cap)
{
	struct wr w = {out, 0, cap, false};

	put_uint(&w, CLUSTER_MSG_REPLY, 1);
	put_uint(&w, a->call_id, 8);
	put_uint(&w, a->code, 1);
	put_bytes(&w, a->message, 1, CLUSTER_MESSAGE_MAX);
	if (a->has_conn + a->has_counts + a->has_page > 1)
		return ERR_LIMIT;
	put_uint(&w, a->has_conn ? 1 : a->has_counts ? 2 : a->has_page ? 3 : 0, 1);
	if (a->has_page) {
		if (a->nconns > CLUSTER_PAGE_MAX || !conns_ok(a->conns, a->nconns))
			return ERR_LIMIT;
		put_bytes(&w, a->node, 1, CLUSTER_TAG_MAX);
		put_uint(&w, a->more, 1);
		put_uint(&w, a->seq, 8);
		put_uint(&w, a->nconns, 2);
		put_bytes(&w, a->conns, 4, CLUSTER_PAGE_BYTES);
	}
	if (a->has_counts) {
		if (a->nroutes > CLUSTER_ROUTES_MAX || !routes_ok(a->routes, a->nroutes))
			return ERR_LIMIT;
		put_bytes(&w, a->node, 1, CLUSTER_TAG_MAX);
		put_uint(&w, a->delivered, 4);
		put_uint(&w, a->skipped, 4);
		put_uint(&w, a->total, 4);
		put_uint(&w, a->nroutes, 2);
		put_bytes(&w, a->routes, 4, CLUSTER_ROUTES_BYTES);
	}
	if (a->has_conn) {
		put_bytes(&w, a->id, 1, CLUSTER_ID_MAX);
		put_bytes(&w, a->gateway_id, 2, CLUSTER_TEXT_MAX);
		put_bytes(&w, a->source_ip, 1, 64);
		put_bytes(&w, a->user_agent, 2, CLUSTER_TEXT_MAX);
		put_uint(&w, (uint64_t)a->connected_at_ns, 8);
		put_uint(&w, (uint64_t)a->last_active_at_ns, 8);
	}
	return w.over ? ERR_LIMIT : (int)w.len;
}

int cluster_reply_decode(const uint8_t *in, size_t len, struct cluster_reply *a)
{
	struct rd r = {in, len, 0, false};
	uint64_t has;

	memset(a, 0, sizeof *a);
	if (get_uint(&r, 1) != CLUSTER_MSG_REPLY)
		return ERR_PROTO;
	a->call_id = get_uint(&r, 8);
	a->code = (uint8_t)get_uint(&r, 1);
	a->message = get_bytes(&r, 1, CLUSTER_MESSAGE_MAX);
	has = get_uint(&r, 1);
	if (has > 3)
		return ERR_PROTO;
	a->has_conn = has == 1;
	a->has_counts = has == 2;
	a->has_page = has == 3;
	if (a->has_page) {
		uint64_t more;

		a->node = get_bytes(&r, 1, CLUSTER_TAG_MAX);
		more = get_uint(&r, 1);
		a->seq = get_uint(&r, 8);
		a->nconns = (uint16_t)get_uint(&r, 2);
		a->conns = get_bytes(&r, 4, CLUSTER_PAGE_BYTES);
		if (!r.bad &&
		    (more > 1 || a->nconns > CLUSTER_PAGE_MAX || !conns_ok(a->conns, a->nconns)))
			return ERR_PROTO;
		a->more = more == 1;
	}
	if (a->has_counts) {
		a->node = get_bytes(&r, 1, CLUSTER_TAG_MAX);
		a->delivered = (uint32_t)get_uint(&r, 4);
		a->skipped = (uint32_t)get_uint(&r, 4);
		a->total = (uint32_t)get_uint(&r, 4);
		a->nroutes = (uint16_t)get_uint(&r, 2);
		a->routes = get_bytes(&r, 4, CLUSTER_ROUTES_BYTES);
		if (!r.bad &&
		    (a->nroutes > CLUSTER_ROUTES_MAX || !routes_ok(a->routes, a->nroutes)))
			return ERR_PROTO;
	}
	if (a->has_conn) {
		a->id = get_bytes(&r, 1, CLUSTER_ID_MAX);
		a->gateway_id = get_bytes(&r, 2, CLUSTER_TEXT_MAX);
		a->source_ip = get_bytes(&r, 1, 64);
		a->user_agent = get_bytes(&r, 2, CLUSTER_TEXT_MAX);
		a->connected_at_ns = (int64_t)get_uint(&r, 8);
		a->last_active_at_ns = (int64_t)get_uint(&r, 8);
	}
	if (r.bad || r.off != len)
		return ERR_PROTO;
	return 0;
}
