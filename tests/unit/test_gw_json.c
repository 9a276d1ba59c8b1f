/* test_gw_json — wsgw.v1's REST parsing: RFC 3339 times (offsets,
 * fractions, what is refused), the List query string, group paths,
 * Close and Broadcast bodies, and the statuses of what is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "gw_json.h"
#include "router.h"

static void test_time(void **state)
{
	int64_t ns;

	(void)state;
	assert_int_equal(gw_json_parse_time("1970-01-01T00:00:00Z", 20, &ns), 0);
	assert_true(ns == 0);
	assert_int_equal(gw_json_parse_time("2026-12-05T16:00:00.5Z", 22, &ns), 0);
	assert_true(ns == 1796486400LL * 1000000000 + 500000000);
	assert_int_equal(gw_json_parse_time("2026-12-05T17:00:00.000000001+01:00", 35, &ns), 0);
	assert_true(ns == 1796486400LL * 1000000000 + 1);
	assert_int_equal(gw_json_parse_time("2026-12-05t15:30:00-00:30", 25, &ns), 0);
	assert_true(ns == 1796486400LL * 1000000000);
	static const char *const bad[] = {
	    "",
	    "2026-12-05",
	    "2026-12-05T16:00:00",
	    "2026-13-05T16:00:00Z",
	    "2026-12-05T24:00:00Z",
	    "2026-12-05T16:00:00.Z",
	    "2026-12-05T16:00:00+0100",
	    "2026-12-05T16:00:00Zx",
	    "yesterday",
	    "2026-12-05 16:00:00Z",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(gw_json_parse_time(bad[i], strlen(bad[i]), &ns), ERR_INVAL);
}

/* Parses method target body as the router and rest.c would. Returns the
 * status (0: parsed). */
static int parse(const char *method, const char *target, const char *body,
                 struct gw_json_request *r)
{
	struct rest_request req = {method,
	                           strlen(method),
	                           target,
	                           strlen(target),
	                           NULL,
	                           0,
	                           (const uint8_t *)body,
	                           body ? strlen(body) : 0,
	                           0};
	struct router_match m;
	const struct router_route *rt =
	    router_find(ROUTER_HTTP1, method, strlen(method), target, strlen(target), &m);
	char err[192];

	assert_non_null(rt);
	return gw_json_parse(&req, rt->handler, &m, r, err, sizeof err);
}

static bool is(struct gw_str s, const char *lit)
{
	return s.n == strlen(lit) && memcmp(s.p, lit, s.n) == 0;
}

static void test_list_query(void **state)
{
	struct gw_json_request r;

	(void)state;
	assert_int_equal(parse("GET",
	                       "/wsgw/v1/connections?pageSize=7&route=%2Fchat%2F%7Broom%7D"
	                       "&pathPrefix=/a+b&group=g1&pageToken=tok&x=1"
	                       "&connectedBefore=1970-01-01T00:00:01Z",
	                       NULL, &r),
	                 0);
	assert_int_equal(r.req.kind, GW_LIST);
	assert_true(r.req.page_size == 7);
	assert_true(is(r.req.route, "/chat/{room}"));
	assert_true(is(r.req.prefix, "/a b")); /* '+' is a space in a query */
	assert_true(is(r.req.group, "g1"));
	assert_true(is(r.req.token, "tok"));
	assert_true(r.req.has_before && r.req.before_ns == 1000000000);
	assert_false(r.req.has_after);
	gw_json_request_free(&r);
	assert_int_equal(parse("GET", "/wsgw/v1/connections?pageSize=1001", NULL, &r), 400);
	gw_json_request_free(&r);
	assert_int_equal(parse("GET", "/wsgw/v1/connections?pageSize=x", NULL, &r), 400);
	gw_json_request_free(&r);
	assert_int_equal(parse("GET", "/wsgw/v1/connections?route=%zz", NULL, &r), 400);
	gw_json_request_free(&r);
	assert_int_equal(parse("GET", "/wsgw/v1/connections?connectedAfter=now", NULL, &r), 400);
	gw_json_request_free(&r);
}

static void test_group_paths(void **state)
{
	struct gw_json_request r;

	(void)state;
	assert_int_equal(parse("POST", "/wsgw/v1/groups/team%2C1/connections/ab%63:join", NULL, &r),
	                 0);
	assert_int_equal(r.req.kind, GW_JOIN);
	assert_true(is(r.req.group, "team,1")); /* decoded; gw_api.c refuses the ',' */
	assert_true(is(r.req.id, "abc"));
	gw_json_request_free(&r);
	assert_int_equal(parse("POST", "/wsgw/v1/groups/t/connections/x:leave", NULL, &r), 0);
	assert_int_equal(r.req.kind, GW_LEAVE);
	gw_json_request_free(&r);
	assert_int_equal(parse("POST", "/wsgw/v1/groups/a:b:send", "{\"data\":\"aGk=\"}", &r), 0);
	assert_int_equal(r.req.kind, GW_SEND_GROUP);
	assert_true(is(r.req.group, "a:b"));
	assert_int_equal(r.req.len, 2);
	gw_json_request_free(&r);
	static const char *const missing[] = {
	    "/wsgw/v1/groups/g",
	    "/wsgw/v1/groups/g/connections/x",
	    "/wsgw/v1/groups/g/x/y:join",
	    "/wsgw/v1/groups/g/connections/x/y:join",
	    "/wsgw/v1/groups/g/connections/:joins",
	};
	for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
		assert_int_equal(parse("POST", missing[i], NULL, &r), 404);
		gw_json_request_free(&r);
	}
}

static void test_bodies(void **state)
{
	struct gw_json_request r;

	(void)state;
	assert_int_equal(parse("POST", "/wsgw/v1/connections/abc:close",
	                       "{\"code\":4001,\"reason\":\"bye\"}", &r),
	                 0);
	assert_true(r.req.code == 4001 && is(r.req.reason, "bye") && is(r.req.id, "abc"));
	gw_json_request_free(&r);
	assert_int_equal(parse("POST", "/wsgw/v1/connections/abc:close", "", &r), 0);
	assert_true(r.req.code == 0 && r.req.reason.n == 0);
	gw_json_request_free(&r);
	assert_int_equal(parse("POST", "/wsgw/v1/connections/abc:close", "[]", &r), 400);
	gw_json_request_free(&r);
	assert_int_equal(parse("POST", "/wsgw/v1/connections/abc:close", "{\"code\":\"4000\"}", &r),
	                 0);
	assert_true(r.req.code == 4000);
	gw_json_request_free(&r);
	assert_int_equal(parse("POST", "/wsgw/v1/connections/abc:close", "{\"code\":\"abc\"}", &r),
	                 400);
	gw_json_request_free(&r);
	assert_int_equal(parse("POST", "/wsgw/v1/broadcast",
	                       "{\"data\":\"aGk\",\"type\":\"TEXT\",\"path\":\"/p/{x}\","
	                       "\"pathPrefix\":\"/p/\",\"excludeIds\":[\"a\",\"bb\"],\"other\":1}",
	                       &r),
	                 0);
	assert_int_equal(r.req.kind, GW_BROADCAST);
	assert_int_equal(r.req.len, 2);
	assert_int_equal(r.req.type, 2);
	assert_true(is(r.req.route, "/p/{x}") && is(r.req.prefix, "/p/"));
	assert_int_equal(r.req.nids, 2);
	assert_true(is(r.req.ids[1], "bb"));
	gw_json_request_free(&r);
	assert_int_equal(parse("POST", "/wsgw/v1/broadcast", "{\"data\":\"!\"}", &r), 400);
	gw_json_request_free(&r);
	assert_int_equal(parse("POST", "/wsgw/v1/broadcast", "{\"data\":\"aGk\",\"path\":1}", &r),
	                 400);
	gw_json_request_free(&r);
	assert_int_equal(parse("POST", "/wsgw/v1/connections:send",
	                       "{\"data\":\"aGk\",\"connectionIds\":[1]}", &r),
	                 400);
	gw_json_request_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_time),
	    cmocka_unit_test(test_list_query),
	    cmocka_unit_test(test_group_paths),
	    cmocka_unit_test(test_bodies),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
