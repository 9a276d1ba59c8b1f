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

/* TCP_NOTSENT_LOWAT: the kernel takes no more writes (and reports no
 * EPOLLOUT) while more than `bytes` of fd's output are not yet sent, so
 * output to a peer that does not read waits in our own bounded queue
 * instead of an autotuned send buffer of up to tcp_wmem's maximum. */
void net_limit_unsent(int fd, int bytes);

/* The cheap refusal of a just-accepted socket: reads once what the client
 * already sent (so close() sends FIN, not RST), writes resp once without
 * blocking (what the kernel does not take is dropped), closes fd. */
void net_refuse(int fd, const void *resp, size_t len);

/* Opens the spare descriptor (an eventfd) that net_accept_refuse spends at
 * EMFILE. Returns the fd, or -1 with errno set. */
int net_spare_open(void);

/* At EMFILE: closes the spare *spare, accepts one pending connection on
 * listen_fd, answers it with net_refuse(resp), and reopens the spare
 * (*spare is -1 if that failed, e.g. at ENFILE). Returns 0 when one
 * connection was refused, ERR_AGAIN when none was pending, ERR_SYS when
 * there is no spare or accept4 failed otherwise (errno set). */
int net_accept_refuse(int listen_fd, int *spare, const void *resp, size_t len);

/* True for 127.0.0.0/8 and ::1. */
bool net_addr_is_loopback(const struct config_addr *addr);

/* Formats ip into out[INET6_ADDRSTRLEN] ("127.0.0.1", "::1"). IPv4-mapped
 * IPv6 addresses are shown as IPv4. */
void net_ip_format(const struct net_ip *ip, char *out, size_t outlen);

/* Parses a textual IPv4 or IPv6 address. Returns 0 or ERR_INVAL. */
int net_ip_parse(const char *text, size_t len, struct net_ip *out);

#endif
