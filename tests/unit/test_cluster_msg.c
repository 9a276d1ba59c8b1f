/* test_cluster_msg.c — unit tests for cluster_msg.c: requests and replies
 * round-trip field for field; every truncation, any trailing byte, an
 * unknown type, version or op, and a length over its cap are refused;
 * encode refuses fields over their caps and short buffers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cluster_msg.h"
#include "err.h"

#define B(s) ((struct cluster_bytes){(const uint8_t *)(s), sizeof(s) - 1})

static void assert_bytes(struct cluster_bytes got, struct cluster_bytes want)
{
	assert_int_equal(got.len, want.len);
	if (want.len)
		assert_memory_equal(got.p, want.p, want.len);
}

static struct cluster_request sample_request(void)
{
	struct cluster_request q = {0};

	q.op = CLUSTER_OP_SEND;
	q.caller = B("abc234");
	q.call_id = 0x0102030405060708ull;
	q.deadline_ms = 1765000000123ull;
	q.id = B("xyz765aaaaaaaaaaaaaaaaaaaaaaaaaaa");
	q.opcode = 2;
	q.close_code = 1000;
	q.reason = B("bye \xc3\xa9");
	q.data = B("\x00\x01payload\xff");
	return q;
}

static struct cluster_reply sample_reply(void)
{
	struct cluster_reply a = {0};

	a.call_id = 77;
	a.code = 0;
	a.message = B("");
	a.has_conn = true;
	a.id = B("xyz765aaaaaaaaaaaaaaaaaaaaaaaaaaa");
	a.gateway_id = B("d5dwsgw0000000000001");
	a.source_ip = B("::1");
	a.user_agent = B("ua/1.0 \xc3\xa9");
	a.connected_at_ns = 1765000000123456789ll;
	a.last_active_at_ns = -1;
	return a;
}

static void test_request_roundtrip(void **state)
{
	struct cluster_request q = sample_request(), d;
	uint8_t buf[512];
	int n;

	(void)state;
	n = cluster_request_encode(&q, buf, sizeof buf);
	assert_true(n > 0);
	assert_true((size_t)n <= cluster_request_size(&q));
	assert_int_equal(buf[0], CLUSTER_MSG_REQUEST);
	assert_int_equal(cluster_request_decode(buf, (size_t)n, &d), 0);
	assert_int_equal(d.op, q.op);
	assert_bytes(d.caller, q.caller);
	assert_true(d.call_id == q.call_id);
	assert_true(d.deadline_ms == q.deadline_ms);
	assert_bytes(d.id, q.id);
	assert_int_equal(d.opcode, q.opcode);
	assert_int_equal(d.close_code, q.close_code);
	assert_bytes(d.reason, q.reason);
	assert_bytes(d.data, q.data);
	/* views point into the input */
	assert_true(d.data.p >= buf && d.data.p + d.data.len <= buf + n);

	/* every truncation and a trailing byte are refused */
	for (int cut = 0; cut < n; cut++)
		assert_int_equal(cluster_request_decode(buf, (size_t)cut, &d), ERR_PROTO);
	buf[n] = 0;
	assert_int_equal(cluster_request_decode(buf, (size_t)n + 1, &d), ERR_PROTO);
	/* a buffer one byte short */
	assert_int_equal(cluster_request_encode(&q, buf, (size_t)n - 1), ERR_LIMIT);
}

static void test_request_refusals(void **state)
{
	struct cluster_request q = sample_request(), d;
	uint8_t buf[512];
	int n;

	(void)state;
	n = cluster_request_encode(&q, buf, sizeof buf);
	assert_true(n > 0);
	buf[0] = CLUSTER_MSG_REPLY; /* another type (or version) */
	assert_int_equal(cluster_request_decode(buf, (size_t)n, &d), ERR_PROTO);
	buf[0] = CLUSTER_MSG_REQUEST;
	buf[1] = CLUSTER_OP_LAST + 1; /* unknown op */
	assert_int_equal(cluster_request_decode(buf, (size_t)n, &d), ERR_PROTO);
	buf[1] = CLUSTER_OP_SEND;
	buf[2] = CLUSTER_TAG_MAX + 1; /* caller over its cap */
	assert_int_equal(cluster_request_decode(buf, (size_t)n, &d), ERR_PROTO);

	q.op = CLUSTER_OP_LAST + 1;
	assert_int_equal(cluster_request_encode(&q, buf, sizeof buf), ERR_LIMIT);
	q = sample_request();
	q.reason.len = CLUSTER_REASON_MAX + 1;
	assert_int_equal(cluster_request_encode(&q, buf, sizeof buf), ERR_LIMIT);
	q = sample_request();
	q.id.len = CLUSTER_ID_MAX + 1;
	assert_int_equal(cluster_request_encode(&q, buf, sizeof buf), ERR_LIMIT);
}

/* A data length announcing more than is there, or over the cap. */
static void test_request_data_length(void **state)
{
	struct cluster_request q = sample_request(), d;
	uint8_t buf[512];
	int n;
	size_t at;

	(void)state;
	n = cluster_request_encode(&q, buf, sizeof buf);
	at = (size_t)n - q.data.len - 4;
	buf[at] = 0xff; /* 4 GiB-ish */
	assert_int_equal(cluster_request_decode(buf, (size_t)n, &d), ERR_PROTO);
	buf[at] = 0x00, buf[at + 1] = 0x10, buf[at + 2] = 0, buf[at + 3] = 1; /* cap + 1 */
	assert_int_equal(cluster_request_decode(buf, (size_t)n, &d), ERR_PROTO);
}

static void test_probe(void **state)
{
	struct cluster_request q = {.op = CLUSTER_OP_PROBE, .caller = B("abc234")}, d;
	uint8_t buf[64];
	int n;

	(void)state;
	n = cluster_request_encode(&q, buf, sizeof buf);
	assert_true(n > 0);
	assert_int_equal(cluster_request_decode(buf, (size_t)n, &d), 0);
	assert_int_equal(d.op, CLUSTER_OP_PROBE);
	assert_int_equal(d.id.len, 0);
	assert_int_equal(d.data.len, 0);
}

static void test_reply_roundtrip(void **state)
{
	struct cluster_reply a = sample_reply(), d;
	uint8_t buf[512];
	int n;

	(void)state;
	n = cluster_reply_encode(&a, buf, sizeof buf);
	assert_true(n > 0);
	assert_true((size_t)n <= cluster_reply_size(&a));
	assert_int_equal(cluster_reply_decode(buf, (size_t)n, &d), 0);
	assert_true(d.call_id == a.call_id);
	assert_int_equal(d.code, a.code);
	assert_bytes(d.message, a.message);
	assert_true(d.has_conn);
	assert_bytes(d.id, a.id);
	assert_bytes(d.gateway_id, a.gateway_id);
	assert_bytes(d.source_ip, a.source_ip);
	assert_bytes(d.user_agent, a.user_agent);
	assert_true(d.connected_at_ns == a.connected_at_ns);
	assert_true(d.last_active_at_ns == a.last_active_at_ns);
	for (int cut = 0; cut < n; cut++)
		assert_int_equal(cluster_reply_decode(buf, (size_t)cut, &d), ERR_PROTO);
	assert_int_equal(cluster_reply_decode(buf, (size_t)n + 1, &d), ERR_PROTO);

	/* an error: no snapshot */
	a = (struct cluster_reply){.call_id = 9, .code = 5, .message = B("connection x not found")};
	n = cluster_reply_encode(&a, buf, sizeof buf);
	assert_int_equal(cluster_reply_decode(buf, (size_t)n, &d), 0);
	assert_false(d.has_conn);
	assert_int_equal(d.code, 5);
	assert_bytes(d.message, a.message);
	buf[n - 1] = 4; /* the body byte is 0, 1 (a snapshot), 2 (counts) or 3 (a page) */
	assert_int_equal(cluster_reply_decode(buf, (size_t)n, &d), ERR_PROTO);
	a.message.len = CLUSTER_MESSAGE_MAX + 1;
	assert_int_equal(cluster_reply_encode(&a, buf, sizeof buf), ERR_LIMIT);
}

/* A FAN request: the wsgw.v1 fields and an ids block, whole and at every
 * cut; a block whose count disagrees with its entries is refused. */
static void test_fan_request(void **state)
{
	struct cluster_request q = sample_request(), d;
	uint8_t ids[256], buf[1024];
	size_t idlen = 0;
	struct cluster_bytes blk, id;
	int n;

	(void)state;
	q.op = CLUSTER_OP_FAN;
	q.kind = 8;
	q.group = B("team-1");
	q.route = B("/chat/{room}");
	q.prefix = B("/chat/");
	assert_int_equal(cluster_ids_add(ids, sizeof ids, &idlen, "abc234x", 7), 0);
	assert_int_equal(cluster_ids_add(ids, sizeof ids, &idlen, "", 0), 0);
	assert_int_equal(cluster_ids_add(ids, sizeof ids, &idlen, "q", 1), 0);
	q.ids = (struct cluster_bytes){ids, idlen};
	q.nids = 3;
	n = cluster_request_encode(&q, buf, sizeof buf);
	assert_int_equal(n, (int)cluster_request_size(&q));
	assert_int_equal(cluster_request_decode(buf, (size_t)n, &d), 0);
	assert_int_equal(d.kind, 8);
	assert_bytes(d.group, q.group);
	assert_bytes(d.route, q.route);
	assert_bytes(d.prefix, q.prefix);
	assert_bytes(d.data, q.data);
	assert_int_equal(d.nids, 3);
	blk = d.ids;
	assert_true(cluster_ids_next(&blk, &id));
	assert_bytes(id, B("abc234x"));
	assert_true(cluster_ids_next(&blk, &id));
	assert_int_equal(id.len, 0);
	assert_true(cluster_ids_next(&blk, &id));
	assert_bytes(id, B("q"));
	assert_false(cluster_ids_next(&blk, &id));
	for (int cut = 0; cut < n; cut++)
		assert_int_equal(cluster_request_decode(buf, (size_t)cut, &d), ERR_PROTO);
	q.nids = 2; /* a count that disagrees with the block */
	assert_int_equal(cluster_request_encode(&q, buf, sizeof buf), ERR_LIMIT);
	q.nids = 3;
	n = cluster_request_encode(&q, buf, sizeof buf);
	buf[n - (int)idlen - 5] = 4; /* nids low byte: 4 entries announced */
	assert_int_equal(cluster_request_decode(buf, (size_t)n, &d), ERR_PROTO);
	/* join: group over its cap */
	q = sample_request();
	q.op = CLUSTER_OP_JOIN;
	q.group.p = (const uint8_t *)buf;
	q.group.len = CLUSTER_GROUP_MAX + 1;
	assert_int_equal(cluster_request_encode(&q, ids, sizeof ids), ERR_LIMIT);
	/* the older ops carry none of it: their encoding is unchanged */
	q = sample_request();
	q.group = B("ignored");
	n = cluster_request_encode(&q, buf, sizeof buf);
	assert_int_equal(cluster_request_decode(buf, (size_t)n, &d), 0);
	assert_int_equal(d.group.len, 0);
	assert_true(cluster_ids_add(ids, 4, &idlen, "x", 1) == ERR_LIMIT);
}

/* A FAN's answer: counts and a routes block. */
static void test_counts_reply(void **state)
{
	struct cluster_reply a = {.call_id = 5, .message = B("")}, d;
	uint8_t routes[128], buf[512];
	size_t rlen = 0;
	struct cluster_bytes blk, r;
	uint32_t c;
	int n;

	(void)state;
	a.has_counts = true;
	a.node = B("abc234");
	a.delivered = 70000, a.skipped = 3, a.total = 70003;
	assert_int_equal(cluster_routes_add(routes, sizeof routes, &rlen, "/a/{x}", 6, 70000), 0);
	assert_int_equal(cluster_routes_add(routes, sizeof routes, &rlen, "/b", 2, 3), 0);
	a.routes = (struct cluster_bytes){routes, rlen};
	a.nroutes = 2;
	n = cluster_reply_encode(&a, buf, sizeof buf);
	assert_true(n > 0 && (size_t)n <= cluster_reply_size(&a));
	assert_int_equal(cluster_reply_decode(buf, (size_t)n, &d), 0);
	assert_true(d.has_counts && !d.has_conn);
	assert_bytes(d.node, a.node);
	assert_true(d.delivered == 70000 && d.skipped == 3 && d.total == 70003);
	assert_int_equal(d.nroutes, 2);
	blk = d.routes;
	assert_true(cluster_routes_next(&blk, &r, &c));
	assert_bytes(r, B("/a/{x}"));
	assert_true(c == 70000);
	assert_true(cluster_routes_next(&blk, &r, &c));
	assert_bytes(r, B("/b"));
	assert_true(c == 3);
	assert_false(cluster_routes_next(&blk, &r, &c));
	for (int cut = 0; cut < n; cut++)
		assert_int_equal(cluster_reply_decode(buf, (size_t)cut, &d), ERR_PROTO);
	a.nroutes = 3;
	assert_int_equal(cluster_reply_encode(&a, buf, sizeof buf), ERR_LIMIT);
	a.nroutes = 2;
	a.has_conn = true; /* one body or the other */
	assert_int_equal(cluster_reply_encode(&a, buf, sizeof buf), ERR_LIMIT);
}

/* A LIST request: the filters and the list fields; the id sits where
 * cluster_list.c's script writes the owner's tag (byte 26). */
static void test_list_request(void **state)
{
	struct cluster_request q = {0}, d;
	uint8_t buf[512];
	int n;

	(void)state;
	q.op = CLUSTER_OP_LIST;
	q.kind = 1; /* GW_LIST */
	q.caller = B("abc234");
	q.call_id = (uint64_t)1 << 63 | 9;
	q.deadline_ms = 1765000000123ull;
	q.id = B("aaaaaa");
	q.group = B("team");
	q.route = B("/chat/{room}");
	q.prefix = B("/chat/");
	q.from = B("xyz765");
	q.after_seq = UINT64_MAX - 1;
	q.page_size = 1000;
	q.has_after = true, q.after_ns = -5;
	q.has_before = false, q.before_ns = 1765000000000000000ll;
	n = cluster_request_encode(&q, buf, sizeof buf);
	assert_true(n > 0 && (size_t)n == cluster_request_size(&q));
	assert_memory_equal(buf + 26, "aaaaaa", 6);
	assert_int_equal(cluster_request_decode(buf, (size_t)n, &d), 0);
	assert_int_equal(d.op, CLUSTER_OP_LIST);
	assert_int_equal(d.kind, 1);
	assert_bytes(d.group, q.group);
	assert_bytes(d.route, q.route);
	assert_bytes(d.prefix, q.prefix);
	assert_bytes(d.from, q.from);
	assert_true(d.after_seq == q.after_seq);
	assert_int_equal(d.page_size, 1000);
	assert_true(d.has_after && !d.has_before);
	assert_true(d.after_ns == -5 && d.before_ns == q.before_ns);
	for (int cut = 0; cut < n; cut++)
		assert_int_equal(cluster_request_decode(buf, (size_t)cut, &d), ERR_PROTO);
	buf[n] = 0;
	assert_int_equal(cluster_request_decode(buf, (size_t)n + 1, &d), ERR_PROTO);
	/* flags: only two bits; page size 1..1000 */
	buf[n - 17] = 4;
	assert_int_equal(cluster_request_decode(buf, (size_t)n, &d), ERR_PROTO);
	buf[n - 17] = 1;
	buf[n - 19] = 0x03, buf[n - 18] = 0xe9; /* 1001 */
	assert_int_equal(cluster_request_decode(buf, (size_t)n, &d), ERR_PROTO);
	buf[n - 19] = 0, buf[n - 18] = 0;
	assert_int_equal(cluster_request_decode(buf, (size_t)n, &d), ERR_PROTO);
	q.page_size = 0;
	assert_int_equal(cluster_request_encode(&q, buf, sizeof buf), ERR_LIMIT);
	q.page_size = 1001;
	assert_int_equal(cluster_request_encode(&q, buf, sizeof buf), ERR_LIMIT);
	q.page_size = 1;
	q.from.len = CLUSTER_TAG_MAX + 1;
	assert_int_equal(cluster_request_encode(&q, buf, sizeof buf), ERR_LIMIT);
}

static struct cluster_conn sample_conn(const uint8_t *groups, size_t glen, uint8_t ngroups)
{
	struct cluster_conn c = {0};

	c.id = B("xyz765aaaaaaaaaaaaaaaaaaaaaaaaaaa");
	c.gateway_id = B("d5dwsgw0000000000001");
	c.source_ip = B("2001:db8::1");
	c.user_agent = B("ua/1.0 \xc3\xa9");
	c.path = B("/chat/r1?x=1");
	c.route = B("/chat/{room}");
	c.subprotocol = B("");
	c.connected_at_ns = 1765000000123456789ll;
	c.last_active_at_ns = -1;
	c.groups = (struct cluster_bytes){groups, glen};
	c.ngroups = ngroups;
	return c;
}

/* A LIST's answer: a conns block of two connections (one in groups),
 * whole and at every cut; counts that disagree with the blocks refused. */
static void test_page_reply(void **state)
{
	struct cluster_reply a = {.call_id = 5, .message = B("")}, d;
	uint8_t groups[256], conns[1024], buf[2048];
	size_t glen = 0, clen = 0;
	struct cluster_conn c1, c2, got;
	struct cluster_bytes blk, g;
	int n;

	(void)state;
	assert_int_equal(cluster_groups_add(groups, sizeof groups, &glen, "team", 4), 0);
	assert_int_equal(cluster_groups_add(groups, sizeof groups, &glen, "a-b.c", 5), 0);
	assert_int_equal(cluster_groups_add(groups, sizeof groups, &glen, "", 0), ERR_LIMIT);
	c1 = sample_conn(groups, glen, 2);
	c2 = sample_conn(NULL, 0, 0);
	c2.subprotocol = B("chat.v1");
	assert_int_equal(cluster_conns_add(conns, sizeof conns, &clen, &c1), 0);
	assert_int_equal(clen, cluster_conn_size(&c1));
	assert_int_equal(cluster_conns_add(conns, sizeof conns, &clen, &c2), 0);
	/* a groups block that disagrees with ngroups, and a full buffer */
	c1.ngroups = 3;
	assert_int_equal(cluster_conns_add(conns, sizeof conns, &clen, &c1), ERR_LIMIT);
	c1.ngroups = 2;
	assert_int_equal(cluster_conns_add(conns, clen + 10, &clen, &c1), ERR_LIMIT);
	a.has_page = true;
	a.node = B("xyz765");
	a.more = true;
	a.seq = 0x1122334455667788ull;
	a.nconns = 2;
	a.conns = (struct cluster_bytes){conns, clen};
	n = cluster_reply_encode(&a, buf, sizeof buf);
	assert_true(n > 0 && (size_t)n <= cluster_reply_size(&a));
	assert_int_equal(cluster_reply_decode(buf, (size_t)n, &d), 0);
	assert_true(d.has_page && !d.has_conn && !d.has_counts);
	assert_bytes(d.node, a.node);
	assert_true(d.more && d.seq == a.seq && d.nconns == 2);
	blk = d.conns;
	assert_true(cluster_conns_next(&blk, &got));
	assert_bytes(got.id, c1.id);
	assert_bytes(got.gateway_id, c1.gateway_id);
	assert_bytes(got.source_ip, c1.source_ip);
	assert_bytes(got.user_agent, c1.user_agent);
	assert_bytes(got.path, c1.path);
	assert_bytes(got.route, c1.route);
	assert_bytes(got.subprotocol, c1.subprotocol);
	assert_true(got.connected_at_ns == c1.connected_at_ns);
	assert_true(got.last_active_at_ns == -1);
	assert_int_equal(got.ngroups, 2);
	assert_true(cluster_groups_next(&got.groups, &g));
	assert_bytes(g, B("team"));
	assert_true(cluster_groups_next(&got.groups, &g));
	assert_bytes(g, B("a-b.c"));
	assert_false(cluster_groups_next(&got.groups, &g));
	assert_true(cluster_conns_next(&blk, &got));
	assert_bytes(got.subprotocol, B("chat.v1"));
	assert_int_equal(got.ngroups, 0);
	assert_false(cluster_conns_next(&blk, &got));
	for (int cut = 0; cut < n; cut++)
		assert_int_equal(cluster_reply_decode(buf, (size_t)cut, &d), ERR_PROTO);
	buf[n] = 0;
	assert_int_equal(cluster_reply_decode(buf, (size_t)n + 1, &d), ERR_PROTO);
	/* the more byte is 0 or 1 */
	buf[19] = 2;
	assert_int_equal(cluster_reply_decode(buf, (size_t)n, &d), ERR_PROTO);
	buf[19] = 0;
	assert_int_equal(cluster_reply_decode(buf, (size_t)n, &d), 0);
	assert_false(d.more);
	a.nconns = 3;
	assert_int_equal(cluster_reply_encode(&a, buf, sizeof buf), ERR_LIMIT);
	a.nconns = CLUSTER_PAGE_MAX + 1;
	assert_int_equal(cluster_reply_encode(&a, buf, sizeof buf), ERR_LIMIT);
	a.nconns = 2;
	a.has_counts = true; /* one body only */
	assert_int_equal(cluster_reply_encode(&a, buf, sizeof buf), ERR_LIMIT);
	/* an empty last page */
	a = (struct cluster_reply){.call_id = 6, .has_page = true, .node = B("xyz765")};
	n = cluster_reply_encode(&a, buf, sizeof buf);
	assert_int_equal(cluster_reply_decode(buf, (size_t)n, &d), 0);
	assert_true(d.has_page && !d.more && d.nconns == 0 && d.conns.len == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_request_roundtrip),   cmocka_unit_test(test_request_refusals),
	    cmocka_unit_test(test_request_data_length), cmocka_unit_test(test_probe),
	    cmocka_unit_test(test_reply_roundtrip),     cmocka_unit_test(test_fan_request),
	    cmocka_unit_test(test_counts_reply),        cmocka_unit_test(test_list_request),
	    cmocka_unit_test(test_page_reply),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
