"""The probes in cluster mode (README, "Health probes" and "Running several
nodes"): /readyz shows the Redis link in its body and stays 200 while Redis
is down (the link is shown, not judged), turns 503 with the cluster state
from the moment a drain starts; the gRPC health service answers SERVING
likewise and NOT_SERVING only while draining.

Seen failing with /readyz made to answer 503 while the link is down (the
README's "stays 200" promise).
"""
import signal
import time

import grpc
import pytest

import wsraw
from conftest import Server
from test_cluster import SLOW, Redis, ready, rest
import grpc_stubs


@pytest.fixture
def node(tmp_path):
    redis = Redis(tmp_path).start()
    d = tmp_path / "n"
    d.mkdir()
    n = Server(["--cluster", redis.url, "--close-timeout", "30s",
                "--drain-timeout", "15s"]).start(d)
    try:
        yield redis, n
    finally:
        if n.proc.poll() is None:
            n.stop()
        redis.stop()


def wait_link(n, pred, what):
    deadline = time.time() + 15 * SLOW
    while time.time() < deadline:
        body = ready(n)
        if pred(body["cluster"]["link"]):
            return body
        time.sleep(0.05)
    raise AssertionError("link never %s: %r" % (what, ready(n)))


def test_readyz_and_grpc_health_in_cluster_mode(node, pb):  # noqa: F811
    redis, n = node
    ch = grpc.insecure_channel("127.0.0.1:%d" % n.mgmt_port, options=[("grpc.enable_http_proxy", 0)])
    client = grpc_stubs.Client(ch, pb)
    try:
        body = wait_link(n, lambda s: s == "up", "up")
        assert set(body) == {"status", "cluster"} and body["status"] == "ok", body
        assert set(body["cluster"]) == {"node", "link", "pending_calls"}, body
        assert client.check(timeout=10).status == 1  # SERVING
        # Redis down: still ready, the link state in the body
        redis.stop()
        body = wait_link(n, lambda s: s.startswith(("down", "connecting")), "down")
        st, body = rest(n, "GET", "/readyz")
        assert st == 200 and body["status"] == "ok", (st, body)
        assert client.check(timeout=10).status == 1
        # a drain (held open by a client that never answers the close)
        ws = wsraw.connect(n.port)
        try:
            n.proc.send_signal(signal.SIGTERM)
            assert ws.recv_close(timeout=10 * SLOW, skip_data=True)[0] == 1001
            st, body = rest(n, "GET", "/readyz")
            assert st == 503 and body["status"] == "draining", (st, body)
            assert set(body["cluster"]) == {"node", "link", "pending_calls"}, body
            assert client.check(timeout=10).status == 2  # NOT_SERVING
            assert n.proc.poll() is None, "the drain ended before the probes were checked"
        finally:
            ws.close()
    finally:
        ch.close()
