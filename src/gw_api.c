/* gw_api.c — the rules of wsgw.v1.GatewayService (README, "Extension API
 * (wsgw.v1)"), once for both transports: limits on ids, groups, filters,
 * page sizes, payloads and close codes; then the registry does the work.
 * Knows no transport and no connection: gw_pb.c and gw_json.c decode
 * into a gw_req and encode the gw_call's result.
 */
#include "gw_api.h"

#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "groups.h"
#include "registry.h"
#include "utf8.h"
#include "ws.h"

static bool fail(struct gw_call *call, enum api_code code, const char *msg)
{
	api_fail(&call->api.st, code, "%s", msg);
	return false;
}

/* Same rule as ConnectionService's connection_id (api.c). */
static bool id_ok(struct gw_call *call, struct gw_str id, const char *what)
{
	if (id.n == 0)
		return !api_fail(&call->api.st, API_INVALID_ARGUMENT, "%s is required", what);
	if (id.n > API_MAX_ID_LEN * 4 || !utf8_is_valid((const uint8_t *)id.p, id.n))
		return !api_fail(&call->api.st, API_INVALID_ARGUMENT,
		                 "%s is not a valid connection id", what);
	return true;
}

static bool group_ok(struct gw_call *call, struct gw_str g)
{
	if (!groups_name_ok(g.p, g.n))
		return !api_fail(
		    &call->api.st, API_INVALID_ARGUMENT,
		    "group must be 1..%d bytes of printable ASCII without space or ','",
		    GROUPS_NAME_MAX);
	return true;
}

static bool data_ok(struct gw_call *call, const struct gw_req *q)
{
	if (q->type != API_DATA_UNSPECIFIED && q->type != API_DATA_BINARY &&
	    q->type != API_DATA_TEXT)
		return fail(call, API_INVALID_ARGUMENT, "type is not BINARY or TEXT");
	if (q->len == 0)
		return fail(call, API_INVALID_ARGUMENT, "data is required");
	if (q->len > API_MAX_DATA)
		return !api_fail(&call->api.st, API_INVALID_ARGUMENT,
		                 "data is %zu bytes; at most %d bytes are allowed", q->len,
		                 API_MAX_DATA);
	if (q->type == API_DATA_TEXT && !utf8_is_valid(q->data, q->len))
		return fail(call, API_INVALID_ARGUMENT,
		            "TEXT data is not valid UTF-8 (send it as BINARY)");
	return true;
}

static bool filter_ok(struct gw_call *call, struct gw_str s, const char *what)
{
	if (s.n > GW_MAX_FILTER || (s.n && memchr(s.p, '\0', s.n)))
		return !api_fail(&call->api.st, API_INVALID_ARGUMENT,
		                 "%s is longer than %d bytes or holds a NUL", what, GW_MAX_FILTER);
	return true;
}

bool gw_close_code_ok(int64_t code)
{
	/* RFC 6455 §7.4: 1000, 1001, 1008 and 1011 say what a server means to
	 * say; 3000-4999 are the registered and private ranges. */
	return code == 1000 || code == 1001 || code == 1008 || code == 1011 ||
	       (code >= 3000 && code <= 4999);
}

static bool check(struct server *srv, const struct gw_req *q, struct gw_call *call)
{
	if (srv->draining)
		return fail(call, API_UNAVAILABLE, "gateway is shutting down");
	switch (q->kind) {
	case GW_LIST:
		if (q->page_size < 0 || q->page_size > GW_MAX_PAGE)
			return fail(call, API_INVALID_ARGUMENT, "page_size must be 0..1000");
		if (q->group.n && !group_ok(call, q->group))
			return false;
		if (q->token.n > 64)
			return fail(call, API_INVALID_ARGUMENT, "page_token is not valid");
		return filter_ok(call, q->route, "route") &&
		       filter_ok(call, q->prefix, "path_prefix");
	case GW_COUNT:
		return true;
	case GW_SEND_MANY:
		if (q->nids == 0)
			return fail(call, API_INVALID_ARGUMENT, "connection_ids is required");
		if (q->nids > GW_MAX_IDS)
			return fail(call, API_INVALID_ARGUMENT,
			            "at most 1000 connection_ids per call");
		for (size_t i = 0; i < q->nids; i++)
			if (!id_ok(call, q->ids[i], "every connection_id"))
				return false;
		return data_ok(call, q);
	case GW_CLOSE:
		if (!id_ok(call, q->id, "connection_id"))
			return false;
		if (q->code != 0 && !gw_close_code_ok(q->code))
			return fail(call, API_INVALID_ARGUMENT,
			            "code must be 1000, 1001, 1008, 1011 or 3000-4999");
		if (q->reason.n > GW_MAX_REASON)
			return fail(call, API_INVALID_ARGUMENT, "reason is longer than 123 bytes");
		if (q->reason.n && (!utf8_is_valid((const uint8_t *)q->reason.p, q->reason.n) ||
		                    memchr(q->reason.p, '\0', q->reason.n)))
			return fail(call, API_INVALID_ARGUMENT, "reason is not valid UTF-8");
		return true;
	case GW_JOIN:
	case GW_LEAVE:
		return id_ok(call, q->id, "connection_id") && group_ok(call, q->group);
	case GW_SEND_GROUP:
		return group_ok(call, q->group) && data_ok(call, q);
	case GW_BROADCAST:
		if (q->nids > GW_MAX_IDS)
			return fail(call, API_INVALID_ARGUMENT,
			            "at most 1000 exclude_ids per call");
		return data_ok(call, q) && filter_ok(call, q->route, "path") &&
		       filter_ok(call, q->prefix, "path_prefix");
	}
	return fail(call, API_UNIMPLEMENTED, "unknown method");
}

void gw_start(struct server *srv, const struct gw_req *q, struct gw_call *call)
{
	const struct registry_ops *ops = registry_of(srv->registry);
	uint8_t op = q->type == API_DATA_TEXT ? WS_OP_TEXT : WS_OP_BINARY;
	struct gw_req page;
	char reason[GW_MAX_REASON + 1];

	call->kind = q->kind;
	call->api.pending = true;
	call->api.cancel = NULL;
	/* A server assembled field by field (unit tests, fuzzers) has no
	 * registry state yet: the calls then see no connections. */
	if (!srv->fanouts.next)
		list_init(&srv->fanouts);
	if (!srv->reg && registry_init(srv) < 0) {
		api_fail(&call->api.st, API_RESOURCE_EXHAUSTED, "out of memory");
		api_call_complete(&call->api);
		return;
	}
	if (!check(srv, q, call)) {
		api_call_complete(&call->api);
		return;
	}
	switch (q->kind) {
	case GW_LIST:
		page = *q;
		if (page.page_size == 0)
			page.page_size = GW_DEFAULT_PAGE;
		ops->list(srv, &page, call);
		break;
	case GW_COUNT:
		ops->count(srv, call);
		break;
	case GW_SEND_MANY:
		ops->send_many(srv, q, op, call);
		break;
	case GW_CLOSE:
		if (q->reason.n)
			memcpy(reason, q->reason.p, q->reason.n);
		reason[q->reason.n] = '\0';
		ops->close(srv, q->id.p, q->id.n, q->code ? (uint16_t)q->code : WS_CLOSE_NORMAL,
		           reason, &call->api);
		break;
	case GW_JOIN:
		ops->join(srv, q, call);
		break;
	case GW_LEAVE:
		ops->leave(srv, q, call);
		break;
	case GW_SEND_GROUP:
	case GW_BROADCAST:
		ops->fanout(srv, q, op, call);
		break;
	}
}

void gw_call_cancel(struct gw_call *call)
{
	api_call_cancel(&call->api);
}

void gw_call_fini(struct gw_call *call)
{
	free(call->conns);
	free(call->names);
	free(call->routes);
	free(call->results);
	call->conns = NULL;
	call->names = NULL;
	call->routes = NULL;
	call->results = NULL;
	call->nconns = call->nroutes = call->nresults = 0;
}
