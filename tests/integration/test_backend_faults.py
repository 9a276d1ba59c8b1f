"""Failing and misbehaving backends for http integrations, and outages.

`FaultBackend` is a raw-socket HTTP backend on an ephemeral port of
127.0.0.1 whose behaviour (`mode`) can be switched at any time: "ok"
answers every request 200 and records it; the other modes are faults —
never answers, answers slowly, resets mid-response, garbage instead of
HTTP, a huge or endless body, endless headers, closes at accept. A request
that arrived in a fault mode waits (never, slow) until the mode changes or
the caller gives up, so a switch to "ok" heals the backend for later calls.

Promises checked: wsgw stays up and its memory bounded through every
fault, the client gets its documented close code (1011 "integration
failed", or the error message with --integration-error-message), every
disconnect event arrives exactly once once the backend is healthy again
(--disconnect-retry), a 3 s backend outage loses no disconnect event, and
a flood of tiny messages against a stalled backend is held to
--max-inbound-queue by TCP backpressure.
"""
import json
import os
import socket
import struct
import threading
import time

import pytest
import yaml

import conftest
import wsraw
from backend import H, LIVENESS, Backend
from wsraw import OP_TEXT

WAIT = 20.0
MIB = 1024  # in KiB, the unit of /proc/<pid>/status
# Everything one fault may send before it stops on its own (the peer
# closes long before, when wsgw behaves).
FAULT_BUDGET = 64 << 20


class FaultBackend:
    FAULTS = ("never", "slow", "reset", "garbage", "huge_body", "endless_body",
              "endless_headers", "close_at_accept")

    def __init__(self, port=0):
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", port))
        self.ls.listen(256)
        self.ls.settimeout(0.1)
        self.port = self.ls.getsockname()[1]
        self.cond = threading.Condition()
        self.mode = "ok"
        self.requests = []  # (path, headers dict lower-cased) answered in "ok" mode
        self.faulted = []  # (mode, path) of requests met by a fault
        self.accepts = 0
        self.stopped = False
        self.socks = set()
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def set_mode(self, mode):
        with self.cond:
            self.mode = mode
            self.cond.notify_all()

    def close(self):
        with self.cond:
            self.stopped = True
            self.cond.notify_all()
            socks = list(self.socks)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.thread.join(5)
        self.ls.close()

    def wait(self, pred, timeout=LIVENESS, what="the backend"):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not pred():
                left = deadline - time.monotonic()
                assert left > 0, "timed out waiting for %s; requests %r faulted %r" % (
                    what, self.requests[-10:], self.faulted[-10:])
                self.cond.wait(min(left, 0.2))

    def events(self, event):
        with self.cond:
            return [h for _, h in self.requests
                    if h.get(H.lower() + "event-type") == event]

    # -- serving ------------------------------------------------------------
    def _accept_loop(self):
        while True:
            with self.cond:
                if self.stopped:
                    return
            try:
                c, _ = self.ls.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.cond:
                self.accepts += 1
                mode = self.mode
                self.socks.add(c)
                self.cond.notify_all()
            if mode == "close_at_accept":
                with self.cond:
                    self.faulted.append((mode, None))
                    self.socks.discard(c)
                c.close()
                continue
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _read_request(self, c, buf):
        while b"\r\n\r\n" not in buf:
            if len(buf) > 65536:
                return None, buf
            d = c.recv(65536)
            if not d:
                return None, buf
            buf += d
        head, _, rest = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        path = lines[0].split(" ")[1] if len(lines[0].split(" ")) > 1 else ""
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0") or 0)
        while len(rest) < n:
            d = c.recv(65536)
            if not d:
                return None, b""
            rest += d
        return (path, headers), rest[n:]

    def _hold(self, mode):
        """Waits while the mode stays `mode` (a stalled backend)."""
        with self.cond:
            while self.mode == mode and not self.stopped:
                self.cond.wait(0.2)

    def _send_budget(self, c, first, more):
        """Sends first, then more(i) repeatedly, until the peer goes away,
        the mode is healed, or FAULT_BUDGET bytes went out."""
        sent = 0
        try:
            c.sendall(first)
            i = 0
            while sent < FAULT_BUDGET:
                with self.cond:
                    if self.stopped:
                        return
                chunk = more(i)
                c.sendall(chunk)
                sent += len(chunk)
                i += 1
        except OSError:
            pass

    def _serve(self, c):
        buf = b""
        try:
            while True:
                req, buf = self._read_request(c, buf)
                if req is None:
                    return
                with self.cond:
                    mode = self.mode
                    if mode == "ok":
                        self.requests.append(req)
                    else:
                        self.faulted.append((mode, req[0]))
                    self.cond.notify_all()
                if mode == "ok":
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                    continue
                if mode == "status500":
                    c.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n")
                    continue
                self._fault(c, mode)
                return
        except OSError:
            pass
        finally:
            with self.cond:
                self.socks.discard(c)
            c.close()

    def _fault(self, c, mode):
        if mode == "never":
            self._hold(mode)
        elif mode == "slow":
            # The status line, a byte every 0.2 s, for as long as the mode lasts.
            line = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
            try:
                for i in range(len(line) * 100):
                    c.sendall(line[i % len(line):i % len(line) + 1])
                    with self.cond:
                        if self.mode != mode or self.stopped:
                            return
                        self.cond.wait(0.2)
            except OSError:
                pass
        elif mode == "reset":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial body")
            time.sleep(0.05)
            # SO_LINGER 0: close sends RST, not FIN.
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif mode == "garbage":
            c.sendall(b"\x00\xff\x16\x03\x01 this is not HTTP at all\r\n\r\n" * 64)
        elif mode == "huge_body":
            self._send_budget(c, b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                 b"Content-Length: 1073741824\r\n\r\n",
                              lambda i: b"x" * 65536)
        elif mode == "endless_body":
            chunk = b"x" * 65536
            self._send_budget(c, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                              lambda i: b"%x\r\n%s\r\n" % (len(chunk), chunk))
        elif mode == "endless_headers":
            self._send_budget(c, b"HTTP/1.1 200 OK\r\n",
                              lambda i: b"".join(b"X-Fill-%d-%d: %s\r\n" % (i, k, b"a" * 100)
                                                 for k in range(64)))


@pytest.fixture
def faulty():
    made = []

    def make(port=0):
        b = FaultBackend(port)
        made.append(b)
        return b

    yield make
    for b in made:
        b.close()


def http(url, read=1.0):
    return {"x-yc-apigateway-integration": {"type": "http", "url": url,
                                            "timeouts": {"connect": 1, "read": read}}}


def start(wsgw_factory, tmp_path, paths, *flags):
    doc = {"openapi": "3.0.0", "info": {"title": "faults", "version": "1"}, "paths": paths}
    spec = tmp_path / ("spec%d.yaml" % len(list(tmp_path.glob("spec*"))))
    spec.write_text(yaml.safe_dump(doc, sort_keys=False))
    return wsgw_factory(["--spec", str(spec), "--close-timeout", "2s"] + list(flags))


def routes(b):
    return {
        "/ws": {"x-yc-apigateway-websocket-message": http(b.url("/m")),
                "x-yc-apigateway-websocket-disconnect": http(b.url("/d"))},
        "/echo": {"x-yc-apigateway-websocket-message": {
            "x-yc-apigateway-integration": {"type": "echo"}}},
    }


def conn_id(c):
    return c.response_headers[H.lower() + "connection-id"]


def assert_serving(s):
    """wsgw is up and answers on its WebSocket port."""
    with wsraw.connect(s.port, path="/echo") as c:
        assert c.echo(OP_TEXT, b"still here", WAIT) == (OP_TEXT, b"still here")
        c.close_handshake(timeout=WAIT)


def assert_one_disconnect(b, cid, code):
    b.wait(lambda: any(h.get(H.lower() + "connection-id") == cid
                       for h in b.events("DISCONNECT")), what="the disconnect of " + cid)
    time.sleep(0.5)  # a duplicate would follow within the retry's first steps
    got = [h for h in b.events("DISCONNECT") if h.get(H.lower() + "connection-id") == cid]
    assert len(got) == 1, got
    assert got[0][H.lower() + "disconnect-status-code"] == code


# ---- every fault, against a message call and then the disconnect call ---------------


@pytest.mark.parametrize("fault", FaultBackend.FAULTS)
def test_message_backend_fault(wsgw_factory, tmp_path, faulty, fault):
    b = faulty()
    s = start(wsgw_factory, tmp_path, routes(b))
    assert_serving(s)
    rss0 = s.proc_status_kib("VmRSS")
    b.set_mode(fault)
    with wsraw.connect(s.port, path="/ws") as c:
        cid = conn_id(c)
        c.send_text(b"hello")
        assert c.recv_close(timeout=WAIT) == (1011, b"integration failed")
        c.send_close(1011)
        c.expect_eof(WAIT)
    # The disconnect call meets the fault too, three times: wsgw must keep
    # trying (before --disconnect-retry it made three attempts in a row
    # and gave up). close_at_accept sees only the accepts.
    if fault == "close_at_accept":
        b.wait(lambda: b.accepts >= 1 + 3, what="three disconnect attempts")
    else:
        b.wait(lambda: len([p for _, p in b.faulted if p == "/d"]) >= 3,
               timeout=LIVENESS * 2, what="three disconnect attempts")
    assert_serving(s)
    rss1 = s.proc_status_kib("VmRSS")
    print("%s: VmRSS %d -> %d KiB, VmHWM %d KiB" % (fault, rss0, rss1,
                                                   s.proc_status_kib("VmHWM")))
    # Each fault offers up to 64 MiB; wsgw keeps at most --max-message of
    # a body and a few KB of headers.
    assert rss1 - rss0 < 16 * MIB, (rss0, rss1)
    assert s.proc_status_kib("VmHWM") - rss0 < 24 * MIB
    b.set_mode("ok")
    assert_one_disconnect(b, cid, "1011")
    assert b.events("MESSAGE") == []
    assert "message integration failed" in s.read_log()


@pytest.mark.parametrize("fault", ["never", "reset", "garbage", "close_at_accept"])
def test_fault_with_integration_error_message(wsgw_factory, tmp_path, faulty, fault):
    b = faulty()
    s = start(wsgw_factory, tmp_path, routes(b), "--integration-error-message")
    b.set_mode(fault)
    with wsraw.connect(s.port, path="/ws") as c:
        cid = conn_id(c)
        c.send_text(b"hello")
        op, payload = c.recv_message(WAIT)
        assert op == OP_TEXT
        assert json.loads(payload) == {"error": "message integration failed"}
        b.set_mode("ok")
        c.send_text(b"again")  # still open: the next message goes through
        b.wait(lambda: len(b.events("MESSAGE")) == 1, what="the second message")
        b.set_mode(fault)
        c.close_handshake(timeout=WAIT)
    # The disconnect meets the fault three times, then the backend heals.
    if fault == "close_at_accept":
        b.wait(lambda: b.accepts >= 3 + 3, what="three disconnect attempts")
    else:
        b.wait(lambda: len([p for _, p in b.faulted if p == "/d"]) >= 3,
               timeout=LIVENESS * 2, what="three disconnect attempts")
    b.set_mode("ok")
    assert_one_disconnect(b, cid, "1000")


# ---- outage -----------------------------------------------------------------------


def test_backend_outage_loses_no_disconnect_event(wsgw_factory, tmp_path):
    """The backend is down for ~3 s while ten clients close one after
    another, then comes back on its port: every disconnect event arrives,
    exactly once. (Before --disconnect-retry, two retries in the same
    millisecond lost them all.)"""
    b = Backend()
    port = b.port
    paths = {"/ws": {"x-yc-apigateway-websocket-message": {
                         "x-yc-apigateway-integration": {"type": "echo"}},
                     "x-yc-apigateway-websocket-disconnect": http(b.url("/d"))}}
    s = start(wsgw_factory, tmp_path, paths)
    clients = [wsraw.connect(s.port, path="/ws") for _ in range(10)]
    ids = [conn_id(c) for c in clients]
    b.kill()
    down_at = time.monotonic()
    for c in clients:
        c.close_handshake(timeout=WAIT)
        c.close()
        time.sleep(0.25)
    time.sleep(max(0.0, down_at + 3.0 - time.monotonic()))
    b2 = Backend(port)
    try:
        b2.wait_events("DISCONNECT", len(ids))
        time.sleep(1.0)  # no duplicate follows
        got = [r.conn_id for r in b2.events("DISCONNECT")]
        assert sorted(got) == sorted(ids)
        assert all(r.header(H + "Disconnect-Status-Code") == "1000"
                   for r in b2.events("DISCONNECT"))
        assert b.events("DISCONNECT") == []  # none reached the old one
    finally:
        b2.close()
    assert s.stop() == 0
    log = s.read_log()
    assert "drain timeout" not in log
    assert "disconnect events: 10 delivered" in log


# ---- tiny messages against a stalled backend ---------------------------------------


def test_tiny_message_flood_held_to_inbound_queue(wsgw_factory, tmp_path, faulty):
    """Empty messages cost wsgw far more than their payload: the inbound
    queue counts each one's real cost, so a flood of them fills it, wsgw
    stops reading and TCP pushes back on the client. Before, 5 M empty
    frames raised RSS by 154 MB and the client was never throttled."""
    b = faulty()
    paths = {"/ws": {"x-yc-apigateway-websocket-message": http(b.url("/m"), read=600)}}
    s = start(wsgw_factory, tmp_path, paths, "--max-inbound-queue", "64K")
    b.set_mode("never")
    c = wsraw.connect(s.port, path="/ws")
    rss0 = s.proc_status_kib("VmRSS")
    block = b"\x82\x80\0\0\0\0" * 10000  # 10 000 empty binary frames, masked
    sock = c.sock
    sock.setblocking(False)
    budget = 48 << 20  # 8 M frames: far beyond what any buffer holds
    total, pending, stalled = 0, b"", False
    last = time.monotonic()
    deadline = last + 60
    while total < budget and time.monotonic() < deadline:
        if not pending:
            pending = block
        try:
            k = sock.send(pending)
        except BlockingIOError:
            k = 0
        if k:
            total += k
            pending = pending[k:]
            last = time.monotonic()
        elif time.monotonic() - last > 3.0:
            stalled = True
            break
        else:
            time.sleep(0.005)
    rss1 = s.proc_status_kib("VmRSS")
    print("flood: %d bytes (%d frames) taken before the stall; VmRSS %d -> %d KiB"
          % (total, total // 6, rss0, rss1))
    try:
        assert stalled, "sent %d bytes of empty frames without the send stalling" % total
        # 64K of queue at ~48 bytes a message, plus what one 64 KiB read
        # holds (~11 000 frames) past the mark: about 1 MiB at most.
        assert rss1 - rss0 < 8 * MIB, (rss0, rss1)
    finally:
        # Heal the backend into failing fast: the connection closes 1011
        # and the few queued messages drain quickly.
        b.set_mode("status500")
        c.close()


# ---- many events against a backend that keeps failing ------------------------------


def test_retries_held_back_while_backend_keeps_failing(wsgw_factory, tmp_path, faulty):
    """300 clients close while their backend accepts and closes every call:
    after 32 failures in a row at most 50 retries a second go out (the rest
    take their backoff step without a call), instead of every held event
    retrying every few seconds; once the backend answers, all 300 events
    arrive, once each."""
    b = faulty()
    paths = {"/ws": {"x-yc-apigateway-websocket-message": {
                         "x-yc-apigateway-integration": {"type": "echo"}},
                     "x-yc-apigateway-websocket-disconnect": http(b.url("/d"))}}
    s = start(wsgw_factory, tmp_path, paths)
    clients = [wsraw.connect(s.port, path="/ws") for _ in range(300)]
    ids = [conn_id(c) for c in clients]
    b.set_mode("close_at_accept")
    t0 = time.monotonic()
    for c in clients:
        c.close()  # vanish: 1006
    b.wait(lambda: b.accepts >= 300, what="the first attempts")
    time.sleep(max(0.0, t0 + 4.0 - time.monotonic()))
    with b.cond:
        calls = b.accepts
    print("calls in the first 4 s: %d for 300 events" % calls)
    # Unheld, each event retries at +0.1, +0.3, +0.7, +1.5, +3.1 s: ~1 800
    # calls. Held: 300 first attempts, a few dozen retries before the
    # streak, then 50 a second.
    assert calls < 300 + 32 + 5 * 50 + 100, calls
    b.set_mode("ok")
    b.wait(lambda: len(b.events("DISCONNECT")) >= 300, what="300 disconnect events")
    time.sleep(0.5)
    got = [h[H.lower() + "connection-id"] for h in b.events("DISCONNECT")]
    assert sorted(got) == sorted(ids)
    assert s.stop() == 0
    assert "disconnect events: 300 delivered" in s.read_log()
