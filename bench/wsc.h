/* wsc.h — the WebSocket clients of sendlat and msgload: a pool of
 * connections that each connect, upgrade (RFC 6455 §4.1, the
 * Sec-WebSocket-Accept checked), learn their wsgw connection id from the
 * 101 response, then read server frames, answer pings and hand every
 * complete message to the owner. The owner runs the epoll loop, hands the
 * pool each connection's events and writes its own messages on c->fd.
 */
#ifndef BENCH_WSC_H
#define BENCH_WSC_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum wsc_state { WSC_IDLE, WSC_CONNECTING, WSC_UPGRADING, WSC_OPEN, WSC_DEAD };

/* One WebSocket client connection. */
struct wsc {
	int kind; /* first, left to the owner: its epoll dispatch reads it via data.ptr */
	int fd;
	uint8_t state;   /* enum wsc_state */
	bool in_payload; /* inside a frame's payload */
	bool fin;        /* current frame has FIN */
	uint8_t hdr_len, op, msg_op, pl_len;
	uint8_t hdr[14];
	uint16_t head_len;
	unsigned pos; /* index in open_idx while open */
	uint64_t rx_left;
	uint64_t msg_len; /* payload bytes of the message being read */
	char *head;       /* the 101 response while it arrives */
	char id[64];      /* the connection id wsgw gave it ("" if the 101 had none) */
	uint8_t pl[125];  /* first bytes of the current message */
	uint8_t ctl_len;
	uint8_t ctl[125]; /* payload of the current control frame */
};

/* A complete data message on c: len payload bytes, the first pl_len of
 * them in c->pl, its opcode in c->msg_op; now is when its last bytes were
 * read. */
typedef void wsc_msg_fn(void *arg, struct wsc *c, uint64_t len, uint64_t now);

/* c is open: its 101 checked and any frames that came with it handed to
 * on_message; now is when its last bytes were read. */
typedef void wsc_open_fn(void *arg, struct wsc *c, uint64_t now);

struct wsc_pool {
	/* set by the owner */
	int ep;
	const struct sockaddr_in *dst;
	const char *host, *path; /* of the upgrade request */
	unsigned src_addrs;      /* > 1: connection i binds 127.0.0.(1 + i % src_addrs) */
	uint8_t *rbuf;           /* read buffer shared with the owner's other sockets */
	size_t rbuf_size;
	bool need_id; /* a 101 without a connection id is an hs_err */
	wsc_msg_fn *on_message;
	wsc_open_fn *on_open; /* or NULL */
	void *arg;
	struct wsc *c;      /* the connections, zeroed (but for kind) */
	unsigned *open_idx; /* [0, open): indexes in c of the open connections */
	/* kept by the pool */
	unsigned pending, open; /* connecting or upgrading; open */
	uint64_t connect_err;   /* connect failed, or the upgrade request could not go */
	uint64_t hs_err;        /* no 101, wrong accept, no id (need_id), or EOF while upgrading */
	uint64_t closed;        /* an open connection closed (close frame, EOF, error) */
	uint64_t proto_err;     /* a masked or malformed server frame */
};

/* Starts a non-blocking connect for connection i (counted in connect_err
 * if there is no socket). */
void wsc_start(struct wsc_pool *p, unsigned i);

/* Handles epoll events on c: sends the upgrade request once connected,
 * else reads (one read()) and feeds the 101 response or frames, calling
 * on_message for each complete message. A connection that fails is
 * closed and counted; its slot stays WSC_DEAD. */
void wsc_on_event(struct wsc_pool *p, struct wsc *c, uint32_t events);

/* Closes c for good and counts it in closed if it was open: for the owner,
 * whose write on c->fd failed. Not from inside on_message or on_open. */
void wsc_close(struct wsc_pool *p, struct wsc *c);

#endif
