/* test_spec_auth.c — unit tests for spec_auth.c: security (top level, per
 * operation, [] opting out, connect and message agreeing) and the jwt and
 * function authorizers' fields, each error with its line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "spec.h"

#define ECHO "      x-yc-apigateway-integration: {type: echo}\n"
#define SCHEMES "components:\n  securitySchemes:\n"
/* a jwt scheme named N with extra fields X (each line indented 8) */
#define JWT(n, x)                                                                                  \
	"    " n ":\n      type: openIdConnect\n      x-yc-apigateway-authorizer:\n"               \
	"        type: jwt\n        jwksUri: https://issuer.test/jwks\n"                           \
	"        identitySource: {in: header, name: Authorization, prefix: 'Bearer '}\n" x

static int parse(const char *yaml, struct spec *s, char *err, size_t errlen)
{
	return spec_parse("t.yaml", yaml, strlen(yaml), s, err, errlen);
}

static void want_err(const char *yaml, const char *want)
{
	struct spec s;
	char err[512];
	int rc = parse(yaml, &s, err, sizeof err);

	if (rc != ERR_INVAL || !strstr(err, want))
		print_error("input:\n%s\nwant: %s\ngot:  %d %s\n", yaml, want, rc, err);
	assert_int_equal(rc, ERR_INVAL);
	assert_non_null(strstr(err, want));
}

static void test_jwt_fields(void **state)
{
	static const char yaml[] =
	    "openapi: 3.0.0\nsecurity:\n  - a: [read, write]\npaths:\n"
	    "  /ws:\n    x-yc-apigateway-websocket-connect:\n" ECHO
	    "    x-yc-apigateway-websocket-message:\n" ECHO "  /open:\n"
	    "    x-yc-apigateway-websocket-message:\n      security: []\n" ECHO
	    "  /own:\n    x-yc-apigateway-websocket-message:\n      security:\n        - b: "
	    "[]\n" ECHO SCHEMES JWT(
	        "a",
	        "        issuers: [i1, i2]\n        audiences: aud\n"
	        "        requiredClaims: [sub, email]\n        jwkTtlInSeconds: 60\n"
	        "        authorizer_result_ttl_in_seconds: 30\n"
	        "        authorizer_result_caching_mode: uri\n"
	        "        service_account_id: x\n") "    b:\n      type: openIdConnect\n      "
	                                           "x-yc-apigateway-authorizer:\n"
	                                           "        type: jwt\n        jwksUri: http://k/\n"
	                                           "        IdentitySource: {in: cookie, name: "
	                                           "AUTH}\n"
	                                           "    unused:\n      type: apiKey\n";
	struct spec s;
	char err[512];
	const struct spec_authorizer *a;

	(void)state;
	assert_int_equal(parse(yaml, &s, err, sizeof err), 0);
	assert_int_equal(s.num_routes, 3);
	assert_int_equal(s.num_authorizers, 2); /* only those a WebSocket route names */
	a = spec_route_authorizer(&s, &s.routes[0]);
	assert_non_null(a);
	assert_string_equal(a->name, "a");
	assert_int_equal(a->type, AUTH_JWT);
	assert_int_equal(a->in, AUTH_IN_HEADER);
	assert_string_equal(a->source, "Authorization");
	assert_string_equal(a->prefix, "Bearer ");
	assert_string_equal(a->jwks_uri, "https://issuer.test/jwks");
	assert_int_equal(a->num_issuers, 2);
	assert_string_equal(a->issuers[1], "i2");
	assert_int_equal(a->num_audiences, 1);
	assert_string_equal(a->audiences[0], "aud");
	assert_int_equal(a->num_required_claims, 2);
	assert_int_equal(a->jwk_ttl_ms, 60000);
	assert_int_equal(a->result_ttl_ms, 30000);
	assert_true(a->cache_by_uri);
	assert_int_equal(s.routes[0].security.num_scopes, 2);
	assert_string_equal(s.routes[0].security.scopes[1], "write");
	assert_null(spec_route_authorizer(&s, &s.routes[1])); /* security: [] */
	a = spec_route_authorizer(&s, &s.routes[2]);          /* its own replaces the top's */
	assert_string_equal(a->name, "b");
	assert_int_equal(a->in, AUTH_IN_COOKIE);
	assert_string_equal(a->prefix, "");
	assert_int_equal(a->jwk_ttl_ms, 0);
	assert_int_equal(s.routes[2].security.num_scopes, 0);
	spec_free(&s);
}

static void test_function_kept_with_warning(void **state)
{
	static const char yaml[] =
	    "openapi: 3.0.0\npaths:\n  /ws:\n    x-yc-apigateway-websocket-message:\n"
	    "      security:\n        - cookie: []\n" ECHO SCHEMES
	    "    cookie:\n      type: apiKey\n      in: cookie\n      name: AUTH\n"
	    "      x-yc-apigateway-authorizer:\n        type: function\n        function_id: d4e\n"
	    "        tag: $latest\n        authorizer_result_ttl_in_seconds: 180\n";
	struct spec s;
	char err[512];
	const struct spec_authorizer *a;

	(void)state;
	assert_int_equal(parse(yaml, &s, err, sizeof err), 0);
	a = spec_route_authorizer(&s, &s.routes[0]);
	assert_int_equal(a->type, AUTH_FUNCTION);
	assert_string_equal(a->function_id, "d4e");
	assert_int_equal(a->in, AUTH_IN_COOKIE);
	assert_string_equal(a->source, "AUTH");
	assert_int_equal(s.num_warnings, 0); /* run through --function (fnmap_check_spec) */
	spec_free(&s);
}

static void test_errors(void **state)
{
#define OP(sec) "openapi: 3.0.0\npaths:\n  /ws:\n    x-yc-apigateway-websocket-message:\n" sec ECHO
#define USE_A OP("      security:\n        - a: []\n")
	(void)state;
	want_err(USE_A, "t.yaml:6: path \"/ws\": x-yc-apigateway-websocket-message: security names "
	                "\"a\", which components.securitySchemes does not define");
	want_err(USE_A SCHEMES "    a:\n      type: apiKey\n", "has no x-yc-apigateway-authorizer");
	want_err(USE_A SCHEMES JWT("a", "        audience: [x]\n"),
	         "unknown key \"audience\" in a jwt authorizer");
	want_err(USE_A SCHEMES
	         "    a:\n      type: openIdConnect\n      openIdConnectUrl: https://x/\n"
	         "      x-yc-apigateway-authorizer:\n        type: jwt\n"
	         "        identitySource: {in: header, name: A}\n",
	         "needs \"jwksUri\" (wsgw does not read the openIdConnectUrl discovery document)");
	want_err(USE_A SCHEMES "    a:\n      x-yc-apigateway-authorizer:\n        type: jwt\n"
	                       "        jwksUri: http://k/\n",
	         "a jwt authorizer needs \"identitySource\"");
	want_err(USE_A SCHEMES "    a:\n      x-yc-apigateway-authorizer:\n        type: jwt\n"
	                       "        jwksUri: ftp://k/\n",
	         "jwksUri must start with http:// or https://");
	want_err(USE_A SCHEMES
	         "    a:\n      x-yc-apigateway-authorizer:\n        type: jwt\n"
	         "        jwksUri: http://k/\n        identitySource: {in: body, name: x}\n",
	         "identitySource.in must be header, query or cookie");
	want_err(
	    USE_A SCHEMES "    a:\n      x-yc-apigateway-authorizer:\n        type: iam\n",
	    "t.yaml:12: authorizer type \"iam\" is not supported (wsgw knows jwt and function)");
	want_err(USE_A SCHEMES JWT("a", "        jwkTtlInSeconds: -1\n"),
	         "jwkTtlInSeconds must be a whole number of seconds");
	want_err(USE_A SCHEMES JWT("a", "        authorizer_result_caching_mode: host\n"),
	         "authorizer_result_caching_mode must be path or uri");
	want_err(USE_A SCHEMES JWT("a", "        issuers: {a: b}\n"), "issuers must be a list");
	want_err(USE_A SCHEMES "    a:\n      type: http\n      scheme: digest\n"
	                       "      x-yc-apigateway-authorizer:\n        type: function\n"
	                       "        function_id: f\n",
	         "http scheme must be basic or bearer");
	want_err(USE_A SCHEMES "    a:\n      type: apiKey\n      in: header\n      name: K\n"
	                       "      x-yc-apigateway-authorizer:\n        type: function\n",
	         "a function authorizer needs \"function_id\"");
	want_err(OP("      security:\n        - a: []\n        - b: []\n"),
	         "security lists alternatives; wsgw supports one requirement");
	want_err(OP("      security:\n        - {a: [], b: []}\n"),
	         "several schemes is not supported");
	want_err(OP("      security: {a: []}\n"), "security must be a list");
	/* connect and message must agree: wsgw authorizes once */
	want_err(
	    "openapi: 3.0.0\npaths:\n  /ws:\n    x-yc-apigateway-websocket-connect:\n"
	    "      security:\n        - a: [x]\n" ECHO
	    "    x-yc-apigateway-websocket-message:\n      security:\n        - a: [y]\n" ECHO
	        SCHEMES JWT("a", ""),
	    "t.yaml:9: path \"/ws\": x-yc-apigateway-websocket-message: the connect and message "
	    "operations name different authorizers or scopes");
}

static void test_security_rules(void **state)
{
	struct spec s;
	char err[512];
	/* connect opts out, message has one: the handshake checks it; a
	 * disconnect operation's security is checked for sense, not kept */
	static const char yaml[] =
	    "openapi: 3.0.0\npaths:\n  /ws:\n    x-yc-apigateway-websocket-connect:\n"
	    "      security: []\n" ECHO
	    "    x-yc-apigateway-websocket-message:\n      security:\n        - a: [x]\n" ECHO
	    "  /d:\n    x-yc-apigateway-websocket-disconnect:\n      security:\n        - a: "
	    "[]\n" ECHO SCHEMES JWT("a", "");

	(void)state;
	assert_int_equal(parse(yaml, &s, err, sizeof err), 0);
	assert_non_null(spec_route_authorizer(&s, &s.routes[0]));
	assert_string_equal(s.routes[0].security.scopes[0], "x");
	assert_null(spec_route_authorizer(&s, &s.routes[1]));
	spec_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_jwt_fields),
	    cmocka_unit_test(test_function_kept_with_warning),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_security_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
