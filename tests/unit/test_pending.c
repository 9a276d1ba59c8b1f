/* test_pending.c — calls that complete later, before cluster mode exists:
 * a registry double (srv.registry) holds every Get/Send/Disconnect until
 * the test completes or drops it. Shows that HTTP/1.1 keeps pipelined
 * responses in request order while one is pending, that the connection
 * is told to write when an answer comes after its read, that a session
 * freed or timed out while a call is pending cancels it (no completion
 * into freed memory: run under ASan by make unit-asan), and that api.c's
 * rules still answer inline. The same for gRPC: a stream waits for its
 * call, and a stream reset or a session freed while waiting cancels it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <nghttp2/nghttp2.h>

#include "api.h"
#include "config.h"
#include "conntab.h"
#include "ctx.h"
#include "err.h"
#include "grpc.h"
#include "mgmt_h1.h"
#include "obuf.h"
#include "registry.h"
#include "rest.h"
#include "router.h"

#define P REST_PREFIX
#define MAX_HELD 8

static struct config cfg;
static struct server srv;

/* ---- the double: holds calls until the test answers them ------------------------ */

static struct api_call *held[MAX_HELD];
static size_t num_held;

static void drop(struct api_call *call)
{
	for (size_t i = 0; i < num_held; i++) {
		if (held[i] == call) {
			memmove(held + i, held + i + 1, (num_held - i - 1) * sizeof held[0]);
			num_held--;
			return;
		}
	}
	fail_msg("cancel of a call the registry does not hold");
}

static void hold(struct api_call *call)
{
	assert_true(num_held < MAX_HELD);
	call->cancel = drop;
	held[num_held++] = call;
}

static void later_get(struct server *s, const char *id, size_t len, struct api_call *call)
{
	(void)s, (void)id, (void)len;
	hold(call);
}

static void later_send(struct server *s, const char *id, size_t len, uint8_t op, const uint8_t *p,
                       size_t n, struct api_call *call)
{
	(void)s, (void)id, (void)len, (void)op, (void)p, (void)n;
	hold(call);
}

static void later_close(struct server *s, const char *id, size_t len, uint16_t code,
                        const char *reason, struct api_call *call)
{
	(void)s, (void)id, (void)len, (void)code, (void)reason;
	hold(call);
}

static const struct registry_ops later = {.get = later_get, .send = later_send, .close = later_close};

/* Completes the oldest held call: NOT_FOUND with msg, or OK. */
static void answer(enum api_code code, const char *msg)
{
	struct api_call *call;

	assert_true(num_held > 0);
	call = held[0];
	memmove(held, held + 1, (num_held - 1) * sizeof held[0]);
	num_held--;
	if (code == API_OK) {
		call->st.code = API_OK;
		call->st.message = "";
	} else {
		api_fail(&call->st, code, "%s", msg);
	}
	api_call_complete(call);
}

/* ---- the connection side ------------------------------------------------------- */

static int outputs, last_rc;

static void on_output(void *arg, int rc)
{
	(void)arg;
	outputs++;
	last_rc = rc;
}

static struct conntab_key no_key(const struct conntab_node *n)
{
	(void)n;
	return (struct conntab_key){"", 0};
}

static int setup(void **state)
{
	char *argv[] = {"wsgw", "--request-timeout", "5s", NULL};
	char *env[] = {NULL};
	char err[256];

	(void)state;
	memset(&srv, 0, sizeof srv);
	if (config_load(&cfg, 3, argv, env, err, sizeof err) != CONFIG_OK)
		return -1;
	srv.cfg = &cfg;
	srv.loop.now_ms = 1000;
	srv.registry = &later;
	num_held = 0;
	outputs = 0;
	last_rc = 0;
	return conntab_init(&srv.table, 8, 1, no_key);
}

static int teardown(void **state)
{
	(void)state;
	conntab_fini(&srv.table);
	assert_int_equal(num_held, 0); /* nothing left behind */
	assert_int_equal(srv.mgmt_buffered, 0);
	return 0;
}

/* The bytes queued so far, as a NUL-terminated string (consumed). */
static char *take(struct obuf **ob)
{
	size_t n = obuf_pending(*ob);
	char *s = malloc(n + 1);

	assert_non_null(s);
	memcpy(s, n ? obuf_data(*ob) : (const uint8_t *)"", n);
	s[n] = '\0';
	obuf_consume(ob, n);
	return s;
}

static const char pipelined[] =
    "GET " P "first HTTP/1.1\r\nHost: x\r\n\r\n"
    "POST " P "second:send HTTP/1.1\r\nHost: x\r\nContent-Length: 13\r\n\r\n{\"data\":\"aGk=\"}"
    "DELETE " P "third HTTP/1.1\r\nHost: x\r\n\r\n";

/* Content-Length 13 cuts the Send body short of its closing brace: fixed
 * below so the three requests frame exactly. */
static void test_order_kept(void **state)
{
	struct h1_session *s = h1_session_new(&srv);
	struct obuf *ob = NULL;
	char in[sizeof pipelined + 8], *got;

	(void)state;
	snprintf(in, sizeof in, "%s", pipelined);
	memcpy(strstr(in, "Content-Length: 13"), "Content-Length: 15", 18);
	h1_session_set_notify(s, on_output, NULL);
	assert_int_equal(h1_session_feed(s, (const uint8_t *)in, strlen(in), &ob), 0);
	/* the first call is held: nothing out, the rest of the read kept */
	assert_true(h1_session_is_waiting(s));
	assert_int_equal(num_held, 1);
	assert_int_equal(obuf_pending(ob), 0);
	assert_true(srv.mgmt_buffered > 0);

	answer(API_NOT_FOUND, "answer-one");
	assert_int_equal(outputs, 1);
	assert_int_equal(last_rc, 0);
	/* the kept input was fed: the Send is held now */
	assert_int_equal(num_held, 1);
	got = take(&ob);
	assert_non_null(strstr(got, "HTTP/1.1 404 "));
	assert_non_null(strstr(got, "answer-one"));
	free(got);

	answer(API_OK, NULL);
	got = take(&ob);
	assert_non_null(strstr(got, "HTTP/1.1 200 "));
	free(got);
	assert_int_equal(num_held, 1); /* the Disconnect */
	answer(API_NOT_FOUND, "answer-three");
	got = take(&ob);
	assert_non_null(strstr(got, "answer-three"));
	free(got);
	assert_false(h1_session_is_waiting(s));
	assert_int_equal(outputs, 3);
	h1_session_free(s);
	obuf_free(&ob);
}

/* Fed byte by byte: the same order, whatever arrives while waiting. */
static void test_order_kept_bytewise(void **state)
{
	struct h1_session *s = h1_session_new(&srv);
	struct obuf *ob = NULL;
	const char in[] =
	    "GET " P "a HTTP/1.1\r\nHost: x\r\n\r\nGET " P "b HTTP/1.1\r\nHost: x\r\n\r\n";
	char *got;

	(void)state;
	h1_session_set_notify(s, on_output, NULL);
	for (size_t i = 0; i < sizeof in - 1; i++)
		assert_int_equal(h1_session_feed(s, (const uint8_t *)in + i, 1, &ob), 0);
	assert_int_equal(num_held, 1);
	answer(API_NOT_FOUND, "reply-a");
	answer(API_NOT_FOUND, "reply-b");
	got = take(&ob);
	assert_true(strstr(got, "reply-a") && strstr(got, "reply-b") &&
	            strstr(got, "reply-a") < strstr(got, "reply-b"));
	free(got);
	h1_session_free(s);
	obuf_free(&ob);
}

/* The client goes away while its call is held: the call is cancelled
 * (teardown finds the double empty) and never completes into freed
 * memory; the kept input goes back to the port's budget. */
static void test_gone_while_pending(void **state)
{
	struct h1_session *s = h1_session_new(&srv);
	struct obuf *ob = NULL;

	(void)state;
	assert_int_equal(h1_session_feed(s, (const uint8_t *)pipelined, sizeof pipelined - 1, &ob),
	                 0);
	assert_int_equal(num_held, 1);
	h1_session_free(s);
	assert_int_equal(num_held, 0);
	obuf_free(&ob);
}

/* Held past --request-timeout: 504, the call dropped, the connection ends. */
static void test_timeout_while_pending(void **state)
{
	struct h1_session *s = h1_session_new(&srv);
	struct obuf *ob = NULL;
	const char in[] = "GET " P "a HTTP/1.1\r\nHost: x\r\n\r\n";
	char *got;

	(void)state;
	assert_int_equal(h1_session_feed(s, (const uint8_t *)in, sizeof in - 1, &ob), 0);
	srv.loop.now_ms += 4000;
	assert_int_equal(h1_session_sweep(s, srv.loop.now_ms, &ob), 0);
	assert_int_equal(num_held, 1);
	srv.loop.now_ms += 1000;
	assert_int_equal(h1_session_sweep(s, srv.loop.now_ms, &ob), ERR_CLOSED);
	assert_int_equal(num_held, 0);
	got = take(&ob);
	assert_non_null(strstr(got, "HTTP/1.1 504 "));
	free(got);
	h1_session_free(s);
	obuf_free(&ob);
}

/* api.c's own rules answer inline, whatever the registry does. */
static void test_rules_inline(void **state)
{
	struct rest_response r;
	struct rest_request req = {"GET", 3, P, sizeof P - 1, NULL, 0, NULL, 0, ROUTER_HTTP1};
	char target[] = P "%ff";

	(void)state;
	req.target = target;
	req.target_len = strlen(target);
	rest_handle(&srv, &req, &r); /* not UTF-8: INVALID_ARGUMENT, no call */
	assert_int_equal(r.status, 400);
	assert_int_equal(num_held, 0);
	rest_response_fini(&r);
	/* rest_handle cannot wait: a held call is cancelled, 503 */
	req.target = P "abc";
	req.target_len = strlen(req.target);
	rest_handle(&srv, &req, &r);
	assert_int_equal(r.status, 503);
	assert_int_equal(num_held, 0);
	rest_response_fini(&r);
}

/* ---- gRPC: an nghttp2 client against the session, in memory ------------------- */

struct client {
	nghttp2_session *h2;
	char grpc_status[8]; /* of the last stream that got one */
	int closed;          /* streams closed */
};

static int on_h2_header(nghttp2_session *h2, const nghttp2_frame *frame, const uint8_t *name,
                        size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                        void *user)
{
	struct client *c = user;

	(void)h2, (void)frame, (void)flags;
	if (namelen == 11 && memcmp(name, "grpc-status", 11) == 0 &&
	    valuelen < sizeof c->grpc_status) {
		memcpy(c->grpc_status, value, valuelen);
		c->grpc_status[valuelen] = '\0';
	}
	return 0;
}

static int on_h2_close(nghttp2_session *h2, int32_t id, uint32_t code, void *user)
{
	(void)h2, (void)id, (void)code;
	((struct client *)user)->closed++;
	return 0;
}

static ssize_t read_get(nghttp2_session *h2, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                        nghttp2_data_source *src, void *user)
{
	/* GetConnectionRequest{connection_id: "abc"} behind the gRPC prefix */
	static const uint8_t msg[] = {0, 0, 0, 0, 5, 0x0a, 3, 'a', 'b', 'c'};

	(void)h2, (void)id, (void)src, (void)user;
	assert_true(len >= sizeof msg);
	memcpy(buf, msg, sizeof msg);
	*flags |= NGHTTP2_DATA_FLAG_EOF;
	return sizeof msg;
}

static void client_init(struct client *c)
{
	nghttp2_session_callbacks *cb;

	memset(c, 0, sizeof *c);
	assert_int_equal(nghttp2_session_callbacks_new(&cb), 0);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_h2_header);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_h2_close);
	assert_int_equal(nghttp2_session_client_new(&c->h2, cb, c), 0);
	nghttp2_session_callbacks_del(cb);
	assert_int_equal(nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, NULL, 0), 0);
}

static int32_t client_get(struct client *c)
{
	static const char path[] =
	    "/yandex.cloud.serverless.apigateway.websocket.v1.ConnectionService/Get";
	nghttp2_nv h[] = {
	    {(uint8_t *)":method", (uint8_t *)"POST", 7, 4, 0},
	    {(uint8_t *)":scheme", (uint8_t *)"http", 7, 4, 0},
	    {(uint8_t *)":authority", (uint8_t *)"x", 10, 1, 0},
	    {(uint8_t *)":path", (uint8_t *)path, 5, sizeof path - 1, 0},
	    {(uint8_t *)"content-type", (uint8_t *)"application/grpc", 12, 16, 0},
	    {(uint8_t *)"te", (uint8_t *)"trailers", 2, 8, 0},
	};
	nghttp2_data_provider prd = {.read_callback = read_get};

	c->grpc_status[0] = '\0';
	return nghttp2_submit_request(c->h2, NULL, h, sizeof h / sizeof h[0], &prd, NULL);
}

/* Moves bytes both ways until neither side has any. */
static void pump(struct client *c, struct grpc_session *s)
{
	for (int round = 0; round < 16; round++) {
		const uint8_t *p;
		struct obuf *ob = NULL;
		ssize_t n;
		size_t moved = 0;

		while ((n = nghttp2_session_mem_send(c->h2, &p)) > 0) {
			assert_int_equal(grpc_session_feed(s, p, (size_t)n), 0);
			moved += (size_t)n;
		}
		assert_int_equal(grpc_session_flush(s, &ob, 1 << 20), 0);
		if (obuf_pending(ob)) {
			moved += obuf_pending(ob);
			assert_int_equal(
			    nghttp2_session_mem_recv(c->h2, obuf_data(ob), obuf_pending(ob)),
			    (ssize_t)obuf_pending(ob));
		}
		obuf_free(&ob);
		if (!moved)
			return;
	}
	fail_msg("the sessions never went quiet");
}

static int h2_outputs;

static void on_h2_output(void *arg)
{
	(void)arg;
	h2_outputs++;
}

/* A stream waits for its call; the answer is written when it comes. */
static void test_grpc_waits(void **state)
{
	struct grpc_session *s = grpc_session_new(&srv);
	struct client c;

	(void)state;
	assert_non_null(s);
	h2_outputs = 0;
	grpc_session_set_notify(s, on_h2_output, NULL);
	client_init(&c);
	assert_true(client_get(&c) > 0);
	pump(&c, s);
	assert_int_equal(num_held, 1);
	assert_string_equal(c.grpc_status, "");
	answer(API_NOT_FOUND, "later");
	assert_int_equal(h2_outputs, 1); /* told to write: not inside a feed */
	pump(&c, s);
	assert_string_equal(c.grpc_status, "5");
	assert_int_equal(c.closed, 1);
	/* the next one answered OK */
	assert_true(client_get(&c) > 0);
	pump(&c, s);
	answer(API_OK, NULL);
	pump(&c, s);
	assert_string_equal(c.grpc_status, "0");
	nghttp2_session_del(c.h2);
	grpc_session_free(s);
}

/* RST_STREAM from the client, then the whole session freed, while calls
 * wait: each call is cancelled, none completes into a freed stream. */
static void test_grpc_gone_while_pending(void **state)
{
	struct grpc_session *s = grpc_session_new(&srv);
	struct client c;
	int32_t id;

	(void)state;
	assert_non_null(s);
	client_init(&c);
	id = client_get(&c);
	pump(&c, s);
	assert_int_equal(num_held, 1);
	nghttp2_submit_rst_stream(c.h2, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
	pump(&c, s);
	assert_int_equal(num_held, 0);
	client_get(&c);
	client_get(&c);
	pump(&c, s);
	assert_int_equal(num_held, 2);
	grpc_session_free(s);
	assert_int_equal(num_held, 0);
	nghttp2_session_del(c.h2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_order_kept, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_order_kept_bytewise, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_gone_while_pending, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timeout_while_pending, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rules_inline, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_grpc_waits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_grpc_gone_while_pending, setup, teardown),
	};

	return cmocka_run_group_tests_name("test_pending", tests, NULL, NULL);
}
