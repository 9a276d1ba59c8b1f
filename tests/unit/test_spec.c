/* test_spec — the OpenAPI 3 spec reader (spec.c, spec_yaml.c) and path
 * matching (spec_match.c): tests/spec/good.yaml read field by field, every
 * error class with its exact text and line, hostile YAML (aliases, depth,
 * size), the precedence table, and the default spec. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "err.h"
#include "spec.h"

/* tests/spec/NAME beside this file, wherever the runner starts from the
 * repository root (make test) */
static const char *spec_file(const char *name)
{
	static char buf[256];
	const char *f = __FILE__, *slash = strrchr(f, '/');
	int dir = slash ? (int)(slash - f) : 0;

	snprintf(buf, sizeof(buf), "%.*s%s../spec/%s", dir, f, dir ? "/" : "", name);
	return buf;
}

static const struct spec_kv *kv(const struct spec_kv *a, size_t n, size_t i)
{
	assert_true(i < n);
	return &a[i];
}

#define assert_kv(arr, n, i, k, v)                                                                 \
	do {                                                                                       \
		assert_string_equal(kv(arr, n, i)->name, k);                                       \
		assert_string_equal(kv(arr, n, i)->value, v);                                      \
	} while (0)

static void assert_none(const struct integration *in)
{
	assert_int_equal(in->type, INTEG_NONE);
	assert_null(in->url);
	assert_int_equal(in->num_headers + in->num_query + in->num_content, 0);
}

static void test_good_spec(void **state)
{
	struct spec s;
	char err[256] = "";
	const struct route *r;
	const struct integration *in;

	(void)state;
	assert_int_equal(spec_load_file(spec_file("good.yaml"), NULL, 0, &s, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(s.num_routes, 4); /* /health has no WebSocket operation */

	r = &s.routes[0];
	assert_string_equal(r->path, "/chat/{room}");
	assert_int_equal(r->line, 12);
	assert_int_equal(r->num_segs, 2);
	assert_int_equal(r->segs[0].kind, SEG_LITERAL);
	assert_string_equal(r->segs[0].text, "chat");
	assert_int_equal(r->segs[1].kind, SEG_PARAM);
	assert_string_equal(r->segs[1].text, "room");

	in = &r->connect;
	assert_int_equal(in->type, INTEG_HTTP);
	assert_int_equal(in->line, 20);
	assert_string_equal(in->url, "https://backend.example/rooms/{room}/join");
	assert_string_equal(in->method, "POST"); /* written "post" */
	assert_int_equal(in->num_headers, 3);
	assert_kv(in->headers, in->num_headers, 0, "*", "*");
	assert_kv(in->headers, in->num_headers, 1, "X-Room", "{room}");
	assert_kv(in->headers, in->num_headers, 2, "Accept", "application/json, text/plain");
	assert_int_equal(in->num_query, 2);
	assert_kv(in->query, in->num_query, 0, "tags", "a,b,c");
	assert_kv(in->query, in->num_query, 1, "v", "1");
	assert_int_equal(in->connect_timeout_ms, 500);
	assert_int_equal(in->read_timeout_ms, 30000);
	assert_true(in->omit_empty_headers);
	assert_false(in->omit_empty_query);
	assert_int_equal(in->num_http_headers + in->num_content, 0);

	in = &r->message;
	assert_int_equal(in->type, INTEG_HTTP);
	assert_int_equal(in->line, 37);
	assert_string_equal(in->url, "http://127.0.0.1:8081/msg");
	assert_null(in->method);
	assert_int_equal(in->num_headers + in->num_query, 0);
	assert_int_equal(in->connect_timeout_ms + in->read_timeout_ms, 0);
	assert_false(in->omit_empty_headers);

	in = &r->disconnect;
	assert_int_equal(in->type, INTEG_DUMMY);
	assert_int_equal(in->line, 41);
	assert_int_equal(in->http_code, 204);
	assert_int_equal(in->num_http_headers, 1);
	assert_kv(in->http_headers, in->num_http_headers, 0, "X-Bye", "1, 2");
	assert_int_equal(in->num_content, 2);
	assert_kv(in->content, in->num_content, 0, "*", "");
	assert_kv(in->content, in->num_content, 1, "application/json", "{\"bye\": true}");
	assert_null(in->url);

	r = &s.routes[1];
	assert_string_equal(r->path, "/chat/lobby");
	assert_int_equal(r->line, 49);
	assert_int_equal(r->segs[1].kind, SEG_LITERAL);
	assert_none(&r->connect);
	assert_int_equal(r->message.type, INTEG_ECHO);
	assert_int_equal(r->message.line, 51);
	assert_none(&r->disconnect);

	r = &s.routes[2];
	assert_string_equal(r->path, "/files/{path+}");
	assert_int_equal(r->line, 53);
	assert_int_equal(r->num_segs, 2);
	assert_int_equal(r->segs[1].kind, SEG_GREEDY);
	assert_string_equal(r->segs[1].text, "path");
	in = &r->message;
	assert_int_equal(in->type, INTEG_DUMMY);
	assert_int_equal(in->http_code, 200); /* the default */
	assert_int_equal(in->num_content, 1);
	assert_kv(in->content, in->num_content, 0, "text/plain", "hello\n");
	assert_int_equal(in->num_http_headers, 0);

	r = &s.routes[3];
	assert_string_equal(r->path, "/");
	assert_int_equal(r->line, 67);
	assert_int_equal(r->num_segs, 0);
	assert_int_equal(r->message.type, INTEG_ECHO);
	spec_free(&s);
	assert_null(s.routes);
	spec_free(&s); /* twice is harmless */
}

/* ---- errors ------------------------------------------------------------------ */

struct err_case {
	const char *yaml;
	const char *want;
};

#define HEAD "openapi: 3.0.0\npaths:\n"
#define WS HEAD "  /ws:\n    x-yc-apigateway-websocket-message:\n"
#define INTEG WS "      x-yc-apigateway-integration:\n"
#define HTTP INTEG "        type: http\n        url: http://b.example/\n"
#define DUMMY INTEG "        type: dummy\n"
#define ECHO_AT_5 "      x-yc-apigateway-integration: {type: echo}\n"
#define MSG_PREFIX "path \"/ws\": x-yc-apigateway-websocket-message: "

static void check_err(const char *yaml, size_t len, const char *want)
{
	struct spec s = {.routes = (struct route *)&s, .num_routes = 12345};
	char err[512] = "junk";
	int rc = spec_parse("t.yaml", yaml, len, &s, err, sizeof(err));

	if (rc != ERR_INVAL || strcmp(err, want))
		print_error("input:\n%s\nwant: %s\ngot:  %d %s\n", yaml, want, rc, err);
	assert_int_equal(rc, ERR_INVAL);
	assert_string_equal(err, want);
	assert_ptr_equal(s.routes, (struct route *)&s); /* *out untouched */
	assert_int_equal(s.num_routes, 12345);
}

static void run_cases(const struct err_case *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		check_err(c[i].yaml, strlen(c[i].yaml), c[i].want);
}

static void test_document_errors(void **state)
{
	static const struct err_case cases[] = {
	    {"", "t.yaml:1: empty document (expected an OpenAPI 3 mapping)"},
	    {"# only a comment\n\n", "t.yaml:1: empty document (expected an OpenAPI 3 mapping)"},
	    {"---\n...\n", "t.yaml:1: empty document (expected an OpenAPI 3 mapping)"},
	    {"- a\n- b\n",
	     "t.yaml:1: the document must be a mapping with \"openapi\" and \"paths\""},
	    {"\nhello\n",
	     "t.yaml:2: the document must be a mapping with \"openapi\" and \"paths\""},
	    {"swagger: \"2.0\"\ninfo: {title: t}\npaths: {}\n",
	     "t.yaml:1: this is a Swagger 2.0 document; wsgw reads OpenAPI 3 (openapi: 3.0.0)"},
	    {"info: {}\npaths: {}\n", "t.yaml:1: missing \"openapi\" (e.g. openapi: 3.0.0)"},
	    {"openapi: 2.0\npaths: {}\n",
	     "t.yaml:1: openapi: \"2.0\" is not supported (wsgw reads 3.x)"},
	    {"openapi: [3]\n", "t.yaml:1: openapi: a collection is not supported (wsgw reads 3.x)"},
	    {"# spec\n\nopenapi: 3.0.0\ninfo: {}\n", "t.yaml:3: missing \"paths\""},
	    {"openapi: 3.0.0\npaths:\n  - /a\n",
	     "t.yaml:3: \"paths\" must be a mapping of path templates"},
	    {"openapi: 3.0.0\npaths: {}\n",
	     "t.yaml:2: no path has an x-yc-apigateway-websocket-* operation, so wsgw would "
	     "accept no WebSocket connection"},
	    {"openapi: 3.0.0\npaths:\n",
	     "t.yaml:2: no path has an x-yc-apigateway-websocket-* operation, so wsgw would "
	     "accept no WebSocket connection"},
	    {HEAD "  /health:\n    get: {}\n",
	     "t.yaml:2: no path has an x-yc-apigateway-websocket-* operation, so wsgw would "
	     "accept no WebSocket connection"},
	    {"openapi: 3.0.0\nopenapi: 3.1.0\n",
	     "t.yaml:2: duplicate key \"openapi\" (first at line 1)"},
	    {HEAD "  /a:\n    get: {}\n  /b: {}\n  /a: {}\n",
	     "t.yaml:6: duplicate key \"/a\" (first at line 3)"},
	};

	(void)state;
	run_cases(cases, sizeof(cases) / sizeof(*cases));
}

static void test_yaml_errors(void **state)
{
	static const struct err_case cases[] = {
	    {"openapi: 3.0.0\npaths:\n\t/x:\n",
	     "t.yaml:3: YAML: found character that cannot start any token (a tab; indent with "
	     "spaces)"},
	    {"openapi: 3.0.0\npaths: [\n",
	     "t.yaml:3: YAML: did not find expected node content (while parsing a flow node "
	     "that starts at line 3)"},
	    {"openapi: 3.0.0\n  paths: x\n",
	     "t.yaml:2: YAML: mapping values are not allowed in this context"},
	    {"openapi: 3.0.0\npaths: \"abc\n",
	     "t.yaml:3: YAML: found unexpected end of stream (while scanning a quoted scalar "
	     "that starts at line 2)"},
	    {"openapi: 3.0.0\n---\nopenapi: 3.0.0\n",
	     "t.yaml:2: a second YAML document (a spec is one document)"},
	    {"openapi: 3.0.0\nx: \xff\n",
	     "t.yaml:2: YAML: invalid leading UTF-8 octet (byte 0xff)"},
	    {"openapi: 3.0.0\n\nx: \x01\n",
	     "t.yaml:3: YAML: control characters are not allowed (byte 0x01)"},
	    {"openapi: 3.0.0\nx: &a [1, 2]\ny: *a\n",
	     "t.yaml:3: YAML aliases (*a) are not supported; write the value out"},
	};

	(void)state;
	run_cases(cases, sizeof(cases) / sizeof(*cases));
}

static void test_path_errors(void **state)
{
	static const struct err_case cases[] = {
	    {HEAD "  ws:\n    x-yc-apigateway-websocket-message:\n" ECHO_AT_5,
	     "t.yaml:3: path \"ws\": a path must start with \"/\""},
	    {HEAD "  /a{x}:\n    x-yc-apigateway-websocket-message:\n" ECHO_AT_5,
	     "t.yaml:3: path \"/a{x}\": a parameter must fill a whole segment, as in "
	     "\"/{name}\""},
	    {HEAD "  /{p+}/x/{q+}:\n    x-yc-apigateway-websocket-message:\n" ECHO_AT_5,
	     "t.yaml:3: path \"/{p+}/x/{q+}\": only one greedy parameter per path"},
	    {HEAD "  /a/{x}/{x}:\n    x-yc-apigateway-websocket-message:\n" ECHO_AT_5,
	     "t.yaml:3: path \"/a/{x}/{x}\": parameter \"x\" appears twice"},
	    {HEAD "  /a/{x}/{x+}:\n    x-yc-apigateway-websocket-message:\n" ECHO_AT_5,
	     "t.yaml:3: path \"/a/{x}/{x+}\": parameter \"x\" appears twice"},
	    {HEAD "  /{a b}:\n    x-yc-apigateway-websocket-message:\n" ECHO_AT_5,
	     "t.yaml:3: path \"/{a b}\": parameter names may only use letters, digits, \"_\", "
	     "\".\" and \"-\""},
	    {HEAD "  /{}:\n    x-yc-apigateway-websocket-message:\n" ECHO_AT_5,
	     "t.yaml:3: path \"/{}\": a parameter must fill a whole segment, as in \"/{name}\""},
	    {HEAD "  /{+}:\n    x-yc-apigateway-websocket-message:\n" ECHO_AT_5,
	     "t.yaml:3: path \"/{+}\": a parameter needs a name"},
	    {HEAD "  /a//b:\n    x-yc-apigateway-websocket-message:\n" ECHO_AT_5,
	     "t.yaml:3: path \"/a//b\": empty segment (\"//\")"},
	    {HEAD "  /a?b=1:\n    x-yc-apigateway-websocket-message:\n" ECHO_AT_5,
	     "t.yaml:3: path \"/a?b=1\": a path may not contain blanks, control characters, "
	     "\"?\" or \"#\""},
	    {HEAD "  /a/{x}:\n    x-yc-apigateway-websocket-message:\n" ECHO_AT_5
	          "  /a/{y}:\n    x-yc-apigateway-websocket-message:\n" ECHO_AT_5,
	     "t.yaml:6: path \"/a/{y}\": same as \"/a/{x}\" (line 3) but for parameter names; "
	     "one of them could never match"},
	    {HEAD "  /ws:\n    x-yc-apigateway-websocket-mesage:\n" ECHO_AT_5,
	     "t.yaml:4: path \"/ws\": unknown WebSocket operation "
	     "\"x-yc-apigateway-websocket-mesage\" (use x-yc-apigateway-websocket-connect, "
	     "-message or -disconnect)"},
	    {HEAD "  /ws:\n    - x-yc-apigateway-websocket-message\n",
	     "t.yaml:4: path \"/ws\": a path item must be a mapping"},
	    {HEAD "  [a]: {}\n", "t.yaml:3: path templates must be strings"},
	    {WS "      summary: s\n",
	     "t.yaml:4: " MSG_PREFIX "missing \"x-yc-apigateway-integration\""},
	    {WS "      [x-yc-apigateway-integration]\n",
	     "t.yaml:5: " MSG_PREFIX "must be a mapping holding x-yc-apigateway-integration"},
	};
	char big[1024] = HEAD "  ";

	(void)state;
	run_cases(cases, sizeof(cases) / sizeof(*cases));
	for (int i = 0; i <= SPEC_MAX_PARAMS; i++)
		snprintf(big + strlen(big), sizeof(big) - strlen(big), "/{p%d}", i);
	strcat(big, ":\n    x-yc-apigateway-websocket-message:\n" ECHO_AT_5);
	/* the quoted path is shortened in the message */
	check_err(big, strlen(big),
	          "t.yaml:3: path \"/{p0}/{p1}/{p2}/{p3}/{p4}/{p5}/{p6}/{p7}/{p8}/{p9}/{p10}/"
	          "{p11}/{p12}/{p13}/{p14}/{p15}/...\": more than 16 parameters");
}

static void test_integration_errors(void **state)
{
	static const struct err_case cases[] = {
	    {INTEG "        type: object_storage\n        bucket: x\n",
	     "t.yaml:6: " MSG_PREFIX "integration type \"object_storage\" is not supported by "
	     "wsgw (it runs http, dummy, cloud_functions, serverless_containers and echo "
	     "integrations)"},
	    {INTEG "        type: cloud_functions\n        tag: x\n",
	     "t.yaml:5: " MSG_PREFIX "a cloud_functions integration needs \"function_id\""},
	    {INTEG "        type: cloud_functions\n        function_id: a/b\n",
	     "t.yaml:7: " MSG_PREFIX "function_id: \"a/b\" is not an id ([A-Za-z0-9_.-])"},
	    {INTEG "        type: cloud_functions\n        function_id: f\n"
	           "        payload_format_version: '2.0'\n",
	     "t.yaml:8: " MSG_PREFIX
	     "payload_format_version: \"2.0\" is not supported (use '0.1' or '1.0')"},
	    {INTEG "        type: cloud_functions\n        function_id: f\n        url: u\n",
	     "t.yaml:8: " MSG_PREFIX
	     "unknown key \"url\" in a cloud_functions integration (known: function_id, tag, "
	     "payload_format_version, context, service_account_id)"},
	    {INTEG "        type: serverless_containers\n        function_id: f\n",
	     "t.yaml:7: " MSG_PREFIX
	     "unknown key \"function_id\" in a serverless_containers integration (known: "
	     "container_id, context, service_account_id)"},
	    {INTEG "        type: serverless_containers\n",
	     "t.yaml:5: " MSG_PREFIX "a serverless_containers integration needs \"container_id\""},
	    {INTEG "        url: http://b.example/\n",
	     "t.yaml:5: " MSG_PREFIX
	     "x-yc-apigateway-integration: missing \"type\" (use http, dummy or echo)"},
	    {INTEG "        type: [http]\n",
	     "t.yaml:6: " MSG_PREFIX "integration type must be a string"},
	    {WS "      x-yc-apigateway-integration: echo\n",
	     "t.yaml:5: " MSG_PREFIX
	     "x-yc-apigateway-integration must be a mapping with a \"type\""},
	    {HTTP "        urll: http://b.example/\n",
	     "t.yaml:8: " MSG_PREFIX "unknown key \"urll\" in an http integration (known: url, "
	     "method, headers, query, timeouts, omitEmptyHeaders, omitEmptyQueryParameters, "
	     "serviceAccountId)"},
	    {DUMMY "        body: x\n",
	     "t.yaml:7: " MSG_PREFIX "unknown key \"body\" in a dummy integration (known: "
	     "http_code, http_headers, content)"},
	    {INTEG "        type: echo\n        url: http://b.example/\n",
	     "t.yaml:7: " MSG_PREFIX
	     "unknown key \"url\" in an echo integration (it takes only \"type\")"},
	    {INTEG "        type: http\n        method: GET\n",
	     "t.yaml:5: " MSG_PREFIX "an http integration needs \"url\""},
	    {INTEG "        type: http\n        url: ftp://b.example/\n",
	     "t.yaml:7: " MSG_PREFIX "url: \"ftp://b.example/\" must start with http:// or "
	     "https://"},
	    {INTEG "        type: http\n        url: https:///x\n",
	     "t.yaml:7: " MSG_PREFIX "url: \"https:///x\" has no host"},
	    {INTEG "        type: http\n        url: http://b.example/a b\n",
	     "t.yaml:7: " MSG_PREFIX
	     "url: \"http://b.example/a b\" contains a blank or a control character"},
	    {HEAD "  /f/{p+}:\n    x-yc-apigateway-websocket-message:\n"
	          "      x-yc-apigateway-integration:\n        type: http\n"
	          "        url: http://b.example/{p+}\n",
	     "t.yaml:7: path \"/f/{p+}\": x-yc-apigateway-websocket-message: url: write \"{p+}\" "
	     "as \"{p}\""},
	    {INTEG "        type: http\n        url: http://b.example/{room\n",
	     "t.yaml:7: " MSG_PREFIX "url: \"{\" without a closing \"}\""},
	    {INTEG "        type: http\n        url: [http://b.example/]\n",
	     "t.yaml:7: " MSG_PREFIX "url must be a string, not a sequence"},
	    {HTTP "        method: FETCH\n",
	     "t.yaml:8: " MSG_PREFIX "method: \"FETCH\" is not supported (use GET, POST, PUT, "
	     "PATCH, DELETE, HEAD or OPTIONS)"},
	    {HTTP "        headers: [a]\n",
	     "t.yaml:8: " MSG_PREFIX "headers must be a mapping of names to values"},
	    {HTTP "        headers:\n          X A: b\n",
	     "t.yaml:9: " MSG_PREFIX "headers: \"X A\" is not a valid header name"},
	    {HTTP "        headers:\n          '*': X-A\n",
	     "t.yaml:9: " MSG_PREFIX
	     "headers: only '*': '*' (forward the client's) may use the name '*'"},
	    {HTTP "        headers:\n          X-A: \"a\\r\\nX-B: b\"\n",
	     "t.yaml:9: " MSG_PREFIX "headers.X-A: a header value may not contain line breaks"},
	    {HTTP "        headers:\n          X-A: {b: c}\n",
	     "t.yaml:9: " MSG_PREFIX "headers.X-A must be a string, not a mapping"},
	    {HTTP "        headers:\n          X-A: [b, [c]]\n",
	     "t.yaml:9: " MSG_PREFIX "headers.X-A: list items must be strings"},
	    {HTTP "        headers:\n          X-A: \"a\\0b\"\n",
	     "t.yaml:9: " MSG_PREFIX "headers.X-A contains a NUL byte"},
	    {HTTP "        query:\n          '': b\n",
	     "t.yaml:9: " MSG_PREFIX "query: an empty name"},
	    {HTTP "        timeouts:\n          read: abc\n",
	     "t.yaml:9: " MSG_PREFIX "timeouts.read: \"abc\" is not a number of seconds"},
	    {HTTP "        timeouts:\n          connect: -1\n",
	     "t.yaml:9: " MSG_PREFIX "timeouts.connect: \"-1\" is not a number of seconds"},
	    {HTTP "        timeouts:\n          connect: 1e3\n",
	     "t.yaml:9: " MSG_PREFIX "timeouts.connect: \"1e3\" is not a number of seconds"},
	    {HTTP "        timeouts:\n          read: 0\n",
	     "t.yaml:9: " MSG_PREFIX
	     "timeouts.read: \"0\" is out of range (more than 0, at most 3600 seconds)"},
	    {HTTP "        timeouts:\n          read: 3600.001\n",
	     "t.yaml:9: " MSG_PREFIX
	     "timeouts.read: \"3600.001\" is out of range (more than 0, at most 3600 seconds)"},
	    {HTTP "        timeouts:\n          read: [1]\n",
	     "t.yaml:9: " MSG_PREFIX "timeouts.read must be a number of seconds"},
	    {HTTP "        timeouts:\n          write: 1\n",
	     "t.yaml:9: " MSG_PREFIX "timeouts: unknown key \"write\" (known: connect, read)"},
	    {HTTP "        timeouts: 5\n",
	     "t.yaml:8: " MSG_PREFIX "timeouts must be a mapping {connect: N, read: N}"},
	    {HTTP "        omitEmptyHeaders: yes\n",
	     "t.yaml:8: " MSG_PREFIX
	     "omitEmptyHeaders: \"yes\" is not a boolean (use true or false)"},
	    {HTTP "        omitEmptyQueryParameters: [true]\n",
	     "t.yaml:8: " MSG_PREFIX
	     "omitEmptyQueryParameters: a collection is not a boolean (use true or false)"},
	    {DUMMY "        http_code: 600\n",
	     "t.yaml:7: " MSG_PREFIX "http_code: \"600\" is not an HTTP status code (100..599)"},
	    {DUMMY "        http_code: abc\n",
	     "t.yaml:7: " MSG_PREFIX "http_code: \"abc\" is not an HTTP status code (100..599)"},
	    {DUMMY "        http_code: 99\n",
	     "t.yaml:7: " MSG_PREFIX "http_code: \"99\" is not an HTTP status code (100..599)"},
	    {DUMMY "        content:\n          json: '{}'\n",
	     "t.yaml:8: " MSG_PREFIX
	     "content: \"json\" is not a media type (use type/subtype or '*')"},
	    {DUMMY "        content:\n          text/plain: [a, b]\n",
	     "t.yaml:8: " MSG_PREFIX "content.text/plain must be a string, not a sequence"},
	    {DUMMY "        http_headers:\n          'Bad:Name': x\n",
	     "t.yaml:8: " MSG_PREFIX "http_headers: \"Bad:Name\" is not a valid header name"},
	};

	(void)state;
	run_cases(cases, sizeof(cases) / sizeof(*cases));
}

/* A security scheme the spec does not define is refused, at the
 * operation and through the top level (test_spec_auth.c has the rest). */
static void test_security_refused(void **state)
{
	static const struct err_case cases[] = {
	    {WS "      security:\n        - auth: []\n" ECHO_AT_5,
	     "t.yaml:6: " MSG_PREFIX "security names \"auth\", which components.securitySchemes "
	     "does not define"},
	    {"openapi: 3.0.0\nsecurity:\n  - auth: []\npaths:\n  /ws:\n"
	     "    x-yc-apigateway-websocket-message:\n" ECHO_AT_5,
	     "t.yaml:3: path \"/ws\": x-yc-apigateway-websocket-message: security names \"auth\", "
	     "which components.securitySchemes does not define"},
	};
	struct spec s;
	char err[256];
	const char *ok = "openapi: 3.0.0\nsecurity:\n  - auth: []\npaths:\n  /ws:\n"
	                 "    x-yc-apigateway-websocket-message:\n      security: []\n" ECHO_AT_5;

	(void)state;
	run_cases(cases, sizeof(cases) / sizeof(*cases));
	assert_int_equal(spec_parse("t.yaml", ok, strlen(ok), &s, err, sizeof(err)), 0);
	spec_free(&s);
}

/* "Billion laughs", deep nesting, too many nodes and too many bytes end
 * early with an error, not a blow-up. */
static void test_hostile_yaml(void **state)
{
	static const char laughs[] =
	    "openapi: 3.0.0\n"
	    "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
	    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
	    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
	    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
	    "paths: {}\n";
	static const char cycle[] = "openapi: 3.0.0\na: &a [*a]\n";
	char *buf = malloc(2u << 20);
	size_t n;
	struct spec s;
	char err[256];

	(void)state;
	assert_non_null(buf);
	check_err(laughs, sizeof(laughs) - 1,
	          "t.yaml:3: YAML aliases (*a) are not supported; write the value out");
	check_err(cycle, sizeof(cycle) - 1,
	          "t.yaml:2: YAML aliases (*a) are not supported; write the value out");

	n = (size_t)sprintf(buf, "openapi: 3.0.0\nx: ");
	memset(buf + n, '[', 10000), n += 10000;
	memset(buf + n, ']', 10000), n += 10000;
	check_err(buf, n, "t.yaml:2: YAML nested deeper than 64 levels");

	n = (size_t)sprintf(buf, "openapi: 3.0.0\nx: [");
	for (int i = 0; i < 200001; i++)
		memcpy(buf + n, "1,", 2), n += 2;
	buf[n++] = ']';
	check_err(buf, n, "t.yaml:2: more than 200000 YAML nodes");

	memset(buf, ' ', (1u << 20) + 1);
	assert_int_equal(spec_parse("t.yaml", buf, (1u << 20) + 1, &s, err, sizeof(err)),
	                 ERR_INVAL);
	assert_string_equal(err, "t.yaml:1: larger than 1048576 bytes");
	free(buf);
}

static void test_load_file_errors(void **state)
{
	char tmpl[] = "/tmp/test_spec_XXXXXX";
	char err[1024], want[1024];
	struct spec s;
	int fd;
	FILE *f;

	(void)state;
	assert_int_equal(spec_load_file("/nonexistent/api.yaml", NULL, 0, &s, err, sizeof(err)), ERR_INVAL);
	assert_string_equal(err, "/nonexistent/api.yaml: cannot read: No such file or directory");

	fd = mkstemp(tmpl);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	for (int i = 0; i < (1 << 20) / 16 + 1; i++)
		fputs("# padding.....\n\n", f);
	fclose(f);
	assert_int_equal(spec_load_file(tmpl, NULL, 0, &s, err, sizeof(err)), ERR_INVAL);
	snprintf(want, sizeof(want), "%s: larger than 1 MiB; not a spec?", tmpl);
	assert_string_equal(err, want);
	unlink(tmpl);

	assert_int_equal(spec_load_file(spec_file("bad_type.yaml"), NULL, 0, &s, err, sizeof(err)),
	                 ERR_INVAL);
	snprintf(want, sizeof(want),
	         "%s:7: path \"/chat/{room}\": x-yc-apigateway-websocket-message: integration type "
	         "\"object_storage\" is not supported by wsgw (it runs http, dummy, cloud_functions, "
	         "serverless_containers and echo integrations)",
	         spec_file("bad_type.yaml"));
	assert_string_equal(err, want);
}

/* The bad example specs in tests/spec/ each fail on their own line. */
static void test_bad_spec_files(void **state)
{
	static const struct {
		const char *file;
		const char *tail;
	} cases[] = {
	    {"bad_swagger.yaml", ":1: this is a Swagger 2.0 document"},
	    {"bad_tabs.yaml", ":3: YAML: found character that cannot start any token"},
	    {"bad_dup_param.yaml", ":3: path \"/a/{x}/{x}\": parameter \"x\" appears twice"},
	    {"bad_timeout.yaml", ":9: path \"/ws\": x-yc-apigateway-websocket-message: "
	                         "timeouts.read: \"abc\" is not a number of seconds"},
	    {"bad_aliases.yaml", ":3: YAML aliases (*a) are not supported"},
	};
	struct spec s;
	char err[512];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		const char *path = spec_file(cases[i].file);
		size_t plen = strlen(path);
		assert_int_equal(spec_load_file(path, NULL, 0, &s, err, sizeof(err)), ERR_INVAL);
		assert_memory_equal(err, path, plen);
		assert_memory_equal(err + plen, cases[i].tail, strlen(cases[i].tail));
	}
}

/* Small or absent error buffers are never overrun. */
static void test_err_buffer(void **state)
{
	const char *y = HTTP "        timeouts: {read: abc}\n";
	char small[12];
	struct spec s;

	(void)state;
	memset(small, 'x', sizeof(small));
	assert_int_equal(spec_parse("t.yaml", y, strlen(y), &s, small, sizeof(small)), ERR_INVAL);
	assert_string_equal(small, "t.yaml:8: p");
	assert_int_equal(spec_parse(NULL, y, strlen(y), &s, NULL, 0), ERR_INVAL);
	assert_int_equal(spec_parse(NULL, y, strlen(y), &s, small, 1), ERR_INVAL);
	assert_string_equal(small, "");
}

static void test_values(void **state)
{
	const char *y = HTTP "        method: Delete\n"
	                     "        headers:\n"
	                     "          X-Empty:\n"
	                     "          X-Null: ~\n"
	                     "          X-Str: 'null'\n"
	                     "          X-List: [a, ~, '', b]\n"
	                     "          X-Num: 5\n"
	                     "        query: {'*': '*', ids: [1, 2], e: []}\n"
	                     "        timeouts: {connect: .25, read: \"3600\"}\n"
	                     "        omitEmptyHeaders: False\n"
	                     "        omitEmptyQueryParameters: TRUE\n";
	const char *t = HTTP "        timeouts: {connect: 0.0001, read: 1.2345}\n";
	struct spec s;
	char err[256];
	const struct integration *in;

	(void)state;
	assert_int_equal(spec_parse("t.yaml", y, strlen(y), &s, err, sizeof(err)), 0);
	in = &s.routes[0].message;
	assert_string_equal(in->method, "DELETE");
	assert_int_equal(in->num_headers, 5);
	assert_kv(in->headers, in->num_headers, 0, "X-Empty", "");
	assert_kv(in->headers, in->num_headers, 1, "X-Null", "");
	assert_kv(in->headers, in->num_headers, 2, "X-Str", "null");
	assert_kv(in->headers, in->num_headers, 3, "X-List", "a, , , b");
	assert_kv(in->headers, in->num_headers, 4, "X-Num", "5");
	assert_int_equal(in->num_query, 3);
	assert_kv(in->query, in->num_query, 0, "*", "*");
	assert_kv(in->query, in->num_query, 1, "ids", "1,2");
	assert_kv(in->query, in->num_query, 2, "e", "");
	assert_int_equal(in->connect_timeout_ms, 250);
	assert_int_equal(in->read_timeout_ms, 3600000);
	assert_false(in->omit_empty_headers);
	assert_true(in->omit_empty_query);
	spec_free(&s);

	/* a greedy parameter is written without "+" in the url */
	y = HEAD "  /f/{p+}:\n    x-yc-apigateway-websocket-message:\n"
	         "      x-yc-apigateway-integration:\n        type: http\n"
	         "        url: http://b.example/x/{p}?a={p}\n";
	assert_int_equal(spec_parse("t.yaml", y, strlen(y), &s, err, sizeof(err)), 0);
	assert_string_equal(s.routes[0].message.url, "http://b.example/x/{p}?a={p}");
	spec_free(&s);

	/* fractions of a millisecond round up, never to 0 ("default") */
	assert_int_equal(spec_parse("t.yaml", t, strlen(t), &s, err, sizeof(err)), 0);
	assert_int_equal(s.routes[0].message.connect_timeout_ms, 1);
	assert_int_equal(s.routes[0].message.read_timeout_ms, 1235);
	spec_free(&s);
}

/* ---- matching ------------------------------------------------------------------ */

#define ROUTE(p) "  " p ":\n    x-yc-apigateway-websocket-message:\n" ECHO_AT_5

static const char match_yaml[] = HEAD ROUTE("/") ROUTE("/chat/lobby") ROUTE("/chat/{room}")
    ROUTE("/chat/{room}/u/{user}") ROUTE("/chat/{room}/{rest+}") ROUTE("/files/{path+}")
        ROUTE("/{any}/fixed") ROUTE("/static/");

struct match_case {
	const char *path;
	const char *route; /* NULL: no match */
	const char *p1, *v1, *p2, *v2;
};

static void check_match(const struct spec *s, const struct match_case *c)
{
	struct route_match m;
	const struct route *r = spec_match(s, c->path, strlen(c->path), &m);

	if (!c->route) {
		if (r)
			print_error("%s matched %s\n", c->path, r->path);
		assert_null(r);
		return;
	}
	if (!r)
		print_error("%s did not match %s\n", c->path, c->route);
	assert_non_null(r);
	assert_string_equal(r->path, c->route);
	assert_int_equal(m.num_params, (c->p1 != NULL) + (c->p2 != NULL));
	for (size_t i = 0; i < m.num_params; i++) {
		const char *want = i ? c->v2 : c->v1;
		assert_string_equal(m.params[i].name, i ? c->p2 : c->p1);
		assert_int_equal(m.params[i].value_len, strlen(want));
		assert_memory_equal(m.params[i].value, want, strlen(want));
		/* a view into the request path */
		assert_true(m.params[i].value >= c->path);
		assert_true(m.params[i].value + m.params[i].value_len <= c->path + strlen(c->path));
	}
}

static void test_match_table(void **state)
{
	static const struct match_case cases[] = {
	    {"/", "/", NULL, NULL, NULL, NULL},
	    {"/chat/lobby", "/chat/lobby", NULL, NULL, NULL, NULL},
	    {"/chat/general", "/chat/{room}", "room", "general", NULL, NULL},
	    {"/chat/a%20b", "/chat/{room}", "room", "a%20b", NULL, NULL},
	    {"/chat/fixed", "/chat/{room}", "room", "fixed", NULL, NULL}, /* literal first */
	    {"/other/fixed", "/{any}/fixed", "any", "other", NULL, NULL},
	    {"/chat/r1/u/bob", "/chat/{room}/u/{user}", "room", "r1", "user", "bob"},
	    {"/chat/lobby/u/bob", "/chat/{room}/u/{user}", "room", "lobby", "user", "bob"},
	    {"/chat/r1/u/bob/x", "/chat/{room}/{rest+}", "room", "r1", "rest", "u/bob/x"},
	    {"/chat/r1/u/", "/chat/{room}/{rest+}", "room", "r1", "rest", "u/"},
	    {"/chat/r1/v", "/chat/{room}/{rest+}", "room", "r1", "rest", "v"},
	    {"/files/a/b%2Fc/d.txt", "/files/{path+}", "path", "a/b%2Fc/d.txt", NULL, NULL},
	    {"/files/x", "/files/{path+}", "path", "x", NULL, NULL},
	    {"/files//x", "/files/{path+}", "path", "/x", NULL, NULL},
	    {"/static/", "/static/", NULL, NULL, NULL, NULL},
	    {"/chat/", NULL, NULL, NULL, NULL, NULL}, /* an empty segment fills no {room} */
	    {"/chat", NULL, NULL, NULL, NULL, NULL},
	    {"/chat/lobby/", NULL, NULL, NULL, NULL, NULL},
	    {"/chat//x", NULL, NULL, NULL, NULL, NULL},
	    {"/files/", NULL, NULL, NULL, NULL, NULL},
	    {"/files", NULL, NULL, NULL, NULL, NULL},
	    {"/static", NULL, NULL, NULL, NULL, NULL},
	    {"/static/x", NULL, NULL, NULL, NULL, NULL},
	    {"/nothing", NULL, NULL, NULL, NULL, NULL},
	    {"//", NULL, NULL, NULL, NULL, NULL},
	    {"", NULL, NULL, NULL, NULL, NULL},
	    {"chat/lobby", NULL, NULL, NULL, NULL, NULL},
	};
	struct spec s;
	char err[256];
	static const char exact[] = "x-yc-apigateway: {ignoreTrailingSlashes: false}\n";
	char yaml[sizeof match_yaml + sizeof exact];

	(void)state;
	/* trailing slashes significant, as the cloud with ignoreTrailingSlashes: false */
	snprintf(yaml, sizeof yaml, "%s%s", exact, match_yaml);
	assert_int_equal(spec_parse("m.yaml", yaml, strlen(yaml), &s, err, sizeof(err)), 0);
	assert_true(s.keep_trailing_slash);
	assert_int_equal(s.num_routes, 8);
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++)
		check_match(&s, &cases[i]);
	assert_null(spec_match(&s, NULL, 0, NULL));
	spec_free(&s);
}

/* The cloud's default: one trailing slash is ignored, in the path and in
 * the template; a greedy parameter may stand mid-path. */
static void test_match_trailing_slash_and_mid_greedy(void **state)
{
	static const char yaml[] = HEAD ROUTE("/") ROUTE("/chat/lobby") ROUTE("/chat/{room}")
	    ROUTE("/files/{path+}") ROUTE("/static/") ROUTE("/m/{p+}/end/{id}");
	static const struct match_case cases[] = {
	    {"/chat/lobby/", "/chat/lobby", NULL, NULL, NULL, NULL},
	    {"/chat/room/", "/chat/{room}", "room", "room", NULL, NULL},
	    {"/chat/room", "/chat/{room}", "room", "room", NULL, NULL},
	    {"/static", "/static/", NULL, NULL, NULL, NULL},
	    {"/static/", "/static/", NULL, NULL, NULL, NULL},
	    {"/files/a/b/", "/files/{path+}", "path", "a/b", NULL, NULL},
	    {"/m/a/end/7", "/m/{p+}/end/{id}", "p", "a", "id", "7"},
	    {"/m/a/b/c/end/7/", "/m/{p+}/end/{id}", "p", "a/b/c", "id", "7"},
	    {"/m/end/7", NULL, NULL, NULL, NULL, NULL}, /* a greedy parameter is never empty */
	    {"/m/a/end", NULL, NULL, NULL, NULL, NULL},
	    {"/m/a/x/7", NULL, NULL, NULL, NULL, NULL},
	    {"/chat/room//", NULL, NULL, NULL, NULL, NULL}, /* one slash only */
	    {"/chat/", NULL, NULL, NULL, NULL, NULL},
	};
	struct spec s;
	char err[256];

	(void)state;
	assert_int_equal(spec_parse("m.yaml", yaml, sizeof(yaml) - 1, &s, err, sizeof(err)), 0);
	assert_false(s.keep_trailing_slash);
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++)
		check_match(&s, &cases[i]);
	spec_free(&s);
}

/* The precedence does not depend on the order in the file. */
static void test_match_order_independent(void **state)
{
	static const char rev[] = HEAD ROUTE("/{a}/{b+}") ROUTE("/{a}/x") ROUTE("/x/{b}");
	struct spec s;
	struct route_match m;
	char err[256];

	(void)state;
	assert_int_equal(spec_parse("r.yaml", rev, sizeof(rev) - 1, &s, err, sizeof(err)), 0);
	assert_string_equal(spec_match(&s, "/x/x", 4, &m)->path, "/x/{b}");
	assert_string_equal(spec_match(&s, "/y/x", 4, &m)->path, "/{a}/x");
	assert_string_equal(spec_match(&s, "/y/z", 4, &m)->path, "/{a}/{b+}");
	assert_string_equal(spec_match(&s, "/x/x/y", 6, &m)->path, "/{a}/{b+}");
	assert_null(spec_match(&s, "/y", 2, &m));
	/* a path is matched for its first len bytes only */
	assert_string_equal(spec_match(&s, "/y/xyz", 4, &m)->path, "/{a}/x");
	spec_free(&s);
}

/* ---- Yandex syntax: variables, $ref, parameters, extensions ----------------------- */

#define VARS                                                                                       \
	"openapi: 3.0.0\n"                                                                         \
	"x-yc-apigateway:\n"                                                                       \
	"  variables:\n"                                                                           \
	"    greet: {default: hello, enum: [hello, hi]}\n"                                        \
	"    host: {default: 'b.example'}\n"                                                      \
	"paths:\n"                                                                                 \
	"  /${var.greet}:\n"                                                                       \
	"    x-yc-apigateway-websocket-message:\n"                                                 \
	"      x-yc-apigateway-integration:\n"                                                     \
	"        type: http\n"                                                                     \
	"        url: http://${var.host}/${var.greet}/x\n"

static int parse_vars(const char *y, const struct spec_var *v, size_t n, struct spec *s,
		      char *err, size_t errlen)
{
	return spec_parse_vars("t.yaml", y, strlen(y), v, n, s, err, errlen);
}

static void test_variables(void **state)
{
	struct spec s;
	char err[512] = "";
	struct spec_var hi[] = {{"greet", "hello", "--var greet"}, {"greet", "hi", "--var greet"}};
	struct spec_var bad[] = {{"greet", "bye", "WSGW_VAR_greet"}};
	struct spec_var unknown[] = {{"nope", "1", "--var nope"}};

	(void)state;
	assert_int_equal(parse_vars(VARS, NULL, 0, &s, err, sizeof err), 0);
	assert_string_equal(s.routes[0].path, "/hello"); /* keys too */
	assert_string_equal(s.routes[0].message.url, "http://b.example/hello/x");
	spec_free(&s);
	assert_int_equal(parse_vars(VARS, hi, 2, &s, err, sizeof err), 0); /* the last wins */
	assert_string_equal(s.routes[0].message.url, "http://b.example/hi/x");
	spec_free(&s);
	assert_int_equal(parse_vars(VARS, bad, 1, &s, err, sizeof err), ERR_INVAL);
	assert_string_equal(err, "t.yaml:4: variable \"greet\": value \"bye\" is not one of its enum");
	assert_int_equal(parse_vars(VARS, unknown, 1, &s, err, sizeof err), ERR_INVAL);
	assert_string_equal(err, "t.yaml:4: --var nope: the spec declares no variable nope "
				 "(x-yc-apigateway: variables:)");
	check_err(VARS "        headers: {X-A: '${var.other}'}\n",
		  sizeof(VARS "        headers: {X-A: '${var.other}'}\n") - 1,
		  "t.yaml:12: \"${var.other}\" is not declared in x-yc-apigateway.variables");
	check_err(VARS "        headers: {X-A: '${var.greet'}\n",
		  sizeof(VARS "        headers: {X-A: '${var.greet'}\n") - 1,
		  "t.yaml:12: \"${var.greet\": \"${var.\" without a closing \"}\"");
	static const char nodef[] = "openapi: 3.0.0\nx-yc-apigateway:\n  variables:\n"
				    "    v: {description: no default}\npaths: {}\n";
	check_err(nodef, sizeof nodef - 1,
		  "t.yaml:4: variable \"v\" has no default; give it a value with --var v=VALUE");
	/* a value cannot change the document's structure: it stays one scalar */
	struct spec_var inj[] = {{"host", "x\n        method: DELETE", "--var host"}};
	assert_int_equal(parse_vars(VARS, inj, 1, &s, err, sizeof err), ERR_INVAL);
	assert_non_null(strstr(err, "contains a blank or a control character"));
}

#define REFS                                                                                       \
	HEAD "  /r:\n"                                                                             \
	     "    parameters:\n"                                                                   \
	     "      - $ref: '#/components/parameters/p'\n"                                         \
	     "    x-yc-apigateway-websocket-message:\n"                                            \
	     "      parameters:\n"                                                                 \
	     "        - {name: h, in: header}\n"                                                   \
	     "        - {name: p, in: query, description: replaces the path item's}\n"             \
	     "      x-yc-apigateway-integration:\n"                                                \
	     "        $ref: '#/components/x-yc-apigateway-integrations/i'\n"                       \
	     "components:\n"                                                                       \
	     "  parameters:\n"                                                                     \
	     "    p: {name: p, in: query}\n"                                                       \
	     "  x-yc-apigateway-integrations:\n"

static void test_refs_and_parameters(void **state)
{
	static const char good[] = REFS "    i: {type: dummy, content: {'*': '{p}{h}'}}\n";
	struct spec s;
	char err[512] = "";
	const struct integration *in;

	(void)state;
	assert_int_equal(spec_parse("t.yaml", good, sizeof good - 1, &s, err, sizeof err), 0);
	in = &s.routes[0].message;
	assert_int_equal(in->type, INTEG_DUMMY);
	assert_kv(in->content, in->num_content, 0, "*", "{p}{h}");
	assert_int_equal(in->num_params, 2);
	assert_string_equal(in->params[0].name, "p");
	assert_int_equal(in->params[0].in, PARAM_QUERY);
	assert_string_equal(in->params[1].name, "h");
	assert_int_equal(in->params[1].in, PARAM_HEADER);
	assert_string_equal(spec_placeholder_source(&s.routes[0], in, "H", 1), "header parameter");
	assert_string_equal(spec_placeholder_source(&s.routes[0], in, "p", 1), "query parameter");
	assert_null(spec_placeholder_source(&s.routes[0], in, "P", 1)); /* query names: exact */
	assert_int_equal(s.num_warnings, 0);
	spec_free(&s);

	static const char cycle[] = REFS "    i: {$ref: '#/components/x-yc-apigateway-integrations/j'}\n"
					 "    j: {$ref: '#/components/x-yc-apigateway-integrations/i'}\n";
	check_err(cycle, sizeof cycle - 1,
		  "t.yaml:11: $ref cycle: \"#/components/x-yc-apigateway-integrations/i\" -> "
		  "\"#/components/x-yc-apigateway-integrations/j\" -> "
		  "\"#/components/x-yc-apigateway-integrations/i\"");
	static const char self[] = REFS "    i: {$ref: '#/components/x-yc-apigateway-integrations/i'}\n";
	check_err(self, sizeof self - 1,
		  "t.yaml:11: $ref cycle: \"#/components/x-yc-apigateway-integrations/i\" -> "
		  "\"#/components/x-yc-apigateway-integrations/i\"");
	static const char missing[] = REFS "    k: {type: echo}\n";
	check_err(missing, sizeof missing - 1,
		  "t.yaml:11: $ref \"#/components/x-yc-apigateway-integrations/i\": the spec has "
		  "nothing at that pointer");
	static const char remote[] = HEAD "  /r:\n    x-yc-apigateway-websocket-message:\n"
				     "      x-yc-apigateway-integration: {$ref: 'other.yaml#/x'}\n";
	check_err(remote, sizeof remote - 1,
		  "t.yaml:5: $ref \"other.yaml#/x\": only local references (\"#/...\") are "
		  "supported");
	static const char badin[] = WS "      parameters: [{name: a, in: body}]\n" ECHO_AT_5;
	check_err(badin, sizeof badin - 1,
		  "t.yaml:5: " MSG_PREFIX "parameter in: \"body\" is not path, query, header or "
		  "cookie");
	/* escapes: "~1" is "/", "%7B" is "{" */
	static const char esc[] = HEAD "  /a/{x}:\n    x-yc-apigateway-websocket-message:\n"
				  "      x-yc-apigateway-integration: {type: dummy}\n"
				  "  /b:\n    x-yc-apigateway-websocket-message:\n"
				  "      $ref: '#/paths/~1a~1%7Bx%7D/x-yc-apigateway-websocket-message'\n";
	assert_int_equal(spec_parse("t.yaml", esc, sizeof esc - 1, &s, err, sizeof err), 0);
	assert_int_equal(s.routes[1].message.type, INTEG_DUMMY);
	spec_free(&s);
}

static void test_extensions_and_push_paths(void **state)
{
	static const char y[] =
	    "openapi: 3.0.0\n"
	    "x-yc-apigateway:\n  service_account_id: sa\n  cors: {}\n"
	    "  ignoreTrailingSlashes: false\n"
	    "x-yc-apigateway-rate-limit: {}\nx-other-tool: 1\n"
	    "paths:\n"
	    "  /push:\n    x-yc-apigateway-rate-limit: {}\n"
	    "    x-yc-apigateway-websocket-disconnect:\n"
	    "      x-yc-apigateway-integration: {type: http, url: 'http://b/{X-Yc-Apigateway-"
	    "Websocket-Message-Id}', serviceAccountId: sa}\n"
	    "  /ws:\n    x-yc-apigateway-websocket-message:\n"
	    "      x-yc-apigateway-validator: {}\n"
	    "      x-yc-apigateway-integration: {type: dummy, service_account_id: sa, "
	    "content: {'*': '{nope}'}}\n";
	struct spec s;
	char err[512] = "";

	(void)state;
	assert_int_equal(spec_parse("t.yaml", y, sizeof y - 1, &s, err, sizeof err), 0);
	assert_true(s.keep_trailing_slash);
	assert_int_equal(s.num_routes, 2);
	assert_int_equal(s.routes[0].message.type, INTEG_NONE); /* a server-push path */
	assert_int_equal(s.routes[0].disconnect.type, INTEG_HTTP);
	assert_int_equal(s.num_warnings, 6);
	assert_string_equal(s.warnings[0], "t.yaml:6: top-level \"x-yc-apigateway-rate-limit\" is "
					   "ignored by wsgw (it implements only the WebSocket "
					   "operations and their integrations)");
	assert_string_equal(s.warnings[1], "t.yaml:4: x-yc-apigateway: \"cors\" is ignored by "
					   "wsgw (it implements only the WebSocket operations and "
					   "their integrations)");
	assert_non_null(strstr(s.warnings[2], "t.yaml:10: \"x-yc-apigateway-rate-limit\""));
	assert_non_null(strstr(s.warnings[3], "t.yaml:12: path \"/push\": "
					      "x-yc-apigateway-websocket-disconnect: placeholder "
					      "{X-Yc-Apigateway-Websocket-Message-Id} is never "
					      "filled here"));
	assert_non_null(strstr(s.warnings[4], "t.yaml:15: \"x-yc-apigateway-validator\""));
	assert_non_null(strstr(s.warnings[5], "placeholder {nope} is not a parameter of this "
					      "operation"));
	spec_free(&s);
	check_err(HEAD "x-yc-apigateway: {ignoreTrailingSlashes: maybe}\n",
		  sizeof(HEAD "x-yc-apigateway: {ignoreTrailingSlashes: maybe}\n") - 1,
		  "t.yaml:3: ignoreTrailingSlashes: \"maybe\" is not a boolean (use true or false)");
}

static void test_default_spec(void **state)
{
	static const char greedy[] = HEAD ROUTE("/{p+}");
	static const char *paths[] = {"/", "/x", "/x/y/z", "/a%2F/", "//"};
	struct spec s;
	struct route_match m;
	const struct route *r;
	char err[256];

	(void)state;
	assert_int_equal(spec_default(&s), 0);
	assert_int_equal(s.num_routes, 1);
	assert_string_equal(s.routes[0].path, "/{path+}");
	assert_int_equal(s.routes[0].message.type, INTEG_ECHO);
	assert_int_equal(s.routes[0].connect.type, INTEG_NONE);
	assert_int_equal(s.routes[0].disconnect.type, INTEG_NONE);
	for (size_t i = 0; i < sizeof(paths) / sizeof(*paths); i++) {
		r = spec_match(&s, paths[i], strlen(paths[i]), &m);
		assert_ptr_equal(r, &s.routes[0]);
		assert_int_equal(m.num_params, 1);
		assert_string_equal(m.params[0].name, "path");
		assert_int_equal(m.params[0].value_len, strlen(paths[i]) - 1);
		assert_ptr_equal(m.params[0].value, paths[i] + 1);
	}
	assert_null(spec_match(&s, "", 0, &m));
	assert_null(spec_match(&s, "x", 1, &m));
	spec_free(&s);

	/* a user's "/{p+}" wants at least one segment, as in the cloud */
	assert_int_equal(spec_parse("g.yaml", greedy, sizeof(greedy) - 1, &s, err, sizeof(err)), 0);
	assert_null(spec_match(&s, "/", 1, &m));
	assert_non_null(spec_match(&s, "/a", 2, &m));
	spec_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good_spec),
	    cmocka_unit_test(test_document_errors),
	    cmocka_unit_test(test_yaml_errors),
	    cmocka_unit_test(test_path_errors),
	    cmocka_unit_test(test_integration_errors),
	    cmocka_unit_test(test_security_refused),
	    cmocka_unit_test(test_hostile_yaml),
	    cmocka_unit_test(test_load_file_errors),
	    cmocka_unit_test(test_bad_spec_files),
	    cmocka_unit_test(test_err_buffer),
	    cmocka_unit_test(test_values),
	    cmocka_unit_test(test_match_table),
	    cmocka_unit_test(test_match_trailing_slash_and_mid_greedy),
	    cmocka_unit_test(test_match_order_independent),
	    cmocka_unit_test(test_variables),
	    cmocka_unit_test(test_refs_and_parameters),
	    cmocka_unit_test(test_extensions_and_push_paths),
	    cmocka_unit_test(test_default_spec),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
