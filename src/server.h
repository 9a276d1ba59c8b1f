/* server.h — start-up and shutdown of the server context (ctx.h):
 * listeners, signals, timers, the drain. Only main.c and server.c need it.
 */
#ifndef WSGW_SERVER_H
#define WSGW_SERVER_H

#include "ctx.h"

/* Sets up listeners, signals and timers. Returns 0, or ERR_SYS / ERR_NOMEM
 * after logging why. */
int server_init(struct server *srv, const struct config *cfg);
void server_fini(struct server *srv);

/* Runs the loop until shutdown completes. Returns the exit code. */
int server_run(struct server *srv);

/* Starts the drain: stop accepting, close every connection with 1001. */
void server_begin_drain(struct server *srv);

#endif
