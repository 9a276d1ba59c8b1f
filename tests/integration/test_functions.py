"""cloud_functions and serverless_containers integrations (issue 13;
shared/spec/YANDEX-FIDELITY.md §3), driven end to end with real clients:

- the game's shape (tests/spec/yc_functions.yaml, /websocket): the event
  JSON each function receives, field by field, for CONNECT, MESSAGE (text
  and binary) and DISCONNECT in payload format 0.1, and in 1.0 (/v1/{room},
  with operationId, parameters, a context with placeholders and a tag
  mapped on its own);
- the function's answer applied: the connect's body as the first message,
  a refusal with its status, body and headers, text and binary replies, a
  broken answer closing 1011;
- a function or container without a mapping refused at start with its line;
- a Node and a Python handler served by tests/functions/runner.{js,py};
- a serverless_containers route: the container sees the client's path,
  query, headers, Host, the event headers and the operation context;
- {X-Yc-Apigateway-Websocket-Message-Id} filled in an http message call.

The "functions" are tests/integration/backend.py servers answering the
event JSON. Every wait is a liveness bound, never a speed requirement.
"""
import asyncio
import base64
import json
import os
import re
import subprocess
import time

import pytest
import websockets
import websockets.exceptions

import conftest
import wsraw
from backend import H, LIVENESS, backend, backend_factory  # noqa: F401 (fixtures)

SPEC = os.path.join(conftest.ROOT, "tests", "spec", "yc_functions.yaml")
RUNNERS = os.path.join(conftest.ROOT, "tests", "functions")
WAIT = 20.0
FN_CONNECT, FN_MESSAGE, FN_DISCONN = "d4econnect0000000001", "d4emessage0000000001", "d4edisconn0000000001"
FN_ROOM, CONTAINER = "d4eroom0000000000001", "bbacontainer00000001"
GATEWAY = "d5dwsgwtest000000001"


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))


async def recv(ws):
    return await asyncio.wait_for(ws.recv(), WAIT)


def event_of(req):
    return json.loads(req.body)


def function_events(backend, kind=None):
    evs = [event_of(r) for r in backend.requests if r.method == "POST" and r.body.startswith(b"{")]
    return [e for e in evs if kind is None or e["requestContext"]["eventType"] == kind]


def wait_function_events(backend, kind, n):
    backend.wait_for(lambda _: len(function_events(backend, kind)) >= n, LIVENESS,
                     "%d %s function event(s)" % (n, kind))
    return function_events(backend, kind)


def answer(status=200, body=None, headers=None, b64=False):
    out = {"statusCode": status}
    if headers is not None:
        out["headers"] = headers
    if body is not None:
        out["body"] = body
    if b64:
        out["isBase64Encoded"] = True
    return (200, "application/json", json.dumps(out).encode())


def game_function(req):
    """The functions behind /websocket: connect greets, message echoes
    (binary as binary, without a Content-Type), disconnect answers 200."""
    ev = event_of(req)
    kind = ev["requestContext"]["eventType"]
    if kind == "CONNECT":
        return answer(body="hello", headers={"Content-Type": "text/plain"})
    if kind == "MESSAGE" and ev["isBase64Encoded"]:
        return answer(body=ev["body"], b64=True)
    if kind == "MESSAGE":
        return answer(body=json.dumps({"echo": ev["body"]}),
                      headers={"Content-Type": "application/json"})
    return answer()


def mappings(url, room_prod=None, container=None, leave_out=()):
    pairs = [("--function", "%s=%s" % (fid, url)) for fid in (FN_CONNECT, FN_MESSAGE, FN_DISCONN,
                                                               FN_ROOM)]
    pairs += [("--function", "%s:prod=%s" % (FN_ROOM, room_prod or url)),
              ("--container", "%s=%s" % (CONTAINER, container or url))]
    args = ["--gateway-id", GATEWAY]
    for flag, value in pairs:
        if not any(value.startswith(x) for x in leave_out):
            args += [flag, value]
    return args


CLF = re.compile(r"\d{1,2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000")
RC_KEYS = {"identity", "httpMethod", "requestId", "requestTime", "requestTimeEpoch",
           "connectionId", "connectedAt", "eventType"}


def check_common(ev, cid, kind, method, ua):
    rc = ev["requestContext"]
    assert rc["connectionId"] == cid and rc["eventType"] == kind and rc["httpMethod"] == method
    assert rc["identity"] == {"sourceIp": "127.0.0.1", "userAgent": ua}, rc
    assert isinstance(rc["connectedAt"], int) and abs(rc["connectedAt"] / 1000 - time.time()) < 600
    assert CLF.fullmatch(rc["requestTime"]), rc["requestTime"]
    assert isinstance(rc["requestTimeEpoch"], int) and rc["requestTimeEpoch"] >= rc["connectedAt"] // 1000
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                        rc["requestId"]), rc
    h, mh = ev["headers"], ev["multiValueHeaders"]
    assert list(h) == sorted(h) and set(h) == set(mh), (h, mh)
    assert all(mh[k][-1] == v for k, v in h.items()), (h, mh)
    assert h[H + "Connection-Id"] == cid and h[H + "Event-Type"] == kind
    assert h[H + "Connected-At"] == str(rc["connectedAt"])
    assert h["X-Request-Id"] == rc["requestId"] and h["X-Serverless-Gateway-Id"] == GATEWAY
    assert h["X-Forwarded-For"] == "127.0.0.1" and h["User-Agent"] == ua
    for gone in ("Sec-Websocket-Key", "Sec-Websocket-Version", "Connection", "Upgrade"):
        assert gone not in h, (gone, h)
    return rc, h


# ---- the game's shape, payload format 0.1 -----------------------------------------------


def test_game_events_format_0_1_and_answers_applied(wsgw_factory, backend):
    backend.on(None, respond=game_function)
    s = wsgw_factory(["--spec", SPEC, "--close-timeout", "2s"] + mappings(backend.url("/fn")))
    hdrs = {"Cookie": "AUTH=k1; other=2", "x-custom-thing": "v1", "User-Agent": "game/1.0"}

    async def go():
        async with websockets.connect(s.url + "/websocket?a=1&a=2&b=x%20y", extra_headers=hdrs,
                                      user_agent_header=None) as ws:
            cid = ws.response_headers[H + "Connection-Id"]
            assert await recv(ws) == "hello"  # the connect's body: the first message
            await ws.send("hi")
            assert json.loads(await recv(ws)) == {"echo": "hi"}
            await ws.send(b"\x00\xffbin")
            got = await recv(ws)
            assert got == b"\x00\xffbin" and isinstance(got, bytes)  # no Content-Type: binary
            await ws.close(4000, "bye")
            return cid

    cid = run(go())
    (c,) = wait_function_events(backend, "CONNECT", 1)
    m_text, m_bin = wait_function_events(backend, "MESSAGE", 2)
    (d,) = wait_function_events(backend, "DISCONNECT", 1)
    ua = "game/1.0"

    assert set(c) == {"httpMethod", "url", "path", "headers", "multiValueHeaders",
                      "queryStringParameters", "multiValueQueryStringParameters", "requestContext",
                      "pathParams", "params", "multiValueParams"}, sorted(c)
    assert c["httpMethod"] == "GET" and c["url"] == "/websocket" and c["path"] == "/websocket"
    assert c["queryStringParameters"] == {"a": "2", "b": "x y"}
    assert c["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": ["x y"]}
    assert c["pathParams"] == {} and c["params"] == {} and c["multiValueParams"] == {}
    rc, h = check_common(c, cid, "CONNECT", "GET", ua)
    assert set(rc) == RC_KEYS, sorted(rc)
    assert h["Cookie"] == "AUTH=k1; other=2" and h["X-Custom-Thing"] == "v1"  # canonical names
    assert h["X-Api-Gateway-Function-Id"] == FN_CONNECT

    assert set(m_text) == {"url", "path", "headers", "multiValueHeaders", "requestContext", "body",
                           "isBase64Encoded", "pathParams", "params", "multiValueParams"}, sorted(m_text)
    assert m_text["body"] == "hi" and m_text["isBase64Encoded"] is False
    rc, h = check_common(m_text, cid, "MESSAGE", "POST", ua)
    assert set(rc) == RC_KEYS | {"messageId"}, sorted(rc)
    assert h[H + "Message-Id"] == rc["messageId"] and re.fullmatch(r"[0-9a-f]{24}", rc["messageId"])
    assert h["Content-Type"] == "application/json" and h["Content-Length"] == "2"
    assert h["Cookie"] == "AUTH=k1; other=2"  # the handshake's headers on every event
    assert m_bin["isBase64Encoded"] is True and base64.b64decode(m_bin["body"]) == b"\x00\xffbin"
    rc2, h = check_common(m_bin, cid, "MESSAGE", "POST", ua)
    assert h["Content-Type"] == "application/octet-stream" and rc2["messageId"] > rc["messageId"]

    assert set(d) == {"url", "path", "headers", "multiValueHeaders", "requestContext",
                      "pathParams", "params", "multiValueParams"}, sorted(d)
    rc, h = check_common(d, cid, "DISCONNECT", "DELETE", ua)
    assert set(rc) == RC_KEYS | {"disconnectStatusCode", "disconnectReason"}, sorted(rc)
    assert rc["disconnectStatusCode"] == 4000 and rc["disconnectReason"] == "bye"
    assert h[H + "Disconnect-Status-Code"] == "4000" and h[H + "Disconnect-Reason"] == "bye"
    assert h["X-Api-Gateway-Function-Id"] == FN_DISCONN

    # the POST itself: JSON, with the request id and the gateway's id
    posts = [r for r in backend.requests if r.method == "POST"]
    assert len(posts) == 4 and all(r.path == "/fn" for r in posts)
    for r in posts:
        ev = event_of(r)
        assert r.header("Content-Type") == "application/json"
        assert r.header("X-Request-Id") == ev["requestContext"]["requestId"]
        assert r.header("X-Serverless-Gateway-Id") == GATEWAY
        assert r.header("X-Function-Tag") == "$latest"
        assert not r.has_header(H + "Event-Type")  # the event travels in the body
    assert len({event_of(r)["requestContext"]["requestId"] for r in posts}) == 4


# ---- payload format 1.0, context, parameters, tags ---------------------------------------


def test_format_1_0_context_parameters_and_tags(wsgw_factory, backend_factory):
    latest, prod = backend_factory(), backend_factory()
    for b in (latest, prod):
        b.on(None, respond=lambda req: answer(body="ok", headers={"Content-Type": "text/plain"}))
    s = wsgw_factory(["--spec", SPEC, "--close-timeout", "2s"]
                     + mappings(latest.url("/"), room_prod=prod.url("/prod")))

    async def go():
        async with websockets.connect(s.url + "/v1/r%201?token=t%20k&x=1",
                                      extra_headers={"Cookie": "sess=s1; a=b"}) as ws:
            cid = ws.response_headers[H + "Connection-Id"]
            assert await recv(ws) == "ok"
            await ws.send("m1")
            assert await recv(ws) == "ok"
            return cid

    cid = run(go())
    (c,) = wait_function_events(latest, "CONNECT", 1)
    (d,) = wait_function_events(latest, "DISCONNECT", 1)
    (m,) = wait_function_events(prod, "MESSAGE", 1)  # tag prod: its own mapping
    assert not function_events(latest, "MESSAGE") and not function_events(prod, "CONNECT")
    assert set(c) == {"httpMethod", "resource", "path", "pathParameters", "headers",
                      "multiValueHeaders", "queryStringParameters",
                      "multiValueQueryStringParameters", "requestContext", "parameters",
                      "multiValueParameters", "operationId"}, sorted(c)
    assert c["resource"] == "/v1/{room}" and c["path"] == "/v1/r%201"
    assert c["pathParameters"] == {"room": "r%201"}
    assert c["parameters"] == {"room": "r%201", "token": "t k", "sess": "s1"}, c["parameters"]
    assert c["multiValueParameters"] == {"room": ["r%201"], "token": ["t k"], "sess": ["s1"]}
    assert c["operationId"] == "joinRoom"
    assert c["queryStringParameters"] == {"token": "t k", "x": "1"}
    rc = c["requestContext"]
    assert rc["apiGateway"] == {"operationContext": {
        "room": "r%201", "token": "t k", "limit": 5,
        "nested": {"ok": True, "none": None, "list": [1, "two"]}}}, rc
    assert set(m) == {"resource", "path", "pathParameters", "headers", "multiValueHeaders", "body",
                      "isBase64Encoded", "requestContext", "parameters", "multiValueParameters",
                      "operationId"}, sorted(m)
    assert re.fullmatch(r"[0-9a-f]{64}", m["operationId"])  # none in the spec: a stable stand-in
    mrc = m["requestContext"]
    assert mrc["apiGateway"]["operationContext"] == {"room": "r%201", "msg": mrc["messageId"]}
    assert set(d) == {"resource", "path", "pathParameters", "headers", "multiValueHeaders",
                      "requestContext", "parameters", "multiValueParameters", "operationId"}
    assert d["requestContext"]["connectionId"] == cid
    assert "disconnectReason" not in d["requestContext"]  # empty: left out, as in the sample
    (pm,) = [r for r in prod.requests if r.method == "POST"]
    assert pm.path == "/prod" and pm.header("X-Function-Tag") == "prod"


# ---- answers applied --------------------------------------------------------------------


def test_connect_refusal_and_broken_answers(wsgw_factory, backend):
    def fn(req):
        ev = event_of(req)
        q = ev.get("queryStringParameters") or {}
        mode = q.get("mode")
        if ev["requestContext"]["eventType"] != "CONNECT":
            if ev.get("body") == "bad64":
                return answer(body="!!!not base64", b64=True)
            return answer(body="fine", headers={"Content-Type": "text/plain"})
        if mode == "refuse":
            return answer(403, "go away", {"Content-Type": "text/plain", "X-Why": "test"})
        if mode == "string-status":
            return (200, "application/json", b'{"statusCode": "200"}')
        if mode == "not-json":
            return (200, "application/json", b"<html>")
        if mode == "throw":
            return (502, "application/json", b'{"errorMessage":"boom","errorType":"Error"}')
        return answer()

    backend.on(None, respond=fn)
    s = wsgw_factory(["--spec", SPEC, "--close-timeout", "2s"] + mappings(backend.url("/")))

    def refused(mode):
        with wsraw.Conn(s.port) as c:
            c.send(wsraw.request_bytes(path="/websocket?mode=" + mode))
            return c.read_http_response()

    status, headers, body = refused("refuse")
    assert (status, body, headers.get("x-why")) == (403, b"go away", "test"), (status, headers)
    assert headers["content-type"] == "text/plain"
    for mode in ("string-status", "not-json"):
        status, _, body = refused(mode)
        assert status == 502, (mode, status, body)
    status, _, body = refused("throw")  # the runner's error answer passes on
    assert status == 502 and json.loads(body)["errorMessage"] == "boom"
    log = s.read_log()
    assert "statusCode is not an integer" in log and "not JSON" in log, log

    async def go():
        async with websockets.connect(s.url + "/websocket") as ws:
            await ws.send("x")
            assert await recv(ws) == "fine"
            await ws.send("bad64")
            with pytest.raises(websockets.exceptions.ConnectionClosedError) as e:
                await recv(ws)
            assert e.value.code == 1011

    run(go())
    assert "isBase64Encoded, but the body is not base64" in s.read_log()


# ---- refused at start ---------------------------------------------------------------------


def run_wsgw(*args):
    p = subprocess.run([conftest.WSGW_BIN] + list(args), capture_output=True, timeout=LIVENESS,
                       env=dict(os.environ, ASAN_OPTIONS="detect_leaks=1:exitcode=66"))
    out = p.stdout.decode() + p.stderr.decode()
    for mark in conftest.SANITIZER_MARKS:
        assert mark not in out, out
    return p.returncode, out


def test_unmapped_function_or_container_refused_with_its_line():
    url = "http://127.0.0.1:9/"
    full = mappings(url)
    code, out = run_wsgw("--check-spec", SPEC, *full)
    assert code == 0, out
    assert "cloud_functions %s tag $latest, payload 0.1 (line 12)" % FN_CONNECT in out, out
    assert "function %s:prod -> %s" % (FN_ROOM, url) in out, out
    assert "container %s -> %s" % (CONTAINER, url) in out, out
    # without the message function's mapping: its function_id line (20)
    less = mappings(url, leave_out=[FN_MESSAGE])
    for mode in ("--check-spec", "--spec"):
        extra = [] if mode == "--check-spec" else ["--listen", "127.0.0.1:0", "--mgmt-listen",
                                                   "127.0.0.1:0"]
        code, out = run_wsgw(mode, SPEC, *(less + extra))
        assert code == 2, out
        assert "%s:20:" % SPEC in out and FN_MESSAGE in out and "--function" in out, out
        assert "WebSocket on" not in out
    # the prod tag alone unmapped: the message's tag line
    less = mappings(url, leave_out=[FN_ROOM]) + ["--function", FN_ROOM + ":$latest=" + url]
    code, out = run_wsgw("--check-spec", SPEC, *less)
    assert code == 2 and "%s:47:" % SPEC in out and "tag prod" in out, out
    less = mappings(url, leave_out=[CONTAINER])
    code, out = run_wsgw("--check-spec", SPEC, *less)
    assert code == 2 and "%s:60:" % SPEC in out and "--container" in out, out


# ---- the runners -----------------------------------------------------------------------------


@pytest.fixture
def runner(tmp_path):
    procs = []

    def start(cmd):
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        procs.append(p)
        line = p.stdout.readline()
        m = re.fullmatch(r"listening on (\d+)\n", line)
        assert m, "runner did not start: %r" % line
        return "http://127.0.0.1:%s/" % m.group(1)

    yield start
    for p in procs:
        p.terminate()
        p.wait(10)


@pytest.mark.parametrize("lang", ["node", "python"])
def test_runner_serves_a_real_handler(wsgw_factory, runner, lang):
    if lang == "node":
        url = runner(["node", os.path.join(RUNNERS, "runner.js"),
                      os.path.join(RUNNERS, "examples", "chat.js")])
    else:
        url = runner(["/usr/bin/python3", os.path.join(RUNNERS, "runner.py"),
                      os.path.join(RUNNERS, "examples", "chat.py")])
    s = wsgw_factory(["--spec", SPEC, "--close-timeout", "2s"] + mappings(url))

    async def go():
        async with websockets.connect(s.url + "/websocket") as ws:
            cid = ws.response_headers[H + "Connection-Id"]
            assert await recv(ws) == "welcome " + cid
            await ws.send("hello")
            got = json.loads(await recv(ws))
            assert got["lang"] == lang and got["got"] == "hello" and got["fn"] == FN_MESSAGE, got
            assert re.fullmatch(r"[0-9a-f]{24}", got["id"])
            await ws.send(b"\x01\x02\x03")
            assert await recv(ws) == b"\x03\x02\x01"
            await ws.send("throw")  # the handler throws: the runner's 502, close 1011
            with pytest.raises(websockets.exceptions.ConnectionClosedError) as e:
                await recv(ws)
            assert e.value.code == 1011
        with pytest.raises(websockets.exceptions.InvalidStatusCode) as e:
            async with websockets.connect(s.url + "/websocket?token=bad"):
                pass
        assert e.value.status_code == 401

    run(go())


# ---- serverless_containers ---------------------------------------------------------------------


def test_container_sees_path_headers_host_and_context(wsgw_factory, backend):
    backend.on("CONNECT", status=200, content_type="text/plain", body=b"hi from container")
    backend.on("MESSAGE", status=200, content_type="application/json", body=lambda r: r.body)
    s = wsgw_factory(["--spec", SPEC, "--close-timeout", "2s"]
                     + mappings("http://127.0.0.1:9/", container=backend.url("/base/")))

    async def go():
        async with websockets.connect(s.url + "/box/a/b?q=1&r=2",
                                      extra_headers={"X-Custom": "c1", "Cookie": "k=v"}) as ws:
            cid = ws.response_headers[H + "Connection-Id"]
            assert await recv(ws) == "hi from container"
            await ws.send("ping")
            assert await recv(ws) == "ping"
            return cid

    cid = run(go())
    backend.wait_events("DISCONNECT", 1)
    (c,) = backend.events("CONNECT")
    (m,) = backend.events("MESSAGE")
    (d,) = backend.events("DISCONNECT")
    host = "127.0.0.1:%d" % s.port
    for r in (c, m, d):
        assert r.path == "/base/box/a/b" and r.query == "q=1&r=2", r.target
        assert r.header("Host") == host  # the gateway's host, not the container's
        assert r.header("X-Custom") == "c1" and r.header("Cookie") == "k=v"
        assert r.header(H + "Connection-Id") == cid
        assert not r.has_header("Sec-WebSocket-Key")
    assert c.method == "GET" and m.method == "POST" and d.method == "POST"
    ctx = json.loads(base64.b64decode(c.header("X-Yc-ApiGateway-Operation-Context")))
    assert ctx == {"where": "a/b", "who": cid}
    assert not m.has_header("X-Yc-ApiGateway-Operation-Context")  # no context on that operation
    assert m.body == b"ping" and m.header("Content-Type") == "application/json"
    assert re.fullmatch(r"[0-9a-f]{24}", m.header(H + "Message-Id"))
    assert d.header(H + "Disconnect-Status-Code") == "1000"


# ---- {X-Yc-Apigateway-Websocket-Message-Id} in an http message call ------------------------------


def test_http_message_id_placeholder(wsgw_factory, backend, tmp_path):
    spec = tmp_path / "mid.yaml"
    spec.write_text("""openapi: 3.0.0
info: {title: mid, version: '1'}
paths:
  /m:
    x-yc-apigateway-websocket-message:
      x-yc-apigateway-integration:
        type: http
        url: %s/msg/{X-Yc-Apigateway-Websocket-Message-Id}
        query: {mid: '{X-Yc-Apigateway-Websocket-Message-Id}'}
        headers:
          X-Mid: 'id={X-Yc-Apigateway-Websocket-Message-Id};c={X-Yc-Apigateway-Websocket-Connection-Id}'
""" % backend.url("").rstrip("/"))
    backend.on("MESSAGE", status=200, content_type="text/plain", body=b"ok")
    s = wsgw_factory(["--spec", str(spec), "--close-timeout", "2s"])

    async def go():
        async with websockets.connect(s.url + "/m") as ws:
            for _ in range(2):
                await ws.send("x")
                assert await recv(ws) == "ok"
            return ws.response_headers[H + "Connection-Id"]

    cid = run(go())
    ms = backend.events("MESSAGE")
    assert len(ms) == 2
    for m in ms:
        mid = m.header(H + "Message-Id")
        assert m.path == "/msg/" + mid and m.query_params["mid"] == [mid], m.target
        assert m.header("X-Mid") == "id=%s;c=%s" % (mid, cid)
    assert ms[0].header(H + "Message-Id") != ms[1].header(H + "Message-Id")


# ---- {placeholders} in a function's tag and context; --check-spec warnings ------------------

TAG_SPEC = """openapi: 3.0.0
info: {title: tag, version: '1'}
paths:
  /t/{room}:
    parameters:
      - {name: ver, in: query}
    x-yc-apigateway-websocket-connect:
      x-yc-apigateway-integration:
        type: cloud_functions
        function_id: d4etag00000000000001
        tag: '{ver}'
        context: {room: '{room}', mid: '{X-Yc-Apigateway-Websocket-Message-Id}'}
    x-yc-apigateway-websocket-message:
      x-yc-apigateway-integration:
        type: cloud_functions
        function_id: d4etag00000000000001
        tag: '{ver}'
        context: {room: '{room}', ver: '{ver}', never: '{nosuch}'}
"""


def test_tag_and_context_placeholders(wsgw_factory, backend_factory, tmp_path):
    """tag: '{ver}' picks the --function mapping of the tag the client's
    query names (an unmapped one: 502 at the handshake); the context's
    placeholders are filled; a placeholder nothing can fill, in a context,
    is warned about at start and in --check-spec, with its line."""
    spec = tmp_path / "tag.yaml"
    spec.write_text(TAG_SPEC)
    fid = "d4etag00000000000001"
    v1, v2 = backend_factory(), backend_factory()
    for b in (v1, v2):
        b.on(None, respond=lambda req: answer(body="ok", headers={"Content-Type": "text/plain"}))
    maps = ["--function", fid + ":v1=" + v1.url("/v1"), "--function", fid + ":v2=" + v2.url("/v2")]
    code, out = run_wsgw("--check-spec", str(spec), *maps)
    assert code == 0, out
    assert "    connect: cloud_functions %s tag {ver}, payload 0.1 (line 8)" % fid in out, out
    assert "        {ver} <- query parameter" in out, out
    warn_mid = ("%s:8: path \"/t/{room}\": x-yc-apigateway-websocket-connect: placeholder "
                "{X-Yc-Apigateway-Websocket-Message-Id} is never filled here" % spec)
    warn_nosuch = ("%s:14: path \"/t/{room}\": x-yc-apigateway-websocket-message: placeholder "
                   "{nosuch} is not a parameter of this operation" % spec)
    assert warn_mid in out and warn_nosuch in out, out
    s = wsgw_factory(["--spec", str(spec), "--close-timeout", "2s"] + maps)
    log = s.read_log()
    assert warn_mid in log and warn_nosuch in log, log

    async def go(ver):
        async with websockets.connect(s.url + "/t/r1?ver=" + ver) as ws:
            assert await recv(ws) == "ok"
            await ws.send("m")
            assert await recv(ws) == "ok"

    run(go("v1"))
    run(go("v2"))
    for b, ver in ((v1, "v1"), (v2, "v2")):
        (c,) = wait_function_events(b, "CONNECT", 1)
        (m,) = wait_function_events(b, "MESSAGE", 1)
        assert c["requestContext"]["apiGateway"]["operationContext"] == {
            "room": "r1", "mid": "{X-Yc-Apigateway-Websocket-Message-Id}"}
        assert m["requestContext"]["apiGateway"]["operationContext"] == {
            "room": "r1", "ver": ver, "never": "{nosuch}"}
        posts = [r for r in b.requests if r.method == "POST"]
        assert {r.path for r in posts} == {"/" + ver}
        assert {r.header("X-Function-Tag") for r in posts} == {ver}
    with wsraw.Conn(s.port) as c:  # a tag no mapping serves
        c.send(wsraw.request_bytes(path="/t/r1?ver=v3"))
        assert c.read_http_response(timeout=LIVENESS)[0] == 502
    assert 'function %s tag "v3" has no --function mapping' % fid in s.read_log()


# ---- a message function answering 4xx / 5xx (the cloud's behaviour is not public) -----------


@pytest.mark.parametrize("error_message", [False, True])
def test_message_answer_4xx_delivered_5xx_fails(wsgw_factory, backend, error_message):
    """wsgw's choice: a 4xx answer's body is the client's message like any
    other; a 5xx fails the message: close 1011, or with
    --integration-error-message the error message and the connection stays."""
    def fn(req):
        ev = event_of(req)
        if ev["requestContext"]["eventType"] != "MESSAGE":
            return answer()
        if ev["body"] == "4xx":
            return answer(404, "nope", {"Content-Type": "text/plain"})
        if ev["body"] == "5xx":
            return answer(500, '{"error": "boom"}', {"Content-Type": "application/json"})
        return answer(body="fine", headers={"Content-Type": "text/plain"})

    backend.on(None, respond=fn)
    s = wsgw_factory(["--spec", SPEC, "--close-timeout", "2s"] + mappings(backend.url("/"))
                     + (["--integration-error-message"] if error_message else []))

    async def go():
        async with websockets.connect(s.url + "/websocket") as ws:
            await ws.send("4xx")
            assert await recv(ws) == "nope"
            await ws.send("x")
            assert await recv(ws) == "fine"
            await ws.send("5xx")
            if error_message:
                assert json.loads(await recv(ws)) == {"error": "message integration failed"}
                await ws.send("x")
                assert await recv(ws) == "fine"
            else:
                with pytest.raises(websockets.exceptions.ConnectionClosedError) as e:
                    await recv(ws)
                assert e.value.code == 1011

    run(go())
