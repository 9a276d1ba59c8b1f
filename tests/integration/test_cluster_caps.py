"""Cluster mode: the caps on remote calls in flight (--cluster-max-calls) and
on bytes queued for Redis (--cluster-max-queued). Past either cap a remote
call answers RESOURCE_EXHAUSTED at once, and the node's memory stays
bounded; once the owner or Redis moves again, calls work as before.
Redis and three nodes on loopback (test_cluster.running_cluster)."""
import os
import signal
import threading
import time

import grpc

from conftest import ASAN
from test_cluster import PREFIX, SLOW, grpc_code, ready, rest, running_cluster, send_body, wait_up


def pending_calls(node):
    return ready(node)["cluster"]["pending_calls"]


def wait_pending(node, n, timeout=10):
    deadline = time.time() + timeout * SLOW
    while time.time() < deadline:
        if pending_calls(node) == n:
            return
        time.sleep(0.02)
    raise AssertionError("pending_calls %d, not %d" % (pending_calls(node), n))


def test_max_calls(tmp_path, grpc_client):
    """--cluster-max-calls 20 and the owner frozen: 20 remote Sends wait, the
    21st (REST and gRPC, Send and Get) answers RESOURCE_EXHAUSTED at once;
    local calls are not capped; after SIGCONT the 20 are delivered and remote
    calls are taken again."""
    timeout_s = 5 * SLOW
    flags = ["--cluster-max-calls", "20", "--cluster-call-timeout", "%ds" % timeout_s]
    with running_cluster(tmp_path, flags) as cluster:
        n1, n3 = cluster.nodes[0], cluster.nodes[2]
        g1 = grpc_client(n1)
        c, cid = cluster.client(2)
        local, lid = cluster.client(0)
        results = []

        def one(i):
            results.append(rest(n1, "POST", PREFIX + cid + ":send",
                                send_body(b"m%02d" % i), timeout=timeout_s + 20))

        os.kill(n3.proc.pid, signal.SIGSTOP)
        threads = []
        try:
            for i in range(20):
                t = threading.Thread(target=one, args=(i,))
                t.start()
                threads.append(t)
            wait_pending(n1, 20)
            t0 = time.time()
            st, body = rest(n1, "POST", PREFIX + cid + ":send", send_body(b"21st"))
            assert st == 429 and body["code"] == 8, (st, body)
            assert "--cluster-max-calls" in body["message"], body
            st, body = rest(n1, "GET", PREFIX + cid)
            assert st == 429 and body["code"] == 8, (st, body)
            code, msg = grpc_code(g1.send, cid, b"21st", 2)
            assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, (code, msg)
            took = time.time() - t0
            assert took < 1.0 * SLOW, took  # at once, not after the 5 s deadline
            # calls for this node's own connections are not remote calls
            assert rest(n1, "POST", PREFIX + lid + ":send", send_body(b"local")) == (200, {})
            assert local.recv_message(timeout=5) == (2, b"local")
            assert pending_calls(n1) == 20
            assert not results  # the 20 still wait
        finally:
            os.kill(n3.proc.pid, signal.SIGCONT)
        for t in threads:
            t.join(timeout_s + 30)
        assert sorted(r[0] for r in results) == [200] * 20, results
        got = sorted(c.recv_message(timeout=10)[1] for _ in range(20))
        assert got == [b"m%02d" % i for i in range(20)]
        wait_pending(n1, 0)
        wait_up(cluster.nodes)
        assert rest(n1, "POST", PREFIX + cid + ":send", send_body(b"after")) == (200, {})
        assert c.recv_message(timeout=5) == (2, b"after")
        c.close()
        local.close()


def test_max_queued(tmp_path, grpc_client):
    """--cluster-max-queued 1M and Redis frozen: remote Sends of 128 KiB are
    taken until 1 MiB plus what the kernel's socket buffers absorb is queued,
    then answer RESOURCE_EXHAUSTED at once; the node's RSS grows by about the
    cap, not by what was offered (up to 64 MiB); after SIGCONT remote calls
    work again."""
    # a short deadline: the Sends taken answer UNAVAILABLE soon, and the
    # queue fills well before the link's own 5 s reply timeout drops it
    flags = ["--cluster-max-queued", "1M", "--max-out-queue", "8M",
             "--cluster-call-timeout", "200ms"]
    with running_cluster(tmp_path, flags) as cluster:
        n1 = cluster.nodes[0]
        g1 = grpc_client(n1)
        c, cid = cluster.client(2)
        _, lid = cluster.client(0)
        payload = os.urandom(128 * 1024)
        batch = 32
        # Warm up node 1 with the same load on its management side (ids of
        # its own that nobody holds: NOT_FOUND, nothing sent to Redis), so
        # those buffers are already in the RSS measured before.
        ghost = lid[:6] + ("a" if lid[6] != "a" else "b") + lid[7:]
        for _ in range(2):
            futs = [g1.send_.future(g1.pb.SendToConnectionRequest(
                connection_id=ghost, data=payload, type=1), timeout=30) for _ in range(batch)]
            for f in futs:
                assert f.exception().code() == grpc.StatusCode.NOT_FOUND, f.exception()
        rss0 = n1.proc_status_kib("VmRSS")

        os.kill(cluster.redis.proc.pid, signal.SIGSTOP)
        accepted = rejected = offered = 0
        fast = []
        try:
            # Batches of concurrent Sends until a whole batch is refused
            # (every call then answers at once), or 64 MiB were offered.
            while offered < 64 << 20:
                t0 = time.time()
                futs = [g1.send_.future(g1.pb.SendToConnectionRequest(
                    connection_id=cid, data=payload, type=1), timeout=30) for _ in range(batch)]
                codes = [f.exception().code() if f.exception() else grpc.StatusCode.OK
                         for f in futs]
                offered += batch * len(payload)
                n_re = codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED)
                # taken: the call's deadline passes with Redis frozen
                assert all(x in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE)
                           for x in codes), codes
                accepted += batch - n_re
                rejected += n_re
                if n_re == batch:
                    fast.append(time.time() - t0)
                    break
            rss1 = n1.proc_status_kib("VmRSS")
            code, msg = grpc_code(g1.send, cid, payload, 1)
            assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, (code, msg)
            assert "--cluster-max-queued" in msg, msg
            st, body = rest(n1, "POST", PREFIX + cid + ":send", send_body(payload))
            assert st == 429 and body["code"] == 8, (st, body)
        finally:
            os.kill(cluster.redis.proc.pid, signal.SIGCONT)
        print("max-queued 1M: %d Sends of 128 KiB taken, %d refused, %d MiB offered; "
              "VmRSS %d -> %d KiB" % (accepted, rejected, offered >> 20, rss0, rss1))
        assert rejected >= batch, "never refused: %d MiB offered" % (offered >> 20)
        # 1 MiB queued, the rest in the socket buffers (at most the kernel's
        # tcp_wmem and tcp_rmem maximums): far from the 64 MiB offered
        kernel = sum(int(open("/proc/sys/net/ipv4/tcp_%s" % k).read().split()[2])
                     for k in ("wmem", "rmem"))
        assert 8 <= accepted <= ((1 << 20) + kernel) // len(payload) + 2, (accepted, kernel)
        assert fast[0] < 1.0 * SLOW, fast  # a refused batch: at once
        if not ASAN:  # ASan's quarantine keeps freed memory in the RSS
            assert rss1 - rss0 < 6 * 1024, (rss0, rss1)
        wait_up(cluster.nodes, timeout=20)
        assert rest(n1, "POST", PREFIX + cid + ":send", send_body(b"after")) == (200, {})
        while True:  # Sends taken before the freeze that still got through
            op, data = c.recv_message(timeout=10)
            if data == b"after":
                break
            assert data == payload
        c.close()
