/* fuzz_fn_resp.c — libFuzzer target for fn_resp.c (a function's answer)
 * and fn_event.c (the event built from hostile handshake bytes).
 *
 * Input: byte 0 picks the body cap (0..255), the rest is the answer. It is
 * parsed from an exact-size heap copy so ASan sees over-reads. Checked: a
 * success has a status in 100..599, a body within the cap, header lines
 * that are whole "Name: value\r\n" lines without other control bytes, and
 * a content type that is one of them; a refusal holds nothing. Then the
 * same bytes are used as a query string, a header value, a path parameter
 * and a binary and a text body of each event kind: the event must always
 * be built and must be JSON that jansson reads back.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "fn_event.h"
#include "fn_resp.h"
#include "fuzz.h"

static void check_answer(const uint8_t *data, size_t size)
{
	size_t cap = data[0];
	char *copy = malloc(size - 1 ? size - 1 : 1), why[256];
	struct fn_resp r;
	int rc;

	memcpy(copy, data + 1, size - 1);
	rc = fn_resp_parse((const uint8_t *)copy, size - 1, cap, &r, why, sizeof why);
	free(copy);
	CHECK(rc == 0 || rc == ERR_PROTO || rc == ERR_NOMEM);
	if (rc) {
		CHECK(!r.body && !r.headers && !r.content_type);
		return;
	}
	CHECK(r.status >= 100 && r.status <= 599);
	CHECK(r.body_len <= cap && (r.body || !r.body_len));
	CHECK(!r.headers || strlen(r.headers) == r.headers_len);
	for (size_t i = 0; i < r.headers_len; i++) {
		unsigned char ch = (unsigned char)r.headers[i];

		if (ch == '\r')
			CHECK(i + 1 < r.headers_len && r.headers[i + 1] == '\n');
		else if (ch == '\n')
			CHECK(i > 0 && r.headers[i - 1] == '\r');
		else
			CHECK(ch >= 0x20 || ch == '\t');
	}
	CHECK(r.headers_len <= FN_RESP_MAX_HEADERS);
	if (r.content_type)
		CHECK(strstr(r.headers, r.content_type) != NULL);
	fn_resp_free(&r);
}

/* The same bytes as a function authorizer's answer: a success is an
 * authorized one with a context within the cap, or not authorized
 * without one; a refusal holds nothing. */
static void check_authorizer(const uint8_t *data, size_t size)
{
	size_t cap = data[0];
	char *copy = malloc(size - 1 ? size - 1 : 1), *ctx, why[256];
	bool yes;
	int rc;

	memcpy(copy, data + 1, size - 1);
	rc = fn_resp_authorizer((const uint8_t *)copy, size - 1, cap, &yes, &ctx, why, sizeof why);
	free(copy);
	CHECK(rc == 0 || rc == ERR_PROTO || rc == ERR_NOMEM);
	CHECK(!rc || (!yes && !ctx));
	CHECK(!ctx || (yes && strlen(ctx) <= cap));
	free(ctx);
}

static void check_event(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct fn_kv h[2] = {{"X-Fuzz", 6, s, size}, {"Cookie", 6, s, size}};
	struct fn_kv pp = {"p", 1, s, size};
	struct spec_param params[3] = {{"p", PARAM_PATH}, {"a", PARAM_QUERY}, {"a", PARAM_COOKIE}};

	for (int kind = FN_CONNECT; kind <= FN_DISCONNECT; kind++) {
		for (int v1 = 0; v1 < 2; v1++) {
			struct fn_event ev = {.kind = (enum fn_event_kind)kind,
			                      .v1 = v1,
			                      .resource = "/{p}",
			                      .path = s,
			                      .path_len = size,
			                      .query = s,
			                      .query_len = size,
			                      .headers = h,
			                      .num_headers = 2,
			                      .path_params = &pp,
			                      .num_path_params = 1,
			                      .params = params,
			                      .num_params = 3,
			                      .operation_id = "o",
			                      .function_id = "f",
			                      .gateway_id = "g",
			                      .conn_id = "c",
			                      .request_id = "r",
			                      .source_ip = "127.0.0.1",
			                      .message_id = "m",
			                      .body = data,
			                      .body_len = size,
			                      .binary = v1,
			                      .reason = s,
			                      .reason_len = size};
			size_t len = 0;
			char *json = fn_event_json(&ev, &len);
			json_t *j;

			CHECK(json != NULL);
			j = json_loadb(json, len, JSON_ALLOW_NUL, NULL);
			CHECK(j != NULL);
			json_decref(j);
			free(json);
			/* the authorizer's request from the same hostile bytes */
			CHECK((json = fn_event_authorizer_json(&ev, &len)) != NULL);
			CHECK((j = json_loadb(json, len, JSON_ALLOW_NUL, NULL)) != NULL);
			json_decref(j);
			free(json);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	check_answer(data, size);
	check_authorizer(data, size);
	if (size < 4096)
		check_event(data, size);
	return 0;
}
