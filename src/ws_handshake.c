/* ws_handshake.c — RFC 6455 §4.2 server side of the opening handshake.
 *
 * Owns the validation of a parsed request head against RFC 6455 §4.2.1,
 * subprotocol selection (§4.2.2, §11.3.4) and the Sec-WebSocket-Accept value
 * (§4.2.2 item 5.4). Pure: libcrypto for base64 and SHA-1, no sockets, no
 * logging, no allocation; every view it hands out points into the request
 * (or at a static literal). The connection layer writes the response.
 */
#include "ws_handshake.h"

#include <assert.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#define WS_KEY_LEN 24     /* base64 of a 16-byte nonce, "==" padded */
#define WS_KEY_RAW_LEN 16 /* RFC 6455 §4.1: a randomly selected 16-byte value */

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

static const struct http1_str empty = {"", 0};

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* One item of a #list: [s, e) trimmed of OWS. */
struct item {
	const char *s;
	const char *e;
};

/* Steps *p through the comma list ending at end, skipping empty items
 * (RFC 9110 §5.6.1). Returns false when no item is left. */
static bool next_item(const char **p, const char *end, struct item *it)
{
	while (*p < end) {
		const char *comma = memchr(*p, ',', (size_t)(end - *p));
		const char *e = comma ? comma : end;
		const char *s = *p;

		*p = comma ? comma + 1 : end;
		while (s < e && is_ows(*s))
			s++;
		while (e > s && is_ows(e[-1]))
			e--;
		if (e > s) {
			*it = (struct item){s, e};
			return true;
		}
	}
	return false;
}

/* RFC 9110 §5.3: several field lines with one name form one comma list. */
static bool any_has_token(const struct http1_request *req, const char *name, const char *token)
{
	for (size_t i = 0; i < req->num_headers; i++)
		if (http1_str_eq_ci(req->headers[i].name, name) &&
		    http1_has_token(req->headers[i].value, token))
			return true;
	return false;
}

/* The value of the only field line called `name`, or NULL when it is
 * absent or repeated. */
static const struct http1_str *only_value(const struct http1_request *req, const char *name)
{
	const struct http1_header *h = http1_find(req, name);

	return h && http1_count(req, name) == 1 ? &h->value : NULL;
}

/* RFC 6455 §4.2.1 item 5: base64 of exactly 16 bytes. EVP_DecodeBlock is
 * lax (no padding report, leading blanks, '=' inside), so the decoded bytes
 * are encoded again and must give back the key byte for byte: that pins the
 * alphabet, the "==" padding and the zero trailing bits. */
static bool is_valid_key(struct http1_str key)
{
	unsigned char raw[WS_KEY_LEN], again[WS_KEY_LEN + 1];

	if (key.len != WS_KEY_LEN || memcmp(key.p + WS_KEY_LEN - 2, "==", 2) != 0)
		return false;
	if (EVP_DecodeBlock(raw, (const unsigned char *)key.p, WS_KEY_LEN) != 18)
		return false;
	if (EVP_EncodeBlock(again, raw, WS_KEY_RAW_LEN) != WS_KEY_LEN)
		return false;
	return memcmp(again, key.p, WS_KEY_LEN) == 0;
}

static bool has_prefix_ci(struct http1_str s, const char *lit, size_t n)
{
	return s.len >= n && http1_str_eq_ci((struct http1_str){s.p, n}, lit);
}

/* RFC 9112 §3.2: origin-form ("/path?query") or absolute-form with a
 * ws/http scheme (RFC 6455 §3, RFC 9110 §4.2.1); the path stops at '?'.
 * An empty absolute path means "/" (RFC 9110 §4.2.3). */
static bool split_path(struct http1_str target, struct http1_str *path)
{
	const char *p = target.p, *end = target.p + target.len, *q;

	if (has_prefix_ci(target, "ws://", 5) || has_prefix_ci(target, "http://", 7)) {
		p += target.p[0] == 'w' || target.p[0] == 'W' ? 5 : 7;
		q = p;
		while (p < end && *p != '/' && *p != '?')
			p++;
		/* RFC 9110 §4.2.1: an empty host must be rejected as invalid. */
		if (p == q)
			return false;
		if (p == end || *p == '?') {
			*path = (struct http1_str){"/", 1};
			return true;
		}
	} else if (target.len == 0 || *p != '/') {
		return false;
	}
	q = memchr(p, '?', (size_t)(end - p));
	*path = (struct http1_str){p, (size_t)((q ? q : end) - p)};
	return true;
}

/* RFC 6455 §4.2.2: the server picks one of the client's values, in the
 * client's order of preference; names are compared exactly. */
static int pick_protocol(const struct http1_request *req, const char *const *protocols, size_t n)
{
	for (size_t i = 0; i < req->num_headers; i++) {
		const struct http1_header *h = &req->headers[i];
		const char *p = h->value.p;
		struct item it;

		if (!http1_str_eq_ci(h->name, "Sec-WebSocket-Protocol"))
			continue;
		while (next_item(&p, h->value.p + h->value.len, &it))
			for (size_t j = 0; j < n; j++)
				if (strlen(protocols[j]) == (size_t)(it.e - it.s) &&
				    memcmp(protocols[j], it.s, (size_t)(it.e - it.s)) == 0)
					return (int)j;
	}
	return -1;
}

/* Informational fields, filled even when the request is refused so the
 * caller can log who asked. */
static void fill_info(const struct http1_request *req, struct ws_handshake *hs)
{
	const struct http1_header *h = http1_find(req, "User-Agent");
	struct item it;
	const char *p;

	hs->user_agent = h ? h->value : empty;
	hs->forwarded_for = empty;
	h = http1_find(req, "X-Forwarded-For");
	if (!h)
		return;
	p = h->value.p;
	if (next_item(&p, h->value.p + h->value.len, &it))
		hs->forwarded_for = (struct http1_str){it.s, (size_t)(it.e - it.s)};
}

static int refuse(struct ws_handshake *hs, int status, const char *reason)
{
	hs->status = status;
	hs->reason = reason;
	return status;
}

int ws_handshake_check(const struct http1_request *req, const char *const *protocols,
                       size_t num_protocols, struct ws_handshake *hs)
{
	const struct http1_str *v;

	*hs = (struct ws_handshake){.key = empty, .path = empty, .protocol = -1};
	fill_info(req, hs);
	/* RFC 6455 §4.1 item 2 / §4.2.1 item 1: the method must be GET
	 * (methods are case-sensitive, RFC 9110 §9.1). */
	if (req->method.len != 3 || memcmp(req->method.p, "GET", 3) != 0)
		return refuse(hs, 405, "method not allowed");
	/* §4.2.1 item 1: HTTP/1.1 or higher. */
	if (req->version_minor < 1)
		return refuse(hs, 400, "HTTP/1.1 or later required");
	/* §4.2.1 item 2; RFC 9112 §3.2: exactly one non-empty Host. */
	v = only_value(req, "Host");
	if (!v || v->len == 0)
		return refuse(hs, 400, "missing or invalid Host");
	/* §4.2.1 item 3. */
	if (!any_has_token(req, "Upgrade", "websocket"))
		return refuse(hs, 400, "missing websocket in Upgrade");
	/* §4.2.1 item 4. */
	if (!any_has_token(req, "Connection", "upgrade"))
		return refuse(hs, 400, "missing upgrade in Connection");
	/* §4.2.1 item 6 and §4.4: any other version gets 426 and the caller
	 * lists ours; checked before the key so a client learns it first. */
	v = only_value(req, "Sec-WebSocket-Version");
	if (!v || v->len != 2 || memcmp(v->p, "13", 2) != 0)
		return refuse(hs, 426, "unsupported Sec-WebSocket-Version");
	/* §4.2.1 item 5. */
	v = only_value(req, "Sec-WebSocket-Key");
	if (!v || !is_valid_key(*v))
		return refuse(hs, 400, "missing or invalid Sec-WebSocket-Key");
	/* §4.2.1 item 1: the Request-URI names the resource. */
	if (!split_path(req->target, &hs->path))
		return refuse(hs, 400, "invalid request target");
	hs->key = *v;
	hs->protocol = pick_protocol(req, protocols, num_protocols);
	hs->status = 101;
	hs->reason = "switching protocols";
	return hs->status;
}

/* RFC 6455 §4.2.2 item 5.4: base64(SHA-1(key ++ GUID)), key as sent. */
void ws_handshake_accept(struct http1_str key, char *out)
{
	unsigned char buf[2 * WS_KEY_LEN + sizeof(ws_guid)];
	unsigned char md[SHA_DIGEST_LENGTH];

	/* Programmer error: the key comes from a successful ws_handshake_check. */
	assert(key.len <= 2 * WS_KEY_LEN);
	memcpy(buf, key.p, key.len);
	memcpy(buf + key.len, ws_guid, sizeof(ws_guid) - 1);
	SHA1(buf, key.len + sizeof(ws_guid) - 1, md);
	EVP_EncodeBlock((unsigned char *)out, md, SHA_DIGEST_LENGTH);
}
