/* tls_conf.h — the server ports' TLS contexts (--tls-cert/--tls-key for
 * wss://, --mgmt-tls-* for the management port): built at start-up,
 * rebuilt from the same files on SIGHUP.
 */
#ifndef WSGW_TLS_CONF_H
#define WSGW_TLS_CONF_H

struct server;

/* At start-up: checks the flags come in pairs (a certificate with its key,
 * a client CA only with the management port's TLS) and loads each context
 * asked for into srv->ws_tls / srv->mgmt_tls. Logs why on failure.
 * Returns 0 or ERR_INVAL. */
int tls_conf_start(struct server *srv);

/* On SIGHUP: loads every configured pair anew; when all load, they replace
 * the running contexts (new handshakes use them, open connections keep
 * the one they started with) and one info line says so; when any fails,
 * an error line names it and every running context stays. Nothing to do
 * without TLS flags. */
void tls_conf_reload(struct server *srv);

/* Once the loop runs: arms the session-ticket key rotation
 * (--tls-ticket-rotation) when a port speaks TLS. */
void tls_conf_arm(struct server *srv);

/* At exit, after the connections: drops the contexts and the ticket keys. */
void tls_conf_fini(struct server *srv);

#endif
