"""A programmable backend HTTP server for wsgw's integration tests.

`Backend` is an http.server.ThreadingHTTPServer speaking HTTP/1.1 with
keep-alive, on an ephemeral port of 127.0.0.1, served from a thread. It
records every request (method, path, query, headers, body, arrival order)
*before* answering it, so once wsgw has seen a response the request is in
`backend.requests`. What it answers is set per event type
(X-Yc-Apigateway-Websocket-Event-Type: CONNECT, MESSAGE, DISCONNECT; None
for requests without it) with `backend.on(...)`:

    backend.on("MESSAGE", status=200, content_type="text/plain", body=b"hi")
    backend.on("MESSAGE", body=lambda req: req.body)       # echo
    backend.on("MESSAGE", delay=0.001)                     # slow backend
    backend.on("MESSAGE", gate=threading.Event())          # stall until set
    backend.on("CONNECT", status=403, body=b"go away")     # refuse
    backend.on("MESSAGE", respond=lambda req: (200, "text/plain", b"x"))

It also tracks the calls in flight per (event type, connection id), so a
test can assert that wsgw never has two message calls of one connection
outstanding at once (`max_inflight[("MESSAGE", conn_id)]`), and per event
type across connections (`max_inflight_event["MESSAGE"]`). `kill()` stops
it like a crash: the port and every kept-alive connection close at once.

Fixtures: `backend` (one started Backend), `backend_factory` (more, or one
on a given port), `free_port` (a port with nothing listening on it).
"""
import http.server
import socket
import threading
import time
import urllib.parse

import pytest

H = "X-Yc-Apigateway-Websocket-"
LIVENESS = 30.0  # generous: every wait below is "must happen eventually"


class Request:
    """One recorded request."""

    def __init__(self, seq, method, target, headers, body, arrived):
        self.seq = seq  # arrival order, 0-based
        self.method = method
        self.target = target  # as sent: path?query
        u = urllib.parse.urlsplit(target)
        self.path = u.path
        self.query = u.query  # raw query string
        self.query_params = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        self.header_items = headers  # [(name, value), ...] in the order sent
        self.body = body
        self.arrived = arrived  # time.time() at arrival

    def header(self, name, default=None):
        """The value of a header (case-insensitive name); default if absent.
        Fails when the header was sent more than once."""
        vals = self.headers_all(name)
        assert len(vals) <= 1, "header %s sent %d times: %r" % (name, len(vals), vals)
        return vals[0] if vals else default

    def headers_all(self, name):
        return [v for k, v in self.header_items if k.lower() == name.lower()]

    def has_header(self, name):
        return bool(self.headers_all(name))

    @property
    def event(self):
        return self.header(H + "Event-Type")

    @property
    def conn_id(self):
        return self.header(H + "Connection-Id")

    def __repr__(self):
        b = self.body if len(self.body) <= 40 else self.body[:40] + b"..."
        return "Request(#%d %s %s %s conn=%s %r)" % (self.seq, self.method, self.target,
                                                     self.event, self.conn_id, b)


class Behaviour:
    """What the backend answers for one event type."""

    def __init__(self, status=200, content_type=None, body=b"", delay=0.0, gate=None,
                 headers=(), respond=None):
        self.respond = respond  # callable(Request) -> (status, content_type, body)
        self.status = status
        self.content_type = content_type
        self.body = body  # bytes, str, or callable(Request) -> bytes/str
        self.delay = delay  # seconds to sleep before answering
        self.gate = gate  # threading.Event: answer only once it is set
        self.headers = list(headers)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    # Head and body go out in two writes: without TCP_NODELAY, Nagle holds
    # the body until curl's delayed ACK (~40 ms a response).
    disable_nagle_algorithm = True
    server_version = "wsgw-test-backend"

    def log_message(self, fmt, *args):  # quiet
        pass

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                n = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if n == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(n))
                self.rfile.readline()
        n = int(self.headers.get("Content-Length", "0") or 0)
        return self.rfile.read(n) if n else b""

    def _serve(self):
        b = self.server.backend
        body = self._read_body()
        req = b._record(self.command, self.path, list(self.headers.items()), body)
        beh = b.behaviour(req.event)
        key = (req.event, req.conn_id)
        try:
            if beh.gate is not None:
                beh.gate.wait(LIVENESS * 4)
            if beh.delay:
                time.sleep(beh.delay)
            status, ctype = beh.status, beh.content_type
            if beh.respond is not None:
                status, ctype, out = beh.respond(req)
            else:
                out = beh.body(req) if callable(beh.body) else beh.body
            if isinstance(out, str):
                out = out.encode()
            # Leave the in-flight count before the response can reach wsgw,
            # so wsgw's next call never sees this one still counted.
        finally:
            b._done(key, req)
        self.send_response(status)
        if ctype is not None:
            self.send_header("Content-Type", ctype)
        for k, v in beh.headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        if out and self.command != "HEAD":
            self.wfile.write(out)
        self.wfile.flush()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def get_request(self):
        sock, addr = super().get_request()
        with self.backend.lock:
            self.backend._socks.add(sock)
        return sock, addr

    def shutdown_request(self, request):
        with self.backend.lock:
            self.backend._socks.discard(request)
        super().shutdown_request(request)


class Backend:
    def __init__(self, port=0):
        self.lock = threading.Condition()
        self.requests = []
        # ("arrive", seq) when a request is in, ("answer", seq) just before
        # its response is written: which call overlapped which
        self.timeline = []
        self._behaviours = {}
        self._inflight = {}  # (event, conn id) -> calls being answered now
        self._socks = set()  # accepted connections still open
        self.max_inflight = {}  # (event, conn id) -> most calls in flight at once
        self._inflight_ev = {}  # event -> calls being answered now, all connections
        self.max_inflight_event = {}  # event -> most calls in flight at once, all connections
        self.httpd = _Server(("127.0.0.1", port), _Handler)
        self.httpd.backend = self
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def kill(self):
        """Stops like a crashed process: the listening socket and every
        kept-alive connection are closed at once, so nothing answers on
        the port until a new Backend binds it."""
        self.close()
        with self.lock:
            socks = list(self._socks)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def url(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def close(self):
        # Let any handler stalled on a gate finish.
        with self.lock:
            for beh in self._behaviours.values():
                if beh.gate is not None:
                    beh.gate.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- behaviour ----------------------------------------------------------
    def on(self, event, **kw):
        """Sets the answer for an event type ("CONNECT", "MESSAGE",
        "DISCONNECT", or None for requests without the header)."""
        with self.lock:
            self._behaviours[event] = Behaviour(**kw)

    def behaviour(self, event):
        with self.lock:
            return self._behaviours.get(event) or self._behaviours.get("*") or Behaviour()

    # -- recording ----------------------------------------------------------
    def _record(self, method, target, headers, body):
        with self.lock:
            req = Request(len(self.requests), method, target, headers, body, time.time())
            self.requests.append(req)
            self.timeline.append(("arrive", req.seq))
            key = (req.event, req.conn_id)
            n = self._inflight.get(key, 0) + 1
            self._inflight[key] = n
            self.max_inflight[key] = max(self.max_inflight.get(key, 0), n)
            m = self._inflight_ev.get(req.event, 0) + 1
            self._inflight_ev[req.event] = m
            self.max_inflight_event[req.event] = max(self.max_inflight_event.get(req.event, 0), m)
            self.lock.notify_all()
            return req

    def _done(self, key, req):
        with self.lock:
            self._inflight[key] -= 1
            self._inflight_ev[key[0]] -= 1
            self.timeline.append(("answer", req.seq))
            self.lock.notify_all()

    def events(self, event=None, conn_id=None):
        """Recorded requests, in arrival order, filtered."""
        with self.lock:
            return [r for r in self.requests
                    if (event is None or r.event == event)
                    and (conn_id is None or r.conn_id == conn_id)]

    def wait_for(self, pred, timeout=LIVENESS, what="the expected requests"):
        """Waits until pred(list of requests) is true; returns the list."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                reqs = list(self.requests)
                if pred(reqs):
                    return reqs
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("backend: timed out waiting for %s; got %r"
                                         % (what, reqs[-20:]))
                self.lock.wait(min(left, 0.5))

    def wait_events(self, event, n, conn_id=None, timeout=LIVENESS):
        """Waits for at least n requests of the event type; returns them."""
        self.wait_for(lambda _: len(self.events(event, conn_id)) >= n, timeout,
                      "%d %s event(s)" % (n, event))
        return self.events(event, conn_id)


def get_free_port():
    """A port on 127.0.0.1 that nothing listens on (it was free a moment
    ago; connecting to it is refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def backend_factory():
    made = []

    def make(port=0):
        b = Backend(port)
        made.append(b)
        return b

    yield make
    for b in made:
        b.close()


@pytest.fixture
def backend(backend_factory):
    return backend_factory()


@pytest.fixture
def free_port():
    return get_free_port()
