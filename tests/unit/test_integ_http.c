/* test_integ_http — backend request pieces: path-parameter substitution,
 * URL with configured and forwarded query, headers with '*' forwarding,
 * omitEmpty*, User-Agent, event headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http1.h"
#include "integ_http.h"
#include "spec.h"

static struct route_match match_room(void)
{
	struct route_match m = {.num_params = 2};

	m.params[0] = (struct route_param){"room", "lobby", 5};
	m.params[1] = (struct route_param){"path", "a/b%20c", 7};
	return m;
}

static void test_substitute(void **state)
{
	struct route_match m = match_room();
	char out[64];

	(void)state;
	assert_int_equal(integ_http_substitute("/m/{room}/x", &m, out, sizeof out), 10);
	assert_string_equal(out, "/m/lobby/x");
	integ_http_substitute("{path}-{room}{unknown}", &m, out, sizeof out);
	assert_string_equal(out, "a/b%20c-lobby{unknown}");
	integ_http_substitute("{room", &m, out, sizeof out); /* unterminated: kept */
	assert_string_equal(out, "{room");
	integ_http_substitute("/{room}", NULL, out, sizeof out); /* no match at all */
	assert_string_equal(out, "/{room}");
	assert_int_equal(integ_http_substitute("{room}{room}", &m, out, 8), 7); /* truncated */
	assert_string_equal(out, "lobbylo");
}

static int parse(const char *head, struct http1_request *req)
{
	return http1_parse_request(head, strlen(head), req);
}

/* {name} from every source, in precedence order, with each mode's
 * escaping; what nothing fills is kept as written. */
static void test_subst_sources(void **state)
{
	struct route_match m = match_room();
	struct http1_request req;
	struct spec_param params[] = {{"q", PARAM_QUERY},     {"X-H", PARAM_HEADER},
				      {"c", PARAM_COOKIE},    {"absent", PARAM_QUERY},
				      {"room", PARAM_QUERY},  {"nopath", PARAM_PATH}};
	struct integration in = {.type = INTEG_DUMMY, .params = params, .num_params = 6};
	struct integ_subst s = {NULL, &in, &m, &req, "cid1", "MESSAGE", 1700000000123, NULL, NULL,
				NULL};
	char out[512];
	size_t n;

	(void)state;
	assert_true(parse("GET /chat/lobby?a=1&q=x%20y+z&room=q-room HTTP/1.1\r\nHost: h\r\n"
			  "x-h: hv\r\nCookie: a=1; c=cv%21\r\nOrigin: http://o\r\n"
			  "X-Yc-Apigateway-Websocket-Connection-Id: spoofed\r\n\r\n",
			  &req) > 0);
	n = integ_subst("{room}|{q}|{X-H}|{c}|{absent}|{Origin}|{nopath}|{nope}|"
			"{X-Yc-Apigateway-Websocket-Connection-Id}|"
			"{x-yc-apigateway-websocket-event-type}|"
			"{X-Yc-Apigateway-Websocket-Connected-At}|"
			"{X-Yc-Apigateway-Websocket-Message-Id}|{\"json\": 1}|{|}",
			&s, SUBST_TEXT, out, sizeof out);
	/* a path parameter beats a declared query parameter of the same name;
	 * the gateway's headers never come from the client */
	assert_string_equal(out, "lobby|x y z|hv|cv!||http://o|{nopath}|{nope}|cid1|MESSAGE|"
				 "1700000000123|{X-Yc-Apigateway-Websocket-Message-Id}|"
				 "{\"json\": 1}|{|}");
	assert_int_equal(n, strlen(out));
	s.message_id = "mid";
	integ_subst("{X-Yc-Apigateway-Websocket-Message-Id}", &s, SUBST_TEXT, out, sizeof out);
	assert_string_equal(out, "mid");
	/* URL: values percent-encoded, path parameters as captured */
	integ_subst("/x/{path}/{q}?o={Origin}", &s, SUBST_URL, out, sizeof out);
	assert_string_equal(out, "/x/a/b%20c/x%20y%20z?o=http%3A%2F%2Fo");
	/* header: a decoded CR LF cannot end the line */
	assert_true(parse("GET /?q=a%0d%0aX-Evil:%201 HTTP/1.1\r\nHost: h\r\n\r\n", &req) > 0);
	integ_subst("{q}", &s, SUBST_HEADER, out, sizeof out);
	assert_string_equal(out, "aX-Evil: 1");
	integ_subst("{q}", &s, SUBST_TEXT, out, sizeof out);
	assert_string_equal(out, "a\r\nX-Evil: 1");
	/* the length needed, like snprintf; nothing written past outlen */
	assert_int_equal(integ_subst("{q}", &s, SUBST_TEXT, NULL, 0), 12);
	memset(out, 'Z', sizeof out);
	assert_int_equal(integ_subst("{q}", &s, SUBST_TEXT, out, 4), 12);
	assert_string_equal(out, "a\r\n");
	assert_int_equal(out[4], 'Z');
	/* no request: declared parameters are empty, undeclared kept */
	s.req = NULL;
	integ_subst("[{q}][{Origin}]", &s, SUBST_TEXT, out, sizeof out);
	assert_string_equal(out, "[][{Origin}]");
}

static void test_url(void **state)
{
	struct route_match m = match_room();
	struct http1_request req;
	struct spec_kv q[] = {{"*", "*"}, {"r", "{room}"}, {"e", ""}, {"s", "a b&c"}};
	struct integration in = {.type = INTEG_HTTP, .url = "http://b/m/{room}", .query = q,
				 .num_query = 4};
	char *url;

	(void)state;
	assert_true(parse("GET /chat/lobby?x=1&y=2 HTTP/1.1\r\nHost: h\r\n\r\n", &req) > 0);
	url = integ_http_url(&in, &(struct integ_subst){.m = &m, .req = &req});
	assert_string_equal(url, "http://b/m/lobby?x=1&y=2&r=lobby&e=&s=a%20b%26c");
	free(url);
	in.omit_empty_query = true;
	in.url = "http://b/m?k=v";
	url = integ_http_url(&in, &(struct integ_subst){.m = &m, .req = &req});
	assert_string_equal(url, "http://b/m?k=v&x=1&y=2&r=lobby&s=a%20b%26c");
	free(url);
	in.num_query = 0;
	url = integ_http_url(&in, &(struct integ_subst){.m = &m});
	assert_string_equal(url, "http://b/m?k=v");
	free(url);
}

/* Lines in a header block ("Name: value\r\n" each). */
static size_t count(const struct integ_head *l)
{
	size_t n = 0;

	for (size_t i = 0; i + 1 < l->len; i++)
		n += l->p[i] == '\r' && l->p[i + 1] == '\n';
	return n;
}

static bool has(const struct integ_head *l, const char *line)
{
	size_t n = strlen(line);

	for (size_t i = 0; i + n + 2 <= l->len;) {
		const char *e = memchr(l->p + i, '\n', l->len - i);

		if ((size_t)(e - (l->p + i)) == n + 1 && !memcmp(l->p + i, line, n))
			return true;
		i = (size_t)(e + 1 - l->p);
	}
	return false;
}

/* The gateway's event headers replace spec headers of the same name
 * (case-insensitive) instead of doubling them; a client's own
 * X-Yc-Apigateway-Websocket-* headers are never forwarded. */
static void test_headers_event_names_replaced(void **state)
{
	struct http1_request req;
	struct spec_kv h[] = {{"x-yc-apigateway-websocket-connection-id",
			       "{X-Yc-Apigateway-Websocket-Connection-Id}"},
			      {"X-Yc-Apigateway-Websocket-Event-Type", "MESSAGE"},
			      {"Content-Type", "text/plain"},
			      {"X-Yc-Apigateway-Websocket-Message-Id", "m"},
			      {"X-Conn", "{X-Yc-Apigateway-Websocket-Connection-Id}"},
			      {"*", "*"}};
	struct integration in = {.type = INTEG_HTTP, .url = "http://b/", .headers = h,
				 .num_headers = 6};
	struct integ_subst s = {NULL, &in, NULL, &req, "cid1", "CONNECT", 1, NULL, NULL, NULL};
	bool ok = true;
	struct integ_head l = {0};

	(void)state;
	assert_true(parse("GET / HTTP/1.1\r\nHost: h\r\nX-Yc-Apigateway-Websocket-Connection-Id: "
			  "spoof\r\nX-Other: 1\r\n\r\n",
			  &req) > 0);
	integ_head_free(&l);
	integ_http_headers(&in, &s, NULL, &l, &ok);
	assert_true(ok);
	/* on connect, Content-Type and Message-Id are not the gateway's */
	assert_true(has(&l, "Content-Type: text/plain"));
	assert_true(has(&l, "X-Yc-Apigateway-Websocket-Message-Id: m"));
	assert_true(has(&l, "X-Conn: cid1"));
	assert_true(has(&l, "X-Other: 1"));
	assert_int_equal(count(&l), 4);
	integ_head_free(&l);
	s.event = "MESSAGE";
	integ_head_free(&l);
	integ_http_headers(&in, &s, NULL, &l, &ok);
	assert_true(has(&l, "X-Conn: cid1") && has(&l, "X-Other: 1"));
	assert_int_equal(count(&l), 2);
	integ_head_free(&l);
	assert_true(integ_http_is_event_header("DISCONNECT", "x-yc-apigateway-websocket-"
							     "disconnect-reason", 43));
	assert_false(integ_http_is_event_header("MESSAGE", "X-Yc-Apigateway-Websocket-Disconnect-"
							   "Reason", 43));
}

/* The authorizer context goes once, with the gateway's value: a
 * configured header of its name is replaced, the client's never forwarded
 * (without an authorizer, a configured one stays: the spec's choice). */
static void test_headers_authorizer_context(void **state)
{
	struct http1_request req;
	struct spec_kv h[] = {{"x-yc-apigateway-authorizer-context", "spec"}, {"*", "*"}};
	struct integration in = {.type = INTEG_HTTP, .url = "http://b/", .headers = h,
				 .num_headers = 2};
	struct integ_subst s = {NULL, &in, NULL, &req, "c", "MESSAGE", 1, NULL, "{\"jwt\":{}}", NULL};
	bool ok = true;
	struct integ_head l = {0};

	(void)state;
	assert_true(parse("GET / HTTP/1.1\r\nHost: h\r\nX-Yc-Apigateway-Authorizer-Context: "
			  "forged\r\nX-Other: 1\r\n\r\n",
			  &req) > 0);
	integ_http_headers(&in, &s, NULL, &l, &ok);
	assert_true(ok);
	assert_true(has(&l, INTEG_AUTH_CTX_HDR ": {\"jwt\":{}}"));
	assert_true(has(&l, "X-Other: 1"));
	assert_int_equal(count(&l), 2);
	integ_head_free(&l);
	s.authorizer_ctx = NULL;
	integ_http_headers(&in, &s, NULL, &l, &ok);
	assert_true(has(&l, "x-yc-apigateway-authorizer-context: spec") && has(&l, "X-Other: 1"));
	assert_int_equal(count(&l), 2);
	integ_head_free(&l);
}

/* A filled-in value longer than the old 1 KiB line buffer goes whole. */
static void test_headers_long_value_whole(void **state)
{
	static char head[12000], big[9000];
	struct http1_request req;
	struct spec_kv h[] = {{"X-Copy", "<{X-Long}>"}};
	struct integration in = {.type = INTEG_HTTP, .url = "http://b/", .headers = h,
				 .num_headers = 1};
	struct integ_subst s = {NULL, &in, NULL, &req, "c", "CONNECT", 1, NULL, NULL, NULL};
	bool ok = true;
	struct integ_head l = {0};

	(void)state;
	memset(big, 'v', sizeof big - 1);
	snprintf(head, sizeof head, "GET / HTTP/1.1\r\nHost: h\r\nX-Long: %s\r\n\r\n", big);
	assert_true(parse(head, &req) > 0);
	integ_head_free(&l);
	integ_http_headers(&in, &s, NULL, &l, &ok);
	assert_true(ok);
	assert_int_equal(count(&l), 1);
	assert_int_equal(l.len, strlen("X-Copy: <>\r\n") + sizeof big - 1);
	integ_head_free(&l);
}

static void test_headers_forward(void **state)
{
	struct route_match m = match_room();
	struct http1_request req;
	struct spec_kv h[] = {{"X-Room", "{room}"}, {"*", "*"}, {"X-Empty", ""}};
	struct integration in = {.type = INTEG_HTTP, .url = "http://b/", .headers = h,
				 .num_headers = 3};
	bool ok = true; /* the contract: cleared on failure, never set */
	struct integ_head l = {0};

	(void)state;
	assert_true(parse("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
			  "Sec-WebSocket-Key: k\r\nX-Client: 1\r\nUser-Agent: ua\r\n\r\n",
			  &req) > 0);
	integ_head_free(&l);
	integ_http_headers(&in, &(struct integ_subst){.m = &m, .req = &req}, "ua", &l, &ok);
	assert_true(ok);
	assert_true(has(&l, "X-Room: lobby"));
	assert_true(has(&l, "X-Empty:"));
	assert_true(has(&l, "X-Client: 1"));
	assert_true(has(&l, "User-Agent: ua"));
	/* hop-by-hop and handshake headers are never forwarded */
	assert_int_equal(count(&l), 4);
	integ_head_free(&l);
	in.omit_empty_headers = true;
	in.num_headers = 1; /* no forwarding */
	integ_head_free(&l);
	integ_http_headers(&in, &(struct integ_subst){.m = &m, .req = &req}, NULL, &l, &ok);
	assert_true(ok);
	assert_int_equal(count(&l), 1);
	assert_true(has(&l, "X-Room: lobby"));
	integ_head_free(&l);
}

static void test_configured_user_agent_wins(void **state)
{
	struct spec_kv h[] = {{"user-agent", "backend-ua"}};
	struct integration in = {.type = INTEG_HTTP, .url = "http://b/", .headers = h,
				 .num_headers = 1};
	bool ok = true;
	struct integ_head l = {0};

	(void)state;
	integ_http_headers(&in, &(struct integ_subst){0}, "client-ua", &l, &ok);
	assert_true(ok);
	assert_int_equal(count(&l), 1);
	assert_true(has(&l, "user-agent: backend-ua"));
	integ_head_free(&l);
}

/* X-Forwarded-Proto: the gateway's scheme, never the client's; a spec's
 * own value (a TLS proxy in front of wsgw) wins over the gateway's. */
static void test_forwarded_proto(void **state)
{
	struct http1_request req;
	struct spec_kv h[] = {{"*", "*"}, {"x-forwarded-proto", "https"}};
	struct integration in = {.type = INTEG_HTTP, .url = "http://b/", .headers = h,
				 .num_headers = 1};
	bool ok = true;
	struct integ_head l = {0};

	(void)state;
	assert_true(parse("GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-Proto: https\r\n"
			  "X-Client: 1\r\n\r\n",
			  &req) > 0);
	integ_http_headers(&in, &(struct integ_subst){.req = &req, .scheme = "http"}, NULL, &l,
			   &ok);
	assert_true(ok);
	assert_true(has(&l, "X-Forwarded-Proto: http"));
	assert_true(has(&l, "X-Client: 1"));
	assert_int_equal(count(&l), 2); /* the client's https is not among them */
	integ_head_free(&l);
	integ_http_headers(&in, &(struct integ_subst){.req = &req, .scheme = "https"}, NULL, &l,
			   &ok);
	assert_true(has(&l, "X-Forwarded-Proto: https"));
	assert_int_equal(count(&l), 2);
	integ_head_free(&l);
	in.num_headers = 2; /* the spec says https: kept, no second line */
	integ_http_headers(&in, &(struct integ_subst){.req = &req, .scheme = "http"}, NULL, &l,
			   &ok);
	assert_true(has(&l, "x-forwarded-proto: https"));
	assert_int_equal(count(&l), 2);
	integ_head_free(&l);
	/* no scheme given (NULL): nothing added, the client's forwarded as before */
	in.num_headers = 1;
	integ_http_headers(&in, &(struct integ_subst){.req = &req}, NULL, &l, &ok);
	assert_true(has(&l, "X-Forwarded-Proto: https"));
	assert_int_equal(count(&l), 2);
	integ_head_free(&l);
}

static void test_event_lines(void **state)
{
	struct integ_lines l;

	(void)state;
	integ_lines_init(&l);
	integ_lines_event(&l, "abc", "MESSAGE", 1700000000123);
	integ_lines_add(&l, "X-Empty", "", 0);
	assert_true(l.ok);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.line[0], "X-Yc-Apigateway-Websocket-Connection-Id: abc");
	assert_string_equal(l.line[1], "X-Yc-Apigateway-Websocket-Event-Type: MESSAGE");
	assert_string_equal(l.line[2], "X-Yc-Apigateway-Websocket-Connected-At: 1700000000123");
	assert_string_equal(l.line[3], "X-Empty;");
}

static void test_lines_overflow(void **state)
{
	struct integ_lines l;
	char big[2000];

	(void)state;
	memset(big, 'v', sizeof big);
	integ_lines_init(&l);
	integ_lines_add(&l, "X-Big", big, sizeof big); /* does not fit the buffer */
	assert_false(l.ok);
	assert_int_equal(l.n, 0);
	integ_lines_init(&l);
	for (int i = 0; i < INTEG_LINES_MAX; i++)
		integ_lines_add(&l, "X", "1", 1);
	assert_true(l.ok);
	integ_lines_add(&l, "X", "1", 1); /* one line too many */
	assert_false(l.ok);
	assert_int_equal(l.n, INTEG_LINES_MAX);
}

static void test_refusal_headers_filtered(void **state)
{
	const char raw[] = "WWW-Authenticate: Bearer realm=\"x\"\r\n"
			   "Content-Length: 5\r\n"
			   "content-type: text/plain\r\n"
			   "Connection: keep-alive\r\n"
			   "Keep-Alive: timeout=5\r\n"
			   "Transfer-Encoding: chunked\r\n"
			   "Upgrade: websocket\r\n"
			   "TE: trailers\r\n"
			   "Trailer: X\r\n"
			   "Proxy-Authenticate: Basic\r\n"
			   "Sec-WebSocket-Accept: abc\r\n"
			   "Location: /login\r\n"
			   "X-Empty:\r\n"
			   "Set-Cookie: a=1\n" /* LF only */
			   "X-Last: no newline";
	char out[512];
	size_t n = integ_http_refusal_headers(raw, sizeof raw - 1, out, sizeof out);

	(void)state;
	assert_string_equal(out, "WWW-Authenticate: Bearer realm=\"x\"\r\n"
				 "Location: /login\r\n"
				 "X-Empty:\r\n"
				 "Set-Cookie: a=1\r\n"
				 "X-Last: no newline\r\n");
	assert_int_equal(n, strlen(out));
}

static void test_refusal_headers_malformed_left_out(void **state)
{
	const char raw[] = " folded continuation\r\n"
			   ": no name\r\n"
			   "Bad Name: space in name\r\n"
			   "X-Ctl: a\x01b\r\n"
			   "X-Del: a\x7f\r\n"
			   "NoColon\r\n"
			   "\r\n"
			   "X-Tab: a\tb\r\n"
			   "X-Ok: 1\r\n";
	char out[512];

	(void)state;
	integ_http_refusal_headers(raw, sizeof raw - 1, out, sizeof out);
	assert_string_equal(out, "X-Tab: a\tb\r\nX-Ok: 1\r\n");
	assert_int_equal(integ_http_refusal_headers(NULL, 0, out, sizeof out), 0);
	assert_string_equal(out, "");
}

static void test_refusal_headers_whole_lines_only(void **state)
{
	const char raw[] = "X-A: 1\r\nX-Long: 0123456789\r\nX-B: 2\r\n";
	char out[20]; /* room for "X-A: 1\r\n" and "X-B: 2\r\n" but not X-Long */

	(void)state;
	integ_http_refusal_headers(raw, sizeof raw - 1, out, sizeof out);
	assert_string_equal(out, "X-A: 1\r\nX-B: 2\r\n");
	assert_int_equal(integ_http_refusal_headers(raw, sizeof raw - 1, out, 1), 0);
	assert_string_equal(out, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_substitute),
		cmocka_unit_test(test_url),
		cmocka_unit_test(test_subst_sources),
		cmocka_unit_test(test_headers_event_names_replaced),
		cmocka_unit_test(test_headers_authorizer_context),
		cmocka_unit_test(test_headers_long_value_whole),
		cmocka_unit_test(test_headers_forward),
		cmocka_unit_test(test_configured_user_agent_wins),
		cmocka_unit_test(test_forwarded_proto),
		cmocka_unit_test(test_event_lines),
		cmocka_unit_test(test_lines_overflow),
		cmocka_unit_test(test_refusal_headers_filtered),
		cmocka_unit_test(test_refusal_headers_malformed_left_out),
		cmocka_unit_test(test_refusal_headers_whole_lines_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
