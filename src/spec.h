/* spec.h — the gateway's OpenAPI 3 specification (YAML, read with libyaml):
 * WebSocket routes with their connect / message / disconnect integrations,
 * and path-template matching. Pure: no sockets, no logging; every error is
 * one line "FILE:LINE: what is wrong".
 */
#ifndef WSGW_SPEC_H
#define WSGW_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SPEC_MAX_PARAMS 16

enum integ_type { INTEG_NONE = 0, INTEG_ECHO, INTEG_DUMMY, INTEG_HTTP, INTEG_FUNCTION, INTEG_CONTAINER };

/* Where an operation's declared parameter comes from (OpenAPI `in:`). */
enum param_in { PARAM_PATH, PARAM_QUERY, PARAM_HEADER, PARAM_COOKIE };

struct spec_param {
	char *name;
	enum param_in in;
};

/* A name with one value; list values in the spec are joined with ", ". */
struct spec_kv {
	char *name;
	char *value;
};

struct integration {
	enum integ_type type;
	int line; /* where x-yc-apigateway-integration starts */
	/* http */
	char *url;                 /* may contain {param} placeholders */
	char *method;              /* NULL: default (GET for connect, POST otherwise) */
	struct spec_kv *headers;   /* name "*" with value "*": forward the client's */
	size_t num_headers;
	struct spec_kv *query;     /* same "*" rule for the query string */
	size_t num_query;
	uint64_t connect_timeout_ms; /* timeouts.connect (seconds in YAML, may be fractional); 0 = default */
	uint64_t read_timeout_ms;    /* timeouts.read; 0 = default */
	bool omit_empty_headers;
	bool omit_empty_query;
	/* dummy */
	int http_code;             /* default 200 */
	struct spec_kv *http_headers;
	size_t num_http_headers;
	struct spec_kv *content;   /* media type -> body; "*" is the default */
	size_t num_content;
	/* cloud_functions and serverless_containers */
	char *target_id;           /* function_id or container_id */
	int target_line;           /* where it is written */
	char *tag;                 /* cloud_functions tag (may hold placeholders); NULL: $latest */
	bool payload_v1;           /* payload_format_version '1.0' (default '0.1') */
	char *context;             /* `context` as compact JSON text (placeholders inside
				    * strings), or NULL */
	char *operation_id;        /* the operation's operationId, or a 64-hex stand-in */
	/* the operation's declared `parameters` (path item's merged in):
	 * what a {name} placeholder is filled from */
	struct spec_param *params;
	size_t num_params;
};

/* An authorizer: components.securitySchemes.NAME with
 * x-yc-apigateway-authorizer (spec_auth.c; YANDEX-FIDELITY.md §1.1). */
enum auth_type { AUTH_JWT, AUTH_FUNCTION };

/* Where the credential is: identitySource.in (jwt), the scheme's `in`
 * (apiKey) or the Authorization header (http basic / bearer). */
enum auth_in { AUTH_IN_HEADER, AUTH_IN_QUERY, AUTH_IN_COOKIE };

struct spec_authorizer {
	char *name; /* the securitySchemes key */
	int line;   /* of x-yc-apigateway-authorizer */
	enum auth_type type;
	enum auth_in in;
	char *source;  /* header, query parameter or cookie name */
	char *prefix;  /* jwt identitySource.prefix, "" when none */
	uint64_t result_ttl_ms; /* authorizer_result_ttl_in_seconds; 0: no cache */
	bool cache_by_uri;      /* authorizer_result_caching_mode: uri */
	/* jwt */
	char *jwks_uri;
	uint64_t jwk_ttl_ms;    /* jwkTtlInSeconds; 0: keys not cached */
	char **issuers, **audiences, **required_claims;
	size_t num_issuers, num_audiences, num_required_claims;
	/* function (parsed and kept; not run yet) */
	char *function_id, *tag;
	char *scheme;           /* "basic", "bearer" or NULL (apiKey) */
};

/* The authorizer a WebSocket handshake must pass on a route. */
struct spec_security {
	unsigned authorizer; /* 1-based index into spec.authorizers; 0: none */
	char **scopes;       /* security: - NAME: [scopes] */
	size_t num_scopes;
};

enum seg_kind { SEG_LITERAL, SEG_PARAM, SEG_GREEDY };

struct route_seg {
	enum seg_kind kind;
	char *text; /* literal text, or the parameter name without braces and '+' */
};

struct route {
	char *path; /* the template as written, e.g. "/chat/{room}" */
	int line;
	struct route_seg *segs;
	size_t num_segs;
	struct integration connect, message, disconnect; /* type NONE when absent */
	struct spec_security security; /* checked at the handshake (spec_auth.c) */
};

struct spec {
	struct route *routes; /* paths with at least one WebSocket operation */
	size_t num_routes;
	bool keep_trailing_slash; /* x-yc-apigateway: ignoreTrailingSlashes: false */
	struct spec_authorizer *authorizers; /* those some route's security names */
	size_t num_authorizers;
	char **warnings;          /* "NAME:LINE: ..." lines for the log, e.g. ignored extensions */
	size_t num_warnings;
	unsigned refs; /* spec_hold.c: holders of a shared spec (0: not shared) */
	void *rt;      /* the server's runtime state for this spec (auth.c), or NULL */
	void (*rt_free)(void *rt); /* frees rt when the last reference drops */
};

/* A spec variable's value from outside the spec (--var NAME=VALUE or
 * WSGW_VAR_NAME); origin names it in messages, e.g. "--var". */
struct spec_var {
	const char *name;
	const char *value;
	const char *origin;
};

/* One captured path parameter: a view into the matched path. */
struct route_param {
	const char *name;
	const char *value;
	size_t value_len;
};

struct route_match {
	size_t num_params;
	struct route_param params[SPEC_MAX_PARAMS];
};

/* Parses an OpenAPI 3 document. Rules:
 * - `x-yc-apigateway: variables: NAME: {default, enum, description}` are
 *   substituted as ${var.NAME} in every scalar of the document (keys and
 *   $ref strings too) before anything else is read; a value from vars
 *   beats the default; a variable with neither, a value outside `enum`, a
 *   ${var.X} of an undeclared X and a var naming no variable are errors;
 * - a mapping {$ref: "#/json/pointer"} stands for the node it points at
 *   (local references only; chains followed, cycles refused);
 * - `x-yc-apigateway: ignoreTrailingSlashes` (default true), the other keys
 *   of x-yc-apigateway and top-level / path / operation x-yc-* extensions
 *   wsgw does not implement are accepted with one warning each;
 * - top level must be a mapping with `openapi: 3.x` and `paths`;
 * - a path template starts with '/'; segments are literals or one whole
 *   `{name}` or (once per template) a greedy `{name+}`; names are
 *   [A-Za-z0-9_.-]+ and unique within the path; at most SPEC_MAX_PARAMS;
 * - under a path, `x-yc-apigateway-websocket-connect` / `-message` /
 *   `-disconnect` each hold a mapping with one `x-yc-apigateway-integration`
 *   mapping whose `type` is `http` (needs `url`: http:// or https://), `dummy`
 *   (`http_code`, `http_headers`, `content`), `cloud_functions` (needs
 *   `function_id`; `tag`, `payload_format_version` '0.1' or '1.0',
 *   `context`), `serverless_containers` (needs `container_id`; `context`) or
 *   `echo` (wsgw's own); any other type (object_storage, …) is refused
 *   naming the path and type;
 * - a path with connect and/or disconnect but no message is a server-push
 *   path (message.type INTEG_NONE); paths with none of the three (plain
 *   HTTP operations) are ignored;
 * - `parameters` (on the path item and on the operation; `in` path, query,
 *   header or cookie) name what {placeholders} are filled from;
 * - a greedy `{name+}` may stand anywhere in the template, once;
 * - `service_account_id` / `serviceAccountId` in an integration is
 *   accepted and ignored;
 * - `security` (top level, or an operation's own; `[]` opts out) names a
 *   components.securitySchemes entry with x-yc-apigateway-authorizer of
 *   type jwt or function (spec_auth.c): one requirement of one scheme per
 *   operation; a route's connect and message operations must agree (the
 *   handshake is checked once); unknown authorizer keys and types are
 *   errors; a function authorizer is kept with a warning (not run yet);
 * - unknown keys inside an integration are errors (typos must not pass);
 * - `timeouts: {connect: N, read: N}` in seconds (> 0, ≤ 3600, fractions ok);
 * - `headers` / `query` / `http_headers` values: scalar or a sequence of
 *   scalars (joined with ", " for headers and "," for query).
 * Returns 0, or ERR_INVAL with err = "NAME:LINE: message" (LINE 1-based,
 * the line of the offending node), or ERR_NOMEM. *out is untouched on error. */
int spec_parse(const char *name, const char *text, size_t len, struct spec *out, char *err,
	       size_t errlen);

/* spec_parse with variable values from outside the spec (may be NULL, 0). */
int spec_parse_vars(const char *name, const char *text, size_t len, const struct spec_var *vars,
		    size_t num_vars, struct spec *out, char *err, size_t errlen);

/* Reads FILE and parses it; errors as above ("FILE: cannot read: ..." for
 * I/O errors). */
int spec_load_file(const char *path, const struct spec_var *vars, size_t num_vars,
		   struct spec *out, char *err, size_t errlen);

/* What fills placeholder {name} of integration `in` on route r: a
 * declared parameter, a path parameter, or one of the gateway's own event
 * headers (X-Yc-Apigateway-Websocket-*). Returns a short description,
 * e.g. "header parameter", or NULL when it is none of these (then it is
 * filled only if the client's handshake carries a header of that name,
 * and sent literally otherwise). */
/* Length of the name of the placeholder starting at p ("{name}", name of
 * [A-Za-z0-9_.-]), or 0 when p does not start one. */
size_t spec_placeholder_len(const char *p);

/* Writes what --check-spec shows of s: each route with its operations,
 * their integrations and what fills each placeholder, then the warnings. */
void spec_describe(const struct spec *s, FILE *out);

const char *spec_placeholder_source(const struct route *r, const struct integration *in,
				    const char *name, size_t len);

void spec_free(struct spec *s);

/* The default spec when none is given: one route "/{path+}" ... that also
 * matches "/", with an echo message integration. Returns 0 or ERR_NOMEM. */
int spec_default(struct spec *out);

/* Finds the route for a request path (no query string). Literal segments
 * beat {param}, which beats {greedy+}, compared segment by segment from the
 * left, so "/chat/lobby" beats "/chat/{room}". Percent-encoded bytes are
 * matched as they are written. Unless s->keep_trailing_slash, one trailing
 * '/' of the path is ignored (as the cloud does by default). Returns the
 * route (params filled) or NULL. */
const struct route *spec_match(const struct spec *s, const char *path, size_t len,
			       struct route_match *m);

/* The authorizer r's handshake must pass, or NULL. */
const struct spec_authorizer *spec_route_authorizer(const struct spec *s, const struct route *r);

/* spec_hold.c — a spec shared by reference, so that a reload (SIGHUP) can
 * replace the server's spec while connections matched against the old one
 * keep their routes and integrations until they end.
 *
 * spec_new loads FILE (spec_load_file), or the default echo spec when path
 * is NULL or empty, into a heap spec with one reference (the caller's).
 * Returns 0, ERR_INVAL (err says why) or ERR_NOMEM; *out is set only on
 * success. */
int spec_new(const char *path, const struct spec_var *vars, size_t num_vars, struct spec **out,
	     char *err, size_t errlen);

/* Takes one more reference to s (NULL: none); returns s. */
struct spec *spec_hold(struct spec *s);

/* Drops one reference (NULL: nothing); the last one frees s, its routes
 * and integrations, so no pointer into it may outlive the reference.
 * rt_free(rt), when set, runs first, while the spec is still whole. */
void spec_drop(struct spec *s);

#endif
