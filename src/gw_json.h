/* gw_json.h — the REST mirror of wsgw.v1 under /wsgw/v1/ (README,
 * "Extension API (wsgw.v1)"): request paths, query strings and JSON bodies
 * -> gw_req; gw_call results -> JSON in the protobuf JSON mapping
 * (lowerCamelCase, bytes as base64, Timestamps as RFC 3339). Pure: rest.c
 * routes, checks the token, calls and answers.
 */
#ifndef WSGW_GW_JSON_H
#define WSGW_GW_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "gw_api.h"
#include "rest.h"
#include "router.h"

/* A parsed request; req's views point into the heap pieces held here. */
struct gw_json_request {
	struct gw_req req;
	char *buf;     /* decoded path pieces and query values */
	uint8_t *data; /* decoded payload */
	void *json;    /* the body (json_t), while req views into it */
};

/* Parses a REST request of handler h (m from router_find). Returns 0, or
 * an HTTP status (400, 404) with the reason in err. */
int gw_json_parse(const struct rest_request *req, enum router_handler h,
                  const struct router_match *m, struct gw_json_request *out, char *err,
                  size_t errlen);
void gw_json_request_free(struct gw_json_request *r);

/* The JSON body of a successful call (heap, NUL-terminated), or NULL when
 * out of memory. */
char *gw_json_encode(const struct gw_call *call, size_t *len);

/* Parses an RFC 3339 date-time ("2026-12-05T16:00:00.5Z", offsets
 * allowed) into ns since the epoch. Returns 0 or ERR_INVAL. */
int gw_json_parse_time(const char *s, size_t n, int64_t *ns);

#endif
