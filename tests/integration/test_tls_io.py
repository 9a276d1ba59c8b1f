"""TLS reads on the wss:// port (README: TLS, "I/O"): read-ahead takes
many records per read(), and what stays inside OpenSSL is handled right.

- many small TLS records sent in one burst (one read() takes them all, the
  rest waits inside OpenSSL, which epoll cannot see): every echo returns;
- part of a record waits in OpenSSL's buffer while the rest is late: the
  server waits on the socket (no busy loop: its CPU time stays near zero)
  and answers once the rest arrives.
"""
import socket
import ssl
import time

from test_tls import Pki, client_ctx, tls_server  # noqa: F401 (pki fixture below)

import pytest

WAIT = 20.0


@pytest.fixture
def pki(tmp_path):
    d = tmp_path / "pki"
    d.mkdir()
    return Pki(d)


class TlsWs:
    """A WebSocket client over ssl.SSLObject, so the test decides which
    encrypted bytes go out when."""

    def __init__(self, srv, pki):
        self.raw = socket.create_connection(("127.0.0.1", srv.port), timeout=WAIT)
        self.raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.inb, self.outb = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = client_ctx(pki).wrap_bio(self.inb, self.outb, server_hostname="127.0.0.1")
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.raw.sendall(self.outb.read())
                self.pump_in()
        self.raw.sendall(self.outb.read())
        self.obj.write(b"GET /io HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
                       b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       b"Sec-WebSocket-Version: 13\r\n\r\n")
        self.raw.sendall(self.outb.read())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.read_some()
        assert head.startswith(b"HTTP/1.1 101"), head
        self.got = head.split(b"\r\n\r\n", 1)[1]

    def pump_in(self):
        data = self.raw.recv(65536)
        assert data, "server closed"
        self.inb.write(data)

    def read_some(self):
        while True:
            try:
                return self.obj.read(65536)
            except ssl.SSLWantReadError:
                self.pump_in()

    def record(self, text):
        """One masked text frame as its own TLS record; the encrypted bytes."""
        p = text.encode()
        assert len(p) < 126
        mask = b"\x11\x22\x33\x44"
        self.obj.write(bytes([0x81, 0x80 | len(p)]) + mask +
                       bytes(b ^ mask[i % 4] for i, b in enumerate(p)))
        return self.outb.read()

    def expect(self, texts):
        want = b"".join(bytes([0x81, len(t)]) + t.encode() for t in texts)
        deadline = time.monotonic() + WAIT
        while len(self.got) < len(want) and time.monotonic() < deadline:
            self.got += self.read_some()
        assert self.got[:len(want)] == want
        self.got = self.got[len(want):]


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0  # utime + stime, ticks of 10 ms


def test_many_records_in_one_burst(wsgw_factory, pki):
    srv = tls_server(wsgw_factory, pki)
    c = TlsWs(srv, pki)
    texts = ["r%04d" % i for i in range(2000)]
    burst = b"".join(c.record(t) for t in texts)  # ~70 KB of 2000 records
    c.raw.sendall(burst)
    c.expect(texts)
    c.raw.close()


def test_part_of_a_record_waits_without_spinning(wsgw_factory, pki):
    srv = tls_server(wsgw_factory, pki)
    c = TlsWs(srv, pki)
    rec = c.record("late")
    c.raw.sendall(rec[:-5])  # the server's read-ahead holds part of a record
    time.sleep(0.3)
    before = cpu_s(srv.proc.pid)
    time.sleep(1.5)
    spent = cpu_s(srv.proc.pid) - before
    assert spent < 0.3, "wsgw used %.2f s of CPU in 1.5 s waiting for a record's end" % spent
    c.raw.sendall(rec[-5:])
    c.expect(["late"])
    c.raw.close()
