"""A small raw-socket WebSocket client for conformance tests (RFC 6455).

Unlike a real client library it lets a test send anything: any opcode, RSV
bits, unmasked frames, non-minimal or bogus length encodings, a frame split
over several send() calls. Frames read from the server are checked for what
RFC 6455 requires of a server (unmasked, RSV clear, minimal length), so
every test that reads a frame also checks the server's framing.
"""
import base64
import fcntl
import hashlib
import os
import select
import socket
import struct
import termios
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA

DEFAULT_TIMEOUT = 10.0


class ProtocolViolation(AssertionError):
    """The server sent something RFC 6455 forbids a server to send."""


class Frame:
    def __init__(self, fin, rsv, opcode, payload):
        self.fin = fin
        self.rsv = rsv
        self.opcode = opcode
        self.payload = payload

    def close_code(self):
        """(code, reason bytes) of a close frame; (None, b'') when empty."""
        assert self.opcode == OP_CLOSE, "not a close frame: %r" % self
        if not self.payload:
            return None, b""
        assert len(self.payload) >= 2, "1-byte close payload from the server"
        return struct.unpack("!H", self.payload[:2])[0], self.payload[2:]

    def __repr__(self):
        p = self.payload if len(self.payload) <= 40 else self.payload[:40] + b"..."
        return "Frame(fin=%s, rsv=%d, opcode=%#x, len=%d, %r)" % (
            self.fin, self.rsv, self.opcode, len(self.payload), p)


def mask_bytes(payload, key):
    """XOR payload with the 4-byte key (fast for large payloads)."""
    n = len(payload)
    if n == 0 or key == b"\0\0\0\0":
        return bytes(payload)
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


def encode_frame(opcode, payload=b"", fin=True, rsv=0, mask=True, mask_key=None, length_bits=None,
                 length=None):
    """Bytes of one client frame.

    rsv: 3-bit value for RSV1..RSV3 (4 = RSV1, 2 = RSV2, 1 = RSV3).
    mask: False sends the payload unmasked with the MASK bit clear.
    length_bits: 7, 16 or 64 forces that length encoding (non-minimal is
    allowed); None picks the minimal one. length overrides the value put in
    the header (the payload sent is still `payload`).
    """
    payload = bytes(payload)
    n = len(payload) if length is None else length
    if length_bits is None:
        length_bits = 7 if n <= 125 else 16 if n <= 0xFFFF else 64
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0xF)
    mbit = 0x80 if mask else 0
    if length_bits == 7:
        assert n <= 127
        hdr = struct.pack("!BB", b0, mbit | n)
    elif length_bits == 16:
        hdr = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        hdr = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return hdr + payload
    key = os.urandom(4) if mask_key is None else mask_key
    return hdr + key + mask_bytes(payload, key)


def close_payload(code=None, reason=b""):
    if code is None:
        return b""
    return struct.pack("!H", code) + (reason.encode() if isinstance(reason, str) else reason)


def accept_for(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def new_key():
    return base64.b64encode(os.urandom(16)).decode()


def request_bytes(host="127.0.0.1", path="/", key=None, extra_headers=(), version="13"):
    key = key or new_key()
    lines = ["GET %s HTTP/1.1" % path, "Host: %s" % host, "Upgrade: websocket",
             "Connection: Upgrade", "Sec-WebSocket-Key: %s" % key,
             "Sec-WebSocket-Version: %s" % version]
    lines += list(extra_headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def parse_head(head):
    """(status, {lower-case name: value}, [(name, value), ...]) of a response head."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    assert parts[0] == "HTTP/1.1", "bad status line %r" % lines[0]
    status = int(parts[1])
    items = []
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        items.append((name.strip(), value.strip()))
    return status, {k.lower(): v for k, v in items}, items


class Conn:
    """A TCP connection to the server with WebSocket helpers."""

    def __init__(self, port, host="127.0.0.1", family=socket.AF_INET, timeout=DEFAULT_TIMEOUT,
                 nodelay=True):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        if nodelay:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.buf = bytearray()
        self.eof = False
        self.timeout = timeout
        self.response_headers = {}
        self.status = None

    # -- context manager ----------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # -- bytes --------------------------------------------------------------
    def send(self, data):
        self.sock.sendall(data)

    def wait_server_read(self, timeout=None):
        """Waits until the server has read() every byte sent so far: our
        side has nothing unacknowledged and the server's socket nothing
        unread (/proc/net/tcp, same network namespace). What is sent next
        then reaches the server in a later read. Returns at once if the
        server has closed its socket."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        ours, peer = self.sock.getsockname()[:2], self.sock.getpeername()[:2]
        while True:
            mine, theirs = tcp_queues(ours, peer), tcp_queues(peer, ours)
            if theirs is None or (mine is not None and mine[0] == 0 and theirs[1] == 0):
                return
            if time.monotonic() > deadline:
                raise TimeoutError("the server did not read what was sent: ours (tx, rx) %r, "
                                   "theirs %r" % (mine, theirs))
            time.sleep(0.002)

    def wait_readable_bytes(self, n, timeout=None):
        """Waits until at least n bytes from the server sit unread in our
        socket (FIONREAD), without reading them."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while self.unread_bytes() < n:
            if time.monotonic() > deadline:
                raise TimeoutError("only %d of %d bytes arrived" % (self.unread_bytes(), n))
            time.sleep(0.002)

    def unread_bytes(self):
        """Bytes in our socket's receive queue (FIONREAD)."""
        buf = fcntl.ioctl(self.sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
        return struct.unpack("i", buf)[0]

    def send_slowly(self, data, chunk=1, pause=0.002):
        """One send() per `chunk` bytes with a pause between them."""
        for i in range(0, len(data), chunk):
            self.sock.sendall(data[i:i + chunk])
            time.sleep(pause)

    def _fill(self, deadline):
        """Reads more bytes into buf. Raises TimeoutError at the deadline and
        EOFError when the peer has closed."""
        if self.eof:
            raise EOFError("connection closed by the server")
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out waiting for data from the server")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(1 << 20)
        except socket.timeout:
            raise TimeoutError("timed out waiting for data from the server") from None
        finally:
            self.sock.settimeout(self.timeout)
        if not data:
            self.eof = True
            raise EOFError("connection closed by the server")
        self.buf += data

    def read_exact(self, n, timeout=None):
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while len(self.buf) < n:
            self._fill(deadline)
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_until(self, marker, timeout=None):
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            i = self.buf.find(marker)
            if i >= 0:
                out = bytes(self.buf[:i + len(marker)])
                del self.buf[:i + len(marker)]
                return out
            self._fill(deadline)

    def expect_eof(self, timeout=None):
        """Asserts the server closes TCP (recv returns b'' or the connection
        is reset) within timeout, with no other bytes arriving first."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not self.eof:
            try:
                self._fill(deadline)
            except EOFError:
                break
            except ConnectionResetError:
                self.eof = True
                break
            except TimeoutError:
                raise AssertionError("server did not close the TCP connection") from None
        assert not self.buf, "unexpected bytes before EOF: %r" % bytes(self.buf[:200])

    def is_closed_by_peer(self, timeout=0.0):
        """True if the server has closed TCP (no data pending)."""
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return False
        try:
            data = self.sock.recv(1 << 16, socket.MSG_PEEK)
        except ConnectionResetError:
            return True
        return data == b""

    # -- HTTP -----------------------------------------------------------------
    def handshake(self, path="/", key=None, extra_headers=(), request=None, slowly=False):
        """Sends the upgrade request, reads the response head, checks a 101
        with the right accept value. Returns the response headers."""
        key = key or new_key()
        req = request if request is not None else request_bytes(path=path, key=key,
                                                                extra_headers=extra_headers)
        if slowly:
            self.send_slowly(req)
        else:
            self.send(req)
        status, headers, _ = self.read_response_head()
        assert status == 101, "handshake refused: %d %r" % (status, headers)
        assert headers.get("upgrade", "").lower() == "websocket"
        assert "upgrade" in headers.get("connection", "").lower()
        assert headers.get("sec-websocket-accept") == accept_for(key)
        return headers

    def read_response_head(self, timeout=None):
        head = self.read_until(b"\r\n\r\n", timeout)
        self.status, self.response_headers, self.response_items = parse_head(head)
        return self.status, self.response_headers, self.response_items

    def read_http_response(self, timeout=None):
        """(status, headers, body) of an error response; the body is read
        by Content-Length."""
        status, headers, _ = self.read_response_head(timeout)
        n = int(headers.get("content-length", "0"))
        body = self.read_exact(n, timeout) if n else b""
        return status, headers, body

    # -- frames ---------------------------------------------------------------
    def send_frame(self, opcode, payload=b"", **kw):
        self.send(encode_frame(opcode, payload, **kw))

    def send_text(self, text, **kw):
        self.send_frame(OP_TEXT, text.encode() if isinstance(text, str) else text, **kw)

    def send_binary(self, data, **kw):
        self.send_frame(OP_BINARY, data, **kw)

    def send_close(self, code=None, reason=b"", **kw):
        self.send_frame(OP_CLOSE, close_payload(code, reason), **kw)

    def recv_frame(self, timeout=None):
        """Reads one server frame, checking it as RFC 6455 requires."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        left = lambda: max(0.001, deadline - time.monotonic())  # noqa: E731
        b0, b1 = self.read_exact(2, left())
        fin, rsv, opcode = bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0xF
        if b1 & 0x80:
            raise ProtocolViolation("server frame is masked (RFC 6455 §5.1)")
        if rsv:
            raise ProtocolViolation("server frame has RSV bits %d" % rsv)
        if opcode not in (OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG):
            raise ProtocolViolation("server frame has reserved opcode %#x" % opcode)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self.read_exact(2, left()))[0]
            if n < 126:
                raise ProtocolViolation("non-minimal 16-bit length %d" % n)
        elif n == 127:
            n = struct.unpack("!Q", self.read_exact(8, left()))[0]
            if n <= 0xFFFF or n >> 63:
                raise ProtocolViolation("non-minimal or invalid 64-bit length %d" % n)
        if opcode >= 0x8 and (n > 125 or not fin):
            raise ProtocolViolation("invalid control frame from the server")
        payload = self.read_exact(n, left()) if n else b""
        return Frame(fin, rsv, opcode, payload)

    def recv_message(self, timeout=None, skip_pings=True):
        """Reads one whole data message: (opcode, payload). Control frames
        other than pings (with skip_pings) are returned as-is."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        opcode, parts = None, []
        while True:
            f = self.recv_frame(max(0.001, deadline - time.monotonic()))
            if f.opcode == OP_PING and skip_pings:
                continue
            if f.opcode >= 0x8:
                if opcode is None:
                    return f.opcode, f.payload
                raise AssertionError("control frame %r inside a message" % f)
            if opcode is None:
                if f.opcode == OP_CONT:
                    raise ProtocolViolation("continuation without a message")
                opcode = f.opcode
            elif f.opcode != OP_CONT:
                raise ProtocolViolation("new message inside a fragmented message")
            parts.append(f.payload)
            if f.fin:
                return opcode, b"".join(parts)

    def recv_close(self, timeout=None, skip_data=False):
        """Reads frames up to the server's close frame; returns
        (code or None, reason bytes). Pings are skipped; data frames fail
        the test unless skip_data."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            f = self.recv_frame(max(0.001, deadline - time.monotonic()))
            if f.opcode == OP_CLOSE:
                return f.close_code()
            if f.opcode == OP_PING:
                continue
            if not skip_data:
                raise AssertionError("expected a close frame, got %r" % f)

    def echo(self, opcode, payload, timeout=None):
        """Sends one message and returns the echoed (opcode, payload)."""
        self.send_frame(opcode, payload)
        return self.recv_message(timeout)

    def close_handshake(self, code=1000, timeout=None):
        """Client-initiated close: sends close, expects the echo and EOF."""
        self.send_close(code)
        got = self.recv_close(timeout)
        assert got == (code, b""), got
        self.expect_eof(timeout)


def _proc_addr(text):
    """(ip, port) of a /proc/net/tcp{,6} address (hex, host byte order words)."""
    ip, port = text.split(":")
    raw = bytes.fromhex(ip)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    fam = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
    return socket.inet_ntop(fam, words), int(port, 16)


def tcp_queues(local, remote):
    """(tx_queue, rx_queue) of the TCP socket local -> remote (each an
    (ip, port)), from /proc/net/tcp and tcp6; None if there is none."""
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if _proc_addr(fields[1]) == tuple(local) and _proc_addr(fields[2]) == tuple(remote):
                tx, rx = fields[4].split(":")
                return int(tx, 16), int(rx, 16)
    return None


def connect(port, host="127.0.0.1", family=socket.AF_INET, timeout=DEFAULT_TIMEOUT, **hs):
    """A Conn that has completed the opening handshake."""
    c = Conn(port, host=host, family=family, timeout=timeout)
    try:
        c.handshake(**hs)
    except BaseException:
        c.close()
        raise
    return c
