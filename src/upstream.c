/* upstream.c — backend HTTP calls on libcurl's multi-socket API
 * (curl_multi_socket_action), with curl's sockets registered in our epoll
 * loop and curl's single timeout as one loop timer. libcurl keeps a
 * connection cache in the multi handle, so calls to the same backend
 * reuse keep-alive connections.
 *
 * Per call, curl's own work is most of the gateway's cost, so three things
 * keep it down: easy handles are reused (a free list), calls start
 * together at the end of a loop pass, and a socket curl stops watching
 * between two calls on a kept-alive connection stays in epoll (curl
 * would otherwise remove and re-add it around every call: two epoll_ctl
 * per call). Such a socket is taken out of epoll only when an event
 * arrives that curl does not want, or when curl closes it: we own socket
 * open and close through CURLOPT_OPENSOCKETFUNCTION / CLOSESOCKETFUNCTION,
 * so no record outlives its fd.
 *
 * Socket records are freed by the loop after the epoll batch, like
 * connections, since a batch may still hold an event for a socket curl
 * has just closed.
 */
#include "upstream.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "list.h"
#include "loop.h"

#define RESP_INLINE 512
#define MAX_HEADER_LINES 256

struct upstream_sock {
	struct loop_io io;
	struct upstream *u;
	struct loop_deferred reap; /* queued on the loop once forgotten */
	uint32_t want;   /* events curl asked for; 0 = not watched by curl */
	bool registered; /* in epoll (with io.events) */
	bool dead;
};

struct upstream {
	CURLM *multi;
	struct loop *loop;
	struct loop_timer timer;
	struct loop_timer start_timer; /* hands waiting calls to curl */
	unsigned pending;
	struct upstream_sock **socks; /* by fd: curl's open sockets */
	size_t socks_cap;
	struct list_node reqs; /* calls under way (upstream_req.link) */
	bool closing;
	unsigned active;          /* calls inside curl, all backends */
	unsigned max_active;      /* the cap per backend (upstream_pool) */
	struct list_node pools;   /* upstream_pool.link: backends with calls */
	CURL **spare; /* easy handles kept for reuse */
	unsigned num_spare;
};

/* The calls to one backend, by scheme://host:port as written in the URL:
 * at most max_active of them inside curl, the rest waiting in order, so
 * a stalled backend holds up only its own calls. Exists while it has
 * calls. */
struct upstream_pool {
	struct list_node link;    /* in upstream.pools */
	struct list_node waiting; /* upstream_req.wait_link, oldest first */
	unsigned active;          /* its calls inside curl */
	unsigned calls;           /* its calls, waiting or active */
	size_t key_len;
	char key[];
};

/* One allocation per call: this struct, then the header list's nodes,
 * their text, the URL, the method and the request body (see alloc_req).
 * A response that fits in resp_inline needs no allocation either. A call
 * takes its curl handle (several KB) only when it leaves the waiting line,
 * so calls waiting for a backend connection stay small. */
struct upstream_req {
	CURL *easy;                 /* NULL while waiting */
	struct upstream *u;
	struct list_node link;      /* in upstream.reqs */
	struct list_node wait_link; /* in pool->waiting, or linked to itself once in curl */
	struct upstream_pool *pool;
	struct curl_slist *headers; /* inside this allocation */
	uint8_t *body;              /* inside this allocation */
	size_t body_len;
	const char *url, *method;   /* inside this allocation */
	uint64_t connect_timeout_ms, timeout_ms;
	bool want_headers;
	uint8_t *resp;              /* resp_inline or heap */
	char *hdrs;                 /* response header lines (want_headers) */
	size_t hdrs_len;
	size_t resp_len, resp_cap, max_response;
	bool too_big;
	upstream_done_fn done;
	void *arg;
	char error[CURL_ERROR_SIZE];
	uint8_t resp_inline[RESP_INLINE];
	struct curl_slist nodes[];
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
		res.headers = r->hdrs;
		res.headers_len = r->hdrs_len;
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
	struct upstream_pool *pool = r->pool;

	list_remove(&r->link);
	list_remove(&r->wait_link);
	if (pool && --pool->calls == 0) {
		list_remove(&pool->link);
		free(pool);
	}
	if (!r->easy) {
		/* never left the waiting line */
	} else if (r->u->num_spare < r->u->max_active && !r->u->closing) {
		/* setup() sets every per-call option again before the next
		 * call; only the error buffer is one curl itself could write
		 * to meanwhile (curl_easy_cleanup at exit). */
		curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, (char *)NULL);
		r->u->spare[r->u->num_spare++] = r->easy;
	} else {
		curl_easy_cleanup(r->easy);
	}
	if (r->resp != r->resp_inline)
		free(r->resp);
	free(r->hdrs);
	free(r);
}

/* Hands waiting calls to curl while there are free slots. Queueing here
 * rather than in curl keeps curl's per-call work independent of how many
 * calls wait (curl rescans its pending list). */
static bool setup(struct upstream_req *r);
static CURL *new_easy(struct upstream *u);

static void admit_pool(struct upstream *u, struct upstream_pool *pool)
{
	while (!list_empty(&pool->waiting) && pool->active < u->max_active) {
		struct upstream_req *r =
			list_entry(pool->waiting.next, struct upstream_req, wait_link);

		list_remove(&r->wait_link);
		r->easy = u->num_spare ? u->spare[--u->num_spare] : new_easy(u);
		if (!r->easy || !setup(r) || curl_multi_add_handle(u->multi, r->easy) != CURLM_OK) {
			bool last;

			u->pending--;
			finish(r, CURLE_OUT_OF_MEMORY, "cannot start the call");
			last = pool->calls == 1; /* then free_req frees the pool */
			free_req(r);
			if (last)
				return;
			continue;
		}
		pool->active++;
		u->active++;
	}
}

static void admit(struct upstream *u)
{
	struct list_node *n, *next;

	/* admit_pool may free the pool it works on, never another one */
	list_for_each_safe(n, next, &u->pools)
		admit_pool(u, list_entry(n, struct upstream_pool, link));
}

static void check_done(struct upstream *u);

/* Calls start at the end of the loop pass, all together: curl then sends
 * them back to back, so a backend is woken once per pass rather than once
 * per call, and curl's expired-timer scan runs once. */
static void on_start_timer(struct loop_timer *t)
{
	struct upstream *u = (struct upstream *)((char *)t - offsetof(struct upstream, start_timer));
	unsigned before = u->active;
	int running;

	admit(u);
	if (u->active != before) {
		curl_multi_socket_action(u->multi, CURL_SOCKET_TIMEOUT, 0, &running);
		check_done(u);
	}
}

static void schedule_start(struct upstream *u, const struct upstream_pool *pool)
{
	if (!list_empty(&pool->waiting) && pool->active < u->max_active && !u->start_timer.armed)
		loop_timer_arm(u->loop, &u->start_timer, u->loop->now_ms);
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
		r->pool->active--;
		if (r->pool->calls > 1) /* others wait or run: it outlives r */
			schedule_start(u, r->pool);
		finish(r, msg->data.result, NULL);
		free_req(r);
	}
}

static void sock_unregister(struct upstream *u, struct upstream_sock *s)
{
	if (s->registered)
		loop_del(u->loop, &s->io);
	s->registered = false;
}

static void on_sock_event(struct loop_io *io, uint32_t events)
{
	struct upstream_sock *s = (struct upstream_sock *)io;
	int action = 0, running;

	if (s->dead)
		return;
	if (!s->want) {
		/* An idle kept-alive connection: the backend closed it or sent
		 * something unasked. Stop listening (level-triggered epoll
		 * would repeat this); curl finds out when it next uses it. */
		sock_unregister(s->u, s);
		return;
	}
	if (events & (EPOLLIN | EPOLLHUP))
		action |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		action |= CURL_CSELECT_OUT;
	if (events & EPOLLERR)
		action |= CURL_CSELECT_ERR;
	curl_multi_socket_action(s->u->multi, io->fd, action, &running);
	check_done(s->u);
}

static struct upstream_sock *sock_of(struct upstream *u, curl_socket_t fd)
{
	return fd >= 0 && (size_t)fd < u->socks_cap ? u->socks[fd] : NULL;
}

/* The loop's free callback, after the batch that forgot the socket. */
static void sock_free(struct loop_deferred *d)
{
	free((struct upstream_sock *)((char *)d - offsetof(struct upstream_sock, reap)));
}

static void sock_forget(struct upstream *u, curl_socket_t fd)
{
	struct upstream_sock *s = sock_of(u, fd);

	if (!s)
		return;
	sock_unregister(u, s);
	u->socks[fd] = NULL;
	s->dead = true;
	loop_defer_free(u->loop, &s->reap, sock_free);
}

static curl_socket_t on_open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct upstream *u = arg;
	curl_socket_t fd;

	(void)purpose;
	fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
	if (fd < 0)
		return CURL_SOCKET_BAD;
	if ((size_t)fd >= u->socks_cap) {
		size_t cap = u->socks_cap ? u->socks_cap : 64;
		struct upstream_sock **t;

		while (cap <= (size_t)fd)
			cap *= 2;
		t = realloc(u->socks, cap * sizeof *t);
		if (!t) {
			close(fd);
			return CURL_SOCKET_BAD;
		}
		memset(t + u->socks_cap, 0, (cap - u->socks_cap) * sizeof *t);
		u->socks = t;
		u->socks_cap = cap;
	}
	sock_forget(u, fd); /* cannot hold anything; kept as a guard */
	return fd;
}

static int on_close_socket(void *arg, curl_socket_t fd)
{
	sock_forget(arg, fd);
	return close(fd);
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct upstream *u = userp;
	struct upstream_sock *s = sock_of(u, fd);
	uint32_t ev = 0;

	(void)easy;
	(void)socketp;
	if (what == CURL_POLL_REMOVE) {
		if (s)
			s->want = 0; /* stays in epoll until it fires or closes */
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		ev |= EPOLLOUT;
	if (!s) {
		if (fd < 0 || (size_t)fd >= u->socks_cap)
			return -1; /* not opened through on_open_socket */
		s = calloc(1, sizeof *s);
		if (!s)
			return -1;
		s->io = (struct loop_io){.fd = fd, .on_event = on_sock_event};
		s->u = u;
		u->socks[fd] = s;
	}
	s->want = ev;
	if (!s->registered) {
		if (loop_add(u->loop, &s->io, ev) < 0)
			return -1;
		s->registered = true;
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
		size_t cap = r->resp_cap * 2;
		uint8_t *b;

		while (cap < r->resp_len + len)
			cap *= 2;
		b = r->resp == r->resp_inline ? malloc(cap) : realloc(r->resp, cap);
		if (!b)
			return 0;
		if (r->resp == r->resp_inline)
			memcpy(b, r->resp_inline, r->resp_len);
		r->resp = b;
		r->resp_cap = cap;
	}
	memcpy(r->resp + r->resp_len, p, len);
	r->resp_len += len;
	return len;
}

/* Keeps the header lines of the last response (a 100 Continue comes
 * first); whole lines only, up to UPSTREAM_MAX_HEADERS bytes. */
static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct upstream_req *r = arg;
	size_t len = size * n;

	if (len >= 5 && !memcmp(p, "HTTP/", 5)) {
		r->hdrs_len = 0; /* a new response begins: its status line */
		return len;
	}
	if (len <= 2 || r->hdrs_len + len > UPSTREAM_MAX_HEADERS)
		return len; /* the blank line ending the head, or no room */
	if (!r->hdrs && !(r->hdrs = malloc(UPSTREAM_MAX_HEADERS + 1)))
		return len; /* headers are a courtesy: no failure for them */
	memcpy(r->hdrs + r->hdrs_len, p, len);
	r->hdrs_len += len;
	r->hdrs[r->hdrs_len] = '\0';
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
	list_init(&u->reqs);
	list_init(&u->pools);
	u->spare = calloc(per_host, sizeof *u->spare);
	if (!u->spare)
		goto out_free;
	u->timer.on_fire = on_timer;
	u->start_timer.on_fire = on_start_timer;
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
	if (u && u->multi)
		curl_multi_cleanup(u->multi);
	if (u)
		free(u->spare);
	free(u);
	return NULL;
}

void upstream_free(struct upstream *u)
{
	if (!u)
		return;
	/* Every caller hears of its call, so nothing it owns leaks; calls
	 * started from these callbacks are refused. */
	u->closing = true;
	while (!list_empty(&u->reqs)) { /* waiting calls are on reqs too */
		struct upstream_req *r = list_entry(u->reqs.next, struct upstream_req, link);

		if (list_empty(&r->wait_link)) /* inside curl, not waiting */
			curl_multi_remove_handle(u->multi, r->easy);
		u->pending--;
		finish(r, CURLE_ABORTED_BY_CALLBACK, "gateway stopped");
		free_req(r);
	}
	while (u->num_spare)
		curl_easy_cleanup(u->spare[--u->num_spare]);
	curl_multi_cleanup(u->multi); /* closes cached connections: on_close_socket */
	/* libcurl 7.88 closes a socket whose connect timed out with a plain
	 * close(), not through on_close_socket, so its record stays until
	 * on_open_socket reuses the fd; free what is left. The fds are
	 * closed already (their numbers may be reused): no epoll call. */
	for (size_t i = 0; i < u->socks_cap; i++)
		free(u->socks[i]);
	loop_timer_disarm(u->loop, &u->timer);
	loop_timer_disarm(u->loop, &u->start_timer);
	loop_reap(u->loop); /* the socket records curl's cleanup just forgot */
	curl_global_cleanup();
	free(u->spare);
	free(u->socks);
	free(u);
}

/* Options that stay the same for every call a handle makes. */
static CURL *new_easy(struct upstream *u)
{
	CURL *e = curl_easy_init();

	if (!e)
		return NULL;
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	/* Backends are called directly, never through a proxy named in the
	 * environment (http_proxy & co.), which curl would look up on
	 * every call. */
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, u);
	curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
	curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, u);
	return e;
}

/* Per-call options; every one is set on every call, since a reused handle
 * still holds the last call's. */
static bool setup(struct upstream_req *r)
{
	CURL *e = r->easy;
	bool get = strcmp(r->method, "GET") == 0;

	if (curl_easy_setopt(e, CURLOPT_URL, r->url) != CURLE_OK)
		return false;
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->error);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, r->want_headers ? on_header : NULL);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r->want_headers ? (void *)r : NULL);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)r->connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)r->timeout_ms);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, (char *)NULL);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, (char *)NULL);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1);
	curl_easy_setopt(e, CURLOPT_HTTPGET, 1L); /* after POSTFIELDS; also clears NOBODY */
	if (r->body_len || !get) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, (char *)r->body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
	}
	if (strcmp(r->method, "HEAD") == 0)
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	else if (!get && strcmp(r->method, "POST") != 0)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
	else if (get && r->body_len)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "GET");
	return true;
}

static bool is_header(const char *line, const char *name)
{
	size_t n = strlen(name);

	return !strncasecmp(line, name, n) && (line[n] == ':' || line[n] == ';');
}

/* Lays out the call's header lines (call->headers, then call->extra, then
 * "Expect:" and, unless one was given, an empty "Content-Type:") and body
 * behind the request struct, in one allocation. The empty headers mean
 * no "Expect: 100-continue" round trip on larger bodies and no
 * form-urlencoded Content-Type that curl would otherwise invent. */
static struct upstream_req *alloc_req(const struct upstream_call *call)
{
	const char *line[MAX_HEADER_LINES];
	size_t n = 0, text = 0, off;
	bool has_type = false;
	struct upstream_req *r;
	char *p;

	for (const struct curl_slist *l = call->headers; l && n < MAX_HEADER_LINES - 2; l = l->next)
		line[n++] = l->data;
	for (size_t i = 0; i < call->num_extra && n < MAX_HEADER_LINES - 2; i++)
		line[n++] = call->extra[i];
	for (size_t i = 0; i < n; i++)
		has_type |= is_header(line[i], "content-type");
	line[n++] = "Expect:";
	if (!has_type)
		line[n++] = "Content-Type:";
	for (size_t i = 0; i < n; i++)
		text += strlen(line[i]) + 1;
	text += strlen(call->url) + 1 + strlen(call->method) + 1;
	off = sizeof *r + n * sizeof r->nodes[0];
	r = malloc(off + text + call->body_len + 1);
	if (!r)
		return NULL;
	memset(r, 0, sizeof *r);
	list_init(&r->link);
	list_init(&r->wait_link);
	p = (char *)r + off;
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(line[i]) + 1;

		memcpy(p, line[i], len);
		r->nodes[i] = (struct curl_slist){.data = p, .next = i + 1 < n ? &r->nodes[i + 1] : NULL};
		p += len;
	}
	r->headers = r->nodes;
	r->url = memcpy(p, call->url, strlen(call->url) + 1);
	p += strlen(call->url) + 1;
	r->method = memcpy(p, call->method, strlen(call->method) + 1);
	p += strlen(call->method) + 1;
	r->body = (uint8_t *)p;
	r->body_len = call->body_len;
	r->connect_timeout_ms = call->connect_timeout_ms;
	r->timeout_ms = call->timeout_ms;
	r->want_headers = call->want_headers;
	if (call->body_len)
		memcpy(r->body, call->body, call->body_len);
	r->resp = r->resp_inline;
	r->resp_cap = sizeof r->resp_inline;
	return r;
}

/* The pool of url's backend: "scheme://authority", up to the path. */
static struct upstream_pool *pool_of(struct upstream *u, const char *url)
{
	const char *sep = strstr(url, "://");
	size_t len = sep ? (size_t)(sep + 3 - url) + strcspn(sep + 3, "/?#") : strlen(url);
	struct list_node *n;
	struct upstream_pool *pool;

	for (n = u->pools.next; n != &u->pools; n = n->next) {
		pool = list_entry(n, struct upstream_pool, link);
		if (pool->key_len == len && !memcmp(pool->key, url, len))
			return pool;
	}
	pool = malloc(sizeof *pool + len + 1);
	if (!pool)
		return NULL;
	*pool = (struct upstream_pool){.key_len = len};
	memcpy(pool->key, url, len);
	pool->key[len] = '\0';
	list_init(&pool->waiting);
	list_insert_tail(&u->pools, &pool->link);
	return pool;
}

struct upstream_req *upstream_start(struct upstream *u, const struct upstream_call *call,
				    upstream_done_fn done, void *arg)
{
	struct upstream_req *r = u->closing ? NULL : alloc_req(call);

	if (!r)
		return NULL;
	r->u = u;
	r->done = done;
	r->arg = arg;
	r->max_response = call->max_response;
	r->pool = pool_of(u, call->url);
	if (!r->pool) {
		free_req(r);
		return NULL;
	}
	r->pool->calls++;
	list_insert_tail(&r->pool->waiting, &r->wait_link);
	list_insert_tail(&u->reqs, &r->link);
	schedule_start(u, r->pool);
	u->pending++;
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

void upstream_each_backend(const struct upstream *u,
			   void (*fn)(void *arg, const char *key, unsigned in_flight,
				      unsigned waiting),
			   void *arg)
{
	for (const struct list_node *n = u->pools.next; n != &u->pools; n = n->next) {
		const struct upstream_pool *p = list_entry(n, struct upstream_pool, link);

		fn(arg, p->key, p->active, p->calls - p->active);
	}
}
