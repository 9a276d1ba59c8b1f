/* upstream_req.c — URL splitting (RFC 3986 §3.2 authority, http and https
 * only) and the request head of a backend call (RFC 9112 §3: request line,
 * Host first as RFC 9110 §7.2 asks, then the fields, Content-Length per
 * RFC 9110 §8.6). Pure: no allocation, no sockets; the caller owns the
 * output buffer and its size.
 */
#include "upstream_req.h"

#include <string.h>
#include <strings.h>

#include "dns.h"
#include "err.h"
#include "upstream.h"

static bool is_url_byte(unsigned char ch)
{
	return ch > 0x20 && ch < 0x7f; /* no control, space, DEL or non-ASCII */
}

int upstream_url_parse(const char *url, struct upstream_url *u, const char **why)
{
	const char *p, *auth, *end, *colon = NULL;
	unsigned long port = 0;

	memset(u, 0, sizeof *u);
	for (p = url; *p; p++)
		if (!is_url_byte((unsigned char)*p)) {
			*why = "a control byte, space or non-ASCII byte in the URL";
			return ERR_INVAL;
		}
	if (!strncasecmp(url, "http://", 7)) {
		auth = url + 7;
	} else if (!strncasecmp(url, "https://", 8)) {
		auth = url + 8;
		u->https = true;
	} else {
		*why = "not an http:// or https:// URL";
		return ERR_INVAL;
	}
	end = auth + strcspn(auth, "/?#");
	if (memchr(auth, '@', (size_t)(end - auth))) {
		*why = "user information in the URL is not supported";
		return ERR_INVAL;
	}
	u->authority = auth;
	u->authority_len = (size_t)(end - auth);
	u->key_len = (size_t)(end - url);
	if (*auth == '[') { /* RFC 3986 §3.2.2: IP-literal */
		const char *rb = memchr(auth, ']', (size_t)(end - auth));

		if (!rb) {
			*why = "unclosed [ in the URL's host";
			return ERR_INVAL;
		}
		u->host = auth + 1;
		u->host_len = (size_t)(rb - auth - 1);
		if (rb + 1 < end && rb[1] != ':') {
			*why = "bad bytes after the URL's [host]";
			return ERR_INVAL;
		}
		colon = rb + 1 < end ? rb + 1 : NULL;
	} else {
		colon = memchr(auth, ':', (size_t)(end - auth));
		u->host = auth;
		u->host_len = (size_t)((colon ? colon : end) - auth);
	}
	if (u->host_len == 0 || u->host_len > DNS_MAX_NAME) {
		*why = "empty or too long host in the URL";
		return ERR_INVAL;
	}
	if (colon && colon + 1 < end) {
		for (p = colon + 1; p < end; p++) {
			if (*p < '0' || *p > '9' || port > 65535) {
				*why = "bad port in the URL";
				return ERR_INVAL;
			}
			port = port * 10 + (unsigned long)(*p - '0');
		}
		if (port == 0 || port > 65535) {
			*why = "bad port in the URL";
			return ERR_INVAL;
		}
	}
	u->port = port ? (uint16_t)port : u->https ? 443 : 80;
	u->target = end;
	u->target_len = strcspn(end, "#");
	return 0;
}

/* Counts every byte; copies those that fit. */
struct out {
	char *p;
	size_t cap, len;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->len < o->cap)
		memcpy(o->p + o->len, s, n <= o->cap - o->len ? n : o->cap - o->len);
	o->len += n;
}

static void put_s(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* One caller line in curl's spellings (upstream.h). */
static int put_extra(struct out *o, const char *line)
{
	size_t n = strlen(line), name = strcspn(line, ":;");
	const char *v;

	if (strpbrk(line, "\r\n") || name == 0 || name == n)
		return ERR_INVAL;
	if (line[name] == ';') {
		if (name + 1 != n) /* "a;b": a value, not curl's empty-value form */
			goto as_is;
		put(o, line, name);
		put_s(o, ":\r\n");
		return 0;
	}
	for (v = line + name + 1; *v == ' ' || *v == '\t'; v++)
		;
	if (!*v)
		return 0; /* "Name:": send nothing */
as_is:
	put(o, line, n);
	put_s(o, "\r\n");
	return 0;
}

/* The caller's extra "Host: value" line (non-empty value), or NULL. */
static const char *host_line(const struct upstream_call *call)
{
	for (size_t i = 0; i < call->num_extra; i++) {
		const char *l = call->extra[i];

		if (!strncasecmp(l, "Host:", 5) && l[5 + strspn(l + 5, " \t")] &&
		    !strpbrk(l, "\r\n"))
			return l;
	}
	return NULL;
}

long upstream_req_head(const struct upstream_url *u, const struct upstream_call *call, char *out,
                       size_t cap)
{
	const char *host;
	struct out o = {out, cap, 0};
	bool get = !strcmp(call->method, "GET"), head = !strcmp(call->method, "HEAD");
	char num[24], *d = num + sizeof num;
	size_t v = call->body_len;

	if (strpbrk(call->method, " \r\n") || !*call->method)
		return ERR_INVAL;
	put_s(&o, call->method);
	put_s(&o, " ");
	if (u->target_len == 0 || u->target[0] == '?')
		put_s(&o, "/");
	put(&o, u->target, u->target_len);
	put_s(&o, " HTTP/1.1\r\nHost: ");
	/* A caller's Host line (a container call keeps the client's) takes
	 * the authority's place: one Host, first (RFC 9110 §7.2). */
	host = host_line(call);
	if (host)
		put_s(&o, host + 5 + strspn(host + 5, " \t"));
	else
		put(&o, u->authority, u->authority_len);
	put_s(&o, "\r\n");
	if (call->lines)
		put(&o, call->lines, call->lines_len);
	for (size_t i = 0; i < call->num_extra; i++)
		if (call->extra[i] != host && put_extra(&o, call->extra[i]) < 0)
			return ERR_INVAL;
	if (call->body_len || !(get || head)) {
		do
			*--d = (char)('0' + v % 10);
		while ((v /= 10) != 0);
		put_s(&o, "Content-Length: ");
		put(&o, d, (size_t)(num + sizeof num - d));
		put_s(&o, "\r\n");
	}
	put_s(&o, "\r\n");
	return (long)o.len;
}
