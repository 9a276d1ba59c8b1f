/* upstream.h — HTTP/1.1 calls to backends on our loop: per backend
 * (scheme://host:port) a pool of kept-alive connections, host names
 * through c-ares (dns.c), https through OpenSSL (tls.c); no threads, no
 * blocking call.
 */
#ifndef WSGW_UPSTREAM_H
#define WSGW_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct upstream;
struct upstream_req;

struct upstream_result {
	long status;         /* HTTP status, or 0 when the call failed */
	const char *error;   /* why it failed (status 0), else NULL */
	const uint8_t *body; /* response body (valid during the callback) */
	size_t body_len;
	const char *content_type; /* NULL when absent */
	const char *headers;      /* with want_headers: the final response's header
	                           * lines as received, each ending "\r\n" (no status
	                           * line), at most UPSTREAM_MAX_HEADERS bytes of
	                           * whole lines; else NULL */
	size_t headers_len;
};

#define UPSTREAM_MAX_HEADERS 4096

typedef void (*upstream_done_fn)(void *arg, const struct upstream_result *res);

struct upstream_call {
	const char *url;    /* http:// or https:// */
	const char *method; /* "GET", "POST", ... */
	const char *lines;  /* pre-built header lines, each "Name: value\r\n"
	                     * (integ_http_headers), copied; may be NULL */
	size_t lines_len;
	const char *const *extra; /* more lines, copied: "Name: value"; "Name;"
	                           * sends the header with an empty value and
	                           * "Name:" sends nothing (curl's spellings) */
	size_t num_extra;
	const uint8_t *body; /* copied */
	size_t body_len;
	uint64_t connect_timeout_ms; /* connection set-up, TLS included */
	uint64_t timeout_ms;         /* whole call, from when it gets a connection */
	size_t max_response;         /* larger bodies fail the call */
	bool want_headers;           /* keep the response's header lines */
};

struct upstream_opts {
	unsigned per_host;        /* connections to one backend at most (>= 1) */
	uint64_t idle_timeout_ms; /* an idle kept-alive connection closes after this */
	const char *ca_file;      /* more CA certificates for https (PEM), or NULL */
	uint8_t *rbuf;            /* the loop's shared read buffer, or NULL: own one */
	size_t rbuf_size;
	const char *dns_servers; /* "ip:port,..." instead of resolv.conf (tests), or NULL */
};

/* An upstream on loop with the defaults (4 s idle timeout, system CAs).
 * NULL on failure. */
struct upstream *upstream_new(struct loop *loop, unsigned per_host);

/* The same with every option; NULL on failure, *why says why (a CA file
 * that does not load, no memory, c-ares cannot start). */
struct upstream *upstream_new_opts(struct loop *loop, const struct upstream_opts *o,
                                   const char **why);

/* Ends every call (done runs with "gateway stopped"), closes every
 * connection, frees u. Never from inside a done callback. */
void upstream_free(struct upstream *u);

/* Starts a call: it goes out at the end of this loop pass, with the others
 * started in the same pass. done(arg, result) runs exactly once from the
 * loop, never from inside upstream_start. Returns the request or NULL
 * (ENOMEM, a URL that is not http(s)://host[:port]/..., a header line with
 * CR or LF; done is not called). */
struct upstream_req *upstream_start(struct upstream *u, const struct upstream_call *call,
                                    upstream_done_fn done, void *arg);

/* Forgets the caller: the call runs on but done will not be called. */
void upstream_detach(struct upstream_req *r);

/* Calls started and not yet finished. */
unsigned upstream_pending(const struct upstream *u);

/* For the metrics: calls fn once per backend that has calls, with its key
 * ("scheme://authority" as the call's URL has it; user information
 * included, so not for display as is), its calls under way and those
 * waiting for a free connection. fn must not start or end calls. */
void upstream_each_backend(const struct upstream *u,
			   void (*fn)(void *arg, const char *key, unsigned in_flight,
				      unsigned waiting),
			   void *arg);

#endif
