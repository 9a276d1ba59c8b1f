"""The backend HTTP/1.1 client (src/upstream*.c, tls.c, dns.c) against real
servers: Python's http.server with keep-alive (it counts the TCP connections
it accepts), a raw-socket server whose per-connection script writes exactly
the bytes a case needs, and an https server whose certificate comes from a
CA generated at test time with `openssl req`.

Every case drives one WebSocket client with a message integration; with
--integration-error-message a failed call answers the client
{"error":"message integration failed"} instead of closing, so one client
sees successes and failures in order, and wsgw's log says why.

Promises checked (README, "Integrations"): kept-alive connections reused
(one for sequential calls, at most --backend-connections at once); a call
that meets a kept-alive connection the backend has just closed is retried
once on a new connection, and only once; a fresh connection closed before
any byte fails the call; `Connection: close` and HTTP/1.0 end a connection;
chunked bodies with extensions and trailers; 1xx interim responses skipped;
204/304 without body; an oversized head or body fails the call cleanly; a
backend that trickles its answer times out; idle connections close after
--backend-idle-timeout (the backend sees the FIN); `localhost` resolved
through c-ares; https verified against --backend-ca-file, refused without
it and for a host name the certificate does not name; TLS sessions resumed.
"""
import http.server
import json
import os
import socket
import ssl
import subprocess
import threading
import time

import pytest
import yaml

import wsraw
from wsraw import OP_TEXT

WAIT = 20.0
FAILED = b'{"error":"message integration failed"}'


def spec(tmp_path, url, timeouts=None):
    integ = {"type": "http", "url": url}
    if timeouts:
        integ["timeouts"] = timeouts
    doc = {"openapi": "3.0.0", "info": {"title": "upstream", "version": "1"},
           "paths": {"/r": {"x-yc-apigateway-websocket-message":
                            {"x-yc-apigateway-integration": integ}}}}
    p = tmp_path / ("spec%d.yaml" % len(list(tmp_path.glob("spec*.yaml"))))
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(p)


def gateway(wsgw_factory, tmp_path, url, *flags, timeouts=None):
    return wsgw_factory(["--spec", spec(tmp_path, url, timeouts), "--close-timeout", "2s",
                         "--integration-error-message", "--log-level", "debug"] + list(flags))


def call(c, payload, timeout=WAIT):
    """Sends one text message; returns the reply's payload (text or binary,
    as the backend's Content-Type says)."""
    c.send_frame(OP_TEXT, payload)
    op, got = c.recv_message(timeout)
    assert op in (wsraw.OP_TEXT, wsraw.OP_BINARY), (op, got)
    return got


# ---- a keep-alive http.server that counts connections -------------------------------


class EchoHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        tls = getattr(self.connection, "session_reused", None)
        self.server.seen.append((self.client_address, tls))
        self.server.paths.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class CountingServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, handler=EchoHandler, tls=None):
        super().__init__(("127.0.0.1", 0), handler)
        self.seen = []  # (client address, TLS session reused) per request
        self.paths = []  # the request target of each request
        self.accepted = 0
        if tls:
            self.socket = tls.wrap_socket(self.socket, server_side=True)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def get_request(self):
        r = super().get_request()
        self.accepted += 1
        return r

    def handle_error(self, request, client_address):
        pass  # refused TLS handshakes are part of the tests

    @property
    def port(self):
        return self.server_address[1]

    def stop(self):
        self.shutdown()
        self.server_close()


@pytest.fixture
def echo_backend():
    s = CountingServer()
    yield s
    s.stop()


def test_sequential_calls_share_one_connection(wsgw_factory, tmp_path, echo_backend):
    s = gateway(wsgw_factory, tmp_path, "http://127.0.0.1:%d/m" % echo_backend.port)
    with wsraw.connect(s.port, path="/r") as c:
        for i in range(30):
            assert call(c, b"m%d" % i) == b"m%d" % i
        c.close_handshake()
    assert echo_backend.accepted == 1, echo_backend.seen
    assert len({a for a, _ in echo_backend.seen}) == 1


def test_parallel_calls_stay_within_the_cap(wsgw_factory, tmp_path, echo_backend):
    s = gateway(wsgw_factory, tmp_path, "http://127.0.0.1:%d/m" % echo_backend.port,
                "--backend-connections", "2")
    clients = [wsraw.connect(s.port, path="/r") for _ in range(6)]
    try:
        for rnd in range(5):
            for i, c in enumerate(clients):
                c.send_frame(OP_TEXT, b"%d-%d" % (rnd, i))
            for i, c in enumerate(clients):
                assert c.recv_message(WAIT) == (OP_TEXT, b"%d-%d" % (rnd, i))
    finally:
        for c in clients:
            c.close()
    assert echo_backend.accepted == 2, echo_backend.accepted
    assert len(echo_backend.seen) == 30


@pytest.mark.parametrize("extra", [1500, 2100, 6000])
def test_long_request_head_sent_whole(wsgw_factory, tmp_path, echo_backend, extra):
    """The request head is formatted into a 2 KiB stack buffer when it fits
    and formatted again into the call's own buffer when it does not
    (upstream_start): a head below, just above and well above that size
    reaches the backend whole, target and body intact."""
    target = "/m/" + "a" * extra + "?q=" + "b" * 10
    s = gateway(wsgw_factory, tmp_path, "http://127.0.0.1:%d%s" % (echo_backend.port, target))
    with wsraw.connect(s.port, path="/r") as c:
        for i in range(3):
            assert call(c, b"long%d" % i) == b"long%d" % i
        c.close_handshake()
    assert echo_backend.paths == [target] * 3


def test_localhost_resolved(wsgw_factory, tmp_path, echo_backend):
    """A host name goes through c-ares (/etc/hosts first) and the answer is
    cached: one connection, every call answered."""
    s = gateway(wsgw_factory, tmp_path, "http://localhost:%d/m" % echo_backend.port)
    with wsraw.connect(s.port, path="/r") as c:
        for i in range(3):
            assert call(c, b"n%d" % i) == b"n%d" % i
        c.close_handshake()
    assert echo_backend.accepted == 1


# ---- a raw-socket backend with a script per connection ---------------------------------


class Peer:
    """One accepted connection: the socket, bytes read ahead, its number."""

    def __init__(self, sock, num):
        self.sock, self.num, self.buf = sock, num, b""

    def sendall(self, data):
        self.sock.sendall(data)

    def recv(self, n):
        return self.sock.recv(n)


class RawBackend:
    """Accepts connections; the n-th runs scripts[n] (the last one for any
    later) as script(backend, sock). Records every request it reads."""

    def __init__(self, *scripts):
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(16)
        self.port = self.ls.getsockname()[1]
        self.scripts = scripts
        self.accepted = 0
        self.requests = []  # (connection number, request line, body)
        self.events = []  # free-form notes from scripts
        self.stopped = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def url(self, path="/m"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def _loop(self):
        self.ls.settimeout(0.1)
        while not self.stopped:
            try:
                sock, _ = self.ls.accept()
            except OSError:
                continue
            n = self.accepted
            self.accepted += 1
            script = self.scripts[min(n, len(self.scripts) - 1)]
            threading.Thread(target=self._run, args=(script, sock, n), daemon=True).start()

    def _run(self, script, sock, n):
        sock.settimeout(WAIT)
        try:
            script(self, Peer(sock, n))
        except OSError:
            pass
        finally:
            sock.close()

    def read_request(self, sock):
        """One request (head and Content-Length body), or None at EOF."""
        while b"\r\n\r\n" not in sock.buf:
            d = sock.recv(65536)
            if not d:
                return None
            sock.buf += d
        head, sock.buf = sock.buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        n = 0
        for ln in lines[1:]:
            k, _, v = ln.partition(b":")
            if k.strip().lower() == b"content-length":
                n = int(v)
        while len(sock.buf) < n:
            d = sock.recv(65536)
            if not d:
                return None
            sock.buf += d
        body, sock.buf = sock.buf[:n], sock.buf[n:]
        self.requests.append((sock.num, lines[0], body))
        return body

    def stop(self):
        self.stopped = True
        self.thread.join(5)
        self.ls.close()


def ok(body, extra=b""):
    return (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n%s"
            % (len(body), extra, body))


def serve_all(b, sock):
    """Answers every request with its body."""
    while True:
        body = b.read_request(sock)
        if body is None:
            return
        sock.sendall(ok(body))


def answer_once_then_close_on_next(b, sock):
    """The race of RFC 9112 §9.3.1: the backend closes a kept-alive
    connection just as the next request arrives."""
    sock.sendall(ok(b.read_request(sock)))
    b.read_request(sock)
    b.events.append("closed on a request")


def close_on_request(b, sock):
    b.read_request(sock)
    b.events.append("closed on a request")


@pytest.fixture
def raw():
    made = []

    def make(*scripts):
        made.append(RawBackend(*scripts))
        return made[-1]

    yield make
    for b in made:
        b.stop()


def test_reused_connection_closed_by_backend_is_retried_once(wsgw_factory, tmp_path, raw):
    b = raw(answer_once_then_close_on_next, serve_all)
    s = gateway(wsgw_factory, tmp_path, b.url())
    with wsraw.connect(s.port, path="/r") as c:
        assert call(c, b"one") == b"one"
        assert call(c, b"two") == b"two"
        c.close_handshake()
    assert [(n, body) for n, _, body in b.requests] == [(0, b"one"), (0, b"two"), (1, b"two")]
    assert b.accepted == 2
    assert "trying a new one" in s.read_log()


def test_retry_happens_only_once(wsgw_factory, tmp_path, raw):
    """The retry's fresh connection closes too: the call fails, no third try."""
    b = raw(answer_once_then_close_on_next, close_on_request, serve_all)
    s = gateway(wsgw_factory, tmp_path, b.url())
    with wsraw.connect(s.port, path="/r") as c:
        assert call(c, b"one") == b"one"
        assert call(c, b"two") == FAILED
        assert b.accepted == 2
        assert call(c, b"three") == b"three"  # the gateway goes on
        c.close_handshake()
    assert [(n, body) for n, _, body in b.requests] == [
        (0, b"one"), (0, b"two"), (1, b"two"), (2, b"three")]
    assert "closed before any response byte" in s.read_log()


def test_fresh_connection_closed_before_any_byte_fails(wsgw_factory, tmp_path, raw):
    b = raw(close_on_request, serve_all)
    s = gateway(wsgw_factory, tmp_path, b.url())
    with wsraw.connect(s.port, path="/r") as c:
        assert call(c, b"x") == FAILED
        time.sleep(0.3)
        assert b.accepted == 1  # not retried: the connection was new
        assert call(c, b"y") == b"y"
        c.close_handshake()


def test_backend_closing_an_idle_connection_is_noticed(wsgw_factory, tmp_path, raw):
    """The backend closes after its answer (no Connection: close): wsgw sees
    the FIN while the connection is idle and uses a new one next, without a
    failed attempt on the old one."""
    def answer_and_close(b, sock):
        sock.sendall(ok(b.read_request(sock)))

    b = raw(answer_and_close)
    s = gateway(wsgw_factory, tmp_path, b.url())
    with wsraw.connect(s.port, path="/r") as c:
        assert call(c, b"a") == b"a"
        time.sleep(0.5)
        assert call(c, b"b") == b"b"
        c.close_handshake()
    assert [(n, body) for n, _, body in b.requests] == [(0, b"a"), (1, b"b")]
    assert "trying a new one" not in s.read_log()


def answer_then_wait_for_fin(head_and_body):
    def script(b, sock):
        b.read_request(sock)
        sock.sendall(head_and_body)
        t = time.monotonic()
        while sock.recv(65536):
            pass
        b.events.append(("fin", sock.num, time.monotonic() - t))
    return script


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
], ids=["connection-close", "http10", "http10-keep-alive"])
def test_response_ends_the_connection(wsgw_factory, tmp_path, raw, answer):
    b = raw(answer_then_wait_for_fin(answer))
    s = gateway(wsgw_factory, tmp_path, b.url())
    with wsraw.connect(s.port, path="/r") as c:
        assert call(c, b"1") == b"ok"
        assert call(c, b"2") == b"ok"
        c.close_handshake()
    deadline = time.monotonic() + WAIT
    while len(b.events) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert b.accepted == 2
    # wsgw closed each connection itself, at once, while the backend held it
    assert sorted(n for _, n, _ in b.events) == [0, 1]
    assert all(dt < 2.0 for _, _, dt in b.events), b.events


def test_close_delimited_body(wsgw_factory, tmp_path, raw):
    def script(b, sock):
        b.read_request(sock)
        sock.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end")
    b = raw(script)
    s = gateway(wsgw_factory, tmp_path, b.url())
    with wsraw.connect(s.port, path="/r") as c:
        assert call(c, b"x") == b"until the end"
        assert call(c, b"y") == b"until the end"
        c.close_handshake()
    assert b.accepted == 2


def test_chunked_with_extensions_and_trailers_and_interim(wsgw_factory, tmp_path, raw):
    """1xx heads are skipped; chunk extensions and trailers are read past;
    the connection is reused afterwards (one accept)."""
    answers = [
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=value\r\nhello\r\n6 ; x=\"q\"\r\n world\r\n0\r\nX-Trailer: t\r\nX-More: 1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n"
        b"3\r\nabc\r\n0\r\n\r\n",
    ]

    def script(b, sock):
        for a in answers:
            b.read_request(sock)
            for i in range(0, len(a), 7):  # in pieces, so the parser resumes
                sock.sendall(a[i:i + 7])
                time.sleep(0.002)
        serve_all(b, sock)

    b = raw(script)
    s = gateway(wsgw_factory, tmp_path, b.url())
    with wsraw.connect(s.port, path="/r") as c:
        assert call(c, b"1") == b"ok"
        assert call(c, b"2") == b"hello world"
        assert call(c, b"3") == b"abc"
        assert call(c, b"4") == b"4"
        c.close_handshake()
    assert b.accepted == 1


def test_204_and_304_have_no_body(wsgw_factory, tmp_path, raw):
    """Bytes after a 204 or 304 head (a Content-Length notwithstanding) are
    not its body: the next answer on the connection is read whole."""
    def script(b, sock):
        b.read_request(sock)
        sock.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n")
        b.read_request(sock)
        sock.sendall(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n")
        serve_all(b, sock)

    b = raw(script)
    s = gateway(wsgw_factory, tmp_path, b.url())
    with wsraw.connect(s.port, path="/r") as c:
        c.send_frame(OP_TEXT, b"1")
        c.send_frame(OP_TEXT, b"2")
        assert call(c, b"after") == b"after"  # no reply for 204 and 304
        c.close_handshake()
    assert b.accepted == 1
    assert [body for _, _, body in b.requests] == [b"1", b"2", b"after"]


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\nX-Big: " + b"h" * 20000 + b"\r\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"b" * 5000,
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"500\r\n" + b"c" * 1280 + b"\r\n"
    + b"500\r\n" + b"c" * 1280 + b"\r\n0\r\n\r\n",
    b"HTTP/1.0 200 OK\r\n\r\n" + b"d" * 5000,
    b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"garbage\r\n\r\n",
], ids=["head", "length", "chunked", "close-delimited", "te-and-cl", "garbage"])
def test_oversized_or_bad_response_fails_cleanly(wsgw_factory, tmp_path, raw, answer):
    """--max-message 2K caps a message call's response body; the head has
    its own cap (16 KiB). The call fails, the connection closes, the next
    call works."""
    def script(b, sock):
        b.read_request(sock)
        try:
            sock.sendall(answer)
        except OSError:
            pass
        time.sleep(0.5)

    b = raw(script, serve_all)
    s = gateway(wsgw_factory, tmp_path, b.url(), "--max-message", "2K")
    with wsraw.connect(s.port, path="/r") as c:
        assert call(c, b"big") == FAILED
        assert call(c, b"small") == b"small"
        c.close_handshake()
    assert b.accepted == 2
    log = s.read_log()
    assert "response over a limit" in log or "bad response" in log, log[-2000:]


def test_slow_loris_backend_times_out(wsgw_factory, tmp_path, raw):
    """A backend that trickles its head a byte at a time never finishes
    within the read timeout (1 s): the call fails in time."""
    def script(b, sock):
        b.read_request(sock)
        for ch in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"s" * 200:
            try:
                sock.sendall(bytes([ch]))
            except OSError:
                return
            time.sleep(0.05)

    b = raw(script, serve_all)
    s = gateway(wsgw_factory, tmp_path, b.url(), timeouts={"read": 1})
    with wsraw.connect(s.port, path="/r") as c:
        t = time.monotonic()
        assert call(c, b"slow") == FAILED
        assert 0.8 < time.monotonic() - t < 8.0
        assert call(c, b"fast") == b"fast"
        c.close_handshake()
    assert "no complete response within 1000 ms" in s.read_log()


def test_idle_connection_closed_after_idle_timeout(wsgw_factory, tmp_path, raw):
    b = raw(answer_then_wait_for_fin(ok(b"k")))
    s = gateway(wsgw_factory, tmp_path, b.url(), "--backend-idle-timeout", "700ms")
    with wsraw.connect(s.port, path="/r") as c:
        assert call(c, b"x") == b"k"
        deadline = time.monotonic() + WAIT
        while not b.events and time.monotonic() < deadline:
            time.sleep(0.05)
        c.close_handshake()
    assert b.events, "the backend never saw wsgw close the idle connection"
    _, _, dt = b.events[0]
    assert 0.5 < dt < 5.0, dt


# ---- https --------------------------------------------------------------------------------


def make_ca(d):
    """A CA and a certificate for DNS:localhost signed by it (EC P-256)."""
    def run(*args):
        subprocess.run(["openssl"] + list(args), check=True, capture_output=True, cwd=d,
                       timeout=60)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=wsgw test CA", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", *ec, "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=localhost")
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "srv.pem", "-days", "2", "-extfile", "ext.cnf")
    return os.path.join(d, "ca.pem"), os.path.join(d, "srv.pem"), os.path.join(d, "srv.key")


class CloseHandler(EchoHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: each call handshakes


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_ca(str(tmp_path_factory.mktemp("pki")))


@pytest.fixture
def https_backend(pki):
    _, cert, key = pki
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    sni = []
    ctx.sni_callback = lambda sock, name, _ctx: sni.append(name)
    s = CountingServer(CloseHandler, tls=ctx)
    s.sni = sni  # the server names clients sent (None: no SNI)
    yield s
    s.stop()


def test_https_verified_with_ca_file_and_session_resumed(wsgw_factory, tmp_path, pki,
                                                         https_backend):
    s = gateway(wsgw_factory, tmp_path, "https://localhost:%d/m" % https_backend.port,
                "--backend-ca-file", pki[0])
    with wsraw.connect(s.port, path="/r") as c:
        for i in range(3):
            assert call(c, b"tls%d" % i) == b"tls%d" % i
        c.close_handshake()
    assert https_backend.accepted == 3  # HTTP/1.0: a handshake per call
    assert https_backend.sni == ["localhost"] * 3, https_backend.sni
    reused = [r for _, r in https_backend.seen]
    assert reused[0] is False and reused[1:] == [True, True], reused


@pytest.mark.parametrize("case", ["no-ca-file", "wrong-name"])
def test_https_refused_when_not_verified(wsgw_factory, tmp_path, pki, https_backend, case):
    """Without the test CA the chain does not verify; with it, 127.0.0.1 is
    not a name the certificate (DNS:localhost) carries."""
    if case == "no-ca-file":
        s = gateway(wsgw_factory, tmp_path, "https://localhost:%d/m" % https_backend.port)
        why = "TLS with localhost"
    else:
        s = gateway(wsgw_factory, tmp_path, "https://127.0.0.1:%d/m" % https_backend.port,
                    "--backend-ca-file", pki[0])
        why = "TLS with 127.0.0.1"
    with wsraw.connect(s.port, path="/r") as c:
        assert call(c, b"x") == FAILED
        c.close_handshake()
    assert https_backend.seen == []
    # SNI for a name; none for an IP literal (RFC 6066 §3)
    assert https_backend.sni == (["localhost"] if case == "no-ca-file" else [None])
    log = s.read_log()
    assert why in log, log[-2000:]
    assert ("certificate" in log or "mismatch" in log), log[-2000:]


def test_bad_ca_file_stops_start_up(tmp_path):
    from conftest import WSGW_BIN
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    p = subprocess.run([WSGW_BIN, "--listen", "127.0.0.1:0", "--mgmt-listen", "127.0.0.1:0",
                        "--backend-ca-file", str(bad)], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode != 0
    assert "CA file" in p.stdout + p.stderr, p.stdout + p.stderr
