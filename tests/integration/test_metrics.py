"""GET /metrics (README: Metrics): the Prometheus text exposition format on
the management port, and counters that move as the traffic says.

- content type `text/plain; version=0.0.4; charset=utf-8`, over HTTP/1.1
  and HTTP/2, HEAD with no body; public unless --metrics-token is set, and
  then only that token opens it (--auth-token is neither needed nor
  enough there)
- `promtool check metrics` (Debian's prometheus package, the binary taken
  from the .deb by `make build/tools/promtool`) passes on real output taken
  after WebSocket, management and integration traffic
- N clients: open gauge N, accepted and upgraded +N; M messages: messages
  and wire bytes in and out exactly; closes by who and code; refusals by
  reason; API calls by transport, method and code with their histogram
  count; Send refused on a full queue and the queued-bytes gauge; backend
  calls by event and outcome, with histograms, per-backend in-flight and
  waiting gauges, disconnect events delivered; process_* figures

Every wait is a liveness bound, never a figure.
"""
import json
import os
import re
import socket
import subprocess
import threading
import time

import grpc
import pytest
import yaml

import conftest
import grpc_stubs
import wsraw
from backend import H, backend, backend_factory  # noqa: F401 (fixtures)
from wsraw import OP_TEXT

WAIT = 20.0
CT = "text/plain; version=0.0.4; charset=utf-8"
PROMTOOL = os.path.join(conftest.ROOT, "build", "tools", "promtool")
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')


def curl(port, path="/metrics", *args, h2=False):
    """(status, headers text, body) of one request with curl."""
    cmd = ["curl", "-sS", "-m", str(WAIT)] + ([] if "-I" in args else ["-D", "-"])
    cmd += ["--http2-prior-knowledge"] if h2 else ["--http1.1"]
    cmd += list(args) + ["http://127.0.0.1:%d%s" % (port, path)]
    out = subprocess.run(cmd, capture_output=True, timeout=WAIT + 5, check=True).stdout.decode()
    head, _, body = out.partition("\r\n\r\n")
    return int(head.split()[1]), head, body


def parse(text):
    """{(name, ((label, value), ...)): float} of every sample; asserts that
    each line is a comment or a well-formed sample."""
    out = {}
    for line in text.split("\n"):
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        labels = tuple(sorted(LABEL.findall(m.group(2) or "")))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def scrape(srv, *args, h2=False):
    st, head, body = curl(srv.mgmt_port, "/metrics", *args, h2=h2)
    assert st == 200, (st, body)
    assert re.search(r"(?im)^content-type: text/plain; version=0\.0\.4; charset=utf-8\r?$", head), head
    return parse(body)


def val(m, name, **labels):
    return m.get((name, tuple(sorted(labels.items()))), 0.0)


def wait_metric(srv, pred, what):
    deadline = time.monotonic() + WAIT
    while True:
        m = scrape(srv)
        if pred(m):
            return m
        assert time.monotonic() < deadline, "metrics never showed %s" % what
        time.sleep(0.05)


def promtool_check(text):
    if not os.path.exists(PROMTOOL):
        why = PROMTOOL + ".unavailable"
        reason = open(why).read().strip() if os.path.exists(why) else "not built"
        pytest.skip("promtool: %s (make build/tools/promtool)" % reason)
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(), capture_output=True,
                       timeout=WAIT)
    assert p.returncode == 0, "promtool check metrics:\n%s\n%s" % (
        (p.stdout + p.stderr).decode(), text)


def write_spec(tmp_path, paths):
    doc = {"openapi": "3.0.0", "info": {"title": "m", "version": "1"}, "paths": paths}
    p = tmp_path / "spec.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(p)


def http(url):
    return {"x-yc-apigateway-integration": {"type": "http", "url": url}}


# -- the endpoint ----------------------------------------------------------------

def test_content_type_head_h2(wsgw):
    for h2 in (False, True):
        st, head, body = curl(wsgw.mgmt_port, h2=h2)
        assert st == 200
        assert "content-type: %s" % CT in head.lower(), head
        assert "# TYPE wsgw_connections_open gauge\n" in body
        assert re.search(r'(?m)^wsgw_build_info\{version="[^"]+",commit="[^"]+"\} 1$', body), body
        st, head, body = curl(wsgw.mgmt_port, "/metrics", "-I", h2=h2)
        assert st == 200 and body == "", (st, body)
        assert "content-type: %s" % CT in head.lower(), head
        st, head, _ = curl(wsgw.mgmt_port, "/metrics", "-X", "POST", h2=h2)
        assert st == 405 and re.search(r"(?im)^allow: GET, HEAD\r?$", head), head


def test_build_info_matches_version(wsgw):
    out = subprocess.run([conftest.WSGW_BIN, "--version"], capture_output=True, timeout=WAIT,
                         check=True).stdout.decode()
    version, commit = re.match(r"wsgw (\S+) \(commit (\S+)\)", out).groups()
    m = scrape(wsgw)
    assert val(m, "wsgw_build_info", version=version, commit=commit) == 1, m


def test_metrics_token(wsgw_factory):
    srv = wsgw_factory(["--metrics-token", "m3tr1cs", "--auth-token", "ap1"])
    for h2 in (False, True):
        for auth in ([], ["-H", "authorization: Bearer ap1"], ["-H", "authorization: Bearer m3tr1c"]):
            st, head, body = curl(srv.mgmt_port, "/metrics", *auth, h2=h2)
            assert st == 401, (auth, st, body)
            assert re.search(r"(?im)^www-authenticate: Bearer\r?$", head), head
            assert json.loads(body)["code"] == 16
        st, head, body = curl(srv.mgmt_port, "/metrics", "-H", "authorization: Bearer m3tr1cs",
                              h2=h2)
        assert st == 200 and "wsgw_connections_open 0\n" in body, (st, body)
        st, _, body = curl(srv.mgmt_port, "/metrics", "-I", "-H",
                           "authorization: Bearer m3tr1cs", h2=h2)
        assert st == 200 and body == ""
        # the metrics token opens nothing else
        st, _, _ = curl(srv.mgmt_port, "/apigateways/websocket/v1/connections/x", "-H",
                        "authorization: Bearer m3tr1cs", h2=h2)
        assert st == 401


def test_metrics_token_env_and_auth_token_not_needed(wsgw_factory):
    srv = wsgw_factory(["--auth-token", "ap1"], env={"WSGW_METRICS_TOKEN": "e"})
    assert curl(srv.mgmt_port)[0] == 401
    assert curl(srv.mgmt_port, "/metrics", "-H", "authorization: Bearer e")[0] == 200
    srv2 = wsgw_factory(["--auth-token", "ap1"])  # no metrics token: public
    assert curl(srv2.mgmt_port)[0] == 200
    assert curl(srv2.mgmt_port, h2=True)[0] == 200


# -- the WebSocket port --------------------------------------------------------------

def test_connections_messages_bytes_closes(wsgw, grpc_client):
    n, msgs = 5, 7
    before = scrape(wsgw)
    conns = [wsraw.connect(wsgw.port) for _ in range(n)]
    try:
        m = scrape(wsgw)
        assert val(m, "wsgw_connections_open") == n
        assert val(m, "wsgw_connections_current") == n
        for name in ("wsgw_connections_accepted_total", "wsgw_connections_upgraded_total"):
            assert val(m, name) - val(before, name) == n, name
        # M messages from each client, echoed: exact counts and wire bytes
        wire_in = wire_out = 0
        for c in conns:
            for i in range(msgs):
                payload = ("m%03d" % i) * (i + 1)
                frame = wsraw.encode_frame(OP_TEXT, payload.encode())
                c.send(frame)
                assert c.recv_message(timeout=WAIT) == (OP_TEXT, payload.encode())
                wire_in += len(frame)
                wire_out += 2 + len(payload)
        m2 = scrape(wsgw)
        assert val(m2, "wsgw_messages_received_total") - val(m, "wsgw_messages_received_total") == n * msgs
        assert val(m2, "wsgw_messages_sent_total") - val(m, "wsgw_messages_sent_total") == n * msgs
        assert val(m2, "wsgw_received_bytes_total") - val(m, "wsgw_received_bytes_total") == wire_in
        assert val(m2, "wsgw_sent_bytes_total") - val(m, "wsgw_sent_bytes_total") == wire_out
        # closes: two clients close 1000, one 4001, one vanishes (1006), one by the API
        conns[0].close_handshake(1000, timeout=WAIT)
        conns[1].close_handshake(1000, timeout=WAIT)
        conns[2].close_handshake(4001, timeout=WAIT)
        conns[3].close()
        cid = conns[4].response_headers[H.lower() + "connection-id"]
        grpc_client(wsgw).disconnect(cid)
        assert conns[4].recv_close(timeout=WAIT)[0] == 1000
        conns[4].send_close(1000)
        m3 = wait_metric(wsgw, lambda m: val(m, "wsgw_connections_current") == 0, "every close")
        closed = {(dict(lb)["by"], dict(lb)["code"]): v for (name, lb), v in m3.items()
                  if name == "wsgw_connections_closed_total"}
        assert closed == {("client", "1000"): 2, ("client", "4xxx"): 1, ("client", "1006"): 1,
                          ("server", "1000"): 1}, closed
        assert val(m3, "wsgw_connections_open") == 0
    finally:
        for c in conns:
            c.close()


def test_refusals_by_reason(wsgw_factory):
    srv = wsgw_factory(["--max-connections", "1", "--close-timeout", "2s"])
    held = wsraw.connect(srv.port)
    try:
        c = wsraw.Conn(srv.port)  # over the cap: 503
        c.send(wsraw.request_bytes())
        assert c.read_http_response(timeout=WAIT)[0] == 503
        c.close()
        c = wsraw.Conn(srv.port)  # not an upgrade: 400
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert c.read_http_response(timeout=WAIT)[0] in (400, 426)
        c.close()
        m = scrape(srv)
        assert val(m, "wsgw_connections_refused_total", reason="max_connections") == 1, m
        assert val(m, "wsgw_connections_refused_total", reason="bad_request") == 1
        assert val(m, "wsgw_connections_refused_total", reason="draining") == 0
        assert val(m, "wsgw_connections_upgraded_total") == 1
        assert val(m, "wsgw_connections_accepted_total") == 3
        # refused connections are never counted as closes
        m = wait_metric(srv, lambda m: val(m, "wsgw_connections_current") == 1, "the refused gone")
        assert not [k for k in m if k[0] == "wsgw_connections_closed_total"], m
    finally:
        held.close()


# -- the management API ---------------------------------------------------------------

def test_api_calls_and_queue(wsgw_factory, grpc_client):
    srv = wsgw_factory(["--max-out-queue", "64K", "--close-timeout", "2s"])
    client = grpc_client(srv)
    reader = wsraw.connect(srv.port)
    # a client that never reads: its queue fills
    stuck = wsraw.Conn(srv.port, timeout=WAIT)
    stuck.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.handshake()
    try:
        rid = reader.response_headers[H.lower() + "connection-id"]
        sid = stuck.response_headers[H.lower() + "connection-id"]
        for _ in range(3):
            client.send(rid, b"hello", type=2)
            assert reader.recv_message(timeout=WAIT) == (OP_TEXT, b"hello")
        client.get(rid)
        with pytest.raises(grpc.RpcError) as e:
            client.get("nope")
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
        st, _, _ = curl(srv.mgmt_port, "/apigateways/websocket/v1/connections/%s:send" % rid,
                        "-X", "POST", "-d", '{"data": "aGk=", "type": "TEXT"}')
        assert st == 200
        assert curl(srv.mgmt_port, "/apigateways/websocket/v1/connections/nope", h2=True)[0] == 404
        curl(srv.mgmt_port, "/healthz")  # probes and scrapes are not API calls
        exhausted = 0
        for _ in range(400):
            try:
                client.send(sid, b"x" * 16384)
            except grpc.RpcError as err:
                assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                exhausted += 1
                if exhausted == 2:
                    break
        assert exhausted == 2
        m = scrape(srv)
        assert val(m, "wsgw_api_requests_total", transport="grpc", method="Send", code="OK") >= 4
        assert val(m, "wsgw_api_requests_total", transport="grpc", method="Send",
                   code="RESOURCE_EXHAUSTED") == 2
        assert val(m, "wsgw_api_requests_total", transport="grpc", method="Get", code="OK") == 1
        assert val(m, "wsgw_api_requests_total", transport="grpc", method="Get",
                   code="NOT_FOUND") == 1
        assert val(m, "wsgw_api_requests_total", transport="rest", method="Send", code="OK") == 1
        assert val(m, "wsgw_api_requests_total", transport="rest", method="Get",
                   code="NOT_FOUND") == 1
        assert not [k for k in m if k[0] == "wsgw_api_requests_total"
                    and dict(k[1])["method"] not in ("Get", "Send")], m
        sends = sum(v for (name, lb), v in m.items() if name == "wsgw_api_requests_total"
                    and dict(lb)["method"] == "Send" and dict(lb)["transport"] == "grpc")
        count = val(m, "wsgw_api_request_duration_seconds_count", transport="grpc", method="Send")
        assert count == sends
        assert val(m, "wsgw_api_request_duration_seconds_bucket", transport="grpc", method="Send",
                   le="+Inf") == count
        assert val(m, "wsgw_api_request_duration_seconds_count", transport="rest", method="Get") == 1
        assert val(m, "wsgw_send_queue_full_total") == 2
        queued = val(m, "wsgw_outbound_queued_bytes")
        assert 32 * 1024 < queued <= 64 * 1024 + 16400, queued
        stuck.close()  # its queue goes with it
        wait_metric(srv, lambda m: val(m, "wsgw_outbound_queued_bytes") == 0, "the queue freed")
    finally:
        reader.close()
        stuck.close()


# -- integrations ----------------------------------------------------------------------

def test_integration_calls(wsgw_factory, backend, tmp_path):
    b = backend
    gate = threading.Event()
    b.on("CONNECT", status=200)
    b.on("MESSAGE", body=lambda req: req.body, gate=gate)
    b.on("DISCONNECT", status=200)
    spec = write_spec(tmp_path, {
        "/ok": {"x-yc-apigateway-websocket-connect": http(b.url("/connect")),
                "x-yc-apigateway-websocket-message": http(b.url("/message")),
                "x-yc-apigateway-websocket-disconnect": http(b.url("/disconnect"))},
        "/no": {"x-yc-apigateway-websocket-connect": http(b.url("/refuse")),
                "x-yc-apigateway-websocket-message": http(b.url("/message"))},
        "/tpl/{h}": {"x-yc-apigateway-websocket-message": http("http://{h}:1/x")},
    })
    srv = wsgw_factory(["--spec", spec, "--close-timeout", "2s", "--backend-connections", "1"])
    label = "http://127.0.0.1:%d" % b.port
    m = scrape(srv)
    # the spec's backend has its gauges from the start; a placeholder host has none
    assert ("wsgw_backend_calls_in_flight", (("backend", label),)) in m, m
    assert val(m, "wsgw_backend_calls_waiting", backend=label) == 0
    assert not [k for k in m if k[0] == "wsgw_backend_calls_in_flight" and "{" in str(k)]
    c1 = wsraw.connect(srv.port, path="/ok")
    c2 = wsraw.connect(srv.port, path="/ok")
    try:
        c1.send_text("one")
        c2.send_text("two")
        b.wait_events("MESSAGE", 1)
        # one call inside (--backend-connections 1), the other waiting
        m = wait_metric(srv, lambda m: val(m, "wsgw_backend_calls_waiting", backend=label) == 1,
                        "a waiting call")
        assert val(m, "wsgw_backend_calls_in_flight", backend=label) == 1
        gate.set()
        assert c1.recv_message(timeout=WAIT)[1] == b"one"
        assert c2.recv_message(timeout=WAIT)[1] == b"two"
        c1.close_handshake(1000, timeout=WAIT)
        b.on("CONNECT", status=403, body=b"no")
        r = wsraw.Conn(srv.port)
        r.send(wsraw.request_bytes(path="/no"))
        assert r.read_http_response(timeout=WAIT)[0] == 403
        r.close()
        m = wait_metric(srv, lambda m: val(m, "wsgw_disconnect_events_total",
                                           outcome="delivered") == 1, "the disconnect delivered")
    finally:
        c1.close()
        c2.close()
    assert val(m, "wsgw_integration_calls_total", event="connect", outcome="2xx") == 2
    assert val(m, "wsgw_integration_calls_total", event="connect", outcome="4xx") == 1
    assert val(m, "wsgw_integration_calls_total", event="message", outcome="2xx") == 2
    assert val(m, "wsgw_integration_calls_total", event="disconnect", outcome="2xx") == 1
    for ev, n in (("connect", 3), ("message", 2), ("disconnect", 1)):
        assert val(m, "wsgw_integration_call_duration_seconds_count", event=ev) == n, ev
        assert val(m, "wsgw_integration_call_duration_seconds_bucket", event=ev, le="+Inf") == n
    # the gated message call waited: its time is in the histogram's sum
    assert val(m, "wsgw_integration_call_duration_seconds_sum", event="message") > 0.01
    assert val(m, "wsgw_connections_refused_total", reason="connect_integration") == 1
    assert val(m, "wsgw_disconnect_events_pending") == 0
    assert val(m, "wsgw_backend_calls_in_flight", backend=label) == 0
    assert not [k for k in m if "user" in str(k) or "/ok" in str(k)], "a path in a label"
    # every family passes promtool on this real output, after all the traffic above
    st, _, body = curl(srv.mgmt_port)
    promtool_check(body)


def test_promtool_after_traffic(wsgw, grpc_client):
    """The output after WebSocket traffic, closes, a refusal and API calls
    (histograms with data) passes promtool check metrics."""
    c = wsraw.connect(wsgw.port)
    cid = c.response_headers[H.lower() + "connection-id"]
    client = grpc_client(wsgw)
    client.send(cid, b"x")
    assert c.recv_message(timeout=WAIT)[1] == b"x"
    client.get(cid)
    c.echo(OP_TEXT, b"hi", timeout=WAIT)
    c.close_handshake(1001, timeout=WAIT)
    r = wsraw.Conn(wsgw.port)
    r.send(wsraw.request_bytes(path="/", version="8"))
    r.read_http_response(timeout=WAIT)
    r.close()
    st, _, body = curl(wsgw.mgmt_port)
    assert "wsgw_api_request_duration_seconds_bucket{" in body
    assert 'wsgw_connections_closed_total{by="client",code="1001"} 1' in body
    promtool_check(body)


def test_process_metrics(wsgw):
    m = scrape(wsgw)
    with open("/proc/%d/status" % wsgw.proc.pid) as f:
        rss_kib = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
    assert 0.5 * rss_kib * 1024 < val(m, "process_resident_memory_bytes") < 2 * rss_kib * 1024
    assert val(m, "process_virtual_memory_bytes") > val(m, "process_resident_memory_bytes")
    assert 5 <= val(m, "process_open_fds") < 100
    assert val(m, "process_max_fds") >= val(m, "process_open_fds")
    assert abs(val(m, "process_start_time_seconds") - time.time()) < 120
    assert val(m, "process_cpu_seconds_total") >= 0
    assert ("process_cpu_seconds_total", ()) in m


# -- wsgw.v1: methods by name, fan-out, groups ---------------------------------------

GW = {
    "ListConnections": ("ListConnectionsRequest", "ListConnectionsResponse"),
    "CountConnections": ("CountConnectionsRequest", "CountConnectionsResponse"),
    "SendToConnections": ("SendToConnectionsRequest", "SendToConnectionsResponse"),
    "CloseConnection": ("CloseConnectionRequest", "CloseConnectionResponse"),
    "JoinGroup": ("GroupMembershipRequest", "GroupMembershipResponse"),
    "LeaveGroup": ("GroupMembershipRequest", "GroupMembershipResponse"),
    "SendToGroup": ("SendToGroupRequest", "FanoutResponse"),
    "Broadcast": ("BroadcastRequest", "FanoutResponse"),
}


def test_gateway_service_methods_and_fanout(wsgw_factory, gw_pb):
    """Every wsgw.v1 call is counted under its own method over gRPC and
    REST (never "other"); sends to many count delivered and skipped per
    call; the groups and memberships gauges follow joins, leaves and
    closes; promtool accepts the output."""
    srv = wsgw_factory(["--max-out-queue", "64K", "--close-timeout", "2s"])
    ch = grpc.insecure_channel("127.0.0.1:%d" % srv.mgmt_port, options=[("grpc.enable_http_proxy", 0)])

    def call(method, **kw):
        req, resp = GW[method]
        return ch.unary_unary("/wsgw.v1.GatewayService/" + method,
                              request_serializer=getattr(gw_pb, req).SerializeToString,
                              response_deserializer=getattr(gw_pb, resp).FromString)(
                                  getattr(gw_pb, req)(**kw), timeout=WAIT)

    def rest(method, path, body=None):
        args = ["-X", method] + (["-d", json.dumps(body)] if body is not None else [])
        st, _, out = curl(srv.mgmt_port, "/wsgw/v1/" + path, *args)
        assert st == 200, (path, st, out)
        return json.loads(out)

    conns = [wsraw.connect(srv.port) for _ in range(4)]
    stuck = wsraw.Conn(srv.port, timeout=WAIT)
    stuck.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.handshake()
    try:
        ids = [c.response_headers[H.lower() + "connection-id"] for c in conns]
        sid = stuck.response_headers[H.lower() + "connection-id"]
        m0 = scrape(srv)
        assert val(m0, "wsgw_groups") == 0 and val(m0, "wsgw_group_memberships") == 0
        for c in ("SendToGroup", "Broadcast"):
            assert ("wsgw_fanout_in_progress", (("call", c),)) in m0, c
        # fill the stuck client's queue: SendToConnections reports it skipped
        skipped_many = 0
        for _ in range(400):
            r = call("SendToConnections", connection_ids=[sid], data=b"x" * 16384)
            if r.results[0].code == 8:
                skipped_many = 1
                break
        assert skipped_many
        m1 = scrape(srv)
        many_ok = val(m1, "wsgw_fanout_delivered_total", call="SendToConnections")
        assert val(m1, "wsgw_fanout_skipped_total", call="SendToConnections") == 1
        # each call once over gRPC ...
        call("ListConnections", page_size=10)
        call("CountConnections")
        r = call("SendToConnections", connection_ids=ids[:2] + ["nope"], data=b"m", type=gw_pb.TEXT)
        assert [x.code for x in r.results] == [0, 0, 5]
        call("JoinGroup", connection_id=ids[0], group="g1")
        call("JoinGroup", connection_id=ids[1], group="g1")
        call("JoinGroup", connection_id=ids[1], group="g2")
        m = scrape(srv)
        assert (val(m, "wsgw_groups"), val(m, "wsgw_group_memberships")) == (2, 3)
        f = call("SendToGroup", group="g1", data=b"g", type=gw_pb.TEXT)
        assert (f.delivered, f.skipped) == (2, 0)
        call("LeaveGroup", connection_id=ids[1], group="g1")
        f = call("Broadcast", data=b"b" * 16384, exclude_ids=[ids[3]])
        assert (f.delivered, f.skipped) == (3, 1)  # ids[0..2]; the stuck one skipped
        call("CloseConnection", connection_id=ids[2], code=4000)
        # ... and over REST
        rest("GET", "connections?pageSize=10")
        rest("GET", "connections:count")
        rest("POST", "connections:send", {"connectionIds": [ids[0]], "data": "aGk=", "type": "TEXT"})
        rest("POST", "groups/g3/connections/%s:join" % ids[3])
        rest("POST", "groups/g3:send", {"data": "aGk=", "type": "TEXT"})
        rest("POST", "groups/g3/connections/%s:leave" % ids[3])
        rest("POST", "broadcast", {"data": "aGk=", "type": "TEXT", "excludeIds": [sid]})
        rest("POST", "connections/%s:close" % ids[1], {"code": 4001})
        # an unknown REST path under /wsgw/v1/groups/ is "other"
        assert curl(srv.mgmt_port, "/wsgw/v1/groups/g1:nope", "-X", "POST")[0] == 404
        m = wait_metric(srv, lambda m: val(m, "wsgw_group_memberships") == 1,
                        "ids[1]'s close leaving g2")
        for t in ("grpc", "rest"):
            for meth in GW:
                assert val(m, "wsgw_api_requests_total", transport=t, method=meth, code="OK") >= 1, (t, meth)
                assert val(m, "wsgw_api_request_duration_seconds_count", transport=t, method=meth) >= 1
        others = {k: v for k, v in m.items() if k[0] == "wsgw_api_requests_total"
                  and dict(k[1])["method"] == "other"}
        assert others == {("wsgw_api_requests_total", (("code", "NOT_FOUND"), ("method", "other"),
                                                       ("transport", "rest"))): 1}, others
        assert val(m, "wsgw_api_requests_total", transport="grpc", method="JoinGroup", code="OK") == 3
        # fan-out: SendToConnections 2 + 1 (REST) more; groups g1 (2) and g3 (1);
        # Broadcast: gRPC 3 and the stuck one skipped, REST ids[0], ids[1], ids[3]
        assert val(m, "wsgw_fanout_delivered_total", call="SendToConnections") == many_ok + 3
        assert val(m, "wsgw_fanout_skipped_total", call="SendToConnections") == 1
        assert val(m, "wsgw_fanout_delivered_total", call="SendToGroup") == 3
        assert val(m, "wsgw_fanout_skipped_total", call="SendToGroup") == 0
        assert val(m, "wsgw_fanout_delivered_total", call="Broadcast") == 3 + 3
        assert val(m, "wsgw_fanout_skipped_total", call="Broadcast") == 1
        for c in ("SendToGroup", "Broadcast"):
            assert val(m, "wsgw_fanout_in_progress", call=c) == 0
        # left: ids[0] in g1 (g2 went with ids[1]'s close, g3 with its leave)
        assert (val(m, "wsgw_groups"), val(m, "wsgw_group_memberships")) == (1, 1)
        promtool_check(curl(srv.mgmt_port)[2])
    finally:
        ch.close()
        stuck.close()
        for c in conns:
            c.close()
