/* integ_http.c — backend request pieces for http integrations
 * (shared/spec/INTEGRATIONS.md: url, headers and query maps, '*': '*'
 * forwarding, omitEmpty*, User-Agent by default). Pure.
 */
#include "integ_http.h"

#include <curl/curl.h>
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

/* Writes "name: value", or "name;" for an empty value (curl's spelling),
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

struct curl_slist *integ_http_add(struct curl_slist *l, const char *name, size_t nlen,
				  const char *value, size_t vlen, bool omit_empty, bool *ok)
{
	char line[1024];
	struct curl_slist *n;

	if (!vlen && omit_empty)
		return l;
	header_line(line, sizeof line, name, nlen, value, vlen);
	n = curl_slist_append(l, line);
	if (!n)
		*ok = false;
	return n ? n : l;
}

size_t integ_http_substitute(const char *tmpl, const struct route_match *m, char *out,
			     size_t outlen)
{
	size_t o = 0;

	if (!outlen)
		return 0;
	for (const char *p = tmpl; *p && o < outlen - 1;) {
		const char *end = *p == '{' ? strchr(p, '}') : NULL;
		size_t i, nlen = end ? (size_t)(end - p - 1) : 0;

		for (i = 0; end && m && i < m->num_params; i++)
			if (strlen(m->params[i].name) == nlen && !memcmp(m->params[i].name, p + 1, nlen))
				break;
		if (!end || !m || i == m->num_params) {
			out[o++] = *p++;
			continue;
		}
		for (size_t k = 0; k < m->params[i].value_len && o < outlen - 1; k++)
			out[o++] = m->params[i].value[k];
		p = end + 1;
	}
	out[o] = '\0';
	return o;
}

struct curl_slist *integ_http_headers(const struct integration *in, const struct http1_request *req,
				      const struct route_match *m, const char *user_agent, bool *ok)
{
	struct curl_slist *l = NULL;
	bool forward = false, has_ua = false;
	char value[1024];

	for (size_t i = 0; i < in->num_headers; i++) {
		const struct spec_kv *kv = &in->headers[i];
		size_t n;

		if (!strcmp(kv->name, "*")) {
			forward = true;
			continue;
		}
		has_ua |= !strcasecmp(kv->name, "User-Agent");
		n = integ_http_substitute(kv->value, m, value, sizeof value);
		l = integ_http_add(l, kv->name, strlen(kv->name), value, n, in->omit_empty_headers,
				   ok);
	}
	for (size_t i = 0; forward && req && i < req->num_headers; i++) {
		const struct http1_header *h = &req->headers[i];

		if (!is_hop_header(h->name))
			l = integ_http_add(l, h->name.p, h->name.len, h->value.p, h->value.len,
					   in->omit_empty_headers, ok);
	}
	if (!has_ua && user_agent)
		l = integ_http_add(l, "User-Agent", 10, user_agent, strlen(user_agent), false, ok);
	return l;
}

static const char *query_of(const struct http1_request *req, size_t *len)
{
	const char *q = req ? memchr(req->target.p, '?', req->target.len) : NULL;

	*len = q ? req->target.len - (size_t)(q + 1 - req->target.p) : 0;
	return q ? q + 1 : "";
}

char *integ_http_url(const struct integration *in, const struct route_match *m,
		     const struct http1_request *req)
{
	char buf[8192], value[1024];
	size_t o = integ_http_substitute(in->url, m, buf, sizeof buf), qlen;
	const char *q = query_of(req, &qlen);
	char sep = strchr(in->url, '?') ? '&' : '?';

	for (size_t i = 0; i < in->num_query && o < sizeof buf - 1; i++) {
		const struct spec_kv *kv = &in->query[i];
		char *ev;

		if (!strcmp(kv->name, "*")) {
			if (qlen)
				o += (size_t)snprintf(buf + o, sizeof buf - o, "%c%.*s", sep, (int)qlen,
						      q);
			sep = '&';
			continue;
		}
		integ_http_substitute(kv->value, m, value, sizeof value);
		if (!value[0] && in->omit_empty_query)
			continue;
		ev = curl_easy_escape(NULL, value, 0);
		if (!ev)
			return NULL;
		o += (size_t)snprintf(buf + o, sizeof buf - o, "%c%s=%s", sep, kv->name, ev);
		curl_free(ev);
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
