/* registry.c — the local connection registry: the management API's view of
 * the connections this node holds (conn.c's table), by id. Knows no
 * transport and no API rule (api.c validates); must never block.
 */
#include "registry.h"

#include "conn.h"
#include "ctx.h"
#include "err.h"
#include "log.h"
#include "net.h"
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
