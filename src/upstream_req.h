/* upstream_req.h — an HTTP/1.1 request from a call: the URL split into
 * what the pool and the request line need, and the request head laid out.
 * Pure: strings in, bytes out; no allocation, no sockets.
 */
#ifndef WSGW_UPSTREAM_REQ_H
#define WSGW_UPSTREAM_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct upstream_call;

struct upstream_url {
	bool https;
	uint16_t port;    /* the URL's, or 80 / 443 */
	const char *host; /* view: the host without IPv6 brackets */
	size_t host_len;
	const char *authority; /* view: host[:port] as written (the Host header) */
	size_t authority_len;
	size_t key_len;     /* url[0..key_len) is "scheme://authority": the pool key */
	const char *target; /* view: path and query ("" means "/"), no fragment */
	size_t target_len;
};

/* Splits an http:// or https:// URL (scheme case-insensitive). Returns 0,
 * or ERR_INVAL with *why: another scheme, user info, an empty or too long
 * host, a bad port, or a byte in the URL that cannot go on a request line
 * (control, space, non-ASCII). */
int upstream_url_parse(const char *url, struct upstream_url *u, const char **why);

/* Lays out call's request head for u into out[cap]: request line, Host
 * (the authority, or the value of a "Host: value" line in call->extra,
 * which then is not repeated), call->lines as they are, call->extra (translated from curl's spellings),
 * Content-Length when there is a body or the method is neither GET nor
 * HEAD, the empty line. Returns the length; a value > cap means out was
 * too small (nothing useful written): call again with that much room.
 * ERR_INVAL when a line holds CR or LF, or an extra line has no name. */
long upstream_req_head(const struct upstream_url *u, const struct upstream_call *call, char *out,
                       size_t cap);

#endif
