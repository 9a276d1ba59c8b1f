/* integ_http.c — backend request pieces for http integrations
 * (shared/spec/INTEGRATIONS.md: url, headers and query maps, '*': '*'
 * forwarding, omitEmpty*, User-Agent by default) and {placeholder}
 * substitution from the operation's parameters and the gateway's event
 * headers (YANDEX-FIDELITY.md §2.1). Pure.
 */
#include "integ_http.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool is_hop_header(struct http1_str name)
{
	static const char *const skip[] = {"host", "connection", "upgrade", "content-length",
					   "transfer-encoding", "keep-alive", "te", "trailer",
					   "proxy-authorization", "proxy-connection",
					   "sec-websocket-key", "sec-websocket-version",
					   "sec-websocket-extensions", "expect", "user-agent"};

	for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
		if (http1_str_eq_ci(name, skip[i]))
			return true;
	return false;
}

/* Writes "name: value", or "name;" for an empty value (upstream's extra
 * lines take curl's spelling),
 * NUL-terminated into out[cap], cut short like snprintf when it does not
 * fit. Returns the length the whole line needs (without the NUL). memcpy,
 * not snprintf: this runs for every message. */
static size_t header_line(char *out, size_t cap, const char *name, size_t nlen, const char *value,
			  size_t vlen)
{
	size_t need = nlen + (vlen ? 2 + vlen : 1), o = 0;
	const char *parts[3] = {name, vlen ? ": " : ";", value};
	size_t lens[3] = {nlen, vlen ? 2 : 1, vlen};

	if (!cap)
		return need;
	for (int i = 0; i < 3; i++) {
		size_t k = lens[i] < cap - 1 - o ? lens[i] : cap - 1 - o;

		memcpy(out + o, parts[i], k);
		o += k;
	}
	out[o] = '\0';
	return need;
}

void integ_head_free(struct integ_head *h)
{
	free(h->p);
	*h = (struct integ_head){0};
}

static bool head_put(struct integ_head *h, const char *p, size_t n)
{
	if (h->len + n > h->cap) {
		size_t cap = h->cap ? h->cap : 256;
		char *b;

		while (cap < h->len + n)
			cap *= 2;
		if (!(b = realloc(h->p, cap)))
			return false;
		h->p = b;
		h->cap = cap;
	}
	memcpy(h->p + h->len, p, n);
	h->len += n;
	return true;
}

void integ_http_add(struct integ_head *h, const char *name, size_t nlen, const char *value,
		    size_t vlen, bool omit_empty, bool *ok)
{
	size_t len = h->len;

	if (!vlen && omit_empty)
		return;
	if (head_put(h, name, nlen) && head_put(h, vlen ? ": " : ":", vlen ? 2 : 1) &&
	    head_put(h, value, vlen) && head_put(h, "\r\n", 2))
		return;
	h->len = len; /* whole lines or nothing */
	*ok = false;
}

/* ---- placeholders ------------------------------------------------------ */

struct sbuf {
	char *p;
	size_t cap, len; /* len: bytes the whole result needs */
};

static void put_ch(struct sbuf *b, char ch)
{
	if (b->len + 1 < b->cap)
		b->p[b->len] = ch;
	b->len++;
}

static bool is_unreserved(unsigned char ch)
{
	/* RFC 3986 §2.3 */
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

/* Writes v[0..n) as mode says; pct: percent-decode it first ('+' is a
 * space, as in a form-encoded query). */
static void put_val(struct sbuf *b, const char *v, size_t n, enum integ_subst_mode mode, bool pct)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)v[i];
		int h1, h2;

		if (pct && ch == '+')
			ch = ' ';
		else if (pct && ch == '%' && i + 2 < n &&
			 (h1 = http1_hex_digit(v[i + 1])) >= 0 && (h2 = http1_hex_digit(v[i + 2])) >= 0)
			ch = (unsigned char)(h1 * 16 + h2), i += 2;
		if (mode == SUBST_HEADER && ((ch < 0x20 && ch != '\t') || ch == 0x7f))
			continue; /* a value must not end the header line */
		if (mode == SUBST_JSON && (ch < 0x20 || ch == 0x7f || ch == '"' || ch == '\\')) {
			/* RFC 8259 §7: a value never ends its string */
			put_ch(b, '\\');
			if (ch == '"' || ch == '\\') {
				put_ch(b, (char)ch);
			} else {
				put_ch(b, 'u'), put_ch(b, '0'), put_ch(b, '0');
				put_ch(b, hex[ch >> 4]), put_ch(b, hex[ch & 15]);
			}
			continue;
		}
		if (mode == SUBST_URL && !is_unreserved(ch)) {
			put_ch(b, '%');
			put_ch(b, hex[ch >> 4]);
			put_ch(b, hex[ch & 15]);
			continue;
		}
		put_ch(b, (char)ch);
	}
}

static bool name_eq(const char *a, size_t alen, const char *b, size_t blen, bool ci)
{
	return alen == blen && (ci ? !strncasecmp(a, b, alen) : !memcmp(a, b, alen));
}

/* The value of key name in "k=v&k=v" (first match), undecoded. */
static bool find_pair(const char *q, size_t qlen, char sep, const char *name, size_t n,
		      const char **v, size_t *vlen)
{
	for (size_t i = 0; i < qlen;) {
		const char *item = q + i, *end = memchr(item, sep, qlen - i), *eq;
		size_t ilen = end ? (size_t)(end - item) : qlen - i;

		i += ilen + 1;
		while (sep == ';' && ilen && *item == ' ')
			item++, ilen--; /* "a=1; b=2": cookie pairs have a blank */
		eq = memchr(item, '=', ilen);
		if (eq && name_eq(item, (size_t)(eq - item), name, n, false)) {
			*v = eq + 1;
			*vlen = ilen - (size_t)(eq + 1 - item);
			return true;
		}
	}
	return false;
}

static const char *query_of(const struct http1_request *req, size_t *len);

/* A handshake header's value, or a cookie's (all Cookie headers). */
static bool find_header(const struct http1_request *req, const char *name, size_t n,
			const char **v, size_t *vlen)
{
	for (size_t i = 0; req && i < req->num_headers; i++)
		if (name_eq(req->headers[i].name.p, req->headers[i].name.len, name, n, true)) {
			*v = req->headers[i].value.p;
			*vlen = req->headers[i].value.len;
			return true;
		}
	return false;
}

static bool find_cookie(const struct http1_request *req, const char *name, size_t n,
			const char **v, size_t *vlen)
{
	for (size_t i = 0; req && i < req->num_headers; i++)
		if (http1_str_eq_ci(req->headers[i].name, "cookie") &&
		    find_pair(req->headers[i].value.p, req->headers[i].value.len, ';', name, n, v,
			      vlen))
			return true;
	return false;
}

/* Writes the value of placeholder name[0..n); false when nothing fills it. */
static bool fill(struct sbuf *b, const struct integ_subst *s, const char *name, size_t n,
		 enum integ_subst_mode mode)
{
	const size_t pl = sizeof INTEG_HDR - 1;
	const char *v;
	size_t vlen;

	for (size_t i = 0; s->m && i < s->m->num_params; i++)
		if (name_eq(s->m->params[i].name, strlen(s->m->params[i].name), name, n, false)) {
			/* captured as the client wrote it: already URL-safe */
			put_val(b, s->m->params[i].value, s->m->params[i].value_len,
				mode == SUBST_URL ? SUBST_TEXT : mode, false);
			return true;
		}
	if (n > pl && !strncasecmp(name, INTEG_HDR, pl)) {
		char num[24];
		const char *rest = name + pl, *val = NULL;
		size_t rl = n - pl;

		if (name_eq(rest, rl, "Connection-Id", 13, true))
			val = s->conn_id;
		else if (name_eq(rest, rl, "Event-Type", 10, true))
			val = s->event;
		else if (name_eq(rest, rl, "Message-Id", 10, true))
			val = s->message_id;
		else if (name_eq(rest, rl, "Connected-At", 12, true) && s->conn_id) {
			snprintf(num, sizeof num, "%" PRId64, s->connected_ms);
			val = num;
		}
		if (val)
			put_val(b, val, strlen(val), mode, false);
		return val != NULL; /* never the client's: the gateway owns these */
	}
	for (size_t i = 0; s->in && i < s->in->num_params; i++) {
		const struct spec_param *p = &s->in->params[i];
		size_t ql;
		const char *q;
		bool found = false, pct = true;

		if (!name_eq(p->name, strlen(p->name), name, n, p->in == PARAM_HEADER))
			continue;
		if (p->in == PARAM_QUERY) {
			q = query_of(s->req, &ql);
			found = find_pair(q, ql, '&', name, n, &v, &vlen);
		} else if (p->in == PARAM_COOKIE) {
			found = find_cookie(s->req, name, n, &v, &vlen);
		} else if (p->in == PARAM_HEADER) {
			found = find_header(s->req, name, n, &v, &vlen);
			pct = false;
		} else {
			continue; /* in: path, but not in the template: nothing fills it */
		}
		if (found) /* a declared parameter the request lacks is empty */
			put_val(b, v, vlen, mode, pct);
		return true;
	}
	if (find_header(s->req, name, n, &v, &vlen)) { /* lenient, as the cloud's samples */
		put_val(b, v, vlen, mode, false);
		return true;
	}
	return false;
}

size_t integ_subst(const char *tmpl, const struct integ_subst *s, enum integ_subst_mode mode,
		   char *out, size_t outlen)
{
	struct sbuf b = {out, outlen, 0};

	for (const char *p = tmpl; *p;) {
		size_t n = *p == '{' ? spec_placeholder_len(p) : 0;

		if (n && fill(&b, s, p + 1, n, mode)) {
			p += n + 2;
			continue;
		}
		/* not a placeholder, or nothing fills it: kept as written */
		for (size_t k = 0; k < (n ? n + 2 : 1); k++)
			put_ch(&b, p[k]);
		p += n ? n + 2 : 1;
	}
	if (outlen)
		out[b.len < outlen ? b.len : outlen - 1] = '\0';
	return b.len;
}

size_t integ_http_substitute(const char *tmpl, const struct route_match *m, char *out,
			     size_t outlen)
{
	struct integ_subst s = {.m = m};
	size_t n = integ_subst(tmpl, &s, SUBST_TEXT, out, outlen);

	return outlen && n >= outlen ? outlen - 1 : n;
}

bool integ_http_is_event_header(const char *event, const char *name, size_t len)
{
	static const char *const all[] = {INTEG_HDR "Connection-Id", INTEG_HDR "Event-Type",
					  INTEG_HDR "Connected-At"};
	static const char *const msg[] = {INTEG_HDR "Message-Id", "Content-Type"};
	static const char *const disc[] = {INTEG_HDR "Disconnect-Status-Code",
					   INTEG_HDR "Disconnect-Reason"};

	for (size_t i = 0; i < 3; i++)
		if (name_eq(name, len, all[i], strlen(all[i]), true))
			return true;
	for (size_t i = 0; event && i < 2; i++)
		if ((!strcmp(event, "MESSAGE") && name_eq(name, len, msg[i], strlen(msg[i]), true)) ||
		    (!strcmp(event, "DISCONNECT") &&
		     name_eq(name, len, disc[i], strlen(disc[i]), true)))
			return true;
	return false;
}

void integ_http_headers(const struct integration *in, const struct integ_subst *s,
			const char *user_agent, struct integ_head *l, bool *ok)
{
	const struct http1_request *req = s->req;
	bool forward = false, has_ua = false, has_proto = false;
	char value[8192];

	for (size_t i = 0; i < in->num_headers; i++) {
		const struct spec_kv *kv = &in->headers[i];
		size_t n;

		if (!strcmp(kv->name, "*")) {
			forward = true;
			continue;
		}
		if (integ_http_is_event_header(s->event, kv->name, strlen(kv->name)) ||
		    (s->authorizer_ctx && !strcasecmp(kv->name, INTEG_AUTH_CTX_HDR)))
			continue; /* the gateway's own value replaces it */
		has_ua |= !strcasecmp(kv->name, "User-Agent");
		has_proto |= !strcasecmp(kv->name, "X-Forwarded-Proto");
		n = integ_subst(kv->value, s, SUBST_HEADER, value, sizeof value);
		if (n >= sizeof value) { /* long: whole, or refused; never cut short */
			char *big = n <= INTEG_SUBST_MAX ? malloc(n + 1) : NULL;

			if (!big) {
				*ok = false;
				continue;
			}
			integ_subst(kv->value, s, SUBST_HEADER, big, n + 1);
			integ_http_add(l, kv->name, strlen(kv->name), big, n,
					   in->omit_empty_headers, ok);
			free(big);
			continue;
		}
		integ_http_add(l, kv->name, strlen(kv->name), value, n, in->omit_empty_headers,
				   ok);
	}
	for (size_t i = 0; forward && req && i < req->num_headers; i++) {
		const struct http1_header *h = &req->headers[i];

		/* the gateway's own event headers never come from the client,
		 * nor does the scheme: a client can claim any */
		if (!is_hop_header(h->name) && !http1_str_eq_ci(h->name, INTEG_AUTH_CTX_HDR) &&
		    !(s->scheme && http1_str_eq_ci(h->name, "x-forwarded-proto")) &&
		    !(h->name.len >= sizeof INTEG_HDR - 1 &&
		      !strncasecmp(h->name.p, INTEG_HDR, sizeof INTEG_HDR - 1)))
			integ_http_add(l, h->name.p, h->name.len, h->value.p, h->value.len,
					   in->omit_empty_headers, ok);
	}
	if (!has_ua && user_agent)
		integ_http_add(l, "User-Agent", 10, user_agent, strlen(user_agent), false, ok);
	/* The scheme the client used, as function events carry it; a spec's
	 * own X-Forwarded-Proto (a TLS proxy in front) is the operator's word. */
	if (!has_proto && s->scheme)
		integ_http_add(l, "X-Forwarded-Proto", 17, s->scheme, strlen(s->scheme), false, ok);
	if (s->authorizer_ctx)
		integ_http_add(l, INTEG_AUTH_CTX_HDR, sizeof INTEG_AUTH_CTX_HDR - 1,
			       s->authorizer_ctx, strlen(s->authorizer_ctx), false, ok);
}

/* RFC 3986 §2.1: every byte but the unreserved ones percent-encoded, as
 * curl_easy_escape did. out has room for 3 bytes per byte of in. */
static void escape(const char *in, char *out)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *in; in++) {
		unsigned char ch = (unsigned char)*in;

		if (is_unreserved(ch)) {
			*out++ = (char)ch;
			continue;
		}
		*out++ = '%';
		*out++ = hex[ch >> 4];
		*out++ = hex[ch & 15];
	}
	*out = '\0';
}

static const char *query_of(const struct http1_request *req, size_t *len)
{
	const char *q = req ? memchr(req->target.p, '?', req->target.len) : NULL;

	*len = q ? req->target.len - (size_t)(q + 1 - req->target.p) : 0;
	return q ? q + 1 : "";
}

char *integ_http_url(const struct integration *in, const struct integ_subst *s)
{
	char buf[8192], value[8192];
	size_t o = integ_subst(in->url, s, SUBST_URL, buf, sizeof buf), qlen;
	const char *q = query_of(s->req, &qlen);
	char sep = strchr(in->url, '?') ? '&' : '?';

	if (o >= sizeof buf)
		o = sizeof buf - 1;

	for (size_t i = 0; i < in->num_query && o < sizeof buf - 1; i++) {
		const struct spec_kv *kv = &in->query[i];
		char ev[3 * sizeof value];

		if (!strcmp(kv->name, "*")) {
			if (qlen)
				o += (size_t)snprintf(buf + o, sizeof buf - o, "%c%.*s", sep, (int)qlen,
						      q);
			sep = '&';
			continue;
		}
		integ_subst(kv->value, s, SUBST_TEXT, value, sizeof value);
		if (!value[0] && in->omit_empty_query)
			continue;
		escape(value, ev);
		o += (size_t)snprintf(buf + o, sizeof buf - o, "%c%s=%s", sep, kv->name, ev);
		sep = '&';
	}
	if (o >= sizeof buf)
		buf[sizeof buf - 1] = '\0';
	return strdup(buf);
}

static bool is_tchar(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static bool is_framing_header(const char *name, size_t n)
{
	static const char *const skip[] = {"content-length", "content-type", "transfer-encoding",
					   "connection", "keep-alive", "upgrade", "te", "trailer"};
	struct http1_str s = {name, n};

	for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
		if (http1_str_eq_ci(s, skip[i]))
			return true;
	return (n >= 6 && !strncasecmp(name, "proxy-", 6)) ||
	       (n >= 14 && !strncasecmp(name, "sec-websocket-", 14));
}

size_t integ_http_refusal_headers(const char *raw, size_t len, char *out, size_t outlen)
{
	size_t o = 0;

	if (!outlen)
		return 0;
	for (size_t i = 0; i < len;) {
		const char *line = raw + i, *nl = memchr(line, '\n', len - i);
		size_t llen = nl ? (size_t)(nl - line) : len - i, name = 0;
		bool ok = true;

		i += llen + (nl != NULL);
		if (llen && line[llen - 1] == '\r')
			llen--;
		while (name < llen && is_tchar((unsigned char)line[name]))
			name++;
		if (name == 0 || name == llen || line[name] != ':' || is_framing_header(line, name))
			continue;
		for (size_t k = name + 1; k < llen && ok; k++)
			ok = (unsigned char)line[k] >= 0x20 ? line[k] != 0x7f : line[k] == '\t';
		if (!ok || o + llen + 2 >= outlen)
			continue;
		memcpy(out + o, line, llen);
		memcpy(out + o + llen, "\r\n", 2);
		o += llen + 2;
	}
	out[o] = '\0';
	return o;
}

void integ_lines_init(struct integ_lines *l)
{
	l->n = 0;
	l->used = 0;
	l->ok = true;
}

void integ_lines_add(struct integ_lines *l, const char *name, const char *value, size_t vlen)
{
	size_t room = sizeof l->buf - l->used;
	char *p = l->buf + l->used;
	size_t need = header_line(p, room, name, strlen(name), value, vlen) + 1;

	if (l->n == INTEG_LINES_MAX || need > room) {
		l->ok = false;
		return;
	}
	l->line[l->n++] = p;
	l->used += need;
}

void integ_lines_event(struct integ_lines *l, const char *id, const char *event,
		       int64_t connected_ms)
{
	char v[24], *p = v + sizeof v;
	uint64_t ms = connected_ms > 0 ? (uint64_t)connected_ms : 0;

	do
		*--p = (char)('0' + ms % 10);
	while ((ms /= 10) != 0);

	integ_lines_add(l, INTEG_HDR "Connection-Id", id, strlen(id));
	integ_lines_add(l, INTEG_HDR "Event-Type", event, strlen(event));
	integ_lines_add(l, INTEG_HDR "Connected-At", p, (size_t)(v + sizeof v - p));
}
