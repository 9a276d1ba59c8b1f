/* lgstate.h — the load generator's state, shared by its files: loadgen.c
 * (flags, phases, the loop, the report), lgconn.c (each connection's
 * lifecycle) and lgwire.c (the bytes each connection sends and parses).
 * One struct lg per run; connection slots in it.
 */
#ifndef BENCH_LGSTATE_H
#define BENCH_LGSTATE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "benchlib.h"

#define RBUF_SIZE (256 * 1024)

enum scenario { SC_ECHO, SC_HANDSHAKE, SC_IDLE };
enum mode { MODE_WS, MODE_RAW };
enum lc_state { LC_FREE, LC_CONNECTING, LC_TLS, LC_UPGRADING, LC_OPEN, LC_CLOSING };
enum phase { PH_RAMP, PH_WARMUP, PH_MEASURE, PH_HOLD, PH_DONE };

struct opts {
	enum scenario sc;
	enum mode mode;
	struct sockaddr_in dst;
	const char *target; /* host:port as given, also the Host header */
	const char *path, *user_agent;
	unsigned conns, inflight, size, src_addrs, max_pending;
	double duration, warmup, hold, ramp_timeout;
	int server_pid;
	bool binary, close_tcp;
	bool tls, tls_resume; /* --tls, --tls-resume (lgtls.c) */
};

/* One client connection (a slot, reused by the handshake loop). Each
 * connect zeroes every field before ring (lgconn_start). */
struct lconn {
	int fd;
	uint8_t state;     /* enum lc_state */
	bool want_out;     /* EPOLLOUT is in the interest set */
	bool in_frame;     /* ws: inside a frame's payload */
	bool close_rcvd;   /* ws: the server's close frame arrived */
	bool got_ticket;   /* tls: a session ticket arrived */
	bool tls_want_out; /* tls: the last call waits to write */
	uint8_t rxh_len;   /* ws: bytes of a partial frame header in rxh */
	uint8_t rx_op;     /* ws: opcode of the current frame */
	uint8_t rxh[14];
	uint8_t ctl_len;              /* ws: bytes of the control payload in ctl */
	uint16_t head_len;            /* bytes in head (partial 101 response) */
	char *head;                   /* NULL unless the 101 response spans reads */
	SSL *ssl;                     /* --tls: the connection's TLS, else NULL */
	uint64_t rx_left;             /* ws: payload bytes left in the current frame */
	uint64_t rx_got;              /* payload bytes seen of the current message */
	uint64_t out_pending;         /* template bytes not yet written */
	uint32_t out_off;             /* where in the template period the next byte is */
	uint32_t ring_head, ring_len; /* FIFO of send times: ring[] below */
	uint64_t *ring;
	uint64_t started_ns; /* connect() time */
	char accept[29];     /* expected Sec-WebSocket-Accept */
	uint8_t ctl[125];    /* ws: control frame payload */
};

struct counters {
	uint64_t msgs, handshakes, cycles; /* in the measurement window */
	uint64_t connect_err, hs_err, closed, proto_err, bad_payload; /* whole run */
	uint64_t resumed; /* --tls: handshakes in the window that resumed a session */
};

struct lg {
	struct opts o;
	int ep;
	enum phase phase;
	struct lconn *c;
	uint64_t *rings;
	uint8_t *rbuf;
	SSL_CTX *tls;      /* --tls: the client context (lgtls.c) */
	SSL_SESSION *sess; /* --tls-resume: the last ticket, offered by every handshake */
	uint8_t *tmpl;     /* (inflight + 1) periods of the outgoing stream */
	size_t period;     /* bytes per message on the wire */
	size_t tmpl_len;
	uint8_t *pattern; /* the payload, unmasked, as it comes back */
	uint8_t mask[4];
	uint64_t rng; /* splitmix64 state for keys and masks (lgwire.c) */
	unsigned pending, opened, next_src, next_slot;
	unsigned *free_slots, nfree; /* handshake: slots to reconnect */
	uint64_t start_ns, phase_end_ns, win_start_ns, win_end_ns;
	long long cpu0, cpu1;   /* server utime+stime ticks at window edges */
	long long busy0, busy1; /* whole machine's busy ticks at window edges */
	double self0, self1;    /* our own user + system seconds at window edges */
	long rss0_kb, rss1_kb;
	struct counters cnt;
	struct hist h;
};

#endif
