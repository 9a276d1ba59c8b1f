"""REST management API (shared/spec/API.md, REST) against the real binary:
curl over HTTP/1.1 (and HTTP/2 with prior knowledge), raw sockets for what
curl will not send (pipelining, broken framing, slow heads), and
python3-websockets or wsraw on the WebSocket side.

Statuses checked: 200, 400, 401, 404, 405 (+ Allow), 408, 413, 429, 431,
501, 503; every error body is {"code", "message", "details": [RequestInfo]}.
"""
import asyncio
import base64
import calendar
import json
import re
import signal
import socket
import subprocess
import time

import pytest
import websockets

import wsraw

PREFIX = "/apigateways/websocket/v1/connections/"
ID_HEADER = "x-yc-apigateway-websocket-connection-id"
DEFAULT_GATEWAY_ID = "d5dwsgw0000000000001"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}|\.\d{6}|\.\d{9})?Z$")
WAIT = 20.0


# -- clients ---------------------------------------------------------------------

class Resp:
    def __init__(self, status, headers, body, stderr=""):
        self.status = status
        self.headers = headers  # lower-case names
        self.body = body
        self.stderr = stderr

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "Resp(%d, %r, %r)" % (self.status, self.headers, self.body[:300])


def parse_heads(raw):
    """Splits curl -i output: skips 1xx heads, returns (status, headers, body)."""
    while True:
        head, _, rest = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        if 100 <= status < 200 and rest:
            raw = rest
            continue
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        return status, headers, rest


def curl(server, method, path, *extra, body=None, token=None, http2=False, data_file=None):
    """One request with curl; returns Resp (stderr kept for -v checks)."""
    args = ["curl", "-sS", "-i", "--max-time", "10", "-X", method]
    if method == "HEAD":
        args = ["curl", "-sS", "-i", "--max-time", "10", "-I"]
    args.append("--http2-prior-knowledge" if http2 else "--http1.1")
    if token is not None:
        args += ["-H", "Authorization: Bearer " + token]
    if body is not None:  # from stdin: bodies may be larger than argv allows
        args += ["-H", "Content-Type: application/json", "--data-binary", "@-"]
    if data_file is not None:
        args += ["-H", "Content-Type: application/json", "--data-binary", "@" + str(data_file)]
    args += list(extra)
    args.append("http://127.0.0.1:%d%s" % (server.mgmt_port, path))
    p = subprocess.run(args, capture_output=True, timeout=WAIT,
                       input=body.encode() if body is not None else None)
    assert p.returncode == 0, (args, p.stderr.decode())
    status, headers, rest = parse_heads(p.stdout)
    return Resp(status, headers, rest, p.stderr.decode("latin-1"))


def send_body(data, typ=None, urlsafe=False, pad=True):
    enc = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(data).decode()
    if not pad:
        enc = enc.rstrip("=")
    obj = {"data": enc}
    if typ is not None:
        obj["type"] = typ
    return json.dumps(obj)


def check_error(r, status, code, allow=None):
    assert r.status == status, r
    assert r.headers.get("content-type") == "application/json", r
    assert int(r.headers["content-length"]) == len(r.body), r
    j = r.json()
    assert set(j) == {"code", "message", "details"}, j
    assert j["code"] == code, j
    assert isinstance(j["message"], str) and j["message"], j
    # Yandex Cloud's RequestInfo, with the id of the X-Server-Request-Id header
    assert j["details"] == [{"@type": "type.googleapis.com/google.rpc.RequestInfo",
                             "requestId": r.headers.get("x-server-request-id")}], (j, r)
    if allow is not None:
        assert r.headers.get("allow") == allow, r
    return j


def raw_request(method, path, headers=(), body=b"", version="HTTP/1.1", host=True):
    lines = ["%s %s %s" % (method, path, version)]
    if host:
        lines.append("Host: 127.0.0.1")
    lines += list(headers)
    if body and not any(h.lower().startswith(("content-length", "transfer-encoding"))
                        for h in headers):
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def mgmt_conn(server, timeout=10.0):
    return wsraw.Conn(server.mgmt_port, timeout=timeout)


def read_json_response(c, timeout=None):
    status, headers, body = c.read_http_response(timeout)
    return Resp(status, headers, body)


def ws_raw(server, **kw):
    """A raw WebSocket client (wsraw) and its connection id."""
    c = wsraw.connect(server.port, **kw)
    return c, c.response_headers[ID_HEADER]


# -- Get / Send / Disconnect on a live connection ------------------------------------

def run(coro):
    return asyncio.run(coro)


async def in_thread(fn, *a, **kw):
    return await asyncio.to_thread(fn, *a, **kw)


def test_get_send_disconnect_live(wsgw):
    async def scenario():
        before = time.time()
        async with websockets.connect(wsgw.url + "/chat", user_agent_header="rest-test/1.0 é",
                                      open_timeout=WAIT) as ws:
            cid = ws.response_headers["X-Yc-Apigateway-Websocket-Connection-Id"]

            r = await in_thread(curl, wsgw, "GET", PREFIX + cid)
            assert r.status == 200, r
            assert r.headers["content-type"] == "application/json"
            j = r.json()
            assert list(j) == ["id", "gatewayId", "identity", "connectedAt", "lastActiveAt"], j
            assert j["id"] == cid
            assert j["gatewayId"] == DEFAULT_GATEWAY_ID
            assert j["identity"] == {"sourceIp": "127.0.0.1", "userAgent": "rest-test/1.0 é"}
            for k in ("connectedAt", "lastActiveAt"):
                assert RFC3339.match(j[k]), j[k]
            t = rfc3339_ns(j["connectedAt"]) / 1e9
            assert before - 2 <= t <= time.time() + 2, j
            assert rfc3339_ns(j["lastActiveAt"]) >= rfc3339_ns(j["connectedAt"]), j

            # Send: TEXT, BINARY in both alphabets with and without padding,
            # the type as a number and omitted (delivered as binary).
            r = await in_thread(curl, wsgw, "POST", PREFIX + cid + ":send",
                                body=send_body("héllo".encode(), "TEXT"))
            assert (r.status, r.body) == (200, b"{}"), r
            assert await asyncio.wait_for(ws.recv(), WAIT) == "héllo"
            blob = bytes(range(256)) * 3 + b"\xff\xfe"
            for urlsafe in (False, True):
                for pad in (False, True):
                    r = await in_thread(curl, wsgw, "POST", PREFIX + cid + ":send",
                                        body=send_body(blob, "BINARY", urlsafe, pad))
                    assert (r.status, r.body) == (200, b"{}"), r
                    assert await asyncio.wait_for(ws.recv(), WAIT) == blob
            r = await in_thread(curl, wsgw, "POST", PREFIX + cid + "/:send",
                                body=send_body(b"two", 2))
            assert r.status == 200, r
            assert await asyncio.wait_for(ws.recv(), WAIT) == "two"
            r = await in_thread(curl, wsgw, "POST", PREFIX + cid + ":send",
                                body=send_body(b"\x00unspecified"))
            assert r.status == 200, r
            assert await asyncio.wait_for(ws.recv(), WAIT) == b"\x00unspecified"

            # lastActiveAt moved on with the messages out
            r = await in_thread(curl, wsgw, "GET", PREFIX + cid + "?fields=ignored")
            assert r.status == 200, r
            assert rfc3339_ns(r.json()["lastActiveAt"]) > rfc3339_ns(j["lastActiveAt"]), (j, r)

            # Disconnect: {} and a 1000 close on the client
            r = await in_thread(curl, wsgw, "DELETE", PREFIX + cid)
            assert (r.status, r.body) == (200, b"{}"), r
            with pytest.raises(websockets.ConnectionClosed) as ei:
                await asyncio.wait_for(ws.recv(), WAIT)
            assert ei.value.rcvd is not None and ei.value.rcvd.code == 1000
        # then the connection is gone
        for method in ("GET", "DELETE"):
            r = await in_thread(curl, wsgw, method, PREFIX + cid)
            check_error(r, 404, 5)
        r = await in_thread(curl, wsgw, "POST", PREFIX + cid + ":send", body=send_body(b"x"))
        check_error(r, 404, 5)

    run(scenario())


def rfc3339_ns(text):
    """Nanoseconds since the epoch of an RFC 3339 UTC timestamp."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z", text)
    assert m, text
    secs = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))
    return secs * 1_000_000_000 + int((m.group(2) or "").ljust(9, "0"))


def last_active_ns(server, cid):
    r = curl(server, "GET", PREFIX + cid)
    assert r.status == 200, r
    return rfc3339_ns(r.json()["lastActiveAt"])


def test_last_active_at_moves(wsgw):
    """lastActiveAt is the last read from the client or message sent to it
    (README): an inbound ping alone moves it, a REST Send alone moves it,
    and a Get does not. The waits let the wall clock move on (timestamps
    have nanosecond resolution; 20 ms is far above it)."""
    c, cid = ws_raw(wsgw)
    with c:
        t0 = last_active_ns(wsgw, cid)
        time.sleep(0.02)
        assert last_active_ns(wsgw, cid) == t0  # a Get is not activity
        # inbound only: a ping (the pong does not count as a message out)
        c.send_frame(wsraw.OP_PING, b"p")
        assert c.recv_frame().opcode == wsraw.OP_PONG
        t1 = last_active_ns(wsgw, cid)
        assert t1 > t0, (t0, t1)
        time.sleep(0.02)
        # outbound only: Send
        r = curl(wsgw, "POST", PREFIX + cid + ":send", body=send_body(b"out", "TEXT"))
        assert r.status == 200, r
        assert c.recv_message() == (wsraw.OP_TEXT, b"out")
        t2 = last_active_ns(wsgw, cid)
        assert t2 > t1, (t1, t2)
        time.sleep(0.02)
        # an echoed message: both ways
        assert c.echo(wsraw.OP_TEXT, b"echo") == (wsraw.OP_TEXT, b"echo")
        assert last_active_ns(wsgw, cid) > t2
        c.close_handshake()


def test_percent_encoded_id(wsgw):
    c, cid = ws_raw(wsgw)
    with c:
        enc = "".join("%%%02X" % ord(ch) for ch in cid[:5]) + cid[5:]
        r = curl(wsgw, "GET", PREFIX + enc)
        assert r.status == 200 and r.json()["id"] == cid, r
        check_error(curl(wsgw, "GET", PREFIX + cid[:-1] + "%G0"), 400, 3)


# -- every error status ------------------------------------------------------------------

def test_error_statuses(wsgw):
    c, cid = ws_raw(wsgw)
    with c:
        send = PREFIX + cid + ":send"
        # 400: malformed JSON, wrong types, bad base64, unknown enum, TEXT
        # not UTF-8, id too long, empty id
        for body in ('{"data":', "[]", '{"data":5}', '{"data":"a*=="}', '{"data":"a"}',
                     '{"data":"aGk=","type":"TXT"}', '{"data":"aGk=","type":7}',
                     '{"data":"/w==","type":"TEXT"}', ""):
            j = check_error(curl(wsgw, "POST", send, body=body), 400, 3)
            assert j["message"], body
        check_error(curl(wsgw, "GET", PREFIX + "x" * 51), 400, 3)
        check_error(curl(wsgw, "GET", PREFIX), 400, 3)
        # 400: data over 128 KiB (api.c's limit; under --rest-max-body)
        big = send_body(b"x" * 131073)
        j = check_error(curl(wsgw, "POST", send, body=big), 400, 3)
        assert "131072" in j["message"]
        # 404: unknown id, unknown path
        check_error(curl(wsgw, "GET", PREFIX + "nosuchconnection"), 404, 5)
        check_error(curl(wsgw, "GET", "/apigateways/websocket/v1/other"), 404, 5)
        check_error(curl(wsgw, "GET", PREFIX + cid + "/extra"), 404, 5)
        # 405 with Allow
        for method in ("POST", "PUT", "PATCH", "OPTIONS"):
            check_error(curl(wsgw, method, PREFIX + cid), 405, 12, allow="GET, HEAD, DELETE")
        for method in ("GET", "DELETE", "PUT"):
            check_error(curl(wsgw, method, send), 405, 12, allow="POST")
        # 501: a transfer coding we do not implement
        r = curl(wsgw, "POST", send, "-H", "Transfer-Encoding: gzip, chunked", body="x")
        check_error(r, 501, 12)
        assert r.headers.get("connection") == "close"
        # still alive after all that
        assert curl(wsgw, "GET", PREFIX + cid).status == 200


def test_413_body_over_cap(wsgw_factory, tmp_path):
    srv = wsgw_factory(["--rest-max-body", "1K"])
    c, cid = ws_raw(srv)
    with c:
        body = send_body(b"y" * 600)  # 800+ bytes of JSON: fits
        assert len(body) <= 1024
        assert curl(srv, "POST", PREFIX + cid + ":send", body=body).status == 200
        assert c.recv_message() == (wsraw.OP_BINARY, b"y" * 600)
        # Content-Length over the cap (curl waits for 100 on >1 KiB bodies:
        # the 413 comes instead, before the body is sent)
        f = tmp_path / "big.json"
        f.write_text(send_body(b"z" * 2000))
        r = curl(srv, "POST", PREFIX + cid + ":send", data_file=f)
        check_error(r, 413, 8)
        assert r.headers.get("connection") == "close"
        # chunked over the cap
        r = curl(srv, "POST", PREFIX + cid + ":send", "-H", "Transfer-Encoding: chunked",
                 data_file=f)
        check_error(r, 413, 8)
        # a raw client that sends the body at once gets the 413 and EOF
        with mgmt_conn(srv) as m:
            m.send(raw_request("POST", PREFIX + cid + ":send", body=b"{" * 1025))
            r = read_json_response(m)
            check_error(r, 413, 8)
            m.expect_eof()


def test_429_outbound_queue_full(wsgw_factory):
    srv = wsgw_factory(["--max-out-queue", "64K", "--close-timeout", "2s"])
    c = wsraw.Conn(srv.port)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    c.handshake()
    cid = c.response_headers[ID_HEADER]
    with c, mgmt_conn(srv) as m:
        body = send_body(b"q" * 60000).encode()
        for i in range(2000):
            m.send(raw_request("POST", PREFIX + cid + ":send", body=body))
            r = read_json_response(m)
            if r.status != 200:
                break
        else:
            pytest.fail("the outbound queue never filled")
        j = check_error(r, 429, 8)
        assert "queue" in j["message"]
        assert i > 0
        m.send(raw_request("GET", PREFIX + cid))
        assert read_json_response(m).status == 200


def test_431_head_over_cap(wsgw):
    with mgmt_conn(wsgw) as m:
        m.send(raw_request("GET", PREFIX + "abc", headers=["X-Big: " + "b" * 9000]))
        r = read_json_response(m)
        check_error(r, 431, 8)
        assert r.headers.get("connection") == "close"
        m.expect_eof()
    r = curl(wsgw, "GET", PREFIX + "abc", "-H", "X-Big: " + "b" * 9000)
    check_error(r, 431, 8)


def test_auth(wsgw_factory):
    srv = wsgw_factory(["--auth-token", "s3cr3t", "--close-timeout", "2s"])
    c, cid = ws_raw(srv)
    with c:
        for token in (None, "wrong", "s3cr3", "s3cr3t2", ""):
            r = curl(srv, "GET", PREFIX + cid, token=token)
            check_error(r, 401, 16)
            assert r.headers.get("www-authenticate") == "Bearer", r
        r = curl(srv, "GET", PREFIX + cid, "-H", "Authorization: Basic czNjcjN0")
        check_error(r, 401, 16)
        r = curl(srv, "GET", PREFIX + cid, token="s3cr3t")
        assert r.status == 200 and r.json()["id"] == cid, r
        r = curl(srv, "GET", PREFIX + cid, "-H", "Authorization: bearer s3cr3t")
        assert r.status == 200, r
        r = curl(srv, "POST", PREFIX + cid + ":send", body=send_body(b"a"), token="s3cr3t")
        assert r.status == 200
        assert c.recv_message() == (wsraw.OP_BINARY, b"a")
        check_error(curl(srv, "POST", PREFIX + cid + ":send", body=send_body(b"a")), 401, 16)
        check_error(curl(srv, "DELETE", PREFIX + cid), 401, 16)
        assert curl(srv, "DELETE", PREFIX + cid, token="s3cr3t").status == 200
        assert c.recv_close() == (1000, b"")


def test_503_while_draining(wsgw_factory):
    srv = wsgw_factory(["--drain-timeout", "5s", "--close-timeout", "30s"])
    c, cid = ws_raw(srv)
    m = mgmt_conn(srv)
    try:
        m.send(raw_request("GET", PREFIX + cid))
        assert read_json_response(m).status == 200
        srv.proc.send_signal(signal.SIGTERM)
        assert c.recv_close() == (1001, b"server shutting down")
        # an open keep-alive connection: 503, then closed
        m.send(raw_request("GET", PREFIX + cid))
        r = read_json_response(m)
        check_error(r, 503, 14)
        assert r.headers.get("connection") == "close"
        # a new one, too
        check_error(curl(srv, "POST", PREFIX + cid + ":send", body=send_body(b"x")), 503, 14)
    finally:
        c.send_close(1001)
        assert srv.proc.wait(timeout=WAIT) == 0
        c.close()
        m.close()


# -- HTTP/1.1 mechanics ----------------------------------------------------------------------

def test_keep_alive_curl_reuses(wsgw):
    c, cid = ws_raw(wsgw)
    with c:
        url = "http://127.0.0.1:%d%s" % (wsgw.mgmt_port, PREFIX + cid)
        p = subprocess.run(["curl", "-sS", "-v", "--http1.1", url, url], capture_output=True,
                           timeout=WAIT)
        assert p.returncode == 0, p.stderr
        err = p.stderr.decode()
        assert "Re-using existing connection" in err, err
        assert err.count("< HTTP/1.1 200 OK") == 2, err
        assert p.stdout.count(b'"id":"%s"' % cid.encode()) == 2


def test_pipelining_raw_socket(wsgw):
    c, cid = ws_raw(wsgw)
    with c, mgmt_conn(wsgw) as m:
        reqs = [
            raw_request("GET", PREFIX + cid),
            raw_request("POST", PREFIX + cid + ":send", body=send_body(b"one", "TEXT").encode()),
            raw_request("HEAD", PREFIX + cid),
            raw_request("GET", PREFIX + "nope"),
            raw_request("PUT", PREFIX + cid),
            raw_request("POST", PREFIX + cid + ":send", body=send_body(b"two", "TEXT").encode()),
            raw_request("GET", PREFIX + cid, headers=["Connection: close"]),
        ]
        m.send(b"".join(reqs))
        got = []
        for i in range(len(reqs)):
            status, headers, _ = m.read_response_head()
            n = 0 if i == 2 else int(headers["content-length"])
            got.append((status, m.read_exact(n) if n else b""))
        assert [s for s, _ in got] == [200, 200, 200, 404, 405, 200, 200]
        assert json.loads(got[0][1])["id"] == cid
        assert got[1][1] == b"{}"
        m.expect_eof()
        assert c.recv_message() == (wsraw.OP_TEXT, b"one")
        assert c.recv_message() == (wsraw.OP_TEXT, b"two")


def test_chunked_body(wsgw):
    c, cid = ws_raw(wsgw)
    with c:
        # curl frames the body as chunked when told so
        r = curl(wsgw, "POST", PREFIX + cid + ":send", "-H", "Transfer-Encoding: chunked",
                 body=send_body(b"chunky", "TEXT"))
        assert (r.status, r.body) == (200, b"{}"), r
        assert c.recv_message() == (wsraw.OP_TEXT, b"chunky")
        # by hand: odd chunk sizes, extensions, a trailer, sent slowly
        body = send_body(b"by hand", "TEXT").encode()
        chunks = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(body[i:i + 5]), body[i:i + 5])
                          for i in range(0, len(body), 5))
        with mgmt_conn(wsgw) as m:
            m.send_slowly(raw_request("POST", PREFIX + cid + ":send",
                                      headers=["Transfer-Encoding: chunked"])
                          + chunks + b"0\r\nX-Trailer: yes\r\n\r\n", chunk=7, pause=0.001)
            r = read_json_response(m)
            assert (r.status, r.body) == (200, b"{}"), r
        assert c.recv_message() == (wsraw.OP_TEXT, b"by hand")


def test_expect_100_continue(wsgw, tmp_path):
    c, cid = ws_raw(wsgw)
    with c:
        data = bytes(range(256)) * 8
        f = tmp_path / "body.json"
        f.write_text(send_body(data))
        r = curl(wsgw, "POST", PREFIX + cid + ":send", "-v", "-H", "Expect: 100-continue",
                 data_file=f)
        assert (r.status, r.body) == (200, b"{}"), r
        assert "< HTTP/1.1 100 Continue" in r.stderr, r.stderr
        assert c.recv_message() == (wsraw.OP_BINARY, data)
        # by hand: the 100 comes before we send the body
        body = send_body(b"after 100").encode()
        with mgmt_conn(wsgw) as m:
            head = raw_request("POST", PREFIX + cid + ":send",
                               headers=["Expect: 100-continue", "Content-Length: %d" % len(body)])
            m.send(head)
            assert m.read_until(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
            m.send(body)
            r = read_json_response(m)
            assert (r.status, r.body) == (200, b"{}"), r
        assert c.recv_message() == (wsraw.OP_BINARY, b"after 100")


def test_head(wsgw):
    c, cid = ws_raw(wsgw)
    with c:
        get = curl(wsgw, "GET", PREFIX + cid)
        head = curl(wsgw, "HEAD", PREFIX + cid)
        assert head.status == 200 and head.body == b"", head
        assert head.headers["content-length"] == str(len(get.body))
        assert head.headers["content-type"] == "application/json"
        nf = curl(wsgw, "HEAD", PREFIX + "nope")
        assert nf.status == 404 and nf.body == b"" and int(nf.headers["content-length"]) > 0


def test_connection_close_and_http10(wsgw):
    with mgmt_conn(wsgw) as m:
        m.send(raw_request("GET", PREFIX + "a", headers=["Connection: close"]))
        r = read_json_response(m)
        assert r.status == 404 and r.headers["connection"] == "close"
        m.expect_eof()
    with mgmt_conn(wsgw) as m:
        m.send(raw_request("GET", PREFIX + "a", version="HTTP/1.0", host=False))
        r = read_json_response(m)
        assert r.status == 404 and r.headers["connection"] == "close"
        m.expect_eof()
    with mgmt_conn(wsgw) as m:
        m.send(raw_request("GET", PREFIX + "a", version="HTTP/1.0", host=False,
                           headers=["Connection: keep-alive"]))
        r = read_json_response(m)
        assert r.status == 404 and r.headers["connection"] == "keep-alive"
        m.send(raw_request("GET", PREFIX + "b"))
        assert read_json_response(m).status == 404


def test_bad_framing_closes(wsgw):
    cases = [
        raw_request("POST", PREFIX + "a:send", headers=["Content-Length: 1", "Content-Length: 2"]),
        raw_request("POST", PREFIX + "a:send",
                    headers=["Content-Length: 2", "Transfer-Encoding: chunked"]),
        raw_request("POST", PREFIX + "a:send", headers=["Transfer-Encoding: chunked"])
        + b"zz\r\n",
        b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",
    ]
    for req in cases:
        with mgmt_conn(wsgw) as m:
            m.send(req)
            r = read_json_response(m)
            check_error(r, 400, 3)
            assert r.headers.get("connection") == "close"
            m.expect_eof()


def test_request_timeout(wsgw_factory):
    srv = wsgw_factory(["--request-timeout", "1s", "--close-timeout", "2s"])
    # a head that never completes: 408, then close
    with mgmt_conn(srv) as m:
        m.send(b"GET " + PREFIX.encode() + b"abc HTTP/1.1\r\nHost: x\r\n")
        t0 = time.monotonic()
        r = read_json_response(m, timeout=10)  # the generous bound: it fires at all
        check_error(r, 408, 4)
        assert r.headers.get("connection") == "close"
        assert time.monotonic() - t0 >= 0.9  # not before --request-timeout
        m.expect_eof()
    # an idle keep-alive connection: closed without a word
    with mgmt_conn(srv) as m:
        m.send(raw_request("GET", PREFIX + "abc"))
        assert read_json_response(m).status == 404
        m.expect_eof(timeout=10)


# -- HTTP/2 (prior knowledge) --------------------------------------------------------------

def test_h2_get_send_disconnect(wsgw):
    c, cid = ws_raw(wsgw)
    with c:
        r = curl(wsgw, "GET", PREFIX + cid, http2=True)
        assert r.status == 200 and r.json()["id"] == cid, r
        r = curl(wsgw, "POST", PREFIX + cid + ":send", body=send_body(b"over h2", "TEXT"),
                 http2=True)
        assert (r.status, r.body) == (200, b"{}"), r
        assert c.recv_message() == (wsraw.OP_TEXT, b"over h2")
        r = curl(wsgw, "DELETE", PREFIX + cid, http2=True)
        assert (r.status, r.body) == (200, b"{}"), r
        assert c.recv_close() == (1000, b"")
        check_error(curl(wsgw, "GET", PREFIX + cid, http2=True), 404, 5)


def test_h2_errors(wsgw_factory):
    srv = wsgw_factory(["--auth-token", "tok", "--close-timeout", "2s"])
    check_error(curl(srv, "GET", PREFIX + "abc", http2=True, token="tok"), 404, 5)
    r = curl(srv, "GET", PREFIX + "abc", http2=True)
    check_error(r, 401, 16)
    assert r.headers.get("www-authenticate") == "Bearer"
    check_error(curl(srv, "PUT", PREFIX + "abc", http2=True, token="tok"), 405, 12,
                allow="GET, HEAD, DELETE")
    check_error(curl(srv, "POST", PREFIX + "abc:send", body="{", http2=True, token="tok"), 400, 3)
