/* grpc_int.h — the records of grpc.c's HTTP/2 session (one per h2c
 * management connection) and the few helpers that rest_h2.c, the REST
 * requests over the same session, shares with it. Internal to those two.
 */
#ifndef WSGW_GRPC_INT_H
#define WSGW_GRPC_INT_H

#include <nghttp2/nghttp2.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "api.h"
#include "gw_api.h"
#include "grpc_msg.h"
#include "rest.h"
#include "router.h"

/* The gRPC rows of router.c's table. */
enum call {
	CALL_UNKNOWN = 0,
	CALL_GET = ROUTER_GRPC_GET,
	CALL_SEND = ROUTER_GRPC_SEND,
	CALL_DISCONNECT = ROUTER_GRPC_DISCONNECT,
	CALL_HEALTH = ROUTER_GRPC_HEALTH,
	CALL_GW_FIRST = ROUTER_GW_LIST, /* wsgw.v1: gw_pb.c decodes, gw_api.c runs */
	CALL_GW_LAST = ROUTER_GW_BROADCAST,
};

struct stream {
	int32_t id;
	struct grpc_session *s;
	enum call call;
	bool rest; /* a REST request over h2, not a gRPC call */
	bool post, grpc_ct, responded;
	bool end_stream; /* the client finished sending */
	bool cancelled;  /* RST_STREAM(CANCEL) sent: its response was never read */
	bool waiting;    /* its call is under way (api.c or rest.c): not yet answered */
	uint8_t encoding; /* enum grpc_encoding of grpc-encoding */
	uint64_t deadline_ms; /* 0 = none */
	uint64_t begun_ms;    /* HEADERS arrived: --request-timeout counts from here */
	uint64_t t0_ns;       /* HEADERS, then the complete request (loop.now_ns): latency metric */
	size_t buffered;      /* request bytes charged to the budgets */
	struct grpc_deframer body;
	uint8_t *msg; /* the one request message */
	size_t msg_len;
	bool msg_compressed;
	unsigned messages;
	uint8_t *resp; /* prefix + response message */
	size_t resp_len, resp_off;
	int status;
	struct stream *prev, *next; /* session's streams, for the deadline sweep */
	/* REST over h2: the request as rest_handle wants it */
	char *method, *path, *authorization;
	size_t method_len, path_len, authorization_len;
	uint8_t *raw; /* body, grown by doubling as it arrives */
	size_t raw_len, raw_cap;
	union {               /* the call under way, while waiting */
		struct api_call api;  /* gRPC */
		struct rest_call rc;  /* REST */
		struct gw_call gw;    /* gRPC wsgw.v1 (u.gw.api is u.api) */
	} u;
};

struct grpc_session {
	nghttp2_session *h2;
	struct server *srv;
	struct stream *streams;
	size_t buffered;        /* request bytes held by all streams */
	uint64_t idle_since_ms; /* the last stream closed (or the session began) */
	size_t block_bytes;     /* the header block being decoded */
	unsigned block_fields;
	bool calm;              /* header block over the caps: ENHANCE_YOUR_CALM */
	bool feeding;           /* inside nghttp2_session_mem_recv */
	void (*on_output)(void *arg); /* a call answered later: flush */
	void *output_arg;
};

static inline nghttp2_nv nv(const char *name, const char *value, size_t value_len)
{
	return (nghttp2_nv){(uint8_t *)name, (uint8_t *)value, strlen(name), value_len,
			    NGHTTP2_NV_FLAG_NONE};
}

#define NV_LIT(n, v) nv(n, v, sizeof(v) - 1)

/* Drops what the stream kept of its request and gives the bytes back to
 * the connection's and the port's budgets. Idempotent. */
void grpc_stream_release(struct grpc_session *s, struct stream *st);

/* A call finished after the feed that started it: tell the connection to
 * write (never from inside a feed). */
void grpc_session_notify(struct grpc_session *s);

/* nghttp2 data source for st->resp: gRPC adds OK trailers, REST ends the
 * stream with the body. */
ssize_t grpc_read_resp(nghttp2_session *h2, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
		       nghttp2_data_source *src, void *user);

/* rest_h2.c: REST requests arriving on the HTTP/2 session. */

/* The request is complete (or refused: http_status non-zero, why): run it
 * through rest.c and answer with its JSON response. */
void rest_h2_dispatch(struct grpc_session *s, struct stream *st, int http_status, const char *why);

/* A body chunk: kept up to --rest-max-body (then 413). */
void rest_h2_body_append(struct grpc_session *s, struct stream *st, const uint8_t *p, size_t n);

#endif
