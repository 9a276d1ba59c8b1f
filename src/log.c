/* log.c — leveled logging to stderr.
 *
 * The threshold and format are the file-level state outside the server
 * context: written once by log_init before the loop starts and only read
 * afterwards, so every module can log without a context pointer.
 *
 * JSON lines escape the message with jsonesc (client bytes reach
 * messages), so each line stays one valid object.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "jsonesc.h"

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

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};
	char line[1024], stamp[32], esc[6 * sizeof line];
	struct timespec ts;
	struct tm tm;
	va_list ap;

	if (!log_enabled(level))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (format == LOG_FORMAT_JSON) {
		/* vsnprintf may have cut a character: jsonesc makes it \ufffd */
		jsonesc_encode(line, strlen(line), esc, sizeof esc);
		fprintf(stderr, "{\"time\":\"%s.%03ldZ\",\"level\":\"%s\",\"msg\":\"%s\"}\n", stamp,
		        ts.tv_nsec / 1000000, names[level], esc);
		return;
	}
	fprintf(stderr, "%s.%03ldZ %s %s\n", stamp, ts.tv_nsec / 1000000, names[level], line);
}
