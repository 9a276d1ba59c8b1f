/* wsupgrade.h — the values of the RFC 6455 §4.1 opening handshake. The
 * client's side, for loadgen: a Sec-WebSocket-Key and the
 * Sec-WebSocket-Accept it calls for (§4.2.2: base64 of the SHA-1 of key +
 * GUID), and the check of the server's response head; the server's side,
 * for rawproxy: the accept value for a key it was sent. Pure: no sockets,
 * no logging; SHA-1 and base64 are written out here (FIPS 180-4, RFC 4648)
 * so the benchmark programs do not link libcrypto.
 */
#ifndef BENCH_WSUPGRADE_H
#define BENCH_WSUPGRADE_H

#include <stddef.h>
#include <stdint.h>

/* The longest Sec-WebSocket-Key value wsupgrade_accept takes (a client's
 * is 24 characters, §4.1). */
#define WSUPGRADE_KEY_MAX 64

/* From 16 random bytes: the key to send (24 characters + NUL) and the
 * accept value the server must answer with (28 characters + NUL). */
void wsupgrade_key(const uint8_t raw[16], char key[25], char accept[29]);

/* Checks a complete response head (n bytes at p, through the empty line):
 * status 101 and a Sec-WebSocket-Accept equal to accept (§4.1, client
 * requirements 1 and 4). Returns 0, or -1 if it fails either. */
int wsupgrade_check(const char *p, size_t n, const char accept[29]);

/* The Sec-WebSocket-Accept (28 characters + NUL) for the key value
 * key[0..n) as received (§4.2.2, server step 5.4). Returns 0, or -1 if n
 * is 0 or above WSUPGRADE_KEY_MAX. */
int wsupgrade_accept(const char *key, size_t n, char accept[29]);

#endif
