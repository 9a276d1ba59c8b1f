/* cluster_msg.h — the messages nodes exchange over Redis pub/sub: a request
 * (Get / Send / Disconnect of one connection, or the inbox probe) published
 * to the owner's inbox, and its reply published to the caller's. A compact
 * binary encoding, versioned by its first byte. Pure: decode hands out views
 * into the input and trusts nothing in it (whoever can PUBLISH on the Redis
 * server can send us anything).
 */
#ifndef WSGW_CLUSTER_MSG_H
#define WSGW_CLUSTER_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CLUSTER_MSG_REQUEST 'Q' /* version 1 of the request */
#define CLUSTER_MSG_REPLY 'A'   /* version 1 of the reply */

#define CLUSTER_TAG_MAX 16
#define CLUSTER_ID_MAX 200     /* bytes: 50 characters of up to 4 bytes */
#define CLUSTER_REASON_MAX 123 /* RFC 6455 §5.5: close reason */
#define CLUSTER_DATA_MAX (1u << 20)
#define CLUSTER_MESSAGE_MAX 255
#define CLUSTER_TEXT_MAX 65535 /* user agent, gateway id */

enum cluster_op {
	CLUSTER_OP_PROBE = 0, /* to one's own inbox: is the subscription alive? */
	CLUSTER_OP_GET = 1,
	CLUSTER_OP_SEND = 2,
	CLUSTER_OP_CLOSE = 3,
	/* wsgw.v1 (these carry the "ext" fields below) */
	CLUSTER_OP_FAN = 4,       /* to wsgw:all: Broadcast, SendToGroup, Count (kind) */
	CLUSTER_OP_JOIN = 5,      /* to the owner: id, group */
	CLUSTER_OP_LEAVE = 6,     /* to the owner: id, group */
	CLUSTER_OP_SEND_MANY = 7, /* to the owner: its ids of a SendToConnections, data once */
	CLUSTER_OP_LIST = 8,      /* to the owner: one ListConnections page (the "list" fields) */
	CLUSTER_OP_LAST = CLUSTER_OP_LIST,
};

#define CLUSTER_GROUP_MAX 128   /* GROUPS_NAME_MAX */
#define CLUSTER_FILTER_MAX 1024 /* GW_MAX_FILTER */
#define CLUSTER_IDS_MAX 1000    /* GW_MAX_IDS */
#define CLUSTER_ROUTES_MAX 1024 /* route counts in one reply */
#define CLUSTER_ROUTES_BYTES (64u << 10)
#define CLUSTER_PAGE_MAX 1000 /* GW_MAX_PAGE: connections in one LIST reply */
/* Bytes of a LIST reply's connections: the owner's page ends once its
 * estimate passes 3.5 MiB (registry_gw.c), plus the one connection that
 * may pass it (< 256 KiB); under the subscriber link's 8 MiB per reply. */
#define CLUSTER_PAGE_BYTES (4u << 20)
#define CLUSTER_GROUPS_MAX 64 /* GROUPS_PER_MEMBER_MAX */

struct cluster_bytes {
	const uint8_t *p;
	size_t len;
};

struct cluster_request {
	uint8_t op;                  /* enum cluster_op */
	struct cluster_bytes caller; /* the caller's node tag: where the reply goes */
	uint64_t call_id;
	uint64_t deadline_ms;        /* wall clock (ms since the epoch): drop after it */
	struct cluster_bytes id;     /* connection id */
	uint8_t opcode;              /* SEND: WS_OP_TEXT or WS_OP_BINARY */
	uint16_t close_code;         /* CLOSE */
	struct cluster_bytes reason; /* CLOSE */
	struct cluster_bytes data;   /* SEND, FAN */
	/* Ops >= CLUSTER_OP_FAN only (the older ops' encoding is unchanged): */
	uint8_t kind;                /* FAN: enum gw_kind (GW_COUNT, GW_SEND_GROUP, GW_BROADCAST) */
	struct cluster_bytes group;  /* FAN (SendToGroup), JOIN, LEAVE */
	struct cluster_bytes route;  /* FAN: Broadcast's path */
	struct cluster_bytes prefix; /* FAN: Broadcast's path_prefix */
	uint16_t nids;               /* FAN: Broadcast's exclude ids ... */
	struct cluster_bytes ids;    /* ... as a block: each a 1-byte length, then its bytes */
	/* CLUSTER_OP_LIST only (kind GW_LIST; id: the owner's tag; group,
	 * route, prefix: the filters): */
	struct cluster_bytes from; /* the node after_seq is a position of ... */
	uint64_t after_seq; /* ... list after it there; any other node lists from its start */
	uint16_t page_size; /* 1..CLUSTER_PAGE_MAX */
	bool has_after, has_before;
	int64_t after_ns, before_ns;
};

/* One connection of a LIST reply (an entry of its conns block). */
struct cluster_conn {
	struct cluster_bytes id, gateway_id, source_ip, user_agent, path, route, subprotocol;
	int64_t connected_at_ns, last_active_at_ns;
	uint8_t ngroups;             /* <= CLUSTER_GROUPS_MAX ... */
	struct cluster_bytes groups; /* ... as a block: each a 1-byte length, then the name */
};

struct cluster_reply {
	uint64_t call_id;
	uint8_t code; /* enum api_code */
	struct cluster_bytes message;
	bool has_conn; /* GET answered OK: the snapshot follows */
	struct cluster_bytes id, gateway_id, source_ip, user_agent;
	int64_t connected_at_ns, last_active_at_ns;
	/* A FAN's or a SEND_MANY's answer: the node's counts follow (not with
	 * has_conn). SEND_MANY's per-id results use the routes block: one
	 * (message, code) per id, in the request's order. */
	bool has_counts;
	struct cluster_bytes node; /* the answering node's tag */
	uint32_t delivered, skipped, total;
	uint16_t nroutes;            /* Count's per-route counts ... */
	struct cluster_bytes routes; /* ... as a block: 2-byte length, route, 4-byte count */
	/* A LIST's answer (not with has_conn or has_counts): node, then */
	bool has_page;
	bool more;                  /* the owner has more after seq */
	uint64_t seq;               /* the owner's position after this page */
	uint16_t nconns;            /* <= CLUSTER_PAGE_MAX ... */
	struct cluster_bytes conns; /* ... as a block of cluster_conn entries */
};

/* Walks an ids block (cluster_request.ids): the next id into *id, advancing
 * *block. False at its end. The block must have been decoded or built by
 * cluster_ids_add. */
bool cluster_ids_next(struct cluster_bytes *block, struct cluster_bytes *id);
/* Appends one id (<= CLUSTER_ID_MAX bytes) to a block under construction
 * in out[cap] at *len. Returns 0 or ERR_LIMIT. */
int cluster_ids_add(uint8_t *out, size_t cap, size_t *len, const void *id, size_t n);

/* The same for a routes block (cluster_reply.routes). */
bool cluster_routes_next(struct cluster_bytes *block, struct cluster_bytes *route, uint32_t *count);
int cluster_routes_add(uint8_t *out, size_t cap, size_t *len, const void *route, size_t n,
                       uint32_t count);

/* A conns block (cluster_reply.conns): the same, one cluster_conn at a
 * time (its groups block built with cluster_groups_add, ngroups entries;
 * decode checks both). cluster_conn_size: the bytes one entry takes. */
bool cluster_conns_next(struct cluster_bytes *block, struct cluster_conn *c);
int cluster_conns_add(uint8_t *out, size_t cap, size_t *len, const struct cluster_conn *c);
size_t cluster_conn_size(const struct cluster_conn *c);
/* A connection's groups block: names of 1..CLUSTER_GROUP_MAX bytes. */
bool cluster_groups_next(struct cluster_bytes *block, struct cluster_bytes *name);
int cluster_groups_add(uint8_t *out, size_t cap, size_t *len, const void *name, size_t n);

/* Bytes encode needs at most. */
size_t cluster_request_size(const struct cluster_request *q);
size_t cluster_reply_size(const struct cluster_reply *a);

/* Encode into out[cap]. Return bytes written, or ERR_LIMIT when a field is
 * over its cap or out is too small. */
int cluster_request_encode(const struct cluster_request *q, uint8_t *out, size_t cap);
int cluster_reply_encode(const struct cluster_reply *a, uint8_t *out, size_t cap);

/* Decode one whole message; views point into in. Return 0, or ERR_PROTO
 * (wrong type or version, truncated, trailing bytes, a field over its cap,
 * an unknown op). */
int cluster_request_decode(const uint8_t *in, size_t len, struct cluster_request *q);
int cluster_reply_decode(const uint8_t *in, size_t len, struct cluster_reply *a);

#endif
