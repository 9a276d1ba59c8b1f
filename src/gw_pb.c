/* gw_pb.c — wsgw.v1 requests and responses in protobuf (gw_pb.h). The
 * response messages are built on the heap for one encoding and dropped;
 * limits are gw_api.c's business, except the one protobuf-c forces here:
 * a NUL inside a string field is refused (gw_pb_decode).
 */
#include "gw_pb.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "wsgw/v1/gateway_service.pb-c.h"

#define NS_PER_SEC 1000000000LL

/* Top-level string fields of each request, as bits by field number. */
static uint32_t string_fields(enum gw_kind kind)
{
	switch (kind) {
	case GW_LIST:
		return 1u << 2 | 1u << 3 | 1u << 4 | 1u << 5;
	case GW_SEND_MANY:
		return 1u << 1;
	case GW_CLOSE:
		return 1u << 1 | 1u << 3;
	case GW_JOIN:
	case GW_LEAVE:
		return 1u << 1 | 1u << 2;
	case GW_SEND_GROUP:
		return 1u << 1;
	case GW_BROADCAST:
		return 1u << 3 | 1u << 4 | 1u << 5;
	default:
		return 0;
	}
}

static bool varint(const uint8_t *p, size_t n, size_t *i, uint64_t *v)
{
	*v = 0;
	for (unsigned shift = 0; shift < 70 && *i < n; shift += 7) {
		uint8_t b = p[(*i)++];

		if (shift < 64)
			*v |= (uint64_t)(b & 0x7F) << shift;
		if (!(b & 0x80))
			return true;
	}
	return false;
}

/* False when a string field holds a NUL (or the walk finds bad framing,
 * which protobuf-c has refused already). */
static bool strings_clean(const uint8_t *p, size_t n, uint32_t mask)
{
	size_t i = 0;
	uint64_t tag, v;

	while (i < n) {
		if (!varint(p, n, &i, &tag) || tag >> 3 == 0)
			return false;
		switch (tag & 7) {
		case 0:
			if (!varint(p, n, &i, &v))
				return false;
			break;
		case 1:
			if (n - i < 8)
				return false;
			i += 8;
			break;
		case 2:
			if (!varint(p, n, &i, &v) || v > n - i)
				return false;
			if (tag >> 3 < 32 && (mask >> (tag >> 3) & 1) &&
			    memchr(p + i, 0, (size_t)v))
				return false;
			i += (size_t)v;
			break;
		case 5:
			if (n - i < 4)
				return false;
			i += 4;
			break;
		default:
			return false;
		}
	}
	return true;
}

static struct gw_str str(const char *s)
{
	return (struct gw_str){s ? s : "", s ? strlen(s) : 0};
}

static bool ts_ns(const Google__Protobuf__Timestamp *t, int64_t *ns)
{
	if (!t)
		return false;
	/* Timestamps beyond what int64 ns holds (years past 2262) clamp. */
	if (t->seconds > INT64_MAX / NS_PER_SEC - 1)
		*ns = INT64_MAX;
	else if (t->seconds < INT64_MIN / NS_PER_SEC + 1)
		*ns = INT64_MIN;
	else
		*ns = t->seconds * NS_PER_SEC + t->nanos;
	return true;
}

static bool ids_of(struct gw_req *q, char **v, size_t n)
{
	q->nids = n;
	if (!n)
		return true;
	q->ids = malloc(n * sizeof *q->ids);
	if (!q->ids)
		return false;
	for (size_t i = 0; i < n; i++)
		q->ids[i] = str(v[i]);
	return true;
}

static void *unpack(enum gw_kind kind, const uint8_t *b, size_t n)
{
	switch (kind) {
	case GW_LIST:
		return wsgw__v1__list_connections_request__unpack(NULL, n, b);
	case GW_COUNT:
		return wsgw__v1__count_connections_request__unpack(NULL, n, b);
	case GW_SEND_MANY:
		return wsgw__v1__send_to_connections_request__unpack(NULL, n, b);
	case GW_CLOSE:
		return wsgw__v1__close_connection_request__unpack(NULL, n, b);
	case GW_JOIN:
	case GW_LEAVE:
		return wsgw__v1__group_membership_request__unpack(NULL, n, b);
	case GW_SEND_GROUP:
		return wsgw__v1__send_to_group_request__unpack(NULL, n, b);
	case GW_BROADCAST:
		return wsgw__v1__broadcast_request__unpack(NULL, n, b);
	}
	return NULL;
}

/* Fills q from the unpacked message m of kind. */
static bool fill(enum gw_kind kind, void *m, struct gw_req *q)
{
	switch (kind) {
	case GW_LIST: {
		Wsgw__V1__ListConnectionsRequest *r = m;

		q->page_size = r->page_size;
		q->token = str(r->page_token);
		q->route = str(r->route);
		q->prefix = str(r->path_prefix);
		q->group = str(r->group);
		q->has_after = ts_ns(r->connected_after, &q->after_ns);
		q->has_before = ts_ns(r->connected_before, &q->before_ns);
		return true;
	}
	case GW_COUNT:
		return true;
	case GW_SEND_MANY: {
		Wsgw__V1__SendToConnectionsRequest *r = m;

		q->data = r->data.data;
		q->len = r->data.len;
		q->type = (int)r->type;
		return ids_of(q, r->connection_ids, r->n_connection_ids);
	}
	case GW_CLOSE: {
		Wsgw__V1__CloseConnectionRequest *r = m;

		q->id = str(r->connection_id);
		q->code = r->code;
		q->reason = str(r->reason);
		return true;
	}
	case GW_JOIN:
	case GW_LEAVE: {
		Wsgw__V1__GroupMembershipRequest *r = m;

		q->id = str(r->connection_id);
		q->group = str(r->group);
		return true;
	}
	case GW_SEND_GROUP: {
		Wsgw__V1__SendToGroupRequest *r = m;

		q->group = str(r->group);
		q->data = r->data.data;
		q->len = r->data.len;
		q->type = (int)r->type;
		return true;
	}
	case GW_BROADCAST: {
		Wsgw__V1__BroadcastRequest *r = m;

		q->data = r->data.data;
		q->len = r->data.len;
		q->type = (int)r->type;
		q->route = str(r->path);
		q->prefix = str(r->path_prefix);
		return ids_of(q, r->exclude_ids, r->n_exclude_ids);
	}
	}
	return false;
}

int gw_pb_decode(enum gw_kind kind, const uint8_t *buf, size_t len, struct gw_pb_request *out)
{
	static const uint8_t empty[1];

	memset(out, 0, sizeof *out);
	out->req.kind = kind;
	out->msg = unpack(kind, len ? buf : empty, len);
	if (!out->msg || !strings_clean(buf, len, string_fields(kind)) ||
	    !fill(kind, out->msg, &out->req)) {
		gw_pb_request_free(out);
		return ERR_PROTO;
	}
	return 0;
}

void gw_pb_request_free(struct gw_pb_request *r)
{
	if (r->msg)
		protobuf_c_message_free_unpacked(r->msg, NULL);
	free(r->req.ids);
	memset(r, 0, sizeof *r);
}

/* ---- responses --------------------------------------------------------------- */

static void ts_set(Google__Protobuf__Timestamp *t, int64_t ns)
{
	int64_t s = ns / NS_PER_SEC, nanos = ns % NS_PER_SEC;

	if (nanos < 0) {
		nanos += NS_PER_SEC;
		s--;
	}
	t->seconds = s;
	t->nanos = (int32_t)nanos;
}

struct pb_conn {
	Wsgw__V1__Connection c;
	Wsgw__V1__Identity id;
	Google__Protobuf__Timestamp at, active;
};

static uint8_t *pack(const ProtobufCMessage *m, size_t prefix, size_t *len)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *out = malloc(prefix + n + 1);

	if (!out)
		return NULL;
	memset(out, 0, prefix);
	protobuf_c_message_pack(m, out + prefix);
	*len = prefix + n;
	return out;
}

static uint8_t *encode_list(const struct gw_call *call, size_t prefix, size_t *len)
{
	Wsgw__V1__ListConnectionsResponse r = WSGW__V1__LIST_CONNECTIONS_RESPONSE__INIT;
	struct pb_conn *v = calloc(call->nconns ? call->nconns : 1, sizeof *v);
	Wsgw__V1__Connection **pv = calloc(call->nconns ? call->nconns : 1, sizeof *pv);
	uint8_t *out = NULL;

	if (!v || !pv)
		goto out;
	for (size_t i = 0; i < call->nconns; i++) {
		const struct gw_conn_info *ci = &call->conns[i];
		struct pb_conn *p = &v[i];

		wsgw__v1__connection__init(&p->c);
		wsgw__v1__identity__init(&p->id);
		google__protobuf__timestamp__init(&p->at);
		google__protobuf__timestamp__init(&p->active);
		p->c.id = (char *)ci->base.id;
		p->c.gateway_id = (char *)ci->base.gateway_id;
		p->id.source_ip = (char *)ci->base.source_ip;
		p->id.user_agent = (char *)ci->base.user_agent;
		p->c.identity = &p->id;
		ts_set(&p->at, ci->base.connected_at_ns);
		ts_set(&p->active, ci->base.last_active_at_ns);
		p->c.connected_at = &p->at;
		p->c.last_active_at = &p->active;
		p->c.path = (char *)ci->path;
		p->c.route = (char *)ci->route;
		p->c.subprotocol = (char *)ci->subprotocol;
		p->c.n_groups = ci->ngroups;
		p->c.groups = (char **)(uintptr_t)ci->groups;
		pv[i] = &p->c;
	}
	r.n_connections = call->nconns;
	r.connections = pv;
	r.next_page_token = (char *)call->next_token;
	out = pack(&r.base, prefix, len);
out:
	free(v);
	free(pv);
	return out;
}

static uint8_t *encode_count(const struct gw_call *call, size_t prefix, size_t *len)
{
	Wsgw__V1__CountConnectionsResponse r = WSGW__V1__COUNT_CONNECTIONS_RESPONSE__INIT;
	Wsgw__V1__RouteCount *v = calloc(call->nroutes ? call->nroutes : 1, sizeof *v);
	Wsgw__V1__RouteCount **pv = calloc(call->nroutes ? call->nroutes : 1, sizeof *pv);
	uint8_t *out = NULL;

	if (v && pv) {
		for (size_t i = 0; i < call->nroutes; i++) {
			wsgw__v1__route_count__init(&v[i]);
			v[i].route = (char *)call->routes[i].route;
			v[i].count = call->routes[i].count;
			pv[i] = &v[i];
		}
		r.total = call->total;
		r.n_by_route = call->nroutes;
		r.by_route = pv;
		r.n_missing_nodes = call->nmissing;
		r.missing_nodes = (char **)(uintptr_t)call->missing;
		out = pack(&r.base, prefix, len);
	}
	free(v);
	free(pv);
	return out;
}

static uint8_t *encode_send(const struct gw_call *call, size_t prefix, size_t *len)
{
	Wsgw__V1__SendToConnectionsResponse r = WSGW__V1__SEND_TO_CONNECTIONS_RESPONSE__INIT;
	Wsgw__V1__SendResult *v = calloc(call->nresults ? call->nresults : 1, sizeof *v);
	Wsgw__V1__SendResult **pv = calloc(call->nresults ? call->nresults : 1, sizeof *pv);
	char **ids = calloc(call->nresults ? call->nresults : 1, sizeof *ids);
	uint8_t *out = NULL;
	size_t i;

	if (!v || !pv || !ids)
		goto out;
	for (i = 0; i < call->nresults; i++) {
		const struct gw_send_result *s = &call->results[i];

		/* Views into the request are not NUL-terminated. */
		ids[i] = strndup(s->id.p, s->id.n);
		if (!ids[i])
			goto out;
		wsgw__v1__send_result__init(&v[i]);
		v[i].connection_id = ids[i];
		v[i].code = (int32_t)s->code;
		v[i].message = (char *)s->message;
		pv[i] = &v[i];
	}
	r.n_results = call->nresults;
	r.results = pv;
	out = pack(&r.base, prefix, len);
out:
	for (i = 0; ids && i < call->nresults; i++)
		free(ids[i]);
	free(ids);
	free(v);
	free(pv);
	return out;
}

uint8_t *gw_pb_encode(const struct gw_call *call, size_t prefix, size_t *len)
{
	Wsgw__V1__FanoutResponse f = WSGW__V1__FANOUT_RESPONSE__INIT;
	Wsgw__V1__CloseConnectionResponse empty = WSGW__V1__CLOSE_CONNECTION_RESPONSE__INIT;

	switch (call->kind) {
	case GW_LIST:
		return encode_list(call, prefix, len);
	case GW_COUNT:
		return encode_count(call, prefix, len);
	case GW_SEND_MANY:
		return encode_send(call, prefix, len);
	case GW_SEND_GROUP:
	case GW_BROADCAST:
		f.delivered = call->delivered;
		f.skipped = call->skipped;
		f.total = call->delivered + call->skipped;
		f.n_missing_nodes = call->nmissing;
		f.missing_nodes = (char **)(uintptr_t)call->missing;
		return pack(&f.base, prefix, len);
	default: /* Close, Join, Leave: empty messages */
		return pack(&empty.base, prefix, len);
	}
}
