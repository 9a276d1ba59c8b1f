/* dns.c — host names to addresses without blocking the loop (c-ares).
 *
 * Owns one c-ares channel, the loop_io slots of its sockets, one loop timer
 * for its timeouts, and a cache of answers bounded in entries. c-ares opens
 * and closes its UDP/TCP sockets itself and tells us through the
 * socket-state callback, which (un)registers them in our epoll; readiness
 * and the timer both end in ares_process_fd. Must never: block (no
 * getaddrinfo(3), no ares_process with select), hold an answer longer than
 * its TTL (RFC 1035 §3.2.1, RFC 2181 §8), or send an IP literal to c-ares.
 */
#include "dns.h"

#include <arpa/inet.h>
#include <ares.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"

struct dns_sock {
	struct loop_io io; /* io.fd is -1 when the slot is free */
	struct dns *d;
};

struct cache_entry {
	char host[DNS_MAX_NAME + 1]; /* "" when unused */
	uint64_t expires_ms;         /* loop clock */
	uint64_t seq;                /* insertion order: ties evict the older */
	struct dns_addrs addrs;      /* ports 0 */
};

struct dns_query {
	struct dns *d;
	dns_done_fn done; /* NULL once cancelled */
	void *ctx;
	uint16_t port;
	bool starting; /* inside ares_getaddrinfo: the answer is delivered by dns_resolve */
	bool finished; /* c-ares answered while starting */
	int status;
	const char *reason;
	struct dns_addrs addrs;
	char host[DNS_MAX_NAME + 1];
};

struct dns {
	struct loop *loop;
	ares_channel ch;
	struct loop_timer timer;
	struct dns_sock socks[DNS_MAX_SOCKETS];
	struct cache_entry *cache;
	size_t cache_n;
	uint64_t cache_seq;
	unsigned max_ttl_s;
	uint64_t lookups;
};

/* ---- c-ares' sockets and timeouts on the loop ------------------------------------ */

static void rearm(struct dns *d)
{
	struct timeval tv, *tp = ares_timeout(d->ch, NULL, &tv);

	if (!tp) {
		loop_timer_disarm(d->loop, &d->timer);
		return;
	}
	/* rounded up, so the timer never fires before c-ares' deadline */
	loop_timer_arm(d->loop, &d->timer,
	               d->loop->now_ms + (uint64_t)tp->tv_sec * 1000 +
	                   ((uint64_t)tp->tv_usec + 999) / 1000);
}

static void on_timer(struct loop_timer *t)
{
	struct dns *d = (struct dns *)((char *)t - offsetof(struct dns, timer));

	ares_process_fd(d->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD); /* expire what is due */
	rearm(d);
}

static void on_io(struct loop_io *io, uint32_t events)
{
	struct dns_sock *s = (struct dns_sock *)io;
	struct dns *d = s->d;
	int fd = io->fd;

	/* An event from the same epoll batch for a socket c-ares has closed. */
	if (fd < 0)
		return;
	ares_process_fd(d->ch, events & (EPOLLIN | EPOLLERR | EPOLLHUP) ? fd : ARES_SOCKET_BAD,
	                events & EPOLLOUT ? fd : ARES_SOCKET_BAD);
	rearm(d);
}

static struct dns_sock *slot(struct dns *d, int fd)
{
	for (size_t i = 0; i < DNS_MAX_SOCKETS; i++)
		if (d->socks[i].io.fd == fd)
			return &d->socks[i];
	return NULL;
}

/* c-ares opened a socket, changed what it waits for, or is closing it
 * (neither readable nor writable: called before the close). */
static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns *d = data;
	struct dns_sock *s = slot(d, fd);
	uint32_t ev = (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0);

	if (!ev) {
		if (s) {
			loop_del(d->loop, &s->io);
			s->io.fd = -1;
		}
		return;
	}
	if (s) {
		loop_mod(d->loop, &s->io, ev);
		return;
	}
	/* No free slot, or epoll refuses: the query then ends by c-ares'
	 * own timeout, which runs on our timer. */
	if (!(s = slot(d, -1)))
		return;
	s->io.fd = fd;
	if (loop_add(d->loop, &s->io, ev) < 0)
		s->io.fd = -1;
}

/* ---- the cache ----------------------------------------------------------------------- */

static struct cache_entry *cache_find(struct dns *d, const char *host)
{
	for (size_t i = 0; i < d->cache_n; i++) {
		struct cache_entry *e = &d->cache[i];

		if (e->host[0] && e->expires_ms > d->loop->now_ms && strcasecmp(e->host, host) == 0)
			return e;
	}
	return NULL;
}

/* Keeps addrs for ttl_s seconds; the entry of the same name, a free one,
 * or else the one that expires first (the older on a tie) makes room. */
static void cache_put(struct dns *d, const char *host, const struct dns_addrs *addrs,
                      unsigned ttl_s)
{
	struct cache_entry *victim = NULL;

	if (!d->cache_n || ttl_s == 0)
		return;
	for (size_t i = 0; i < d->cache_n; i++) {
		struct cache_entry *e = &d->cache[i];

		if (e->host[0] && strcasecmp(e->host, host) == 0) {
			victim = e;
			break;
		}
		/* free or expired entries have the smallest (expires, seq) */
		if (!victim || !e->host[0] ||
		    (victim->host[0] &&
		     (e->expires_ms < victim->expires_ms ||
		      (e->expires_ms == victim->expires_ms && e->seq < victim->seq))))
			victim = e;
	}
	strcpy(victim->host, host); /* dns_resolve checked its length */
	victim->addrs = *addrs;
	victim->expires_ms = d->loop->now_ms + (uint64_t)ttl_s * 1000;
	victim->seq = ++d->cache_seq;
}

static void set_port(struct dns_addrs *a, uint16_t port)
{
	for (size_t i = 0; i < a->n; i++) {
		if (a->a[i].sa.sa_family == AF_INET)
			a->a[i].in.sin_port = htons(port);
		else
			a->a[i].in6.sin6_port = htons(port);
	}
}

/* ---- lookups ------------------------------------------------------------------------- */

static void deliver(struct dns_query *q)
{
	if (q->done) {
		set_port(&q->addrs, q->port);
		q->done(q->ctx, q->status, q->status == 0 ? &q->addrs : NULL, q->reason);
	}
	free(q);
}

/* The addresses of res and the smallest TTL among them and its CNAMEs. */
static unsigned collect(const struct ares_addrinfo *res, struct dns_addrs *a)
{
	long ttl = -1;

	a->n = 0;
	for (const struct ares_addrinfo_node *n = res->nodes; n && a->n < DNS_MAX_ADDRS;
	     n = n->ai_next) {
		size_t want = n->ai_family == AF_INET    ? sizeof(struct sockaddr_in)
		              : n->ai_family == AF_INET6 ? sizeof(struct sockaddr_in6)
		                                         : 0;

		if (!want || !n->ai_addr || n->ai_addrlen < want)
			continue;
		memset(&a->a[a->n], 0, sizeof a->a[0]);
		memcpy(&a->a[a->n], n->ai_addr, want);
		a->n++;
		if (ttl < 0 || n->ai_ttl < ttl)
			ttl = n->ai_ttl;
	}
	for (const struct ares_addrinfo_cname *c = res->cnames; c; c = c->next)
		if (c->ttl < ttl)
			ttl = c->ttl;
	return ttl > 0 ? (unsigned)ttl : 0;
}

static void on_ares(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct dns_query *q = arg;
	struct dns *d = q->d;
	unsigned ttl;

	(void)timeouts;
	q->status = 0;
	q->reason = NULL;
	if (status == ARES_SUCCESS && res) {
		ttl = collect(res, &q->addrs);
		if (q->addrs.n == 0) {
			q->status = ERR_INVAL;
			q->reason = "no IPv4 or IPv6 address for this name";
		} else {
			cache_put(d, q->host, &q->addrs, ttl < d->max_ttl_s ? ttl : d->max_ttl_s);
		}
	} else {
		q->status = status == ARES_ENOMEM                                      ? ERR_NOMEM
		            : status == ARES_EDESTRUCTION || status == ARES_ECANCELLED ? ERR_CLOSED
		                                                                       : ERR_INVAL;
		q->reason = ares_strerror(status);
	}
	if (res)
		ares_freeaddrinfo(res);
	if (q->starting) {
		q->finished = true;
		return;
	}
	deliver(q);
}

/* An IPv4 or IPv6 literal: parsed here, never sent to c-ares. */
static bool literal(const char *host, struct dns_addrs *a)
{
	memset(a, 0, sizeof *a);
	if (inet_pton(AF_INET, host, &a->a[0].in.sin_addr) == 1) {
		a->a[0].in.sin_family = AF_INET;
		a->n = 1;
	} else if (inet_pton(AF_INET6, host, &a->a[0].in6.sin6_addr) == 1) {
		a->a[0].in6.sin6_family = AF_INET6;
		a->n = 1;
	}
	return a->n == 1;
}

int dns_resolve(struct dns *d, const char *host, uint16_t port, dns_done_fn done, void *ctx,
                struct dns_query **qp)
{
	struct ares_addrinfo_hints hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	size_t len = strnlen(host, DNS_MAX_NAME + 1);
	const struct cache_entry *e;
	struct dns_addrs a;
	struct dns_query *q;

	*qp = NULL;
	if (len == 0 || len > DNS_MAX_NAME)
		return ERR_INVAL;
	if (literal(host, &a) || ((e = cache_find(d, host)) && (a = e->addrs, true))) {
		set_port(&a, port);
		done(ctx, 0, &a, NULL);
		return 0;
	}
	if (!(q = calloc(1, sizeof *q))) {
		done(ctx, ERR_NOMEM, NULL, "out of memory");
		return 0;
	}
	q->d = d;
	q->done = done;
	q->ctx = ctx;
	q->port = port;
	memcpy(q->host, host, len + 1);
	q->starting = true;
	d->lookups++;
	/* May answer inline (/etc/hosts, an immediate failure): on_ares then
	 * leaves the delivery to us, after *qp is settled. */
	ares_getaddrinfo(d->ch, q->host, NULL, &hints, on_ares, q);
	q->starting = false;
	if (q->finished) {
		deliver(q);
		return 0;
	}
	*qp = q;
	rearm(d);
	return 0;
}

void dns_cancel(struct dns_query *q)
{
	if (q)
		q->done = NULL;
}

uint64_t dns_lookups(const struct dns *d)
{
	return d->lookups;
}

/* ---- life cycle -------------------------------------------------------------------- */

struct dns *dns_new(struct loop *l, const struct dns_config *cfg, const char **why)
{
	struct ares_options opt = {0};
	int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_LOOKUPS, rc;
	struct dns *d = calloc(1, sizeof *d);
	char lookups[] = "fb"; /* /etc/hosts, then DNS, whatever host.conf says */

	*why = "out of memory";
	if (!d)
		return NULL;
	d->loop = l;
	d->timer.on_fire = on_timer;
	d->max_ttl_s = cfg->max_ttl_s;
	for (size_t i = 0; i < DNS_MAX_SOCKETS; i++) {
		d->socks[i].io.fd = -1;
		d->socks[i].io.on_event = on_io;
		d->socks[i].d = d;
	}
	if (cfg->cache_entries && !(d->cache = calloc(cfg->cache_entries, sizeof *d->cache)))
		goto out_free;
	d->cache_n = cfg->cache_entries;
	if ((rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
		*why = ares_strerror(rc);
		goto out_free;
	}
	opt.sock_state_cb = on_sock_state;
	opt.sock_state_cb_data = d;
	opt.lookups = lookups;
	if (cfg->timeout_ms) {
		opt.timeout = (int)cfg->timeout_ms;
		mask |= ARES_OPT_TIMEOUTMS;
	}
	if (cfg->tries) {
		opt.tries = (int)cfg->tries;
		mask |= ARES_OPT_TRIES;
	}
	if ((rc = ares_init_options(&d->ch, &opt, mask)) != ARES_SUCCESS) {
		*why = ares_strerror(rc);
		goto out_cleanup;
	}
	if (cfg->servers &&
	    (rc = ares_set_servers_ports_csv(d->ch, cfg->servers)) != ARES_SUCCESS) {
		*why = ares_strerror(rc);
		ares_destroy(d->ch);
		goto out_cleanup;
	}
	*why = NULL;
	return d;
out_cleanup:
	ares_library_cleanup();
out_free:
	free(d->cache);
	free(d);
	return NULL;
}

void dns_free(struct dns *d)
{
	if (!d)
		return;
	/* Runs every pending query's callback with ARES_EDESTRUCTION and
	 * closes c-ares' sockets through on_sock_state. */
	ares_destroy(d->ch);
	for (size_t i = 0; i < DNS_MAX_SOCKETS; i++)
		if (d->socks[i].io.fd >= 0)
			loop_del(d->loop, &d->socks[i].io);
	loop_timer_disarm(d->loop, &d->timer);
	ares_library_cleanup();
	free(d->cache);
	free(d);
}
