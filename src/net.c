/* net.c — listen, accept4 and socket options. Owns no buffers and no
 * connection state; the connection layer calls it.
 */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "err.h"

int net_listen(const struct config_addr *addr, int backlog)
{
	int one = 1, fd, saved;

	fd = socket(addr->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ERR_SYS;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
		goto out_close;
	/* Dual stack: "[::]:8080" also takes IPv4 clients (seen as mapped
	 * addresses, which net_accept turns back into IPv4). */
	if (addr->sa.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &(int){0}, sizeof(int)) < 0)
		goto out_close;
	if (bind(fd, (const struct sockaddr *)&addr->sa, addr->len) < 0)
		goto out_close;
	if (listen(fd, backlog) < 0)
		goto out_close;
	return fd;
out_close:
	saved = errno;
	close(fd);
	errno = saved;
	return ERR_SYS;
}

int net_local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static void ip_from_sockaddr(const struct sockaddr_storage *ss, struct net_ip *ip)
{
	memset(ip, 0, sizeof *ip);
	if (ss->ss_family == AF_INET) {
		ip->family = AF_INET;
		memcpy(ip->addr, &((const struct sockaddr_in *)ss)->sin_addr, 4);
	} else if (ss->ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a)) {
			ip->family = AF_INET;
			memcpy(ip->addr, a->s6_addr + 12, 4);
		} else {
			ip->family = AF_INET6;
			memcpy(ip->addr, a->s6_addr, 16);
		}
	}
}

int net_accept(int listen_fd, struct net_ip *ip)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	int one = 1;
	int fd = accept4(listen_fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? ERR_AGAIN
										   : ERR_SYS;
	/* Small frames (pings, echoes) must not wait for Nagle. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	ip_from_sockaddr(&ss, ip);
	return fd;
}

void net_limit_unsent(int fd, int bytes)
{
	/* Best effort: without it the connection works, only less bounded. */
	setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &bytes, sizeof bytes);
}

void net_refuse(int fd, const void *resp, size_t len)
{
	char sink[2048];
	ssize_t w;

	/* Take what the client already sent (usually its whole request), so
	 * that close() sends FIN: closing with unread input sends RST, which
	 * may reach the client before it reads the answer. One try each way;
	 * a refusal must cost no more than that. */
	(void)!read(fd, sink, sizeof sink);
	w = write(fd, resp, len);
	(void)w; /* what the kernel did not take is dropped: best effort */
	close(fd);
}

int net_spare_open(void)
{
	/* An eventfd needs no file system: a FROM-scratch image, or a chroot,
	 * has no /dev/null. */
	return eventfd(0, EFD_CLOEXEC);
}

int net_accept_refuse(int listen_fd, int *spare, const void *resp, size_t len)
{
	int fd, saved;

	if (*spare < 0) {
		errno = EMFILE;
		return ERR_SYS;
	}
	/* The classic spare-descriptor trick: give back the one descriptor
	 * kept for this moment, so accept4 can take the connection off the
	 * backlog and answer it instead of leaving it there. Single-threaded,
	 * nothing can take the freed number between these calls. */
	close(*spare);
	*spare = -1;
	fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	saved = errno;
	if (fd >= 0)
		net_refuse(fd, resp, len);
	*spare = net_spare_open();
	if (fd >= 0)
		return 0;
	errno = saved;
	return (saved == EAGAIN || saved == EWOULDBLOCK || saved == EINTR) ? ERR_AGAIN : ERR_SYS;
}

void net_ip_format(const struct net_ip *ip, char *out, size_t outlen)
{
	if (!inet_ntop(ip->family == AF_INET6 ? AF_INET6 : AF_INET, ip->addr, out,
		       (socklen_t)outlen) &&
	    outlen)
		out[0] = '\0';
}

int net_ip_parse(const char *text, size_t len, struct net_ip *out)
{
	char buf[INET6_ADDRSTRLEN];

	if (len == 0 || len >= sizeof buf)
		return ERR_INVAL;
	memcpy(buf, text, len);
	buf[len] = '\0';
	memset(out, 0, sizeof *out);
	if (inet_pton(AF_INET, buf, out->addr) == 1) {
		out->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		out->family = AF_INET6;
		return 0;
	}
	return ERR_INVAL;
}

bool net_addr_is_loopback(const struct config_addr *addr)
{
	if (addr->sa.ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)&addr->sa)->sin_addr.s_addr) >> 24) == 127;
	return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)&addr->sa)->sin6_addr);
}
