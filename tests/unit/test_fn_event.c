/* test_fn_event.c — unit tests for fn_event.c: the exact key set of each
 * event (CONNECT, MESSAGE text and binary, DISCONNECT) in payload formats
 * 0.1 and 1.0, and the values: headers canonical, sorted, the gateway's
 * replacing the client's, hop-by-hop left out, multi-values; the query and
 * parameters decoded; bytes that are not UTF-8; the context and
 * authorizer; CLF time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "fn_event.h"

#define KV(n, v)                                                                                   \
	{                                                                                          \
		n, sizeof(n) - 1, v, sizeof(v) - 1                                                 \
	}

static const struct fn_kv headers[] = {
    KV("host", "gw.example:8080"),
    KV("Upgrade", "websocket"),
    KV("Connection", "Upgrade"),
    KV("Sec-WebSocket-Key", "k"),
    KV("sec-websocket-version", "13"),
    KV("sec-websocket-protocol", "chat"),
    KV("user-agent", "ua/1"),
    KV("x-multi", "one"),
    KV("X-MULTI", "two"),
    KV("Cookie", "sess=s1; AUTH=a b"),
    KV("X-Yc-Apigateway-Websocket-Connection-Id", "spoofed"),
    KV("X-Forwarded-For", "6.6.6.6"),
    KV("x-bad", "a\xff\xfe"),
    KV("x-token", "hdr"),
};

static const struct fn_kv pparams[] = {KV("room", "r%201")};
static const struct spec_param params[] = {{"room", PARAM_PATH},
                                           {"token", PARAM_QUERY},
                                           {"X-Token", PARAM_HEADER},
                                           {"AUTH", PARAM_COOKIE},
                                           {"absent", PARAM_QUERY}};

static struct fn_event base(enum fn_event_kind kind, bool v1)
{
	static const char q[] = "a=1&a=2&b=x%20y+z&c&=v&d=%zz&token=t1&token=t2";

	return (struct fn_event){
	    .kind = kind,
	    .v1 = v1,
	    .resource = "/v1/{room}",
	    .path = "/v1/r%201",
	    .path_len = 9,
	    .query = q,
	    .query_len = sizeof q - 1,
	    .headers = headers,
	    .num_headers = sizeof headers / sizeof *headers,
	    .path_params = pparams,
	    .num_path_params = 1,
	    .params = params,
	    .num_params = sizeof params / sizeof *params,
	    .operation_id = "op1",
	    .function_id = "fn1",
	    .gateway_id = "gw1",
	    .conn_id = "c1",
	    .connected_ms = 1672875978785,
	    .now_ms = 1672876023123,
	    .request_id = "rid-1",
	    .source_ip = "10.0.0.1",
	};
}

static json_t *build(const struct fn_event *ev)
{
	size_t len = 0;
	char *text = fn_event_json(ev, &len);
	json_t *j;

	assert_non_null(text);
	assert_int_equal(len, strlen(text));
	j = json_loads(text, 0, NULL);
	assert_non_null(j);
	free(text);
	return j;
}

/* The object's keys, in order, joined with ','. */
static const char *keys(json_t *o)
{
	static char buf[1024];
	const char *k;
	json_t *v;
	size_t n = 0;

	buf[0] = '\0';
	json_object_foreach(o, k, v) n +=
	    (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", n ? "," : "", k);
	return buf;
}

static const char *str(json_t *o, const char *path)
{
	char key[128];
	const char *dot;

	while ((dot = strchr(path, '.'))) {
		snprintf(key, sizeof key, "%.*s", (int)(dot - path), path);
		o = json_object_get(o, key);
		path = dot + 1;
	}
	o = json_object_get(o, path);
	if (!json_is_string(o))
		fail_msg("%s is not a string", path);
	return json_string_value(o);
}

static const char *dump(json_t *o)
{
	static char buf[2048];
	char *s = json_dumps(o, JSON_COMPACT | JSON_ENCODE_ANY);

	snprintf(buf, sizeof buf, "%s", s ? s : "(null)");
	free(s);
	return buf;
}

#define GW "X-Yc-Apigateway-Websocket-"
#define RC_KEYS                                                                                    \
	"identity,httpMethod,requestId,requestTime,requestTimeEpoch,connectionId,connectedAt,"     \
	"eventType"

static void test_connect_v01(void **state)
{
	struct fn_event ev = base(FN_CONNECT, false);
	json_t *j = build(&ev), *h, *rc;

	(void)state;
	assert_string_equal(keys(j), "httpMethod,url,path,headers,multiValueHeaders,"
	                             "queryStringParameters,multiValueQueryStringParameters,"
	                             "requestContext,pathParams,params,multiValueParams");
	assert_string_equal(str(j, "httpMethod"), "GET");
	assert_string_equal(str(j, "url"), "/v1/r%201");
	assert_string_equal(str(j, "path"), "/v1/{room}");
	h = json_object_get(j, "headers");
	/* canonical, sorted; hop-by-hop and key exchange gone; the gateway's
	 * own replace the client's; the last of a repeated header */
	assert_string_equal(keys(h), "Cookie,Host,Sec-Websocket-Protocol,User-Agent,X-Api-Gateway-"
	                             "Function-Id,X-Bad,X-Forwarded-For,X-Forwarded-Proto,X-Multi,"
	                             "X-Request-Id,X-Serverless-Gateway-Id,X-Token," GW
	                             "Connected-At," GW "Connection-Id," GW "Event-Type");
	assert_string_equal(str(h, "X-Multi"), "two");
	assert_string_equal(
	    dump(json_object_get(json_object_get(j, "multiValueHeaders"), "X-Multi")),
	    "[\"one\",\"two\"]");
	assert_string_equal(keys(json_object_get(j, "multiValueHeaders")), keys(h));
	assert_string_equal(str(h, "X-Bad"), "a\xef\xbf\xbd\xef\xbf\xbd");
	assert_string_equal(str(h, GW "Connection-Id"), "c1");
	assert_string_equal(str(h, GW "Connected-At"), "1672875978785");
	assert_string_equal(str(h, GW "Event-Type"), "CONNECT");
	assert_string_equal(str(h, "X-Forwarded-For"), "10.0.0.1");
	assert_string_equal(str(h, "X-Request-Id"), "rid-1");
	assert_string_equal(str(h, "X-Serverless-Gateway-Id"), "gw1");
	assert_string_equal(str(h, "X-Api-Gateway-Function-Id"), "fn1");
	assert_string_equal(
	    dump(json_object_get(j, "queryStringParameters")),
	    "{\"a\":\"2\",\"b\":\"x y z\",\"c\":\"\",\"\":\"v\",\"d\":\"%zz\",\"token\":\"t2\"}");
	assert_string_equal(dump(json_object_get(j, "multiValueQueryStringParameters")),
	                    "{\"a\":[\"1\",\"2\"],\"b\":[\"x y z\"],\"c\":[\"\"],\"\":[\"v\"],"
	                    "\"d\":[\"%zz\"],\"token\":[\"t1\",\"t2\"]}");
	rc = json_object_get(j, "requestContext");
	assert_string_equal(keys(rc), RC_KEYS);
	assert_string_equal(dump(json_object_get(rc, "identity")),
	                    "{\"sourceIp\":\"10.0.0.1\",\"userAgent\":\"ua/1\"}");
	assert_string_equal(str(rc, "httpMethod"), "GET");
	assert_string_equal(str(rc, "requestTime"), "4/Jan/2023:23:47:03 +0000");
	assert_int_equal(json_integer_value(json_object_get(rc, "requestTimeEpoch")), 1672876023);
	assert_int_equal(json_integer_value(json_object_get(rc, "connectedAt")), 1672875978785);
	assert_string_equal(str(rc, "eventType"), "CONNECT");
	assert_string_equal(dump(json_object_get(j, "pathParams")), "{\"room\":\"r%201\"}");
	assert_string_equal(
	    dump(json_object_get(j, "params")),
	    "{\"room\":\"r%201\",\"token\":\"t2\",\"X-Token\":\"hdr\",\"AUTH\":\"a b\"}");
	assert_string_equal(dump(json_object_get(j, "multiValueParams")),
	                    "{\"room\":[\"r%201\"],\"token\":[\"t1\",\"t2\"],\"X-Token\":[\"hdr\"],"
	                    "\"AUTH\":[\"a b\"]}");
	json_decref(j);
}

static void test_message_v1_text_and_binary(void **state)
{
	struct fn_event ev = base(FN_MESSAGE, true);
	json_t *j, *h, *rc;

	(void)state;
	ev.message_id = "m1";
	ev.body = (const uint8_t *)"{\"a\":1}";
	ev.body_len = 7;
	ev.context = "{\"room\":\"r\",\"n\":[1,null]}";
	ev.authorizer = "{\"userId\":\"u1\"}";
	j = build(&ev);
	assert_string_equal(keys(j), "resource,path,pathParameters,headers,multiValueHeaders,body,"
	                             "isBase64Encoded,requestContext,parameters,"
	                             "multiValueParameters,operationId");
	assert_string_equal(str(j, "resource"), "/v1/{room}");
	assert_string_equal(str(j, "path"), "/v1/r%201");
	assert_string_equal(str(j, "body"), "{\"a\":1}");
	assert_true(json_is_false(json_object_get(j, "isBase64Encoded")));
	assert_string_equal(str(j, "operationId"), "op1");
	h = json_object_get(j, "headers");
	assert_string_equal(str(h, GW "Message-Id"), "m1");
	assert_string_equal(str(h, GW "Event-Type"), "MESSAGE");
	assert_string_equal(str(h, "Content-Type"), "application/json");
	assert_string_equal(str(h, "Content-Length"), "7");
	rc = json_object_get(j, "requestContext");
	assert_string_equal(keys(rc), "identity,httpMethod,requestId,requestTime,requestTimeEpoch,"
	                              "authorizer,apiGateway,connectionId,connectedAt,eventType,"
	                              "messageId");
	assert_string_equal(str(rc, "httpMethod"), "POST");
	assert_string_equal(str(rc, "messageId"), "m1");
	assert_string_equal(dump(json_object_get(rc, "apiGateway")),
	                    "{\"operationContext\":{\"room\":\"r\",\"n\":[1,null]}}");
	assert_string_equal(dump(json_object_get(rc, "authorizer")), "{\"userId\":\"u1\"}");
	json_decref(j);

	ev.binary = true;
	ev.body = (const uint8_t *)"\x00\xff\x10";
	ev.body_len = 3;
	ev.context = ev.authorizer = NULL;
	j = build(&ev);
	assert_string_equal(str(j, "body"), "AP8Q");
	assert_true(json_is_true(json_object_get(j, "isBase64Encoded")));
	assert_string_equal(str(json_object_get(j, "headers"), "Content-Type"),
	                    "application/octet-stream");
	assert_string_equal(keys(json_object_get(j, "requestContext")), RC_KEYS ",messageId");
	json_decref(j);

	/* an empty binary message, format 0.1: body last-but-params */
	ev.v1 = false;
	ev.body_len = 0;
	j = build(&ev);
	assert_string_equal(keys(j), "url,path,headers,multiValueHeaders,requestContext,body,"
	                             "isBase64Encoded,pathParams,params,multiValueParams");
	assert_string_equal(str(j, "body"), "");
	json_decref(j);
}

static void test_disconnect(void **state)
{
	struct fn_event ev = base(FN_DISCONNECT, true);
	json_t *j, *rc, *h;

	(void)state;
	ev.close_code = 1001;
	j = build(&ev);
	assert_string_equal(keys(j), "resource,path,pathParameters,headers,multiValueHeaders,"
	                             "requestContext,parameters,multiValueParameters,operationId");
	rc = json_object_get(j, "requestContext");
	assert_string_equal(keys(rc), RC_KEYS ",disconnectStatusCode"); /* empty reason left out */
	assert_int_equal(json_integer_value(json_object_get(rc, "disconnectStatusCode")), 1001);
	assert_string_equal(str(rc, "httpMethod"), "DELETE");
	h = json_object_get(j, "headers");
	assert_string_equal(str(h, GW "Disconnect-Status-Code"), "1001");
	assert_string_equal(str(h, GW "Disconnect-Reason"), "");
	json_decref(j);

	ev.reason = "bye";
	ev.reason_len = 3;
	j = build(&ev);
	rc = json_object_get(j, "requestContext");
	assert_string_equal(keys(rc), RC_KEYS ",disconnectStatusCode,disconnectReason");
	assert_string_equal(str(rc, "disconnectReason"), "bye");
	json_decref(j);
}

static void test_bad_inputs(void **state)
{
	struct fn_event ev = base(FN_CONNECT, false);
	size_t len;
	char *s;

	(void)state;
	ev.context = "{not json";
	assert_null(fn_event_json(&ev, &len));
	ev.context = NULL;
	ev.authorizer = "[";
	assert_null(fn_event_json(&ev, &len));
	/* no headers, no query, no parameters */
	ev = (struct fn_event){.kind = FN_CONNECT,
	                       .resource = "/",
	                       .path = "/",
	                       .path_len = 1,
	                       .function_id = "f",
	                       .gateway_id = "g",
	                       .conn_id = "c",
	                       .request_id = "r",
	                       .source_ip = "::1"};
	s = fn_event_json(&ev, &len);
	assert_non_null(s);
	assert_non_null(strstr(s, "\"queryStringParameters\":{}"));
	assert_non_null(strstr(s, "\"userAgent\":\"\""));
	free(s);
}

/* The function authorizer's request: the documented key set, the
 * client's headers with the forwarding ones and none of the WebSocket
 * event's, the query, path parameters, an HTTP-only requestContext and
 * the cookies as a map. */
static void test_authorizer_request(void **state)
{
	struct fn_event ev = base(FN_MESSAGE, false); /* kind and v1 are ignored */
	size_t len = 0;
	char *text = fn_event_authorizer_json(&ev, &len);
	json_t *j, *h;

	(void)state;
	assert_non_null(text);
	assert_int_equal(len, strlen(text));
	assert_non_null(j = json_loads(text, 0, NULL));
	free(text);
	assert_string_equal(keys(j), "resource,path,httpMethod,headers,queryStringParameters,"
	                             "pathParameters,requestContext,cookies");
	assert_string_equal(str(j, "resource"), "/v1/{room}");
	assert_string_equal(str(j, "path"), "/v1/r%201");
	assert_string_equal(str(j, "httpMethod"), "GET");
	h = json_object_get(j, "headers");
	assert_string_equal(keys(h), "Cookie,Host,Sec-Websocket-Protocol,User-Agent,X-Api-Gateway-"
	                             "Function-Id,X-Bad,X-Forwarded-For,X-Forwarded-Proto,X-Multi,"
	                             "X-Request-Id,X-Serverless-Gateway-Id,X-Token");
	assert_string_equal(str(h, "X-Forwarded-For"), "10.0.0.1");
	assert_string_equal(str(h, "X-Multi"), "two");
	assert_string_equal(str(h, "X-Request-Id"), "rid-1");
	assert_string_equal(str(h, "X-Api-Gateway-Function-Id"), "fn1");
	assert_string_equal(str(h, "Cookie"), "sess=s1; AUTH=a b");
	assert_null(json_object_get(j, "multiValueHeaders"));
	assert_string_equal(dump(json_object_get(j, "queryStringParameters")),
	                    "{\"a\":\"2\",\"b\":\"x y z\",\"c\":\"\",\"\":\"v\",\"d\":\"%zz\","
	                    "\"token\":\"t2\"}");
	assert_string_equal(dump(json_object_get(j, "pathParameters")), "{\"room\":\"r%201\"}");
	assert_string_equal(keys(json_object_get(j, "requestContext")),
	                    "identity,httpMethod,requestId,requestTime,requestTimeEpoch");
	assert_string_equal(str(j, "requestContext.httpMethod"), "GET");
	assert_string_equal(str(j, "requestContext.identity.sourceIp"), "10.0.0.1");
	assert_string_equal(str(j, "requestContext.identity.userAgent"), "ua/1");
	assert_string_equal(dump(json_object_get(j, "cookies")),
	                    "{\"sess\":\"s1\",\"AUTH\":\"a b\"}");
	json_decref(j);
}

static void test_clf_and_utf8_fix(void **state)
{
	char out[40];
	size_t n;
	char *fix;

	(void)state;
	fn_event_clf_time(1672876023, out, sizeof out);
	assert_string_equal(out, "4/Jan/2023:23:47:03 +0000");
	fn_event_clf_time(0, out, sizeof out);
	assert_string_equal(out, "1/Jan/1970:00:00:00 +0000");
	fix = fn_event_utf8_fix("a\xc3\xa9\xed\xa0\x80z\xf0\x9f\x98", 10, &n);
	assert_string_equal(fix,
	                    "a\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdz\xef\xbf\xbd\xef\xbf"
	                    "\xbd\xef\xbf\xbd");
	assert_int_equal(n, strlen(fix));
	free(fix);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_connect_v01),
	    cmocka_unit_test(test_message_v1_text_and_binary),
	    cmocka_unit_test(test_disconnect),
	    cmocka_unit_test(test_bad_inputs),
	    cmocka_unit_test(test_clf_and_utf8_fix),
	    cmocka_unit_test(test_authorizer_request),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
