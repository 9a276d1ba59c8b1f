/* grpc.c — gRPC over HTTP/2 (PROTOCOL-HTTP2.md) on an nghttp2 server
 * session fed from memory: request headers are checked as they arrive,
 * DATA is reassembled by grpc_msg's deframer, and at END_STREAM the call
 * is decoded (api_pb), run (api) and answered with headers, one message
 * and trailers — or, for errors, the trailers-only form.
 *
 * Never touches a socket (mgmt.c does) and never uses nghttp2's socket
 * callbacks. Every stream is unary; its body is capped by --grpc-max-body,
 * and what all streams hold by --mgmt-max-buffer (this connection) and
 * --mgmt-max-buffer-total (the whole port). A header block is capped in
 * fields and decoded bytes (an HPACK bomb ends the connection), the token
 * is checked on the HEADERS before any body is kept, and a stream that
 * stalls is answered at --request-timeout.
 *
 * router.c says what each stream is: a gRPC call (here) or a REST request,
 * which rest_h2.c runs on the same session and the same budgets.
 */
#include "grpc.h"

#include <nghttp2/nghttp2.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "api_pb.h"
#include "ctx.h"
#include "err.h"
#include "grpc_int.h"
#include "grpc_msg.h"
#include "gw_pb.h"
#include "log.h"
#include "obuf.h"

#define STREAM_WINDOW (1 << 20)
#define CONN_WINDOW (16 << 20)
/* One header block (RFC 9113 §6.5.2 size: name + value + 32 per field).
 * Checked as fields are decoded, so a block of one-byte references to a
 * large table entry costs at most this much work before the connection
 * ends. Advertised as SETTINGS_MAX_HEADER_LIST_SIZE. */
#define MAX_HEADER_LIST (16 << 10)
#define MAX_HEADER_FIELDS 100

static struct stream *stream_of(struct grpc_session *s, int32_t id)
{
	return nghttp2_session_get_stream_user_data(s->h2, id);
}

/* Drops what the stream kept of its request and gives the bytes back to
 * the connection's and the port's budgets. */
void grpc_stream_release(struct grpc_session *s, struct stream *st)
{
	grpc_deframer_fini(&st->body);
	free(st->raw);
	st->raw = NULL;
	st->raw_len = st->raw_cap = 0;
	free(st->msg);
	st->msg = NULL;
	st->msg_len = 0;
	s->buffered -= st->buffered;
	s->srv->mgmt_buffered -= st->buffered;
	st->buffered = 0;
}

/* Charges n more request bytes; false when a budget would overflow. */
static bool charge(struct grpc_session *s, struct stream *st, size_t n)
{
	const struct config *cfg = s->srv->cfg;

	if (n > cfg->mgmt_max_buffer - s->buffered ||
	    n > cfg->mgmt_max_buffer_total - s->srv->mgmt_buffered)
		return false;
	st->buffered += n;
	s->buffered += n;
	s->srv->mgmt_buffered += n;
	return true;
}

/* Drops the call under way, if any: its completion never comes. */
static void stop_waiting(struct stream *st)
{
	if (!st->waiting)
		return;
	st->waiting = false;
	if (st->rest) {
		rest_cancel(&st->u.rc);
	} else if (st->call >= CALL_GW_FIRST) {
		gw_call_cancel(&st->u.gw);
		gw_call_fini(&st->u.gw);
	} else {
		api_call_cancel(&st->u.api);
	}
}

/* A call finished after the feed that started it: its answer is queued in
 * nghttp2, so the connection must write. Never from inside mem_recv,
 * where nghttp2 forbids mem_send (the feed's caller flushes then). */
void grpc_session_notify(struct grpc_session *s)
{
	if (!s->feeding && s->on_output)
		s->on_output(s->output_arg);
}

static void stream_free(struct grpc_session *s, struct stream *st)
{
	stop_waiting(st);
	if (st->prev)
		st->prev->next = st->next;
	else
		s->streams = st->next;
	if (st->next)
		st->next->prev = st->prev;
	if (!s->streams)
		s->idle_since_ms = s->srv->loop.now_ms;
	grpc_stream_release(s, st);
	free(st->method);
	free(st->path);
	free(st->authorization);
	free(st->resp);
	free(st);
}


/* Draws fresh ids into *ids and sets hdrs[0..1] to x-server-request-id
 * and x-server-trace-id (Yandex Cloud's response metadata) pointing at
 * them; returns 2, the count. nghttp2 copies header values on submit, so
 * ids may live on the caller's stack. */
static size_t add_ids(struct grpc_session *s, struct api_request_ids *ids, nghttp2_nv *hdrs)
{
	api_request_ids(s->srv, ids);
	hdrs[0] = nv("x-server-request-id", ids->request, API_REQUEST_ID_LEN);
	hdrs[1] = nv("x-server-trace-id", ids->trace, API_REQUEST_ID_LEN);
	return 2;
}

/* Counts the answer of a gRPC stream (metrics.h). */
static void count(struct grpc_session *s, const struct stream *st, enum api_code code)
{
	unsigned m;

	switch (st->call) {
	case CALL_GET: m = METRICS_API_GET; break;
	case CALL_SEND: m = METRICS_API_SEND; break;
	case CALL_DISCONNECT: m = METRICS_API_DISCONNECT; break;
	case CALL_HEALTH: m = METRICS_API_HEALTH; break;
	default: /* wsgw.v1 in its own order, else no such method */
		m = st->call >= CALL_GW_FIRST && st->call <= CALL_GW_LAST
			    ? metrics_api_gw(st->call - CALL_GW_FIRST + GW_LIST)
			    : METRICS_API_OTHER;
	}
	metrics_api_done(&s->srv->metrics, METRICS_GRPC, m, (unsigned)code,
			 metrics_clock_ns() - st->t0_ns);
}

/* Trailers-only response: HEADERS with grpc-status and END_STREAM. If the
 * client is still sending, RST_STREAM(NO_ERROR) tells it to stop. */
static void respond_error(struct grpc_session *s, struct stream *st, enum api_code code,
			  const char *message, int http_status)
{
	char status[12], enc[512], hs[4], details[API_PB_STATUS_BIN_MAX];
	size_t enc_len = grpc_percent_encode(message, strlen(message), enc, sizeof enc), n;
	nghttp2_nv hdrs[8];
	struct api_request_ids ids;

	snprintf(status, sizeof status, "%d", (int)code);
	snprintf(hs, sizeof hs, "%d", http_status);
	hdrs[0] = nv(":status", hs, strlen(hs));
	hdrs[1] = NV_LIT("content-type", "application/grpc");
	hdrs[2] = nv("grpc-status", status, strlen(status));
	hdrs[3] = nv("grpc-message", enc, enc_len);
	hdrs[4] = NV_LIT("grpc-accept-encoding", GRPC_ACCEPT_ENCODING);
	st->responded = true;
	st->status = (int)code;
	count(s, st, code);
	n = 5 + add_ids(s, &ids, hdrs + 5);
	/* The standard rich-error trailer: google.rpc.Status with RequestInfo */
	if (api_pb_status_bin(code, message, ids.request, details, sizeof details))
		hdrs[n++] = nv("grpc-status-details-bin", details, strlen(details));
	nghttp2_submit_response(s->h2, st->id, hdrs, n, NULL);
	log_debug_f(LOG_FIELDS(LF_STR("request_id", ids.request), LF_INT("code", code)),
		    "grpc stream %d: %s: %s", st->id, api_code_name(code), message);
}

ssize_t grpc_read_resp(nghttp2_session *h2, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
		       nghttp2_data_source *src, void *user)
{
	struct stream *st = src->ptr;
	size_t n = st->resp_len - st->resp_off;
	nghttp2_nv trailers[1] = {NV_LIT("grpc-status", "0")};

	(void)user;
	if (n > len)
		n = len;
	memcpy(buf, st->resp + st->resp_off, n);
	st->resp_off += n;
	if (st->resp_off == st->resp_len) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		if (st->rest)
			return (ssize_t)n;
		*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
		if (nghttp2_submit_trailer(h2, id, trailers, 1) != 0)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	return (ssize_t)n;
}

/* Sends headers, the message already in st->resp, then OK trailers. */
static void respond_ok(struct grpc_session *s, struct stream *st)
{
	nghttp2_nv hdrs[5] = {NV_LIT(":status", "200"), NV_LIT("content-type", "application/grpc"),
			      NV_LIT("grpc-accept-encoding", GRPC_ACCEPT_ENCODING)};
	nghttp2_data_provider prd = {.source.ptr = st, .read_callback = grpc_read_resp};
	struct api_request_ids ids;

	st->responded = true;
	st->status = 0;
	count(s, st, API_OK);
	nghttp2_submit_response(s->h2, st->id, hdrs, 3 + add_ids(s, &ids, hdrs + 3), &prd);
}

static bool set_resp(struct stream *st, size_t len)
{
	st->resp = malloc(GRPC_PREFIX_LEN + len);
	if (!st->resp)
		return false;
	grpc_prefix_encode(st->resp, (uint32_t)len);
	st->resp_len = GRPC_PREFIX_LEN + len;
	return true;
}

/* The api call of a stream finished (inline, or later): answer it. */
static void on_call_done(struct api_call *call)
{
	struct stream *st = (struct stream *)((char *)call - offsetof(struct stream, u.api));
	struct grpc_session *s = st->s;
	struct api_status *as = &call->st;
	size_t n = 0;

	st->waiting = false;
	if (as->code == API_OK) {
		if (st->call == CALL_GET)
			n = api_pb_encode_connection(&call->conn, NULL, 0);
		if (!set_resp(st, n)) /* Send and Disconnect: an empty message */
			api_fail(as, API_RESOURCE_EXHAUSTED, "out of memory");
		else if (st->call == CALL_GET)
			api_pb_encode_connection(&call->conn, st->resp + GRPC_PREFIX_LEN, n);
	}
	if (as->code == API_OK)
		respond_ok(s, st);
	else
		respond_error(s, st, as->code, as->message, 200);
	grpc_stream_release(s, st);
	grpc_session_notify(s);
}

/* A wsgw.v1 call finished (inline, or after its last slice): answer it. */
static void on_gw_done(struct api_call *call)
{
	struct stream *st = (struct stream *)((char *)call - offsetof(struct stream, u.gw.api));
	struct grpc_session *s = st->s;
	size_t n = 0;

	st->waiting = false;
	if (call->st.code == API_OK) {
		st->resp = gw_pb_encode(&st->u.gw, GRPC_PREFIX_LEN, &n);
		if (st->resp) {
			grpc_prefix_encode(st->resp, (uint32_t)(n - GRPC_PREFIX_LEN));
			st->resp_len = n;
		} else {
			api_fail(&call->st, API_RESOURCE_EXHAUSTED, "out of memory");
		}
	}
	gw_call_fini(&st->u.gw);
	if (call->st.code == API_OK)
		respond_ok(s, st);
	else
		respond_error(s, st, call->st.code, call->st.message, 200);
	grpc_stream_release(s, st);
	grpc_session_notify(s);
}

static void start_gw(struct grpc_session *s, struct stream *st)
{
	struct gw_pb_request r;

	if (gw_pb_decode((enum gw_kind)(st->call - CALL_GW_FIRST + GW_LIST), st->msg, st->msg_len,
			 &r) < 0) {
		respond_error(s, st, API_INVALID_ARGUMENT,
			      "request message is not a valid protobuf encoding", 200);
		return;
	}
	st->u.gw = (struct gw_call){.api.done = on_gw_done};
	st->waiting = true;
	gw_start(s->srv, &r.req, &st->u.gw);
	gw_pb_request_free(&r);
}

/* grpc.health.v1: answered here, from the drain state. */
static void health(struct grpc_session *s, struct stream *st, const struct api_pb_request *req)
{
	static const char svc[] = "yandex.cloud.serverless.apigateway.websocket.v1."
				  "ConnectionService";
	bool known = req->service_len == 0 || (req->service_len == sizeof svc - 1 &&
					       memcmp(req->service, svc, sizeof svc - 1) == 0);
	struct api_status as;
	uint8_t buf[8];
	size_t n;

	if (!known) {
		api_fail(&as, API_NOT_FOUND, "unknown service %.*s", (int)req->service_len,
			 req->service);
		respond_error(s, st, as.code, as.message, 200);
		return;
	}
	n = api_pb_encode_health(s->srv->draining ? 2 : 1, buf, sizeof buf);
	if (!set_resp(st, n)) {
		respond_error(s, st, API_RESOURCE_EXHAUSTED, "out of memory", 200);
		return;
	}
	memcpy(st->resp + GRPC_PREFIX_LEN, buf, n);
	respond_ok(s, st);
}

/* Starts the call; on_call_done answers (before this returns when the
 * connection is this node's). req's views need only live until then. */
static void start_call(struct grpc_session *s, struct stream *st, const struct api_pb_request *req)
{
	st->u.api = (struct api_call){.done = on_call_done};
	st->waiting = true;
	switch (st->call) {
	case CALL_GET:
		api_get(s->srv, req->id, req->id_len, &st->u.api);
		break;
	case CALL_SEND:
		api_send(s->srv, req->id, req->id_len, req->data, req->data_len, req->type,
			 &st->u.api);
		break;
	case CALL_DISCONNECT:
		api_disconnect(s->srv, req->id, req->id_len, &st->u.api);
		break;
	default: /* check_headers refused every other call */
		st->waiting = false;
		respond_error(s, st, API_UNIMPLEMENTED, "unknown method", 200);
	}
}

static const enum api_pb_kind kinds[] = {
	[CALL_GET] = API_PB_GET,
	[CALL_SEND] = API_PB_SEND,
	[CALL_DISCONNECT] = API_PB_DISCONNECT,
	[CALL_HEALTH] = API_PB_HEALTH_CHECK,
};

/* Why a complete request cannot be run, or NULL when it can. */
static const char *request_problem(struct grpc_session *s, struct stream *st, enum api_code *code)
{
	*code = API_INVALID_ARGUMENT;
	if (st->deadline_ms && s->srv->loop.now_ms >= st->deadline_ms) {
		*code = API_DEADLINE_EXCEEDED;
		return "deadline exceeded";
	}
	if (st->messages == 0)
		return "request message missing";
	if (st->messages != 1 || !grpc_deframer_is_idle(&st->body))
		return "a unary call takes exactly one request message";
	return NULL;
}

/* PROTOCOL-HTTP2.md: a message with the Compressed-Flag is in the
 * grpc-encoding of the call. Replaces st->msg with its inflation, at most
 * --grpc-max-body bytes. Returns why it cannot, or NULL. */
static const char *decompress(struct grpc_session *s, struct stream *st, enum api_code *code)
{
	uint8_t *out;
	size_t out_len;
	int rc;

	*code = API_UNIMPLEMENTED;
	if (!st->msg_compressed)
		return NULL;
	if (st->encoding == GRPC_ENC_IDENTITY)
		return "compressed flag set without a grpc-encoding; use identity, deflate or gzip";
	if (st->encoding == GRPC_ENC_UNKNOWN)
		return "grpc-encoding not supported; use identity, deflate or gzip";
	rc = grpc_inflate((enum grpc_encoding)st->encoding, st->msg, st->msg_len,
			  s->srv->cfg->grpc_max_body, &out, &out_len);
	*code = rc == ERR_PROTO ? API_INTERNAL : API_RESOURCE_EXHAUSTED;
	if (rc == ERR_LIMIT)
		return "decompressed request message is larger than --grpc-max-body";
	if (rc == ERR_PROTO)
		return "compressed request message is corrupt or truncated";
	if (rc < 0)
		return "out of memory";
	free(st->msg);
	st->msg = out;
	st->msg_len = out_len;
	st->msg_compressed = false;
	return NULL;
}

/* The request is complete: check, decode, run, answer. */
static void dispatch(struct grpc_session *s, struct stream *st)
{
	struct api_pb_request req;
	enum api_code code;
	const char *problem = request_problem(s, st, &code);

	st->t0_ns = s->srv->loop.now_ns;
	if (!problem)
		problem = decompress(s, st, &code);
	if (problem) {
		respond_error(s, st, code, problem, 200);
		grpc_stream_release(s, st);
		return;
	}
	if (st->call >= CALL_GW_FIRST) {
		start_gw(s, st);
		if (!st->waiting)
			grpc_stream_release(s, st);
		return;
	}
	if (api_pb_decode(kinds[st->call], st->msg, st->msg_len, &req) < 0) {
		respond_error(s, st, API_INVALID_ARGUMENT,
			      "request message is not a valid protobuf encoding", 200);
		grpc_stream_release(s, st);
		return;
	}
	if (st->call == CALL_HEALTH)
		health(s, st, &req);
	else
		start_call(s, st, &req);
	api_pb_request_free(&req);
	if (!st->waiting)
		grpc_stream_release(s, st);
}

/* The token, checked once by router.c. A malformed authorization field
 * was never kept (on_invalid_header): absent. */
static bool authorized(struct grpc_session *s, const struct stream *st)
{
	return router_token_ok(s->srv->auth_token, st->authorization, st->authorization_len);
}

/* Checks that can be made on the headers alone, before any DATA. */
static bool check_headers(struct grpc_session *s, struct stream *st)
{
	if (!st->post) {
		respond_error(s, st, API_UNIMPLEMENTED, "gRPC requires POST", 405);
		return false;
	}
	if (!st->grpc_ct) {
		respond_error(s, st, API_UNKNOWN, "content-type must be application/grpc", 415);
		return false;
	}
	if (st->call == CALL_UNKNOWN) {
		respond_error(s, st, API_UNIMPLEMENTED, "unknown service or method", 200);
		return false;
	}
	/* Health probes carry no credentials (router.c: a public route). */
	if (st->call != CALL_HEALTH && !authorized(s, st)) {
		respond_error(s, st, API_UNAUTHENTICATED,
			      "missing or invalid bearer token in authorization", 200);
		return false;
	}
	if (s->srv->draining && st->call != CALL_HEALTH) {
		respond_error(s, st, API_UNAVAILABLE, "gateway is shutting down", 200);
		return false;
	}
	return true;
}

static int on_begin_headers(nghttp2_session *h2, const nghttp2_frame *frame, void *user)
{
	struct grpc_session *s = user;
	struct stream *st;

	if (frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	s->block_bytes = 0; /* every header block, trailers too, is counted */
	s->block_fields = 0;
	if (frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	st = calloc(1, sizeof *st);
	if (!st)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	st->id = frame->hd.stream_id;
	st->s = s;
	st->begun_ms = s->srv->loop.now_ms;
	st->t0_ns = s->srv->loop.now_ns;
	grpc_deframer_init(&st->body, s->srv->cfg->grpc_max_body);
	st->next = s->streams;
	if (s->streams)
		s->streams->prev = st;
	s->streams = st;
	nghttp2_session_set_stream_user_data(h2, st->id, st);
	return 0;
}

static bool is(const uint8_t *p, size_t n, const char *lit)
{
	return n == strlen(lit) && memcmp(p, lit, n) == 0;
}

/* Copies a header value the REST path needs after the headers are gone. */
static void keep(char **dst, size_t *dst_len, const uint8_t *v, size_t n)
{
	free(*dst);
	*dst = malloc(n + 1);
	*dst_len = *dst ? n : 0;
	if (*dst) {
		memcpy(*dst, v, n);
		(*dst)[n] = '\0';
	}
}

/* Counts a decoded field against the block's caps. False: over them, the
 * connection ends (a fatal callback error, then ENHANCE_YOUR_CALM). */
static bool count_field(struct grpc_session *s, size_t namelen, size_t valuelen)
{
	s->block_fields++;
	s->block_bytes += namelen + valuelen + 32;
	if (s->block_fields <= MAX_HEADER_FIELDS && s->block_bytes <= MAX_HEADER_LIST)
		return true;
	s->calm = true;
	return false;
}

static int on_header(nghttp2_session *h2, const nghttp2_frame *frame, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *user)
{
	struct grpc_session *s = user;
	struct stream *st = stream_of(s, frame->hd.stream_id);
	uint64_t ns;

	(void)h2;
	(void)flags;
	if (!count_field(s, namelen, valuelen))
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	if (!st || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	if (is(name, namelen, ":method")) {
		st->post = is(value, valuelen, "POST");
		keep(&st->method, &st->method_len, value, valuelen);
	} else if (is(name, namelen, ":path")) {
		struct router_match m;
		const struct router_route *r = router_find(ROUTER_HTTP2, "POST", 4,
							   (const char *)value, valuelen, &m);

		st->call = !r || r->rest ? CALL_UNKNOWN : (enum call)r->handler;
		st->rest = r && r->rest;
		/* An unknown path may still turn out to be REST (on_frame_recv) */
		if (!r || st->rest)
			keep(&st->path, &st->path_len, value, valuelen);
	}
	else if (is(name, namelen, "content-type"))
		st->grpc_ct = grpc_content_type_ok((const char *)value, valuelen);
	else if (is(name, namelen, "authorization"))
		keep(&st->authorization, &st->authorization_len, value, valuelen);
	else if (is(name, namelen, "grpc-encoding"))
		st->encoding = (uint8_t)grpc_encoding_parse((const char *)value, valuelen);
	else if (is(name, namelen, "grpc-timeout")) {
		if (grpc_timeout_parse((const char *)value, valuelen, &ns) == 0)
			st->deadline_ms = s->srv->loop.now_ms + (ns + 999999) / 1000000;
	}
	return 0;
}

/* A field nghttp2 found invalid (RFC 9113 §8.2.1). A malformed
 * authorization is simply not a valid token: the stream then gets
 * UNAUTHENTICATED (or 401) with a message, not a reset. Any other invalid
 * field resets the stream, as without this callback. */
static int on_invalid_header(nghttp2_session *h2, const nghttp2_frame *frame, const uint8_t *name,
			     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
			     void *user)
{
	struct grpc_session *s = user;

	(void)h2;
	(void)value;
	(void)flags;
	(void)frame;
	if (!count_field(s, namelen, valuelen))
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	return is(name, namelen, "authorization") ? 0 : NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
}

static int on_frame_recv(nghttp2_session *h2, const nghttp2_frame *frame, void *user)
{
	struct grpc_session *s = user;
	struct stream *st;

	(void)h2;
	if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
		return 0;
	st = stream_of(s, frame->hd.stream_id);
	if (!st || st->responded || st->waiting)
		return 0;
	/* nghttp2 marks the stream half-closed only after this callback, so
	 * remember END_STREAM ourselves. */
	if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
		st->end_stream = true;
	/* A path no route knows, asked without the gRPC content type, is a
	 * REST request: 404 as over HTTP/1.1, not a gRPC error. */
	if (frame->hd.type == NGHTTP2_HEADERS && st->call == CALL_UNKNOWN && !st->rest &&
	    !st->grpc_ct && st->path)
		st->rest = true;
	if (st->rest) {
		/* Without the token, answered on the HEADERS (401, or the
		 * 404/405 rest_handle finds first): no body is ever kept. */
		if (st->end_stream || (frame->hd.type == NGHTTP2_HEADERS && !authorized(s, st)))
			rest_h2_dispatch(s, st, 0, NULL);
		return 0;
	}
	if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST &&
	    !check_headers(s, st))
		return 0;
	if (st->end_stream)
		dispatch(s, st);
	return 0;
}

static int on_data_chunk(nghttp2_session *h2, uint8_t flags, int32_t id, const uint8_t *p,
			 size_t n, void *user)
{
	struct grpc_session *s = user;
	struct stream *st = stream_of(s, id);

	(void)h2;
	(void)flags;
	if (st && st->waiting) /* nghttp2 ends a stream's DATA at END_STREAM: unreachable */
		return 0;
	if (st && !st->responded && !charge(s, st, n)) {
		static const char why[] = "the management port holds too many request bytes "
					  "(--mgmt-max-buffer, --mgmt-max-buffer-total); retry later";

		if (st->rest)
			rest_h2_dispatch(s, st, 503, why);
		else
			respond_error(s, st, API_RESOURCE_EXHAUSTED, why, 200);
		grpc_stream_release(s, st);
		return 0;
	}
	if (st && st->rest && !st->responded) {
		rest_h2_body_append(s, st, p, n);
		return 0;
	}
	while (st && !st->responded && n > 0) {
		int event = GRPC_DEFRAME_MORE;
		int used = grpc_deframer_feed(&st->body, p, n, &event);

		if (used < 0) {
			respond_error(s, st, API_RESOURCE_EXHAUSTED,
				      used == ERR_LIMIT ? "request message is larger than "
							  "--grpc-max-body"
							: "out of memory",
				      200);
			grpc_stream_release(s, st);
			break;
		}
		p += used;
		n -= (size_t)used;
		if (event == GRPC_DEFRAME_MESSAGE) {
			uint8_t *msg;
			size_t len;
			bool compressed;

			grpc_deframer_take(&st->body, &msg, &len, &compressed);
			if (st->messages++ == 0) {
				st->msg = msg;
				st->msg_len = len;
				st->msg_compressed = compressed;
			} else {
				free(msg);
			}
		}
	}
	return 0;
}

/* Answered before the client finished sending: once our last frame is
 * out, RST_STREAM(NO_ERROR) tells it to stop (PROTOCOL-HTTP2.md). Sent
 * from here, not with the response, or it would overtake the response. */
static int on_frame_send(nghttp2_session *h2, const nghttp2_frame *frame, void *user)
{
	struct grpc_session *s = user;
	struct stream *st;

	if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
	    !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
		return 0;
	st = stream_of(s, frame->hd.stream_id);
	if (st && st->responded && !st->end_stream)
		nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_NO_ERROR);
	return 0;
}

static int on_stream_close(nghttp2_session *h2, int32_t id, uint32_t error_code, void *user)
{
	struct grpc_session *s = user;
	struct stream *st = stream_of(s, id);

	(void)h2;
	(void)error_code;
	if (st)
		stream_free(s, st);
	return 0;
}

static nghttp2_session_callbacks *callbacks(void)
{
	nghttp2_session_callbacks *cb;

	if (nghttp2_session_callbacks_new(&cb) != 0)
		return NULL;
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_invalid_header_callback(cb, on_invalid_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
	return cb;
}

struct grpc_session *grpc_session_new(struct server *srv)
{
	struct grpc_session *s = calloc(1, sizeof *s);
	nghttp2_session_callbacks *cb = callbacks();
	nghttp2_option *opt = NULL;
	nghttp2_settings_entry iv[] = {
		{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, srv->cfg->max_streams},
		{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW},
		{NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, MAX_HEADER_LIST},
	};
	int rc = -1;

	if (nghttp2_option_new(&opt) == 0)
		/* "Bearer " (an empty token) must reach the token check and get
		 * UNAUTHENTICATED, not a reset for its trailing space. */
		nghttp2_option_set_no_rfc9113_leading_and_trailing_ws_validation(opt, 1);
	if (s && cb && opt && nghttp2_session_server_new2(&s->h2, cb, s, opt) == 0) {
		s->srv = srv;
		s->idle_since_ms = srv->loop.now_ms;
		rc = nghttp2_submit_settings(s->h2, NGHTTP2_FLAG_NONE, iv, 3);
		if (rc == 0)
			rc = nghttp2_session_set_local_window_size(s->h2, NGHTTP2_FLAG_NONE, 0,
								   CONN_WINDOW);
	}
	if (cb)
		nghttp2_session_callbacks_del(cb);
	if (opt)
		nghttp2_option_del(opt);
	if (rc != 0) {
		grpc_session_free(s);
		return NULL;
	}
	return s;
}

void grpc_session_free(struct grpc_session *s)
{
	if (!s)
		return;
	if (s->h2)
		nghttp2_session_del(s->h2); /* closes streams: on_stream_close frees them */
	while (s->streams)
		stream_free(s, s->streams);
	free(s);
}

void grpc_session_set_notify(struct grpc_session *s, void (*on_output)(void *arg), void *arg)
{
	s->on_output = on_output;
	s->output_arg = arg;
}

int grpc_session_feed(struct grpc_session *s, const uint8_t *p, size_t n)
{
	ssize_t rc;

	s->feeding = true;
	rc = nghttp2_session_mem_recv(s->h2, p, n);
	s->feeding = false;

	if (rc < 0) {
		log_debug("h2 session: %s%s", nghttp2_strerror((int)rc),
			  s->calm ? " (header block over its caps)" : "");
		if (rc != NGHTTP2_ERR_BAD_CLIENT_MAGIC)
			nghttp2_session_terminate_session(s->h2, s->calm ? NGHTTP2_ENHANCE_YOUR_CALM
									 : NGHTTP2_PROTOCOL_ERROR);
		return ERR_PROTO;
	}
	return 0;
}

int grpc_session_flush(struct grpc_session *s, struct obuf **out, size_t max_pending)
{
	while (obuf_pending(*out) < max_pending) {
		const uint8_t *data;
		ssize_t n = nghttp2_session_mem_send(s->h2, &data);

		if (n < 0)
			return ERR_PROTO;
		if (n == 0)
			break;
		if (obuf_append(out, data, (size_t)n) < 0)
			return ERR_NOMEM;
	}
	return 0;
}

bool grpc_session_is_done(const struct grpc_session *s)
{
	return !nghttp2_session_want_read(s->h2) && !nghttp2_session_want_write(s->h2);
}

void grpc_session_goaway(struct grpc_session *s, bool final)
{
	if (!final) {
		nghttp2_submit_shutdown_notice(s->h2);
		return;
	}
	nghttp2_submit_goaway(s->h2, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(s->h2),
			      NGHTTP2_NO_ERROR, NULL, 0);
}

void grpc_session_sweep(struct grpc_session *s, uint64_t now_ms)
{
	uint64_t limit = s->srv->cfg->request_timeout_ms;

	for (struct stream *st = s->streams; st; st = st->next) {
		if (st->responded) {
			/* Answered, but the client reads neither the answer nor
			 * our RST: give up on the stream. */
			if (!st->cancelled && now_ms - st->begun_ms >= 2 * limit) {
				st->cancelled = true;
				nghttp2_submit_rst_stream(s->h2, NGHTTP2_FLAG_NONE, st->id,
							  NGHTTP2_CANCEL);
			}
			continue;
		}
		if (st->waiting) {
			/* A call that completes later, past its deadline or
			 * --request-timeout: dropped, never answered twice. */
			if ((!st->deadline_ms || now_ms < st->deadline_ms) &&
			    now_ms - st->begun_ms < limit)
				continue;
			stop_waiting(st);
			if (st->rest)
				rest_h2_dispatch(s, st, 504,
					      "the call did not complete within --request-timeout");
			else
				respond_error(s, st, API_DEADLINE_EXCEEDED, "deadline exceeded", 200);
		} else if (st->deadline_ms && now_ms >= st->deadline_ms)
			respond_error(s, st, API_DEADLINE_EXCEEDED, "deadline exceeded", 200);
		else if (now_ms - st->begun_ms < limit)
			continue;
		else if (st->rest)
			rest_h2_dispatch(s, st, 408, "the request did not arrive within --request-timeout");
		else
			respond_error(s, st, API_DEADLINE_EXCEEDED,
				      "the request did not arrive within --request-timeout", 200);
		grpc_stream_release(s, st);
	}
}

uint64_t grpc_session_idle_since(const struct grpc_session *s)
{
	return s->streams ? 0 : s->idle_since_ms;
}
