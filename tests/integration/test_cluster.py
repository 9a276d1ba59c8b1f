"""Cluster mode (--cluster, README "Running several nodes") against the real
binary: one Redis 7 server started here (/usr/bin/redis-check-rdb through a
link named redis-server, on a free loopback port, in a temporary directory)
and three wsgw nodes. WebSocket clients connect to node 3; the management
API is called on node 1 (gRPC with grpcio, REST with curl and http.client),
so every call crosses Redis: Get / Send / Disconnect with the statuses a
single node gives, then the failure cases: a node killed (SIGKILL) or
frozen (SIGSTOP), Redis restarted, the subscriber connection killed from
Redis's side, and the order of 1 000 Sends through one node.
"""
import base64
import contextlib
import http.client as httpc
import json
import os
import re
import signal
import socket
import subprocess
import time

import grpc
import pytest

import grpc_stubs
import wsraw
from conftest import ASAN, Server

PREFIX = "/apigateways/websocket/v1/connections/"
ID_HEADER = "x-yc-apigateway-websocket-connection-id"
REDIS_BIN = "/usr/bin/redis-check-rdb"
SLOW = 3 if ASAN else 1


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Redis:
    """A private Redis server; restartable on the same port."""

    def __init__(self, tmp_path):
        self.dir = tmp_path / "redis"
        self.dir.mkdir()
        self.link = self.dir / "redis-server"
        os.symlink(REDIS_BIN, self.link)
        self.port = free_port()
        self.proc = None

    def start(self):
        self.log = open(self.dir / "redis.log", "ab")
        self.proc = subprocess.Popen(
            [str(self.link), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.dir)],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                if self.cli("PING") == "PONG":
                    return self
            except subprocess.CalledProcessError:
                pass
            time.sleep(0.05)
        raise RuntimeError("redis did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()

    def cli(self, *args):
        return subprocess.run(["redis-cli", "-p", str(self.port)] + list(args), check=True,
                              capture_output=True, timeout=10, text=True).stdout.strip()

    @property
    def url(self):
        return "redis://127.0.0.1:%d/0" % self.port


def rest(node, method, path, body=None, timeout=10):
    """One REST call on a fresh http.client connection: (status, json)."""
    c = httpc.HTTPConnection("127.0.0.1", node.mgmt_port, timeout=timeout)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, json.loads(data) if data else None


def send_body(data, typ="BINARY"):
    return json.dumps({"data": base64.b64encode(data).decode(), "type": typ})


def ready(node):
    return rest(node, "GET", "/readyz")[1]


def wait_up(nodes, timeout=15):
    deadline = time.time() + timeout * SLOW
    while time.time() < deadline:
        if all(ready(n)["cluster"]["link"] == "up" for n in nodes):
            return
        time.sleep(0.05)
    raise AssertionError("cluster links not up: %r" % [ready(n) for n in nodes])


class Cluster:
    def __init__(self, redis, nodes):
        self.redis = redis
        self.nodes = nodes

    def tag(self, i):
        return ready(self.nodes[i])["cluster"]["node"]

    def client(self, i=2, **kw):
        c = wsraw.connect(self.nodes[i].port, **kw)
        return c, c.response_headers[ID_HEADER]


@contextlib.contextmanager
def running_cluster(tmp_path, flags):
    """Redis and three nodes (index 0..2) started with flags; on exit the
    nodes that still run are stopped with SIGTERM (a stopped one is
    continued first) and must exit 0 with no sanitizer report."""
    redis = Redis(tmp_path).start()
    nodes = []
    try:
        for i in range(3):
            d = tmp_path / ("n%d" % i)
            d.mkdir()
            nodes.append(Server(["--cluster", redis.url] + flags).start(d))
        wait_up(nodes)
        yield Cluster(redis, nodes)
    finally:
        for n in nodes:
            if n.proc.poll() is None or n.proc.returncode == 0:
                try:
                    os.kill(n.proc.pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
                code = n.stop()
                n.assert_clean()
                assert code == 0, "wsgw exited with %s:\n%s" % (code, n.read_log()[-4000:])
        redis.stop()


@pytest.fixture
def cluster(tmp_path):
    with running_cluster(tmp_path, ["--close-timeout", "2s", "--max-out-queue", "16K"]) as c:
        yield c


def grpc_code(fn, *args):
    try:
        fn(*args, timeout=10)
    except grpc.RpcError as e:
        return e.code(), e.details()
    return grpc.StatusCode.OK, ""


# -- ids and the lease ------------------------------------------------------------

def test_ids_carry_the_node_tag_and_leases(cluster):
    tags = [cluster.tag(i) for i in range(3)]
    assert len(set(tags)) == 3
    for i, tag in enumerate(tags):
        assert re.fullmatch(r"[a-z2-7]{6}", tag), tag
        c, cid = cluster.client(i)
        assert re.fullmatch(r"[a-z2-7]{33}", cid), cid
        assert cid.startswith(tag)
        c.close()
        lease = json.loads(cluster.redis.cli("GET", "wsgw:node:" + tag))
        assert set(lease) == {"node", "connections", "address"}, lease
        assert lease["address"] == "127.0.0.1:0"
        ttl = int(cluster.redis.cli("PTTL", "wsgw:node:" + tag))
        assert 0 < ttl <= 5000
    subs = cluster.redis.cli("PUBSUB", "CHANNELS", "wsgw:*").split()
    assert set(subs) == {"wsgw:all"} | {"wsgw:inbox:" + t for t in tags}
    # The readiness probe shows the link, and stays 200 (README).
    st, body = rest(cluster.nodes[0], "GET", "/readyz")
    assert st == 200 and body["status"] == "ok" and body["cluster"]["link"] == "up"
    # A graceful stop deletes the lease at once.
    assert cluster.nodes[1].stop() == 0
    assert cluster.redis.cli("EXISTS", "wsgw:node:" + tags[1]) == "0"


# -- Get / Send / Disconnect across nodes ---------------------------------------

def test_remote_rest_get_send_disconnect(cluster):
    n1, n3 = cluster.nodes[0], cluster.nodes[2]
    c, cid = cluster.client(2, extra_headers=["User-Agent: cluster-test/1 é"])
    st_local, local = rest(n3, "GET", PREFIX + cid)
    st, remote = rest(n1, "GET", PREFIX + cid)
    assert (st_local, st) == (200, 200)
    assert remote == local, (remote, local)
    assert remote["identity"] == {"sourceIp": "127.0.0.1", "userAgent": "cluster-test/1 é"}
    # curl, a real client, for one call
    p = subprocess.run(["curl", "-sS", "--max-time", "10", "-w", "\n%{http_code}",
                        "http://127.0.0.1:%d%s%s" % (n1.mgmt_port, PREFIX, cid)],
                       capture_output=True, text=True, timeout=20)
    body, code = p.stdout.rsplit("\n", 1)
    assert code == "200" and json.loads(body)["id"] == cid

    assert rest(n1, "POST", PREFIX + cid + ":send", send_body("héllo".encode(), "TEXT")) == (200, {})
    assert c.recv_message(timeout=5) == (1, "héllo".encode())
    assert rest(n1, "POST", PREFIX + cid + ":send", send_body(b"\x00\xff")) == (200, {})
    assert c.recv_message(timeout=5) == (2, b"\x00\xff")

    assert rest(n1, "DELETE", PREFIX + cid) == (200, {})
    assert c.recv_close(timeout=5)[0] == 1000
    c.close()
    for node in (n1, n3):
        st, body = rest(node, "GET", PREFIX + cid)
        assert st == 404 and body["code"] == 5, body
    st, body = rest(n1, "POST", PREFIX + cid + ":send", send_body(b"x"))
    assert st == 404 and body["code"] == 5
    st, body = rest(n1, "DELETE", PREFIX + cid)
    assert st == 404 and body["code"] == 5


def test_remote_grpc_statuses(cluster, grpc_client):
    n1, n3 = cluster.nodes[0], cluster.nodes[2]
    g1, g3 = grpc_client(n1), grpc_client(n3)
    c, cid = cluster.client(2)
    assert g1.get(cid, timeout=10) == g3.get(cid, timeout=10)
    g1.send(cid, b"via grpc", type=2, timeout=10)
    assert c.recv_message(timeout=5) == (1, b"via grpc")
    # INVALID_ARGUMENT: the same rules as a single node (checked by the caller)
    for g in (g1, g3):
        assert grpc_code(g.send, cid, b"\xff", 2)[0] == grpc.StatusCode.INVALID_ARGUMENT
        assert grpc_code(g.get, "a" * 51)[0] == grpc.StatusCode.INVALID_ARGUMENT
        assert grpc_code(g.send, cid, b"")[0] == grpc.StatusCode.INVALID_ARGUMENT
    # NOT_FOUND: a live node's tag with an unknown rest, a tag nobody holds
    tag3 = cluster.tag(2)
    others = "abcdefghijklmnopqrstuvwxyz234567"
    dead = next(t for t in ("zzzzzz", "yyyyyy", "222222") if t not in
                [cluster.tag(i) for i in range(3)])
    for unknown in (tag3 + "a" * 27, dead + others[:27], "short"):
        for g in (g1, g3):
            code, msg = grpc_code(g.get, unknown)
            assert code == grpc.StatusCode.NOT_FOUND, (unknown, code, msg)
            assert grpc_code(g.send, unknown, b"x")[0] == grpc.StatusCode.NOT_FOUND
            assert grpc_code(g.disconnect, unknown)[0] == grpc.StatusCode.NOT_FOUND
    g1.disconnect(cid, timeout=10)
    assert c.recv_close(timeout=5)[0] == 1000
    assert grpc_code(g1.get, cid)[0] == grpc.StatusCode.NOT_FOUND
    c.close()


def test_remote_resource_exhausted(cluster):
    """A client on node 3 that does not read: its queue (16K) fills and a
    remote Send answers 429 RESOURCE_EXHAUSTED, as a local one does."""
    n1, n3 = cluster.nodes[0], cluster.nodes[2]
    c, cid = cluster.client(2)
    chunk = send_body(os.urandom(8192))
    got = None
    for _ in range(400):
        st, body = rest(n1, "POST", PREFIX + cid + ":send", chunk)
        if st != 200:
            got = (st, body)
            break
    assert got is not None, "the queue never filled"
    assert got[0] == 429 and got[1]["code"] == 8, got
    assert "outbound queue is full" in got[1]["message"]
    st, body = rest(n3, "POST", PREFIX + cid + ":send", chunk)
    assert st == 429 and body["code"] == 8
    c.close()


def test_ordering_of_1000_sends(cluster, pb):
    """1 000 Sends on 1 000 HTTP/2 streams of one connection to node 1,
    written at once (raw frames, so the server accepts them in stream
    order; grpcio does not keep its own call order on the wire): many
    remote calls are in flight together, and the client on node 3 gets
    the messages in the order they were accepted, each once. Then 200
    REST Sends pipelined on one HTTP/1.1 connection."""
    import struct
    import h2raw
    n1 = cluster.nodes[0]
    c, cid = cluster.client(2)
    conn = h2raw.H2(n1.mgmt_port, timeout=30)
    out = []
    for i in range(1000):
        msg = pb.SendToConnectionRequest(connection_id=cid, data=b"%d" % i,
                                         type=2).SerializeToString()
        sid = 1 + 2 * i
        out.append(h2raw.frame(h2raw.HEADERS, h2raw.END_HEADERS, sid,
                               conn.encode(h2raw.grpc_headers(grpc_stubs.SEND))))
        out.append(h2raw.frame(h2raw.DATA, h2raw.END_STREAM, sid,
                               b"\x00" + struct.pack("!I", len(msg)) + msg))
    conn.send(b"".join(out))
    got = [c.recv_message(timeout=10 * SLOW)[1] for _ in range(1000)]
    assert got == [b"%d" % i for i in range(1000)]
    for i in range(1000):
        assert conn.wait_headers(1 + 2 * i, timeout=30).get("grpc-status") == "0"
    conn.close()

    reqs = []
    for i in range(200):
        body = send_body(b"r%d" % i, "TEXT").encode()
        reqs.append(b"POST %s%s:send HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (PREFIX.encode(), cid.encode(), len(body),
                                                        body))
    s = socket.create_connection(("127.0.0.1", n1.mgmt_port), timeout=30)
    s.sendall(b"".join(reqs))
    got = [c.recv_message(timeout=10 * SLOW)[1] for _ in range(200)]
    assert got == [b"r%d" % i for i in range(200)]
    buf, oks = b"", 0
    deadline = time.time() + 30
    while oks < 200 and time.time() < deadline:
        buf += s.recv(65536)
        oks = buf.count(b"HTTP/1.1 200")
    assert oks == 200 and b"HTTP/1.1 4" not in buf and b"HTTP/1.1 5" not in buf
    s.close()
    c.close()


def test_burst_past_the_queue_limit_to_a_reading_client(cluster, pb):
    """48 Sends of 1 000 bytes (three times --max-out-queue, 16K) arrive at
    node 3 in one read from Redis: the owner gathers them into one write,
    but what it gathers counts against the queue limit, so it writes out
    before the limit would refuse one. The kernel takes them all, as it did
    when each Send was written at once: every Send answers OK, in order.
    Node 3 is paused while they are published, so they wait for it in one
    piece (well within --cluster-call-timeout, 1 s)."""
    import struct
    import h2raw
    n1, n3 = cluster.nodes[0], cluster.nodes[2]
    c, cid = cluster.client(2)
    conn = h2raw.H2(n1.mgmt_port, timeout=30)
    out = []
    for i in range(48):
        msg = pb.SendToConnectionRequest(connection_id=cid, data=b"%04d" % i * 250,
                                         type=2).SerializeToString()
        sid = 1 + 2 * i
        out.append(h2raw.frame(h2raw.HEADERS, h2raw.END_HEADERS, sid,
                               conn.encode(h2raw.grpc_headers(grpc_stubs.SEND))))
        out.append(h2raw.frame(h2raw.DATA, h2raw.END_STREAM, sid,
                               b"\x00" + struct.pack("!I", len(msg)) + msg))
    os.kill(n3.proc.pid, signal.SIGSTOP)
    try:
        conn.send(b"".join(out))
        time.sleep(0.3)
    finally:
        os.kill(n3.proc.pid, signal.SIGCONT)
    for i in range(48):
        h = conn.wait_headers(1 + 2 * i, timeout=30)
        assert h.get("grpc-status") == "0", (i, h)
    got = [c.recv_message(timeout=10 * SLOW)[1] for _ in range(48)]
    assert got == [b"%04d" % i * 250 for i in range(48)]
    conn.close()
    c.close()


# -- failures ------------------------------------------------------------------------

def test_sigkill_owner(cluster):
    """Killed: UNAVAILABLE at once (Redis sees its inbox unsubscribed), then
    NOT_FOUND once its lease (5 s) expires; never reported alive."""
    n1, n3 = cluster.nodes[0], cluster.nodes[2]
    c, cid = cluster.client(2)
    assert rest(n1, "GET", PREFIX + cid)[0] == 200
    n3.proc.kill()
    n3.proc.wait()
    n3.log.close()
    t0 = time.time()
    seen = []
    while time.time() - t0 < 10 * SLOW:
        st, body = rest(n1, "GET", PREFIX + cid)
        seen.append((round(time.time() - t0, 2), st))
        assert st in (503, 404), (st, body)
        if st == 503:
            assert body["code"] == 14
        if st == 404:
            break
        time.sleep(0.1)
    assert seen[0][1] == 503 and seen[0][0] < 1.5 * SLOW, seen
    assert seen[-1][1] == 404, seen
    assert 3 < seen[-1][0] < 8 * SLOW, seen
    c.close()
    n3.proc.returncode = None  # the fixture skips it


def test_sigstop_owner(cluster):
    """Frozen: UNAVAILABLE within the deadline (1 s); the Send that timed
    out is never delivered after SIGCONT; calls work again after."""
    n1, n3 = cluster.nodes[0], cluster.nodes[2]
    c, cid = cluster.client(2)
    os.kill(n3.proc.pid, signal.SIGSTOP)
    try:
        t0 = time.time()
        st, body = rest(n1, "POST", PREFIX + cid + ":send", send_body(b"late"))
        took = time.time() - t0
        assert st == 503 and body["code"] == 14, body
        assert "did not answer" in body["message"]
        assert 0.9 < took < 1.0 + 2 * SLOW, took
        st, body = rest(n1, "GET", PREFIX + cid)
        assert st == 503
    finally:
        os.kill(n3.proc.pid, signal.SIGCONT)
    wait_up(cluster.nodes)
    assert rest(n1, "POST", PREFIX + cid + ":send", send_body(b"after")) == (200, {})
    assert c.recv_message(timeout=5) == (2, b"after")  # not "late"
    c.close()


def test_redis_restart(cluster):
    n1, n3 = cluster.nodes[0], cluster.nodes[2]
    c, cid = cluster.client(2)
    cluster.redis.stop()
    deadline = time.time() + 5 * SLOW
    while ready(n1)["cluster"]["link"] == "up" and time.time() < deadline:
        time.sleep(0.02)
    t0 = time.time()
    st, body = rest(n1, "GET", PREFIX + cid)
    assert st == 503 and body["code"] == 14, body
    assert time.time() - t0 < 0.5 * SLOW
    r = rest(n1, "GET", "/readyz")
    assert r[0] == 200 and r[1]["cluster"]["link"].startswith(("down", "connecting")), r
    # local calls keep working
    assert rest(n3, "GET", PREFIX + cid)[0] == 200
    assert rest(n3, "POST", PREFIX + cid + ":send", send_body(b"local")) == (200, {})
    assert c.recv_message(timeout=5) == (2, b"local")
    cluster.redis.start()
    wait_up(cluster.nodes)
    deadline = time.time() + 5 * SLOW
    while rest(n1, "GET", PREFIX + cid)[0] != 200 and time.time() < deadline:
        time.sleep(0.05)
    assert rest(n1, "POST", PREFIX + cid + ":send", send_body(b"remote")) == (200, {})
    assert c.recv_message(timeout=5) == (2, b"remote")
    c.close()


def test_subscriber_killed_by_redis(cluster):
    """CLIENT KILL TYPE pubsub: every node notices, resubscribes, and remote
    calls work again without restarting anything."""
    n1 = cluster.nodes[0]
    c, cid = cluster.client(2)
    killed = int(cluster.redis.cli("CLIENT", "KILL", "TYPE", "pubsub"))
    assert killed == 3
    wait_up(cluster.nodes)
    deadline = time.time() + 5 * SLOW
    while rest(n1, "GET", PREFIX + cid)[0] != 200 and time.time() < deadline:
        time.sleep(0.05)
    assert rest(n1, "POST", PREFIX + cid + ":send", send_body(b"again")) == (200, {})
    assert c.recv_message(timeout=5) == (2, b"again")
    for n in cluster.nodes:
        assert "redis subscriber link: closed by the server" in n.read_log()
    c.close()


def test_command_link_killed_by_redis(cluster):
    """CLIENT KILL TYPE normal (the command connections): every node
    reconnects and keeps refreshing its own lease (SET NX would find it
    still there), so leases never run out while the nodes live."""
    tags = [cluster.tag(i) for i in range(3)]
    assert int(cluster.redis.cli("CLIENT", "KILL", "TYPE", "normal")) >= 3
    wait_up(cluster.nodes)
    time.sleep(2.5)
    for t in tags:
        assert int(cluster.redis.cli("PTTL", "wsgw:node:" + t)) > 3000
    c, cid = cluster.client(2)
    assert rest(cluster.nodes[0], "GET", PREFIX + cid)[0] == 200
    for n in cluster.nodes:
        assert "held by another node" not in n.read_log()
    c.close()


def test_tag_taken_at_start_picks_another(cluster, tmp_path):
    """A node whose first tag is held by a live node (made to collide with
    WSGW_CLUSTER_TAG_FOR_TESTS) picks another before its first client, says
    so in its log, leaves the other node's lease alone, and serves remote
    calls under its new tag."""
    n1 = cluster.nodes[0]
    taken = cluster.tag(0)
    lease = cluster.redis.cli("GET", "wsgw:node:" + taken)
    d = tmp_path / "n4"
    d.mkdir()
    n4 = Server(["--cluster", cluster.redis.url],
                env={"WSGW_CLUSTER_TAG_FOR_TESTS": taken}).start(d)
    try:
        wait_up([n4])
        log = n4.read_log()
        assert "tag %s is taken by another node; picking another" % taken in log, log
        tag = ready(n4)["cluster"]["node"]
        assert tag != taken and re.fullmatch(r"[a-z2-7]{6}", tag), tag
        assert json.loads(cluster.redis.cli("GET", "wsgw:node:" + tag))["address"]
        assert cluster.redis.cli("GET", "wsgw:node:" + taken) == lease
        c4 = wsraw.connect(n4.port)
        cid4 = c4.response_headers[ID_HEADER]
        assert cid4.startswith(tag)
        c1, cid1 = cluster.client(0)
        # both ways across Redis: the new inbox is subscribed, and node 1
        # still answers for its own tag
        assert rest(n1, "GET", PREFIX + cid4)[0] == 200
        assert rest(n4, "POST", PREFIX + cid1 + ":send", send_body(b"to1")) == (200, {})
        assert c1.recv_message(timeout=5) == (2, b"to1")
        # only node 1 listens on the taken tag's inbox now
        assert cluster.redis.cli("PUBSUB", "NUMSUB", "wsgw:inbox:" + taken).split() == [
            "wsgw:inbox:" + taken, "1"]
        c4.close()
        c1.close()
    finally:
        code = n4.stop()
        n4.assert_clean()
        assert code == 0


# -- metrics ----------------------------------------------------------------------

def metrics(node):
    """The parsed /metrics of a node, and its text."""
    from test_metrics import parse
    c = httpc.HTTPConnection("127.0.0.1", node.mgmt_port, timeout=10)
    c.request("GET", "/metrics")
    r = c.getresponse()
    text = r.read().decode()
    c.close()
    assert r.status == 200, text
    return parse(text), text


def mval(m, name, **labels):
    return m.get((name, tuple(sorted(labels.items()))), 0.0)


def wait_mval(node, pred, what, timeout=10):
    deadline = time.time() + timeout * SLOW
    while True:
        m, _ = metrics(node)
        if pred(m):
            return m
        assert time.time() < deadline, "metrics never showed %s" % what
        time.sleep(0.05)


def test_cluster_metrics(cluster):
    """README "Metrics" (wsgw_cluster_*): link gauges, reconnects, remote
    calls by op and outcome with their histogram, calls in flight, requests
    served for other nodes, requests dropped past their deadline; promtool
    passes on the output."""
    from test_metrics import promtool_check
    import threading
    n1, n3 = cluster.nodes[0], cluster.nodes[2]
    m, _ = metrics(n1)
    for link in ("commands", "subscriber"):
        assert mval(m, "wsgw_cluster_link_up", link=link) == 1
        assert mval(m, "wsgw_cluster_link_reconnects_total", link=link) == 0
    assert mval(m, "wsgw_cluster_remote_calls_in_flight") == 0
    c, cid = cluster.client(2)
    assert rest(n1, "GET", PREFIX + cid)[0] == 200
    assert rest(n1, "POST", PREFIX + cid + ":send", send_body(b"x")) == (200, {})
    assert c.recv_message(timeout=5) == (2, b"x")
    ghost = "zzzzzz" + cid[6:]  # a tag no node holds
    assert rest(n1, "DELETE", PREFIX + ghost)[0] == 404
    m, text = metrics(n1)
    calls = {k[1]: v for k, v in m.items() if k[0] == "wsgw_cluster_remote_calls_total"}
    assert calls == {(("op", "get"), ("outcome", "ok")): 1,
                     (("op", "send"), ("outcome", "ok")): 1,
                     (("op", "disconnect"), ("outcome", "not_found")): 1}, calls
    for op in ("get", "send", "disconnect"):
        assert mval(m, "wsgw_cluster_remote_call_duration_seconds_count", op=op) == 1
        assert mval(m, "wsgw_cluster_remote_call_duration_seconds_bucket", op=op, le="+Inf") == 1
    # the local call on the owner is not a remote one; it served two requests
    m3, _ = metrics(n3)
    assert mval(m3, "wsgw_cluster_requests_served_total", op="get") == 1
    assert mval(m3, "wsgw_cluster_requests_served_total", op="send") == 1
    assert not any(k[0] == "wsgw_cluster_remote_calls_total" for k in m3)
    promtool_check(text)

    # a frozen owner: one call in flight, then its deadline; the owner drops
    # the request once it runs again
    os.kill(n3.proc.pid, signal.SIGSTOP)
    try:
        res = []
        t = threading.Thread(target=lambda: res.append(
            rest(n1, "POST", PREFIX + cid + ":send", send_body(b"late"))))
        t.start()
        wait_mval(n1, lambda m: mval(m, "wsgw_cluster_remote_calls_in_flight") == 1, "in flight 1")
        t.join(10)
        assert res and res[0][0] == 503, res
    finally:
        os.kill(n3.proc.pid, signal.SIGCONT)
    m = wait_mval(n1, lambda m: mval(m, "wsgw_cluster_remote_calls_in_flight") == 0, "in flight 0")
    assert mval(m, "wsgw_cluster_remote_calls_total", op="send", outcome="deadline") == 1
    assert mval(m, "wsgw_cluster_remote_calls_total", op="send", outcome="unavailable") == 0
    wait_mval(n3, lambda m: mval(m, "wsgw_cluster_requests_dropped_late_total") == 1, "dropped 1")

    # Redis drops every subscriber: each node's subscriber link reconnects
    assert int(cluster.redis.cli("CLIENT", "KILL", "TYPE", "pubsub")) == 3
    wait_up(cluster.nodes)
    for n in cluster.nodes:
        m, text = metrics(n)
        assert mval(m, "wsgw_cluster_link_reconnects_total", link="subscriber") >= 1
        assert mval(m, "wsgw_cluster_link_reconnects_total", link="commands") == 0
        assert mval(m, "wsgw_cluster_link_up", link="subscriber") == 1
    # Redis gone: both links down, a remote call UNAVAILABLE at once
    cluster.redis.stop()
    m = wait_mval(n1, lambda m: mval(m, "wsgw_cluster_link_up", link="commands") == 0, "link down")
    assert rest(n1, "GET", PREFIX + cid)[0] == 503
    m, text = metrics(n1)
    assert mval(m, "wsgw_cluster_remote_calls_total", op="get", outcome="unavailable") == 1
    promtool_check(text)
    cluster.redis.start()
    wait_up(cluster.nodes)
    c.close()


def test_no_cluster_metrics_without_cluster(tmp_path):
    """Without --cluster nothing changes: no wsgw_cluster_* family."""
    srv = Server([]).start(tmp_path)
    try:
        _, text = metrics(srv)
        assert "wsgw_cluster_" not in text
    finally:
        assert srv.stop() == 0


@pytest.mark.parametrize("url", ["redis://example.com:6379", "http://127.0.0.1:6379",
                                 "redis://127.0.0.1:0", "redis://127.0.0.1:6379/99999"])
def test_bad_cluster_url_refused_at_start(url):
    from conftest import WSGW_BIN
    p = subprocess.run([WSGW_BIN, "--listen", "127.0.0.1:0", "--mgmt-listen", "127.0.0.1:0",
                        "--cluster", url], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2, p
    assert "--cluster: " in p.stderr


class Blackhole:
    """A TCP proxy to Redis that can freeze the subscriber connections: it
    stops forwarding both ways on the connections that sent SUBSCRIBE, and
    keeps them open, so neither side sees an error (a silently dead
    subscription, as a broken middlebox would leave it)."""

    def __init__(self, redis_port):
        import threading
        self.redis_port = redis_port
        self.states = []
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.socks = []
        self.threading = threading
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                a, _ = self.lsock.accept()
            except OSError:
                return
            b = socket.create_connection(("127.0.0.1", self.redis_port))
            self.socks += [a, b]
            state = {"sub": False, "frozen": False}
            self.states.append(state)
            self.threading.Thread(target=self._pump, args=(a, b, state, True), daemon=True).start()
            self.threading.Thread(target=self._pump, args=(b, a, state, False), daemon=True).start()

    def _pump(self, src, dst, state, upstream):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                return
            if upstream and b"SUBSCRIBE" in data:
                state["sub"] = True
            while state["frozen"]:
                time.sleep(0.05)
            try:
                dst.sendall(data)
            except OSError:
                return

    def freeze(self):
        """Freezes the subscriber connections open now (not later ones)."""
        for st in self.states:
            st["frozen"] = st["sub"]

    def close(self):
        for st in self.states:
            st["frozen"] = False
        self.lsock.close()
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass


def test_silently_dead_subscription(tmp_path):
    """A subscriber connection that stops delivering without any error is
    found by the inbox probe (3.5 s) and replaced; remote calls work again."""
    redis = Redis(tmp_path).start()
    hole = Blackhole(redis.port)
    nodes = []
    try:
        for i, url in enumerate(["redis://127.0.0.1:%d/0" % hole.port, redis.url]):
            d = tmp_path / ("n%d" % i)
            d.mkdir()
            nodes.append(Server(["--cluster", url]).start(d))
        wait_up(nodes)
        c = wsraw.connect(nodes[0].port)
        cid = c.response_headers[ID_HEADER]
        assert rest(nodes[1], "GET", PREFIX + cid)[0] == 200
        hole.freeze()  # node 0's subscription goes silent from now on
        deadline = time.time() + 15 * SLOW
        while "inbox probe did not come back" not in nodes[0].read_log():
            assert time.time() < deadline, nodes[0].read_log()
            time.sleep(0.1)
        m, _ = metrics(nodes[0])
        assert mval(m, "wsgw_cluster_probe_failures_total", reason="timeout") == 1
        deadline = time.time() + 10 * SLOW
        while rest(nodes[1], "GET", PREFIX + cid)[0] != 200:
            assert time.time() < deadline
            time.sleep(0.1)
        c.close()
    finally:
        for n in nodes:
            code = n.stop()
            n.assert_clean()
            assert code == 0
        hole.close()
        redis.stop()


def test_extension_calls_are_cluster_wide(cluster):
    """The wsgw.v1 fan-out calls answer for the whole cluster (README
    "Running several nodes"; more in test_cluster_fan.py): Count and
    Broadcast asked on node 1 see and reach a client of node 3, and
    CloseConnection reaches it like Disconnect does."""
    n1, n3 = cluster.nodes[0], cluster.nodes[2]
    c, cid = cluster.client(2)
    for n in (n1, n3):
        st, body = rest(n, "GET", "/wsgw/v1/connections:count")
        assert st == 200 and int(body["total"]) == 1 and "missingNodes" not in body, body
    st, body = rest(n1, "POST", "/wsgw/v1/broadcast", send_body(b"b1"))
    assert st == 200 and body == {"delivered": 1, "skipped": 0, "total": 1}, body
    assert c.recv_message(timeout=5) == (2, b"b1")
    st, body = rest(n3, "POST", "/wsgw/v1/broadcast", send_body(b"b3"))
    assert st == 200 and body["delivered"] == 1, body
    assert c.recv_message(timeout=5) == (2, b"b3")
    st, body = rest(n1, "POST", "/wsgw/v1/connections/%s:close" % cid,
                    json.dumps({"code": 4001, "reason": "bye"}))
    assert st == 200, body
    assert c.recv_close(timeout=5)[0] == 4001
    c.close()
