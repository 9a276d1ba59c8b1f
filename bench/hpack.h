/* hpack.h — HPACK (RFC 7541) as far as sendlat's gRPC client needs it:
 * decoding a response header block only to read grpc-status and
 * grpc-message, encoding request fields as literals without indexing.
 * Pure: bytes in, results out; no sockets, no logging.
 */
#ifndef BENCH_HPACK_H
#define BENCH_HPACK_H

#include <stddef.h>
#include <stdint.h>

/* Longest name or value kept; longer strings are skipped over (and not
 * entered in the dynamic table). */
#define HPACK_STR_MAX 8192

struct hpack_ent {
	char *name, *value;
	size_t nlen, vlen;
};

/* One connection's decoding context: the dynamic table, a ring, [first]
 * is newest. Zeroed, then hpack_init. */
struct hpack {
	struct hpack_ent e[128]; /* 4096 / 32 entries at most */
	unsigned first, count;
	size_t size, max;
};

/* Builds the Huffman decoding tables; call once before hpack_decode. */
void hpack_tables_init(void);

/* Sets the table size to the protocol's initial 4096 bytes. */
void hpack_init(struct hpack *h);

/* Decodes one complete header block of n bytes at p, updating the dynamic
 * table. Sets *status to grpc-status (-1 if absent) and copies
 * grpc-message, cut to msgcap - 1 bytes, into msg (left alone if absent;
 * msgcap 0: not copied). Returns 0, or -1 on a compression error (the
 * connection must go, RFC 7541 §2.3.3). Exits the program when out of
 * memory. Not reentrant: it decodes through static buffers. */
int hpack_decode(struct hpack *h, const uint8_t *p, size_t n, int *status, char *msg,
                 size_t msgcap);

/* Writes the integer v with an N-bit prefix (RFC 7541 §5.1), first holding
 * the bits above the prefix; returns the bytes written (at most 11). */
size_t hpack_put_int(uint8_t *o, uint8_t first, unsigned prefix, uint64_t v);

/* Writes a literal field without indexing, no Huffman (§6.2.2): name from
 * the static table at idx, or the string name when idx is 0. Returns the
 * bytes written; o must have room for both strings plus 22 bytes. */
size_t hpack_put_lit(uint8_t *o, unsigned idx, const char *name, const char *value);

#endif
