/* api.c — Get / Send / Disconnect on the connection registry: the rules of
 * shared/spec/API.md, once, for both transports (gRPC and REST), and the
 * per-call request ids both send. Knows no transport: callers decode,
 * call, and encode the result or status.
 */
#include "api.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctx.h"
#include "registry.h"
#include "utf8.h"
#include "ws.h"

enum api_code api_fail(struct api_status *st, enum api_code code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(st->msg_buf, sizeof st->msg_buf, fmt, ap);
	va_end(ap);
	st->code = code;
	st->message = st->msg_buf;
	return code;
}

static enum api_code ok(struct api_status *st)
{
	st->code = API_OK;
	st->message = "";
	return API_OK;
}

/* Code points in valid UTF-8: every byte that is not a continuation. */
static size_t utf8_count(const char *p, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += ((uint8_t)p[i] & 0xC0) != 0x80;
	return n;
}

/* API.md's rules for a connection id; the registry only looks it up. */
static enum api_code check_id(struct server *srv, const char *id, size_t len,
			      struct api_status *st)
{
	if (srv->draining)
		return api_fail(st, API_UNAVAILABLE, "gateway is shutting down");
	if (len == 0)
		return api_fail(st, API_INVALID_ARGUMENT, "connection_id is required");
	if (!utf8_is_valid((const uint8_t *)id, len))
		return api_fail(st, API_INVALID_ARGUMENT, "connection_id is not valid UTF-8");
	if (utf8_count(id, len) > API_MAX_ID_LEN)
		return api_fail(st, API_INVALID_ARGUMENT,
				"connection_id is %zu characters long; at most %d are allowed",
				utf8_count(id, len), API_MAX_ID_LEN);
	return ok(st);
}

void api_call_complete(struct api_call *call)
{
	call->pending = false;
	call->cancel = NULL;
	call->done(call);
}

void api_call_cancel(struct api_call *call)
{
	if (!call->pending)
		return;
	call->pending = false;
	if (call->cancel)
		call->cancel(call);
	call->cancel = NULL;
}

/* Marks call pending; false (and call completed with st) when the id
 * breaks the rules. */
static bool begin(struct server *srv, const char *id, size_t id_len, struct api_call *call)
{
	call->pending = true;
	call->cancel = NULL;
	if (check_id(srv, id, id_len, &call->st) == API_OK)
		return true;
	api_call_complete(call);
	return false;
}

void api_get(struct server *srv, const char *id, size_t id_len, struct api_call *call)
{
	if (begin(srv, id, id_len, call))
		registry_of(srv->registry)->get(srv, id, id_len, call);
}

static enum api_code check_data(const uint8_t *data, size_t len, int type, struct api_status *st)
{
	if (type != API_DATA_UNSPECIFIED && type != API_DATA_BINARY && type != API_DATA_TEXT)
		return api_fail(st, API_INVALID_ARGUMENT, "type %d is not BINARY or TEXT", type);
	/* API.md: data is required, like connection_id; an empty Send would
	 * deliver an empty frame the caller almost surely did not mean. */
	if (len == 0)
		return api_fail(st, API_INVALID_ARGUMENT, "data is required");
	if (len > API_MAX_DATA)
		return api_fail(st, API_INVALID_ARGUMENT,
				"data is %zu bytes; at most %d bytes are allowed", len, API_MAX_DATA);
	if (type == API_DATA_TEXT && !utf8_is_valid(data, len))
		return api_fail(st, API_INVALID_ARGUMENT,
				"TEXT data is not valid UTF-8 (send it as BINARY)");
	return ok(st);
}

void api_send(struct server *srv, const char *id, size_t id_len, const uint8_t *data, size_t len,
	      int type, struct api_call *call)
{
	if (check_data(data, len, type, &call->st) != API_OK) {
		call->pending = true;
		api_call_complete(call);
		return;
	}
	/* DATA_TYPE_UNSPECIFIED is delivered as BINARY (README). */
	if (begin(srv, id, id_len, call))
		registry_of(srv->registry)
			->send(srv, id, id_len, type == API_DATA_TEXT ? WS_OP_TEXT : WS_OP_BINARY, data,
			       len, call);
}

void api_disconnect(struct server *srv, const char *id, size_t id_len, struct api_call *call)
{
	if (begin(srv, id, id_len, call))
		registry_of(srv->registry)->close(srv, id, id_len, WS_CLOSE_NORMAL, "", call);
}

const char *api_code_name(enum api_code code)
{
	switch (code) {
	case API_OK: return "OK";
	case API_CANCELLED: return "CANCELLED";
	case API_UNKNOWN: return "UNKNOWN";
	case API_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
	case API_DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
	case API_NOT_FOUND: return "NOT_FOUND";
	case API_RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
	case API_UNIMPLEMENTED: return "UNIMPLEMENTED";
	case API_INTERNAL: return "INTERNAL";
	case API_UNAVAILABLE: return "UNAVAILABLE";
	case API_UNAUTHENTICATED: return "UNAUTHENTICATED";
	}
	return "UNKNOWN";
}

void api_uuid_format(const uint8_t raw[16], char *out)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t b[16];
	size_t o = 0;

	memcpy(b, raw, sizeof b);
	b[6] = (uint8_t)((b[6] & 0x0F) | 0x40); /* RFC 9562 §5.4: version 4 */
	b[8] = (uint8_t)((b[8] & 0x3F) | 0x80); /* RFC 9562 §4.1: variant 10 */
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 0x0F];
	}
	out[o] = '\0';
}

void api_request_ids(struct server *srv, struct api_request_ids *out)
{
	uint8_t raw[32];

	/* 122 random bits per id from libcrypto's DRBG, drawn 1 KiB at a
	 * time (server_random): a call is a memcpy and now and then a refill,
	 * never blocking I/O. An id reveals nothing of the next one, nor of
	 * the connection ids drawn from the same pool. Uniqueness is by
	 * chance, but overwhelming: after 2^40 calls the chance of any repeat
	 * is below 2^-42. */
	if (server_random(srv, raw, sizeof raw) < 0) {
		/* The DRBG failed (new connections fail too): ids from the
		 * clock, distinct in practice, rather than none. */
		struct timespec ts;
		size_t n = sizeof ts < 16 ? sizeof ts : 16;

		clock_gettime(CLOCK_REALTIME, &ts);
		memset(raw, 0, sizeof raw);
		memcpy(raw, &ts, n);
		memcpy(raw + 16, &ts, n);
		raw[31] ^= 0xFF; /* the trace id differs from the request id */
	}
	api_uuid_format(raw, out->request);
	api_uuid_format(raw + 16, out->trace);
}
