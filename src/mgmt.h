/* mgmt.h — the management port: accepts connections, tells HTTP/2 (the
 * client preface, as gRPC clients send it) from HTTP/1.1, and moves bytes
 * between the socket and the protocol session. Parses nothing itself.
 */
#ifndef WSGW_MGMT_H
#define WSGW_MGMT_H

#include <stdint.h>

#include "loop.h"

struct server;

/* Listener callback: accepts every pending management connection. */
void mgmt_on_accept(struct loop_io *listener, uint32_t events);

/* Draining: GOAWAY notice to every HTTP/2 client (streams still served). */
void mgmt_drain(struct server *srv);

/* Deadline sweep of every session. */
void mgmt_sweep(struct server *srv);

/* At exit: final GOAWAY, one best-effort write, close everything. */
void mgmt_close_all(struct server *srv);

#endif
