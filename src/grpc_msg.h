/* grpc_msg.h — gRPC over HTTP/2 message framing and header values
 * (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md).
 * Pure: bytes in, results out; no nghttp2, no sockets, no logging.
 */
#ifndef WSGW_GRPC_MSG_H
#define WSGW_GRPC_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GRPC_PREFIX_LEN 5
#define GRPC_DEFRAME_START 4096 /* first body allocation */

/* grpc-encoding values we accept (PROTOCOL-HTTP2.md: Message-Encoding). */
enum grpc_encoding { GRPC_ENC_IDENTITY, GRPC_ENC_GZIP, GRPC_ENC_DEFLATE, GRPC_ENC_UNKNOWN };

/* What we advertise in grpc-accept-encoding on every response. */
#define GRPC_ACCEPT_ENCODING "identity, deflate, gzip"

/* Reassembles length-prefixed messages from DATA chunks of any size: a
 * chunk may hold part of a prefix, a prefix and part of a message, or
 * several messages. The message body is copied into one heap buffer that
 * grows with the bytes that actually arrived (from GRPC_DEFRAME_START,
 * doubling), at most the announced length, at most max_len. */
struct grpc_deframer {
	uint8_t prefix[GRPC_PREFIX_LEN];
	uint8_t prefix_len;
	bool compressed;
	uint32_t msg_len;  /* from the prefix */
	uint32_t msg_got;
	uint8_t *msg;
	size_t msg_cap;    /* bytes allocated at msg */
	size_t max_len;
	unsigned messages; /* complete messages seen */
};

enum {
	GRPC_DEFRAME_MORE = 0,       /* need more bytes */
	GRPC_DEFRAME_MESSAGE = 1,    /* a message is complete: take it */
};

void grpc_deframer_init(struct grpc_deframer *d, size_t max_len);
void grpc_deframer_fini(struct grpc_deframer *d);

/* Consumes up to n bytes from p. Returns the number consumed (>= 0) and
 * sets *event to GRPC_DEFRAME_MESSAGE when a message just completed (call
 * grpc_deframer_take, then continue with the rest of the chunk), or a
 * negative ERR_*: ERR_LIMIT when the prefix announces more than max_len
 * (nothing allocated; sticky), ERR_NOMEM. */
int grpc_deframer_feed(struct grpc_deframer *d, const uint8_t *p, size_t n, int *event);

/* Hands over the completed message: *msg (heap, caller frees; NULL when
 * the length is 0), *len, *compressed. Resets for the next message. */
void grpc_deframer_take(struct grpc_deframer *d, uint8_t **msg, size_t *len, bool *compressed);

/* True between messages (no partial prefix or body pending). */
bool grpc_deframer_is_idle(const struct grpc_deframer *d);

/* The encoding named by a grpc-encoding value (case-sensitive, as the
 * spec's names are); GRPC_ENC_UNKNOWN for any other. */
enum grpc_encoding grpc_encoding_parse(const char *v, size_t len);

/* Inflates one compressed message (GRPC_ENC_GZIP: RFC 1952; DEFLATE: the
 * zlib format of RFC 1950, as gRPC's "deflate" is) into a new heap buffer
 * (*out, caller frees; NULL when *out_len is 0). The output never grows
 * past max_out bytes: a stream that would inflate beyond returns ERR_LIMIT
 * (a decompression bomb costs at most max_out bytes and the time to
 * produce them). ERR_PROTO: corrupt, truncated, or trailing bytes;
 * ERR_INVAL: enc is not a compressed encoding; ERR_NOMEM. */
int grpc_inflate(enum grpc_encoding enc, const uint8_t *in, size_t n, size_t max_out,
		 uint8_t **out, size_t *out_len);

/* Writes the 5-byte prefix for an uncompressed message of len bytes. */
void grpc_prefix_encode(uint8_t out[GRPC_PREFIX_LEN], uint32_t len);

/* Percent-encodes a grpc-message value (bytes outside 0x20..0x7E and '%'
 * become %XX). Writes at most outlen-1 bytes plus NUL, never splitting an
 * escape. Returns the length written. */
size_t grpc_percent_encode(const char *in, size_t in_len, char *out, size_t outlen);

/* Parses a grpc-timeout value ("1..8 digits" + H/M/S/m/u/n) into
 * nanoseconds (saturating). Returns 0 or ERR_INVAL. */
int grpc_timeout_parse(const char *v, size_t len, uint64_t *ns);

/* True when the content-type is application/grpc or application/grpc+proto
 * (optionally followed by ";params"), case-insensitive. */
bool grpc_content_type_ok(const char *v, size_t len);

#endif
