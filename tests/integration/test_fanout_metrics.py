"""wsgw_fanout_in_progress (README, Metrics) while a paced Broadcast runs:
a scrape served between two of its slices shows it under way, and the
gauge is back to 0 once it answered; delivered counts every connection.

The scrape is sent on its own connection right after the broadcast
request; a try where the scrape was served before the broadcast began
is repeated (a liveness bound, never a figure).

Seen failing with the gauge's increment removed (in_progress never 1).
"""
import json
import socket
import time

from test_ext_api import close_all, fd_room, open_many  # noqa: F401 (fd_room: fixture)
from test_metrics import parse, val

N = 4000
BODY = json.dumps({"data": "aGk=", "type": "TEXT"}).encode()


def http_req(port, head):
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    s.sendall(head)
    return s


def read_response(s):
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        assert d, "closed"
        buf += d
    head, _, body = buf.partition(b"\r\n\r\n")
    n = int([ln.split(b":")[1] for ln in head.split(b"\r\n")
             if ln.lower().startswith(b"content-length:")][0])
    while len(body) < n:
        d = s.recv(65536)
        assert d, "closed"
        body += d
    return body.decode()


def test_in_progress_during_a_paced_broadcast(wsgw_factory, fd_room):  # noqa: F811
    srv = wsgw_factory(["--max-connections", str(N + 100)])
    conns = open_many(srv.port, "/", N)
    bcast = (b"POST /wsgw/v1/broadcast HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             b"Content-Length: %d\r\n\r\n" % len(BODY)) + BODY
    scrape = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
    try:
        seen, tries, delivered = False, 0, 0
        while not seen and tries < 20:
            tries += 1
            b = http_req(srv.mgmt_port, bcast)
            m = parse(read_response(http_req(srv.mgmt_port, scrape)))
            seen = val(m, "wsgw_fanout_in_progress", call="Broadcast") == 1
            r = json.loads(read_response(b))
            b.close()
            assert r["delivered"] == N and r["skipped"] == 0, r
            delivered += N
            for s, _ in conns:  # drain what the clients got, so queues stay empty
                s.setblocking(False)
                try:
                    while s.recv(65536):
                        pass
                except BlockingIOError:
                    pass
                s.setblocking(True)
        assert seen, "no scrape in %d tries saw the broadcast under way" % tries
        m = parse(read_response(http_req(srv.mgmt_port, scrape)))
        assert val(m, "wsgw_fanout_in_progress", call="Broadcast") == 0
        assert val(m, "wsgw_fanout_delivered_total", call="Broadcast") == delivered
    finally:
        close_all(conns)
