/* upstream.c — backend HTTP calls on libcurl's multi-socket API
 * (curl_multi_socket_action), with curl's sockets registered in our epoll
 * loop and curl's single timeout as one loop timer. libcurl keeps a
 * connection cache in the multi handle, so calls to the same backend
 * reuse keep-alive connections.
 *
 * Socket records are freed after the epoll batch (upstream_reap), like
 * connections, since a batch may still hold an event for a socket curl
 * has just dropped.
 */
#include "upstream.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "loop.h"

struct upstream_sock {
	struct loop_io io;
	struct upstream *u;
	struct upstream_sock *next_dead;
	bool dead;
};

struct upstream {
	CURLM *multi;
	struct loop *loop;
	struct loop_timer timer;
	unsigned pending;
	struct upstream_sock *dead;
	struct upstream_req *reqs; /* calls under way */
	bool closing;
	unsigned active, max_active; /* calls inside curl, and the cap */
	struct upstream_req *wait_head, *wait_tail; /* calls waiting for a slot */
};

struct upstream_req {
	CURL *easy;
	struct upstream *u;
	struct upstream_req *prev, *next;
	struct upstream_req *next_wait;
	bool waiting;
	struct curl_slist *headers;
	uint8_t *body;
	uint8_t *resp;
	size_t resp_len, resp_cap, max_response;
	bool too_big;
	upstream_done_fn done;
	void *arg;
	char error[CURL_ERROR_SIZE];
};

static void finish(struct upstream_req *r, CURLcode code, const char *why)
{
	struct upstream_result res = {0};
	char *ct = NULL;

	if (code == CURLE_OK) {
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &res.status);
		curl_easy_getinfo(r->easy, CURLINFO_CONTENT_TYPE, &ct);
		res.content_type = ct;
		res.body = r->resp;
		res.body_len = r->resp_len;
	} else {
		res.error = why ? why
			  : r->too_big ? "response body too large"
				       : (r->error[0] ? r->error : curl_easy_strerror(code));
	}
	if (r->done)
		r->done(r->arg, &res);
}

static void free_req(struct upstream_req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else if (r->u->reqs == r)
		r->u->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	free(r->body);
	free(r->resp);
	free(r);
}

/* Hands waiting calls to curl while there are free slots. Queueing here
 * rather than in curl keeps curl's per-call work independent of how many
 * calls wait (curl rescans its pending list). */
static void admit(struct upstream *u)
{
	while (u->wait_head && u->active < u->max_active) {
		struct upstream_req *r = u->wait_head;

		u->wait_head = r->next_wait;
		if (!u->wait_head)
			u->wait_tail = NULL;
		r->waiting = false;
		if (curl_multi_add_handle(u->multi, r->easy) != CURLM_OK) {
			u->pending--;
			finish(r, CURLE_OUT_OF_MEMORY, "cannot start the call");
			free_req(r);
			continue;
		}
		u->active++;
	}
}

static void check_done(struct upstream *u)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(u->multi, &left))) {
		struct upstream_req *r = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		curl_multi_remove_handle(u->multi, msg->easy_handle);
		u->pending--;
		u->active--;
		finish(r, msg->data.result, NULL);
		free_req(r);
	}
	admit(u);
}

static void on_sock_event(struct loop_io *io, uint32_t events)
{
	struct upstream_sock *s = (struct upstream_sock *)io;
	int action = 0, running;

	if (s->dead)
		return;
	if (events & (EPOLLIN | EPOLLHUP))
		action |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		action |= CURL_CSELECT_OUT;
	if (events & EPOLLERR)
		action |= CURL_CSELECT_ERR;
	curl_multi_socket_action(s->u->multi, io->fd, action, &running);
	check_done(s->u);
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct upstream *u = userp;
	struct upstream_sock *s = socketp;
	uint32_t ev = 0;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s) {
			loop_del(u->loop, &s->io);
			s->dead = true;
			s->next_dead = u->dead;
			u->dead = s;
			curl_multi_assign(u->multi, fd, NULL);
		}
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		ev |= EPOLLOUT;
	if (!s) {
		s = calloc(1, sizeof *s);
		if (!s)
			return -1;
		s->io = (struct loop_io){.fd = fd, .on_event = on_sock_event};
		s->u = u;
		if (loop_add(u->loop, &s->io, ev) < 0) {
			free(s);
			return -1;
		}
		curl_multi_assign(u->multi, fd, s);
		return 0;
	}
	return loop_mod(u->loop, &s->io, ev) < 0 ? -1 : 0;
}

static void on_timer(struct loop_timer *t)
{
	struct upstream *u = (struct upstream *)((char *)t - offsetof(struct upstream, timer));
	int running;

	curl_multi_socket_action(u->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(u);
}

/* curl asks for one timeout; acting on it happens from the loop, never
 * inside this callback (curl forbids re-entering socket_action here). */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct upstream *u = userp;

	(void)multi;
	if (timeout_ms < 0)
		loop_timer_disarm(u->loop, &u->timer);
	else
		loop_timer_arm(u->loop, &u->timer, u->loop->now_ms + (uint64_t)timeout_ms);
	return 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct upstream_req *r = arg;
	size_t len = size * n;

	if (r->resp_len + len > r->max_response) {
		r->too_big = true;
		return 0; /* curl fails the transfer with CURLE_WRITE_ERROR */
	}
	if (r->resp_len + len > r->resp_cap) {
		size_t cap = r->resp_cap ? r->resp_cap : 1024;
		uint8_t *b;

		while (cap < r->resp_len + len)
			cap *= 2;
		b = realloc(r->resp, cap);
		if (!b)
			return 0;
		r->resp = b;
		r->resp_cap = cap;
	}
	memcpy(r->resp + r->resp_len, p, len);
	r->resp_len += len;
	return len;
}

struct upstream *upstream_new(struct loop *loop, unsigned per_host)
{
	struct upstream *u = calloc(1, sizeof *u);

	if (!u || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		goto out_free;
	u->multi = curl_multi_init();
	if (!u->multi)
		goto out_free;
	u->loop = loop;
	u->max_active = per_host;
	u->timer.on_fire = on_timer;
	curl_multi_setopt(u->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
	curl_multi_setopt(u->multi, CURLMOPT_SOCKETDATA, u);
	curl_multi_setopt(u->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(u->multi, CURLMOPT_TIMERDATA, u);
	/* More calls than connections wait inside curl for a free one, so
	 * connections are reused instead of opened and closed per call (the
	 * cache keeps every one of them, for a few hosts). */
	curl_multi_setopt(u->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)per_host);
	curl_multi_setopt(u->multi, CURLMOPT_MAXCONNECTS, (long)per_host * 4);
	return u;
out_free:
	free(u);
	return NULL;
}

void upstream_reap(struct upstream *u)
{
	while (u && u->dead) {
		struct upstream_sock *s = u->dead;

		u->dead = s->next_dead;
		free(s);
	}
}

void upstream_free(struct upstream *u)
{
	if (!u)
		return;
	/* Every caller hears of its call, so nothing it owns leaks; calls
	 * started from these callbacks are refused. */
	u->closing = true;
	u->wait_head = u->wait_tail = NULL; /* every waiting call is on u->reqs too */
	while (u->reqs) {
		struct upstream_req *r = u->reqs;

		if (!r->waiting)
			curl_multi_remove_handle(u->multi, r->easy);
		u->pending--;
		finish(r, CURLE_ABORTED_BY_CALLBACK, "gateway stopped");
		free_req(r);
	}
	curl_multi_cleanup(u->multi);
	loop_timer_disarm(u->loop, &u->timer);
	upstream_reap(u);
	curl_global_cleanup();
	free(u);
}

static bool setup(struct upstream_req *r, const struct upstream_call *call)
{
	CURL *e = r->easy;

	curl_easy_setopt(e, CURLOPT_URL, call->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->error);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)call->connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)call->timeout_ms);
	curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	if (call->body_len || strcmp(call->method, "GET") != 0) {
		r->body = malloc(call->body_len ? call->body_len : 1);
		if (!r->body)
			return false;
		memcpy(r->body, call->body ? call->body : (const uint8_t *)"", call->body_len);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, (char *)r->body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)call->body_len);
	}
	if (strcmp(call->method, "HEAD") == 0)
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	else if (strcmp(call->method, "GET") != 0 && strcmp(call->method, "POST") != 0)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, call->method);
	else if (strcmp(call->method, "GET") == 0 && call->body_len)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "GET");
	return true;
}

static bool has_header(const struct curl_slist *l, const char *name)
{
	size_t n = strlen(name);

	for (; l; l = l->next)
		if (!strncasecmp(l->data, name, n) && (l->data[n] == ':' || l->data[n] == ';'))
			return true;
	return false;
}

struct upstream_req *upstream_start(struct upstream *u, const struct upstream_call *call,
				    upstream_done_fn done, void *arg)
{
	struct upstream_req *r = u->closing ? NULL : calloc(1, sizeof *r);

	if (!r) {
		curl_slist_free_all(call->headers);
		return NULL;
	}
	r->u = u;
	/* No "Expect: 100-continue" round trip on larger bodies, and no
	 * form-urlencoded Content-Type that curl would otherwise invent. */
	r->headers = curl_slist_append(call->headers, "Expect:");
	if (r->headers && !has_header(r->headers, "content-type"))
		r->headers = curl_slist_append(r->headers, "Content-Type:");
	if (!r->headers) {
		curl_slist_free_all(call->headers);
		free(r);
		return NULL;
	}
	r->done = done;
	r->arg = arg;
	r->max_response = call->max_response;
	r->easy = curl_easy_init();
	if (!r->easy || !setup(r, call)) {
		free_req(r);
		return NULL;
	}
	if (!u->wait_head && u->active < u->max_active) {
		if (curl_multi_add_handle(u->multi, r->easy) != CURLM_OK) {
			free_req(r);
			return NULL;
		}
		u->active++;
	} else {
		r->waiting = true;
		if (u->wait_tail)
			u->wait_tail->next_wait = r;
		else
			u->wait_head = r;
		u->wait_tail = r;
	}
	u->pending++;
	r->next = u->reqs;
	if (u->reqs)
		u->reqs->prev = r;
	u->reqs = r;
	return r;
}

void upstream_detach(struct upstream_req *r)
{
	r->done = NULL;
	r->arg = NULL;
}

unsigned upstream_pending(const struct upstream *u)
{
	return u ? u->pending : 0;
}
