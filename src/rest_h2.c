/* rest_h2.c — REST requests that arrive over HTTP/2 on the management
 * port (router.c sends /apigateways/ paths here): the body collected up to
 * --rest-max-body, the request run by rest.c, its JSON response submitted
 * on the stream. The session, the streams and their budgets are grpc.c's;
 * this file never touches a socket.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "grpc_int.h"

static void respond(struct grpc_session *s, struct stream *st, struct rest_response *r)
{
	char status[4], len[24];
	nghttp2_nv hdrs[7];
	size_t n = 0;
	bool head = st->method_len == 4 && memcmp(st->method, "HEAD", 4) == 0;
	nghttp2_data_provider prd = {.source.ptr = st, .read_callback = grpc_read_resp};

	snprintf(status, sizeof status, "%d", r->status);
	snprintf(len, sizeof len, "%zu", r->body_len);
	hdrs[n++] = nv(":status", status, strlen(status));
	hdrs[n++] = nv("content-type", r->content_type, strlen(r->content_type));
	hdrs[n++] = nv("content-length", len, strlen(len));
	if (r->allow)
		hdrs[n++] = nv("allow", r->allow, strlen(r->allow));
	if (r->www_authenticate)
		hdrs[n++] = NV_LIT("www-authenticate", "Bearer");
	hdrs[n++] = nv("x-server-request-id", r->ids.request, strlen(r->ids.request));
	hdrs[n++] = nv("x-server-trace-id", r->ids.trace, strlen(r->ids.trace));
	st->responded = true;
	st->status = r->status;
	st->resp = (uint8_t *)r->body; /* handed over: freed with the stream */
	st->resp_len = head ? 0 : r->body_len;
	r->body = NULL;
	nghttp2_submit_response(s->h2, st->id, hdrs, n, head || !st->resp_len ? NULL : &prd);
}

/* The REST call of a stream finished (inline, or later): answer it. */
static void on_done(struct rest_call *rc)
{
	struct stream *st = (struct stream *)((char *)rc - offsetof(struct stream, u.rc));
	struct grpc_session *s = st->s;

	st->waiting = false;
	respond(s, st, &rc->resp);
	rest_response_fini(&rc->resp);
	grpc_stream_release(s, st);
	grpc_session_notify(s);
}

void rest_h2_dispatch(struct grpc_session *s, struct stream *st, int http_status, const char *why)
{
	struct rest_request req = {
	    .method = st->method ? st->method : "",
	    .method_len = st->method_len,
	    .target = st->path ? st->path : "",
	    .target_len = st->path_len,
	    .authorization = st->authorization,
	    .authorization_len = st->authorization_len,
	    .body = st->raw,
	    .body_len = st->raw_len,
	    .transport = ROUTER_HTTP2,
	};
	struct rest_response r;

	if (!http_status) {
		st->u.rc = (struct rest_call){.done = on_done};
		st->waiting = true;
		rest_start(s->srv, &req, &st->u.rc); /* on_done answers */
		return;
	}
	rest_response_init(s->srv, &r);
	rest_error(&r, http_status,
	           http_status == 408 || http_status == 504 ? API_DEADLINE_EXCEEDED
	                                                    : API_RESOURCE_EXHAUSTED,
	           why);
	respond(s, st, &r);
	rest_response_fini(&r);
	grpc_stream_release(s, st);
}

void rest_h2_body_append(struct grpc_session *s, struct stream *st, const uint8_t *p, size_t n)
{
	size_t max = s->srv->cfg->rest_max_body, cap = st->raw_cap ? st->raw_cap : 4096;
	uint8_t *grown;

	if (n > max - st->raw_len) {
		rest_h2_dispatch(s, st, 413, "request body is larger than --rest-max-body");
		return;
	}
	if (st->raw_len + n > st->raw_cap) {
		while (cap < st->raw_len + n)
			cap *= 2;
		if (cap > max)
			cap = max;
		grown = realloc(st->raw, cap);
		if (!grown) {
			rest_h2_dispatch(s, st, 503, "out of memory");
			return;
		}
		st->raw = grown;
		st->raw_cap = cap;
	}
	memcpy(st->raw + st->raw_len, p, n);
	st->raw_len += n;
}
