/* fuzz_cluster_msg.c — libFuzzer target for cluster_msg.c.
 *
 * The input is decoded as a request and as a reply (a LIST page's
 * connections walked too) (what another node, or
 * anyone who can PUBLISH on the Redis server, may send). Whatever decodes
 * must have its views inside the input and its fields within their caps,
 * and must encode back to exactly the input (the encoding is canonical:
 * fixed-width lengths, no optional bytes). Any broken invariant aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "cluster_msg.h"

static int inside(struct cluster_bytes b, const uint8_t *in, size_t n)
{
	return b.len == 0 || (b.p >= in && b.p + b.len <= in + n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cluster_request q;
	struct cluster_reply a;
	uint8_t *out = malloc(size + 1);

	CHECK(out);
	if (cluster_request_decode(data, size, &q) == 0) {
		struct cluster_bytes blk = q.ids, id;
		unsigned nids = 0;

		CHECK(q.op <= CLUSTER_OP_LAST);
		CHECK(q.group.len <= CLUSTER_GROUP_MAX && inside(q.group, data, size));
		CHECK(q.route.len <= CLUSTER_FILTER_MAX && inside(q.route, data, size));
		CHECK(q.prefix.len <= CLUSTER_FILTER_MAX && inside(q.prefix, data, size));
		CHECK(inside(q.ids, data, size));
		while (cluster_ids_next(&blk, &id)) {
			CHECK(id.len <= CLUSTER_ID_MAX && inside(id, data, size));
			nids++;
		}
		CHECK(blk.len == 0 && nids == q.nids);
		CHECK(q.caller.len <= CLUSTER_TAG_MAX && inside(q.caller, data, size));
		CHECK(q.id.len <= CLUSTER_ID_MAX && inside(q.id, data, size));
		CHECK(q.reason.len <= CLUSTER_REASON_MAX && inside(q.reason, data, size));
		CHECK(q.data.len <= CLUSTER_DATA_MAX && inside(q.data, data, size));
		CHECK(q.from.len <= CLUSTER_TAG_MAX && inside(q.from, data, size));
		if (q.op == CLUSTER_OP_LIST)
			CHECK(q.page_size >= 1 && q.page_size <= CLUSTER_PAGE_MAX);
		CHECK(cluster_request_size(&q) == size);
		CHECK(cluster_request_encode(&q, out, size + 1) == (int)size);
		CHECK(memcmp(out, data, size) == 0);
	}
	if (cluster_reply_decode(data, size, &a) == 0) {
		CHECK(a.message.len <= CLUSTER_MESSAGE_MAX && inside(a.message, data, size));
		CHECK(inside(a.id, data, size) && inside(a.user_agent, data, size));
		CHECK(inside(a.gateway_id, data, size) && inside(a.source_ip, data, size));
		CHECK(a.has_conn + a.has_counts + a.has_page <= 1);
		if (a.has_page) {
			struct cluster_bytes blk = a.conns, g;
			struct cluster_conn c;
			unsigned nc = 0;

			CHECK(a.node.len <= CLUSTER_TAG_MAX && inside(a.node, data, size));
			CHECK(a.conns.len <= CLUSTER_PAGE_BYTES && inside(a.conns, data, size));
			while (cluster_conns_next(&blk, &c)) {
				unsigned ng = 0;

				CHECK(inside(c.id, data, size) && inside(c.user_agent, data, size));
				CHECK(inside(c.path, data, size) && inside(c.route, data, size));
				CHECK(inside(c.subprotocol, data, size) &&
				      inside(c.groups, data, size));
				CHECK(c.id.len <= CLUSTER_ID_MAX && c.source_ip.len <= 64);
				while (cluster_groups_next(&c.groups, &g)) {
					CHECK(g.len >= 1 && g.len <= CLUSTER_GROUP_MAX);
					CHECK(inside(g, data, size));
					ng++;
				}
				CHECK(c.groups.len == 0 && ng == c.ngroups);
				nc++;
			}
			CHECK(blk.len == 0 && nc == a.nconns && nc <= CLUSTER_PAGE_MAX);
		}
		if (a.has_counts) {
			struct cluster_bytes blk = a.routes, r;
			uint32_t c;
			unsigned nr = 0;

			CHECK(a.node.len <= CLUSTER_TAG_MAX && inside(a.node, data, size));
			while (cluster_routes_next(&blk, &r, &c)) {
				CHECK(r.len <= CLUSTER_FILTER_MAX && inside(r, data, size));
				nr++;
			}
			CHECK(blk.len == 0 && nr == a.nroutes);
		}
		CHECK(cluster_reply_encode(&a, out, size + 1) == (int)size);
		CHECK(memcmp(out, data, size) == 0);
	}
	free(out);
	return 0;
}
