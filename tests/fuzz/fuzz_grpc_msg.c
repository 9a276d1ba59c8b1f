/* fuzz_grpc_msg.c — libFuzzer target for grpc_msg.c and api_pb.c.
 *
 * Input: byte 0 picks max_len; byte 1 (low 3 bits) says how many chunk-size
 * bytes follow; the rest is a stream of length-prefixed gRPC messages. The
 * stream is fed to a deframer in chunks of those sizes (cycling) and the
 * result compared with a plain reference walk of the stream: the same
 * messages in order, ERR_LIMIT at the same one, a partial tail exactly when
 * the reference has one. Each message, and the whole stream, goes through
 * api_pb_decode for every kind (views stay inside the message; what decodes
 * re-packs and decodes to the same). The stream is also thrown at the
 * header-value helpers and at grpc_inflate (gzip and deflate, capped at
 * max_len). Any broken invariant aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <protobuf-c/protobuf-c.h>

#include "fuzz.h"
#include "api_pb.h"
#include "err.h"
#include "grpc_msg.h"



#define MAX_REF 4096

struct ref {
	size_t off[MAX_REF], len[MAX_REF];
	bool compressed[MAX_REF];
	size_t n;
	bool limit;   /* message n announces more than max */
	bool partial; /* bytes of an unfinished message at the end */
};

static void ref_walk(const uint8_t *s, size_t n, size_t max, struct ref *r)
{
	size_t pos = 0;

	memset(r, 0, sizeof(*r));
	while (pos < n) {
		uint32_t len;

		if (n - pos < GRPC_PREFIX_LEN) {
			r->partial = true;
			return;
		}
		len = (uint32_t)s[pos + 1] << 24 | (uint32_t)s[pos + 2] << 16 |
		      (uint32_t)s[pos + 3] << 8 | s[pos + 4];
		if (len > max) {
			r->limit = true;
			return;
		}
		if (n - pos - GRPC_PREFIX_LEN < len) {
			r->partial = true;
			return;
		}
		r->off[r->n] = pos + GRPC_PREFIX_LEN;
		r->len[r->n] = len;
		r->compressed[r->n] = s[pos] != 0;
		r->n++;
		pos += GRPC_PREFIX_LEN + len;
	}
}

static void check_decode(const uint8_t *p, size_t n)
{
	static const enum api_pb_kind kinds[] = {API_PB_GET, API_PB_SEND, API_PB_DISCONNECT,
	                                         API_PB_HEALTH_CHECK};

	for (size_t k = 0; k < 4; k++) {
		struct api_pb_request r, r2;
		uint8_t *again;
		size_t n2;
		int rc = api_pb_decode(kinds[k], p, n, &r);

		if (rc != 0) {
			CHECK(rc == ERR_PROTO && r.msg == NULL);
			api_pb_request_free(&r);
			continue;
		}
		CHECK(r.msg != NULL && r.kind == kinds[k] && r.id != NULL);
		CHECK(r.id_len <= n && r.id[r.id_len] == '\0' && strlen(r.id) <= r.id_len);
		CHECK(r.data_len <= n && (r.data_len == 0 || r.data != NULL));
		if (kinds[k] == API_PB_HEALTH_CHECK) {
			CHECK(r.service != NULL && r.service_len <= n);
			CHECK(r.service[r.service_len] == '\0');
		} else {
			CHECK(r.service == NULL);
		}
		if (kinds[k] != API_PB_SEND)
			CHECK(r.data == NULL && r.type == 0);
		/* re-pack (protobuf-c stops strings at a NUL) and decode again */
		n2 = protobuf_c_message_get_packed_size(r.msg);
		again = malloc(n2 ? n2 : 1);
		CHECK(again != NULL);
		CHECK(protobuf_c_message_pack(r.msg, again) == n2);
		CHECK(api_pb_decode(kinds[k], again, n2, &r2) == 0);
		CHECK(r2.id_len == strlen(r.id) && memcmp(r2.id, r.id, r2.id_len) == 0);
		CHECK(r2.data_len == r.data_len && r2.type == r.type);
		CHECK(r.data_len == 0 || memcmp(r2.data, r.data, r.data_len) == 0);
		if (r.service)
			CHECK(strcmp(r2.service, r.service) == 0);
		api_pb_request_free(&r2);
		api_pb_request_free(&r);
		free(again);
	}
}

/* Feeds s[0..n) in chunks sized by sizes[] (cycling) and checks every
 * message against the reference as it comes out. */
static void check_deframe(const uint8_t *s, size_t n, size_t max, const uint8_t *sizes, size_t k)
{
	struct grpc_deframer d;
	struct ref *r = malloc(sizeof(*r));
	size_t pos = 0, got = 0, ci = 0;
	bool any = false;
	int err = 0;

	CHECK(r != NULL);
	ref_walk(s, n, max, r);
	for (size_t i = 0; i < k; i++)
		any |= sizes[i] != 0;
	grpc_deframer_init(&d, max);
	while (pos < n && err == 0) {
		size_t chunk = any ? sizes[ci++ % k] : n - pos;

		if (chunk > n - pos)
			chunk = n - pos;
		for (size_t left = chunk; err == 0;) {
			int ev = -1;
			int rc = grpc_deframer_feed(&d, s + pos, left, &ev);

			if (rc < 0) {
				err = rc;
				break;
			}
			CHECK((size_t)rc <= left);
			pos += (size_t)rc;
			left -= (size_t)rc;
			if (ev != GRPC_DEFRAME_MESSAGE) {
				CHECK(ev == GRPC_DEFRAME_MORE && left == 0);
				break;
			}
			uint8_t *m;
			size_t len;
			bool c;

			grpc_deframer_take(&d, &m, &len, &c);
			CHECK(got < r->n && grpc_deframer_is_idle(&d));
			CHECK(len == r->len[got] && c == r->compressed[got] && len <= max);
			CHECK(len == 0 ? m == NULL : memcmp(m, s + r->off[got], len) == 0);
			CHECK(pos == r->off[got] + len);
			if (got < 8)
				check_decode(m, len);
			free(m);
			got++;
			if (left == 0)
				break;
		}
	}
	CHECK(got == r->n && d.messages == got);
	CHECK(err == (r->limit ? ERR_LIMIT : 0));
	if (err == ERR_LIMIT)
		CHECK(d.msg == NULL); /* refused before allocating */
	else
		CHECK(grpc_deframer_is_idle(&d) == !r->partial);
	grpc_deframer_fini(&d);
	free(r);
}

static int unhex(char c)
{
	return c <= '9' ? c - '0' : c - 'A' + 10;
}

static void check_percent(const uint8_t *s, size_t n, size_t outlen)
{
	char *out = malloc(outlen + 1);
	size_t o, i = 0;

	CHECK(out != NULL);
	out[outlen] = 'Z';
	o = grpc_percent_encode((const char *)s, n, out, outlen);
	CHECK(out[outlen] == 'Z');
	if (outlen == 0) {
		CHECK(o == 0);
		free(out);
		return;
	}
	CHECK(o < outlen && out[o] == '\0');
	/* decodes back to a prefix of the input; only allowed bytes appear */
	for (size_t j = 0; j < o; i++) {
		uint8_t c = (uint8_t)out[j];

		CHECK(c >= 0x20 && c <= 0x7E && i < n);
		if (c == '%') {
			CHECK(j + 2 < o);
			CHECK(strchr("0123456789ABCDEF", out[j + 1]) && out[j + 1]);
			CHECK(strchr("0123456789ABCDEF", out[j + 2]) && out[j + 2]);
			CHECK((uint8_t)(unhex(out[j + 1]) << 4 | unhex(out[j + 2])) == s[i]);
			j += 3;
		} else {
			CHECK(c == s[i]);
			j++;
		}
	}
	/* stopped early only when the next byte did not fit */
	if (i < n) {
		bool plain = s[i] >= 0x20 && s[i] <= 0x7E && s[i] != '%';

		CHECK(outlen - o < (plain ? 2u : 4u));
	}
	free(out);
}

static void check_headers(const uint8_t *s, size_t n)
{
	uint64_t ns = 7;
	int rc = grpc_timeout_parse((const char *)s, n, &ns);

	if (rc == 0) {
		unsigned __int128 v = 0, mult = 1;

		CHECK(n >= 2 && n <= 9);
		for (size_t i = 0; i + 1 < n; i++) {
			CHECK(s[i] >= '0' && s[i] <= '9');
			v = v * 10 + (s[i] - '0');
		}
		switch (s[n - 1]) {
		case 'H':
			mult = 3600000000000ULL;
			break;
		case 'M':
			mult = 60000000000ULL;
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
			break;
		default:
			CHECK(0);
		}
		v *= mult;
		CHECK(ns == (v > UINT64_MAX ? UINT64_MAX : (uint64_t)v));
	} else {
		CHECK(rc == ERR_INVAL && ns == 7);
	}
	const char *v = (const char *)s;
	bool proto = n >= 22 && strncasecmp(v + 16, "+proto", 6) == 0 && (n == 22 || v[22] == ';');
	bool want = n >= 16 && strncasecmp(v, "application/grpc", 16) == 0 &&
	            (n == 16 || v[16] == ';' || proto);

	CHECK(grpc_content_type_ok(v, n) == want);
}

/* Inflation never hands out more than max bytes, and an answer of 0 comes
 * with exactly out_len bytes (ASan checks the reads). */
static void check_inflate(const uint8_t *s, size_t n, size_t max)
{
	for (int e = GRPC_ENC_GZIP; e <= GRPC_ENC_DEFLATE; e++) {
		uint8_t *out;
		size_t out_len;
		int rc = grpc_inflate((enum grpc_encoding)e, s, n, max, &out, &out_len);

		if (rc == 0) {
			if (out_len > max || (out_len == 0) != (out == NULL))
				abort();
			if (out_len) {
				volatile uint8_t ends = out[0] ^ out[out_len - 1]; /* ASan checks */
				(void)ends;
			}
			free(out);
		} else if (out != NULL || (rc != ERR_LIMIT && rc != ERR_PROTO && rc != ERR_NOMEM)) {
			abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t max, k;
	const uint8_t *sizes;

	if (size < 2)
		return 0;
	/* small limits (0..127) to hit ERR_LIMIT, or up to 512 KiB */
	max = data[0] & 0x80 ? (size_t)(data[0] & 0x7F) << 12 : data[0];
	k = data[1] & 7;
	if (size - 2 < k)
		return 0;
	sizes = data + 2;
	data += 2 + k;
	size -= 2 + k;
	if (size / GRPC_PREFIX_LEN < MAX_REF) /* the reference holds them all */
		check_deframe(data, size, max, sizes, k);
	check_decode(data, size);
	check_percent(data, size, k ? (size_t)sizes[0] * 4 : size * 3 + 1);
	check_headers(data, size);
	check_inflate(data, size, max);
	return 0;
}
