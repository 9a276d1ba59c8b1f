/* ctx.h — the one server context: configuration, loop, listeners, the
 * connection table, the loop-wide buffers and the counters. Everything
 * mutable lives here. Modules include this, not server.h (which only
 * starts and stops it).
 */
#ifndef WSGW_CTX_H
#define WSGW_CTX_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "conntab.h"
#include "list.h"
#include "loop.h"
#include "metrics.h"
#include "spec.h"
#include "strpool.h"

#define SERVER_MAX_LISTENERS 2

struct cluster;
struct conn;
struct integ_disc;
struct mconn;
struct registry_ops;
struct registry_state;
struct upstream;
struct tls_ctx;
struct tls_tickets;
struct tls_ocsp;

struct server_stats {
	uint64_t accepted, handshakes_ok, handshakes_failed, rejected_full;
	uint64_t msgs_in, msgs_out, bytes_in, bytes_out; /* bytes: WebSocket port, wire */
	uint64_t closed_protocol, closed_idle;
	uint64_t closed_abnormal; /* upgraded, closed without a close frame (1006) */
	uint64_t integration_errors;
	uint64_t msgs_abandoned; /* client messages whose backend call the exit cut off or never made */
	uint64_t rejected_fd_limit; /* answered 503 by the spare-descriptor trick */
};

/* WebSocket-port refusals since the last report: a flood at the cap or at
 * the descriptor limit is logged at most once per interval, with counts. */
struct server_refusals {
	uint64_t over_cap, at_fd_limit, paused;
	uint64_t next_report_ms; /* monotonic; 0: report the next one at once */
	int last_errno;          /* why accept last paused */
};

struct server {
	const struct config *cfg;
	struct loop loop;
	struct loop_io ws_listener;
	struct loop_io mgmt_listener;
	struct loop_io signal_io;
	struct loop_timer sweep_timer;
	struct loop_timer drain_timer;
	struct loop_timer accept_timer; /* re-enables accept after EMFILE */
	int spare_fd;              /* spent at EMFILE to answer one client (net_accept_refuse) */
	struct server_refusals ws_refusals;
	uint64_t sweep_interval_ms;
	struct conntab table;      /* open connections by id */
	const struct registry_ops *registry; /* the API's; NULL: registry_local */
	struct registry_state *reg; /* registry_local's order, counts, groups */
	struct list_node fanouts;  /* paced sends under way (fanout.c) */
	struct strpool user_agents; /* interned User-Agent strings */
	struct list_node all;      /* every WS connection (conn.link), any state */
	struct list_node mgmt_all; /* management connections (mconn.link) */
	unsigned mgmt_num;         /* management connections open (mgmt_all) */
	size_t mgmt_buffered;      /* request bytes held by every management session */
	struct loop_timer mgmt_accept_timer; /* re-enables the mgmt accept after EMFILE */
	uint64_t mgmt_warned_ms;   /* last EMFILE warning of the mgmt listener */
	unsigned num_conns;        /* every state */
	unsigned num_open;
	uint8_t *rbuf;             /* shared read buffer, loop-wide */
	size_t rbuf_size;
	struct conn *cork;         /* connection whose output is gathered in cork_buf */
	uint8_t *cork_buf;
	size_t cork_len, cork_cap;
	bool cork_batch;           /* conn_batch_begin: cork whichever connection is written */
	uint8_t rand_pool[1024];   /* OS randomness, drawn in batches */
	size_t rand_left;
	struct spec *spec;         /* routes (the default echo route without --spec); shared:
				    * a SIGHUP replaces it, connections keep theirs (spec_hold) */
	char auth_token[256];      /* the management token (empty: none); --auth-token-file
				    * is re-read on SIGHUP (reload.c) */
	struct upstream *up;       /* backend calls */
	struct integ_disc *disc;   /* disconnect events held for delivery (integ_disc.c) */
	uint64_t last_msg_ns;      /* last message id's time, kept increasing */
	int draining;              /* 1 after SIGTERM/SIGINT */
	int stopping;              /* 1 once the loop ended: start no backend call */
	int exit_code;
	struct cluster *cluster;   /* --cluster: Redis links, pending remote calls */
	char node_tag[8];          /* --cluster: front of every connection id ("" off) */
	struct tls_ctx *ws_tls;    /* --tls-cert: wss:// (NULL: plain); swapped on SIGHUP (tls_conf.c) */
	struct tls_ctx *mgmt_tls;  /* --mgmt-tls-cert: TLS on the management port (NULL: plain) */
	struct tls_tickets *ws_tickets, *mgmt_tickets; /* ticket keys per port, kept across SIGHUP */
	struct loop_timer tls_ticket_timer;            /* --tls-ticket-rotation (tls_conf.c) */
	struct tls_ocsp *ws_ocsp;  /* --tls-ocsp-file: the stapled response (NULL: none) */
	struct server_stats stats;
	struct metrics metrics;    /* what GET /metrics shows beyond stats (metrics.h) */
};

/* Fills out with n bytes of OS randomness. Returns 0 or ERR_SYS. */
int server_random(struct server *srv, uint8_t *out, size_t n);

#endif
