"""gRPC management API (ConnectionService and grpc.health.v1.Health) against
the real binary, with real clients: grpcio on one side, python3-websockets
or a raw-socket WebSocket client on the other, h2load and nghttp for the
HTTP/2 edges. The wire facts are in shared/spec/API.md.

Message classes are generated at test time by grpc_stubs (protoc into a
temporary directory); the callables are built with channel.unary_unary.
"""
import asyncio
import base64
import json
import os
import re
import signal
import socket
import struct
import subprocess
import time

import grpc
import pytest
import websockets

import grpc_stubs

ID_HEADER = "X-Yc-Apigateway-Websocket-Connection-Id"
DEFAULT_GATEWAY_ID = "d5dwsgw0000000000001"
MAX_DATA = 131072
UA = "wsgw-grpc-test/1.0 (integration; python3-websockets)"
WAIT = 20.0  # generous upper bound for anything to happen; never asserted on

Code = grpc.StatusCode

# -- fixtures ------------------------------------------------------------------

@pytest.fixture
def grpc_client(pb, wsgw_factory):
    """grpc_client(server, metadata=None, options=()) -> grpc_stubs.Client on
    a fresh channel to the server's management port; channels are closed
    before the servers stop."""
    channels = []

    def make(server, metadata=None, options=()):
        ch = grpc.insecure_channel("127.0.0.1:%d" % server.mgmt_port,
                                   options=[("grpc.enable_http_proxy", 0)] + list(options))
        channels.append(ch)
        return grpc_stubs.Client(ch, pb, metadata)

    yield make
    for ch in channels:
        ch.close()


def expect_error(call, code, *args, **kw):
    """Runs call(*args, **kw), expecting an RpcError with `code` and a
    non-empty human-readable message; returns the error."""
    with pytest.raises(grpc.RpcError) as ei:
        call(*args, **kw)
    e = ei.value
    assert e.code() == code, "expected %s, got %s: %r" % (code, e.code(), e.details())
    assert e.details(), "%s without a grpc-message" % code
    return e


# -- a raw-socket WebSocket client (never reads unless asked) -------------------

class RawWS:
    """Does the handshake by hand, then reads frames only when asked, so a
    test can let the server's output back up."""

    def __init__(self, port, user_agent=None, rcvbuf=None):
        """user_agent: str (sent as UTF-8) or bytes (sent as they are)."""
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(WAIT)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        head = [b"GET /raw HTTP/1.1", b"Host: 127.0.0.1:%d" % port, b"Upgrade: websocket",
                b"Connection: Upgrade", b"Sec-WebSocket-Key: " + key.encode(),
                b"Sec-WebSocket-Version: 13"]
        if user_agent is not None:
            if isinstance(user_agent, str):
                user_agent = user_agent.encode("utf-8")
            head.append(b"User-Agent: " + user_agent)
        self.sock.sendall(b"\r\n".join(head) + b"\r\n\r\n")
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self._more()
        resp, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = resp.decode("latin-1").split("\r\n")
        assert lines[0].startswith("HTTP/1.1 101 "), resp
        self.headers = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            self.headers[k.strip().lower()] = v.strip()
        self.id = self.headers[ID_HEADER.lower()]

    def _more(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise EOFError("server closed the connection")
        self.buf += chunk

    def _take(self, n):
        while len(self.buf) < n:
            self._more()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_frame(self):
        """(opcode, payload) of the next server frame (unmasked, FIN)."""
        b0, b1 = self._take(2)
        assert b1 & 0x80 == 0, "server frames must not be masked"
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._take(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._take(8))[0]
        assert b0 & 0x80, "fragmented server message"
        return b0 & 0x0F, self._take(n)

    def read_message(self):
        """Next data frame, skipping pings/pongs."""
        while True:
            op, payload = self.read_frame()
            if op not in (0x9, 0xA):
                return op, payload

    def send_frame(self, opcode, payload=b""):
        mask = os.urandom(4)
        n = len(payload)
        if n <= 125:
            hdr = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n <= 0xFFFF:
            hdr = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            hdr = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(hdr + mask + masked)

    def expect_close(self, code):
        op, payload = self.read_message()
        assert op == 0x8, "expected a close frame, got opcode %#x" % op
        assert struct.unpack("!H", payload[:2])[0] == code, payload

    def answer_close(self, code=1000):
        self.send_frame(0x8, struct.pack("!H", code))

    def close(self):
        self.sock.close()


# -- python3-websockets helpers --------------------------------------------------

async def ws_open(server, user_agent=UA):
    ws = await websockets.connect(server.url + "/chat", user_agent_header=user_agent,
                                  compression=None, ping_interval=None, max_size=1 << 22)
    return ws, ws.response_headers[ID_HEADER]


def ts_ns(ts):
    return ts.seconds * 1_000_000_000 + ts.nanos


def get_until_changed(client, cid, old_ns):
    deadline = time.monotonic() + WAIT
    while True:
        c = client.get(cid)
        if ts_ns(c.last_active_at) != old_ns or time.monotonic() > deadline:
            return c
        time.sleep(0.01)


# -- 1. end to end ----------------------------------------------------------------

def test_end_to_end_get_send_disconnect(wsgw, grpc_client, pb):
    client = grpc_client(wsgw)

    async def run():
        ws, cid = await ws_open(wsgw)
        assert re.fullmatch(r"[A-Za-z0-9._=-]{1,50}", cid), cid
        before = time.time_ns()
        c = client.get(cid)
        assert c.id == cid
        assert c.gateway_id == DEFAULT_GATEWAY_ID
        assert c.identity.source_ip == "127.0.0.1"
        assert c.identity.user_agent == UA
        connected, active = ts_ns(c.connected_at), ts_ns(c.last_active_at)
        assert abs(before - connected) < 5_000_000_000, (before, connected)
        assert connected <= active <= time.time_ns() + 1_000_000_000
        for ts in (c.connected_at, c.last_active_at):
            assert 0 <= ts.nanos < 1_000_000_000

        # A message from the client moves last_active_at forward.
        time.sleep(0.02)  # let the wall clock move on; not an assertion
        await ws.send("hello from the client")
        c2 = get_until_changed(client, cid, active)
        assert ts_ns(c2.last_active_at) > active
        assert ts_ns(c2.connected_at) == connected
        assert c2.id == cid and c2.identity.user_agent == UA
        # Timestamps carry sub-millisecond precision (nanos really used).
        nanos = [c.connected_at.nanos, c2.last_active_at.nanos]
        assert any(n % 1_000_000 for n in nanos), nanos

        # Disconnect: the client sees 1000, and the id is gone.
        assert client.disconnect(cid) == pb.DisconnectResponse()
        with pytest.raises(websockets.ConnectionClosedOK):
            while True:
                await asyncio.wait_for(ws.recv(), WAIT)  # the echo, if any, then the close
        assert ws.close_code == 1000
        expect_error(client.get, Code.NOT_FOUND, cid)

    asyncio.run(run())


def test_send_types_arrive_in_order(wsgw, grpc_client, pb):
    client = grpc_client(wsgw)
    T = pb.SendToConnectionRequest
    types = [T.TEXT, T.BINARY, T.DATA_TYPE_UNSPECIFIED]

    async def run():
        ws, cid = await ws_open(wsgw)
        sent = []
        for i in range(200):
            t = types[i % 3]
            data = ("message %d \u00e9\u4e16 %s" % (i, "x" * (i * 7))).encode("utf-8")
            assert client.send(cid, data, t) == pb.SendToConnectionResponse()
            sent.append(data.decode("utf-8") if t == T.TEXT else data)
        for i, want in enumerate(sent):
            got = await asyncio.wait_for(ws.recv(), WAIT)
            assert type(got) is type(want), (i, got)
            assert got == want, i
        await ws.close()

    asyncio.run(run())


def test_gateway_id_flag(wsgw_factory, grpc_client):
    srv = wsgw_factory(["--gateway-id", "myg", "--close-timeout", "2s"])
    client = grpc_client(srv)
    raw = RawWS(srv.port, user_agent="raw-agent")
    c = client.get(raw.id)
    assert (c.id, c.gateway_id, c.identity.source_ip, c.identity.user_agent) == (
        raw.id, "myg", "127.0.0.1", "raw-agent")
    client.disconnect(raw.id)
    raw.expect_close(1000)
    raw.answer_close()
    raw.close()


def test_no_user_agent_is_empty(wsgw, grpc_client):
    client = grpc_client(wsgw)
    raw = RawWS(wsgw.port)
    c = client.get(raw.id)
    assert c.identity.user_agent == ""
    assert c.identity.source_ip == "127.0.0.1"
    raw.close()


def test_user_agent_utf8_kept(wsgw, grpc_client):
    client = grpc_client(wsgw)
    ua = "agent caf\u00e9 \u20ac \U0001F600 \u4e16\u754c/1.0"
    raw = RawWS(wsgw.port, user_agent=ua)
    assert client.get(raw.id).identity.user_agent == ua
    raw.close()


def test_user_agent_truncated_on_a_character_boundary(wsgw, grpc_client):
    """--max-user-agent (512) cuts on a code point boundary: 170 euro
    signs are 510 bytes, the 171st would end at byte 513."""
    client = grpc_client(wsgw)
    ua = "\u20ac" * 200  # 600 bytes; 512 is not a multiple of 3
    raw = RawWS(wsgw.port, user_agent=ua)
    try:
        assert client.get(raw.id).identity.user_agent == "\u20ac" * 170
    finally:
        raw.close()


@pytest.mark.parametrize("limit, ua, kept", [
    ("10", "abcdefghijklmnop", "abcdefghij"),  # ASCII: exactly the limit
    ("10", "abcdefghij", "abcdefghij"),  # at the limit: whole
    ("10", "abcdefgh\u00e9z", "abcdefgh\u00e9"),  # a 2-byte character ending at the limit
    ("10", "abcdefghi\u00e9", "abcdefghi"),  # a 2-byte character across the limit
])
def test_max_user_agent_flag(wsgw_factory, grpc_client, limit, ua, kept):
    srv = wsgw_factory(["--max-user-agent", limit, "--close-timeout", "2s"])
    raw = RawWS(srv.port, user_agent=ua)
    try:
        assert grpc_client(srv).get(raw.id).identity.user_agent == kept
    finally:
        raw.close()


def test_user_agent_non_utf8_bytes(wsgw, grpc_client):
    """HTTP allows obs-text in a header; user_agent is a proto3 string, so
    what reaches the client must be UTF-8 (or stock clients cannot parse
    the Connection at all)."""
    client = grpc_client(wsgw)
    raw = RawWS(wsgw.port, user_agent=b"caf\xe9 \xff agent")
    try:
        c = client.get(raw.id)  # must parse: a proto3 string is UTF-8
        assert c.identity.user_agent == "caf? ? agent"  # each non-ASCII byte masked
    finally:
        raw.close()


# -- 2. every status ---------------------------------------------------------------

@pytest.fixture
def live(wsgw, grpc_client):
    """(client, RawWS) with one open raw WebSocket connection."""
    client = grpc_client(wsgw)
    raw = RawWS(wsgw.port, user_agent="live")
    yield client, raw
    raw.close()


@pytest.mark.parametrize("method", ["get", "send", "disconnect"])
def test_connection_id_rules(live, method):
    client, raw = live
    call = getattr(client, method)
    args = (b"x",) if method == "send" else ()
    e = expect_error(call, Code.INVALID_ARGUMENT, "", *args)
    assert "connection_id" in e.details()
    e = expect_error(call, Code.INVALID_ARGUMENT, "a" * 51, *args)
    assert "50" in e.details()
    expect_error(call, Code.NOT_FOUND, "a" * 50, *args)
    expect_error(call, Code.NOT_FOUND, raw.id[:-1] + ("A" if raw.id[-1] != "A" else "B"), *args)
    expect_error(call, Code.NOT_FOUND, raw.id + "x", *args)
    # The live connection is untouched by all of that.
    assert client.get(raw.id).id == raw.id


def test_error_message_round_trip(live):
    """grpc-message is percent-encoded UTF-8: what the server quotes comes
    back exactly (non-ASCII, '%', control characters)."""
    client, _ = live
    cid = "a%20b\u00e9 \t%\u4e16"
    e = expect_error(client.get, Code.NOT_FOUND, cid)
    assert cid in e.details()


def test_connection_id_limit_counts_characters(live):
    client, _ = live
    expect_error(client.get, Code.INVALID_ARGUMENT, "\u00e9" * 51)
    expect_error(client.get, Code.NOT_FOUND, "\u00e9" * 50)


def test_connection_id_not_utf8(live):
    client, _ = live
    expect_error(client.raw(grpc_stubs.GET), Code.INVALID_ARGUMENT, b"\x0a\x02\xff\xfe")


def test_data_limit(wsgw, grpc_client, pb):
    client = grpc_client(wsgw)
    T = pb.SendToConnectionRequest

    async def run():
        ws, cid = await ws_open(wsgw)
        big = bytes((i * 31 + 7) & 0xFF for i in range(MAX_DATA))
        client.send(cid, big, T.BINARY)
        e = expect_error(client.send, Code.INVALID_ARGUMENT, cid, big + b"!", T.BINARY)
        assert str(MAX_DATA) in e.details()
        text = ("\u4e16" * (MAX_DATA // 3) + "ab").encode("utf-8")
        assert len(text) == MAX_DATA
        client.send(cid, text, T.TEXT)
        expect_error(client.send, Code.INVALID_ARGUMENT, cid, text + b"c", T.TEXT)
        assert await asyncio.wait_for(ws.recv(), WAIT) == big
        assert await asyncio.wait_for(ws.recv(), WAIT) == text.decode("utf-8")
        # Nothing was delivered for the rejected ones.
        client.send(cid, b"sentinel", T.BINARY)
        assert await asyncio.wait_for(ws.recv(), WAIT) == b"sentinel"
        await ws.close()

    asyncio.run(run())


@pytest.mark.parametrize("data", [b"\xff", b"ok \xc3", b"\xed\xa0\x80", b"\xc0\xaf", b"a\xf4\x90\x80\x80"])
def test_text_must_be_utf8(live, pb, data):
    client, raw = live
    e = expect_error(client.send, Code.INVALID_ARGUMENT, raw.id, data,
                     pb.SendToConnectionRequest.TEXT)
    assert "UTF-8" in e.details()
    # As BINARY the same bytes are fine.
    client.send(raw.id, data, pb.SendToConnectionRequest.BINARY)
    assert raw.read_message() == (0x2, data)


@pytest.mark.parametrize("t", [3, 7, 1000, -1])
def test_unknown_data_type(live, t):
    client, raw = live
    expect_error(client.send, Code.INVALID_ARGUMENT, raw.id, b"x", t)


@pytest.mark.parametrize("path", [grpc_stubs.GET, grpc_stubs.SEND, grpc_stubs.DISCONNECT,
                                  grpc_stubs.HEALTH_CHECK])
@pytest.mark.parametrize("body", [b"\xff\xff", b"\x0a\x05ab", b"\x0b", b"\x12\xff\xff\xff\xff\x7f"])
def test_undecodable_protobuf(live, path, body):
    client, _ = live
    e = expect_error(client.raw(path), Code.INVALID_ARGUMENT, body)
    assert "protobuf" in e.details()


@pytest.mark.parametrize("path", [
    "/yandex.cloud.serverless.apigateway.websocket.v1.ConnectionService/List",
    "/yandex.cloud.serverless.apigateway.websocket.v1.ConnectionService/get",
    "/yandex.cloud.serverless.apigateway.websocket.v1.ConnectionService/",
    "/yandex.cloud.serverless.apigateway.websocket.v1.Nope/Get",
    "/grpc.health.v1.Health/Watch",
    "/foo.Bar/Baz",
])
def test_unknown_method_or_service(live, path):
    client, _ = live
    expect_error(client.raw(path), Code.UNIMPLEMENTED, b"")


@pytest.mark.parametrize("compression", [grpc.Compression.Gzip, grpc.Compression.Deflate])
def test_compressed_messages_accepted(live, pb, compression):
    """grpc-encoding gzip and deflate requests are inflated and run."""
    client, raw = live
    # Compressible, so grpc really sends it compressed (it falls back to
    # identity when compression does not help).
    data = b"a" * 20000
    client.send(raw.id, data, pb.SendToConnectionRequest.BINARY, compression=compression)
    assert raw.read_message() == (0x2, data)
    assert client.get(raw.id, compression=compression).id == raw.id
    # Uncompressed still works on the same channel.
    client.send(raw.id, b"plain", pb.SendToConnectionRequest.BINARY)
    assert raw.read_message() == (0x2, b"plain")


def gzip_frame(msg, level=9):
    import gzip
    return frame(gzip.compress(msg, level), 1)


def test_compression_headers_and_answer(wsgw, live, pb, tmp_path):
    """A gzip request is answered uncompressed (flag 0, no grpc-encoding),
    and every answer advertises what we accept."""
    client, raw = live
    msg = pb.GetConnectionRequest(connection_id=raw.id).SerializeToString()
    out = nghttp_output(wsgw, grpc_stubs.GET, gzip_frame(msg), tmp_path,
                        headers=("grpc-encoding: gzip",))
    assert "grpc-status: 0" in out, out
    assert "grpc-accept-encoding: identity, deflate, gzip" in out, out
    assert "recv (stream_id=13) grpc-encoding" not in out and "grpc-encoding: gzip" not in \
        out.split("recv HEADERS")[-1], out
    got = nghttp_call(wsgw, "/foo.Bar/Baz", frame(b""), tmp_path)
    assert got["grpc-accept-encoding"] == "identity, deflate, gzip", got


@pytest.mark.parametrize("enc, body, code, word", [
    ("br", b"x", 12, "grpc-encoding"),  # unknown encoding, compressed message
    ("gzip", b"not gzip at all", 13, "corrupt"),  # a corrupt stream
    ("gzip", None, 13, "corrupt"),  # a truncated stream
    ("deflate", b"bomb", 8, "grpc-max-body"),  # inflates past --grpc-max-body
    ("gzip", b"bomb", 8, "grpc-max-body"),
])
def test_compressed_bad_messages(wsgw_factory, pb, tmp_path, enc, body, code, word):
    import gzip
    import zlib
    srv = wsgw_factory(["--grpc-max-body", "64K", "--close-timeout", "2s"])
    raw = RawWS(srv.port)
    msg = pb.SendToConnectionRequest(connection_id=raw.id, data=b"q" * 1000).SerializeToString()
    if body is None:
        payload = gzip.compress(msg)[:-9]
    elif body == b"bomb":
        # 64 MiB of zeros in ~64 KiB: far past the 64 KiB cap.
        big = bytes(64 << 20)
        payload = gzip.compress(big, 9) if enc == "gzip" else zlib.compress(big, 9)
    else:
        payload = body
    rss0 = srv.proc_status_kib("VmHWM")
    got = nghttp_call(srv, grpc_stubs.SEND, frame(payload, 1), tmp_path,
                      headers=("grpc-encoding: " + enc,))
    assert got["grpc-status"] == str(code), got
    assert word in got["grpc-message"], got
    assert got["grpc-accept-encoding"] == "identity, deflate, gzip", got
    # A bomb costs at most the cap: no 64 MiB allocation.
    assert srv.proc_status_kib("VmHWM") - rss0 < 16 * 1024
    raw.close()


def test_body_over_grpc_max_body(wsgw_factory, grpc_client, pb):
    srv = wsgw_factory(["--grpc-max-body", "1K", "--close-timeout", "2s"])
    client = grpc_client(srv)
    raw = RawWS(srv.port)
    try:
        e = expect_error(client.send, Code.RESOURCE_EXHAUSTED, raw.id, b"z" * 2000,
                         pb.SendToConnectionRequest.BINARY)
        assert "grpc-max-body" in e.details()
        for _ in range(3):
            expect_error(client.send, Code.RESOURCE_EXHAUSTED, raw.id, b"z" * 100000,
                         pb.SendToConnectionRequest.BINARY)
            assert client.get(raw.id).id == raw.id
    finally:
        raw.close()


def test_body_under_grpc_max_body(wsgw_factory, grpc_client, pb):
    srv = wsgw_factory(["--grpc-max-body", "1K", "--close-timeout", "2s"])
    client = grpc_client(srv)
    raw = RawWS(srv.port)
    small = b"y" * 900
    client.send(raw.id, small, pb.SendToConnectionRequest.BINARY)
    assert raw.read_message() == (0x2, small)
    assert client.get(raw.id).id == raw.id
    raw.close()


def test_body_over_grpc_max_body_nghttp(wsgw_factory, pb, tmp_path):
    """The same rejection seen by a client that prints every frame."""
    srv = wsgw_factory(["--grpc-max-body", "1K", "--close-timeout", "2s"])
    raw = RawWS(srv.port)
    msg = pb.SendToConnectionRequest(connection_id=raw.id, data=b"z" * 2000).SerializeToString()
    out = nghttp_output(srv, grpc_stubs.SEND, frame(msg), tmp_path)
    raw.close()
    assert "grpc-status: 8" in out, out


def test_full_outbound_queue(wsgw_factory, grpc_client, pb):
    """The client never reads until RESOURCE_EXHAUSTED: every OK Send must
    then arrive, in order; the rejected one must not."""
    srv = wsgw_factory(["--max-out-queue", "64K", "--close-timeout", "2s"])
    client = grpc_client(srv)
    raw = RawWS(srv.port, rcvbuf=4096)
    size = 60 * 1024
    ok = []
    err = None
    for i in range(5000):
        data = struct.pack("!I", i) + bytes([i & 0xFF]) * (size - 4)
        try:
            client.send(raw.id, data, pb.SendToConnectionRequest.BINARY)
        except grpc.RpcError as e:
            err = e
            break
        ok.append(data)
    assert err is not None, "the outbound queue never filled after %d sends" % len(ok)
    assert err.code() == Code.RESOURCE_EXHAUSTED, (err.code(), err.details())
    assert "queue" in err.details()
    assert ok, "the very first send was rejected"
    # The connection itself is still open and known.
    assert client.get(raw.id).id == raw.id
    for i, want in enumerate(ok):
        op, got = raw.read_message()
        assert op == 0x2, i
        assert got[:4] == want[:4] and got == want, "message %d lost or out of order" % i
    client.send(raw.id, b"after", pb.SendToConnectionRequest.BINARY)
    assert raw.read_message() == (0x2, b"after")
    raw.close()


def test_closing_connection_is_not_found(live, pb):
    client, raw = live
    client.disconnect(raw.id)
    # The raw client has not answered the close: the connection is closing.
    e = expect_error(client.send, Code.NOT_FOUND, raw.id, b"late", pb.SendToConnectionRequest.TEXT)
    assert raw.id in e.details()
    expect_error(client.get, Code.NOT_FOUND, raw.id)
    expect_error(client.disconnect, Code.NOT_FOUND, raw.id)
    raw.expect_close(1000)
    raw.answer_close()


def test_closed_by_client_is_not_found(wsgw, grpc_client):
    client = grpc_client(wsgw)

    async def run():
        ws, cid = await ws_open(wsgw)
        assert client.get(cid).id == cid
        await ws.close()
        return cid

    cid = asyncio.run(run())
    # The close handshake is complete on the client side; the server has
    # removed the connection by the time it answered the close.
    expect_error(client.get, Code.NOT_FOUND, cid)
    expect_error(client.send, Code.NOT_FOUND, cid, b"x")


# -- crafted bodies (nghttp sends exactly the bytes of a file) ----------------------

def nghttp_output(server, path, body, tmp_path, headers=()):
    """POSTs `body` (raw DATA bytes) with nghttp -v; returns its output."""
    f = tmp_path / "body.bin"
    f.write_bytes(body)
    args = ["nghttp", "-v", "-n", "-H", "content-type: application/grpc", "-H", "te: trailers",
            "-d", str(f)]
    for h in headers:
        args += ["-H", h]
    args.append("http://127.0.0.1:%d%s" % (server.mgmt_port, path))
    return subprocess.run(args, capture_output=True, timeout=60).stdout.decode("utf-8", "replace")


def nghttp_call(server, path, body, tmp_path, headers=()):
    """{header: value} of everything nghttp received (headers and trailers)."""
    out = nghttp_output(server, path, body, tmp_path, headers)
    got = {}
    for m in re.finditer(r"recv \(stream_id=\d+\) ([^:\s][^:]*|:status): (.*)", out):
        got[m.group(1)] = m.group(2).strip()
    assert "grpc-status" in got, out
    return got


def frame(msg, flag=0):
    return bytes([flag]) + struct.pack("!I", len(msg)) + msg


MISSING = "request message missing"


@pytest.mark.parametrize("body, code, message", [
    # compressed flag set, no grpc-encoding
    (None, 12, "compressed flag set without a grpc-encoding; use identity, deflate or gzip"),
    (b"", 3, MISSING),  # no message at all
    (b"two", 3, "a unary call takes exactly one request message"),
    (b"\x00\x00\x00", 3, MISSING),  # a truncated prefix: no message completed
    (b"short", 3, MISSING),  # a prefix promising more than is sent
])
def test_crafted_bodies(wsgw, live, pb, tmp_path, body, code, message):
    client, raw = live
    msg = pb.GetConnectionRequest(connection_id=raw.id).SerializeToString()
    if body is None:
        body = frame(msg, 1)
    elif body == b"two":
        body = frame(msg) + frame(msg)
    elif body == b"short":
        body = frame(msg)[:-1]
    got = nghttp_call(wsgw, grpc_stubs.GET, body, tmp_path)
    assert got[":status"] == "200"
    assert got["grpc-status"] == str(code), got
    assert got.get("grpc-message") == message, got


def test_header_stage_error_frames(wsgw, live, pb, tmp_path):
    """Unknown method, request body still to come: the trailers-only
    HEADERS (grpc-status 12) must be sent, before any RST_STREAM."""
    out = nghttp_output(wsgw, "/foo.Bar/Baz", frame(b""), tmp_path)
    assert "grpc-status: 12" in out, out
    rst = out.find("recv RST_STREAM")
    assert rst < 0 or rst > out.find("grpc-status: 12"), out


def test_crafted_ok_call(wsgw, live, pb, tmp_path):
    client, raw = live
    msg = pb.GetConnectionRequest(connection_id=raw.id).SerializeToString()
    got = nghttp_call(wsgw, grpc_stubs.GET, frame(msg), tmp_path)
    assert got[":status"] == "200" and got["grpc-status"] == "0"
    assert got["content-type"] == "application/grpc"


# -- 3. auth -----------------------------------------------------------------------

def auth_server(wsgw_factory, how):
    if how == "flag":
        return wsgw_factory(["--auth-token", "s3cret", "--close-timeout", "2s"])
    return wsgw_factory(["--close-timeout", "2s"], env={"WSGW_AUTH_TOKEN": "s3cret"})


BAD_AUTH = [None, [("authorization", "Bearer ")], [("authorization", "Bearer")],
            [("authorization", " ")], [("authorization", "Bearer s3cret ")],
            [("authorization", "Bearer wrong")], [("authorization", "Bearer s3cre")],
            [("authorization", "Bearer s3crett")], [("authorization", "s3cret")],
            [("authorization", "Basic s3cret")], [("authorization", "Bearer  s3cret")],
            [("x-auth", "Bearer s3cret")]]


@pytest.mark.parametrize("how", ["flag", "env"])
def test_auth_token_required(wsgw_factory, grpc_client, pb, how):
    srv = auth_server(wsgw_factory, how)
    raw = RawWS(srv.port)
    anon = grpc_client(srv)
    try:
        for md in BAD_AUTH:
            e = expect_error(anon.get, Code.UNAUTHENTICATED, raw.id, metadata=md)
            assert "s3cret" not in e.details()
            expect_error(anon.send, Code.UNAUTHENTICATED, raw.id, b"x", metadata=md)
            expect_error(anon.disconnect, Code.UNAUTHENTICATED, raw.id, metadata=md)
        assert anon.get(raw.id, metadata=[("authorization", "Bearer s3cret")]).id == raw.id
    finally:
        raw.close()


@pytest.mark.parametrize("how", ["flag", "env"])
def test_auth_token_accepted(wsgw_factory, grpc_client, pb, how):
    srv = auth_server(wsgw_factory, how)
    raw = RawWS(srv.port)
    anon = grpc_client(srv)
    # Health probes carry no credentials.
    assert anon.check().status == pb.HealthCheckResponse.SERVING
    assert anon.check(grpc_stubs.SERVICE).status == pb.HealthCheckResponse.SERVING
    # The right token works, whatever the scheme's case.
    for scheme in ("Bearer", "bearer", "BEARER"):
        authed = grpc_client(srv, metadata=[("authorization", scheme + " s3cret")])
        assert authed.get(raw.id).id == raw.id
    authed.send(raw.id, b"authed", pb.SendToConnectionRequest.BINARY)
    assert raw.read_message() == (0x2, b"authed")
    assert authed.check().status == pb.HealthCheckResponse.SERVING
    authed.disconnect(raw.id)
    raw.expect_close(1000)
    raw.answer_close()
    raw.close()


def test_no_token_configured_needs_no_metadata(live, pb):
    client, raw = live
    assert client.get(raw.id).id == raw.id
    # A token sent anyway is ignored.
    assert client.get(raw.id, metadata=[("authorization", "Bearer anything")]).id == raw.id


# -- 4. health ---------------------------------------------------------------------

def test_health(live, pb):
    client, _ = live
    S = pb.HealthCheckResponse
    assert client.check("").status == S.SERVING
    assert client.check(grpc_stubs.SERVICE).status == S.SERVING
    for name in ("nope", "grpc.health.v1.Health", grpc_stubs.SERVICE + "x", "yandex"):
        expect_error(client.check, Code.NOT_FOUND, name)


def start_drain(wsgw_factory, grpc_client, pb):
    """A server draining for as long as its raw client does not answer
    the 1001 close; returns (server, client on a channel made before
    SIGTERM, raw)."""
    srv = wsgw_factory(["--drain-timeout", "5s", "--close-timeout", "30s"])
    client = grpc_client(srv)
    raw = RawWS(srv.port)
    assert client.get(raw.id).id == raw.id  # the channel is connected
    assert client.check().status == pb.HealthCheckResponse.SERVING
    srv.proc.send_signal(signal.SIGTERM)
    # The server's 1001 close proves the drain has begun.
    raw.expect_close(1001)
    return srv, client, raw


def finish_drain(srv, raw):
    raw.answer_close(1001)
    assert srv.proc.wait(timeout=WAIT) == 0
    raw.close()


def test_draining_health(wsgw_factory, grpc_client, pb):
    srv, client, raw = start_drain(wsgw_factory, grpc_client, pb)
    assert client.check().status == pb.HealthCheckResponse.NOT_SERVING
    assert client.check(grpc_stubs.SERVICE).status == pb.HealthCheckResponse.NOT_SERVING
    expect_error(client.check, Code.NOT_FOUND, "nope")
    # A new channel made during the drain gets the same answer.
    late = grpc_client(srv)
    assert late.check().status == pb.HealthCheckResponse.NOT_SERVING
    finish_drain(srv, raw)


def test_draining_calls_unavailable(wsgw_factory, grpc_client, pb):
    srv, client, raw = start_drain(wsgw_factory, grpc_client, pb)
    try:
        e = expect_error(client.get, Code.UNAVAILABLE, raw.id)
        assert "shutting down" in e.details()
        e = expect_error(client.send, Code.UNAVAILABLE, raw.id, b"x")
        assert "shutting down" in e.details()
        e = expect_error(client.disconnect, Code.UNAVAILABLE, raw.id)
        assert "shutting down" in e.details()
        late = grpc_client(srv)
        expect_error(late.get, Code.UNAVAILABLE, raw.id)
    finally:
        finish_drain(srv, raw)


# -- 5. concurrency ----------------------------------------------------------------

def advertised_settings(server):
    """{name: value} of the server's first SETTINGS frame, as nghttp -v
    prints it (e.g. SETTINGS_MAX_CONCURRENT_STREAMS)."""
    out = subprocess.run(["nghttp", "-v", "-n", "http://127.0.0.1:%d/grpc.health.v1.Health/Check"
                          % server.mgmt_port], capture_output=True, timeout=60).stdout.decode()
    m = re.search(r"recv SETTINGS frame <[^>]*>\n\s*\(niv=\d+\)\n((?:\s*\[.*\]\n)*)", out)
    assert m, out
    return {k: int(v) for k, v in re.findall(r"\[(SETTINGS_\w+)\(0x[0-9a-f]+\):(\d+)\]", m.group(1))}


@pytest.mark.parametrize("max_streams", [None, 10, 1])
def test_max_streams_advertised(wsgw_factory, max_streams):
    """--max-streams is the SETTINGS_MAX_CONCURRENT_STREAMS the server
    sends (README default 1024)."""
    args = ["--close-timeout", "2s"]
    if max_streams:
        args += ["--max-streams", str(max_streams)]
    srv = wsgw_factory(args)
    got = advertised_settings(srv)
    assert got.get("SETTINGS_MAX_CONCURRENT_STREAMS") == (max_streams or 1024), got


@pytest.mark.parametrize("max_streams", [None, 10])
def test_concurrent_calls(wsgw_factory, grpc_client, pb, max_streams):
    """More calls in flight than --max-streams: grpcio queues them behind
    the advertised limit and every one completes."""
    args = ["--close-timeout", "2s"]
    if max_streams:
        args += ["--max-streams", str(max_streams)]
    srv = wsgw_factory(args)
    client = grpc_client(srv)

    async def run():
        ws, cid = await ws_open(srv)
        fs = [client.get_.future(pb.GetConnectionRequest(connection_id=cid)) for _ in range(200)]
        for f in fs:
            c = f.result(timeout=WAIT)
            assert c.id == cid and c.identity.user_agent == UA
        payloads = [("concurrent %d" % i).encode() for i in range(50)]
        sends = [client.send_.future(pb.SendToConnectionRequest(
            connection_id=cid, data=p, type=pb.SendToConnectionRequest.TEXT)) for p in payloads]
        for f in sends:
            assert f.result(timeout=WAIT) == pb.SendToConnectionResponse()
        got = [await asyncio.wait_for(ws.recv(), WAIT) for _ in payloads]
        assert sorted(got) == sorted(p.decode() for p in payloads)
        # Mixed: errors and successes interleaved on the same session.
        mixed = []
        for i in range(100):
            if i % 2:
                mixed.append((client.get_.future(pb.GetConnectionRequest(connection_id="z" * 50)),
                              Code.NOT_FOUND))
            else:
                mixed.append((client.get_.future(pb.GetConnectionRequest(connection_id=cid)),
                              Code.OK))
        for f, code in mixed:
            f.exception(timeout=WAIT)  # wait for completion
            assert f.code() == code
        await ws.close()

    asyncio.run(run())


def test_many_channels(wsgw, grpc_client, pb):
    raw = RawWS(wsgw.port)
    clients = [grpc_client(wsgw) for _ in range(20)]
    fs = [c.get_.future(pb.GetConnectionRequest(connection_id=raw.id)) for c in clients for _ in range(10)]
    assert all(f.result(timeout=WAIT).id == raw.id for f in fs)
    raw.close()


# -- 6. grpc-timeout -----------------------------------------------------------------

def test_deadline_honoured(wsgw, live, pb):
    """A stream with grpc-timeout: 200m whose request never ends (no
    END_STREAM, half a prefix) gets grpc-status 4 from the server itself —
    a raw HTTP/2 client, so no client library times out in its place.
    Calls inside their deadline still succeed."""
    import h2raw
    client, raw = live
    assert client.get(raw.id, timeout=5).id == raw.id
    conn = h2raw.H2(wsgw.mgmt_port)
    t0 = time.monotonic()
    conn.headers(1, h2raw.grpc_headers(grpc_stubs.GET, [("grpc-timeout", "200m")]), end=False)
    conn.data(1, frame(b"")[:3], end=False)  # a partial prefix, never finished
    hdrs = conn.wait_headers(1, timeout=WAIT)
    assert hdrs.get("grpc-status") == "4", hdrs
    assert hdrs.get("grpc-message") == "deadline exceeded", hdrs
    assert time.monotonic() - t0 >= 0.2  # not before the deadline
    # The stream without a timeout on the same connection is left alone.
    conn.headers(3, h2raw.grpc_headers(grpc_stubs.GET), end=False)
    msg = pb.GetConnectionRequest(connection_id=raw.id).SerializeToString()
    conn.data(3, frame(msg), end=True)
    assert conn.wait_headers(3, timeout=WAIT).get("grpc-status") == "0"
    conn.close()
    assert client.get(raw.id, timeout=5).id == raw.id


# -- 7. h2load ----------------------------------------------------------------------

def test_h2load_smoke(wsgw, grpc_client, pb, tmp_path):
    client = grpc_client(wsgw)
    raw = RawWS(wsgw.port, user_agent="h2load-target")
    resp_len = len(client.get(raw.id).SerializeToString())
    body = tmp_path / "get.bin"
    body.write_bytes(frame(pb.GetConnectionRequest(connection_id=raw.id).SerializeToString()))
    n = 20000
    out = subprocess.run(
        ["h2load", "-n", str(n), "-c", "4", "-m", "100", "-H", "content-type: application/grpc",
         "-H", "te: trailers", "-d", str(body),
         "http://127.0.0.1:%d%s" % (wsgw.mgmt_port, grpc_stubs.GET)],
        capture_output=True, timeout=300).stdout.decode()
    assert "requests: %d total, %d started, %d done, %d succeeded, 0 failed, 0 errored, 0 timeout" % (
        n, n, n, n) in out, out
    assert "status codes: %d 2xx, 0 3xx, 0 4xx, 0 5xx" % n in out, out
    # Errors are trailers-only (no DATA): the exact DATA byte count proves
    # every response carried a Connection message, i.e. grpc-status 0.
    m = re.search(r"\((\d+)\) data", out)
    assert m and int(m.group(1)) == n * (5 + resp_len), out
    assert client.get(raw.id).id == raw.id
    raw.close()


# -- 8. raw HTTP/2 edges --------------------------------------------------------------

def raw_exchange(port, data):
    """Sends data, returns everything received until the server closes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    s.sendall(data)
    got = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    s.close()
    return got


def http1_response(data):
    """(status line, {header: value}, body) of the one HTTP/1.1 response in
    data; asserts Content-Length matches the body."""
    head, sep, body = data.partition(b"\r\n\r\n")
    assert sep, data
    lines = head.split(b"\r\n")
    assert re.fullmatch(rb"HTTP/1\.1 [1-5][0-9][0-9] [ -~]*", lines[0]), data
    hdrs = {k.strip().lower(): v.strip() for k, v in (l.split(b":", 1) for l in lines[1:])}
    assert int(hdrs[b"content-length"]) == len(body), data
    return lines[0], hdrs, body


def request_info(hdrs):
    """The details of a REST error: Yandex Cloud's RequestInfo with the id of
    the response's X-Server-Request-Id header."""
    rid = hdrs[b"x-server-request-id"].decode()
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", rid), rid
    return [{"@type": "type.googleapis.com/google.rpc.RequestInfo", "requestId": rid}]


def test_http1_request_gets_http1_response_and_close(wsgw, live):
    """HTTP/1.1 on the management port is REST: an unknown id is 404 with
    the JSON error body (README, Management API (REST)); with Connection:
    close the server closes (raw_exchange reads until EOF)."""
    client, raw = live
    got = raw_exchange(wsgw.mgmt_port, b"GET /apigateways/websocket/v1/connections/%s HTTP/1.1\r\n"
                                       b"Host: 127.0.0.1\r\nConnection: close\r\n\r\n"
                                       % ("z" * 50).encode())
    status, hdrs, body = http1_response(got)
    assert status == b"HTTP/1.1 404 Not Found", status
    assert hdrs[b"content-type"] == b"application/json", hdrs
    assert hdrs[b"connection"] == b"close", hdrs
    assert json.loads(body) == {"code": 5, "message": "connection %s not found" % ("z" * 50),
                                "details": request_info(hdrs)}, body
    assert client.get(raw.id).id == raw.id


PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
EMPTY_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def h2_frames(data):
    """[(type, flags, stream, payload)] of the complete frames in data."""
    out = []
    while len(data) >= 9:
        n = int.from_bytes(data[:3], "big")
        if len(data) < 9 + n:
            break
        out.append((data[3], data[4], int.from_bytes(data[5:9], "big") & 0x7FFFFFFF, data[9:9 + n]))
        data = data[9 + n:]
    return out


@pytest.mark.parametrize("data", [
    b"\x00\xff\x13garbage\r\n\r\n" * 10,
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 200 + b"\r\n\r\n",  # TLS hello
    b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n",  # a broken HTTP/2 preface
])
def test_garbage_gets_http1_error_and_close(wsgw, live, data):
    """Anything without the HTTP/2 preface is read as HTTP/1.1; a head that
    does not parse is 400 INVALID_ARGUMENT, then the server closes."""
    client, raw = live
    got = raw_exchange(wsgw.mgmt_port, data)
    status, hdrs, body = http1_response(got)
    assert status == b"HTTP/1.1 400 Bad Request", status
    assert hdrs[b"connection"] == b"close", hdrs
    assert json.loads(body) == {"code": 3, "message": "malformed request head",
                                "details": request_info(hdrs)}, body
    assert client.get(raw.id).id == raw.id


# RFC 9113 error codes (§7)
PROTOCOL_ERROR, FRAME_SIZE_ERROR, COMPRESSION_ERROR = 0x1, 0x6, 0x9


@pytest.mark.parametrize("data, code", [
    # §3.4: the first frame must be SETTINGS
    (PREFACE + b"\xff" * 64, PROTOCOL_ERROR),
    # §4.2: a frame over SETTINGS_MAX_FRAME_SIZE
    (PREFACE + EMPTY_SETTINGS + b"\xff" * 4096, FRAME_SIZE_ERROR),
    # §5.1.1: a client's stream id must be odd
    (PREFACE + EMPTY_SETTINGS + b"\x00\x00\x05\x01\x05\x00\x00\x00\x02" + b"\xff" * 5, PROTOCOL_ERROR),
    # §4.3: a header block that does not decode
    # (last stream 1: nghttp2 counts the stream whose headers failed)
    (PREFACE + EMPTY_SETTINGS + b"\x00\x00\x05\x01\x05\x00\x00\x00\x01" + b"\xff" * 5, COMPRESSION_ERROR),
])
def test_h2_garbage_goaway_and_close(wsgw, live, pb, data, code):
    """A connection error gets exactly one GOAWAY with the RFC 9113 code
    for it, then the close."""
    client, raw = live
    got = raw_exchange(wsgw.mgmt_port, data)
    frames = h2_frames(got)
    goaways = [f for f in frames if f[0] == 0x7]
    assert len(goaways) == 1, frames
    last, err = struct.unpack("!II", goaways[0][3][:8])
    assert (goaways[0][2], err) == (0, code), goaways
    assert last == (1 if code == COMPRESSION_ERROR else 0), goaways
    assert client.get(raw.id).id == raw.id
    assert client.check().status == pb.HealthCheckResponse.SERVING


def test_truncated_frame_then_half_close(wsgw, live):
    client, raw = live
    s = socket.create_connection(("127.0.0.1", wsgw.mgmt_port), timeout=WAIT)
    s.sendall(PREFACE + b"\x00\x00\x06\x04\x00\x00\x00\x00\x00\x00\x03")
    s.shutdown(socket.SHUT_WR)
    while s.recv(65536):
        pass
    s.close()
    assert client.get(raw.id).id == raw.id


def test_client_disappears_mid_call(wsgw, live, pb):
    """A client that sends a request and closes at once must not hurt."""
    client, raw = live
    port = wsgw.mgmt_port
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(PREFACE + EMPTY_SETTINGS)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()  # RST
    assert client.get(raw.id).id == raw.id
