/* upstream.h — HTTP calls to backends through libcurl's multi-socket
 * interface, driven by our epoll loop and a loop timer: no threads, no
 * blocking, connections to a backend reused across calls.
 */
#ifndef WSGW_UPSTREAM_H
#define WSGW_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct upstream;
struct upstream_req;
struct curl_slist;

struct upstream_result {
	long status;              /* HTTP status, or 0 when the call failed */
	const char *error;        /* why it failed (status 0), else NULL */
	const uint8_t *body;      /* response body (valid during the callback) */
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
	const char *url;
	const char *method;         /* "GET", "POST", ... */
	const struct curl_slist *headers; /* "Name: value" lines, copied */
	const char *const *extra;   /* more lines, copied */
	size_t num_extra;
	const uint8_t *body;        /* copied */
	size_t body_len;
	uint64_t connect_timeout_ms;
	uint64_t timeout_ms;        /* whole call */
	size_t max_response;        /* larger bodies fail the call */
	bool want_headers;          /* keep the response's header lines */
};

/* Creates the multi handle on loop, with at most per_host connections to
 * one backend host. NULL on failure. */
struct upstream *upstream_new(struct loop *loop, unsigned per_host);
void upstream_free(struct upstream *u);

/* Starts a call: it goes out at the end of this loop pass, with the others
 * started in the same pass. done(arg, result) runs exactly once from the
 * loop, never from inside upstream_start. Returns the request or NULL
 * (ENOMEM; done is not called). */
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
