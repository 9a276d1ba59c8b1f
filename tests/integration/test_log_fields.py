"""Structured log fields (README: Logging).

A line about a connection, a route, a refused handshake, a backend or a
management request carries conn, route, status, code, backend, request_id:
as JSON members with --log-format json; in text, conn leads the message as
"conn ID: " (the wording text lines always had) and the others follow it as
key=value. backend is only scheme://host:port (the path and query may carry
client data or secrets). Nothing is logged per message at info.

Seen failing with the fields left out of log_msgf's output (every field
test red) and with the origin cut removed (LF_ORIGIN printing the whole
URL: the backend assertions red).
"""
import http.client
import json
import re
import time

import pytest
import yaml

import wsraw
from backend import H, backend, backend_factory, free_port  # noqa: F401 (fixtures)

WAIT = 20.0  # liveness bound, never a figure
PREFIX = "/apigateways/websocket/v1/connections/"


def write_spec(tmp_path, paths):
    doc = {"openapi": "3.0.0", "info": {"title": "log", "version": "1"}, "paths": paths}
    p = tmp_path / "api.yaml"
    p.write_text(yaml.dump(doc, sort_keys=False))
    return str(p)


def integ(url):
    return {"x-yc-apigateway-integration": {"type": "http", "url": url}}


def lines_of(srv, fmt):
    text = srv.read_log()
    lines = [ln for ln in text.split("\n") if ln]
    if fmt == "json":
        return [json.loads(ln) for ln in lines]
    out = []
    for ln in lines:
        # '<time> <level> [conn ID: ]<msg> key=value key="quoted value" ...' -> dict
        m = re.match(r"^(\S+) (\S+) (?:conn (\S+): )?(.*)$", ln)
        fields = dict(re.findall(r' (route|status|code|backend|request_id)=("(?:[^"\\]|\\.)*"|\S+)',
                                 m.group(4)))
        fields = {k: (json.loads(v) if v.startswith('"') else v) for k, v in fields.items()}
        for k in ("status", "code"):
            if k in fields:
                fields[k] = int(fields[k])
        if m.group(3):
            fields["conn"] = m.group(3)
        fields.update(time=m.group(1), level=m.group(2), msg=m.group(4))
        out.append(fields)
    return out


def wait_line(srv, fmt, pred, what):
    deadline = time.monotonic() + WAIT
    while True:
        hits = [ln for ln in lines_of(srv, fmt) if pred(ln)]
        if hits:
            return hits[0]
        assert time.monotonic() < deadline, "no %s line in:\n%s" % (what, srv.read_log()[-3000:])
        time.sleep(0.02)


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_fields(wsgw_factory, tmp_path, free_port, fmt):  # noqa: F811
    dead = "http://127.0.0.1:%d/secret/path?token=abc" % free_port
    spec = write_spec(tmp_path, {
        "/ok/{room}": {"x-yc-apigateway-websocket-message": {
            "x-yc-apigateway-integration": {"type": "echo"}}},
        "/dead": {"x-yc-apigateway-websocket-message": integ(dead)},
    })
    srv = wsgw_factory(["--spec", spec, "--log-format", fmt, "--log-level", "debug",
                        "--close-timeout", "2s"])
    # a connection: its lines carry its id, the upgrade line its route
    c = wsraw.connect(srv.port, path="/ok/lobby", timeout=WAIT)
    cid = c.response_headers[(H + "Connection-Id").lower()]
    c.close_handshake(1000, WAIT)
    up = wait_line(srv, fmt, lambda ln: ln.get("conn") == cid and ln.get("route"), "upgrade")
    assert up["route"] == "/ok/{room}", up
    closed = wait_line(srv, fmt, lambda ln: ln.get("conn") == cid and "code" in ln, "close")
    assert closed["code"] == 1000 and "closed with 1000" in closed["msg"], closed
    # a refused handshake: its status
    r = wsraw.Conn(srv.port)
    r.send(wsraw.request_bytes(path="/nowhere"))
    assert r.read_http_response(WAIT)[0] == 404
    r.close()
    ref = wait_line(srv, fmt, lambda ln: ln.get("status") == 404 and "handshake" in ln["msg"],
                    "refused handshake")
    assert "conn" not in ref, ref  # no id before a route matched
    # a management error: its request id and status
    h = http.client.HTTPConnection("127.0.0.1", srv.mgmt_port, timeout=WAIT)
    h.request("GET", PREFIX + "nosuch")
    resp = h.getresponse()
    resp.read()
    rid = resp.getheader("x-server-request-id")
    h.close()
    api = wait_line(srv, fmt, lambda ln: ln.get("request_id") == rid, "request id")
    assert api["status"] == 404, api
    # a failed integration: conn, route and the backend's origin only
    d = wsraw.connect(srv.port, path="/dead", timeout=WAIT)
    did = d.response_headers[(H + "Connection-Id").lower()]
    d.send_text("x")
    assert d.recv_close(WAIT, skip_data=True)[0] == 1011
    d.close()
    bad = wait_line(srv, fmt, lambda ln: ln.get("conn") == did and "backend" in ln,
                    "integration failure")
    assert bad["level"] == "warn" and "message integration failed" in bad["msg"], bad
    assert bad["backend"] == "http://127.0.0.1:%d" % free_port, bad
    assert bad["route"] == "/dead", bad
    assert "secret" not in srv.read_log() and "token=abc" not in srv.read_log()
    if fmt == "text":  # "conn ID: " first, as before fields; the others after the message
        raw = [ln for ln in srv.read_log().split("\n") if did in ln and "backend=" in ln][0]
        assert re.search(r" warn conn %s: message integration failed: .* route=/dead "
                         r"backend=http://127\.0\.0\.1:%d$" % (did, free_port), raw), raw


def test_nothing_per_message_at_info(wsgw_factory, tmp_path, backend):  # noqa: F811
    backend.on("MESSAGE", content_type="text/plain", body=lambda req: req.body)
    spec = write_spec(tmp_path, {
        "/echo": {"x-yc-apigateway-websocket-message": {
            "x-yc-apigateway-integration": {"type": "echo"}}},
        "/http": {"x-yc-apigateway-websocket-message": integ(backend.url("/m"))},
    })
    for fmt in ("text", "json"):
        srv = wsgw_factory(["--spec", spec, "--log-format", fmt])
        conns = [wsraw.connect(srv.port, path=p, timeout=WAIT) for p in ("/echo", "/http")]
        time.sleep(0.2)
        before = srv.read_log()
        for i in range(200):
            for c in conns:
                assert c.echo(wsraw.OP_TEXT, b"m%d" % i) == (wsraw.OP_TEXT, b"m%d" % i)
        time.sleep(0.2)
        assert srv.read_log() == before, srv.read_log()[len(before):][:2000]
        for c in conns:
            c.close_handshake(1000, WAIT)
