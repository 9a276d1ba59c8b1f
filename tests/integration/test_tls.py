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
