/* redis_url.h — the --cluster URL: redis://[:password@]host:port[/db]. Pure.
 */
#ifndef WSGW_REDIS_URL_H
#define WSGW_REDIS_URL_H

#include <stdbool.h>
#include <stdint.h>

#include "net.h"

#define REDIS_URL_MAX_PASSWORD 256

/* host is an IPv4 address, a bracketed IPv6 address or "localhost"
 * (127.0.0.1): the loop resolves no names, so none is looked up. */
struct redis_url {
	struct net_ip ip;
	uint16_t port;
	char password[REDIS_URL_MAX_PASSWORD]; /* percent-decoded; "" = no AUTH */
	int db;                                /* 0..1023 */
	bool has_db;                           /* SELECT only when the URL names one */
};

/* Parses text into *out. Returns 0, or ERR_INVAL with *why a static reason.
 * Pure. */
int redis_url_parse(const char *text, struct redis_url *out, const char **why);

#endif
