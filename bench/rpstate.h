/* rpstate.h — rawproxy's state, shared by its files: rawproxy.c (flags,
 * listening, accepting, the loop), rpio.c (a connection's buffers and
 * writes), rpws.c (the WebSocket clients) and rphttp.c (the backend
 * connections and their HTTP/1.1). One struct rp per process, the only
 * mutable global; connections are items in its epoll set.
 */
#ifndef BENCH_RPSTATE_H
#define BENCH_RPSTATE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define READ_BUF_SIZE (64 * 1024)
#define HEAD_MAX 8192           /* upgrade request or response head, at most */
#define MAX_PAYLOAD (16u << 20) /* client message or response body, at most */
#define IN_PAUSE (64 * 1024)    /* waiting input at which a client is not read */

enum kind { K_LISTEN, K_CLIENT, K_BACKEND };

struct buf {
	uint8_t *p;
	size_t off, len, cap; /* data: p[off..len); capacity is kept once grown */
};

/* First member of clients and backends: what epoll_event.data.ptr is. */
struct item {
	int fd;
	uint8_t kind;
	bool dead;       /* closed during this batch; freed after it */
	uint32_t events; /* the epoll mask now set */
	struct item *next_dead;
	struct buf in;  /* input not yet used */
	struct buf out; /* output the kernel refused */
};

struct backend;

struct client {
	struct item it;
	bool upgraded;
	bool busy;                  /* a call in flight, or waiting in the FIFO */
	bool waiting;               /* in the FIFO */
	struct backend *call;       /* the connection carrying our call */
	struct client *prev, *next; /* FIFO links */
};

struct backend {
	struct item it;
	bool busy;            /* a request in flight */
	struct client *owner; /* gets the reply; NULL once it hung up */
	struct backend *next_idle;
};

struct rp {
	int ep;
	uint8_t *rbuf; /* every read() lands here first */
	struct sockaddr_in backend;
	unsigned max_backends, n_backends;
	struct backend *idle;                 /* connections with nothing in flight */
	struct client *fifo_head, *fifo_tail; /* clients whose next message waits */
	struct item *dead;
	char req[1024]; /* "POST … Content-Length: " then each call's length */
	size_t req_prefix;
};

extern struct rp rp; /* rawproxy.c */

#endif
