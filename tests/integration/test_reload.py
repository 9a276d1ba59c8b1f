"""SIGHUP reload (README: Reload).

- the spec is re-read: new connections use the new routes (a path gone:
  404; a path whose integration changed: the new backend), while a
  connection opened before the reload keeps its route and integration
  settings until it closes: its messages and its disconnect event go to
  the OLD backend
- a spec that fails to load is refused with a log line; the running routes
  stay; so does a token file that fails (all or nothing)
- --auth-token-file: rotated on SIGHUP (old token 401, new one accepted);
  empty or missing file refused at start (exit 2) and on SIGHUP (old token
  still accepted); --auth-token with --auth-token-file refused
- without --spec a SIGHUP only re-reads the token file; during a drain it
  is ignored, with a line
- a disconnect event waiting for its retry keeps the old spec (its method
  and timeouts) after the connection is gone and the server moved on
- churn: many reloads with connections opening, talking and closing in
  between, some held across several reloads (under ASan: no leak, no
  use-after-free; the fixture checks the log and the exit code)

Seen failing on deliberate breaks: with reload_on_sighup not swapping the
spec (routes unchanged after SIGHUP), without the spec_hold of a
connection in accept_upgrade (ASan heap-use-after-free in the churn test
and in the old-connection test), with the token not copied on reload, and
without the spec_hold of a disconnect event (ASan heap-use-after-free in
method_of when the retry runs after the reload).
"""
import http.client
import os
import signal
import subprocess
import time

import yaml

import wsraw
from backend import H, backend_factory  # noqa: F401 (fixture)
from conftest import WSGW_BIN

WAIT = 20.0  # liveness bound, never a figure
PREFIX = "/apigateways/websocket/v1/connections/"


class _NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data):
        return True


def http_integ(url):
    return {"x-yc-apigateway-integration": {"type": "http", "url": url}}


def echo():
    return {"x-yc-apigateway-integration": {"type": "echo"}}


def ws_route(message, disconnect=None):
    r = {"x-yc-apigateway-websocket-message": message}
    if disconnect is not None:
        r["x-yc-apigateway-websocket-disconnect"] = disconnect
    return r


def backed(b):
    """Messages and disconnects to backend b."""
    return ws_route(http_integ(b.url("/message")), disconnect=http_integ(b.url("/disconnect")))


def write_spec(path, paths):
    doc = {"openapi": "3.0.0", "info": {"title": "reload", "version": "1"}, "paths": paths}
    tmp = str(path) + ".tmp"
    with open(tmp, "w") as f:
        f.write(yaml.dump(doc, Dumper=_NoAliases, sort_keys=False))
    os.replace(tmp, str(path))  # as a ConfigMap update does: never a half-written file


def wait_log(srv, text, count=1):
    deadline = time.monotonic() + WAIT
    while srv.read_log().count(text) < count:
        assert time.monotonic() < deadline, "%r (x%d) never logged:\n%s" % (
            text, count, srv.read_log()[-3000:])
        time.sleep(0.02)


def hup(srv, expect, count=1):
    """SIGHUP, then wait for the count-th line containing expect."""
    srv.proc.send_signal(signal.SIGHUP)
    wait_log(srv, expect, count)


def refused_status(port, path):
    c = wsraw.Conn(port)
    try:
        c.send(wsraw.request_bytes(path=path))
        status, _, _ = c.read_http_response(WAIT)
        return status
    finally:
        c.close()


def conn_id(c):
    return c.response_headers[(H + "Connection-Id").lower()]


def tagged(tag):
    """Backend answers a message with tag + its body."""
    return lambda req: tag + req.body


def test_new_routes_old_connection_keeps_its_integration(wsgw_factory, backend_factory, tmp_path):
    old, new = backend_factory(), backend_factory()
    old.on("MESSAGE", content_type="text/plain", body=tagged(b"old:"))
    new.on("MESSAGE", content_type="text/plain", body=tagged(b"new:"))
    spec = tmp_path / "api.yaml"
    write_spec(spec, {"/a": backed(old), "/gone": ws_route(echo())})
    srv = wsgw_factory(["--spec", str(spec), "--close-timeout", "2s"])
    held = wsraw.connect(srv.port, path="/a", timeout=WAIT)
    held_id = conn_id(held)
    assert held.echo(wsraw.OP_TEXT, b"1") == (wsraw.OP_TEXT, b"old:1")

    # /a now goes to the new backend, /gone is gone, /b is new
    write_spec(spec, {"/a": backed(new), "/b": ws_route(echo())})
    hup(srv, "SIGHUP: reloaded spec %s: 2 WebSocket route(s)" % spec)

    with wsraw.connect(srv.port, path="/b", timeout=WAIT) as b:
        assert b.echo(wsraw.OP_TEXT, b"hi") == (wsraw.OP_TEXT, b"hi")
    assert refused_status(srv.port, "/gone") == 404
    fresh = wsraw.connect(srv.port, path="/a", timeout=WAIT)
    assert fresh.echo(wsraw.OP_TEXT, b"2") == (wsraw.OP_TEXT, b"new:2")

    # the connection from before the reload: still the old backend
    assert held.echo(wsraw.OP_TEXT, b"3") == (wsraw.OP_TEXT, b"old:3")
    held.close_handshake(1000, WAIT)
    old.wait_events("DISCONNECT", 1, conn_id=held_id)
    assert [r.body for r in old.events("MESSAGE", held_id)] == [b"1", b"3"]
    assert not new.events(conn_id=held_id)
    fresh_id = conn_id(fresh)
    fresh.close_handshake(1000, WAIT)
    new.wait_events("DISCONNECT", 1, conn_id=fresh_id)
    assert not old.events(conn_id=fresh_id)


def test_broken_spec_refused_old_routes_stay(wsgw_factory, tmp_path):
    spec = tmp_path / "api.yaml"
    write_spec(spec, {"/a": ws_route(echo())})
    srv = wsgw_factory(["--spec", str(spec), "--close-timeout", "2s"])
    spec.write_text("openapi: 3.0.0\npaths: [not, a, mapping\n")
    hup(srv, "SIGHUP: reload refused, the running spec and token stay: --spec %s:" % spec)
    write_spec(spec, {"/a": {"x-yc-apigateway-websocket-message": {
        "x-yc-apigateway-integration": {"type": "cloud_nothing"}}}})
    hup(srv, "SIGHUP: reload refused", 2)
    os.unlink(spec)
    hup(srv, "SIGHUP: reload refused", 3)
    assert "cannot read" in srv.read_log().splitlines()[-1]
    with wsraw.connect(srv.port, path="/a", timeout=WAIT) as c:
        assert c.echo(wsraw.OP_TEXT, b"still") == (wsraw.OP_TEXT, b"still")
    assert srv.proc.poll() is None


def rest_status(srv, token):
    c = http.client.HTTPConnection("127.0.0.1", srv.mgmt_port, timeout=WAIT)
    try:
        headers = {"authorization": "Bearer " + token} if token is not None else {}
        c.request("GET", PREFIX + "nosuchconnection", headers=headers)
        return c.getresponse().status
    finally:
        c.close()


def test_token_file_rotates_on_sighup(wsgw_factory, tmp_path):
    tok = tmp_path / "token"
    tok.write_text("first-token\n")
    srv = wsgw_factory(["--auth-token-file", str(tok)])
    assert rest_status(srv, "first-token") == 404  # past the token check
    assert rest_status(srv, "second-token") == 401
    assert rest_status(srv, None) == 401
    tok.write_text("second-token\r\n")
    hup(srv, "SIGHUP: reloaded the token from %s" % tok)
    assert rest_status(srv, "first-token") == 401
    assert rest_status(srv, "second-token") == 404
    # a bad file: refused, the running token stays
    for content, why, n in ((b"", "empty", 1), (b"\n", "empty", 2),
                            (b"two words", "space or control", 3), (b"x" * 256, "longer", 4)):
        tok.write_bytes(content)
        hup(srv, "SIGHUP: reload refused", n)
        assert why in srv.read_log().splitlines()[-1]
        assert rest_status(srv, "second-token") == 404
    os.unlink(tok)
    hup(srv, "SIGHUP: reload refused", 5)
    assert "No such file" in srv.read_log().splitlines()[-1]
    assert rest_status(srv, "second-token") == 404
    assert "second-token" not in srv.read_log() and "first-token" not in srv.read_log()


def test_token_file_with_spec_all_or_nothing(wsgw_factory, tmp_path):
    tok, spec = tmp_path / "token", tmp_path / "api.yaml"
    tok.write_text("t1")
    write_spec(spec, {"/a": ws_route(echo())})
    srv = wsgw_factory(["--spec", str(spec), "--auth-token-file", str(tok)])
    # good spec, bad token: neither changes
    write_spec(spec, {"/b": ws_route(echo())})
    tok.write_text("")
    hup(srv, "SIGHUP: reload refused, the running spec and token stay: --auth-token-file")
    assert refused_status(srv.port, "/b") == 404
    assert rest_status(srv, "t1") == 404
    # both good: both change
    tok.write_text("t2")
    hup(srv, "SIGHUP: reloaded spec %s (1 WebSocket route(s)) and the token from %s" % (spec, tok))
    assert refused_status(srv.port, "/a") == 404
    with wsraw.connect(srv.port, path="/b", timeout=WAIT):
        pass
    assert rest_status(srv, "t1") == 401 and rest_status(srv, "t2") == 404


def run_exit(args):
    return subprocess.run([WSGW_BIN, "--listen", "127.0.0.1:0", "--mgmt-listen", "127.0.0.1:0"]
                          + args, capture_output=True, text=True, timeout=60)


def test_token_file_refused_at_start(tmp_path):
    tok = tmp_path / "token"
    tok.write_text("\n")
    r = run_exit(["--auth-token-file", str(tok)])
    assert r.returncode == 2 and "--auth-token-file %s: empty" % tok in r.stderr, r.stderr
    r = run_exit(["--auth-token-file", str(tmp_path / "missing")])
    assert r.returncode == 2 and "No such file" in r.stderr, r.stderr
    tok.write_text("t")
    r = run_exit(["--auth-token-file", str(tok), "--auth-token", "t"])
    assert r.returncode == 2 and "both set" in r.stderr, r.stderr
    env = dict(os.environ, WSGW_AUTH_TOKEN="t", WSGW_AUTH_TOKEN_FILE=str(tok))
    r = subprocess.run([WSGW_BIN], capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 2 and "both set" in r.stderr, r.stderr


def test_sighup_without_spec(wsgw_factory, tmp_path):
    srv = wsgw_factory([])
    hup(srv, "SIGHUP: nothing to reload (no --spec, no --auth-token-file)")
    tok = tmp_path / "token"
    tok.write_text("a")
    srv2 = wsgw_factory(["--auth-token-file", str(tok)])
    tok.write_text("b")
    hup(srv2, "SIGHUP: reloaded the token from %s (no --spec: the echo route stays)" % tok)
    assert rest_status(srv2, "b") == 404
    for s in (srv, srv2):
        with wsraw.connect(s.port, path="/any", timeout=WAIT) as c:
            assert c.echo(wsraw.OP_TEXT, b"e") == (wsraw.OP_TEXT, b"e")


def test_sighup_ignored_while_draining(wsgw_factory, tmp_path):
    spec = tmp_path / "api.yaml"
    write_spec(spec, {"/a": ws_route(echo())})
    srv = wsgw_factory(["--spec", str(spec), "--close-timeout", "30s", "--drain-timeout", "15s"])
    ws = wsraw.connect(srv.port, path="/a", timeout=WAIT)  # never answers the close
    try:
        srv.proc.send_signal(signal.SIGTERM)
        assert ws.recv_close(timeout=WAIT, skip_data=True)[0] == 1001
        hup(srv, "SIGHUP ignored: the gateway is shutting down")
        assert srv.proc.poll() is None, "SIGHUP ended the drain"
        assert "second signal" not in srv.read_log()
    finally:
        ws.close()


def test_reload_churn(wsgw_factory, backend_factory, tmp_path):
    """Reloads with connections opening, talking and closing in between;
    some connections live across several reloads and talk and close on a
    spec that is no longer the server's. ASan checks every access."""
    backs = [backend_factory() for _ in range(2)]
    for i, b in enumerate(backs):
        b.on("MESSAGE", content_type="text/plain", body=tagged(b"%d:" % i))
    spec = tmp_path / "api.yaml"

    def spec_for(gen):
        b = backs[gen % 2]
        return {"/r": backed(b), "/g%d" % gen: ws_route(echo())}

    write_spec(spec, spec_for(0))
    srv = wsgw_factory(["--spec", str(spec), "--close-timeout", "2s"])
    reloads = 50
    held = []  # (conn, generation it was opened on)
    closed = {0: 0, 1: 0}
    for gen in range(1, reloads + 1):
        c = wsraw.connect(srv.port, path="/r", timeout=WAIT)
        tag = b"%d:" % ((gen - 1) % 2)
        assert c.echo(wsraw.OP_TEXT, b"x") == (wsraw.OP_TEXT, tag + b"x")
        held.append((c, gen - 1))
        with wsraw.connect(srv.port, path="/g%d" % (gen - 1), timeout=WAIT) as e:
            assert e.echo(wsraw.OP_BINARY, b"e") == (wsraw.OP_BINARY, b"e")
        write_spec(spec, spec_for(gen))
        hup(srv, "SIGHUP: reloaded spec", gen)
        # the oldest held connection talks on its old spec, then closes
        if len(held) > 3:
            old, og = held.pop(0)
            assert old.echo(wsraw.OP_TEXT, b"y") == (wsraw.OP_TEXT, b"%d:y" % (og % 2))
            if gen % 2:
                old.close_handshake(1000, WAIT)
            else:
                old.close()  # abrupt: 1006 disconnect
            closed[og % 2] += 1
    for b, n in zip(backs, (closed[0], closed[1])):
        b.wait_events("DISCONNECT", n)
    for c, _ in held:
        c.close()
    assert srv.proc.poll() is None


def test_disconnect_retry_outlives_its_spec(wsgw_factory, backend_factory, tmp_path):
    """A disconnect event waiting to be retried holds the spec its
    integration is in: the connection is gone and the server has moved to
    a new spec before the retry reads the old settings (method, timeouts)."""
    b = backend_factory()
    calls = []

    def answer(req):
        calls.append(req)
        return (503 if len(calls) <= 3 else 200), "text/plain", b""

    b.on("DISCONNECT", respond=answer)
    spec = tmp_path / "api.yaml"
    write_spec(spec, {"/a": ws_route(echo(), disconnect=http_integ(b.url("/old-disconnect")))})
    srv = wsgw_factory(["--spec", str(spec), "--close-timeout", "2s"])
    c = wsraw.connect(srv.port, path="/a", timeout=WAIT)
    cid = conn_id(c)
    c.close_handshake(1000, WAIT)
    b.wait_events("DISCONNECT", 1, conn_id=cid)  # refused with 503: a retry waits
    write_spec(spec, {"/b": ws_route(echo())})
    hup(srv, "SIGHUP: reloaded spec")
    got = b.wait_events("DISCONNECT", 4, conn_id=cid)
    assert [r.path for r in got] == ["/old-disconnect"] * 4
