/* bcecho.c — bcastload's echo probe (bcecho.h): one message in flight per
 * probe connection, its round trip filed under "during a broadcast" or
 * "between broadcasts" by when the echo arrived. Client frames are masked
 * (RFC 6455 §5.3) with a fixed non-zero key; the template is built once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bcecho.h"

#define TS_OFF 5 /* "echo-" */
#define TS_LEN 16

static const uint8_t mask[4] = {0x3c, 0x91, 0x5e, 0xa7};
static uint8_t tmpl[6 + BCECHO_SIZE]; /* header, mask, masked payload sans stamp */

static void on_echo(void *arg, struct wsc *c, uint64_t len, uint64_t now)
{
	struct bcecho *e = arg;
	bool ok = false;
	uint64_t t = 0;

	if (e->bcast && len == e->bcast_len && c->pl_len == len &&
	    !memcmp(c->pl, e->bcast, e->bcast_len)) {
		e->bcast_got++;
		e->bcast_last = now;
		return;
	}
	if (c->msg_op == 1 && len == BCECHO_SIZE && c->pl_len == BCECHO_SIZE &&
	    !memcmp(c->pl, "echo-", TS_OFF))
		t = hex16(c->pl + TS_OFF, &ok);
	if (!ok || t > now) {
		e->bad_payload++;
		return;
	}
	hist_add(e->bcast ? &e->during : &e->between, now - t);
	/* the next one interval after this one was sent */
	e->next_at[c - e->pool.c] = t + e->interval_ns > now ? t + e->interval_ns : now;
}

static void on_open(void *arg, struct wsc *c, uint64_t now)
{
	struct bcecho *e = arg;

	(void)c;
	e->due = 1;
	e->due_now = now;
}

/* One message stamped now, written whole (38 bytes on an idle socket). */
static int send_one(struct bcecho *e, struct wsc *c, uint64_t now)
{
	uint8_t f[sizeof tmpl];
	ssize_t w;

	memcpy(f, tmpl, sizeof f);
	for (int i = TS_LEN - 1; i >= 0; i--, now >>= 4)
		f[6 + TS_OFF + i] = (uint8_t) "0123456789abcdef"[now & 15] ^ mask[(TS_OFF + i) % 4];
	do
		w = write(c->fd, f, sizeof f);
	while (w < 0 && errno == EINTR);
	if (w != (ssize_t)sizeof f) {
		e->write_err++;
		return -1;
	}
	return 0;
}

int bcecho_init(struct bcecho *e, unsigned conns, int kind, unsigned interval_us)
{
	uint8_t plain[BCECHO_SIZE];

	tmpl[0] = 0x81; /* FIN + text */
	tmpl[1] = 0x80 | BCECHO_SIZE;
	memcpy(tmpl + 2, mask, 4);
	memset(plain, 'x', sizeof plain);
	memcpy(plain, "echo-", TS_OFF);
	plain[TS_OFF + TS_LEN] = '-';
	for (unsigned i = 0; i < BCECHO_SIZE; i++)
		tmpl[6 + i] = plain[i] ^ mask[i % 4];
	e->conns = conns;
	e->interval_ns = (uint64_t)interval_us * 1000u;
	e->pool.on_message = on_echo;
	e->pool.on_open = on_open;
	e->pool.arg = e;
	if (!conns)
		return 0;
	e->pool.c = calloc(conns, sizeof *e->pool.c);
	e->pool.open_idx = calloc(conns, sizeof *e->pool.open_idx);
	e->next_at = calloc(conns, sizeof *e->next_at);
	if (!e->pool.c || !e->pool.open_idx || !e->next_at)
		return -1;
	for (unsigned i = 0; i < conns; i++)
		e->pool.c[i].kind = kind;
	return 0;
}

void bcecho_start(struct bcecho *e, unsigned max_pending)
{
	while (e->next < e->conns && e->pool.pending < max_pending)
		wsc_start(&e->pool, e->next++);
}

void bcecho_tick(struct bcecho *e, uint64_t now)
{
	for (unsigned i = 0; i < e->next; i++) {
		struct wsc *c = &e->pool.c[i];

		if (!e->next_at[i] || now < e->next_at[i] || c->state != WSC_OPEN)
			continue;
		e->next_at[i] = 0;
		if (send_one(e, c, now) < 0)
			wsc_close(&e->pool, c);
	}
}

void bcecho_on_event(struct bcecho *e, struct wsc *c, uint32_t events)
{
	e->due = 0;
	wsc_on_event(&e->pool, c, events);
	if (e->due && c->state == WSC_OPEN && send_one(e, c, e->due_now) < 0)
		wsc_close(&e->pool, c);
}
