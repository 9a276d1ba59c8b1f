/* log.h — one-line logs to stderr: "<RFC 3339 time> <level> <message>",
 * or with --log-format json {"time":...,"level":...,"msg":...}. */
#ifndef WSGW_LOG_H
#define WSGW_LOG_H

#include "config.h"

/* Sets the threshold and format once at start-up, before the loop runs. */
void log_init(enum log_level threshold, enum log_format format);
bool log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
	do {                                                                                       \
		if (log_enabled(LOG_DEBUG))                                                        \
			log_msg(LOG_DEBUG, __VA_ARGS__);                                           \
	} while (0)

#endif
