/* tls_conf.c — builds the server ports' TLS contexts from the flags, and
 * swaps them on SIGHUP (tls_conf.h).
 *
 * A reload is all or nothing across both ports, like reload.c's spec and
 * token: a bad pair leaves every running context in place. Each SSL keeps
 * a reference to the context it was made from, so dropping the old one
 * never touches an open connection. Reading the files blocks the loop for
 * a local read and a key parse, as at start-up; a reload is rare.
 * Session-ticket keys are one set per port (a ticket from one port never
 * resumes on the other, whose client-certificate rule may differ), owned
 * here, not by a context: they survive a reload, so a certificate change
 * costs no resumption, and they rotate on a timer (RFC 8446 §4.6.1: a
 * ticket key should not live forever).
 * Must never: log key material, or leave a port without its context.
 */
#include "tls_conf.h"

#include <stdbool.h>

#include "ctx.h"
#include "err.h"
#include "log.h"
#include "tls.h"

/* Loads both contexts the flags ask for into ws/mgmt (NULL when off).
 * Returns 0, or ERR_INVAL after logging which one failed (prefix). */
static int load(const struct config *cfg, struct tls_ctx **ws, struct tls_ctx **mgmt,
                const char *prefix)
{
	const char *why = NULL;

	*ws = *mgmt = NULL;
	if (cfg->tls_cert[0] &&
	    !(*ws = tls_server_ctx_new(cfg->tls_cert, cfg->tls_key, NULL, false, &why))) {
		log_error("%s--tls-cert %s / --tls-key %s: %s", prefix, cfg->tls_cert, cfg->tls_key,
		          why);
		return ERR_INVAL;
	}
	if (cfg->mgmt_tls_cert[0] &&
	    !(*mgmt = tls_server_ctx_new(cfg->mgmt_tls_cert, cfg->mgmt_tls_key,
	                                 cfg->mgmt_tls_client_ca, true, &why))) {
		log_error("%s--mgmt-tls-cert %s / --mgmt-tls-key %s%s%s: %s", prefix,
		          cfg->mgmt_tls_cert, cfg->mgmt_tls_key,
		          cfg->mgmt_tls_client_ca[0] ? " / --mgmt-tls-client-ca " : "",
		          cfg->mgmt_tls_client_ca, why);
		tls_ctx_free(*ws);
		*ws = NULL;
		return ERR_INVAL;
	}
	return 0;
}

/* Flags that only make sense together (config.c parses each alone). */
static int check_pairs(const struct config *cfg)
{
	if (!cfg->tls_cert[0] != !cfg->tls_key[0]) {
		log_error("--tls-cert and --tls-key (WSGW_TLS_CERT, WSGW_TLS_KEY) go together: "
		          "give both or neither");
		return ERR_INVAL;
	}
	if (!cfg->mgmt_tls_cert[0] != !cfg->mgmt_tls_key[0]) {
		log_error("--mgmt-tls-cert and --mgmt-tls-key (WSGW_MGMT_TLS_CERT, "
		          "WSGW_MGMT_TLS_KEY) go together: give both or neither");
		return ERR_INVAL;
	}
	if (cfg->tls_ocsp_file[0] && !cfg->tls_cert[0]) {
		log_error("--tls-ocsp-file needs --tls-cert and --tls-key");
		return ERR_INVAL;
	}
	if (cfg->mgmt_tls_client_ca[0] && !cfg->mgmt_tls_cert[0]) {
		log_error("--mgmt-tls-client-ca needs --mgmt-tls-cert and --mgmt-tls-key");
		return ERR_INVAL;
	}
	return 0;
}

/* The contexts just loaded seal their tickets with the ports' keys, and
 * the WebSocket port staples its OCSP response. */
static void use_tickets(struct server *srv, struct tls_ctx *ws, struct tls_ctx *mgmt)
{
	if (ws)
		tls_ctx_use_tickets(ws, srv->ws_tickets);
	if (ws && srv->ws_ocsp)
		tls_ctx_use_ocsp(ws, srv->ws_ocsp);
	if (mgmt)
		tls_ctx_use_tickets(mgmt, srv->mgmt_tickets);
}

/* --tls-ocsp-file into *d (nothing when unset). Logs why on failure. */
static int read_ocsp(const struct config *cfg, struct tls_ocsp_der *d, const char *prefix)
{
	const char *why = NULL;

	*d = (struct tls_ocsp_der){0};
	if (!cfg->tls_ocsp_file[0] || tls_ocsp_read(cfg->tls_ocsp_file, d, &why) == 0)
		return 0;
	log_error("%s--tls-ocsp-file %s: %s", prefix, cfg->tls_ocsp_file, why);
	return ERR_INVAL;
}

int tls_conf_start(struct server *srv)
{
	const struct config *cfg = srv->cfg;
	struct tls_ocsp_der der;

	if (check_pairs(cfg) < 0 || read_ocsp(cfg, &der, "") < 0)
		return ERR_INVAL;
	if (der.der && !(srv->ws_ocsp = tls_ocsp_new())) {
		tls_ocsp_der_drop(&der);
		log_error("out of memory for the OCSP response");
		return ERR_NOMEM;
	}
	if (srv->ws_ocsp)
		tls_ocsp_set(srv->ws_ocsp, &der);
	if (load(cfg, &srv->ws_tls, &srv->mgmt_tls, "") < 0)
		return ERR_INVAL;
	if ((srv->ws_tls && !(srv->ws_tickets = tls_tickets_new())) ||
	    (srv->mgmt_tls && !(srv->mgmt_tickets = tls_tickets_new()))) {
		log_error("cannot make the TLS session-ticket keys (out of memory or entropy)");
		return ERR_SYS;
	}
	use_tickets(srv, srv->ws_tls, srv->mgmt_tls);
	if (srv->ws_tls)
		log_info("WebSocket port: TLS (wss://) with %s%s%s", cfg->tls_cert,
		         srv->ws_ocsp ? ", OCSP response stapled from " : "",
		         srv->ws_ocsp ? cfg->tls_ocsp_file : "");
	if (srv->mgmt_tls)
		log_info("management port: TLS with %s, ALPN h2 and http/1.1%s", cfg->mgmt_tls_cert,
		         cfg->mgmt_tls_client_ca[0] ? ", client certificates required" : "");
	return 0;
}

void tls_conf_reload(struct server *srv)
{
	static const char refused[] = "SIGHUP: TLS reload refused, the running certificates stay: ";
	struct tls_ctx *ws, *mgmt;
	struct tls_ocsp_der der;

	if (!srv->ws_tls && !srv->mgmt_tls)
		return;
	if (read_ocsp(srv->cfg, &der, refused) < 0)
		return;
	if (load(srv->cfg, &ws, &mgmt, refused) < 0) {
		tls_ocsp_der_drop(&der);
		return;
	}
	if (srv->ws_ocsp) /* made at start with the flag */
		tls_ocsp_set(srv->ws_ocsp, &der);
	tls_ocsp_der_drop(&der); /* (empty once taken) */
	use_tickets(srv, ws, mgmt);
	tls_ctx_free(srv->ws_tls);
	tls_ctx_free(srv->mgmt_tls);
	srv->ws_tls = ws;
	srv->mgmt_tls = mgmt;
	log_info("SIGHUP: reloaded the TLS certificate(s)%s%s%s%s; new handshakes use them",
	         ws ? " " : "", ws ? srv->cfg->tls_cert : "", mgmt ? " " : "",
	         mgmt ? srv->cfg->mgmt_tls_cert : "");
}

static void on_rotate(struct loop_timer *t)
{
	struct server *srv =
	    (struct server *)((char *)t - offsetof(struct server, tls_ticket_timer));

	if ((srv->ws_tickets && tls_tickets_rotate(srv->ws_tickets) < 0) ||
	    (srv->mgmt_tickets && tls_tickets_rotate(srv->mgmt_tickets) < 0))
		log_warn("TLS session-ticket keys: no new key (no entropy); the current one stays");
	else
		log_info("TLS session-ticket keys rotated: new tickets use a new key, the "
		         "previous key still resumes, the one before it no longer does");
	loop_timer_arm(&srv->loop, t, srv->loop.now_ms + srv->cfg->tls_ticket_rotation_ms);
}

void tls_conf_arm(struct server *srv)
{
	if (!srv->ws_tickets && !srv->mgmt_tickets)
		return;
	srv->tls_ticket_timer.on_fire = on_rotate;
	loop_timer_arm(&srv->loop, &srv->tls_ticket_timer,
	               srv->loop.now_ms + srv->cfg->tls_ticket_rotation_ms);
}

void tls_conf_fini(struct server *srv)
{
	tls_ctx_free(srv->ws_tls);
	tls_ctx_free(srv->mgmt_tls);
	srv->ws_tls = srv->mgmt_tls = NULL;
	tls_ocsp_free(srv->ws_ocsp);
	srv->ws_ocsp = NULL;
	tls_tickets_free(srv->ws_tickets);
	tls_tickets_free(srv->mgmt_tickets);
	srv->ws_tickets = srv->mgmt_tickets = NULL;
}
