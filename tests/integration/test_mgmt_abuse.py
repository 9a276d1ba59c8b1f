"""The management port under hostile clients (issue 8, defects 2, 6, 7, 8, 9
and its HTTP/2 abuse list): malformed tokens, unfinished bodies with and
without a token, stalled streams and connections in every state, the
connection cap, EMFILE on the listener, and HTTP/2 floods (rapid reset,
CONTINUATION, SETTINGS, PING, an HPACK bomb, 10 000 streams).

Every attack ends with the same checks: wsgw still answers a gRPC Get, its
RSS stayed bounded, and a WebSocket echo client kept a generous latency
bound meanwhile (the figure itself belongs in bench/). Raw frames come from
h2raw.py; the gRPC calls from grpcio.
"""
import os
import socket
import struct
import threading
import time

import grpc
import pytest

import grpc_stubs
import h2raw
import wsraw
from conftest import ASAN, Server

TOKEN = "s3cret"
WAIT = 10.0
ID_HEADER = "x-yc-apigateway-websocket-connection-id"
REST = "/apigateways/websocket/v1/connections/"
# A small ASan quarantine, so freed buffers do not read as held memory.
ASAN_ENV = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=66:quarantine_size_mb=4"}
ECHO_P99_MS = 1000 if ASAN else 250


def get_works(srv, pb, token=None):
    """A gRPC Get of a fresh WebSocket connection succeeds."""
    ws = wsraw.connect(srv.port)
    cid = ws.response_headers[ID_HEADER]
    ch = grpc.insecure_channel("127.0.0.1:%d" % srv.mgmt_port, options=[("grpc.enable_http_proxy", 0)])
    try:
        md = [("authorization", "Bearer " + token)] if token else None
        assert grpc_stubs.Client(ch, pb, md).get(cid, timeout=WAIT).id == cid
    finally:
        ch.close()
        ws.close()


def grpc_frame(msg, flag=0, announced=None):
    return bytes([flag]) + struct.pack("!I", len(msg) if announced is None else announced) + msg


def rss_kib(srv):
    return srv.proc_status_kib("VmRSS")


class EchoMonitor(threading.Thread):
    """Echoes a small message every 10 ms on the WebSocket port and keeps
    the round-trip times."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.ws = wsraw.connect(port)
        self.stop_ev = threading.Event()
        self.rtts = []
        self.error = None

    def run(self):
        try:
            while not self.stop_ev.is_set():
                t = time.monotonic()
                assert self.ws.echo(wsraw.OP_BINARY, b"ping", timeout=WAIT) == (wsraw.OP_BINARY, b"ping")
                self.rtts.append(time.monotonic() - t)
                time.sleep(0.01)
        except Exception as e:  # reported by finish()
            self.error = e

    def finish(self):
        self.stop_ev.set()
        self.join(WAIT + 5)
        self.ws.close()
        assert self.error is None, self.error
        assert len(self.rtts) >= 20, self.rtts
        rtts = sorted(self.rtts)
        return rtts[int(len(rtts) * 0.99)] * 1000, rtts[-1] * 1000


# -- D2: a malformed authorization value is a missing token, not a reset --------

BAD_VALUES = ["Bearer ", "Bearer", " ", "Bearer s3cret ", "Bearer s3cret\t", "\tBearer s3cret",
              "Bearer s3\x01cret", "Bearer s3cret\x7f"]


def test_malformed_authorization_gets_unauthenticated(wsgw_factory, pb):
    srv = wsgw_factory(["--auth-token", TOKEN, "--close-timeout", "2s"])
    c = h2raw.H2(srv.mgmt_port)
    sid = 1
    for value in BAD_VALUES:
        c.headers(sid, h2raw.grpc_headers(grpc_stubs.GET, [("authorization", value)]), end=False)
        c.data(sid, grpc_frame(b""))
        h = c.wait_headers(sid, timeout=WAIT)
        assert h["grpc-status"] == "16", (value, h)
        assert "bearer token" in h["grpc-message"], (value, h)
        assert c.rst_of.get(sid, 0) == 0, (value, c.rst_of)  # NO_ERROR at most
        c.headers(sid + 2, h2raw.rest_headers("GET", REST + "abc", [("authorization", value)]))
        h = c.wait_headers(sid + 2, ":status", timeout=WAIT)
        assert h[":status"] == "401", (value, h)
        assert h.get("www-authenticate") == "Bearer", h
        assert (sid + 2) not in c.rst_of, (value, c.rst_of)
        sid += 4
    c.close()
    get_works(srv, pb, TOKEN)


# -- D6: bodies are never collected before the token is checked ----------------

def test_unauthenticated_bodies_refused_on_headers(wsgw_factory, pb):
    """With a token configured and none sent, each stream is answered on
    its HEADERS (401 / UNAUTHENTICATED), whatever body follows, and
    nothing of the bodies is kept."""
    srv = wsgw_factory(["--auth-token", TOKEN, "--close-timeout", "2s"], env=ASAN_ENV)
    c = h2raw.H2(srv.mgmt_port)
    rss0 = rss_kib(srv)
    body = b"{" + b" " * (120 << 10)
    sids = []
    for i in range(100):
        sid = 1 + 2 * i
        if i % 2:
            c.headers(sid, h2raw.rest_headers("POST", REST + "abc:send",
                                              [("content-type", "application/json")]), end=False)
            c.data_flow(sid, body)
        else:
            c.headers(sid, h2raw.grpc_headers(grpc_stubs.SEND), end=False)
            c.data_flow(sid, grpc_frame(body, announced=4 << 20))
        sids.append(sid)
    for sid in sids:
        h = c.wait_headers(sid, ":status", timeout=WAIT)
        if (sid // 2) % 2:
            assert h[":status"] == "401", h
        else:
            assert c.wait_headers(sid, timeout=WAIT)["grpc-status"] == "16"
    c.ping()
    grown = rss_kib(srv) - rss0
    assert grown < 6 * 1024, "RSS grew %d KiB for 12 MiB of refused bodies" % grown
    c.close()
    get_works(srv, pb, TOKEN)


def test_unauthenticated_http1_body_refused_on_head(wsgw_factory, pb):
    """The same over HTTP/1.1: 401 on the head, the body never read, the
    connection closed."""
    srv = wsgw_factory(["--auth-token", TOKEN, "--close-timeout", "1s"])
    for auth in (b"", b"Authorization: Bearer \r\n", b"Authorization: Bearer wrong\r\n"):
        s = socket.create_connection(("127.0.0.1", srv.mgmt_port))
        s.settimeout(WAIT)
        s.sendall(b"POST " + REST.encode() + b"abc:send HTTP/1.1\r\nHost: x\r\n" + auth +
                  b"Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{")
        got = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            got += d
        assert got.startswith(b"HTTP/1.1 401 "), got
        assert b"WWW-Authenticate: Bearer" in got and b"Connection: close" in got, got
        s.close()
    get_works(srv, pb, TOKEN)


def unfinished_grpc(c, sids, size, announced=4 << 20):
    for sid in sids:
        c.headers(sid, h2raw.grpc_headers(grpc_stubs.SEND), end=False)
        c.data_flow(sid, grpc_frame(b"z" * size, announced=announced))


def test_unfinished_messages_bounded_per_connection(wsgw_factory, pb):
    """No token: 40 unfinished messages of 1 MB (each announcing 4 MiB) on
    one connection. Past --mgmt-max-buffer (16M by default) streams get
    RESOURCE_EXHAUSTED and memory stays near the cap."""
    srv = wsgw_factory(["--close-timeout", "2s"], env=ASAN_ENV)
    c = h2raw.H2(srv.mgmt_port)
    rss0 = rss_kib(srv)
    sids = [1 + 2 * i for i in range(40)]
    unfinished_grpc(c, sids, 1000000)
    c.ping()
    grown = rss_kib(srv) - rss0
    assert grown < 28 * 1024, "RSS grew %d KiB for 40 MB of unfinished messages" % grown
    refused = [s for s in sids if any(h.get("grpc-status") == "8" for h in c.headers_of.get(s, []))]
    assert len(refused) >= 20, c.headers_of
    h = c.wait_headers(refused[0])
    assert "--mgmt-max-buffer" in h["grpc-message"], h
    c.close()
    get_works(srv, pb)


def test_buffer_caps_per_connection_and_total(wsgw_factory, pb):
    srv = wsgw_factory(["--mgmt-max-buffer", "6M", "--mgmt-max-buffer-total", "10M",
                        "--close-timeout", "2s"], env=ASAN_ENV)
    a, b = h2raw.H2(srv.mgmt_port), h2raw.H2(srv.mgmt_port)

    def statuses(c, sids):
        c.ping()
        return [c.headers_of.get(s, [{}])[-1].get("grpc-status") for s in sids]

    sids = [1 + 2 * i for i in range(8)]
    unfinished_grpc(a, sids, 1000000)
    got = statuses(a, sids)
    assert got[:6] == [None] * 6 and got[6:] == ["8", "8"], got  # 6 MB per connection
    unfinished_grpc(b, sids[:6], 1000000)
    got = statuses(b, sids[:6])
    assert got[:4] == [None] * 4 and got[4:] == ["8", "8"], got  # 10 MB in all
    # REST over HTTP/2 past the budget: 503.
    b.headers(21, h2raw.rest_headers("POST", REST + "abc:send"), end=False)
    b.data_flow(21, b"{" + b" " * 600000)  # 0.49 MB were left
    assert b.wait_headers(21, ":status", timeout=WAIT)[":status"] == "503"
    # Closing a connection gives its bytes back.
    a.close()
    time.sleep(0.3)
    unfinished_grpc(b, [23], 1000000)
    assert statuses(b, [23]) == [None]
    b.close()
    get_works(srv, pb)


def test_large_rest_body_over_h2_still_arrives(wsgw_factory):
    """The REST-over-h2 body grows in steps as it arrives: a Send of the
    largest message (175 KB of JSON over many DATA frames) still works."""
    import base64
    import json
    import subprocess
    srv = wsgw_factory(["--close-timeout", "2s"])
    ws = wsraw.connect(srv.port)
    cid = ws.response_headers[ID_HEADER]
    data = os.urandom(131072)
    body = json.dumps({"data": base64.b64encode(data).decode(), "type": "BINARY"}).encode()
    p = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_code}",
                        "-H", "Content-Type: application/json", "--data-binary", "@-",
                        "http://127.0.0.1:%d%s%s:send" % (srv.mgmt_port, REST, cid)],
                       input=body, capture_output=True, timeout=WAIT)
    assert p.stdout == b"200", p
    assert ws.recv_message(timeout=WAIT) == (wsraw.OP_BINARY, data)
    ws.close()


# -- D6 / D8: nothing waits forever --------------------------------------------

def test_stalled_streams_time_out(wsgw_factory, pb):
    srv = wsgw_factory(["--request-timeout", "1s", "--close-timeout", "2s"])
    c = h2raw.H2(srv.mgmt_port)
    t0 = time.monotonic()
    c.headers(1, h2raw.grpc_headers(grpc_stubs.GET), end=False)
    c.data(1, b"\0\0", end=False)
    c.headers(3, h2raw.rest_headers("POST", REST + "abc:send"), end=False)
    c.data(3, b'{"da', end=False)
    h = c.wait_headers(1, timeout=WAIT)
    assert h["grpc-status"] == "4" and "--request-timeout" in h["grpc-message"], h
    assert c.wait_headers(3, ":status", timeout=WAIT)[":status"] == "408"
    assert time.monotonic() - t0 >= 1.0
    c.close()
    get_works(srv, pb)


def test_connections_time_out_in_every_state(wsgw_factory, pb):
    """--request-timeout 1s: silent, half a preface, a preface sent one
    byte at a time (slowloris), HTTP/2 without streams, HTTP/2 with a
    stalled stream, HTTP/1.1 idle after a request: every one is closed."""
    srv = wsgw_factory(["--request-timeout", "1s", "--close-timeout", "1s"])
    port = srv.mgmt_port
    silent = socket.create_connection(("127.0.0.1", port))
    half = socket.create_connection(("127.0.0.1", port))
    half.sendall(h2raw.PREFACE[:5])
    slow = socket.create_connection(("127.0.0.1", port))
    idle_h2 = h2raw.H2(port)
    stalled = h2raw.H2(port)
    stalled.headers(1, h2raw.grpc_headers(grpc_stubs.GET), end=False)
    h1 = socket.create_connection(("127.0.0.1", port))
    h1.sendall(b"GET /apigateways/websocket/v1/connections/x HTTP/1.1\r\nHost: x\r\n\r\n")
    plain = [silent, half, slow, h1]
    for s in plain:
        s.setblocking(False)
    closed_at = {}
    t0 = time.monotonic()
    sent = 0
    while time.monotonic() - t0 < 12 and len(closed_at) < len(plain):
        if sent < len(h2raw.PREFACE) - 1 and "slow" not in closed_at:
            try:
                slow.send(h2raw.PREFACE[sent:sent + 1])  # one byte per 0.25 s, never done
                sent += 1
            except OSError:
                pass
        for name, s in (("silent", silent), ("half", half), ("slow", slow), ("h1", h1)):
            if name in closed_at:
                continue
            try:
                while True:
                    d = s.recv(65536)
                    if not d:
                        closed_at[name] = time.monotonic() - t0
                        break
            except BlockingIOError:
                pass
            except OSError:
                closed_at[name] = time.monotonic() - t0
        time.sleep(0.25)
    assert set(closed_at) == {"silent", "half", "slow", "h1"}, closed_at
    assert closed_at["slow"] < 6, closed_at  # long before its preface could end
    assert idle_h2.wait_closed(WAIT) and idle_h2.goaway == (0, 0), idle_h2.goaway
    assert stalled.wait_closed(WAIT), "h2 connection with a stalled stream still open"
    assert stalled.wait_headers(1)["grpc-status"] == "4"
    for s in plain:
        s.close()
    get_works(srv, pb)


def test_connection_cap(wsgw_factory, pb):
    srv = wsgw_factory(["--mgmt-max-connections", "16", "--close-timeout", "2s"])
    held = []
    for _ in range(16):
        s = socket.create_connection(("127.0.0.1", srv.mgmt_port))
        s.sendall(b"GET /apigateways/websocket/v1/connections/x HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(WAIT)
        assert s.recv(4096).startswith(b"HTTP/1.1 404"), "not accepted"
        held.append(s)
    over = socket.create_connection(("127.0.0.1", srv.mgmt_port))
    over.settimeout(WAIT)
    t0 = time.monotonic()
    try:
        assert over.recv(1) == b""
    except ConnectionResetError:
        pass
    assert time.monotonic() - t0 < 2, "the connection over the cap was not closed at once"
    over.close()
    # The WebSocket port is not affected.
    ws = wsraw.connect(srv.port)
    assert ws.echo(wsraw.OP_TEXT, b"still here") == (wsraw.OP_TEXT, b"still here")
    ws.close()
    held.pop().close()
    time.sleep(0.3)
    get_works(srv, pb)
    for s in held:
        s.close()


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_emfile_on_mgmt_listener_does_not_spin(tmp_path, pb):
    """64 descriptors, 100 clients: the listener hits EMFILE with clients
    in its backlog. wsgw must pause it (not spin), warn rarely, and accept
    again once descriptors are free."""
    srv = Server(["--close-timeout", "1s"])  # default cap (1024) is above the fds
    srv.args = ["prlimit", "--nofile=64:64", "--"] + srv.args
    srv.start(tmp_path)
    try:
        conns = [socket.create_connection(("127.0.0.1", srv.mgmt_port)) for _ in range(100)]
        time.sleep(0.5)
        cpu0 = cpu_seconds(srv.proc.pid)
        time.sleep(2.0)
        used = cpu_seconds(srv.proc.pid) - cpu0
        assert used < 0.5, "wsgw used %.2f s of CPU in 2 s at EMFILE" % used
        warnings = srv.read_log().count("mgmt accept:")
        assert 1 <= warnings <= 2, srv.read_log()[-2000:]
        for s in conns:
            s.close()
        time.sleep(0.5)
        get_works(srv, pb)
    finally:
        code = srv.stop()
    srv.assert_clean()
    assert code == 0, srv.read_log()[-4000:]


# -- D7 and the HTTP/2 floods ---------------------------------------------------

def hpack_int(n, prefix_bits, first=0):
    limit = (1 << prefix_bits) - 1
    if n < limit:
        return bytes([first | n])
    out = [first | limit]
    n -= limit
    while n >= 128:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def hpack_literal(name, value, indexed=False):
    """A literal field with a new name, no Huffman (RFC 7541 §6.2)."""
    return (b"\x40" if indexed else b"\x00") + hpack_int(len(name), 7) + name + \
        hpack_int(len(value), 7) + value


def bomb_block(first):
    """Request pseudo-fields, then (on a connection's first block) one 4 KB
    table entry, then ~12 000 one-byte references to it (index 62)."""
    block = b"\x83\x86" + hpack_literal(b":path", grpc_stubs.GET.encode()) + \
        hpack_literal(b":authority", b"x")
    if first:
        block += hpack_literal(b"x-bomb", b"b" * 4000, indexed=True)
    return block + b"\xbe" * (16000 - len(block))


def attack_hpack_bomb(port, seconds=2.0):
    """Returns the GOAWAY codes seen; sends bomb blocks for `seconds`."""
    codes = []
    t_end = time.monotonic() + seconds
    while time.monotonic() < t_end:
        c = h2raw.H2(port)
        try:
            for i in range(50):
                c.send(h2raw.frame(h2raw.HEADERS, h2raw.END_HEADERS | h2raw.END_STREAM, 1 + 2 * i,
                                   bomb_block(i == 0)))
        except OSError:
            pass
        c.wait_closed(1.0)
        if c.goaway:
            codes.append(c.goaway[1])
        c.close()
    return codes


def attack_rapid_reset(port):
    c = h2raw.H2(port)
    block = c.encode(h2raw.grpc_headers(grpc_stubs.GET))
    try:
        for burst in range(10):
            out = b""
            for i in range(500):
                sid = 1 + 2 * (burst * 500 + i)
                out += h2raw.frame(h2raw.HEADERS, h2raw.END_HEADERS, sid, block if sid == 1 else
                                   c.encode(h2raw.grpc_headers(grpc_stubs.GET)))
                out += h2raw.frame(h2raw.RST_STREAM, 0, sid, struct.pack("!I", 8))
            c.send(out)
    except OSError:
        pass
    closed = c.wait_closed(WAIT)
    c.close()
    return closed


def attack_continuation(port):
    c = h2raw.H2(port)
    field = hpack_literal(b"x-a", b"b" * 100)
    try:
        c.send(h2raw.frame(h2raw.HEADERS, 0, 1, b"\x83\x86" + hpack_literal(b":path", b"/x")))
        for _ in range(2000):
            c.send(h2raw.frame(h2raw.CONTINUATION, 0, 1, field))
    except OSError:
        pass
    closed = c.wait_closed(WAIT)
    c.close()
    return closed


def attack_flood(port, ftype, payload):
    """SETTINGS or PING frames, never reading the ACKs."""
    c = h2raw.H2(port)
    one = h2raw.frame(ftype, 0, 0, payload)
    try:
        for _ in range(40):
            c.send(one * 1000)
    except OSError:
        pass
    closed = c.wait_closed(WAIT)
    c.close()
    return closed


def attack_many_streams(port, n=10000):
    """10 000 streams opened on one connection and never finished."""
    c = h2raw.H2(port)
    try:
        out = b""
        for i in range(n):
            out += h2raw.frame(h2raw.HEADERS, h2raw.END_HEADERS, 1 + 2 * i,
                               c.encode(h2raw.grpc_headers(grpc_stubs.GET)))
            if len(out) > 65536:
                c.send(out)
                out = b""
        c.send(out)
        c.ping(WAIT)
    except (OSError, h2raw.Closed):
        pass
    return c


def test_http2_abuse_keeps_serving(wsgw_factory, pb):
    srv = wsgw_factory(["--close-timeout", "2s"], env=ASAN_ENV)
    port = srv.mgmt_port
    mon = EchoMonitor(srv.port)
    mon.start()
    rss0 = rss_kib(srv)
    peak = rss0

    def after(what):
        nonlocal peak
        get_works(srv, pb)
        peak = max(peak, rss_kib(srv))
        assert srv.proc.poll() is None, what

    codes = attack_hpack_bomb(port)
    # Each bomb connection ends at once with ENHANCE_YOUR_CALM.
    assert codes and all(code == 11 for code in codes), codes
    after("hpack bomb")
    assert attack_rapid_reset(port), "rapid reset: the connection was not closed"
    after("rapid reset")
    assert attack_continuation(port), "CONTINUATION flood: the connection was not closed"
    after("continuation")
    assert attack_flood(port, h2raw.SETTINGS, b""), "SETTINGS flood: not closed"
    after("settings")
    assert attack_flood(port, h2raw.PING, b"abcdefgh"), "PING flood: not closed"
    after("ping")
    many = attack_many_streams(port)
    after("10 000 streams")
    many.close()
    p99, worst = mon.finish()
    grown = peak - rss0
    print("abuse: echo p99 %.1f ms, worst %.1f ms over %d echoes; RSS peak +%d KiB"
          % (p99, worst, len(mon.rtts), grown))
    assert grown < 64 * 1024, "RSS grew %d KiB under attack" % grown
    assert p99 < ECHO_P99_MS, "echo p99 %.1f ms (worst %.1f ms) under attack" % (p99, worst)
