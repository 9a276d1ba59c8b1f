"""wsgw's backend integrations (shared/spec/INTEGRATIONS.md): the connect,
message and disconnect events with their X-Yc-Apigateway-Websocket-*
headers, path templates, forwarded headers and query, replies to the
client, refusals at connect, per-connection ordering, read backpressure
behind a stalled backend, failing backends, and --check-spec.

The backend is tests/integration/backend.py (a recording, programmable
HTTP/1.1 server). Every wait is a liveness bound, never a speed
requirement.
"""
import asyncio
import json
import os
import re
import signal
import socket
import struct
import subprocess
import threading
import time

import pytest
import websockets
import websockets.exceptions
import yaml

import conftest
import wsraw
from backend import H, LIVENESS, backend, backend_factory, free_port  # noqa: F401 (fixtures)
from wsraw import OP_BINARY, OP_CLOSE, OP_TEXT

SPEC_DIR = os.path.join(conftest.ROOT, "tests", "spec")
WAIT = 20.0  # liveness bound for one client-side receive


# ---- helpers ---------------------------------------------------------------------------


def http(url, **kw):
    """An http integration."""
    d = {"type": "http", "url": url}
    d.update(kw)
    return {"x-yc-apigateway-integration": d}


def integ(type_, **kw):
    d = {"type": type_}
    d.update(kw)
    return {"x-yc-apigateway-integration": d}


def route(message, connect=None, disconnect=None):
    r = {"x-yc-apigateway-websocket-message": message}
    if connect is not None:
        r["x-yc-apigateway-websocket-connect"] = connect
    if disconnect is not None:
        r["x-yc-apigateway-websocket-disconnect"] = disconnect
    return r


def full_route(b, prefix=""):
    """connect, message and disconnect all to backend b at /connect etc."""
    return route(http(b.url(prefix + "/message")), connect=http(b.url(prefix + "/connect")),
                 disconnect=http(b.url(prefix + "/disconnect")))


class _NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data):  # wsgw refuses YAML aliases
        return True


def write_spec(tmp_path, paths, name="spec.yaml"):
    doc = {"openapi": "3.0.0", "info": {"title": "it", "version": "1"}, "paths": paths}
    p = tmp_path / name
    p.write_text(yaml.dump(doc, Dumper=_NoAliases, sort_keys=False, allow_unicode=True))
    return str(p)


@pytest.fixture
def gw(wsgw_factory, tmp_path):
    """gw(paths, *flags): a wsgw serving a spec made of `paths`."""

    def make(paths, *flags, env=None):
        spec = write_spec(tmp_path, paths, "spec%d.yaml" % len(list(tmp_path.glob("spec*"))))
        return wsgw_factory(["--spec", spec, "--close-timeout", "2s"] + list(flags), env)

    return make


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))


def conn_id_of(ws):
    return ws.response_headers[H + "Connection-Id"]


def stop_ok(server):
    """SIGTERM and the drain: afterwards every backend call wsgw started has
    been made (the drain waits for them), so counts are final."""
    code = server.stop()
    assert code == 0, server.read_log()[-3000:]
    assert "drain timeout" not in server.read_log()


async def backend_has(backend, event, n):
    """Waits (off the event loop) for n requests of the event type."""
    return await asyncio.get_running_loop().run_in_executor(None, backend.wait_events, event, n)


def ms_now():
    return int(time.time() * 1000)


# ---- 1. headers and bodies of every event -----------------------------------------------


def test_event_headers_and_bodies(gw, backend):
    backend.on("CONNECT", status=200)
    backend.on("MESSAGE", status=200)
    backend.on("DISCONNECT", status=200)
    s = gw({"/ws": full_route(backend)}, "--subprotocols", "chat,superchat")
    ua = "it-client/1.0 (integration test)"

    async def client():
        t0 = ms_now()
        async with websockets.connect(s.url + "/ws", subprotocols=["superchat", "chat"],
                                      user_agent_header=ua, compression=None) as ws:
            t1 = ms_now()
            cid = conn_id_of(ws)
            assert ws.subprotocol == "superchat"
            await ws.send('{"n": 1}')
            await ws.send(b"\x00\x01\xfe\xff")
            await ws.send("κόσμε")
            await ws.send(b"")
            await ws.send("")
            # (messages still queued in wsgw at a close are another test's
            # subject: test_messages_sent_before_close_are_delivered)
            await backend_has(backend, "MESSAGE", 5)
            await ws.close(4000, "bye")
        return cid, t0, t1

    cid, t0, t1 = run(client())
    assert re.fullmatch(r"[a-z0-9]{33}", cid), cid
    stop_ok(s)

    conn = backend.events("CONNECT")
    msgs = backend.events("MESSAGE")
    disc = backend.events("DISCONNECT")
    assert len(conn) == 1 and len(msgs) == 5 and len(disc) == 1, backend.requests
    assert [r.event for r in backend.requests] == ["CONNECT"] + ["MESSAGE"] * 5 + ["DISCONNECT"]

    c = conn[0]
    assert c.method == "GET"
    assert c.path == "/connect" and c.query == ""
    assert c.body == b""
    assert c.header(H + "Connection-Id") == cid
    assert c.header(H + "Event-Type") == "CONNECT"
    at = c.header(H + "Connected-At")
    assert re.fullmatch(r"[0-9]+", at), at
    # epoch milliseconds, taken while the handshake ran (1 s slack for clocks)
    assert t0 - 1000 <= int(at) <= t1 + 1000, (t0, at, t1)
    assert c.header("Sec-WebSocket-Protocol") == "superchat, chat"
    assert c.header("User-Agent") == ua
    assert not c.has_header(H + "Message-Id")
    for hop in ("Upgrade", "Sec-WebSocket-Key", "Sec-WebSocket-Version"):
        assert not c.has_header(hop), hop

    sent = [(b'{"n": 1}', "application/json"), (b"\x00\x01\xfe\xff", "application/octet-stream"),
            ("κόσμε".encode(), "application/json"), (b"", "application/octet-stream"),
            (b"", "application/json")]
    ids = []
    for r, (body, ctype) in zip(msgs, sent):
        assert r.method == "POST"
        assert r.path == "/message"
        assert r.header(H + "Connection-Id") == cid
        assert r.header(H + "Event-Type") == "MESSAGE"
        assert r.header(H + "Connected-At") == at
        assert r.header("Content-Type") == ctype
        assert r.header("User-Agent") == ua
        assert r.body == body
        assert int(r.header("Content-Length", "0")) == len(body)
        ids.append(r.header(H + "Message-Id"))
    assert all(ids), ids
    assert len(set(ids)) == len(ids), ids
    assert ids == sorted(ids), ids

    d = disc[0]
    assert d.method == "POST"
    assert d.path == "/disconnect"
    assert d.header(H + "Connection-Id") == cid
    assert d.header(H + "Event-Type") == "DISCONNECT"
    assert d.header(H + "Connected-At") == at
    assert d.header(H + "Disconnect-Status-Code") == "4000"
    assert d.header(H + "Disconnect-Reason") == "bye"
    assert d.header("User-Agent") == ua
    assert not d.has_header(H + "Message-Id")


def test_messages_sent_before_close_are_delivered(gw, backend):
    """Messages the client sent before its close frame were received whole
    by wsgw; each is a message event, and the disconnect comes after them."""
    backend.on("MESSAGE", delay=0.05)
    s = gw({"/ws": full_route(backend)})
    with wsraw.connect(s.port, path="/ws") as c:
        cid = c.response_headers[H.lower() + "connection-id"]
        c.send(b"".join(wsraw.encode_frame(OP_TEXT, b"m%d" % i) for i in range(5))
               + wsraw.encode_frame(OP_CLOSE, wsraw.close_payload(4000, "bye")))
        assert c.recv_close(timeout=WAIT) == (4000, b"")
        c.expect_eof(WAIT)
    stop_ok(s)
    own = [(r.event, r.body) for r in backend.requests if r.conn_id == cid]
    assert own == [("CONNECT", b"")] + [("MESSAGE", b"m%d" % i) for i in range(5)] + [
        ("DISCONNECT", b"")], own


def test_message_ids_unique_and_sorted_across_connections(gw, backend):
    s = gw({"/ws": route(http(backend.url("/m")))})

    async def client():
        a = await websockets.connect(s.url + "/ws")
        b = await websockets.connect(s.url + "/ws")
        for i in range(20):
            await (a if i % 2 else b).send("m%d" % i)
            # one at a time, so send order is also the order wsgw sees them
            backend.wait_events("MESSAGE", i + 1)
        await a.close()
        await b.close()

    run(client())
    msgs = backend.events("MESSAGE")
    assert [r.body for r in msgs] == [b"m%d" % i for i in range(20)]
    ids = [r.header(H + "Message-Id") for r in msgs]
    assert len(set(ids)) == 20 and ids == sorted(ids), ids


def test_disconnect_exactly_once_per_connection(gw, backend):
    s = gw({"/ws": full_route(backend)})

    async def client():
        ids = []
        for i in range(5):
            async with websockets.connect(s.url + "/ws") as ws:
                ids.append(conn_id_of(ws))
                await ws.send("x")
                # (a close while the message call is under way is another
                # test's subject: test_disconnect_waits_for_inflight_message)
                await backend_has(backend, "MESSAGE", i + 1)
                await ws.close(4000 + i, "bye %d" % i)
        return ids

    ids = run(client())
    assert len(set(ids)) == 5
    stop_ok(s)
    disc = backend.events("DISCONNECT")
    assert sorted(r.conn_id for r in disc) == sorted(ids)
    for i, cid in enumerate(ids):
        (d,) = backend.events("DISCONNECT", cid)
        assert d.header(H + "Disconnect-Status-Code") == str(4000 + i)
        assert d.header(H + "Disconnect-Reason") == "bye %d" % i
        # the disconnect comes after the connection's other events
        own = [r.event for r in backend.requests if r.conn_id == cid]
        assert own == ["CONNECT", "MESSAGE", "DISCONNECT"], own


def test_disconnect_waits_for_inflight_message(gw, backend):
    gate = threading.Event()
    backend.on("MESSAGE", gate=gate)
    s = gw({"/ws": full_route(backend)})
    with wsraw.connect(s.port, path="/ws") as c:
        c.send_text(b"x")
        (m,) = backend.wait_events("MESSAGE", 1)
        c.send_close(4000, b"bye")
        assert c.recv_close(timeout=WAIT) == (4000, b"")
        c.expect_eof(WAIT)
    # While the message call is unanswered no disconnect may arrive. (A
    # correct server makes this wait run out; then the gate opens.)
    try:
        backend.wait_events("DISCONNECT", 1, timeout=2)
    except AssertionError:
        pass
    gate.set()
    (d,) = backend.wait_events("DISCONNECT", 1)
    backend.wait_for(lambda _: ("answer", m.seq) in backend.timeline, what="the answer")
    tl = backend.timeline
    assert tl.index(("answer", m.seq)) < tl.index(("arrive", d.seq)), tl


def test_disconnect_1006_when_client_vanishes(gw, backend):
    s = gw({"/ws": full_route(backend)})
    c = wsraw.connect(s.port, path="/ws")
    cid = c.response_headers[H.lower() + "connection-id"]
    c.send_text(b"last words")
    backend.wait_events("MESSAGE", 1)
    c.close()  # TCP FIN, no close frame
    (d,) = backend.wait_events("DISCONNECT", 1)
    assert d.conn_id == cid
    assert d.header(H + "Disconnect-Status-Code") == "1006"
    assert d.header(H + "Disconnect-Reason") == ""
    stop_ok(s)
    assert len(backend.events("DISCONNECT")) == 1


def test_disconnect_1006_when_client_resets(gw, backend):
    s = gw({"/ws": full_route(backend)})
    c = wsraw.connect(s.port, path="/ws")
    cid = c.response_headers[H.lower() + "connection-id"]
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()  # RST
    (d,) = backend.wait_events("DISCONNECT", 1)
    assert d.conn_id == cid
    assert d.header(H + "Disconnect-Status-Code") == "1006"
    stop_ok(s)
    assert len(backend.events("DISCONNECT")) == 1


def test_close_without_status_reports_1005(gw, backend):
    s = gw({"/ws": full_route(backend)})
    with wsraw.connect(s.port, path="/ws") as c:
        cid = c.response_headers[H.lower() + "connection-id"]
        c.send_close()  # empty close payload: no status code
        assert c.recv_close() == (None, b"")
        c.expect_eof()
    (d,) = backend.wait_events("DISCONNECT", 1)
    assert d.conn_id == cid
    assert d.header(H + "Disconnect-Status-Code") == "1005"
    assert d.header(H + "Disconnect-Reason") == ""


def test_disconnect_utf8_reason(gw, backend):
    s = gw({"/ws": full_route(backend)})

    async def client():
        async with websockets.connect(s.url + "/ws") as ws:
            await ws.close(4002, "пока, κόσμε")

    run(client())
    (d,) = backend.wait_events("DISCONNECT", 1)
    assert d.header(H + "Disconnect-Status-Code") == "4002"
    # http.server decodes header bytes as Latin-1; wsgw sent the UTF-8 bytes
    assert d.header(H + "Disconnect-Reason").encode("latin-1").decode() == "пока, κόσμε"


def test_disconnect_reason_of_123_bytes(gw, backend):
    """The longest close reason RFC 6455 allows (123 bytes) arrives whole."""
    s = gw({"/ws": full_route(backend)})
    reason = "".join(chr(ord("a") + i % 26) for i in range(123))

    async def client():
        async with websockets.connect(s.url + "/ws") as ws:
            await ws.close(4003, reason)

    run(client())
    (d,) = backend.wait_events("DISCONNECT", 1)
    assert d.header(H + "Disconnect-Status-Code") == "4003"
    assert d.header(H + "Disconnect-Reason") == reason


def test_shutdown_sends_1001_disconnects_before_exit(gw, backend):
    # A slow disconnect answer: the drain must wait for the calls to finish.
    backend.on("DISCONNECT", delay=0.3)
    s = gw({"/ws": full_route(backend)}, "--drain-timeout", "20s")
    clients = [wsraw.connect(s.port, path="/ws") for _ in range(3)]
    ids = [c.response_headers[H.lower() + "connection-id"] for c in clients]
    backend.wait_events("CONNECT", 3)
    s.proc.send_signal(signal.SIGTERM)
    for c in clients:
        assert c.recv_close(timeout=WAIT) == (1001, b"server shutting down")
        c.send_close(1001)
    s.proc.wait(timeout=LIVENESS)
    assert s.proc.returncode == 0, s.read_log()[-3000:]
    # Checked right at exit, no waiting: the server exited only after them,
    # and only after their (delayed) answers.
    disc = backend.events("DISCONNECT")
    answered = list(backend.timeline)
    assert sorted(r.conn_id for r in disc) == sorted(ids), disc
    for d in disc:
        assert ("answer", d.seq) in answered, answered
    for d in disc:
        assert d.header(H + "Disconnect-Status-Code") == "1001"
        assert d.header(H + "Disconnect-Reason") == "server shutting down"
    for c in clients:
        c.close()
    assert "drain timeout" not in s.read_log()


def test_shutdown_with_silent_client_still_sends_1001(gw, backend):
    """The client never answers the server's close: the close timeout ends
    the connection, and the disconnect still says 1001."""
    s = gw({"/ws": full_route(backend)}, "--drain-timeout", "20s")
    c = wsraw.connect(s.port, path="/ws")
    cid = c.response_headers[H.lower() + "connection-id"]
    s.proc.send_signal(signal.SIGTERM)
    s.proc.wait(timeout=LIVENESS)
    assert s.proc.returncode == 0, s.read_log()[-3000:]
    (d,) = backend.events("DISCONNECT")
    assert d.conn_id == cid
    assert d.header(H + "Disconnect-Status-Code") == "1001"
    c.close()


# ---- 2. path templates, query and header forwarding ------------------------------------


def test_path_templates(gw, backend):
    s = gw({
        "/chat/{room}": route(http(backend.url("/m/{room}")),
                              connect=http(backend.url("/c/{room}")),
                              disconnect=http(backend.url("/d/{room}"))),
        "/chat/lobby/{user}/x": route(http(backend.url("/lobby/{user}"))),
        "/files/{path+}": route(http(backend.url("/f/{path}"))),
        "/health": {"get": integ("dummy", http_code=200, content={"*": "ok"})},
    })

    async def client():
        for i, path in enumerate(("/chat/lobby", "/chat/lobby/ann/x", "/files/a/b/c.txt")):
            async with websockets.connect(s.url + path) as ws:
                await ws.send("hi")
                await backend_has(backend, "MESSAGE", i + 1)
        for path in ("/health", "/nothing", "/chat", "/chat/a/b", "/"):
            with pytest.raises(websockets.exceptions.InvalidStatusCode) as e:
                await websockets.connect(s.url + path)
            assert e.value.status_code == 404, path

    run(client())
    stop_ok(s)
    # (a disconnect call may overtake the next connection's calls)
    assert sorted(r.path for r in backend.requests) == sorted([
        "/c/lobby", "/m/lobby", "/d/lobby", "/lobby/ann", "/f/a/b/c.txt"])
    assert [r.path for r in backend.events("MESSAGE")] == ["/m/lobby", "/lobby/ann",
                                                           "/f/a/b/c.txt"]


def test_unknown_path_404_raw(gw, backend):
    s = gw({"/ws": route(http(backend.url("/m"))),
            "/health": {"get": integ("dummy", content={"*": "ok"})}})
    with wsraw.Conn(s.port) as c:
        c.send(wsraw.request_bytes(path="/health"))
        status, _, _ = c.read_http_response()
        assert status == 404
    assert backend.requests == []


def test_query_and_header_forwarding(gw, backend):
    fwd = {"headers": {"X-Static": "v", "*": "*", "X-List": ["a", "b"]},
           "query": {"*": "*", "v": "1", "tags": ["x", "y"]}}
    s = gw({"/q/{room}": route(http(backend.url("/m"), **fwd),
                               connect=http(backend.url("/c?fixed=yes"), **fwd))})

    async def client():
        async with websockets.connect(s.url + "/q/r1?a=1&b=two%20words&a=3",
                                      extra_headers={"X-Client": "1"},
                                      user_agent_header="ua/9") as ws:
            await ws.send("hello")

    run(client())
    c, m = backend.wait_events("CONNECT", 1)[0], backend.wait_events("MESSAGE", 1)[0]
    assert c.path == "/c"
    assert c.query_params == {"fixed": ["yes"], "a": ["1", "3"], "b": ["two words"],
                              "v": ["1"], "tags": ["x,y"]}, c.query
    assert c.query.startswith("fixed=yes&a=1&b=two%20words&a=3&"), c.query
    assert m.path == "/m"
    assert m.query_params == {"a": ["1", "3"], "b": ["two words"], "v": ["1"],
                              "tags": ["x,y"]}, m.query
    for r in (c, m):
        assert r.header("X-Static") == "v"
        assert r.header("X-Client") == "1"
        assert r.header("X-List") == "a, b"
        assert r.header("User-Agent") == "ua/9"
        assert r.header("Host") == "127.0.0.1:%d" % backend.port
        for hop in ("Upgrade", "Sec-WebSocket-Key", "Sec-WebSocket-Version",
                    "Sec-WebSocket-Extensions"):
            assert not r.has_header(hop), (hop, r.header_items)
    assert m.header("Content-Type") == "application/json"


def test_omit_empty_headers_and_query(gw, backend):
    kv = {"headers": {"X-Empty": "", "X-Full": "f"}, "query": {"e": "", "q": "1"}}
    s = gw({"/keep": route(http(backend.url("/keep"), **kv)),
            "/omit": route(http(backend.url("/omit"), omitEmptyHeaders=True,
                                omitEmptyQueryParameters=True, **kv))})

    async def client():
        for path in ("/keep", "/omit"):
            async with websockets.connect(s.url + path) as ws:
                await ws.send("x")
                await asyncio.get_running_loop().run_in_executor(
                    None, backend.wait_for, lambda reqs: any(r.path == path for r in reqs))

    run(client())
    keep, omit = backend.events("MESSAGE")
    assert keep.path == "/keep" and omit.path == "/omit"
    assert keep.headers_all("X-Empty") == [""] and keep.header("X-Full") == "f"
    assert keep.query_params == {"e": [""], "q": ["1"]}, keep.query
    assert not omit.has_header("X-Empty") and omit.header("X-Full") == "f"
    assert omit.query_params == {"q": ["1"]}, omit.query


def test_path_params_substituted_in_headers_and_query(gw, backend):
    """The cloud's http integration substitutes parameters in url, headers
    and query (yandex-cloud/docs api-gateway/concepts/extensions/http.md);
    tests/spec/good.yaml relies on it with X-Room: '{room}'."""
    s = gw({"/chat/{room}": route(http(backend.url("/m"), headers={"X-Room": "{room}"},
                                       query={"room": "{room}"}))})

    async def client():
        async with websockets.connect(s.url + "/chat/lobby") as ws:
            await ws.send("x")

    run(client())
    (m,) = backend.wait_events("MESSAGE", 1)
    assert m.header("X-Room") == "lobby"
    assert m.query_params == {"room": ["lobby"]}, m.query


def test_no_forwarding_without_star(gw, backend):
    s = gw({"/ws": route(http(backend.url("/m"), headers={"X-Static": "v"}),
                         connect=http(backend.url("/c")))})

    async def client():
        async with websockets.connect(s.url + "/ws?a=1", extra_headers={"X-Client": "1"}) as ws:
            await ws.send("hello")

    run(client())
    for r in (backend.wait_events("CONNECT", 1)[0], backend.wait_events("MESSAGE", 1)[0]):
        assert r.query == ""
        assert not r.has_header("X-Client")
    assert backend.events("MESSAGE")[0].header("X-Static") == "v"


def test_configured_method(gw, backend):
    s = gw({"/ws": route(http(backend.url("/m"), method="put"),
                         connect=http(backend.url("/c"), method="post"),
                         disconnect=http(backend.url("/d"), method="delete"))})

    async def client():
        async with websockets.connect(s.url + "/ws") as ws:
            await ws.send("hello")
            await backend_has(backend, "MESSAGE", 1)

    run(client())
    stop_ok(s)
    assert [(r.method, r.path, r.body) for r in backend.requests] == [
        ("POST", "/c", b""), ("PUT", "/m", b"hello"), ("DELETE", "/d", b"")]


def test_stalled_backend_does_not_hold_up_another(gw, backend_factory):
    """--backend-connections caps calls per backend: with a cap of 1 and one
    backend stalled on a call, another backend's calls still go through at
    once (they do not wait for the stalled call's timeout)."""
    slow, fast = backend_factory(), backend_factory()
    gate = threading.Event()
    slow.on("MESSAGE", gate=gate)
    fast.on("MESSAGE", content_type="text/plain", body=lambda req: b"re:" + req.body)
    s = gw({"/slow": route(http(slow.url("/m"))), "/fast": route(http(fast.url("/m")))},
           "--backend-connections", "1")
    try:
        with wsraw.connect(s.port, path="/slow") as a, wsraw.connect(s.port, path="/fast") as b:
            a.send_text(b"stuck")
            a.send_text(b"queued behind it")
            slow.wait_events("MESSAGE", 1)
            t0 = time.monotonic()
            for i in range(20):
                b.send_text(b"%d" % i)
                assert b.recv_message(timeout=WAIT) == (OP_TEXT, b"re:%d" % i)
            assert time.monotonic() - t0 < 10
            assert len(slow.events("MESSAGE")) == 1  # its second call still waits
            gate.set()
            slow.wait_events("MESSAGE", 2)
    finally:
        gate.set()
    stop_ok(s)


def wait_calls_started(server, n, timeout=30):
    """Until wsgw has started n message calls: the backend gauges (in
    flight, waiting) plus the message calls done, from /metrics."""
    import http.client
    deadline = time.time() + timeout
    while True:
        c = http.client.HTTPConnection("127.0.0.1", server.mgmt_port, timeout=10)
        c.request("GET", "/metrics")
        text = c.getresponse().read().decode()
        c.close()
        started = sum(float(m) for m in re.findall(
            r'^wsgw_backend_calls_(?:in_flight|waiting)\{[^}]*\} (\S+)$', text, re.M))
        started += sum(float(m) for m in re.findall(
            r'^wsgw_integration_calls_total\{event="message",[^}]*\} (\S+)$', text, re.M))
        if started >= n:
            return
        assert time.time() < deadline, "wsgw started fewer than %d calls:\n%s" % (n, text)
        time.sleep(0.005)


@pytest.mark.parametrize("limit", [1, 2])
def test_backend_connections_caps_calls_in_flight(gw, backend, limit):
    """--backend-connections N: with six connections each sending one
    message to a slow route, the backend sees exactly N calls in flight at
    most (and N at some point), and the calls that waited arrive in the
    order their messages came in."""
    backend.on("MESSAGE", delay=0.4)
    s = gw({"/slow": route(http(backend.url("/m")))}, "--backend-connections", str(limit))
    clients = [wsraw.connect(s.port, path="/slow") for _ in range(6)]
    try:
        for i, c in enumerate(clients):
            c.send_text(b"m%d" % i)
            # wsgw has read this message (its call started: in flight,
            # waiting or done, as /metrics counts) before the next is
            # sent, so the order it read them in is the order they were
            # sent, however loaded the machine
            wait_calls_started(s, i + 1)
            # with N > 1 the backend's handler threads record arrivals on
            # N connections: calls that leave wsgw a few ms apart can be
            # recorded the other way round when the machine is loaded (seen:
            # m3 before m2 at load 16). Spacing the messages 100 ms apart
            # spaces the backend's answers, hence the next dispatches, too.
            if limit > 1:
                time.sleep(0.1)
        msgs = backend.wait_events("MESSAGE", len(clients))
        assert [r.body for r in msgs] == [b"m%d" % i for i in range(len(clients))]
        assert backend.max_inflight_event["MESSAGE"] == limit
        for c in clients:
            c.close_handshake(timeout=WAIT)
    finally:
        for c in clients:
            c.close()
    stop_ok(s)


def test_reused_call_handles_keep_nothing_from_earlier_calls(gw, backend):
    """Backend calls one after another, with a different method each: the
    method, body and headers of one never leak into the next (wsgw reuses
    its libcurl handles between calls)."""
    methods = ["put", None, "get", "delete", "patch", None]
    paths = {}
    for i, m in enumerate(methods):
        kw = {"method": m} if m else {}
        paths["/r%d" % i] = route(http(backend.url("/m%d" % i), **kw))
    s = gw(paths)

    async def client():
        for i in range(len(methods)):
            async with websockets.connect(s.url + "/r%d" % i) as ws:
                await ws.send("body%d" % i if i % 2 == 0 else b"\x00bin%d" % i)
                await backend_has(backend, "MESSAGE", i + 1)

    run(client())
    stop_ok(s)
    got = [(r.method, r.path, r.body, r.header("Content-Type")) for r in backend.events("MESSAGE")]
    assert got == [
        ("PUT", "/m0", b"body0", "application/json"),
        ("POST", "/m1", b"\x00bin1", "application/octet-stream"),
        ("GET", "/m2", b"body2", "application/json"),
        ("DELETE", "/m3", b"\x00bin3", "application/octet-stream"),
        ("PATCH", "/m4", b"body4", "application/json"),
        ("POST", "/m5", b"\x00bin5", "application/octet-stream"),
    ]
    ids = [r.header(H + "Connection-Id") for r in backend.events("MESSAGE")]
    assert len(set(ids)) == len(methods)


def test_proxy_environment_is_ignored(gw, backend, free_port):
    """Backend calls go straight to the backend even when the environment
    names a proxy (that proxy is a closed port here)."""
    proxy = "http://127.0.0.1:%d" % free_port
    s = gw({"/ws": full_route(backend)},
           env={"http_proxy": proxy, "HTTP_PROXY": proxy, "all_proxy": proxy, "ALL_PROXY": proxy})

    async def client():
        async with websockets.connect(s.url + "/ws") as ws:
            await ws.send("via-env?")
            await backend_has(backend, "MESSAGE", 1)

    run(client())
    stop_ok(s)
    assert [r.body for r in backend.events("MESSAGE")] == [b"via-env?"]
    assert len(backend.events("DISCONNECT")) == 1


# ---- 3. replies to the client ------------------------------------------------------------


def reply_by_request(req):
    return {
        b"json": (200, "application/json", b'{"a": 1}'),
        b"text": (200, "text/plain; charset=utf-8", "héllo".encode()),
        b"html": (200, "text/html", b"<p>x</p>"),
        b"bin": (200, "application/octet-stream", b"\x00\xff\x01"),
        b"other": (200, "image/png", b"\x89PNG"),
        b"none": (200, None, b"raw"),
        b"empty": (200, "application/json", b""),
        b"nocontent": (204, None, b""),
        b"created": (201, "text/plain", b"made"),
        b"client-error": (404, "text/plain", b"not here"),
    }.get(req.body, (200, "text/plain", b"after:" + req.body))


def test_reply_to_client_by_content_type(gw, backend):
    backend.on("MESSAGE", respond=reply_by_request)
    s = gw({"/ws": route(http(backend.url("/m")))})

    async def client():
        async with websockets.connect(s.url + "/ws") as ws:
            got = []
            for m in ("json", "text", "html", "bin", "other", "none", "created", "client-error"):
                await ws.send(m)
                got.append(await asyncio.wait_for(ws.recv(), WAIT))
            # no body: nothing goes back; the next reply is the next message's
            for m in ("empty", "nocontent", "next"):
                await ws.send(m)
            got.append(await asyncio.wait_for(ws.recv(), WAIT))
            await ws.send("last")
            got.append(await asyncio.wait_for(ws.recv(), WAIT))
            return got

    got = run(client())
    assert got == ['{"a": 1}', "héllo", "<p>x</p>", b"\x00\xff\x01", b"\x89PNG", b"raw", "made",
                   "not here", "after:next", "after:last"]
    assert [r.body for r in backend.events("MESSAGE")] == [
        b"json", b"text", b"html", b"bin", b"other", b"none", b"created", b"client-error",
        b"empty", b"nocontent", b"next", b"last"]


def test_reply_raw_frames(gw, backend):
    """The same with a raw client, to see the opcodes on the wire."""
    backend.on("MESSAGE", respond=reply_by_request)
    s = gw({"/ws": route(http(backend.url("/m")))})
    with wsraw.connect(s.port, path="/ws") as c:
        assert c.echo(OP_TEXT, b"json", WAIT) == (OP_TEXT, b'{"a": 1}')
        assert c.echo(OP_BINARY, b"text", WAIT) == (OP_TEXT, "héllo".encode())
        assert c.echo(OP_TEXT, b"bin", WAIT) == (OP_BINARY, b"\x00\xff\x01")
        c.send_text(b"empty")
        assert c.echo(OP_TEXT, b"x", WAIT) == (OP_TEXT, b"after:x")
        c.close_handshake()


def test_connect_response_body_is_first_message(gw, backend):
    backend.on("CONNECT", content_type="application/json", body=b'{"welcome": true}')
    backend.on("MESSAGE", content_type="text/plain", body=lambda r: b"re:" + r.body)
    s = gw({"/ws": full_route(backend)})

    async def client():
        async with websockets.connect(s.url + "/ws") as ws:
            first = await asyncio.wait_for(ws.recv(), WAIT)
            await ws.send("m1")
            second = await asyncio.wait_for(ws.recv(), WAIT)
            return first, second

    assert run(client()) == ('{"welcome": true}', "re:m1")


def test_connect_binary_body_and_early_message(gw, backend):
    """A binary connect body comes first even when the client sent a frame
    right behind its upgrade request (before seeing the 101)."""
    gate = threading.Event()
    backend.on("CONNECT", content_type="application/octet-stream", body=b"\x01\x02", gate=gate)
    backend.on("MESSAGE", content_type="text/plain", body=lambda r: b"re:" + r.body)
    s = gw({"/ws": full_route(backend)})
    key = wsraw.new_key()
    with wsraw.Conn(s.port) as c:
        c.send(wsraw.request_bytes(path="/ws", key=key) + wsraw.encode_frame(OP_TEXT, b"early"))
        backend.wait_events("CONNECT", 1)
        gate.set()
        status, headers, _ = c.read_response_head(WAIT)
        assert status == 101
        assert headers["sec-websocket-accept"] == wsraw.accept_for(key)
        assert c.recv_message(WAIT) == (OP_BINARY, b"\x01\x02")
        assert c.recv_message(WAIT) == (OP_TEXT, b"re:early")
        c.close_handshake()


def test_connect_empty_body_no_first_message(gw, backend):
    backend.on("CONNECT", status=204)
    backend.on("MESSAGE", content_type="text/plain", body=lambda r: b"re:" + r.body)
    s = gw({"/ws": full_route(backend)})
    with wsraw.connect(s.port, path="/ws") as c:
        assert c.echo(OP_TEXT, b"a", WAIT) == (OP_TEXT, b"re:a")
        c.close_handshake()


# ---- 4. refusal at connect; dummy integrations ----------------------------------------


def test_connect_refused_403(gw, backend):
    backend.on("CONNECT", status=403, content_type="text/plain", body=b"forbidden here")
    s = gw({"/ws": full_route(backend)})

    async def client():
        with pytest.raises(websockets.exceptions.InvalidStatusCode) as e:
            await websockets.connect(s.url + "/ws")
        return e.value.status_code

    assert run(client()) == 403
    with wsraw.Conn(s.port) as c:
        c.send(wsraw.request_bytes(path="/ws"))
        status, headers, body = c.read_http_response(WAIT)
        assert status == 403
        assert body == b"forbidden here"
        assert headers.get("content-type") == "text/plain"
        assert H.lower() + "connection-id" not in headers
    stop_ok(s)
    assert [r.event for r in backend.requests] == ["CONNECT", "CONNECT"]


def test_connect_refusal_passes_backend_headers(gw, backend):
    """A backend's refusal reaches the client with its own headers (a
    WWW-Authenticate challenge, a redirect's Location, cookies), but not its
    framing or connection headers: those are the gateway's."""
    backend.on("CONNECT", status=401, content_type="application/json", body=b'{"e":"auth"}',
               headers=[("WWW-Authenticate", 'Bearer realm="chat"'), ("Set-Cookie", "s=1"),
                        ("X-Backend", "yes"), ("Keep-Alive", "timeout=99"),
                        ("Sec-WebSocket-Accept", "bogus"), ("Upgrade", "websocket")])
    s = gw({"/ws": full_route(backend)})
    with wsraw.Conn(s.port) as c:
        c.send(wsraw.request_bytes(path="/ws"))
        status, headers, body = c.read_http_response(WAIT)
    assert (status, body) == (401, b'{"e":"auth"}')
    assert headers.get("www-authenticate") == 'Bearer realm="chat"'
    assert headers.get("set-cookie") == "s=1"
    assert headers.get("x-backend") == "yes"
    assert headers.get("content-type") == "application/json"
    assert headers.get("content-length") == str(len(body))
    assert headers.get("connection") == "close"
    for gone in ("keep-alive", "sec-websocket-accept", "upgrade"):
        assert gone not in headers, gone

    backend.on("CONNECT", status=302, body=b"", headers=[("Location", "https://example.com/in")])
    with wsraw.Conn(s.port) as c:
        c.send(wsraw.request_bytes(path="/ws"))
        status, headers, body = c.read_http_response(WAIT)
    assert (status, headers.get("location"), body) == (302, "https://example.com/in", b"")
    stop_ok(s)
    assert backend.events("DISCONNECT") == []  # never upgraded, so no disconnect


def test_connect_status_outside_http_range_is_502(gw, backend):
    backend.on("CONNECT", status=600, body=b"odd")
    s = gw({"/ws": full_route(backend)})
    with wsraw.Conn(s.port) as c:
        c.send(wsraw.request_bytes(path="/ws"))
        status, _, body = c.read_http_response(WAIT)
    assert (status, body) == (502, b"connect integration failed\n")
    stop_ok(s)


def test_connect_refused_401_by_dummy(gw, backend):
    s = gw({"/ws": route(http(backend.url("/m")),
                         connect=integ("dummy", http_code=401,
                                       content={"text/plain": "who are you"}),
                         disconnect=http(backend.url("/d")))})

    async def client():
        with pytest.raises(websockets.exceptions.InvalidStatusCode) as e:
            await websockets.connect(s.url + "/ws")
        return e.value.status_code

    assert run(client()) == 401
    with wsraw.Conn(s.port) as c:
        c.send(wsraw.request_bytes(path="/ws"))
        status, _, body = c.read_http_response(WAIT)
        assert (status, body) == (401, b"who are you")
    stop_ok(s)
    assert backend.requests == []


def test_dummy_connect_refusal_sends_http_headers(gw):
    s = gw({"/ws": route(integ("echo"),
                         connect=integ("dummy", http_code=401,
                                       http_headers={"WWW-Authenticate": "Bearer realm=\"ws\""},
                                       content={"text/plain": "who are you"}))})
    with wsraw.Conn(s.port) as c:
        c.send(wsraw.request_bytes(path="/ws"))
        status, headers, body = c.read_http_response(WAIT)
    assert (status, body) == (401, b"who are you")
    assert headers.get("www-authenticate") == 'Bearer realm="ws"', headers


def test_dummy_connect_ok_and_dummy_message(gw, backend):
    s = gw({"/ws": route(integ("dummy", content={"text/plain": "pong"}),
                         connect=integ("dummy", http_code=200,
                                       content={"application/json": '{"hi": 1}'}),
                         disconnect=http(backend.url("/d"))),
            "/bin": route(integ("dummy", content={"application/octet-stream": "bytes"}))})

    async def client():
        async with websockets.connect(s.url + "/ws") as ws:
            first = await asyncio.wait_for(ws.recv(), WAIT)
            await ws.send("ping")
            r1 = await asyncio.wait_for(ws.recv(), WAIT)
            await ws.send(b"\x00")
            r2 = await asyncio.wait_for(ws.recv(), WAIT)
            await ws.close(4001, "done")
        async with websockets.connect(s.url + "/bin") as ws:
            await ws.send("x")
            r3 = await asyncio.wait_for(ws.recv(), WAIT)
        return first, r1, r2, r3

    assert run(client()) == ('{"hi": 1}', "pong", "pong", b"bytes")
    (d,) = backend.wait_events("DISCONNECT", 1)
    assert d.header(H + "Disconnect-Status-Code") == "4001"
    assert d.header(H + "Disconnect-Reason") == "done"


# ---- 5. ordering -------------------------------------------------------------------------


def test_thousand_messages_in_order_one_at_a_time(gw, backend):
    backend.on("MESSAGE", delay=0.001, content_type="text/plain", body=lambda r: b"re:" + r.body)
    s = gw({"/ws": route(http(backend.url("/m")))})
    n = 1000

    async def client():
        async with websockets.connect(s.url + "/ws", max_queue=None) as ws:
            cid = conn_id_of(ws)

            async def sender():
                for i in range(n):
                    await ws.send("%d" % i)

            t = asyncio.ensure_future(sender())
            got = [await asyncio.wait_for(ws.recv(), WAIT) for _ in range(n)]
            await t
            return cid, got

    cid, got = run(client())
    assert got == ["re:%d" % i for i in range(n)]
    msgs = backend.events("MESSAGE", cid)
    assert [r.body for r in msgs] == [b"%d" % i for i in range(n)]
    assert backend.max_inflight[("MESSAGE", cid)] == 1
    ids = [r.header(H + "Message-Id") for r in msgs]
    assert len(set(ids)) == n and ids == sorted(ids)


def test_connections_are_independent(gw, backend):
    """One connection's stalled message does not hold up another's."""
    gate = threading.Event()

    def respond(r):
        if r.body == b"slow":
            gate.wait(LIVENESS)
        return 200, "text/plain", b"re:" + r.body

    backend.on("MESSAGE", respond=respond)
    s = gw({"/ws": route(http(backend.url("/m")))})
    with wsraw.connect(s.port, path="/ws") as a, wsraw.connect(s.port, path="/ws") as b:
        a.send_text(b"slow")
        a.send_text(b"a2")
        backend.wait_events("MESSAGE", 1)
        assert b.echo(OP_TEXT, b"b1", WAIT) == (OP_TEXT, b"re:b1")
        assert b.echo(OP_TEXT, b"b2", WAIT) == (OP_TEXT, b"re:b2")
        assert [r.body for r in backend.events("MESSAGE")] == [b"slow", b"b1", b"b2"]
        gate.set()
        assert a.recv_message(WAIT) == (OP_TEXT, b"re:slow")
        assert a.recv_message(WAIT) == (OP_TEXT, b"re:a2")
        a.close_handshake()
        b.close_handshake()


# ---- 6. backpressure behind a stalled backend ---------------------------------------------

FRAME_PAYLOAD = 16 * 1024
BUDGET = 32 * 1024 * 1024


def bp_frame(i):
    # Masked with an all-zero key (a valid mask), so building frames is
    # cheap; each payload starts with its sequence number.
    payload = struct.pack("!Q", i) + bytes([i & 0xFF]) * (FRAME_PAYLOAD - 8)
    return wsraw.encode_frame(OP_BINARY, payload, mask_key=b"\0\0\0\0")


def test_backpressure_with_stalled_backend(gw, backend):
    gate = threading.Event()
    backend.on("MESSAGE", gate=gate)
    # A long read timeout: the stalled call must not time out meanwhile.
    s = gw({"/ws": route(http(backend.url("/m"), timeouts={"read": 600}))},
           "--max-inbound-queue", "64K")
    rss_before = s.proc_status_kib("VmRSS")
    c = wsraw.connect(s.port, path="/ws")
    cid = c.response_headers[H.lower() + "connection-id"]
    sock = c.sock
    sock.setblocking(False)

    sent_frames = 0  # whole frames written
    partial = b""  # the rest of a frame the socket did not take
    total = 0
    last_progress = time.monotonic()
    deadline = time.monotonic() + 60
    stalled = False
    while total < BUDGET and time.monotonic() < deadline:
        if not partial:
            partial = bp_frame(sent_frames)
        try:
            k = sock.send(partial)
        except BlockingIOError:
            k = 0
        if k:
            total += k
            partial = partial[k:]
            if not partial:
                sent_frames += 1
            last_progress = time.monotonic()
        elif time.monotonic() - last_progress > 3.0:
            # 3 s without the socket taking one byte: the send has stalled.
            stalled = True
            break
        else:
            time.sleep(0.005)
    rss_stalled = s.proc_status_kib("VmRSS")
    hwm = s.proc_status_kib("VmHWM")
    print("backpressure: %d bytes (%d frames) accepted before the stall; VmRSS %d -> %d KiB, "
          "VmHWM %d KiB" % (total, sent_frames, rss_before, rss_stalled, hwm))
    assert stalled, "sent %d bytes without the send stalling" % total
    assert total < BUDGET
    # Only the first message has reached the backend; the rest wait in
    # wsgw's queue (about 64K) and in the TCP buffers.
    backend.wait_events("MESSAGE", 1)
    assert len(backend.events("MESSAGE")) == 1
    # Bounds. Measured at the stall: VmRSS ~10.5 -> ~11 MiB (release) and
    # ~19 -> ~20 MiB (ASan), i.e. < 1 MiB growth, after ~4.3 MB had left
    # the client (nearly all of it sits in the two kernel socket buffers).
    # Without backpressure wsgw would keep reading: the send would never
    # stall and wsgw would hold the 32 MiB budget (more, with copies), which
    # both the growth bound (6 MiB) and the absolute one reject; 150 MiB
    # leaves ASan's larger baseline plenty of room.
    assert rss_stalled < 150 * 1024, rss_stalled
    assert rss_stalled - rss_before < 6 * 1024, (rss_before, rss_stalled)

    # Open the gate; everything sent arrives, in order, nothing dropped.
    gate.set()
    sock.setblocking(True)
    sock.settimeout(LIVENESS)
    if partial:
        sock.sendall(partial)
        sent_frames += 1
    msgs = backend.wait_events("MESSAGE", sent_frames, timeout=120)
    assert len(msgs) == sent_frames
    for i, r in enumerate(msgs):
        assert r.conn_id == cid
        assert len(r.body) == FRAME_PAYLOAD, (i, len(r.body))
        assert struct.unpack("!Q", r.body[:8])[0] == i
        assert r.body[8:] == bytes([i & 0xFF]) * (FRAME_PAYLOAD - 8)
    assert backend.max_inflight[("MESSAGE", cid)] == 1
    # the connection is still healthy
    sock.sendall(wsraw.encode_frame(OP_TEXT, b"after"))
    assert backend.wait_events("MESSAGE", sent_frames + 1)[-1].body == b"after"
    c.close_handshake(timeout=WAIT)


# ---- 7. failing backends ----------------------------------------------------------------


def assert_closed_1011(port, path, body=b"x"):
    with wsraw.connect(port, path=path) as c:
        c.send_text(body)
        assert c.recv_close(timeout=WAIT) == (1011, b"integration failed")
        c.send_close(1011)
        c.expect_eof(WAIT)


def test_message_backend_down_closes_1011(gw, backend, free_port):
    s = gw({"/ws": route(http("http://127.0.0.1:%d/m" % free_port),
                         disconnect=http(backend.url("/d")))})
    assert_closed_1011(s.port, "/ws")
    (d,) = backend.wait_events("DISCONNECT", 1)
    assert d.header(H + "Disconnect-Status-Code") == "1011"
    assert d.header(H + "Disconnect-Reason") == "integration failed"
    assert "message integration failed" in s.read_log()


def test_message_backend_500_closes_1011(gw, backend):
    backend.on("MESSAGE", status=500, content_type="text/plain", body=b"oops")
    s = gw({"/ws": full_route(backend)})
    assert_closed_1011(s.port, "/ws")
    stop_ok(s)
    assert [r.event for r in backend.requests] == ["CONNECT", "MESSAGE", "DISCONNECT"]
    assert backend.events("DISCONNECT")[0].header(H + "Disconnect-Status-Code") == "1011"


def test_message_backend_503_closes_1011_with_websockets(gw, backend):
    backend.on("MESSAGE", status=503)
    s = gw({"/ws": route(http(backend.url("/m")))})

    async def client():
        async with websockets.connect(s.url + "/ws") as ws:
            await ws.send("x")
            with pytest.raises(websockets.exceptions.ConnectionClosedError) as e:
                await asyncio.wait_for(ws.recv(), WAIT)
            return e.value.rcvd.code, e.value.rcvd.reason

    assert run(client()) == (1011, "integration failed")


def test_integration_error_message_keeps_connection(gw, backend_factory, free_port):
    s = gw({"/ws": route(http("http://127.0.0.1:%d/m" % free_port))},
           "--integration-error-message")
    with wsraw.connect(s.port, path="/ws") as c:
        c.send_text(b"first")
        op, payload = c.recv_message(WAIT)
        assert op == OP_TEXT
        err = json.loads(payload)
        assert set(err) == {"error"} and "integration failed" in err["error"], err
        # A second failure: another error message, still open.
        c.send_text(b"second")
        op, payload = c.recv_message(WAIT)
        assert op == OP_TEXT and "error" in json.loads(payload)
        # The backend comes back on that port: the next message goes through.
        b = backend_factory(free_port)
        b.on("MESSAGE", content_type="text/plain", body=lambda r: b"re:" + r.body)
        assert c.echo(OP_TEXT, b"third", WAIT) == (OP_TEXT, b"re:third")
        assert [r.body for r in b.events("MESSAGE")] == [b"third"]
        c.close_handshake()


def test_integration_error_message_on_500(gw, backend):
    backend.on("MESSAGE", respond=lambda r: (500, "text/plain", b"no") if r.body == b"bad"
               else (200, "text/plain", b"re:" + r.body))
    s = gw({"/ws": route(http(backend.url("/m")))}, "--integration-error-message")
    with wsraw.connect(s.port, path="/ws") as c:
        c.send_text(b"bad")
        op, payload = c.recv_message(WAIT)
        assert op == OP_TEXT and "error" in json.loads(payload)
        assert c.echo(OP_TEXT, b"good", WAIT) == (OP_TEXT, b"re:good")
        c.close_handshake()


def test_message_read_timeout_closes_1011(gw, backend):
    gate = threading.Event()  # never set by the test: the call must time out
    backend.on("MESSAGE", gate=gate)
    s = gw({"/ws": route(http(backend.url("/m"), timeouts={"read": 0.5}),
                         disconnect=http(backend.url("/d")))})
    assert_closed_1011(s.port, "/ws")
    gate.set()
    (d,) = backend.wait_events("DISCONNECT", 1)
    assert d.header(H + "Disconnect-Status-Code") == "1011"


def test_connect_backend_down_502(gw, backend, free_port):
    s = gw({"/ws": route(http(backend.url("/m")),
                         connect=http("http://127.0.0.1:%d/c" % free_port),
                         disconnect=http(backend.url("/d")))})

    async def client():
        with pytest.raises(websockets.exceptions.InvalidStatusCode) as e:
            await websockets.connect(s.url + "/ws")
        return e.value.status_code

    assert run(client()) == 502
    stop_ok(s)
    assert backend.requests == []  # no message, no disconnect


class AcceptAndClose:
    """A backend that accepts each connection and closes it at once: every
    call to it fails without an answer. Records when each one came."""

    def __init__(self):
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(64)
        self.ls.settimeout(0.1)
        self.port = self.ls.getsockname()[1]
        self.times = []
        self.done = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.done:
            try:
                c, _ = self.ls.accept()
            except socket.timeout:
                continue
            self.times.append(time.monotonic())
            c.close()

    def close(self):
        self.done = True
        self.thread.join(5)
        self.ls.close()


def wait_log(server, text, timeout=LIVENESS):
    deadline = time.monotonic() + timeout
    while text not in server.read_log():
        assert time.monotonic() < deadline, "no %r in the log:\n%s" % (text, server.read_log()[-3000:])
        time.sleep(0.05)


def test_disconnect_retried_with_backoff_then_given_up(gw, backend):
    """A disconnect call that fails (here: accepted and closed, no answer)
    is retried with exponential backoff and jitter — delays drawn from
    [d/2, d] with d = 0.1 s doubling — until --disconnect-retry has passed
    since the first attempt; then it is given up, logged and counted."""
    dead = AcceptAndClose()
    try:
        s = gw({"/ws": route(http(backend.url("/m")),
                             disconnect=http("http://127.0.0.1:%d/d" % dead.port))},
               "--disconnect-retry", "3s")
        with wsraw.connect(s.port, path="/ws") as c:
            c.close_handshake()
        wait_log(s, "given up after")
        n = len(dead.times)
        time.sleep(1.0)
        assert len(dead.times) == n  # nothing after giving up
    finally:
        dead.close()
    t = dead.times
    gaps = [b - a for a, b in zip(t, t[1:])]
    print("attempts at +%s s" % ", +".join("%.3f" % (x - t[0]) for x in t))
    # 0.1 s doubling, from the upper half of each: 5 or 6 attempts fit in 3 s.
    assert 5 <= len(t) <= 6, gaps
    for k, g in enumerate(gaps):
        nominal = 0.1 * 2 ** k
        assert g >= nominal / 2 - 0.01, (k, gaps)  # never sooner than the backoff
        assert g < nominal + 1.0, (k, gaps)  # generous: a loaded machine is late
    assert t[-1] - t[0] <= 3.0 + 0.5
    log = s.read_log()
    assert "disconnect integration failed" in log and "given up after %d attempt(s)" % len(t) in log
    stop_ok(s)
    assert "%d retries" % (len(t) - 1) in s.read_log()
    assert "1 given up" in s.read_log()


def test_disconnect_5xx_retried_4xx_not(gw, backend):
    """A 5xx answer to a disconnect is a failure and retried; a 4xx is the
    backend refusing the event: one call, logged, not retried."""
    answers = {}

    def respond(req):
        n = answers[req.conn_id] = answers.get(req.conn_id, 0) + 1
        if req.path == "/d503":
            return (503, "text/plain", b"restarting") if n <= 2 else (200, None, b"")
        return 400, "text/plain", b"bad event"

    backend.on("DISCONNECT", respond=respond)
    s = gw({"/a": route(integ("echo"), disconnect=http(backend.url("/d503"))),
            "/b": route(integ("echo"), disconnect=http(backend.url("/d400")))})
    with wsraw.connect(s.port, path="/a") as a:
        ida = a.response_headers[H.lower() + "connection-id"]
        a.close_handshake()
    with wsraw.connect(s.port, path="/b") as b:
        idb = b.response_headers[H.lower() + "connection-id"]
        b.close_handshake()
    backend.wait_for(lambda _: len(backend.events("DISCONNECT", ida)) == 3, what="3 calls for /a")
    wait_log(s, "not retried")
    time.sleep(1.0)  # a retry of either would come within 0.1 s
    assert len(backend.events("DISCONNECT", ida)) == 3
    assert len(backend.events("DISCONNECT", idb)) == 1
    stop_ok(s)
    log = s.read_log()
    assert "conn %s: disconnect integration failed: the backend answered 400 " \
           "(a refusal: not retried)" % idb in log
    assert "disconnect events: 1 delivered, 2 retries, 1 refused (4xx), 0 given up" in log


def test_drain_waits_for_disconnect_retries(gw, backend_factory, free_port):
    """SIGTERM while a disconnect waits to be retried: the drain waits
    (up to --drain-timeout) and the event arrives once the backend is up."""
    s = gw({"/ws": route(integ("echo"), disconnect=http("http://127.0.0.1:%d/d" % free_port))},
           "--drain-timeout", "20s")
    with wsraw.connect(s.port, path="/ws") as c:
        cid = c.response_headers[H.lower() + "connection-id"]
        c.close_handshake()
    s.proc.send_signal(signal.SIGTERM)
    time.sleep(1.0)
    assert s.proc.poll() is None  # still draining: the event is held
    b = backend_factory(free_port)
    (d,) = b.wait_events("DISCONNECT", 1)
    assert d.conn_id == cid
    # delivered: the drain ends by itself (no second signal)
    assert s.proc.wait(timeout=LIVENESS) == 0
    stop_ok(s)
    assert "disconnect events: 1 delivered" in s.read_log()


def test_drain_deadline_counts_abandoned_disconnects(gw, free_port):
    """A backend that stays down: the drain ends at --drain-timeout, and the
    exit log counts the held event as abandoned instead of leaving it
    unmentioned."""
    s = gw({"/ws": route(integ("echo"), disconnect=http("http://127.0.0.1:%d/d" % free_port))},
           "--drain-timeout", "1s")
    with wsraw.connect(s.port, path="/ws") as c:
        c.close_handshake()
    t0 = time.monotonic()
    assert s.stop() == 0
    assert time.monotonic() - t0 < 10
    log = s.read_log()
    assert "drain timeout" in log and "1 disconnect event(s) not yet delivered" in log
    assert "0 delivered" in log
    assert "abandoned at exit: 0 in a call or waiting for a backend connection, " \
           "1 waiting to retry" in log or \
           "abandoned at exit: 1 in a call or waiting for a backend connection, " \
           "0 waiting to retry" in log


def test_drain_deadline_counts_messages_not_delivered(gw, backend):
    """Messages still waiting for a stalled backend at the drain deadline
    are counted in one exit line, not reported one by one as failures nor
    dropped unmentioned."""
    gate = threading.Event()
    backend.on("MESSAGE", gate=gate)
    s = gw({"/ws": route(http(backend.url("/m"), timeouts={"read": 600}))},
           "--drain-timeout", "1s")
    try:
        with wsraw.connect(s.port, path="/ws") as c:
            for i in range(3):
                c.send_text(b"m%d" % i)
            backend.wait_events("MESSAGE", 1)
            assert s.stop() == 0
    finally:
        gate.set()
    log = s.read_log()
    assert "at exit: 3 client message(s) not delivered to the backend" in log
    assert "gateway stopped" not in log


def test_max_pending_disconnects_drops_and_counts(gw, backend):
    """At most --max-pending-disconnects events are held; more are dropped,
    counted and logged, and the held ones still arrive."""
    gate = threading.Event()
    backend.on("DISCONNECT", gate=gate)
    s = gw({"/ws": route(integ("echo"), disconnect=http(backend.url("/d")))},
           "--max-pending-disconnects", "2")
    try:
        for _ in range(5):
            with wsraw.connect(s.port, path="/ws") as c:
                c.close_handshake()
        wait_log(s, "disconnect event dropped")
        backend.wait_events("DISCONNECT", 2)
    finally:
        gate.set()
    time.sleep(0.5)
    assert len(backend.events("DISCONNECT")) == 2
    stop_ok(s)
    assert "2 delivered, 0 retries, 0 refused (4xx), 0 given up, 3 dropped" in s.read_log()


# ---- 8. --check-spec and a bad --spec ---------------------------------------------------


def run_wsgw(*args):
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=66")
    p = subprocess.run([conftest.WSGW_BIN] + list(args), capture_output=True, timeout=LIVENESS,
                       env=env)
    out = p.stdout.decode() + p.stderr.decode()
    for mark in conftest.SANITIZER_MARKS:
        assert mark not in out, out
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def test_check_spec_good():
    path = os.path.join(SPEC_DIR, "it_good.yaml")
    code, out, err = run_wsgw("--check-spec", path)
    assert code == 0, (out, err)
    lines = out.splitlines()
    assert lines[0] == "%s: valid, 3 WebSocket route(s)" % path, out
    # one summary line per route; the lines under each (integrations and
    # placeholders) are tested in test_yandex_specs.py
    assert [ln for ln in lines[1:] if ln.startswith("  /")] == [
        "  /chat/{room} (line 5): connect http, message http, disconnect http",
        "  /files/{path+} (line 19): connect dummy, message dummy, disconnect -",
        "  /echo (line 29): connect -, message echo, disconnect -",
    ], out


def test_check_spec_bad_type():
    path = os.path.join(SPEC_DIR, "it_bad_type.yaml")
    code, out, err = run_wsgw("--check-spec", path)
    assert code == 2, (out, err)
    text = out + err
    assert "%s:10:" % path in text, text
    assert '"object_storage"' in text and '"/chat/{room}"' in text, text


def test_spec_bad_refuses_to_start(tmp_path):
    path = os.path.join(SPEC_DIR, "it_bad_type.yaml")
    code, out, err = run_wsgw("--spec", path, "--listen", "127.0.0.1:0",
                              "--mgmt-listen", "127.0.0.1:0")
    assert code == 2, (out, err)
    text = out + err
    assert "%s:10:" % path in text and "object_storage" in text, text
    assert "WebSocket on" not in text, text  # never got as far as listening


def test_check_spec_unreadable(tmp_path):
    code, out, err = run_wsgw("--check-spec", str(tmp_path / "missing.yaml"))
    assert code == 2
    assert "missing.yaml" in out + err
