"""README promises that no other test backs, one test each:

- NOT_FOUND (gRPC) and 404 (REST) for a connection still in its handshake
- kept-alive backend connections are reused (TCP connections counted at the backend)
- integration failures are counted (the totals line wsgw logs at exit)
- abnormal closes (no close frame) and WebSocket-port bytes are counted there too
- HTTP/2 GOAWAY to management clients when the drain starts
- SIGINT behaves like SIGTERM (close 1001 to clients, exit 0)
- a second signal exits at once, without waiting for the drain
- --trust-proxy end to end (Get reports the X-Forwarded-For address only with it)
- the warning when --mgmt-listen is beyond loopback without a token
- the default integration timeouts (connect 5 s, read 30 s)

Each was seen failing on a build that breaks its promise (see the commit
message). Time bounds here are generous: they tell "fired at its timeout" from
"never fired" or "fired at another timeout", nothing finer.
"""
import http.client
import json
import re
import select
import signal
import socket
import struct
import threading
import time

import grpc
import pytest
import yaml

import grpc_stubs
import wsraw
from backend import H, backend, backend_factory  # noqa: F401 (fixtures)

WAIT = 20.0  # liveness bound for anything that must happen; never a figure
REST_PREFIX = "/apigateways/websocket/v1/connections/"


# ---- helpers ----------------------------------------------------------------------------


def spec_file(tmp_path, paths):
    doc = {"openapi": "3.0.0", "info": {"title": "promises", "version": "1"}, "paths": paths}
    p = tmp_path / ("spec%d.yaml" % len(list(tmp_path.glob("spec*.yaml"))))
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(p)


def http_integ(url):
    return {"x-yc-apigateway-integration": {"type": "http", "url": url}}


def rest_get(server, cid):
    """(status, parsed JSON body) of REST Get on the management port."""
    c = http.client.HTTPConnection("127.0.0.1", server.mgmt_port, timeout=WAIT)
    try:
        c.request("GET", REST_PREFIX + cid)
        r = c.getresponse()
        return r.status, json.loads(r.read() or b"null")
    finally:
        c.close()


def grpc_get(pb, server, cid):
    """The gRPC Get result, or the grpc.StatusCode it failed with."""
    with grpc.insecure_channel("127.0.0.1:%d" % server.mgmt_port,
                               options=[("grpc.enable_http_proxy", 0)]) as ch:
        try:
            return grpc_stubs.Client(ch, pb).get(cid, timeout=WAIT)
        except grpc.RpcError as e:
            return e.code()


def recv_close_code(c, timeout=WAIT):
    """The code of the next close frame (data frames are skipped)."""
    code, _ = c.recv_close(timeout=timeout, skip_data=True)
    return code


def totals(server):
    """The counters of wsgw's "totals:" line at exit, as {name: n}."""
    m = re.search(r"totals: (.*)", server.read_log())
    assert m, "no totals line in the log:\n" + server.read_log()[-3000:]
    return {name.strip(): int(n) for n, name in re.findall(r"(\d+) ([a-z ]+)", m.group(1))}


# ---- NOT_FOUND during the handshake -----------------------------------------------------


def test_not_found_while_in_handshake(wsgw_factory, backend, tmp_path, pb):
    """README (gRPC table): "a connection still in its handshake" → NOT_FOUND;
    REST maps it to 404. A connect integration holds the handshake open
    (the backend is stalled), and the backend learns the id from the connect
    call, so the id is real while the client has no 101 yet."""
    gate = threading.Event()
    backend.on("CONNECT", gate=gate)
    spec = spec_file(tmp_path, {"/r": {
        "x-yc-apigateway-websocket-connect": http_integ(backend.url("/connect")),
        "x-yc-apigateway-websocket-message": {"x-yc-apigateway-integration": {"type": "echo"}}}})
    srv = wsgw_factory(["--spec", spec, "--close-timeout", "2s"])
    c = wsraw.Conn(srv.port)
    try:
        key = wsraw.new_key()
        c.send(wsraw.request_bytes(path="/r", key=key))
        cid = backend.wait_events("CONNECT", 1)[0].conn_id
        assert cid and len(cid) == 33, cid

        assert grpc_get(pb, srv, cid) == grpc.StatusCode.NOT_FOUND
        status, body = rest_get(srv, cid)
        assert (status, body["code"]) == (404, 5), body
        assert not c.is_closed_by_peer(0) and not c.buf, "the handshake should still be waiting"

        gate.set()  # the backend answers 200: the same id is now open
        st, headers, _ = c.read_response_head(WAIT)
        assert st == 101 and headers[H.lower() + "connection-id"] == cid
        got = grpc_get(pb, srv, cid)
        assert not isinstance(got, grpc.StatusCode) and got.id == cid, got
        assert rest_get(srv, cid)[0] == 200
        c.close_handshake()
    finally:
        c.close()


# ---- kept-alive backend connections ------------------------------------------------------


def test_backend_connections_reused(wsgw_factory, backend, tmp_path):
    """README: "Backend calls go through libcurl over kept-alive connections".
    One client's messages go one at a time, so one backend connection carries
    every call: count the TCP connections the backend accepts."""
    accepted = []
    get_request = backend.httpd.get_request

    def counting():
        r = get_request()
        accepted.append(r[1])
        return r

    backend.httpd.get_request = counting
    backend.on("MESSAGE", body=lambda req: req.body, content_type="text/plain")
    spec = spec_file(tmp_path, {"/r": {
        "x-yc-apigateway-websocket-message": http_integ(backend.url("/message"))}})
    srv = wsgw_factory(["--spec", spec, "--close-timeout", "2s"])
    n = 40
    with wsraw.connect(srv.port, path="/r") as c:
        for i in range(n):
            got = c.echo(wsraw.OP_TEXT, b"m%d" % i, timeout=WAIT)
            assert got == (wsraw.OP_TEXT, b"m%d" % i), got
        c.close_handshake()
    assert len(backend.events("MESSAGE")) == n
    assert len(accepted) == 1, "%d backend TCP connections for %d sequential calls: %r" % (
        len(accepted), n, accepted)


# ---- integration failures counted --------------------------------------------------------


def test_integration_failures_counted(wsgw_factory, backend, tmp_path):
    """README: a failed call "is logged with the connection id, counted".
    No metrics endpoint yet, so the count is the one wsgw logs at exit."""
    backend.on("MESSAGE", status=500, body=b"boom")
    spec = spec_file(tmp_path, {"/r": {
        "x-yc-apigateway-websocket-message": http_integ(backend.url("/message"))}})
    srv = wsgw_factory(["--spec", spec, "--close-timeout", "2s", "--integration-error-message"])
    with wsraw.connect(srv.port, path="/r") as c:
        for i in range(3):
            c.send_text(b"x%d" % i)
            op, payload = c.recv_message(timeout=WAIT)
            assert json.loads(payload) == {"error": "message integration failed"}, payload
        c.close_handshake()
    assert srv.stop() == 0
    assert totals(srv)["integration failures"] == 3, srv.read_log()[-3000:]


def test_abnormal_closes_and_bytes_counted(wsgw_factory):
    """The totals line counts a client that vanished without a close frame
    (1006) as an abnormal close, one that closed properly not, and reports
    the WebSocket port's bytes in and out."""
    srv = wsgw_factory(["--log-level", "debug", "--close-timeout", "2s"])
    with wsraw.connect(srv.port) as c:
        assert c.echo(wsraw.OP_TEXT, b"hello", timeout=WAIT) == (wsraw.OP_TEXT, b"hello")
    # closed without a close frame: wait until wsgw has seen it
    deadline = time.monotonic() + WAIT
    while "closed with 1006" not in srv.read_log() and time.monotonic() < deadline:
        time.sleep(0.05)
    with wsraw.connect(srv.port) as c:
        c.close_handshake()
    assert srv.stop() == 0
    t = totals(srv)
    assert t["abnormal closes"] == 1, srv.read_log()[-3000:]
    assert t["bytes in"] > 0 and t["bytes out"] > 0, t


# ---- signals and the drain ------------------------------------------------------------------

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
H2_SETTINGS, H2_GOAWAY = 0x4, 0x7


def h2_frame(ftype, flags=0, stream=0, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


def h2_read_frame(sock, buf, deadline):
    """(type, flags, stream, payload) of the next frame; None at EOF."""
    while True:
        if len(buf) >= 9:
            n = int.from_bytes(buf[:3], "big")
            if len(buf) >= 9 + n:
                f = (buf[3], buf[4], int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF, bytes(buf[9:9 + n]))
                del buf[:9 + n]
                return f
        left = deadline - time.monotonic()
        assert left > 0, "timed out waiting for an HTTP/2 frame"
        r, _, _ = select.select([sock], [], [], left)
        if r:
            data = sock.recv(65536)
            if not data:
                return None
            buf += data


def open_silent_client(srv):
    """A WebSocket client that will never answer the close frame, so the
    drain waits for it."""
    return wsraw.connect(srv.port)


def test_h2_goaway_to_management_clients_on_drain(wsgw_factory):
    """README: on SIGTERM wsgw sends "HTTP/2 GOAWAY to management clients".
    A raw HTTP/2 client, idle on the management port, must get a GOAWAY
    (NO_ERROR) while the drain is still waiting on a silent WebSocket client,
    not only when the process is gone."""
    srv = wsgw_factory(["--close-timeout", "30s", "--drain-timeout", "6s"])
    ws = open_silent_client(srv)
    h2 = socket.create_connection(("127.0.0.1", srv.mgmt_port), timeout=WAIT)
    try:
        h2.sendall(H2_PREFACE + h2_frame(H2_SETTINGS))
        buf = bytearray()
        deadline = time.monotonic() + WAIT
        f = h2_read_frame(h2, buf, deadline)
        assert f and f[0] == H2_SETTINGS and not f[1] & 1, f  # the server's SETTINGS
        h2.sendall(h2_frame(H2_SETTINGS, flags=1))  # ACK
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        assert recv_close_code(ws) == 1001  # the drain has begun
        while True:
            f = h2_read_frame(h2, buf, deadline)
            assert f is not None, "EOF on the management connection before any GOAWAY"
            if f[0] == H2_GOAWAY:
                break
        elapsed = time.monotonic() - t0
        assert srv.proc.poll() is None and elapsed < 5, (
            "GOAWAY only after %.1f s / at exit, not when the drain began" % elapsed)
        last_stream, code = struct.unpack(">II", f[3][:8])
        assert f[2] == 0 and code == 0, "GOAWAY on stream %d with error code %d" % (f[2], code)
    finally:
        h2.close()
        ws.close()
    assert srv.stop() == 0


def test_sigint_like_sigterm(wsgw_factory):
    """README: "On SIGTERM/SIGINT wsgw stops accepting, sends close 1001 to
    every client, waits for the close handshakes ... and exits 0"."""
    srv = wsgw_factory(["--close-timeout", "2s", "--drain-timeout", "10s"])
    clients = [wsraw.connect(srv.port) for _ in range(2)]
    try:
        srv.proc.send_signal(signal.SIGINT)
        for c in clients:
            assert recv_close_code(c) == 1001
        # Stopped accepting, while still draining (both clients are open).
        assert srv.proc.poll() is None
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", srv.port), timeout=2).close()
        for c in clients:
            c.send_close(1001)
            c.expect_eof(WAIT)
        srv.proc.wait(WAIT)
        assert srv.proc.returncode == 0, srv.read_log()[-3000:]
        log = srv.read_log()
        assert "received SIGINT" in log and "drain timeout" not in log, log[-3000:]
    finally:
        for c in clients:
            c.close()


def test_second_signal_exits_at_once(wsgw_factory):
    """README: "a second signal exits at once". The drain waits up to 60 s
    for a client that never answers the close; a second SIGTERM must end the
    process long before that."""
    srv = wsgw_factory(["--close-timeout", "60s", "--drain-timeout", "60s"])
    ws = open_silent_client(srv)
    try:
        srv.proc.send_signal(signal.SIGTERM)
        assert recv_close_code(ws) == 1001  # the drain is waiting on us now
        time.sleep(0.2)
        assert srv.proc.poll() is None, "exited before the second signal"
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        try:
            srv.proc.wait(10)
        except Exception:
            raise AssertionError("still running 10 s after the second signal") from None
        assert time.monotonic() - t0 < 10
        assert srv.proc.returncode == 0, srv.read_log()[-3000:]
        assert "second signal" in srv.read_log()
    finally:
        ws.close()


# ---- --trust-proxy -------------------------------------------------------------------------


@pytest.mark.parametrize("trust", [False, True])
def test_trust_proxy_end_to_end(wsgw_factory, pb, trust):
    """README: --trust-proxy takes the client address from the first
    X-Forwarded-For item; without it the header is ignored."""
    srv = wsgw_factory(["--close-timeout", "2s"] + (["--trust-proxy"] if trust else []))
    xff = "X-Forwarded-For: 203.0.113.7, 198.51.100.2"
    with wsraw.connect(srv.port, extra_headers=[xff]) as c:
        cid = c.response_headers[H.lower() + "connection-id"]
        want = "203.0.113.7" if trust else "127.0.0.1"
        status, body = rest_get(srv, cid)
        assert status == 200 and body["identity"]["sourceIp"] == want, body
        got = grpc_get(pb, srv, cid)
        assert got.identity.source_ip == want, got
        c.close_handshake()


# ---- management port beyond loopback -------------------------------------------------------

MGMT_WARNING = re.compile(r"WARNING: the management API listens on \S+, beyond loopback, WITHOUT a token")


@pytest.mark.parametrize("flags,warned", [
    (["--mgmt-listen", "0.0.0.0:0"], True),
    (["--mgmt-listen", "0.0.0.0:0", "--auth-token", "s3cret"], False),
    (["--mgmt-listen", "127.0.0.1:0"], False),
])
def test_mgmt_beyond_loopback_warning(wsgw_factory, flags, warned):
    """README: "Binding --mgmt-listen beyond loopback without a token prints
    a loud warning". 0.0.0.0 is bound here (nothing is sent to it)."""
    srv = wsgw_factory(flags)
    log = srv.read_log()
    assert bool(MGMT_WARNING.search(log)) == warned, log
    if warned:
        assert "--auth-token" in MGMT_WARNING.split(log)[1].splitlines()[0]


# ---- integration timeout defaults ------------------------------------------------------------


class Stall:
    """A backend that accepts TCP connections, reads, and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.held = []
        self.stop = False
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                s, _ = self.sock.accept()
                self.held.append(s)
            except (socket.timeout, OSError):
                continue

    def close(self):
        self.stop = True
        for s in self.held:
            s.close()
        self.sock.close()


class Blackhole:
    """A listening socket whose accept queue is full, so the kernel drops
    further SYNs and a connect to it hangs until the client gives up."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.fillers = []
        for _ in range(4):  # with backlog 0 the queue holds one; more to be sure
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", self.port))
            self.fillers.append(s)
        time.sleep(0.2)
        probe = socket.socket()
        probe.settimeout(1.0)
        try:
            probe.connect(("127.0.0.1", self.port))
            full = False
        except socket.timeout:
            full = True
        finally:
            probe.close()
        assert full, "could not fill the accept queue of the blackhole listener"

    def close(self):
        for s in self.fillers:
            s.close()
        self.sock.close()


def time_to_failure(port, path, result):
    """Sends one message and records how long the error message took."""
    with wsraw.connect(port, path=path, timeout=90) as c:
        t0 = time.monotonic()
        c.send_text(b"hello")
        _, payload = c.recv_message(timeout=90)
        result[path] = (time.monotonic() - t0, payload)
        c.close_handshake()


def test_integration_timeout_defaults(wsgw_factory, tmp_path):
    """README: `timeouts: {connect, read}` in seconds (defaults 5 and 30).
    A spec without `timeouts`: a call to a backend whose accept queue is
    full fails at the connect timeout, a call to a backend that never
    answers at the read timeout. The two run at once; the test takes ~30 s,
    which is the default it checks."""
    stall, hole = Stall(), Blackhole()
    try:
        spec = spec_file(tmp_path, {
            "/read": {"x-yc-apigateway-websocket-message":
                      http_integ("http://127.0.0.1:%d/m" % stall.port)},
            "/connect": {"x-yc-apigateway-websocket-message":
                         http_integ("http://127.0.0.1:%d/m" % hole.port)}})
        srv = wsgw_factory(["--spec", spec, "--close-timeout", "2s", "--integration-error-message"])
        result = {}
        threads = [threading.Thread(target=time_to_failure, args=(srv.port, p, result))
                   for p in ("/read", "/connect")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert set(result) == {"/read", "/connect"}, result
        for path, (t, payload) in result.items():
            assert json.loads(payload) == {"error": "message integration failed"}, (path, payload)
        t_conn, t_read = result["/connect"][0], result["/read"][0]
        assert 4.5 <= t_conn < 15, "connect timeout fired after %.1f s, default is 5 s" % t_conn
        assert 29.5 <= t_read < 45, "read timeout fired after %.1f s, default is 30 s" % t_read
        assert len(stall.held) >= 1  # the read case did connect
    finally:
        stall.close()
        hole.close()
