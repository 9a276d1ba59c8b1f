/* reload.h — what a SIGHUP re-reads: the spec (--spec, with the same --var
 * values) and the management token (--auth-token-file). Listen addresses,
 * limits, timeouts and every other flag need a restart.
 */
#ifndef WSGW_RELOAD_H
#define WSGW_RELOAD_H

struct server;

/* At start-up: loads srv->spec (the default echo spec without --spec) and
 * srv->auth_token (--auth-token, or the file's content). Logs why on
 * failure. Returns 0, ERR_INVAL (a bad spec or token file) or ERR_NOMEM. */
int reload_start(struct server *srv);

/* On SIGHUP: loads the spec and the token file anew; when both load, swaps
 * them in (connections keep the spec they were matched against) and logs
 * one info line; when either fails, logs why and keeps the running ones
 * (all or nothing). During a drain the signal is ignored, with a line. */
void reload_on_sighup(struct server *srv);

#endif
