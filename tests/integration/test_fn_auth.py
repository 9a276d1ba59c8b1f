"""Function authorizers at the WebSocket handshake (issue 13;
shared/spec/YANDEX-FIDELITY.md §1.1, function-authorizer.md), driven end
to end: tests/spec/yc_fn_auth.yaml (the official game's shape: a top-level
cookie API-key authorizer and a cloud_functions message handler reading
requestContext.authorizer), the authorizer and the handler served by
tests/functions/runner.py from tests/functions/examples/.

- a good credential: 101, and the context reaches the function's
  requestContext.authorizer and an http integration's
  X-Yc-Apigateway-Authorizer-Context;
- cookie, Bearer, Basic and query credentials;
- no credential: 401 without a call; isAuthorized false: 403; the function
  throwing, answering the wrong structure, or too slow: 500;
- authorizer_result_ttl_in_seconds: one call for many handshakes with one
  credential; another credential, another call; path mode shares a
  template's verdict, uri mode does not;
- the request JSON the function receives, field by field;
- an authorizer function without --function: refused at start, its line.
"""
import asyncio
import base64
import json
import os
import re
import subprocess

import pytest
import websockets

import conftest
import wsraw
from backend import LIVENESS, backend, backend_factory  # noqa: F401 (fixtures)

SPEC = os.path.join(conftest.ROOT, "tests", "spec", "yc_fn_auth.yaml")
RUNNERS = os.path.join(conftest.ROOT, "tests", "functions")
FN_AUTH, FN_MESSAGE = "d4eauth0000000000001", "d4emessage0000000001"
CTX = "X-Yc-Apigateway-Authorizer-Context"


@pytest.fixture
def runner():
    procs = []

    def start(handler, env=None):
        p = subprocess.Popen(["/usr/bin/python3", os.path.join(RUNNERS, "runner.py"),
                              os.path.join(RUNNERS, "examples", handler)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env=dict(os.environ, **(env or {})))
        procs.append(p)
        m = re.fullmatch(r"listening on (\d+)\n", p.stdout.readline())
        assert m, "runner did not start"
        return "http://127.0.0.1:%s/" % m.group(1)

    yield start
    for p in procs:
        p.terminate()
        p.wait(10)


@pytest.fixture
def gw(wsgw_factory, runner, backend, tmp_path):
    log = tmp_path / "authz.log"
    log.write_text("")
    auth = runner("authorizer.py", {"AUTHZ_LOG": str(log)})
    msg = runner("game_message.py")
    srv = wsgw_factory(["--spec", SPEC, "--close-timeout", "2s", "--gateway-id", "d5dgw",
                        "--function", FN_AUTH + "=" + auth, "--function", FN_MESSAGE + "=" + msg,
                        "--var", "backend=" + backend.url("").rstrip("/")])
    srv.calls = lambda: [json.loads(x) for x in log.read_text().splitlines()]
    return srv


def status_of(srv, path, headers=()):
    with wsraw.Conn(srv.port) as c:
        c.send(wsraw.request_bytes(path=path, extra_headers=list(headers)))
        st, _, body = c.read_http_response(timeout=LIVENESS)
        return st, body


def cookie(v):
    return ["Cookie: theme=dark; AUTH=" + v]


def test_game_shape_context_reaches_the_function(gw):
    async def go():
        async with websockets.connect(gw.url + "/websocket",
                                      extra_headers={"Cookie": "AUTH=good-alice"}) as ws:
            await ws.send("move")
            got = json.loads(await asyncio.wait_for(ws.recv(), LIVENESS))
            assert got == {"user": "alice", "got": "move"}
    asyncio.run(go())
    assert len(gw.calls()) == 1


def test_statuses(gw):
    assert status_of(gw, "/websocket")[0] == 401  # no cookie: the function is not called
    assert status_of(gw, "/websocket", ["Cookie: other=1"])[0] == 401
    assert status_of(gw, "/room/a")[0] == 401  # no Authorization header
    assert gw.calls() == []
    assert status_of(gw, "/websocket", cookie("nobody"))[0] == 403
    assert status_of(gw, "/websocket", cookie("broken"))[0] == 500
    assert status_of(gw, "/websocket", cookie("raise"))[0] == 500
    assert len(gw.calls()) == 3
    assert status_of(gw, "/public")[0] == 101  # security: [] opts out
    log = gw.read_log()
    assert "isAuthorized is of another type" in log and "answered non-2xx" in log


def test_slow_authorizer_is_500(gw):
    st, body = status_of(gw, "/websocket", cookie("slow"))
    assert st == 500, body


def test_bearer_basic_and_query(gw, backend):
    assert status_of(gw, "/room/a", ["Authorization: Bearer good-bob"])[0] == 101
    assert status_of(gw, "/room/a", ["Authorization: Bearer nope"])[0] == 403
    good = base64.b64encode(b"carol:secret").decode()
    bad = base64.b64encode(b"carol:wrong").decode()
    with wsraw.connect(gw.port, path="/basic", extra_headers=["Authorization: Basic " + good]) as c:
        c.send_text("hi")
        backend.wait_events("MESSAGE", 1)
    for ev in ("CONNECT", "MESSAGE"):
        assert json.loads(backend.events(ev)[0].header(CTX)) == {"userId": "carol", "n": 1}
    assert status_of(gw, "/basic", ["Authorization: Basic " + bad])[0] == 403
    assert status_of(gw, "/uri/x?key=good-dan")[0] == 101
    assert status_of(gw, "/uri/x?key=bad")[0] == 403
    assert status_of(gw, "/uri/x")[0] == 401


def test_caching(gw):
    for _ in range(4):  # the cookie authorizer keeps results 180 s (path mode)
        assert status_of(gw, "/websocket", cookie("good-erin"))[0] == 101
    assert len(gw.calls()) == 1
    assert status_of(gw, "/websocket", cookie("good-frank"))[0] == 101
    assert len(gw.calls()) == 2
    for _ in range(2):  # a denial is kept too
        assert status_of(gw, "/websocket", cookie("nobody"))[0] == 403
    assert len(gw.calls()) == 3
    # path mode: /room/{id} is one template, whatever the id
    for room in ("a", "b", "c"):
        assert status_of(gw, "/room/" + room, ["Authorization: Bearer good-g"])[0] == 101
    assert len(gw.calls()) == 4
    # uri mode: each URI its own key; the query is not part of it
    assert status_of(gw, "/uri/a?key=good-h")[0] == 101
    assert status_of(gw, "/uri/a?key=good-h&x=1")[0] == 101
    assert len(gw.calls()) == 5
    assert status_of(gw, "/uri/b?key=good-h")[0] == 101
    assert len(gw.calls()) == 6
    # a broken answer is never kept
    assert status_of(gw, "/websocket", cookie("broken"))[0] == 500
    assert status_of(gw, "/websocket", cookie("broken"))[0] == 500
    assert len(gw.calls()) == 8
    # Basic without authorizer_result_ttl_in_seconds: a call each time
    good = base64.b64encode(b"ivy:secret").decode()
    for _ in range(2):
        with wsraw.connect(gw.port, path="/basic", extra_headers=["Authorization: Basic " + good]):
            pass
    assert len(gw.calls()) == 10


def test_request_json_field_by_field(gw):
    st, _ = status_of(gw, "/room/r%201?q=1&q=2&w=x%20y",
                      ["Authorization: Bearer good-j", "Cookie: a=1; b=two",
                       "User-Agent: ua/9", "X-Custom: c"])
    assert st == 101
    ev, = gw.calls()
    assert list(ev) == ["resource", "path", "httpMethod", "headers", "queryStringParameters",
                        "pathParameters", "requestContext", "cookies"]
    assert ev["resource"] == "/room/{id}"
    assert ev["path"] == "/room/r%201"
    assert ev["httpMethod"] == "GET"
    h = ev["headers"]
    assert h["Authorization"] == "Bearer good-j"
    assert h["Cookie"] == "a=1; b=two" and h["User-Agent"] == "ua/9" and h["X-Custom"] == "c"
    assert h["X-Forwarded-For"] == "127.0.0.1" and h["X-Forwarded-Proto"] == "http"
    assert h["X-Serverless-Gateway-Id"] == "d5dgw" and h["X-Api-Gateway-Function-Id"] == FN_AUTH
    assert re.fullmatch(r"[0-9a-f-]{36}", h["X-Request-Id"])
    for gone in ("Upgrade", "Connection", "Sec-Websocket-Key", "Sec-Websocket-Version"):
        assert gone not in h
    assert not any(k.startswith("X-Yc-Apigateway-Websocket") for k in h)
    assert ev["queryStringParameters"] == {"q": "2", "w": "x y"}
    assert ev["pathParameters"] == {"id": "r%201"}
    rc = ev["requestContext"]
    assert list(rc) == ["identity", "httpMethod", "requestId", "requestTime", "requestTimeEpoch"]
    assert rc["identity"] == {"sourceIp": "127.0.0.1", "userAgent": "ua/9"}
    assert rc["httpMethod"] == "GET" and rc["requestId"] == h["X-Request-Id"]
    assert ev["cookies"] == {"a": "1", "b": "two"}


def test_unmapped_authorizer_function_refused_at_start(tmp_path):
    r = subprocess.run([conftest.WSGW_BIN, "--spec", SPEC, "--function", FN_MESSAGE + "=http://127.0.0.1:9/"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    line = [i + 1 for i, t in enumerate(open(SPEC).read().splitlines())
            if "x-yc-apigateway-authorizer:" in t][0]
    assert "yc_fn_auth.yaml:%d: authorizer cooikeAuth: function %s" % (line, FN_AUTH) in r.stderr, \
        r.stderr
    out = subprocess.run([conftest.WSGW_BIN, "--check-spec", SPEC, "--function", FN_MESSAGE + "=http://127.0.0.1:9/",
                          "--function", FN_AUTH + "=http://127.0.0.1:9/"], capture_output=True, text=True, timeout=30)
    assert "function " + FN_AUTH in out.stdout, out.stdout + out.stderr
    assert "not yet supported" not in out.stdout + out.stderr


def test_handshake_timeout_while_the_authorizer_runs(wsgw_factory, runner, tmp_path):
    """The handshake times out (408) while the function runs: the call is
    detached, its late answer touches nothing (ASan), nothing more is sent;
    a SIGHUP meanwhile frees nothing the call still needs."""
    import signal
    import time
    log = tmp_path / "authz.log"
    log.write_text("")
    auth = runner("authorizer.py", {"AUTHZ_LOG": str(log)})
    srv = wsgw_factory(["--spec", SPEC, "--close-timeout", "2s", "--handshake-timeout", "1s",
                        "--function", FN_AUTH + "=" + auth,
                        "--function", FN_MESSAGE + "=http://127.0.0.1:9/"])
    with wsraw.Conn(srv.port) as c:
        c.send(wsraw.request_bytes(path="/websocket", extra_headers=cookie("slow")))
        time.sleep(0.3)
        srv.proc.send_signal(signal.SIGHUP)
        assert c.read_http_response(timeout=LIVENESS)[0] == 408
        time.sleep(7.5)  # the function's answer arrives, unheard
        assert c.unread_bytes() == 0
    assert status_of(srv, "/websocket", cookie("good-k"))[0] == 101
    assert "SIGHUP: reloaded spec" in srv.read_log()
