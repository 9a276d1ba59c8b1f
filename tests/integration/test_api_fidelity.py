"""Management API fidelity to Yandex Cloud (issue 8, defects 1, 4 and 5),
against the real binary with real clients: grpcio and curl (HTTP/1.1 and
HTTP/2) or http.client on the management port, a raw-socket WebSocket
client (wsraw) on the other side.

- Send with empty `data` is INVALID_ARGUMENT "data is required" and the
  client receives nothing (checked by sending a real message after it and
  reading that one first).
- Every gRPC answer carries x-server-request-id and x-server-trace-id
  (random UUIDs, unique per call): in the initial metadata of a success,
  in the trailers-only HEADERS of an error; every REST response carries
  them as headers, and REST error bodies a google.rpc.RequestInfo detail
  with the same id; gRPC errors carry the same detail in a
  grpc-status-details-bin google.rpc.Status; a failed call's log line names
  its request id.
- An unknown flag says "(see --help)" once.
"""
import base64
import http.client
import importlib
import json
import re
import subprocess
import sys
import time

import grpc
import pytest

import grpc_stubs
import wsraw
from conftest import WSGW_BIN

PREFIX = "/apigateways/websocket/v1/connections/"
ID_HEADER = "x-yc-apigateway-websocket-connection-id"
REQUEST_INFO = "type.googleapis.com/google.rpc.RequestInfo"
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
WAIT = 20.0  # generous upper bound for anything to happen; never asserted on

Code = grpc.StatusCode


RPC_PROTO = """syntax = "proto3";
package google.rpc;
import "google/protobuf/any.proto";
message Status { int32 code = 1; string message = 2; repeated google.protobuf.Any details = 3; }
message RequestInfo { string request_id = 1; string serving_data = 2; }
"""


@pytest.fixture(scope="module")
def rpc(tmp_path_factory):
    """google.rpc.Status and RequestInfo (googleapis-common-protos is not
    installed): the two messages as upstream defines them, via protoc."""
    d = tmp_path_factory.mktemp("rpc")
    (d / "wsgw_test_rpc.proto").write_text(RPC_PROTO)
    subprocess.run(["protoc", "--python_out=" + str(d), "-I" + str(d), "-I/usr/include",
                    "wsgw_test_rpc.proto"], check=True)
    sys.path.insert(0, str(d))
    try:
        return importlib.import_module("wsgw_test_rpc_pb2")
    finally:
        sys.path.remove(str(d))


@pytest.fixture
def client(pb, wsgw_factory):
    """client(server) -> grpc_stubs.Client; channels closed before the servers stop."""
    channels = []

    def make(server):
        ch = grpc.insecure_channel("127.0.0.1:%d" % server.mgmt_port,
                                   options=[("grpc.enable_http_proxy", 0)])
        channels.append(ch)
        return grpc_stubs.Client(ch, pb)

    yield make
    for ch in channels:
        ch.close()


def ws_client(server):
    c = wsraw.connect(server.port, timeout=WAIT)
    return c, c.response_headers[ID_HEADER]


def curl(server, method, path, body=None, http2=False, extra=()):
    """(status, lower-case headers, body bytes) of one curl request."""
    args = ["curl", "-sS", "-i", "--max-time", "10"]
    args += ["-I"] if method == "HEAD" else ["-X", method]
    args += ["--http2-prior-knowledge" if http2 else "--http1.1"] + list(extra)
    if body is not None:
        args += ["-H", "Content-Type: application/json", "--data-binary", "@-"]
    args.append("http://127.0.0.1:%d%s" % (server.mgmt_port, path))
    p = subprocess.run(args, capture_output=True, timeout=WAIT,
                       input=body.encode() if body is not None else None)
    assert p.returncode == 0, (args, p.stderr.decode())
    head, _, rest = p.stdout.partition(b"\r\n\r\n")
    while head.split(b" ")[1].startswith(b"1"):  # 100 Continue
        head, _, rest = rest.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers.setdefault(k.strip().lower(), v.strip())
    return int(lines[0].split()[1]), headers, rest


def md(pairs):
    """grpc metadata -> {key: [values]}."""
    out = {}
    for k, v in pairs or ():
        out.setdefault(k, []).append(v)
    return out


def check_ids(headers, where):
    """The two ids, each exactly once, as random (v4) UUIDs; returns the request id."""
    for name in ("x-server-request-id", "x-server-trace-id"):
        v = headers.get(name)
        assert v is not None, "%s: no %s in %r" % (where, name, headers)
        if isinstance(v, list):
            assert len(v) == 1, (where, name, v)
            v = v[0]
        assert UUID4.match(v), (where, name, v)
    rid = headers["x-server-request-id"]
    rid = rid[0] if isinstance(rid, list) else rid
    trace = headers["x-server-trace-id"]
    assert rid != (trace[0] if isinstance(trace, list) else trace), where
    return rid


def check_error_body(body, code, rid):
    j = json.loads(body)
    assert set(j) == {"code", "message", "details"}, j
    assert j["code"] == code and isinstance(j["message"], str) and j["message"], j
    assert j["details"] == [{"@type": REQUEST_INFO, "requestId": rid}], j
    return j


def wait_for_log(server, text):
    deadline = time.monotonic() + WAIT
    while text not in server.read_log():
        assert time.monotonic() < deadline, "%r never logged:\n%s" % (text, server.read_log()[-3000:])
        time.sleep(0.05)


# -- D1: Send with empty data ------------------------------------------------------

def test_grpc_send_empty_data_is_refused_and_delivers_nothing(wsgw, client):
    c = client(wsgw)
    ws, cid = ws_client(wsgw)
    with ws:
        for typ in (0, 1, 2):  # UNSPECIFIED, BINARY, TEXT: all the same refusal
            with pytest.raises(grpc.RpcError) as ei:
                c.send(cid, b"", type=typ, timeout=WAIT)
            assert ei.value.code() == Code.INVALID_ARGUMENT, (typ, ei.value)
            assert ei.value.details() == "data is required", ei.value.details()
        c.send(cid, b"first real", type=2, timeout=WAIT)
        assert ws.recv_message(timeout=WAIT) == (wsraw.OP_TEXT, b"first real")


@pytest.mark.parametrize("http2", [False, True], ids=["http1", "http2"])
def test_rest_send_empty_data_is_refused_and_delivers_nothing(wsgw, http2):
    ws, cid = ws_client(wsgw)
    with ws:
        for body in ('{"data": ""}', '{}', '{"data": null, "type": "TEXT"}', '{"type": "BINARY"}'):
            status, headers, rb = curl(wsgw, "POST", PREFIX + cid + ":send", body=body, http2=http2)
            assert status == 400, (body, status, rb)
            j = check_error_body(rb, 3, check_ids(headers, "rest"))
            assert j["message"] == "data is required", j
        real = json.dumps({"data": base64.b64encode(b"first real").decode(), "type": "BINARY"})
        status, _, rb = curl(wsgw, "POST", PREFIX + cid + ":send", body=real, http2=http2)
        assert (status, rb) == (200, b"{}")
        assert ws.recv_message(timeout=WAIT) == (wsraw.OP_BINARY, b"first real")


def test_rest_send_empty_data_http_client(wsgw):
    """The same with the standard library's client over one keep-alive connection."""
    ws, cid = ws_client(wsgw)
    hc = http.client.HTTPConnection("127.0.0.1", wsgw.mgmt_port, timeout=WAIT)
    with ws:
        try:
            hc.request("POST", PREFIX + cid + ":send", body=b'{"data": "", "type": "TEXT"}',
                       headers={"Content-Type": "application/json"})
            r = hc.getresponse()
            body = r.read()
            assert r.status == 400, body
            rid = check_ids({k.lower(): v for k, v in r.getheaders()}, "http.client")
            assert check_error_body(body, 3, rid)["message"] == "data is required"
            hc.request("POST", PREFIX + cid + ":send", body=b'{"data": "aGk=", "type": "TEXT"}')
            r = hc.getresponse()
            assert (r.status, r.read()) == (200, b"{}")
        finally:
            hc.close()
        assert ws.recv_message(timeout=WAIT) == (wsraw.OP_TEXT, b"hi")


# -- D4: request ids ------------------------------------------------------------------

def test_grpc_request_ids_on_success_and_error(wsgw_factory, client, rpc):
    srv = wsgw_factory(["--log-level", "debug"])
    c = client(srv)
    ws, cid = ws_client(srv)
    seen = set()
    with ws:
        # success: initial metadata (where grpc.Header() / initial_metadata() read it)
        for _ in range(50):
            _, call = c.get_.with_call(c.pb.GetConnectionRequest(connection_id=cid), timeout=WAIT)
            rid = check_ids(md(call.initial_metadata()), "grpc ok")
            seen.add(rid)
        # error: a trailers-only answer, so the ids are in its only HEADERS
        for _ in range(50):
            with pytest.raises(grpc.RpcError) as ei:
                c.get("nosuchconnection", timeout=WAIT)
            e = ei.value
            assert e.code() == Code.NOT_FOUND
            both = md(list(e.initial_metadata() or ()) + list(e.trailing_metadata() or ()))
            rid = check_ids(both, "grpc error")
            seen.add(rid)
            # the rich-error trailer: a Status matching grpc-status and
            # grpc-message, with the same request id in its RequestInfo
            bins = both.get("grpc-status-details-bin")
            assert bins and len(bins) == 1, both
            st = rpc.Status.FromString(bins[0])
            assert (st.code, st.message) == (5, e.details()), st
            assert len(st.details) == 1, st
            assert st.details[0].type_url == "type.googleapis.com/google.rpc.RequestInfo"
            info = rpc.RequestInfo.FromString(st.details[0].value)
            assert (info.request_id, info.serving_data) == (rid, ""), info
        assert len(seen) == 100, "request ids repeat"
        # a message with non-ASCII text: the Status carries it as UTF-8, equal
        # to the percent-decoded grpc-message
        with pytest.raises(grpc.RpcError) as ei:
            c.get("соединение-é", timeout=WAIT)
        st = rpc.Status.FromString(md(ei.value.trailing_metadata())["grpc-status-details-bin"][0])
        assert (st.code, st.message) == (5, ei.value.details()) and "соединение-é" in st.message
        # the failed call's log line names its request id
        wait_for_log(srv, rid)
        line = [ln for ln in srv.read_log().splitlines() if rid in ln][0]
        assert "NOT_FOUND" in line and "nosuchconnection" in line, line


@pytest.mark.parametrize("http2", [False, True], ids=["http1", "http2"])
def test_rest_request_id_on_every_response(wsgw_factory, http2):
    srv = wsgw_factory(["--log-level", "debug", "--rest-max-body", "1024"])
    ws, cid = ws_client(srv)
    seen = set()
    with ws:
        ok = [("GET", PREFIX + cid, None), ("HEAD", PREFIX + cid, None),
              ("POST", PREFIX + cid + ":send", '{"data": "aGk="}')]
        for method, path, body in ok:
            status, headers, _ = curl(srv, method, path, body=body, http2=http2)
            assert status == 200, (method, status)
            seen.add(check_ids(headers, method))
        errors = [("GET", PREFIX + "nosuch", None, 404, 5),       # unknown id
                  ("GET", "/apigateways/nowhere", None, 404, 5),   # unknown path
                  ("PUT", PREFIX + cid, None, 405, 12),           # wrong method
                  ("POST", PREFIX + cid + ":send", "{", 400, 3),  # malformed JSON
                  ("POST", PREFIX + cid + ":send", json.dumps({"data": "A" * 4000}), 413, 8)]
        for method, path, body, want, code in errors:
            status, headers, rb = curl(srv, method, path, body=body, http2=http2)
            assert status == want, (method, path, status, rb)
            rid = check_ids(headers, "%s %s" % (method, path))
            check_error_body(rb, code, rid)
            seen.add(rid)
        assert len(seen) == len(ok) + len(errors), "request ids repeat"
    # a failed call's log line names its request id
    status, headers, rb = curl(srv, "GET", PREFIX + "nosuch", http2=http2)
    rid = check_ids(headers, "not found")
    wait_for_log(srv, rid)
    line = [ln for ln in srv.read_log().splitlines() if rid in ln][0]
    assert "404" in line and "nosuch" in line, line


def test_rest_request_id_with_token(wsgw_factory):
    """401 also has the id, in the header and in the body."""
    srv = wsgw_factory(["--auth-token", "s3cret"])
    status, headers, rb = curl(srv, "GET", PREFIX + "x")
    assert status == 401
    check_error_body(rb, 16, check_ids(headers, "401"))


# -- D5: the unknown-flag message -------------------------------------------------

@pytest.mark.parametrize("flag", ["--bogus", "--bogus=1"])
def test_unknown_flag_says_see_help_once(flag):
    p = subprocess.run([WSGW_BIN, flag], capture_output=True, timeout=WAIT)
    assert p.returncode == 2
    assert p.stdout == b""
    assert p.stderr == b"wsgw: --bogus: unknown flag (see --help)\n", p.stderr
