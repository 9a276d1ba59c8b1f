"""wsgw.v1 across the cluster (README "Running several nodes"): one Redis
and three nodes, clients on all three, the extension API asked on one of
them. Broadcast and SendToGroup reach every node's clients exactly once,
Count sums the nodes (total and per route), Join / Leave reach the owner;
a frozen node (SIGSTOP) is reported in missingNodes while the others'
counts arrive, a killed one at once, and with Redis down the fan-out calls
answer UNAVAILABLE at once.
"""
import json
import os
import signal
import socket
import time

import grpc
import pytest
import yaml

import wsraw
from test_cluster import SLOW, rest, running_cluster, send_body, wait_up

GW = "/wsgw/v1"
TIMEOUT_MS = 500  # --cluster-call-timeout; Broadcast / SendToGroup wait 5x


def write_spec(d):
    def echo():  # a fresh dict each time: no YAML alias
        return {"x-yc-apigateway-websocket-message":
                {"x-yc-apigateway-integration": {"type": "echo"}}}

    doc = {"openapi": "3.0.0", "info": {"title": "fan", "version": "1"},
           "paths": {"/chat/{room}": echo(), "/feed": echo()}}
    p = d / "fan.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(p)


@pytest.fixture
def fan(tmp_path):
    spec = write_spec(tmp_path)
    with running_cluster(tmp_path, ["--spec", spec, "--cluster-call-timeout",
                                    "%dms" % TIMEOUT_MS, "--close-timeout", "2s"]) as c:
        yield c


def clients(fan):
    """Two clients per node: [(conn, id, node index, path)], /chat/r<i> then /feed."""
    out = []
    for i in range(3):
        for path in ("/chat/r%d" % i, "/feed"):
            c = wsraw.connect(fan.nodes[i].port, path=path)
            out.append((c, c.response_headers["x-yc-apigateway-websocket-connection-id"], i,
                        path))
    return out


def close_all(cs):
    for c in cs:
        c[0].close()


def no_message(c, wait=0.3):
    """Nothing more arrives: a marker broadcast is the next message."""
    try:
        c.sock.settimeout(wait)
        data = c.sock.recv(1)
    except socket.timeout:
        return True
    return data == b""


def test_broadcast_reaches_every_node_once(fan):
    n1 = fan.nodes[0]
    cs = clients(fan)
    excl = cs[5][1]  # node 3's /feed
    st, body = rest(n1, "POST", GW + "/broadcast",
                    json.dumps({"data": "aGk=", "type": "TEXT", "excludeIds": [excl]}))
    assert st == 200 and body == {"delivered": 5, "skipped": 0, "total": 5}, body
    for c, cid, i, path in cs:
        if cid != excl:
            assert c.recv_message(timeout=5) == (1, b"hi"), (i, path)
    # Filters travel too: path template, then prefix.
    st, body = rest(fan.nodes[1], "POST", GW + "/broadcast",
                    json.dumps({"data": "Zg==", "path": "/feed"}))
    assert st == 200 and body["delivered"] == 3, body
    st, body = rest(fan.nodes[2], "POST", GW + "/broadcast",
                    json.dumps({"data": "cA==", "pathPrefix": "/chat/r1"}))
    assert st == 200 and body["delivered"] == 1, body
    for c, cid, i, path in cs:
        if path == "/feed":
            assert c.recv_message(timeout=5) == (2, b"f"), (i, path)
        if path == "/chat/r1":
            assert c.recv_message(timeout=5) == (2, b"p"), (i, path)
    # Exactly once: nothing else is waiting on any client.
    for c, cid, i, path in cs:
        assert no_message(c), (i, path)
    close_all(cs)


def test_groups_across_nodes(fan):
    n1, n2 = fan.nodes[0], fan.nodes[1]
    cs = clients(fan)
    members = [cs[0], cs[3], cs[4]]  # node 1's chat, node 2's feed, node 3's chat
    for c, cid, i, path in members:
        st, body = rest(n1, "POST", GW + "/groups/team-1/connections/%s:join" % cid)
        assert (st, body) == (200, {}), (i, body)
    st, body = rest(n2, "POST", GW + "/groups/team-1:send", send_body(b"g1"))
    assert st == 200 and body == {"delivered": 3, "skipped": 0, "total": 3}, body
    for c, cid, i, path in members:
        assert c.recv_message(timeout=5) == (2, b"g1")
    # Leave via node 1 for the connection on node 3.
    st, body = rest(n1, "POST", GW + "/groups/team-1/connections/%s:leave" % cs[4][1])
    assert (st, body) == (200, {}), body
    st, body = rest(n1, "POST", GW + "/groups/team-1/connections/%s:leave" % cs[4][1])
    assert st == 404, body  # not in it any more: the owner's NOT_FOUND
    st, body = rest(fan.nodes[2], "POST", GW + "/groups/team-1:send", send_body(b"g2"))
    assert st == 200 and body["delivered"] == 2, body
    assert cs[0][0].recv_message(timeout=5) == (2, b"g2")
    assert cs[3][0].recv_message(timeout=5) == (2, b"g2")
    for c, cid, i, path in cs:
        assert no_message(c), (i, path)
    # An id whose tag no live node holds: NOT_FOUND, as for Get.
    dead = "zzzzzz" + cs[0][1][6:]
    st, body = rest(n1, "POST", GW + "/groups/team-1/connections/%s:join" % dead)
    assert st == 404, body
    close_all(cs)


def test_send_to_connections_mixing_nodes(fan):
    """Ids of all three nodes, an unknown one of a live node, one whose tag
    no node holds: one result per id in the request's order; every
    connection named gets the message once."""
    n1 = fan.nodes[0]
    cs = clients(fan)
    unknown = cs[4][1][:6] + "a" * 27  # node 3's tag, no such connection
    dead = "zzzzzz" + cs[0][1][6:]
    # node 3's ids: two known then the unknown one (results must not be
    # matched to ids in any other order)
    ids = [cs[4][1], cs[0][1], cs[5][1], cs[2][1], dead, unknown, cs[1][1]]
    st, body = rest(n1, "POST", GW + "/connections:send",
                    json.dumps({"connectionIds": ids, "data": "bQ==", "type": "TEXT"}))
    assert st == 200, body
    got = [(r["connectionId"], r["code"]) for r in body["results"]]
    assert got == [(ids[0], 0), (ids[1], 0), (ids[2], 0), (ids[3], 0), (dead, 5),
                   (unknown, 5), (ids[6], 0)], body
    for c, cid, i, path in cs:
        if cid in ids:
            assert c.recv_message(timeout=5) == (1, b"m"), (i, path)
    for c, cid, i, path in cs:
        assert no_message(c), (i, path)
    close_all(cs)


def test_count_sums_the_nodes(fan):
    cs = clients(fan)
    for n in fan.nodes:
        st, body = rest(n, "GET", GW + "/connections:count")
        assert st == 200 and body["total"] == 6, body
        assert {x["route"]: x["count"] for x in body["byRoute"]} == \
            {"/chat/{room}": 3, "/feed": 3}, body
        assert "missingNodes" not in body
    cs[2][0].close()
    time.sleep(0.2)
    assert rest(fan.nodes[0], "GET", GW + "/connections:count")[1]["total"] == 5
    close_all(cs)


def pb_missing(raw):
    """missing_nodes (field 3 of CountConnectionsResponse) from the bytes."""
    out, i = [], 0
    while i < len(raw):
        key = raw[i]
        i += 1
        if key & 7 == 0:
            while raw[i] & 0x80:
                i += 1
            i += 1
            continue
        n = raw[i]  # short fields only here
        i += 1
        if key >> 3 == 3:
            out.append(raw[i:i + n].decode())
        i += n
    return out


def test_frozen_node_reported_missing(fan):
    n1, n3 = fan.nodes[0], fan.nodes[2]
    tag3 = fan.tag(2)
    cs = clients(fan)
    os.kill(n3.proc.pid, signal.SIGSTOP)
    try:
        t0 = time.time()
        st, body = rest(n1, "GET", GW + "/connections:count")
        took = time.time() - t0
        assert st == 200 and body["total"] == 4 and body["missingNodes"] == [tag3], body
        assert TIMEOUT_MS / 1000 * 0.9 < took < TIMEOUT_MS / 1000 + 2 * SLOW, took
        ch = grpc.insecure_channel("127.0.0.1:%d" % n1.mgmt_port,
                                   options=[("grpc.enable_http_proxy", 0)])
        raw = ch.unary_unary("/wsgw.v1.GatewayService/CountConnections")(b"", timeout=10)
        ch.close()
        assert pb_missing(raw) == [tag3]
        t0 = time.time()
        st, body = rest(n1, "POST", GW + "/broadcast", send_body(b"late?"))
        took = time.time() - t0
        assert st == 200 and body["delivered"] == 4 and body["missingNodes"] == [tag3], body
        assert 5 * TIMEOUT_MS / 1000 * 0.9 < took < 5 * TIMEOUT_MS / 1000 + 2 * SLOW, took
        t0 = time.time()
        st, body = rest(n1, "POST", GW + "/connections:send",
                        json.dumps({"connectionIds": [cs[4][1], cs[0][1]], "data": "cw=="}))
        took = time.time() - t0
        assert st == 200 and [r["code"] for r in body["results"]] == [14, 0], body
        assert TIMEOUT_MS / 1000 * 0.9 < took < TIMEOUT_MS / 1000 + 2 * SLOW, took
    finally:
        os.kill(n3.proc.pid, signal.SIGCONT)
    for c, cid, i, path in cs[:4]:
        assert c.recv_message(timeout=5) == (2, b"late?")
    assert cs[0][0].recv_message(timeout=5) == (2, b"s")
    # The frozen node drops the request whose deadline passed: never late.
    wait_up(fan.nodes)
    for c, cid, i, path in cs[4:]:
        assert no_message(c, wait=1.0)
    st, body = rest(n1, "GET", GW + "/connections:count")
    assert st == 200 and body["total"] == 6 and "missingNodes" not in body, body
    close_all(cs)


def test_killed_node_missing_at_once(fan):
    n1, n3 = fan.nodes[0], fan.nodes[2]
    tag3 = fan.tag(2)
    cs = clients(fan)
    n3.proc.kill()
    n3.proc.wait()
    n3.log.close()
    time.sleep(0.2)  # Redis notices the closed subscriber
    t0 = time.time()
    st, body = rest(n1, "POST", GW + "/broadcast", send_body(b"k"))
    assert st == 200 and body["delivered"] == 4 and body["missingNodes"] == [tag3], body
    assert time.time() - t0 < TIMEOUT_MS / 1000, "waited for a node with no subscriber"
    close_all(cs)
    n3.proc.returncode = None  # the fixture skips it


def test_redis_down_fanout_unavailable_at_once(fan):
    n1 = fan.nodes[0]
    cs = clients(fan)
    fan.redis.stop()
    deadline = time.time() + 5 * SLOW
    while rest(n1, "GET", "/readyz")[1]["cluster"]["link"] == "up" and time.time() < deadline:
        time.sleep(0.02)
    for method, path, body in (("POST", "/connections:send",
                                json.dumps({"connectionIds": [cs[4][1]], "data": "eA=="})),
                               ("GET", "/connections:count", None),
                               ("POST", "/broadcast", send_body(b"x")),
                               ("POST", "/groups/g:send", send_body(b"x"))):
        t0 = time.time()
        st, resp = rest(n1, method, GW + path, body)
        assert st == 503 and resp["code"] == 14, (path, resp)
        assert time.time() - t0 < 0.5 * SLOW
    fan.redis.start()
    wait_up(fan.nodes)
    st, body = rest(n1, "GET", GW + "/connections:count")
    assert st == 200 and body["total"] == 6, body
    # A node's own ids need no Redis: SendToConnections of only those works
    # throughout (checked here after, as before it went down).
    st, body = rest(n1, "POST", GW + "/connections:send",
                    json.dumps({"connectionIds": [cs[0][1]], "data": "eA=="}))
    assert st == 200 and body["results"][0]["code"] == 0, body
    close_all(cs)
