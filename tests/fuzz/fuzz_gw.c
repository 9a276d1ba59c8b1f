/* fuzz_gw — wsgw.v1's request parsers on hostile bytes: the first byte
 * picks a method; the rest is, for gRPC, its request message
 * (gw_pb_decode), and for REST a target and a body split at the first NUL
 * (router_find, then gw_json_parse). Also the page token and RFC 3339
 * parsers, and the encoders on what a decode gave (a List result that
 * echoes the request's strings). Invariants: views stay inside what was
 * decoded, counts match, a decoded token re-encodes to the same text.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "gw_json.h"
#include "gw_pb.h"
#include "pagetok.h"
#include "router.h"

static void fuzz_pb(enum gw_kind kind, const uint8_t *p, size_t n)
{
	struct gw_pb_request r;
	struct gw_call call = {0};
	struct gw_send_result res[4];
	uint8_t *out;
	size_t len;

	if (gw_pb_decode(kind, p, n, &r) < 0)
		return;
	CHECK(r.req.kind == kind);
	CHECK(r.req.nids == 0 || r.req.ids);
	for (size_t i = 0; i < r.req.nids; i++)
		CHECK(strlen(r.req.ids[i].p) == r.req.ids[i].n); /* no NUL inside */
	/* Encode something built from the request: a send result per id. */
	call.kind = kind == GW_SEND_MANY ? GW_SEND_MANY : GW_BROADCAST;
	call.results = res;
	call.nresults = r.req.nids < 4 ? r.req.nids : 4;
	for (size_t i = 0; i < call.nresults; i++)
		res[i] = (struct gw_send_result){r.req.ids[i], API_NOT_FOUND, "x"};
	out = gw_pb_encode(&call, 5, &len);
	CHECK(out && len >= 5);
	free(out);
	gw_pb_request_free(&r);
}

static void fuzz_rest(const uint8_t *p, size_t n, uint8_t sel)
{
	static const char *const methods[] = {"GET", "POST", "HEAD", "DELETE"};
	const uint8_t *nul = memchr(p, 0, n);
	size_t tl = nul ? (size_t)(nul - p) : n;
	struct rest_request req = {0};
	struct router_match m;
	const struct router_route *r;
	struct gw_json_request jr;
	char err[192];

	req.method = methods[sel & 3];
	req.method_len = strlen(req.method);
	req.target = (const char *)p;
	req.target_len = tl;
	req.body = nul ? nul + 1 : NULL;
	req.body_len = nul ? n - tl - 1 : 0;
	r = router_find(sel & 4 ? ROUTER_HTTP2 : ROUTER_HTTP1, req.method, req.method_len,
	                req.target, req.target_len, &m);
	if (!r || !r->rest || r->handler < ROUTER_GW_LIST)
		return;
	if (gw_json_parse(&req, r->handler, &m, &jr, err, sizeof err) == 0) {
		CHECK(jr.req.kind >= GW_LIST && jr.req.kind <= GW_BROADCAST);
		CHECK(jr.req.page_size >= 0 && jr.req.page_size <= GW_MAX_PAGE);
		CHECK(jr.req.nids <= GW_MAX_IDS);
	}
	gw_json_request_free(&jr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t seq, check;
	int64_t ns;
	char t[PAGETOK_LEN + 1];

	if (size < 1)
		return 0;
	if (pagetok_decode((const char *)data + 1, size - 1, &seq, &check) == 0) {
		pagetok_encode(seq, check, t);
		CHECK(memcmp(t, data + 1, PAGETOK_LEN) == 0); /* canonical */
	}
	(void)gw_json_parse_time((const char *)data + 1, size - 1, &ns);
	if (data[0] < 0x80)
		fuzz_pb((enum gw_kind)(GW_LIST + data[0] % 8), data + 1, size - 1);
	else
		fuzz_rest(data + 1, size - 1, data[0]);
	return 0;
}
