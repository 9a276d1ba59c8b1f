/* pagetok.h — ListConnections' page token: opaque to clients, it carries
 * the position of the last connection listed (its registry seq) and a check
 * value tying it to the listing's filters and to this process, so a token
 * from another filter or a mangled one is refused (INVALID_ARGUMENT)
 * instead of silently listing the wrong set. Base64url without padding
 * (RFC 4648 §5): safe in a query string unescaped. Pure.
 */
#ifndef WSGW_PAGETOK_H
#define WSGW_PAGETOK_H

#include <stddef.h>
#include <stdint.h>

#define PAGETOK_RAW 17 /* version byte, seq (8, big-endian), check (8) */
#define PAGETOK_LEN 23 /* its base64url text */
/* Cluster mode (README "Running several nodes"): version 2 adds the tag of
 * the node the listing is on; seq is that node's own position. */
#define PAGETOK_TAG_LEN 6
#define PAGETOK_NODE_RAW 23 /* version byte, tag (6), seq (8), check (8) */
#define PAGETOK_NODE_LEN 31
#define PAGETOK_MAX_LEN PAGETOK_NODE_LEN

/* Writes the token of (seq, check) into out[PAGETOK_LEN + 1], NUL-terminated.
 * Returns PAGETOK_LEN. */
size_t pagetok_encode(uint64_t seq, uint64_t check, char *out);

/* Parses s[0..n). Returns 0 with *seq and *check, or ERR_INVAL for any
 * text that pagetok_encode cannot have produced. */
int pagetok_decode(const char *s, size_t n, uint64_t *seq, uint64_t *check);

/* The same with the node tag (PAGETOK_TAG_LEN bytes, any values) into
 * out[PAGETOK_NODE_LEN + 1]; decode fills tag[PAGETOK_TAG_LEN]. A version-1
 * token never decodes here, nor a version-2 one in pagetok_decode. */
size_t pagetok_node_encode(const char *tag, uint64_t seq, uint64_t check, char *out);
int pagetok_node_decode(const char *s, size_t n, char *tag, uint64_t *seq, uint64_t *check);

/* The check value of a position under a filter: a keyed 64-bit hash of
 * secret, seq and the filter's bytes (not a MAC against attackers, who
 * could only list what the token holder may list anyway; it catches
 * tokens reused with other filters and corruption). Call with the filter
 * fields one after another through *h, starting from pagetok_check_init. */
uint64_t pagetok_check_init(uint64_t secret, uint64_t seq);
uint64_t pagetok_check_add(uint64_t h, const void *p, size_t n);

#endif
