/* dns.h — non-blocking host-name resolution on the loop, through c-ares.
 *
 * c-ares is used as a codec: its sockets are registered in our epoll (its
 * socket-state callback), its timeouts run on one loop timer, and it never
 * blocks or spawns a thread. IP literals never reach it. Answers are kept
 * in a small cache bounded in entries, each for the smallest TTL of its
 * records (CNAMEs included), capped by max_ttl_s; failures are not cached.
 * Concurrent lookups of one name are not merged (each asks c-ares).
 */
#ifndef WSGW_DNS_H
#define WSGW_DNS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "loop.h"

#define DNS_MAX_ADDRS 8    /* addresses kept per name */
#define DNS_MAX_NAME 253   /* RFC 1035 §2.3.4, in text form */
#define DNS_MAX_SOCKETS 16 /* c-ares sockets registered at once */

union dns_addr {
	struct sockaddr sa;
	struct sockaddr_in in;   /* AF_INET */
	struct sockaddr_in6 in6; /* AF_INET6 */
};

struct dns_addrs {
	size_t n;
	union dns_addr a[DNS_MAX_ADDRS]; /* in c-ares' order (RFC 6724 sorting), port set */
};

struct dns_config {
	const char *servers;  /* "ip:port,..." overriding resolv.conf (tests); NULL: system */
	size_t cache_entries; /* 0: no cache */
	unsigned max_ttl_s;   /* cap on how long an answer is kept */
	unsigned timeout_ms;  /* per try, c-ares' ARES_OPT_TIMEOUTMS; 0: c-ares' default */
	unsigned tries;       /* ARES_OPT_TRIES; 0: c-ares' default */
};

/* Called once per dns_resolve that returned 0 and was not cancelled.
 * status 0 with addrs (n >= 1), or ERR_INVAL (no such name, no address,
 * a server failure or timeout: reason says which), ERR_NOMEM, or
 * ERR_CLOSED (the resolver is being freed). addrs and reason are valid
 * only during the call. */
typedef void (*dns_done_fn)(void *ctx, int status, const struct dns_addrs *addrs,
                            const char *reason);

struct dns;
struct dns_query;

/* A resolver on loop l. NULL when c-ares cannot start (no memory, bad
 * servers string); *why says which. */
struct dns *dns_new(struct loop *l, const struct dns_config *cfg, const char **why);

/* Ends every pending lookup (done runs with ERR_CLOSED, unless
 * cancelled), closes c-ares' sockets, frees d. Never from inside a done
 * callback (c-ares is then still running on d). */
void dns_free(struct dns *d);

/* Resolves host (a name or an IPv4/IPv6 literal, at most DNS_MAX_NAME
 * bytes) for TCP port. done may run before this returns (a literal, a
 * cache hit, /etc/hosts), and then *q is NULL; otherwise *q is a handle for
 * dns_cancel, valid until done runs. Returns 0, or ERR_INVAL for an empty
 * or too long name (done is not called). */
int dns_resolve(struct dns *d, const char *host, uint16_t port, dns_done_fn done, void *ctx,
                struct dns_query **q);

/* done will not run for q; the lookup itself finishes in c-ares. */
void dns_cancel(struct dns_query *q);

/* Lookups sent to c-ares since dns_new (cache misses), for tests and
 * metrics. */
uint64_t dns_lookups(const struct dns *d);

#endif
