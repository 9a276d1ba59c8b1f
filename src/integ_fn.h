/* integ_fn.h — `cloud_functions` and `serverless_containers` integrations
 * (shared/spec/YANDEX-FIDELITY.md §3) on top of integ.c's event flow:
 * what one connection's later events need from its handshake, kept at
 * connect; each event's call (a function gets the event JSON of
 * fn_event.h POSTed to its --function URL; a container gets the client's
 * request at its own path on its --container base URL, with the event
 * headers and X-Yc-ApiGateway-Operation-Context); and a function's answer
 * read back into what an http backend would have answered, so integ.c
 * applies both alike.
 */
#ifndef WSGW_INTEG_FN_H
#define WSGW_INTEG_FN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fn_event.h"
#include "fn_resp.h"
#include "http1.h"
#include "upstream.h"

struct conn;
struct route;
struct route_match;
struct server;
struct integration;

struct integ_fn;

/* Does route r call a function or a container on any operation? */
bool integ_fn_used(const struct route *r);

/* Keeps what r's function / container operations need from the upgrade
 * request req (c already has its id): tags resolved through --function,
 * contexts filled in, the handshake's headers, path and query. NULL with
 * why (e.g. a tag no --function maps; out of memory). */
struct integ_fn *integ_fn_new(struct conn *c, const struct route *r, const struct route_match *m,
                              const struct http1_request *req, char *why, size_t whylen);

void integ_fn_free(struct integ_fn *f);

/* Starts the call of operation in (of f's route) for event kind; a
 * message's data, its type and id. done as for upstream_start. NULL when
 * the call cannot start (ENOMEM). */
struct upstream_req *integ_fn_start(struct integ_fn *f, const struct integration *in,
                                    enum fn_event_kind kind, const uint8_t *data, size_t len,
                                    bool binary, const char *message_id, upstream_done_fn done,
                                    void *arg);

/* A function's answer as an http backend's (containers' answers pass
 * unchanged): the runner's 2xx body read by fn_resp_parse into status,
 * content type, header lines and body (a broken answer: status 0 and
 * why as the error); a non-2xx from the runner (the handler threw) passes
 * as it is. Returns res or out; keep holds what out points into until
 * fn_resp_free. max_body caps the decoded body. */
const struct upstream_result *integ_fn_result(const struct integration *in,
                                              const struct upstream_result *res, size_t max_body,
                                              struct upstream_result *out, struct fn_resp *keep,
                                              char *why, size_t whylen);

/* Hands the disconnect event of operation in to integ_disc.c (retried as
 * for http), and frees f. */
void integ_fn_disconnect(struct integ_fn *f, const struct integration *in, uint16_t code,
                         const char *reason, size_t reason_len);

#endif
