/* redis_url.c — parses the --cluster URL (redis_url.h). Pure: no sockets,
 * no name lookup (a name other than localhost is refused, so start-up never
 * blocks on DNS).
 */
#include "redis_url.h"

#include <string.h>
#include <sys/socket.h>

#include "err.h"

static int fail(const char **why, const char *reason)
{
	*why = reason;
	return ERR_INVAL;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes p[0..n) into out (NUL-terminated). */
static int decode_password(const char *p, size_t n, char *out, const char **why)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)p[i];

		if (c == '%') {
			if (i + 2 >= n)
				return fail(why, "password: bad percent-encoding");
			if (hexval(p[i + 1]) < 0 || hexval(p[i + 2]) < 0)
				return fail(why, "password: bad percent-encoding");
			c = hexval(p[i + 1]) * 16 + hexval(p[i + 2]);
			i += 2;
		}
		if (c == 0)
			return fail(why, "password: contains a NUL byte");
		if (o + 1 >= REDIS_URL_MAX_PASSWORD)
			return fail(why, "password: longer than 255 bytes");
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

static int parse_uint(const char *p, size_t n, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;

	if (n == 0 || n > 10)
		return ERR_INVAL;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return ERR_INVAL;
		v = v * 10 + (unsigned long)(p[i] - '0');
	}
	if (v > max)
		return ERR_INVAL;
	*out = v;
	return 0;
}

int redis_url_parse(const char *text, struct redis_url *out, const char **why)
{
	static const char scheme[] = "redis://";
	const char *p, *end, *at, *slash, *host, *colon;
	size_t host_len;
	unsigned long v;

	memset(out, 0, sizeof *out);
	if (strncmp(text, scheme, sizeof scheme - 1))
		return fail(why, "must start with redis://");
	p = text + sizeof scheme - 1;
	end = p + strlen(p);
	slash = memchr(p, '/', (size_t)(end - p));
	if (!slash)
		slash = end;
	/* The password may hold '@' only percent-encoded: the last '@' ends it. */
	at = NULL;
	for (const char *q = p; q < slash; q++)
		if (*q == '@')
			at = q;
	if (at) {
		if (*p != ':')
			return fail(
			    why, "user names are not supported: use redis://:password@host:port");
		if (decode_password(p + 1, (size_t)(at - p - 1), out->password, why) < 0)
			return ERR_INVAL;
		p = at + 1;
	}
	host = p;
	if (*host == '[') {
		const char *rb = memchr(host, ']', (size_t)(slash - host));

		if (!rb || rb + 1 >= slash || rb[1] != ':')
			return fail(why, "expected [IPv6]:port");
		colon = rb + 1;
		host++;
		host_len = (size_t)(rb - host);
	} else {
		colon = memchr(host, ':', (size_t)(slash - host));
		if (!colon)
			return fail(why, "expected host:port");
		host_len = (size_t)(colon - host);
	}
	if (host_len == 9 && !memcmp(host, "localhost", 9)) {
		out->ip.family = AF_INET;
		out->ip.addr[0] = 127;
		out->ip.addr[3] = 1;
	} else if (net_ip_parse(host, host_len, &out->ip) < 0) {
		return fail(why, "host must be an IP address or localhost (no name lookup)");
	}
	if (parse_uint(colon + 1, (size_t)(slash - colon - 1), 65535, &v) < 0 || v == 0)
		return fail(why, "port must be 1..65535");
	out->port = (uint16_t)v;
	if (slash < end) {
		if (parse_uint(slash + 1, (size_t)(end - slash - 1), 1023, &v) < 0)
			return fail(why, "database must be a number 0..1023");
		out->db = (int)v;
		out->has_db = true;
	}
	return 0;
}
