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

#define SPEC_MAX_PARAMS 16

enum integ_type { INTEG_NONE = 0, INTEG_ECHO, INTEG_DUMMY, INTEG_HTTP };

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
};

struct spec {
	struct route *routes; /* only paths with a message operation */
	size_t num_routes;
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
 * - top level must be a mapping with `openapi: 3.x` and `paths`;
 * - a path template starts with '/'; segments are literals or one whole
 *   `{name}` or, as the last segment only, a greedy `{name+}`; names are
 *   [A-Za-z0-9_.-]+ and unique within the path; at most SPEC_MAX_PARAMS;
 * - under a path, `x-yc-apigateway-websocket-connect` / `-message` /
 *   `-disconnect` each hold a mapping with one `x-yc-apigateway-integration`
 *   mapping whose `type` is `http` (needs `url`: http:// or https://), `dummy`
 *   (`http_code`, `http_headers`, `content`) or `echo` (wsgw's own); any
 *   other type (cloud_functions, …) is refused naming the path and type;
 * - a path that has connect or disconnect but no message is an error; paths
 *   with none of the three (plain HTTP operations) are ignored;
 * - unknown keys inside an integration are errors (typos must not pass);
 * - `timeouts: {connect: N, read: N}` in seconds (> 0, ≤ 3600, fractions ok);
 * - `headers` / `query` / `http_headers` values: scalar or a sequence of
 *   scalars (joined with ", " for headers and "," for query).
 * Returns 0, or ERR_INVAL with err = "NAME:LINE: message" (LINE 1-based,
 * the line of the offending node), or ERR_NOMEM. *out is untouched on error. */
int spec_parse(const char *name, const char *text, size_t len, struct spec *out, char *err,
	       size_t errlen);

/* Reads FILE and parses it; errors as above ("FILE: cannot read: ..." for
 * I/O errors). */
int spec_load_file(const char *path, struct spec *out, char *err, size_t errlen);

void spec_free(struct spec *s);

/* The default spec when none is given: one route "/{path+}" ... that also
 * matches "/", with an echo message integration. Returns 0 or ERR_NOMEM. */
int spec_default(struct spec *out);

/* Finds the route for a request path (no query string). Literal segments
 * beat {param}, which beats {greedy+}, compared segment by segment from the
 * left, so "/chat/lobby" beats "/chat/{room}". Percent-encoded bytes are
 * matched as they are written. Returns the route (params filled) or NULL. */
const struct route *spec_match(const struct spec *s, const char *path, size_t len,
			       struct route_match *m);

#endif
