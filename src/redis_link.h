/* redis_link.h — one Redis connection driven by our epoll loop: a
 * non-blocking connect with a timeout, AUTH and SELECT from the URL, a FIFO
 * of commands each with its callback, reconnect with capped exponential
 * backoff, and caps on the bytes buffered either way. hiredis serves only
 * as the reply parser (its reader), resp.c encodes the commands; the
 * socket, the timers and the retries are ours. A subscribe-mode link takes
 * no commands: it SUBSCRIBEs to its channels on every (re)connect and hands
 * each message to a callback.
 */
#ifndef WSGW_REDIS_LINK_H
#define WSGW_REDIS_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "redis_url.h"

struct loop;
struct redisReply;
struct redis_link;

#define REDIS_LINK_MAX_CHANNELS 4

/* A command's answer: r is the reply (valid during the call), or NULL when
 * the link failed before one came (the command may or may not have run). */
typedef void (*redis_reply_fn)(void *arg, const struct redisReply *r);
/* The link came up (every handshake command answered) or went down. */
typedef void (*redis_state_fn)(void *arg, bool up);
/* A pub/sub message (subscribe mode): views valid during the call. */
typedef void (*redis_message_fn)(void *arg, const char *chan, size_t chan_len, const char *data,
                                 size_t len);

struct redis_link_cfg {
	const struct redis_url *url;
	const char *name;            /* for logs: "commands", "subscriber" */
	uint64_t connect_timeout_ms; /* connect plus handshake */
	uint64_t reply_timeout_ms;   /* oldest unanswered command: reconnect */
	size_t max_out;              /* bytes queued for the socket */
	size_t max_in;               /* bytes of one unfinished reply */
	unsigned max_pending;        /* commands awaiting their reply */
	/* Subscribe mode when num_channels > 0. */
	const char *channels[REDIS_LINK_MAX_CHANNELS];
	unsigned num_channels;
	redis_state_fn on_state;
	redis_message_fn on_message;
	/* After each wake-up's replies and messages were handed out (may be
	 * NULL): the end of a batch of on_message calls. */
	void (*on_read_done)(void *arg);
	void *arg;
};

/* Starts connecting at once (cfg and its strings must outlive the link).
 * Returns NULL when out of memory. */
struct redis_link *redis_link_new(struct loop *loop, const struct redis_link_cfg *cfg);

/* Closes the socket; pending callbacks are NOT called. */
void redis_link_free(struct redis_link *l);

/* True when connected and every handshake command answered. */
bool redis_link_is_up(const struct redis_link *l);

/* Times the link came up again after having been up (for the metrics). */
uint64_t redis_link_reconnects(const struct redis_link *l);

/* "up", "connecting" or "down: <why>" (static or in the link). */
const char *redis_link_state(const struct redis_link *l);

/* Queues one command (argv as binary-safe strings) and arranges fn(arg,
 * reply) to be called once, later, from the loop (fn may be NULL). Returns
 * 0, ERR_AGAIN when the link is not up (fn is not called), or ERR_LIMIT
 * when the queue is full (nothing queued). Not in subscribe mode. */
int redis_link_cmd(struct redis_link *l, redis_reply_fn fn, void *arg, int argc, const char **argv,
                   const size_t *argvlen);

/* Drops the connection and reconnects after the backoff (a probe found it
 * dead). Pending callbacks get NULL. */
void redis_link_reset(struct redis_link *l, const char *why);

/* Best effort at shutdown: writes cmd to the socket now, without waiting
 * (a DEL of the node's lease). */
void redis_link_send_now(struct redis_link *l, int argc, const char **argv, const size_t *argvlen);

#endif
