"""ListConnections across the cluster (README "Running several nodes"): one
Redis and three nodes, clients on all three, the listing asked page by page
on the nodes in turn (a token is good on any node). Every connection is
listed exactly once with small pages, filters apply on the owner, a listing
survives connections coming and going; an owner frozen (SIGSTOP) or killed
(SIGKILL) mid-listing, or Redis down, answers the page UNAVAILABLE and the
same token lists on once it is back (a killed node once its lease expired:
skipped). Also the fan-out cap: at most 64 fan-out calls wait on one node.
"""
import os
import signal
import time
import urllib.parse

import grpc
import pytest

import wsraw
from test_cluster import SLOW, rest, running_cluster, wait_up
from test_cluster_fan import write_spec
from test_ext_api import close_all
from test_ext_list_size import UA as BIG_UA, open_with_ua

GW = "/wsgw/v1"
TIMEOUT_MS = 1500  # --cluster-call-timeout
ID_HEADER = "x-yc-apigateway-websocket-connection-id"


@pytest.fixture(scope="module")
def lst(tmp_path_factory):
    """One cluster for the whole file (starting one takes seconds on a
    loaded machine): each test closes its clients and leaves the nodes
    and Redis running, except the last, which kills node 3."""
    d = tmp_path_factory.mktemp("lst")
    spec = write_spec(d)
    with running_cluster(d, ["--spec", spec, "--cluster-call-timeout",
                             "%dms" % TIMEOUT_MS, "--close-timeout", "2s",
                             "--max-head", "16K", "--max-user-agent", "8K"]) as c:
        yield c


def settle(c):
    """The previous test's clients are gone from every node."""
    deadline = time.time() + 5 * SLOW
    while True:
        st, body = rest(c.nodes[0], "GET", GW + "/connections:count")
        if st == 200 and body["total"] == 0 and "missingNodes" not in body:
            return
        assert time.time() < deadline, body
        time.sleep(0.05)


OPENED = []


@pytest.fixture(autouse=True)
def close_leftovers():
    """A failed test's clients are closed too, so the next test starts clean."""
    yield
    while OPENED:
        OPENED.pop().close()


def open_clients(c, per_node, path="/feed"):
    """{id: (conn, node index, path)} with per_node clients on each node."""
    out = {}
    for i in range(3):
        for k in range(per_node):
            p = path.format(i=i, k=k)
            w = wsraw.connect(c.nodes[i].port, path=p)
            OPENED.append(w)
            out[w.response_headers[ID_HEADER]] = (w, i, p)
    return out


def close_clients(cs):
    for v in cs.values():
        v[0].close()


def page(node, size, token="", **filters):
    q = {"pageSize": size}
    if token:
        q["pageToken"] = token
    q.update(filters)
    return rest(node, "GET", GW + "/connections?" + urllib.parse.urlencode(q))


def walk(c, size, between=None, **filters):
    """Every page from the start, asked on node 1, 2, 3, 1, ...: the ids in
    order (duplicates kept) and the number of pages."""
    ids, token, n = [], "", 0
    while True:
        st, body = page(c.nodes[n % 3], size, token, **filters)
        assert st == 200, body
        n += 1
        got = [x["id"] for x in body.get("connections", [])]
        assert len(got) <= size
        ids += got
        token = body.get("nextPageToken", "")
        if between:
            between(n)
        if not token:
            return ids, n
        assert n < 500, "the walk does not end"


def test_every_connection_once_across_nodes(lst, gw_pb):
    settle(lst)
    cs = open_clients(lst, 3)
    cs.update(open_clients(lst, 1, path="/chat/r{i}"))
    tags = [lst.tag(i) for i in range(3)]
    for size in (1, 2, 5, 1000):
        ids, pages = walk(lst, size)
        assert len(ids) == len(set(ids)) == 12, (size, ids)
        assert set(ids) == set(cs)
        if size == 1:
            assert pages >= 12
    # A remote connection is listed with the fields its owner gives.
    by_id = {}
    token = ""
    while True:  # one page per node (a page never spans two nodes)
        st, body = page(lst.nodes[0], 1000, token)
        by_id.update({x["id"]: x for x in body["connections"]})
        token = body.get("nextPageToken", "")
        if not token:
            break
    assert len(by_id) == 12
    for cid, (w, i, path) in cs.items():
        x = by_id[cid]
        assert x["id"].startswith(tags[i])
        assert x["identity"]["sourceIp"] == "127.0.0.1"
        assert x["path"] == path
        assert x["route"] == ("/feed" if path == "/feed" else "/chat/{room}")
        assert x["gatewayId"] and x["connectedAt"]
    # The same through grpcio, asked on node 2.
    ch = grpc.insecure_channel("127.0.0.1:%d" % lst.nodes[1].mgmt_port)
    call = ch.unary_unary("/wsgw.v1.GatewayService/ListConnections",
                          request_serializer=gw_pb.ListConnectionsRequest.SerializeToString,
                          response_deserializer=gw_pb.ListConnectionsResponse.FromString)
    got, token = [], ""
    while True:
        r = call(gw_pb.ListConnectionsRequest(page_size=3, page_token=token), timeout=10)
        got += [x.id for x in r.connections]
        token = r.next_page_token
        if not token:
            break
    ch.close()
    assert sorted(got) == sorted(cs)
    close_clients(cs)


def test_filters_apply_on_the_owner(lst):
    settle(lst)
    cs = open_clients(lst, 2)
    cs.update(open_clients(lst, 1, path="/chat/r{i}"))
    chat = {cid for cid, (w, i, p) in cs.items() if p.startswith("/chat")}
    feed_ids = set(walk(lst, 2, route="/feed")[0])
    chat_ids = set(walk(lst, 1, route="/chat/{room}")[0])
    assert len(feed_ids) == 6 and len(chat_ids) == 3 and not feed_ids & chat_ids
    assert feed_ids | chat_ids == set(cs)
    assert chat_ids == chat
    ids, _ = walk(lst, 1, pathPrefix="/chat/r2")
    assert len(ids) == 1 and ids[0].startswith(lst.tag(2))
    # Groups live on the owner: joined through node 1 for clients of 2 and 3.
    members = [cid for cid, (w, i, p) in cs.items() if i in (1, 2)][:3]
    for cid in members:
        st, body = rest(lst.nodes[0], "POST", GW + "/groups/team/connections/%s:join" % cid)
        assert st == 200, body
    ids, _ = walk(lst, 1, group="team")
    assert sorted(ids) == sorted(members)
    # connectedAfter: only the last client opened
    time.sleep(0.05)
    cut = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".%03dZ" % (
        int(time.time() * 1000) % 1000)
    time.sleep(0.05)
    w = wsraw.connect(lst.nodes[1].port, path="/feed")
    ids, _ = walk(lst, 1, connectedAfter=cut)
    assert ids == [w.response_headers[ID_HEADER]]
    w.close()
    # A token is bound to its filters, and a mangled one is refused.
    st, body = page(lst.nodes[0], 1, route="/feed")
    tok = body["nextPageToken"]
    st, body = page(lst.nodes[1], 1, tok, route="/chat/{room}")
    assert st == 400 and body["code"] == 3, body
    bad = tok[:-2] + ("A" if tok[-2] != "A" else "B") + tok[-1]
    st, body = page(lst.nodes[1], 1, bad, route="/feed")
    assert st == 400 and body["code"] == 3, body
    close_clients(cs)


def test_listing_while_connections_come_and_go(lst):
    settle(lst)
    stable = open_clients(lst, 3)
    churn = []
    opened = []

    def between(n):
        # after every page: one more client somewhere, and close an older churner
        w = wsraw.connect(lst.nodes[n % 3].port, path="/feed")
        churn.append(w)
        opened.append(w.response_headers[ID_HEADER])
        if len(churn) > 2:
            churn.pop(0).close()

    ids, pages = walk(lst, 2, between=between)
    assert len(ids) == len(set(ids)), "a connection listed twice"
    assert set(stable) <= set(ids), set(stable) - set(ids)
    assert set(ids) <= set(stable) | set(opened)
    assert pages >= 5
    for w in churn:
        w.close()
    close_clients(stable)


def walk_until_on(c, node_idx, size=1):
    """Pages (size 1) from the start until one lists a connection of
    node_idx with more to come on it: (ids so far, the token)."""
    tag = c.tag(node_idx)
    ids, token, n = [], "", 0
    while n < 500:
        st, body = page(c.nodes[n % 3], size, token)
        assert st == 200, body
        n += 1
        got = [x["id"] for x in body.get("connections", [])]
        ids += got
        token = body.get("nextPageToken", "")
        assert token, "the walk ended before reaching node %d" % node_idx
        if got and got[-1].startswith(tag):
            return ids, token
    raise AssertionError("never on node %d" % node_idx)


def finish(c, ids, token, asked_on=0, size=1):
    for _ in range(500):
        if not token:
            return ids
        st, body = page(c.nodes[asked_on], size, token)
        assert st == 200, body
        ids += [x["id"] for x in body.get("connections", [])]
        token = body.get("nextPageToken", "")
    raise AssertionError("the walk does not end")


def test_frozen_owner_mid_listing(lst):
    settle(lst)
    cs = open_clients(lst, 3)
    n3 = lst.nodes[2]
    ids, token = walk_until_on(lst, 2)
    os.kill(n3.proc.pid, signal.SIGSTOP)
    try:
        t0 = time.time()
        st, body = page(lst.nodes[0], 1, token)
        took = time.time() - t0
        assert st == 503 and body["code"] == 14, body
        assert "page_token" in body["message"], body
        assert TIMEOUT_MS / 1000 * 0.9 < took < TIMEOUT_MS / 1000 + 2 * SLOW, took
    finally:
        os.kill(n3.proc.pid, signal.SIGCONT)
    wait_up(lst.nodes)
    ids = finish(lst, ids, token)
    assert len(ids) == len(set(ids)) and set(ids) == set(cs), ids
    close_clients(cs)


def test_redis_down_mid_listing(lst):
    settle(lst)
    cs = open_clients(lst, 2)
    ids, token = walk_until_on(lst, 1)
    lst.redis.stop()
    try:
        deadline = time.time() + 5 * SLOW
        while rest(lst.nodes[0], "GET", "/readyz")[1]["cluster"]["link"] == "up":
            assert time.time() < deadline
            time.sleep(0.02)
        t0 = time.time()
        st, body = page(lst.nodes[0], 1, token)
        assert st == 503 and body["code"] == 14, body
        assert time.time() - t0 < 0.5 * SLOW
        # Even a listing from the start: no node's connections only.
        st, body = page(lst.nodes[0], 1000)
        assert st == 503 and body["code"] == 14, body
    finally:
        lst.redis.start()
    wait_up(lst.nodes)
    deadline = time.time() + 5 * SLOW
    while len(lst.redis.cli("KEYS", "wsgw:node:*").split()) < 3:
        assert time.time() < deadline
        time.sleep(0.05)
    ids = finish(lst, ids, token)
    assert len(ids) == len(set(ids)) and set(ids) == set(cs), ids
    close_clients(cs)


def test_waiting_caps(lst, gw_pb):
    """With node 3 frozen every Count waits for it: 64 wait on node 1, the
    65th is RESOURCE_EXHAUSTED at once; likewise 8 listings waiting on
    other nodes. They all answer once the deadline passes."""
    settle(lst)
    cs = open_clients(lst, 2)
    n1, n3 = lst.nodes[0], lst.nodes[2]
    tag3 = lst.tag(2)
    ids, token = walk_until_on(lst, 2)
    ch = grpc.insecure_channel("127.0.0.1:%d" % n1.mgmt_port)
    count = ch.unary_unary("/wsgw.v1.GatewayService/CountConnections",
                           request_serializer=gw_pb.CountConnectionsRequest.SerializeToString,
                           response_deserializer=gw_pb.CountConnectionsResponse.FromString)
    listc = ch.unary_unary("/wsgw.v1.GatewayService/ListConnections",
                           request_serializer=gw_pb.ListConnectionsRequest.SerializeToString,
                           response_deserializer=gw_pb.ListConnectionsResponse.FromString)
    os.kill(n3.proc.pid, signal.SIGSTOP)
    try:
        t0 = time.time()
        waiting = [count.future(gw_pb.CountConnectionsRequest(), timeout=30) for _ in range(64)]
        lists = [listc.future(gw_pb.ListConnectionsRequest(page_size=1, page_token=token),
                              timeout=30) for _ in range(8)]
        time.sleep(0.3 * SLOW)
        assert time.time() - t0 < TIMEOUT_MS / 1000 * 0.8, "too slow to test the cap"
        over = [count.future(gw_pb.CountConnectionsRequest(), timeout=10),
                listc.future(gw_pb.ListConnectionsRequest(page_size=1, page_token=token),
                             timeout=10)]
        for f, n in zip(over, ("64", "8")):
            with pytest.raises(grpc.RpcError) as e:
                f.result()
            assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, e.value.details()
            assert n in e.value.details()
            assert time.time() - t0 < TIMEOUT_MS / 1000, "answered at once"
        for f in waiting:
            r = f.result()
            assert r.total == 4 and list(r.missing_nodes) == [tag3]
        for f in lists:
            with pytest.raises(grpc.RpcError) as e:
                f.result()
            assert e.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        os.kill(n3.proc.pid, signal.SIGCONT)
    wait_up(lst.nodes)
    # The cap is of calls waiting, not a lifetime count.
    r = count(gw_pb.CountConnectionsRequest(), timeout=10)
    assert r.total == 6 and not r.missing_nodes
    ch.close()
    ids = finish(lst, ids, token)
    assert len(ids) == len(set(ids)) and set(ids) == set(cs)
    close_clients(cs)


def test_big_pages_cross_redis_whole(lst, gw_pb):
    """600 connections on node 3 with 7 000-byte User-Agents (~4.4 MB of
    answer): listed through node 1 by grpcio with its default 4 MiB
    receive limit, the owner's pages end at its 3.5 MiB bound, cross Redis
    intact (every User-Agent whole), and the walk lists each once."""
    settle(lst)
    n = 600
    conns = open_with_ua(lst.nodes[2].port, n)
    try:
        ch = grpc.insecure_channel("127.0.0.1:%d" % lst.nodes[0].mgmt_port)
        call = ch.unary_unary("/wsgw.v1.GatewayService/ListConnections",
                              request_serializer=gw_pb.ListConnectionsRequest.SerializeToString,
                              response_deserializer=gw_pb.ListConnectionsResponse.FromString)
        seen, pages, token = [], [], ""
        while True:
            r = call(gw_pb.ListConnectionsRequest(page_size=1000, page_token=token), timeout=30)
            assert all(x.identity.user_agent == BIG_UA for x in r.connections)
            seen += [x.id for x in r.connections]
            if r.connections:
                pages.append(len(r.connections))
            token = r.next_page_token
            if not token:
                break
        ch.close()
        assert len(pages) >= 2 and 100 < pages[0] < n, pages
        assert len(seen) == len(set(seen)) == n
        assert all(x.startswith(lst.tag(2)) for x in seen)
    finally:
        close_all(conns)


def test_killed_owner_mid_listing(lst):
    settle(lst)
    cs = open_clients(lst, 3)
    n3 = lst.nodes[2]
    tag3 = lst.tag(2)
    ids, token = walk_until_on(lst, 2)
    n3.proc.kill()
    n3.proc.wait()
    n3.log.close()
    time.sleep(0.2)  # Redis notices the closed subscriber
    # Its lease lives on: UNAVAILABLE at once (nobody listens), never a
    # page that skips its connections without saying so.
    t0 = time.time()
    st, body = page(lst.nodes[1], 1, token)
    assert st == 503 and body["code"] == 14, body
    assert time.time() - t0 < TIMEOUT_MS / 1000
    # Once the lease expired the node is gone with its connections: the
    # same token lists on past it.
    deadline = time.time() + 10
    while lst.redis.cli("EXISTS", "wsgw:node:" + tag3) == "1":
        assert time.time() < deadline
        time.sleep(0.1)
    ids = finish(lst, ids, token, asked_on=1)
    assert len(ids) == len(set(ids)), ids
    alive = {cid for cid, (w, i, p) in cs.items() if i != 2}
    assert alive <= set(ids)
    assert all(i in alive or i.startswith(tag3) for i in ids)
    close_clients(cs)
    n3.proc.returncode = None  # the fixture skips it
