"""ListConnections stays under grpcio's default 4 MiB receive limit
(README, "Extension API (wsgw.v1)", Paging): a page of 1000 connections
whose fields would encode to ~8 MB comes back short, with a
next_page_token, and the walk still lists every connection exactly once,
over gRPC (a default channel: 4 MiB receive limit) and over REST.

Seen failing with the size bound removed: grpc's RESOURCE_EXHAUSTED
"Received message larger than max".
"""
import socket

import grpc

from test_ext_api import KEY, TOKEN, close_all, ext, fd_room, pb, wait_count  # noqa: F401

N = 1000
UA = "u" * 7000  # with the other fields: ~7.3 KB a connection, ~7.3 MB a full page


def open_with_ua(port, n):
    req = (b"GET /chat/big HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
           b"Connection: Upgrade\r\nSec-WebSocket-Key: " + KEY +
           b"\r\nSec-WebSocket-Version: 13\r\nUser-Agent: " + UA.encode() + b"\r\n\r\n")
    out = []
    try:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            out.append((s, None))
            s.sendall(req)
            head = b""
            while b"\r\n\r\n" not in head:
                d = s.recv(4096)
                assert d, "closed before the 101"
                head += d
            assert head.startswith(b"HTTP/1.1 101 "), head[:200]
        return out
    except BaseException:
        close_all(out)
        raise


def test_big_page_comes_back_short_and_the_walk_is_whole(ext, fd_room):  # noqa: F811
    api = ext("--max-head", "16K", "--max-user-agent", "8K")
    conns = open_with_ua(api.server.port, N)
    try:
        assert wait_count(api, N).total == N
        # gRPC, default channel options (4 MiB receive limit)
        seen, token, pages = [], "", []
        while True:
            r = api.grpc("ListConnections", page_size=1000, page_token=token)
            pages.append(len(r.connections))
            assert all(c.identity.user_agent == UA for c in r.connections)
            seen += [c.id for c in r.connections]
            token = r.next_page_token
            if not token:
                break
        assert 100 < pages[0] < N, pages
        assert len(pages) >= 2 and all(pages), pages
        assert len(seen) == N == len(set(seen)), (len(seen), len(set(seen)))
        # REST: the same bound, the same walk
        rest_seen, token = [], ""
        while True:
            q = "/wsgw/v1/connections?pageSize=1000" + ("&pageToken=" + token if token else "")
            st, body = api.rest("GET", q)
            assert st == 200, body
            rest_seen += [c["id"] for c in body["connections"]]
            token = body["nextPageToken"]
            if not token:
                break
        assert sorted(rest_seen) == sorted(seen)
    finally:
        close_all(conns)
