"""TLS on the server ports (README: TLS).

Certificates come from a test CA made here with the openssl CLI, in a tmp
directory. Covered:
- wss:// with python3-websockets and an ssl context trusting the test CA:
  echo, a large fragmented round trip, chopped delivery, close handshake;
- plain HTTP on the TLS port → a prompt plaintext 400, TLS on a plain port
  → the HTTP parser's 400, a client that opens TCP and sends nothing (or
  stops mid-handshake) → closed at --handshake-timeout: all bounded in time;
- the management port over TLS: gRPC with ssl_channel_credentials (Get,
  Send), curl over https with --http2 (ALPN h2 seen in -v) and --http1.1;
  mutual TLS: no client certificate → handshake refused, a good one → OK;
- SIGHUP: new handshakes see the new certificate, an open wss connection
  keeps working; a key that does not match is refused, the old pair stays;
- Get over TLS reports the same identity; function events see
  X-Forwarded-Proto: https.
"""
import asyncio
import os
import signal
import socket
import ssl
import subprocess
import time

import grpc
import pytest
import websockets

import grpc_stubs

ID_HEADER = "X-Yc-Apigateway-Websocket-Connection-Id"
PREFIX = "/apigateways/websocket/v1/connections/"
WAIT = 20.0


# -- certificates ------------------------------------------------------------

def run(*args, **kw):
    subprocess.run(list(args), check=True, capture_output=True, **kw)


class Pki:
    """A test CA and certificates it signs, in directory d."""

    def __init__(self, d, name="wsgw test CA"):
        self.d = d
        self.ca_key = str(d / "ca.key")
        self.ca = str(d / "ca.pem")
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", self.ca_key, "-out", self.ca, "-days", "2", "-subj", "/CN=" + name)

    def issue(self, stem, cn, serial, client=False):
        """(cert, key) paths for CN=cn with that serial; SAN 127.0.0.1 and localhost."""
        key, csr, crt, ext = (str(self.d / (stem + s)) for s in (".key", ".csr", ".pem", ".ext"))
        run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", csr, "-subj", "/CN=" + cn)
        with open(ext, "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
            f.write("extendedKeyUsage=%s\n" % ("clientAuth" if client else "serverAuth"))
        run("openssl", "x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key,
            "-set_serial", str(serial), "-days", "2", "-out", crt, "-extfile", ext)
        return crt, key


@pytest.fixture
def pki(tmp_path):
    d = tmp_path / "pki"
    d.mkdir()
    return Pki(d)


def client_ctx(pki, cert=None):
    ctx = ssl.create_default_context(cafile=pki.ca)
    if cert:
        ctx.load_cert_chain(*cert)
    return ctx


def peer_cert(port, pki):
    """The (serial, CN) the server shows a new handshake."""
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as s:
        with client_ctx(pki).wrap_socket(s, server_hostname="127.0.0.1") as t:
            c = t.getpeercert()
    cn = [v for rdn in c["subject"] for (k, v) in rdn if k == "commonName"][0]
    return int(c["serialNumber"], 16), cn


def wss(srv):
    return "wss://127.0.0.1:%d" % srv.port


def tls_server(wsgw_factory, pki, extra=(), serial=1):
    crt, key = pki.issue("srv", "wsgw-one", serial)
    return wsgw_factory(["--tls-cert", crt, "--tls-key", key, "--close-timeout", "2s"] + list(extra))


# -- wss:// ------------------------------------------------------------------

def test_wss_echo_and_close(wsgw_factory, pki):
    srv = tls_server(wsgw_factory, pki)

    async def scenario():
        async with websockets.connect(wss(srv) + "/chat", ssl=client_ctx(pki), open_timeout=WAIT,
                                      user_agent_header="tls-test/1.0") as ws:
            assert ws.response_headers[ID_HEADER]
            await ws.send("hello")
            assert await asyncio.wait_for(ws.recv(), WAIT) == "hello"
            big = os.urandom(300 * 1024).hex()[:100 * 1024]  # 100 KiB text, several records
            await ws.send(big)
            assert await asyncio.wait_for(ws.recv(), WAIT) == big
            # fragmented message
            await ws.send(iter(["frag-", "ment-", "ed"]))
            assert await asyncio.wait_for(ws.recv(), WAIT) == "frag-ment-ed"
            # many small messages in one burst: several frames per record and read
            for i in range(200):
                await ws.send("m%d" % i)
            for i in range(200):
                assert await asyncio.wait_for(ws.recv(), WAIT) == "m%d" % i
            await ws.close(1000, "bye")
            assert ws.close_code == 1000
    asyncio.run(scenario())


def test_wss_backpressure_resumes(wsgw_factory, pki):
    """A client that sends while not reading fills the output queue, so the
    server reads in small pieces and pauses with decrypted bytes left inside
    TLS; once the client reads, every echo still comes back."""
    srv = tls_server(wsgw_factory, pki, ["--max-out-queue", "4K"])

    async def scenario():
        async with websockets.connect(wss(srv), ssl=client_ctx(pki), open_timeout=WAIT,
                                      max_size=None, write_limit=1 << 24) as ws:
            msgs = [("%05d" % i) * 3000 for i in range(150)]  # 15 000 B each
            for m in msgs:
                await ws.send(m)
            t0 = time.monotonic()
            for m in msgs:  # a stall (bytes left inside TLS) would wait for a ping
                assert await asyncio.wait_for(ws.recv(), 8) == m
            assert time.monotonic() - t0 < 8
    asyncio.run(scenario())


def test_wss_chopped_delivery(wsgw_factory, pki):
    """TLS records arrive a few bytes at a time: the handshake and the
    WebSocket upgrade still complete, and a frame split across records."""
    srv = tls_server(wsgw_factory, pki)
    raw = socket.create_connection(("127.0.0.1", srv.port), timeout=WAIT)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    inb, outb = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = client_ctx(pki).wrap_bio(inb, outb, server_hostname="127.0.0.1")

    def pump_out():
        data = outb.read()
        for i in range(0, len(data), 7):  # 7 bytes per send
            raw.sendall(data[i:i + 7])
            time.sleep(0.001)

    def pump_in():
        data = raw.recv(65536)
        assert data, "server closed"
        inb.write(data)

    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            pump_out()
            pump_in()
    pump_out()
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    obj.write(("GET /x HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % key).encode())
    pump_out()
    head = b""
    while b"\r\n\r\n" not in head:
        try:
            head += obj.read(65536)
        except ssl.SSLWantReadError:
            pump_in()
    assert head.startswith(b"HTTP/1.1 101"), head
    # a masked text frame "chop" written as two TLS records, each sent in 7-byte pieces
    frame = bytes([0x81, 0x84, 1, 2, 3, 4]) + bytes(b ^ m for b, m in zip(b"chop", b"\x01\x02\x03\x04"))
    obj.write(frame[:3])
    pump_out()
    obj.write(frame[3:])
    pump_out()
    got = head.split(b"\r\n\r\n", 1)[1]
    while len(got) < 6:
        try:
            got += obj.read(65536)
        except ssl.SSLWantReadError:
            pump_in()
    assert got[:6] == b"\x81\x04chop"
    raw.close()


def test_plain_http_on_tls_port(wsgw_factory, pki):
    srv = tls_server(wsgw_factory, pki)
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", srv.port), timeout=WAIT) as s:
        s.sendall(b"GET /x HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        data = b""
        while True:
            b = s.recv(4096)
            if not b:
                break
            data += b
    assert data.startswith(b"HTTP/1.1 400"), data
    assert b"wss://" in data
    assert time.monotonic() - t0 < 5
    # garbage that is neither TLS nor HTTP: closed, never a hang
    with socket.create_connection(("127.0.0.1", srv.port), timeout=WAIT) as s:
        s.sendall(b"\x00" * 64)
        while s.recv(4096):
            pass
    assert time.monotonic() - t0 < 10


def test_tls_on_plain_port(wsgw_factory, pki):
    srv = wsgw_factory(["--close-timeout", "2s"])
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", srv.port), timeout=WAIT) as s:
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            client_ctx(pki).wrap_socket(s, server_hostname="127.0.0.1")
    assert time.monotonic() - t0 < 5
    # what a raw ClientHello gets back: the parser's 400
    inb, outb = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = client_ctx(pki).wrap_bio(inb, outb, server_hostname="127.0.0.1")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    with socket.create_connection(("127.0.0.1", srv.port), timeout=WAIT) as s:
        s.sendall(outb.read())
        data = b""
        while True:
            b = s.recv(4096)
            if not b:
                break
            data += b
    assert data.startswith(b"HTTP/1.1 400"), data
    assert time.monotonic() - t0 < 10


def test_handshake_timeout_covers_tls(wsgw_factory, pki):
    srv = tls_server(wsgw_factory, pki, ["--handshake-timeout", "1s"])
    t0 = time.monotonic()
    silent = socket.create_connection(("127.0.0.1", srv.port), timeout=WAIT)
    # a second one stalls mid-handshake: ClientHello sent, nothing after
    stall = socket.create_connection(("127.0.0.1", srv.port), timeout=WAIT)
    inb, outb = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = client_ctx(pki).wrap_bio(inb, outb, server_hostname="127.0.0.1")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    stall.sendall(outb.read())
    for s in (silent, stall):
        while s.recv(65536):  # the server's hello, then EOF at the deadline
            pass
    took = time.monotonic() - t0
    assert 0.8 <= took < 8, took
    silent.close()
    stall.close()


def test_many_connections_closed_mid_handshake(wsgw_factory, pki):
    """Clients vanishing at every handshake step (ASan: no use after free)."""
    srv = tls_server(wsgw_factory, pki)
    for i in range(30):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=WAIT)
        if i % 3:
            inb, outb = ssl.MemoryBIO(), ssl.MemoryBIO()
            obj = client_ctx(pki).wrap_bio(inb, outb, server_hostname="127.0.0.1")
            with pytest.raises(ssl.SSLWantReadError):
                obj.do_handshake()
            hello = outb.read()
            s.sendall(hello if i % 3 == 1 else hello[:len(hello) // 2])
        if i % 2:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()

    async def still_serves():
        async with websockets.connect(wss(srv), ssl=client_ctx(pki), open_timeout=WAIT) as ws:
            await ws.send("ok")
            assert await asyncio.wait_for(ws.recv(), WAIT) == "ok"
    asyncio.run(still_serves())


# -- management port -----------------------------------------------------------

def mgmt_server(wsgw_factory, pki, client_ca=None, ws_tls=True):
    crt, key = pki.issue("mgmt", "wsgw-mgmt", 7)
    args = ["--mgmt-tls-cert", crt, "--mgmt-tls-key", key, "--close-timeout", "2s"]
    if ws_tls:
        wcrt, wkey = pki.issue("srv", "wsgw-one", 1)
        args += ["--tls-cert", wcrt, "--tls-key", wkey]
    if client_ca:
        args += ["--mgmt-tls-client-ca", client_ca]
    return wsgw_factory(args)


def curl_https(srv, pki, path, *extra, method="GET", http2=True, cert=None):
    args = ["curl", "-sS", "-v", "-i", "--max-time", "10", "-X", method, "--cacert", pki.ca,
            "--http2" if http2 else "--http1.1"]
    if cert:
        args += ["--cert", cert[0], "--key", cert[1]]
    args += list(extra) + ["https://127.0.0.1:%d%s" % (srv.mgmt_port, path)]
    return subprocess.run(args, capture_output=True, text=True, timeout=30)


def test_mgmt_tls_grpc_rest_alpn(wsgw_factory, pki, pb):
    srv = mgmt_server(wsgw_factory, pki)

    async def scenario():
        async with websockets.connect(wss(srv) + "/room", ssl=client_ctx(pki), open_timeout=WAIT,
                                      user_agent_header="tls-ua/2.0") as ws:
            cid = ws.response_headers[ID_HEADER]
            creds = grpc.ssl_channel_credentials(root_certificates=open(pki.ca, "rb").read())
            with grpc.secure_channel("127.0.0.1:%d" % srv.mgmt_port, creds) as ch:
                client = grpc_stubs.Client(ch, pb)
                c = await asyncio.to_thread(client.get, cid, timeout=WAIT)
                assert c.id == cid
                assert c.identity.source_ip == "127.0.0.1"
                assert c.identity.user_agent == "tls-ua/2.0"
                await asyncio.to_thread(client.send, cid, b"from grpc", 1, timeout=WAIT)
                assert await asyncio.wait_for(ws.recv(), WAIT) == b"from grpc"  # BINARY
            for http2 in (True, False):
                r = await asyncio.to_thread(curl_https, srv, pki, PREFIX + cid, http2=http2)
                assert r.returncode == 0, r.stderr
                assert "ALPN: server accepted %s" % ("h2" if http2 else "http/1.1") in r.stderr, \
                    r.stderr
                assert ('"userAgent":"tls-ua/2.0"' in r.stdout.replace(" ", "")), r.stdout
                r = await asyncio.to_thread(curl_https, srv, pki, PREFIX + cid + "/:send",
                                            "-H", "Content-Type: application/json", "--data",
                                            '{"data": "cmVzdA==", "type": "TEXT"}', method="POST",
                                            http2=http2)
                assert r.returncode == 0 and " 200" in r.stdout.split("\n")[0], r.stdout + r.stderr
                assert await asyncio.wait_for(ws.recv(), WAIT) == "rest"
    asyncio.run(scenario())


def test_mgmt_tls_no_alpn_and_plain(wsgw_factory, pki):
    """A TLS client without ALPN gets HTTP/1.1; plaintext to the TLS
    management port is closed promptly."""
    srv = mgmt_server(wsgw_factory, pki, ws_tls=False)
    r = subprocess.run(["curl", "-sS", "-v", "--max-time", "10", "--no-alpn", "--http1.1",
                        "--cacert", pki.ca, "https://127.0.0.1:%d/healthz" % srv.mgmt_port],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "ALPN" not in r.stderr or "server did not agree" in r.stderr, r.stderr
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", srv.mgmt_port), timeout=WAIT) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
        while s.recv(4096):
            pass
    assert time.monotonic() - t0 < 5


def test_mgmt_mutual_tls(wsgw_factory, pki, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    stranger = Pki(other, "another CA")
    srv = mgmt_server(wsgw_factory, pki, client_ca=pki.ca, ws_tls=False)
    good = pki.issue("client", "ops", 21, client=True)
    bad = stranger.issue("client", "intruder", 22, client=True)
    r = curl_https(srv, pki, "/healthz")
    assert r.returncode != 0, r.stdout  # no certificate: handshake refused
    r = curl_https(srv, pki, "/healthz", cert=bad)
    assert r.returncode != 0, r.stdout
    for http2 in (True, False):
        r = curl_https(srv, pki, "/healthz", cert=good, http2=http2)
        assert r.returncode == 0 and " 200" in r.stdout.split("\n")[0], r.stdout + r.stderr


# -- SIGHUP: certificate rotation --------------------------------------------------

def wait_log(srv, text, count=1, timeout=WAIT):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if srv.read_log().count(text) >= count:
            return
        time.sleep(0.05)
    raise AssertionError("no %r in the log:\n%s" % (text, srv.read_log()[-3000:]))


def test_sighup_rotates_certificates(wsgw_factory, pki, tmp_path):
    crt, key = pki.issue("live", "wsgw-old", 101)
    mcrt, mkey = pki.issue("mlive", "wsgw-mgmt-old", 201)
    srv = wsgw_factory(["--tls-cert", crt, "--tls-key", key, "--mgmt-tls-cert", mcrt,
                        "--mgmt-tls-key", mkey, "--close-timeout", "2s"])
    assert peer_cert(srv.port, pki) == (101, "wsgw-old")
    assert peer_cert(srv.mgmt_port, pki) == (201, "wsgw-mgmt-old")

    async def scenario():
        async with websockets.connect(wss(srv), ssl=client_ctx(pki), open_timeout=WAIT) as ws:
            await ws.send("before")
            assert await asyncio.wait_for(ws.recv(), WAIT) == "before"
            # the same paths, new files: what a certificate renewal does
            ncrt, nkey = pki.issue("new", "wsgw-new", 102)
            os.replace(ncrt, crt)
            os.replace(nkey, key)
            ncrt, nkey = pki.issue("mnew", "wsgw-mgmt-new", 202)
            os.replace(ncrt, mcrt)
            os.replace(nkey, mkey)
            srv.proc.send_signal(signal.SIGHUP)
            await asyncio.to_thread(wait_log, srv, "SIGHUP: reloaded the TLS certificate")
            assert await asyncio.to_thread(peer_cert, srv.port, pki) == (102, "wsgw-new")
            assert await asyncio.to_thread(peer_cert, srv.mgmt_port, pki) == (202, "wsgw-mgmt-new")
            # the connection opened before keeps working on its session
            await ws.send("after")
            assert await asyncio.wait_for(ws.recv(), WAIT) == "after"

            # a key that does not match its certificate: refused, the pair stays
            other_crt, _ = pki.issue("other", "wsgw-other", 103)
            os.replace(other_crt, crt)
            srv.proc.send_signal(signal.SIGHUP)
            await asyncio.to_thread(wait_log, srv, "SIGHUP: TLS reload refused")
            assert await asyncio.to_thread(peer_cert, srv.port, pki) == (102, "wsgw-new")
            assert await asyncio.to_thread(peer_cert, srv.mgmt_port, pki) == (202, "wsgw-mgmt-new")
            # a missing file: refused the same way
            os.remove(mkey)
            srv.proc.send_signal(signal.SIGHUP)
            await asyncio.to_thread(wait_log, srv, "SIGHUP: TLS reload refused", 2)
            assert await asyncio.to_thread(peer_cert, srv.port, pki) == (102, "wsgw-new")
            await ws.send("still")
            assert await asyncio.wait_for(ws.recv(), WAIT) == "still"
    asyncio.run(scenario())
    assert "nothing to reload" not in srv.read_log()


def run_exit(args):
    from conftest import WSGW_BIN
    return subprocess.run([WSGW_BIN, "--listen", "127.0.0.1:0", "--mgmt-listen", "127.0.0.1:0"]
                          + args, capture_output=True, text=True, timeout=30)


def test_bad_tls_flags_refused_at_start(pki, tmp_path):
    crt, key = pki.issue("s", "wsgw", 5)
    other_crt, other_key = pki.issue("o", "wsgw-o", 6)
    cases = [
        (["--tls-cert", crt], "--tls-key"),
        (["--mgmt-tls-key", key], "--mgmt-tls-cert"),
        (["--mgmt-tls-client-ca", pki.ca], "--mgmt-tls-client-ca"),
        (["--tls-cert", crt, "--tls-key", other_key], "--tls-cert"),
        (["--tls-cert", str(tmp_path / "missing.pem"), "--tls-key", key], "missing.pem"),
        (["--mgmt-tls-cert", crt, "--mgmt-tls-key", key, "--mgmt-tls-client-ca",
          str(tmp_path / "nope.pem")], "--mgmt-tls-client-ca"),
    ]
    for args, needle in cases:
        r = run_exit(args)
        assert r.returncode != 0, (args, r.stderr)
        assert needle in r.stderr + r.stdout, (args, r.stderr)
