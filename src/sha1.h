/* sha1.h — SHA-1 (FIPS 180-4), for the WebSocket handshake's
 * Sec-WebSocket-Accept only (RFC 6455 §4.2.2): not for anything that
 * needs collision resistance.
 */
#ifndef WSGW_SHA1_H
#define WSGW_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define SHA1_LEN 20

struct sha1 {
	uint32_t h[5];
	uint64_t len; /* bytes hashed so far */
	uint8_t buf[64];
	size_t used; /* bytes in buf */
};

void sha1_init(struct sha1 *s);
void sha1_update(struct sha1 *s, const void *data, size_t n);
void sha1_final(struct sha1 *s, uint8_t out[SHA1_LEN]);
/* One call: out = SHA-1(data). */
void sha1(const void *data, size_t n, uint8_t out[SHA1_LEN]);

#endif
