/* h2c.h — an HTTP/2 cleartext client connection (RFC 9113) for sendlat's
 * unary gRPC calls: each call is one HEADERS and one DATA frame; a stream
 * ends with the response's trailers, a DATA frame with END_STREAM or
 * RST_STREAM, and the owner hears of it through on_end. The owner runs
 * the epoll loop and hands this connection its events.
 */
#ifndef BENCH_H2C_H
#define BENCH_H2C_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hpack.h"

#define H2C_SLOTS 4096 /* stream slots per connection (power of two) */

/* h2c_end.status when no trailers said: */
#define H2C_NO_TRAILERS (-2) /* DATA with END_STREAM ended the stream */
#define H2C_RST (-3)         /* RST_STREAM ended it */

/* How a stream ended, as on_end hears it. */
struct h2c_end {
	uint32_t sid;
	uint64_t t;      /* the time given to h2c_call */
	int status;      /* grpc-status of the trailers (2 if they had none), or H2C_* */
	bool rst;        /* ended by RST_STREAM */
	bool data;       /* a DATA frame (the response message) came first */
	const char *msg; /* grpc-message, or what went wrong; valid during the call */
};

typedef void h2c_end_fn(void *arg, const struct h2c_end *e, uint64_t now);

struct h2c_slot {
	int32_t id; /* 0: free */
	uint8_t flags;
	uint64_t t; /* send time */
};

struct h2c {
	int kind; /* first, left to the owner: its epoll dispatch reads it via data.ptr */
	int fd, ep;
	bool want_out, ready, dead, goaway;
	uint8_t *in;
	size_t in_len, in_cap;
	uint8_t *out;
	size_t out_off, out_len, out_cap;
	uint32_t next_stream, peer_max_streams, max_streams, active;
	int64_t send_window;
	uint64_t consumed;
	uint8_t *hb; /* header block waiting for CONTINUATION */
	size_t hb_len, hb_cap;
	int32_t hb_stream;
	bool hb_end_stream, in_cont;
	h2c_end_fn *on_end;
	void *arg;
	/* what went wrong below the calls, for the owner's error count */
	uint64_t unknown_stream; /* stream ends for streams not open */
	uint64_t hpack_err;      /* header blocks that did not decode (then dead) */
	uint64_t lost_streams;   /* streams open when the connection died */
	struct hpack hp;
	struct h2c_slot slots[H2C_SLOTS];
};

/* Starts a non-blocking connect to dst, queues the preface, SETTINGS (push
 * off, stream window 2^31-1) and a connection WINDOW_UPDATE to 2^31-1, and
 * adds the socket to ep (data.ptr = h). h must be zeroed but for kind. At
 * most max_streams streams are open at once (and never more than the
 * server's SETTINGS_MAX_CONCURRENT_STREAMS). Returns 0 or -1 (no socket). */
int h2c_open(struct h2c *h, int ep, const struct sockaddr_in *dst, uint32_t max_streams,
             h2c_end_fn *on_end, void *arg);

/* Queues one call: header block hb, message msg, sent at time t (handed
 * back in on_end). Returns false, queueing nothing, when it must wait: not
 * ready (no SETTINGS yet), dead, GOAWAY, a stream limit, the connection
 * send window, or the stream's slot still busy. */
bool h2c_call(struct h2c *h, const uint8_t *hb, size_t hbl, const uint8_t *msg, size_t mlen,
              uint64_t t);

/* Writes what is queued, as far as the socket takes it; watches EPOLLOUT
 * while something is left. May kill the connection (h->dead). */
void h2c_flush(struct h2c *h);

/* Handles epoll events: flushes on EPOLLOUT, reads (into buf, cap bytes,
 * shared by the owner's connections) and handles every complete frame,
 * calling on_end for each stream that ends. Nothing for a dead connection.
 * Exits the program when out of memory. */
void h2c_on_event(struct h2c *h, uint32_t events, uint8_t *buf, size_t cap);

#endif
