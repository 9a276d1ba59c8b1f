"""Yandex Cloud API Gateway specs run unchanged (issue 13, first slice;
shared/spec/YANDEX-FIDELITY.md §2): the specs under tests/spec/yc_*.yaml
driven end to end with real WebSocket clients.

- the official tutorial's shape: a dummy reply carrying the client's own
  connection id from a {X-Yc-Apigateway-Websocket-Connection-Id} placeholder;
- an http integration with header, query and cookie placeholders: the
  backend sees each gateway header once, with the real value;
- variables (defaults, --var, WSGW_VAR_NAME, enum), $ref integrations and
  parameters, a $ref cycle refused;
- trailing slashes, a greedy parameter mid-path, a server-push path, and
  one warning for each extension wsgw ignores;
- --check-spec naming what fills each placeholder.

The backend is tests/integration/backend.py. Every wait is a liveness
bound, never a speed requirement.
"""
import asyncio
import json
import os
import re
import subprocess
import urllib.request

import websockets
import websockets.exceptions

import conftest
from backend import H, LIVENESS, backend, backend_factory  # noqa: F401 (fixtures)

SPEC_DIR = os.path.join(conftest.ROOT, "tests", "spec")
WAIT = 20.0


def spec(name):
    return os.path.join(SPEC_DIR, name)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))


def run_wsgw(*args, env=None):
    e = dict(os.environ)
    e.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=66")
    if env:
        e.update(env)
    p = subprocess.run([conftest.WSGW_BIN] + list(args), capture_output=True, timeout=LIVENESS,
                       env=e)
    out = p.stdout.decode() + p.stderr.decode()
    for mark in conftest.SANITIZER_MARKS:
        assert mark not in out, out
    return p.returncode, out


def cid_of(ws):
    return ws.response_headers[H + "Connection-Id"]


async def recv(ws):
    return await asyncio.wait_for(ws.recv(), WAIT)


# ---- the tutorial: dummy reply with the connection id ----------------------------------


def test_tutorial_dummy_replies_with_the_clients_own_id(wsgw_factory):
    s = wsgw_factory(["--spec", spec("yc_tutorial.yaml")])

    async def go():
        async with websockets.connect(s.url + "/connections") as a, \
                websockets.connect(s.url + "/connections") as b:
            seen = {}
            for ws in (a, b, a):
                await ws.send("ping")
                got = json.loads(await recv(ws))
                assert got["connection_id"] == cid_of(ws), got
                assert re.fullmatch(r"[0-9a-f]{24}", got["message_id"]), got
                seen.setdefault(cid_of(ws), []).append(got["message_id"])
            assert cid_of(a) != cid_of(b)
            ids = seen[cid_of(a)]
            assert len(set(ids)) == 2 and ids == sorted(ids), ids  # unique, in time order

    run(go())


# ---- http integration: header placeholders, each gateway header once --------------------


def test_http_placeholders_and_gateway_headers_once(wsgw_factory, backend):
    backend.on("MESSAGE", status=200, content_type="text/plain", body=b"ok")
    s = wsgw_factory(["--spec", spec("yc_http_headers.yaml"), "--close-timeout", "2s",
                      "--var", "backend=" + backend.url("").rstrip("/")])
    headers = {"X-Client": "c1", "Cookie": "other=2; sess=s%201"}

    async def go():
        async with websockets.connect(s.url + "/tunnel/r1?token=abc%20d&x=1",
                                      extra_headers=headers, origin="http://o.example") as ws:
            await ws.send("hi")
            assert await recv(ws) == "ok"
            return cid_of(ws)

    cid = run(go())
    backend.wait_events("DISCONNECT", 1)
    (c,) = backend.events("CONNECT")
    # each gateway header once (Request.header fails on a doubled one), real value
    assert c.header(H + "Connection-Id") == cid
    assert c.header(H + "Event-Type") == "CONNECT"  # the spec's hard-coded MESSAGE replaced
    assert c.path == "/connect/r1" and c.query_params["t"] == ["abc d"], c.target
    assert c.header("X-Room") == "r1"
    assert c.header("X-Token") == "abc d"  # query parameter, percent-decoded
    assert c.header("X-Sess") == "s 1"  # cookie parameter
    assert c.header("X-Client-Copy") == "c1"  # header parameter
    (m,) = backend.events("MESSAGE")
    assert m.header(H + "Connection-Id") == cid
    assert m.header(H + "Event-Type") == "MESSAGE"
    assert m.header("Content-Type") == "application/json"  # the gateway's, once
    assert m.header("X-Origin-Copy") == "http://o.example"  # undeclared: a handshake header
    assert m.query_params["cid"] == [cid] and m.query_params["t"] == ["abc d"], m.target
    assert m.body == b"hi"
    (d,) = backend.events("DISCONNECT")
    assert d.header(H + "Connection-Id") == cid
    assert d.header(H + "Event-Type") == "DISCONNECT"
    assert d.header("X-Conn") == cid


def test_declared_parameter_the_request_lacks_is_empty(wsgw_factory, backend):
    s = wsgw_factory(["--spec", spec("yc_http_headers.yaml"), "--close-timeout", "2s",
                      "--var", "backend=" + backend.url("").rstrip("/")])

    async def go():
        async with websockets.connect(s.url + "/tunnel/r2"):
            pass

    run(go())
    backend.wait_events("DISCONNECT", 1)
    (c,) = backend.events("CONNECT")
    assert c.header("X-Token") == "" and c.header("X-Sess") == ""
    assert c.query_params.get("t", [""]) == [""], c.target
    assert "{" not in c.target


# ---- variables and $ref -------------------------------------------------------------------


def first_and_reply(s, path="/v/r1?who=bob"):
    async def go():
        async with websockets.connect(s.url + path) as ws:
            first = await recv(ws)
            await ws.send("x")
            return first, await recv(ws)

    return run(go())


def test_variables_defaults_flag_env_and_ref(wsgw_factory):
    s = wsgw_factory(["--spec", spec("yc_vars_ref.yaml")])
    assert first_and_reply(s) == ("hello r1!", "reply to bob in r1")
    s = wsgw_factory(["--spec", spec("yc_vars_ref.yaml"), "--var", "greeting=hi",
                      "--var", "suffix=?"])
    assert first_and_reply(s) == ("hi r1?", "reply to bob in r1")
    s = wsgw_factory(["--spec", spec("yc_vars_ref.yaml")], env={"WSGW_VAR_greeting": "hey"})
    assert first_and_reply(s)[0] == "hey r1!"
    # a flag beats the environment; a variable inside a $ref string
    s = wsgw_factory(["--spec", spec("yc_vars_ref.yaml"), "--var", "greeting=hi",
                      "--var", "target=other"], env={"WSGW_VAR_greeting": "hey"})
    assert first_and_reply(s) == ("hi r1!", "other hi")


def test_variable_outside_enum_or_unknown_is_refused():
    path = spec("yc_vars_ref.yaml")
    for args, env, word in ((["--var", "greeting=bye"], None, '"bye"'),
                            ([], {"WSGW_VAR_greeting": "bye"}, '"bye"'),
                            (["--var", "nosuch=1"], None, "nosuch")):
        for mode in (["--check-spec", path],
                     ["--spec", path, "--listen", "127.0.0.1:0", "--mgmt-listen", "127.0.0.1:0"]):
            code, out = run_wsgw(*(mode + args), env=env)
            assert code == 2, out
            assert re.search(re.escape(path) + r":\d+: ", out), out
            assert word in out, out
            assert "WebSocket on" not in out, out
    code, out = run_wsgw("--check-spec", path, "--var", "greeting=bye")
    assert 'variable "greeting": value "bye" is not one of its enum' in out, out


def test_ref_cycle_is_refused_with_its_line():
    path = spec("yc_ref_cycle.yaml")
    for mode in (["--check-spec", path],
                 ["--spec", path, "--listen", "127.0.0.1:0", "--mgmt-listen", "127.0.0.1:0"]):
        code, out = run_wsgw(*mode)
        assert code == 2, out
        assert "%s:8: $ref cycle: " % path in out, out
        assert "integrations/a\" -> " in out and "integrations/b\" -> " in out, out


# ---- smaller gaps -----------------------------------------------------------------------


def test_extensions_warned_once_each_and_routes_work(wsgw_factory):
    s = wsgw_factory(["--spec", spec("yc_extensions.yaml")])

    async def go():
        out = []
        for path in ("/room/abc/", "/room/abc", "/files/a/b/meta", "/files/a/b/meta/"):
            async with websockets.connect(s.url + path) as ws:
                await ws.send("x")
                out.append(await recv(ws))
        return out

    assert run(go()) == ["room abc", "room abc", "meta of a/b", "meta of a/b"]
    log = s.read_log()
    for name in ('top-level "x-yc-apigateway-cors"', 'top-level "x-yc-apigateway-rate-limit"',
                 'top-level "x-yc-apigateway-validator"', 'x-yc-apigateway: "cors"',
                 'x-yc-apigateway: "rateLimit"'):
        assert log.count(name + " is ignored by wsgw") == 1, (name, log)
    assert "service_account_id" not in log, log  # accepted silently: meaningless locally


def test_push_only_path_sends_and_refuses_client_messages(wsgw_factory):
    s = wsgw_factory(["--spec", spec("yc_extensions.yaml")])

    async def go():
        async with websockets.connect(s.url + "/push") as ws:
            cid = cid_of(ws)
            req = urllib.request.Request(
                "http://127.0.0.1:%d/apigateways/websocket/v1/connections/%s:send"
                % (s.mgmt_port, cid),
                data=json.dumps({"data": "cHVzaA==", "type": "TEXT"}).encode(), method="POST")
            await asyncio.to_thread(lambda: urllib.request.urlopen(req, timeout=WAIT).read())
            assert await recv(ws) == "push"
            await ws.send("from the client")
            try:
                await recv(ws)
                raise AssertionError("the connection stayed open")
            except websockets.exceptions.ConnectionClosed as e:
                assert e.rcvd is not None and e.rcvd.code == 1003, e

    run(go())


# ---- --check-spec -----------------------------------------------------------------------


def test_check_spec_names_what_fills_each_placeholder():
    path = spec("yc_http_headers.yaml")
    code, out = run_wsgw("--check-spec", path)
    assert code == 0, out
    for line in ("  /tunnel/{room} (line 15): connect http, message http, disconnect http",
                 "    connect: http GET http://127.0.0.1:9/connect/{room}?t={token} (line 21)",
                 "        {room} <- path parameter",
                 "        {token} <- query parameter",
                 "        {sess} <- cookie parameter",
                 "        {X-Client} <- header parameter",
                 "        {X-Yc-Apigateway-Websocket-Connection-Id} <- the connection's id",
                 "        header X-Yc-Apigateway-Websocket-Event-Type: sent once, with the "
                 "gateway's own value",
                 "        header Content-Type: sent once, with the gateway's own value",
                 "        {Origin} <- the client's handshake header of that name, if any; else "
                 "as written"):
        assert line in out.splitlines(), (line, out)
    assert re.search(re.escape(path) + r":33: .*placeholder \{Origin\} is not a parameter", out), out
    code, out = run_wsgw("--check-spec", spec("yc_tutorial.yaml"))
    assert "{X-Yc-Apigateway-Websocket-Connection-Id} <- the connection's id" in out, out
    code, out = run_wsgw("--check-spec", spec("yc_extensions.yaml"))
    assert "    message: none: a server-push path; a client message is answered with close 1003" \
        in out, out
    assert out.count("is ignored by wsgw") == 5, out
