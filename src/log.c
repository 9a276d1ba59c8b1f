/* log.c — leveled logging to stderr, with structured fields (log.h).
 *
 * The threshold and format are the file-level state outside the server
 * context: written once by log_init before the loop starts and only read
 * afterwards, so every module can log without a context pointer.
 *
 * JSON lines escape the message and every string field with jsonesc
 * (client bytes reach messages), so each line stays one valid object.
 * Text lines keep the wording they had before fields: a conn field leads
 * the message as "conn ID: ", the others follow it as key=value.
 * A line is built in one buffer and written with one fprintf, so lines
 * never interleave; a field value is cut at FIELD_MAX bytes.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "jsonesc.h"

#define FIELD_MAX 256

static enum log_level threshold = LOG_INFO;
static enum log_format format = LOG_FORMAT_TEXT;

void log_init(enum log_level level, enum log_format fmt)
{
	threshold = level;
	format = fmt;
}

bool log_enabled(enum log_level level)
{
	return level <= threshold;
}

size_t log_url_origin(const char *url, char *out, size_t cap)
{
	const char *p = strstr(url, "://"), *host, *at;
	size_t scheme, n;

	if (!p) {
		n = strnlen(url, cap - 1);
		memcpy(out, url, n);
		out[n] = '\0';
		return n;
	}
	scheme = (size_t)(p + 3 - url);
	host = p + 3;
	n = strcspn(host, "/?#");
	/* user:password@ is a credential: never logged */
	for (at = host + n; at > host && at[-1] != '@'; at--)
		;
	if (at > host) {
		n -= (size_t)(at - host);
		host = at;
	}
	if (scheme > cap - 1)
		scheme = cap - 1;
	memcpy(out, url, scheme);
	if (n > cap - 1 - scheme)
		n = cap - 1 - scheme;
	memcpy(out + scheme, host, n);
	out[scheme + n] = '\0';
	return scheme + n;
}

/* An output line under construction; writes past the end are dropped. */
struct line {
	char buf[16384]; /* a 1 KiB message and a few capped fields, escaped */
	size_t len;
};

static void put(struct line *l, const char *s, size_t n)
{
	if (n > sizeof l->buf - 1 - l->len)
		n = sizeof l->buf - 1 - l->len;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void puts_(struct line *l, const char *s)
{
	put(l, s, strlen(s));
}

static void put_esc(struct line *l, const char *s, size_t n)
{
	l->len += jsonesc_encode(s, n, l->buf + l->len, sizeof l->buf - l->len);
}

/* A text value goes bare unless a reader could not tell where it ends. */
static bool needs_quotes(const char *s, size_t n)
{
	if (n == 0)
		return true;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c == 0x7f || c == '"' || c == '=' || c == '\\')
			return true;
	}
	return false;
}

static void put_field(struct line *l, const struct log_field *f)
{
	char num[24], origin[256];
	const char *v = f->str;
	size_t n;

	if (f->kind == LOG_F_INT) {
		snprintf(num, sizeof num, "%lld", f->num);
		v = num;
	} else if (!v) {
		return;
	} else if (f->kind == LOG_F_ORIGIN) {
		log_url_origin(v, origin, sizeof origin);
		v = origin;
	}
	n = strnlen(v, FIELD_MAX);
	if (format == LOG_FORMAT_JSON) {
		puts_(l, ",\"");
		puts_(l, f->key);
		puts_(l, "\":");
		if (f->kind == LOG_F_INT) {
			puts_(l, v);
			return;
		}
		puts_(l, "\"");
		put_esc(l, v, n);
		puts_(l, "\"");
		return;
	}
	puts_(l, " ");
	puts_(l, f->key);
	puts_(l, "=");
	if (!needs_quotes(v, n)) {
		put(l, v, n);
		return;
	}
	puts_(l, "\"");
	put_esc(l, v, n);
	puts_(l, "\"");
}

static void vlog(enum log_level level, const struct log_field *fields, const char *fmt, va_list ap)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};
	char msg[1024], stamp[48];
	struct timespec ts;
	struct tm tm;
	struct line l;
	const struct log_field *conn = NULL; /* text: leads the line as "conn ID: " */

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(stamp + strlen(stamp), sizeof stamp - strlen(stamp), ".%03ldZ",
	         ts.tv_nsec / 1000000);
	vsnprintf(msg, sizeof msg, fmt, ap);
	l.len = 0;
	for (const struct log_field *f = fields; f && f->kind != LOG_F_END; f++)
		if (format == LOG_FORMAT_TEXT && f->kind == LOG_F_STR && f->str &&
		    !strcmp(f->key, "conn"))
			conn = f;
	if (format == LOG_FORMAT_JSON) {
		puts_(&l, "{\"time\":\"");
		puts_(&l, stamp);
		puts_(&l, "\",\"level\":\"");
		puts_(&l, names[level]);
		puts_(&l, "\",\"msg\":\"");
		/* vsnprintf may have cut a character: jsonesc makes it \ufffd */
		put_esc(&l, msg, strlen(msg));
		puts_(&l, "\"");
	} else {
		puts_(&l, stamp);
		puts_(&l, " ");
		puts_(&l, names[level]);
		puts_(&l, " ");
		if (conn) { /* the wording text lines always had */
			puts_(&l, "conn ");
			put(&l, conn->str, strnlen(conn->str, FIELD_MAX));
			puts_(&l, ": ");
		}
		puts_(&l, msg);
	}
	for (const struct log_field *f = fields; f && f->kind != LOG_F_END; f++)
		if (f != conn)
			put_field(&l, f);
	/* Room for the end is kept: the buffer is far larger than a message
	 * and its capped fields, but a cut line must still close its object. */
	if (l.len > sizeof l.buf - 3)
		l.len = sizeof l.buf - 3;
	if (format == LOG_FORMAT_JSON)
		l.buf[l.len++] = '}';
	l.buf[l.len++] = '\n';
	fwrite(l.buf, 1, l.len, stderr);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	vlog(level, NULL, fmt, ap);
	va_end(ap);
}

void log_msgf(enum log_level level, const struct log_field *fields, const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	vlog(level, fields, fmt, ap);
	va_end(ap);
}
