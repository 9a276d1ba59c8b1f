/* net.h — listening sockets and accepted-socket options. No buffering. */
#ifndef WSGW_NET_H
#define WSGW_NET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"

/* Binary peer address, enough for IPv4 and IPv6 (kept per connection). */
struct net_ip {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
};

/* Creates a non-blocking, close-on-exec listening socket bound to addr with
 * SO_REUSEADDR; an IPv6 wildcard ("[::]") is dual-stack and takes IPv4 too.
 * Returns the fd, or ERR_SYS with errno set. */
int net_listen(const struct config_addr *addr, int backlog);

/* The port a listening socket is bound to (for ephemeral port 0). */
int net_local_port(int fd);

/* accept4 with SOCK_NONBLOCK | SOCK_CLOEXEC and TCP_NODELAY; fills *ip.
 * Returns the fd, or ERR_AGAIN when none is pending, or ERR_SYS. */
int net_accept(int listen_fd, struct net_ip *ip);

/* True for 127.0.0.0/8 and ::1. */
bool net_addr_is_loopback(const struct config_addr *addr);

/* Formats ip into out[INET6_ADDRSTRLEN] ("127.0.0.1", "::1"). IPv4-mapped
 * IPv6 addresses are shown as IPv4. */
void net_ip_format(const struct net_ip *ip, char *out, size_t outlen);

/* Parses a textual IPv4 or IPv6 address. Returns 0 or ERR_INVAL. */
int net_ip_parse(const char *text, size_t len, struct net_ip *out);

#endif
