/* test_router.c — the management port's route table: every row reached on
 * its transports only, methods and Allow, {id} capture (percent-encoded,
 * {id}:send and {id}/:send, no '/' inside), absolute-form targets and
 * queries, unknown paths; and the one bearer-token check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "rest.h"
#include "router.h"

#define SVC "/yandex.cloud.serverless.apigateway.websocket.v1.ConnectionService/"
#define H1 ROUTER_HTTP1
#define H2 ROUTER_HTTP2

struct row {
	unsigned transport;
	const char *method, *target;
	int handler; /* 0: no route */
	bool method_ok;
	const char *id; /* NULL: none expected */
};

static const struct row rows[] = {
    {H1, "GET", REST_PREFIX "abc", ROUTER_REST_CONN, true, "abc"},
    {H2, "GET", REST_PREFIX "abc", ROUTER_REST_CONN, true, "abc"},
    {H1, "HEAD", REST_PREFIX "abc", ROUTER_REST_CONN, true, "abc"},
    {H1, "DELETE", REST_PREFIX "a%2Fb", ROUTER_REST_CONN, true, "a%2Fb"},
    {H1, "POST", REST_PREFIX "abc", ROUTER_REST_CONN, false, "abc"},
    {H1, "get", REST_PREFIX "abc", ROUTER_REST_CONN, false, "abc"}, /* case-sensitive */
    {H1, "POST", REST_PREFIX "abc:send", ROUTER_REST_SEND, true, "abc"},
    {H1, "POST", REST_PREFIX "abc/:send", ROUTER_REST_SEND, true, "abc"},
    {H2, "POST", REST_PREFIX "abc:send", ROUTER_REST_SEND, true, "abc"},
    {H1, "GET", REST_PREFIX "abc:send", ROUTER_REST_SEND, false, "abc"},
    {H1, "GET", REST_PREFIX "a/b", 0, false, NULL},
    {H1, "GET", REST_PREFIX "abc?x=1", ROUTER_REST_CONN, true, "abc"},
    {H1, "GET", "http://host:1" REST_PREFIX "abc", ROUTER_REST_CONN, true, "abc"},
    {H1, "GET", "https://host", 0, false, NULL},
    {H1, "GET", REST_PREFIX, ROUTER_REST_CONN, true, ""}, /* empty id: rest.c's 400 */
    {H1, "GET", "/apigateways/other", 0, false, NULL},
    {H2, "GET", "/apigateways/other", ROUTER_REST_UNKNOWN, false, NULL},
    {H1, "GET", "/", 0, false, NULL},
    {H2, "POST", SVC "Get", ROUTER_GRPC_GET, true, NULL},
    {H2, "POST", SVC "Send", ROUTER_GRPC_SEND, true, NULL},
    {H2, "POST", SVC "Disconnect", ROUTER_GRPC_DISCONNECT, true, NULL},
    {H2, "GET", SVC "Get", ROUTER_GRPC_GET, false, NULL},
    {H2, "POST", SVC "Gets", 0, false, NULL},
    {H2, "POST", SVC, 0, false, NULL},
    {H1, "POST", SVC "Get", 0, false, NULL}, /* gRPC only over h2 */
    {H2, "POST", "/grpc.health.v1.Health/Check", ROUTER_GRPC_HEALTH, true, NULL},
    {H1, "POST", "/grpc.health.v1.Health/Check", 0, false, NULL},
    {H1, "GET", "/metrics", ROUTER_METRICS, true, NULL},
    {H2, "HEAD", "/metrics?x", ROUTER_METRICS, true, NULL},
    {H1, "POST", "/metrics", ROUTER_METRICS, false, NULL},
    {H1, "GET", "/metrics/", 0, false, NULL},
    /* wsgw.v1 */
    {H2, "POST", "/wsgw.v1.GatewayService/ListConnections", ROUTER_GW_LIST, true, NULL},
    {H2, "POST", "/wsgw.v1.GatewayService/Broadcast", ROUTER_GW_BROADCAST, true, NULL},
    {H2, "POST", "/wsgw.v1.GatewayService/SendToGroup", ROUTER_GW_SEND_GROUP, true, NULL},
    {H1, "POST", "/wsgw.v1.GatewayService/Broadcast", 0, false, NULL},
    {H1, "GET", "/wsgw/v1/connections?pageSize=5", ROUTER_GW_LIST, true, NULL},
    {H2, "GET", "/wsgw/v1/connections", ROUTER_GW_LIST, true, NULL},
    {H1, "POST", "/wsgw/v1/connections", ROUTER_GW_LIST, false, NULL},
    {H1, "GET", "/wsgw/v1/connections:count", ROUTER_GW_COUNT, true, NULL},
    {H1, "POST", "/wsgw/v1/connections:send", ROUTER_GW_SEND_MANY, true, NULL},
    {H1, "POST", "/wsgw/v1/connections/abc:close", ROUTER_GW_CLOSE, true, "abc"},
    {H1, "POST", "/wsgw/v1/broadcast", ROUTER_GW_BROADCAST, true, NULL},
    {H1, "GET", "/wsgw/v1/broadcast", ROUTER_GW_BROADCAST, false, NULL},
    {H1, "POST", "/wsgw/v1/groups/g1/connections/abc:join", ROUTER_GW_GROUPS, true,
     "g1/connections/abc:join"},
    {H2, "POST", "/wsgw/v1/groups/g1:send?x", ROUTER_GW_GROUPS, true, "g1:send"},
    {H1, "GET", "/wsgw/v1/other", ROUTER_REST_UNKNOWN, false, NULL},
};

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		const struct row *w = &rows[i];
		struct router_match m;
		const struct router_route *r = router_find(
		    w->transport, w->method, strlen(w->method), w->target, strlen(w->target), &m);

		if ((r ? (int)r->handler : 0) != w->handler)
			fail_msg("row %zu %s %s: handler %d, want %d", i, w->method, w->target,
			         r ? (int)r->handler : 0, w->handler);
		assert_ptr_equal(m.route, r);
		if (!r)
			continue;
		if (m.method_ok != w->method_ok)
			fail_msg("row %zu %s %s: method_ok %d", i, w->method, w->target,
			         m.method_ok);
		if (w->id && (m.id_len != strlen(w->id) || memcmp(m.id, w->id, m.id_len) != 0))
			fail_msg("row %zu: id %.*s, want %s", i, (int)m.id_len, m.id, w->id);
	}
}

/* Every row: only health is public; REST rows are REST; gRPC is h2 only. */
static void test_rows(void **state)
{
	(void)state;
	for (size_t i = 0; i < router_num_routes; i++) {
		const struct router_route *r = &router_routes[i];

		assert_int_equal(r->public, r->handler == ROUTER_GRPC_HEALTH ||
		                                 r->handler == ROUTER_HEALTHZ || r->handler == ROUTER_READYZ ||
		                                 r->handler == ROUTER_METRICS);
		if (r->handler >= ROUTER_GW_LIST) /* wsgw.v1: gRPC and REST rows */
			assert_int_equal(r->rest, strncmp(r->path, "/wsgw/v1/", 9) == 0);
		else
			assert_int_equal(r->rest, r->handler <= ROUTER_METRICS);
		if (!r->rest)
			assert_int_equal(r->transports, ROUTER_HTTP2);
	}
}

static void test_token(void **state)
{
	char token[256] = "";
	const char *tok = "Bearer s3cret";

	(void)state;
	assert_true(router_token_ok(token, NULL, 0)); /* none configured */
	assert_true(router_token_ok(token, "junk", 4));
	strcpy(token, "s3cret");
	assert_true(router_token_ok(token, tok, strlen(tok)));
	assert_true(router_token_ok(token, "bEaReR s3cret", 13));
	assert_false(router_token_ok(token, NULL, 0));
	assert_false(router_token_ok(token, "Bearer s3cre", 12));
	assert_false(router_token_ok(token, "Bearer s3cretX", 14));
	assert_false(router_token_ok(token, "Bearer S3cret", 13));
	assert_false(router_token_ok(token, "Basic s3cret", 12));
	assert_false(router_token_ok(token, "Bearer ", 7));
	assert_false(router_token_ok(token, "s3cret", 6));
	/* another token (--metrics-token): the same rules */
	assert_true(router_token_ok(NULL, NULL, 0));
	assert_true(router_token_ok("", "junk", 4));
	assert_true(router_token_ok("m", "bearer m", 8));
	assert_false(router_token_ok("m", NULL, 0));
	assert_false(router_token_ok("m", "Bearer s3cret", 13));
	assert_false(router_token_ok("m", "Bearer ", 7));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_rows),
	    cmocka_unit_test(test_token),
	};

	return cmocka_run_group_tests_name("test_router", tests, NULL, NULL);
}
