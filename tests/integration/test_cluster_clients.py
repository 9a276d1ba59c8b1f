"""The real-client suites across nodes (issue 10): python3-grpcio and the
curl binary call node 1 for connections held by node 3, and get what a
single node gives: success with text and binary payloads delivered byte
for byte, NOT_FOUND, INVALID_ARGUMENT, and RESOURCE_EXHAUSTED for a client
that does not read (its 16K queue full). One cluster for the whole file.
"""
import base64
import json
import os
import subprocess

import grpc
import pytest

from test_cluster import PREFIX, grpc_code, rest, running_cluster, send_body

ALL_BYTES = bytes(range(256))


@pytest.fixture(scope="module")
def cl(tmp_path_factory):
    with running_cluster(tmp_path_factory.mktemp("clients"),
                         ["--close-timeout", "2s", "--max-out-queue", "16K"]) as c:
        yield c


def curl(node, method, path, body=None, h2=False):
    """The curl binary: (HTTP status, JSON body or None)."""
    args = ["curl", "-sS", "--max-time", "10", "-X", method, "-w", "\n%{http_code}"]
    if h2:
        args.append("--http2-prior-knowledge")
    if body is not None:
        args += ["-H", "Content-Type: application/json", "--data-binary", body]
    p = subprocess.run(args + ["http://127.0.0.1:%d%s" % (node.mgmt_port, path)],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 0, p.stderr
    out, code = p.stdout.rsplit("\n", 1)
    return int(code), (json.loads(out) if out.strip() else None)


def dead_id(cl):
    tags = [cl.tag(i) for i in range(3)]
    tag = next(t for t in ("zzzzzz", "yyyyyy", "222222") if t not in tags)
    return tag + "a" * 27


def test_curl_against_node1_for_node3(cl):
    n1 = cl.nodes[0]
    c, cid = cl.client(2, extra_headers=["User-Agent: curl-suite/1"])
    for h2 in (False, True):
        st, body = curl(n1, "GET", PREFIX + cid, h2=h2)
        assert st == 200 and body["id"] == cid, body
        assert body["identity"] == {"sourceIp": "127.0.0.1", "userAgent": "curl-suite/1"}
        assert curl(n1, "POST", PREFIX + cid + ":send",
                    send_body("héllo ☃".encode(), "TEXT"), h2=h2) == (200, {})
        assert c.recv_message(timeout=5) == (1, "héllo ☃".encode())
        assert curl(n1, "POST", PREFIX + cid + ":send", send_body(ALL_BYTES), h2=h2) == (200, {})
        assert c.recv_message(timeout=5) == (2, ALL_BYTES)
    # INVALID_ARGUMENT: the rules, checked as a single node checks them
    for body in (send_body(b"\xff", "TEXT"), send_body(b""), "{not json",
                 json.dumps({"data": "@@@", "type": "BINARY"})):
        st, resp = curl(n1, "POST", PREFIX + cid + ":send", body)
        assert st == 400 and resp["code"] == 3, (body, resp)
    st, resp = curl(n1, "GET", PREFIX + "a" * 51)
    assert st == 400 and resp["code"] == 3, resp
    # NOT_FOUND: a live node's tag with an unknown rest, and a tag nobody holds
    for unknown in (cl.tag(2) + "b" * 27, dead_id(cl)):
        for method, suffix, body in (("GET", "", None), ("POST", ":send", send_body(b"x")),
                                     ("DELETE", "", None)):
            st, resp = curl(n1, method, PREFIX + unknown + suffix, body)
            assert st == 404 and resp["code"] == 5, (method, unknown, resp)
    # Disconnect, then the id is gone on every node
    assert curl(n1, "DELETE", PREFIX + cid) == (200, {})
    assert c.recv_close(timeout=5)[0] == 1000
    c.close()
    st, resp = curl(n1, "GET", PREFIX + cid)
    assert st == 404 and resp["code"] == 5


def test_grpcio_against_node1_for_node3(cl, grpc_client):
    n1 = cl.nodes[0]
    g1 = grpc_client(n1)
    c, cid = cl.client(2, extra_headers=["User-Agent: grpcio-suite/1"])
    got = g1.get(cid, timeout=10)
    assert got.id == cid and got.identity.user_agent == "grpcio-suite/1", got
    assert got == grpc_client(cl.nodes[2]).get(cid, timeout=10)
    g1.send(cid, ALL_BYTES, type=1, timeout=10)  # BINARY
    assert c.recv_message(timeout=5) == (2, ALL_BYTES)
    g1.send(cid, "tëxt".encode(), type=2, timeout=10)  # TEXT
    assert c.recv_message(timeout=5) == (1, "tëxt".encode())
    assert grpc_code(g1.send, cid, b"\xc3", 2)[0] == grpc.StatusCode.INVALID_ARGUMENT
    assert grpc_code(g1.send, cid, b"x" * (128 * 1024 + 1))[0] == \
        grpc.StatusCode.INVALID_ARGUMENT
    for unknown in (cl.tag(2) + "c" * 27, dead_id(cl)):
        assert grpc_code(g1.get, unknown)[0] == grpc.StatusCode.NOT_FOUND
        assert grpc_code(g1.send, unknown, b"x")[0] == grpc.StatusCode.NOT_FOUND
        assert grpc_code(g1.disconnect, unknown)[0] == grpc.StatusCode.NOT_FOUND
    g1.disconnect(cid, timeout=10)
    assert c.recv_close(timeout=5)[0] == 1000
    c.close()


def test_resource_exhausted_through_both(cl, grpc_client):
    """A client on node 3 that does not read: once its queue is full, a
    Send through node 1 is RESOURCE_EXHAUSTED for grpcio and 429 for curl
    (over HTTP/1.1 and HTTP/2), and nothing is sent."""
    n1 = cl.nodes[0]
    g1 = grpc_client(n1)
    c, cid = cl.client(2)
    chunk = os.urandom(8192)
    for _ in range(400):
        code, msg = grpc_code(g1.send, cid, chunk, 1)
        if code != grpc.StatusCode.OK:
            break
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, (code, msg)
    assert "outbound queue is full" in msg
    for h2 in (False, True):
        st, resp = curl(n1, "POST", PREFIX + cid + ":send",
                        json.dumps({"data": base64.b64encode(chunk).decode()}), h2=h2)
        assert st == 429 and resp["code"] == 8, resp
    st, resp = rest(n1, "GET", PREFIX + cid)  # still there: only the send was refused
    assert st == 200
    c.close()
