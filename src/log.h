/* log.h — one-line logs to stderr: "<RFC 3339 time> <level> <message>",
 * or with --log-format json {"time":...,"level":...,"msg":...}.
 *
 * A line about something names it in fields: conn (connection id), route
 * (path template), status (HTTP), code (close code or gRPC status), backend
 * (scheme://host:port), request_id. Text lines start the message with
 * "conn ID: " (as they always did) and show the other fields after it as
 * key=value (value quoted and escaped when it holds a space, '"', '=', '\'
 * or a control byte); JSON lines have each as a member after msg (strings
 * escaped, numbers bare).
 */
#ifndef WSGW_LOG_H
#define WSGW_LOG_H

#include "config.h"

enum log_field_kind { LOG_F_END = 0, LOG_F_STR, LOG_F_INT, LOG_F_ORIGIN };

/* One field. A string field whose value is NULL is left out. */
struct log_field {
	const char *key; /* a literal: written as is */
	const char *str;
	long long num;
	enum log_field_kind kind;
};

#define LF_STR(k, v) ((struct log_field){.key = (k), .str = (v), .kind = LOG_F_STR})
#define LF_INT(k, v) ((struct log_field){.key = (k), .num = (long long)(v), .kind = LOG_F_INT})
/* Only the scheme://host:port of a URL: its userinfo, path and query may
 * carry client data or credentials. */
#define LF_ORIGIN(k, url) ((struct log_field){.key = (k), .str = (url), .kind = LOG_F_ORIGIN})
/* The fields of one call: LOG_FIELDS(LF_STR("conn", id), LF_INT("code", 1000)). */
#define LOG_FIELDS(...) ((const struct log_field[]){__VA_ARGS__, {.kind = LOG_F_END}})

/* Sets the threshold and format once at start-up, before the loop runs. */
void log_init(enum log_level threshold, enum log_format format);
bool log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* log_msg with fields (NULL: none), ended by a LOG_F_END entry. */
void log_msgf(enum log_level level, const struct log_field *fields, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
	do {                                                                                       \
		if (log_enabled(LOG_DEBUG))                                                        \
			log_msg(LOG_DEBUG, __VA_ARGS__);                                           \
	} while (0)

/* With fields: log_warn_f(LOG_FIELDS(LF_STR("conn", id)), "fmt", ...). */
#define log_error_f(f, ...) log_msgf(LOG_ERROR, f, __VA_ARGS__)
#define log_warn_f(f, ...) log_msgf(LOG_WARN, f, __VA_ARGS__)
#define log_info_f(f, ...) log_msgf(LOG_INFO, f, __VA_ARGS__)
/* The fields are built only when debug is on. */
#define log_debug_f(f, ...)                                                                        \
	do {                                                                                       \
		if (log_enabled(LOG_DEBUG))                                                        \
			log_msgf(LOG_DEBUG, f, __VA_ARGS__);                                       \
	} while (0)

/* The scheme://host:port prefix of url, without user:password@ (all of
 * url when it has no "://"), at most cap - 1 bytes, into out. Returns its
 * length. Pure. */
size_t log_url_origin(const char *url, char *out, size_t cap);

#endif
