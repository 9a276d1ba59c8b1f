/* grpc_msg.c — gRPC message framing and header values (PROTOCOL-HTTP2.md:
 * Length-Prefixed-Message, grpc-timeout, grpc-message percent-encoding,
 * Content-Type).
 *
 * Owns the deframer's one message buffer (grown as the message's bytes
 * arrive, handed to the caller by grpc_deframer_take) and the bounded
 * inflation of gzip / deflate messages (zlib). Pure:
 * never touches nghttp2, sockets or the log; the caller turns ERR_LIMIT /
 * compressed messages into grpc-status.
 */
#include "grpc_msg.h"

#include <assert.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "err.h"

void grpc_deframer_init(struct grpc_deframer *d, size_t max_len)
{
	memset(d, 0, sizeof(*d));
	d->max_len = max_len;
}

void grpc_deframer_fini(struct grpc_deframer *d)
{
	free(d->msg);
	d->msg = NULL;
	d->msg_cap = 0;
	d->prefix_len = 0;
	d->msg_len = 0;
	d->msg_got = 0;
	d->compressed = false;
}

static bool is_complete(const struct grpc_deframer *d)
{
	return d->prefix_len == GRPC_PREFIX_LEN && d->msg_got == d->msg_len;
}

/* Makes room for need bytes of the current message. The buffer grows with
 * what has arrived (doubling, at most msg_len), never from the prefix
 * alone: a prefix announcing 4 MiB followed by nothing costs nothing. */
static int reserve(struct grpc_deframer *d, size_t need)
{
	size_t cap = d->msg_cap ? d->msg_cap : GRPC_DEFRAME_START;
	uint8_t *nb;

	if (need <= d->msg_cap)
		return 0;
	while (cap < need)
		cap *= 2;
	if (cap > d->msg_len)
		cap = d->msg_len;
	nb = realloc(d->msg, cap);
	if (!nb)
		return ERR_NOMEM;
	d->msg = nb;
	d->msg_cap = cap;
	return 0;
}

int grpc_deframer_feed(struct grpc_deframer *d, const uint8_t *p, size_t n, int *event)
{
	size_t used = 0, take;

	*event = GRPC_DEFRAME_MORE;
	if (n > INT_MAX) /* the count must fit the int we return */
		n = INT_MAX;
	if (is_complete(d)) { /* the caller has not taken it yet */
		*event = GRPC_DEFRAME_MESSAGE;
		return 0;
	}
	if (d->prefix_len < GRPC_PREFIX_LEN) {
		take = GRPC_PREFIX_LEN - d->prefix_len;
		if (take > n)
			take = n;
		if (take > 0)
			memcpy(d->prefix + d->prefix_len, p, take);
		d->prefix_len = (uint8_t)(d->prefix_len + take);
		used = take;
		if (d->prefix_len < GRPC_PREFIX_LEN)
			return (int)used;
		/* PROTOCOL-HTTP2.md: Compressed-Flag is 0 or 1; anything else is
		 * treated as compressed and refused by the caller. */
		d->compressed = d->prefix[0] != 0;
		d->msg_len = (uint32_t)d->prefix[1] << 24 | (uint32_t)d->prefix[2] << 16 |
		             (uint32_t)d->prefix[3] << 8 | d->prefix[4];
		d->msg_got = 0;
	}
	/* Checked on every feed, so ERR_LIMIT stays sticky. */
	if (d->msg_len > d->max_len)
		return ERR_LIMIT;
	take = d->msg_len - d->msg_got;
	if (take > n - used)
		take = n - used;
	if (take > 0) {
		if (reserve(d, (size_t)d->msg_got + take) < 0)
			return ERR_NOMEM; /* nothing of the chunk's body taken: retry */
		memcpy(d->msg + d->msg_got, p + used, take);
		d->msg_got += (uint32_t)take;
		used += take;
	}
	if (d->msg_got == d->msg_len) {
		*event = GRPC_DEFRAME_MESSAGE;
		d->messages++;
	}
	return (int)used;
}

void grpc_deframer_take(struct grpc_deframer *d, uint8_t **msg, size_t *len, bool *compressed)
{
	assert(is_complete(d));
	*msg = d->msg;
	*len = d->msg_len;
	*compressed = d->compressed;
	d->msg = NULL;
	d->msg_cap = 0;
	d->prefix_len = 0;
	d->msg_len = 0;
	d->msg_got = 0;
	d->compressed = false;
}

bool grpc_deframer_is_idle(const struct grpc_deframer *d)
{
	return d->prefix_len == 0;
}

enum grpc_encoding grpc_encoding_parse(const char *v, size_t len)
{
	if (len == 8 && memcmp(v, "identity", 8) == 0)
		return GRPC_ENC_IDENTITY;
	if (len == 4 && memcmp(v, "gzip", 4) == 0)
		return GRPC_ENC_GZIP;
	if (len == 7 && memcmp(v, "deflate", 7) == 0)
		return GRPC_ENC_DEFLATE;
	return GRPC_ENC_UNKNOWN;
}

/* Doubles the output buffer, at most to max_out. */
static int inflate_grow(z_stream *z, uint8_t **buf, size_t *cap, size_t max_out)
{
	size_t used = *cap - z->avail_out, ncap = *cap * 2;
	uint8_t *nb;

	if (ncap > max_out)
		ncap = max_out;
	nb = realloc(*buf, ncap);
	if (!nb)
		return ERR_NOMEM;
	*buf = nb;
	*cap = ncap;
	z->next_out = nb + used;
	z->avail_out = (uInt)(ncap - used);
	return 0;
}

/* Runs inflate to the end of the stream within max_out bytes of output. */
static int inflate_all(z_stream *z, uint8_t **buf, size_t *cap, size_t max_out)
{
	for (;;) {
		int zr = inflate(z, Z_NO_FLUSH);

		if (zr == Z_STREAM_END)
			return z->avail_in == 0 ? 0 : ERR_PROTO; /* one stream, nothing after */
		if (zr == Z_MEM_ERROR)
			return ERR_NOMEM;
		if (zr != Z_OK && zr != Z_BUF_ERROR)
			return ERR_PROTO;
		if (z->avail_out > 0) /* all input used, stream not ended */
			return ERR_PROTO;
		if (*cap >= max_out) {
			/* Full: one more byte of output proves a bomb. */
			uint8_t probe;

			z->next_out = &probe;
			z->avail_out = 1;
			zr = inflate(z, Z_NO_FLUSH);
			if (z->avail_out == 0)
				return ERR_LIMIT;
			if (zr == Z_STREAM_END)
				return z->avail_in == 0 ? 0 : ERR_PROTO;
			return zr == Z_MEM_ERROR ? ERR_NOMEM : ERR_PROTO; /* truncated or corrupt */
		}
		if (inflate_grow(z, buf, cap, max_out) < 0)
			return ERR_NOMEM;
	}
}

int grpc_inflate(enum grpc_encoding enc, const uint8_t *in, size_t n, size_t max_out,
		 uint8_t **out, size_t *out_len)
{
	z_stream z;
	uint8_t *buf = NULL, none; /* zlib wants a non-NULL next_out even for 0 bytes */
	size_t cap;
	int rc;

	*out = NULL;
	*out_len = 0;
	if (enc != GRPC_ENC_GZIP && enc != GRPC_ENC_DEFLATE)
		return ERR_INVAL;
	if (n > UINT_MAX || max_out > UINT_MAX)
		return ERR_LIMIT; /* zlib counts in uInt; gRPC messages are < 4 GiB */
	memset(&z, 0, sizeof z);
	/* 15: the largest window; +16: gzip wrapper only, else zlib only. */
	if (inflateInit2(&z, enc == GRPC_ENC_GZIP ? 16 + 15 : 15) != Z_OK)
		return ERR_NOMEM;
	cap = n * 4 > GRPC_DEFRAME_START ? n * 4 : GRPC_DEFRAME_START;
	if (cap > max_out)
		cap = max_out;
	buf = cap ? malloc(cap) : NULL;
	if (cap && !buf) {
		inflateEnd(&z);
		return ERR_NOMEM;
	}
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)n;
	z.next_out = buf ? buf : &none;
	z.avail_out = (uInt)cap;
	rc = inflate_all(&z, &buf, &cap, max_out);
	if (rc == 0) {
		*out_len = z.total_out;
		*out = *out_len ? buf : NULL;
		if (!*out_len)
			free(buf);
	} else {
		free(buf);
	}
	inflateEnd(&z);
	return rc;
}

void grpc_prefix_encode(uint8_t out[GRPC_PREFIX_LEN], uint32_t len)
{
	out[0] = 0;
	out[1] = (uint8_t)(len >> 24);
	out[2] = (uint8_t)(len >> 16);
	out[3] = (uint8_t)(len >> 8);
	out[4] = (uint8_t)len;
}

size_t grpc_percent_encode(const char *in, size_t in_len, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	if (outlen == 0)
		return 0;
	for (size_t i = 0; i < in_len; i++) {
		uint8_t c = (uint8_t)in[i];

		/* PROTOCOL-HTTP2.md: Percent-Byte-Unencoded is %x20-%x24 / %x26-%x7E */
		if (c >= 0x20 && c <= 0x7E && c != '%') {
			if (outlen - o < 2)
				break;
			out[o++] = (char)c;
		} else {
			if (outlen - o < 4) /* never split an escape */
				break;
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 0xF];
		}
	}
	out[o] = '\0';
	return o;
}

int grpc_timeout_parse(const char *v, size_t len, uint64_t *ns)
{
	uint64_t val = 0, mult;

	/* PROTOCOL-HTTP2.md: TimeoutValue is at most 8 ASCII digits */
	if (len < 2 || len > 9)
		return ERR_INVAL;
	for (size_t i = 0; i < len - 1; i++) {
		if (v[i] < '0' || v[i] > '9')
			return ERR_INVAL;
		val = val * 10 + (uint64_t)(v[i] - '0');
	}
	switch (v[len - 1]) {
	case 'H':
		mult = 3600ULL * 1000000000ULL;
		break;
	case 'M':
		mult = 60ULL * 1000000000ULL;
		break;
	case 'S':
		mult = 1000000000ULL;
		break;
	case 'm':
		mult = 1000000ULL;
		break;
	case 'u':
		mult = 1000ULL;
		break;
	case 'n':
		mult = 1;
		break;
	default:
		return ERR_INVAL;
	}
	*ns = val > UINT64_MAX / mult ? UINT64_MAX : val * mult;
	return 0;
}

static bool has_prefix_ci(const char *v, size_t len, const char *lit)
{
	size_t n = strlen(lit);

	if (len < n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = v[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != lit[i])
			return false;
	}
	return true;
}

bool grpc_content_type_ok(const char *v, size_t len)
{
	static const char base[] = "application/grpc";
	static const char proto[] = "+proto";
	size_t i = sizeof(base) - 1;

	/* PROTOCOL-HTTP2.md: "application/grpc" [("+proto" / "+json" / {custom})];
	 * we speak protobuf only. */
	if (!has_prefix_ci(v, len, base))
		return false;
	if (i < len && v[i] == '+') {
		if (!has_prefix_ci(v + i, len - i, proto))
			return false;
		i += sizeof(proto) - 1;
	}
	return i == len || v[i] == ';';
}
