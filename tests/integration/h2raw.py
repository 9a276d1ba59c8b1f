"""A raw HTTP/2 client for tests that must send what no library would: a
stream that never ends, floods, an HPACK bomb. Frames are built by hand
(RFC 9113 §4.1); header blocks are encoded and decoded with python3-hpack
(the server's answers use Huffman coding and its dynamic table).

Not a general client: one thread, blocking socket with timeouts, frames
read only when a wait_* method is called.
"""
import socket
import struct
import time

import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4


def frame(ftype, flags, stream, payload=b""):
    return struct.pack("!I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack("!I", stream & 0x7FFFFFFF) + payload


def grpc_headers(path, extra=(), port=0):
    return [(":method", "POST"), (":scheme", "http"), (":path", path),
            (":authority", "127.0.0.1:%d" % port), ("content-type", "application/grpc"),
            ("te", "trailers")] + list(extra)


def rest_headers(method, path, extra=(), port=0):
    return [(":method", method), (":scheme", "http"), (":path", path),
            (":authority", "127.0.0.1:%d" % port)] + list(extra)


class Closed(Exception):
    pass


class H2:
    def __init__(self, port, settings=b"", timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.enc = hpack.Encoder()
        self.dec = hpack.Decoder()
        self.dec.max_allowed_table_size = 1 << 20
        self.buf = b""
        self.headers_of = {}   # stream -> list of decoded header dicts
        self.data_of = {}      # stream -> bytes
        self.rst_of = {}       # stream -> error code
        self.goaway = None     # (last stream id, error code)
        self.closed = False
        self._block = None     # (stream, bytes) while CONTINUATION is pending
        self.peer_settings = None  # {id: value} of the server's SETTINGS
        self.conn_window = 65535   # what we may still send (RFC 9113 §6.9)
        self.stream_window = {}    # stream -> what we may still send on it
        self.pings = 0             # PING ACKs received
        self.send(PREFACE + frame(SETTINGS, 0, 0, settings))

    # -- sending --------------------------------------------------------------
    def send(self, data):
        self.sock.sendall(data)

    def encode(self, hdrs):
        return self.enc.encode(hdrs)

    def headers(self, stream, hdrs, end=True):
        self.send(frame(HEADERS, END_HEADERS | (END_STREAM if end else 0), stream,
                        self.encode(hdrs)))

    def data(self, stream, payload, end=True):
        self.send(frame(DATA, END_STREAM if end else 0, stream, payload))

    def rst(self, stream, code=8):
        self.send(frame(RST_STREAM, 0, stream, struct.pack("!I", code)))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _initial(self):
        return (self.peer_settings or {}).get(4, 65535)

    def data_flow(self, stream, payload, end=False, chunk=16384, timeout=10.0):
        """Sends payload within the flow-control windows, reading the
        server's WINDOW_UPDATEs as needed."""
        if self.peer_settings is None:
            self.pump(lambda: self.peer_settings is not None, timeout)
        self.stream_window.setdefault(stream, self._initial())
        off = 0
        while off < len(payload) or (end and off == 0 and not payload):
            def room():
                return min(self.conn_window, self.stream_window[stream])
            if room() <= 0:
                self.pump(lambda: room() > 0, timeout)
            n = min(chunk, room(), len(payload) - off)
            last = end and off + n == len(payload)
            self.send(frame(DATA, END_STREAM if last else 0, stream, payload[off:off + n]))
            self.conn_window -= n
            self.stream_window[stream] -= n
            off += n
            if not payload:
                break

    def ping(self, timeout=10.0):
        """PING and wait for its ACK: every frame sent before was processed."""
        want = self.pings + 1
        self.send(frame(PING, 0, 0, b"12345678"))
        self.pump(lambda: self.pings >= want, timeout)

    # -- receiving ------------------------------------------------------------
    def _read_frame(self, deadline):
        while True:
            if len(self.buf) >= 9:
                n = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) >= 9 + n:
                    hd, self.buf = self.buf[:9 + n], self.buf[9 + n:]
                    return hd[3], hd[4], int.from_bytes(hd[5:9], "big") & 0x7FFFFFFF, hd[9:]
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no frame in time")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.closed = True
                raise Closed()
            self.buf += chunk

    def _handle(self, ftype, flags, stream, payload):
        if ftype == SETTINGS and not flags & ACK:
            got = {}
            for i in range(0, len(payload) - 5, 6):
                got[int.from_bytes(payload[i:i + 2], "big")] = int.from_bytes(payload[i + 2:i + 6], "big")
            if 4 in got:
                old = (self.peer_settings or {}).get(4, 65535)
                for k in self.stream_window:
                    self.stream_window[k] += got[4] - old
            self.peer_settings = {**(self.peer_settings or {}), **got}
            self.send(frame(SETTINGS, ACK, 0))
        elif ftype == PING and flags & ACK:
            self.pings += 1
        elif ftype == WINDOW_UPDATE:
            inc = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
            if stream == 0:
                self.conn_window += inc
            else:
                self.stream_window[stream] = self.stream_window.get(stream, self._initial()) + inc
        elif ftype == PING and not flags & ACK:
            self.send(frame(PING, ACK, 0, payload))
        elif ftype in (HEADERS, CONTINUATION):
            if ftype == HEADERS:
                pad = payload[0] if flags & 0x8 else 0
                body = payload[1:] if flags & 0x8 else payload
                if flags & 0x20:
                    body = body[5:]
                self._block = (stream, body[:len(body) - pad] if pad else body)
            else:
                self._block = (stream, self._block[1] + payload)
            if flags & END_HEADERS:
                sid, block = self._block
                self._block = None
                self.headers_of.setdefault(sid, []).append(dict(self.dec.decode(block)))
        elif ftype == DATA:
            self.data_of[stream] = self.data_of.get(stream, b"") + payload
            if payload:  # keep the windows open for long tests
                self.send(frame(WINDOW_UPDATE, 0, 0, struct.pack("!I", len(payload))) +
                          frame(WINDOW_UPDATE, 0, stream, struct.pack("!I", len(payload))))
        elif ftype == RST_STREAM:
            self.rst_of[stream] = int.from_bytes(payload[:4], "big")
        elif ftype == GOAWAY:
            self.goaway = (int.from_bytes(payload[:4], "big") & 0x7FFFFFFF,
                           int.from_bytes(payload[4:8], "big"))

    def pump(self, until, timeout=10.0):
        """Reads frames until until() is true; raises TimeoutError / Closed."""
        deadline = time.monotonic() + timeout
        while not until():
            self._handle(*self._read_frame(deadline))

    def wait_headers(self, stream, key="grpc-status", timeout=10.0):
        """The first decoded header block of stream holding key, merged
        with the ones before it (headers + trailers)."""
        def found():
            return any(key in h for h in self.headers_of.get(stream, []))
        self.pump(found, timeout)
        merged = {}
        for h in self.headers_of[stream]:
            merged.update(h)
        return merged

    def wait_closed(self, timeout=10.0):
        """Reads until the server closes; True if it did within timeout."""
        try:
            self.pump(lambda: False, timeout)
        except Closed:
            return True
        except TimeoutError:
            return False
        except OSError:
            return True
        return False
