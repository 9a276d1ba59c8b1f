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
	return 1 + 1 + 1 + q->caller.len + 8 + 8 + 1 + q->id.len + 1 + 2 + 1 + q->reason.len + 4 +
	       q->data.len;
}

int cluster_request_encode(const struct cluster_request *q, uint8_t *out, size_t cap)
{
	struct wr w = {out, 0, cap, false};

	if (q->op > CLUSTER_OP_CLOSE)
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
	if (r.bad || r.off != len || q->op > CLUSTER_OP_CLOSE)
		return ERR_PROTO;
	return 0;
}

size_t cluster_reply_size(const struct cluster_reply *a)
{
	return 1 + 8 + 1 + 1 + a->message.len + 1 + 1 + a->id.len + 2 + a->gateway_id.len + 1 +
	       a->source_ip.len + 2 + a->user_agent.len + 16;
}

int cluster_reply_encode(const struct cluster_reply *a, uint8_t *out, size_t cap)
{
	struct wr w = {out, 0, cap, false};

	put_uint(&w, CLUSTER_MSG_REPLY, 1);
	put_uint(&w, a->call_id, 8);
	put_uint(&w, a->code, 1);
	put_bytes(&w, a->message, 1, CLUSTER_MESSAGE_MAX);
	put_uint(&w, a->has_conn, 1);
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
	if (has > 1)
		return ERR_PROTO;
	a->has_conn = has == 1;
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
