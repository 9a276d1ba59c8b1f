/* err.h — the one return vocabulary of wsgw.
 *
 * Actions return 0 or a negative ERR_*; parsers return bytes consumed (>= 0)
 * or a negative ERR_*; lookups return a pointer or NULL; predicates bool.
 * ERR_AGAIN is "need more input / try again", never a failure.
 */
#ifndef WSGW_ERR_H
#define WSGW_ERR_H

enum {
	ERR_OK = 0,
	ERR_AGAIN = -1,  /* incomplete input or would block: try again later */
	ERR_PROTO = -2,  /* peer violated the protocol */
	ERR_LIMIT = -3,  /* a configured or protocol limit was exceeded */
	ERR_NOMEM = -4,  /* allocation failed */
	ERR_SYS = -5,    /* a system call failed; errno holds why */
	ERR_INVAL = -6,  /* bad argument or value (config, API input) */
	ERR_CLOSED = -7, /* the connection was closed by this call */
};

#endif
