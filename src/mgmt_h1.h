/* mgmt_h1.h — HTTP/1.1 on the management port (RFC 9112): keep-alive,
 * pipelining, Content-Length and chunked request bodies, Expect:
 * 100-continue, caps, the request timeout. Each complete request goes to
 * rest_handle; responses are appended to the connection's output queue in
 * request order. No sockets: mgmt.c feeds bytes and writes the queue.
 */
#ifndef WSGW_MGMT_H1_H
#define WSGW_MGMT_H1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct server;
struct obuf;
struct h1_session;

struct h1_session *h1_session_new(struct server *srv);
void h1_session_free(struct h1_session *s);

/* Feeds bytes read from the client; appends responses to *out. Returns 0,
 * or ERR_CLOSED when the connection must close once *out is written
 * (Connection: close, HTTP/1.0 without keep-alive, a framing error after
 * its 400/413/431 response). */
int h1_session_feed(struct h1_session *s, const uint8_t *p, size_t n, struct obuf **out);

/* A request whose call completes later (a registry that answers from
 * elsewhere) holds its response and every later one: input after it is
 * kept (h1_session_is_waiting: read no more meanwhile) and fed once the
 * call completes. Then the response is appended to the *out of the last
 * feed and on_output(arg, rc) is called: flush, and close after it when rc
 * is ERR_CLOSED. */
void h1_session_set_notify(struct h1_session *s, void (*on_output)(void *arg, int rc), void *arg);
bool h1_session_is_waiting(const struct h1_session *s);

/* Request timeout: a request begun but not complete for --request-timeout
 * gets 408 and the connection closes (returns ERR_CLOSED); an idle
 * keep-alive connection past it is closed silently (ERR_CLOSED, nothing
 * appended). Returns 0 otherwise. */
int h1_session_sweep(struct h1_session *s, uint64_t now_ms, struct obuf **out);

#endif
