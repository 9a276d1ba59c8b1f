"""Connection churn on the WebSocket port (issue 8): 100 000 connections
opened and closed in batches of at most 12 500 open at once, a third each
closed cleanly (close handshake), reset (SO_LINGER 0, after a message), and
vanishing mid-frame (a message, half a frame, then FIN). Afterwards wsgw's
RSS is back within a small margin of the baseline measured after a warm-up
batch (so allocator growth is not counted), its open descriptors are back
to the baseline (/proc/<pid>/fd), and it logged no warning or error. With an
http disconnect integration (batches of 2 500 there, the backend holding
its answers until a batch is closed), a recording backend in a subprocess
must see exactly one disconnect event per upgraded connection.

The client is a raw-socket epoll loop doing the handshake by hand (the
websockets library is far too slow for 100 000 connections). Connections
come from 32 loopback source addresses so client-side TIME_WAIT never runs
out of ephemeral ports. Under ASan (WSGW_ASAN=1) the count is scaled down to
20 000 (CHURN_TOTAL overrides it): the sanitizer makes each connection
several times dearer, its quarantine blurs RSS (kept at 16 MB here; the
RSS margins are wide, a gross check), and LeakSanitizer checks for leaks
at exit. The release build is the one whose RSS check is tight.
"""
import errno
import json
import os
import select
import socket
import struct
import subprocess
import sys
import time

import pytest
import yaml

import conftest

# CHURN_TOTAL=100000 runs the full count under ASan too (about a minute per test).
TOTAL = int(os.environ.get("CHURN_TOTAL", 20_000 if conftest.ASAN else 100_000))
BATCH = 10_000 if conftest.ASAN else 12_500  # open at once; the fd limit here is 20 000
# With the integration, smaller batches: each queues all its disconnect calls
# at once (~5 KB each), and how much of that heap RSS keeps afterwards is
# noise proportional to the batch (seen up to 14 MiB with 12 500, ~1 MiB
# with 2 500).
BATCH_INTEG = 2_500
WINDOW = 1000  # handshakes in flight (the listen backlog is 4096)
SOURCES = 32  # loopback source addresses 127.0.0.1..32
DEADLINE = 30.0  # liveness bound for one batch (normally ~1 s)
# RSS may differ from the baseline by this much (allocator noise); a leak of
# one small allocation (48 bytes with malloc's header) per connection would
# be more. With the integration the heap holds more kinds of blocks (seen
# +1.1 MiB after the warm-up, flat from 60 000 to 150 000); leaking one
# integration state (> 300 bytes) per connection would be 30 MiB.
RSS_MARGIN_KIB = 4 * 1024 if not conftest.ASAN else 24 * 1024  # ASan: a gross check (quarantine)
# Under ASan the freed calls pass through its quarantine before reuse, so a
# batch's calls cannot reuse the last batch's memory (seen +33 MiB over 20 000
# connections): there the RSS check is a gross one, the release build's is
# the real one.
RSS_MARGIN_INTEG_KIB = 6 * 1024 if not conftest.ASAN else 96 * 1024

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 §1.3's example
ID_HEADER = b"\r\nx-yc-apigateway-websocket-connection-id: "


def request(path):
    return (b"GET " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: " + KEY +
            b"\r\nSec-WebSocket-Version: 13\r\nUser-Agent: churn\r\n\r\n")


def frame(opcode, payload, length=None):
    """A masked client frame (zero mask: the payload goes as is)."""
    n = len(payload) if length is None else length
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    else:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    return head + b"\0\0\0\0" + payload


MESSAGE = frame(0x1, b"churn says hello")
CLOSE = frame(0x8, struct.pack("!H", 1000) + b"bye")
PARTIAL = frame(0x2, b"v" * 100, length=1000)  # the other 900 bytes never come
SERVER_CLOSE = b"\x88\x02\x03\xe8"  # the close frame echoing the code
LINGER0 = struct.pack("ii", 1, 0)


class ChurnError(AssertionError):
    pass


def open_batch(port, path, n, seq):
    """Opens n WebSocket connections, at most WINDOW handshakes in flight.
    Returns [(socket, connection id)]."""
    req = request(path)
    ep = select.epoll()
    pending = {}  # fd -> [sock, response bytes so far]
    opened = []
    started = 0
    deadline = time.monotonic() + DEADLINE
    try:
        while len(opened) < n:
            while len(pending) < WINDOW and started < n:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
                s.setsockopt(socket.SOL_IP, 24, 1)  # IP_BIND_ADDRESS_NO_PORT
                s.bind(("127.0.0.%d" % (1 + (seq + started) % SOURCES), 0))
                err = s.connect_ex(("127.0.0.1", port))
                if err not in (0, errno.EINPROGRESS):
                    s.close()
                    raise ChurnError("connect: %s" % os.strerror(err))
                started += 1
                pending[s.fileno()] = [s, b""]
                ep.register(s.fileno(), select.EPOLLOUT)
            if time.monotonic() > deadline:
                raise ChurnError("%d handshakes still pending after %ss" % (len(pending), DEADLINE))
            for fd, ev in ep.poll(1.0):
                st = pending[fd]
                s = st[0]
                if ev & select.EPOLLOUT:
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        raise ChurnError("connect: %s" % os.strerror(err))
                    s.send(req)  # ~190 bytes into an empty socket buffer
                    ep.modify(fd, select.EPOLLIN)
                    continue
                data = s.recv(4096)
                if not data:
                    raise ChurnError("closed before the 101: %r" % st[1])
                st[1] += data
                head = st[1]
                end = head.find(b"\r\n\r\n")
                if end < 0:
                    continue
                if not head.startswith(b"HTTP/1.1 101 ") or ACCEPT not in head:
                    raise ChurnError("handshake refused: %r" % head[:200])
                i = head.lower().find(ID_HEADER)
                cid = head[i + len(ID_HEADER):head.index(b"\r\n", i + 2)].decode()
                ep.unregister(fd)
                del pending[fd]
                opened.append((s, cid))
        return opened
    except BaseException:
        for st in pending.values():
            st[0].close()
        for s, _ in opened:
            s.close()
        raise
    finally:
        ep.close()


def close_batch(opened):
    """Ends every connection: a third with the close handshake (waiting
    for the server's close frame and EOF), a third reset after a message, a
    third vanishing in the middle of a frame. Returns counts by kind."""
    ep = select.epoll()
    clean = {}
    kinds = [0, 0, 0]
    try:
        for i, (s, _) in enumerate(opened):
            kind = i % 3
            kinds[kind] += 1
            if kind == 0:
                s.send(MESSAGE + CLOSE)
                clean[s.fileno()] = [s, b""]
                ep.register(s.fileno(), select.EPOLLIN)
            elif kind == 1:
                s.send(MESSAGE)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
                s.close()
            else:
                s.send(MESSAGE + PARTIAL)
                s.close()
        deadline = time.monotonic() + DEADLINE
        while clean:
            if time.monotonic() > deadline:
                raise ChurnError("%d close handshakes unfinished after %ss" % (len(clean), DEADLINE))
            for fd, _ in ep.poll(1.0):
                st = clean[fd]
                try:
                    data = st[0].recv(4096)
                except ConnectionResetError:
                    raise ChurnError("reset during the close handshake") from None
                st[1] += data
                if data:
                    continue
                if not st[1].endswith(SERVER_CLOSE):
                    raise ChurnError("no close frame before EOF: %r" % st[1][-40:])
                ep.unregister(fd)
                st[0].close()
                del clean[fd]
        return kinds
    finally:
        for st in clean.values():
            st[0].close()
        for s, _ in opened:
            s.close()  # no-op for the closed ones
        ep.close()


def churn(port, path, total, batch, seq=0, before_batch=None, after_batch=None):
    """Opens and closes `total` connections in batches; before_batch() and
    after_batch(ids so far) run around each. Returns the ids."""
    ids = []
    done = 0
    while done < total:
        n = min(batch, total - done)
        if before_batch:
            before_batch()
        opened = open_batch(port, path, n, seq + done)
        ids.extend(cid for _, cid in opened)
        close_batch(opened)
        done += n
        if after_batch:
            after_batch(ids)
    return ids


# ---- what wsgw holds ----------------------------------------------------------------


def socket_ports(pid):
    """inode -> (local port, remote port) of the process's TCP sockets."""
    out = {}
    for name in ("tcp", "tcp6"):
        try:
            with open("/proc/%d/net/%s" % (pid, name)) as f:
                next(f)
                for line in f:
                    p = line.split()
                    out[p[9]] = (int(p[1].rsplit(":", 1)[1], 16), int(p[2].rsplit(":", 1)[1], 16))
        except FileNotFoundError:
            pass
    return out


def fds(pid, ignore_remote_port=None):
    """Open descriptors of pid, leaving out TCP connections to
    ignore_remote_port (the backend: how many libcurl keeps alive varies)."""
    names = []
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            names.append(os.readlink("/proc/%d/fd/%s" % (pid, fd)))
        except FileNotFoundError:
            pass
    if ignore_remote_port is None:
        return len(names)
    ports = socket_ports(pid)
    return sum(1 for n in names
               if not (n.startswith("socket:[") and
                       ports.get(n[8:-1], (0, 0))[1] == ignore_remote_port))


def wait_fds(pid, want, ignore_remote_port=None, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        n = fds(pid, ignore_remote_port)
        if n <= want or time.monotonic() > deadline:
            return n
        time.sleep(0.02)


def rss_kib(server):
    return server.proc_status_kib("VmRSS")


# ---- the recording backend ------------------------------------------------------------

BACKEND = r'''
import asyncio, collections, json, sys

counts = collections.Counter()
others = collections.Counter()
held = []  # None, or the transports owed an answer while holding
RESP = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
ID = b"\r\nx-yc-apigateway-websocket-connection-id:"
EV = b"\r\nx-yc-apigateway-websocket-event-type:"


def header(low, head, name):
    i = low.find(name)
    if i < 0:
        return None
    j = head.find(b"\r\n", i + 2)
    return head[i + len(name):j if j >= 0 else len(head)].strip().decode()


class Proto(asyncio.Protocol):
    def connection_made(self, t):
        self.t, self.buf = t, b""

    def data_received(self, data):
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end + 2]
            low = head.lower()
            n = int(header(low, head, b"\r\ncontent-length:") or 0)
            if len(self.buf) < end + 4 + n:
                return
            self.buf = self.buf[end + 4 + n:]
            if header(low, head, EV) == "DISCONNECT":
                counts[header(low, head, ID)] += 1
            else:
                others[header(low, head, EV)] += 1
            if held:
                held[0].append(self.t)
            else:
                self.t.write(RESP)


async def main():
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(Proto, "127.0.0.1", 0, backlog=1024)
    print(srv.sockets[0].getsockname()[1], flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            return
        if line.strip() == b"total":
            print(sum(counts.values()), flush=True)
        elif line.strip() == b"hold":
            held.append([])
            print("ok", flush=True)
        elif line.strip() == b"release":
            for t in held.pop() if held else ():
                if not t.is_closing():
                    t.write(RESP)
            print("ok", flush=True)
        else:
            print(json.dumps({"counts": counts, "others": others}), flush=True)

asyncio.run(main())
'''


class RecordingBackend:
    """A minimal HTTP/1.1 server in its own process (so it does not share
    the client's interpreter) counting disconnect events per connection id."""

    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", BACKEND], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE)
        self.port = int(self.proc.stdout.readline())

    def ask(self, what):
        self.proc.stdin.write(what + b"\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline()

    def total(self):
        return int(self.ask(b"total"))

    def hold(self):
        """Record requests but answer none until release()."""
        self.ask(b"hold")

    def release(self):
        self.ask(b"release")

    def report(self):
        return json.loads(self.ask(b"report"))

    def wait_total(self, n, timeout=30.0):
        deadline = time.monotonic() + timeout
        while self.total() < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.total()

    def stop(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def recording_backend():
    b = RecordingBackend()
    yield b
    b.stop()


# ---- the tests ----------------------------------------------------------------------


def run_churn(server, path, backend=None, batch=BATCH, margin_kib=RSS_MARGIN_KIB):
    """The churn against server. With a RecordingBackend, the backend holds
    its answers until every connection of the batch is gone, so each batch
    queues all its disconnect calls at once, as the warm-up did, and RSS
    compares like with like; then the batch waits for its events."""
    pid = server.proc.pid
    backend_port = backend.port if backend else None
    base_events = [0]  # events of earlier churn() calls

    def hold():
        if backend:
            backend.hold()

    def wait_events(ids):
        if backend:
            wait_fds(pid, base_fds0, backend_port)
            backend.release()
            want = base_events[0] + len(ids)
            assert backend.wait_total(want) >= want, "disconnect events missing"

    base_fds0 = fds(pid, backend_port)
    # allocator growth, and libcurl's up to --backend-connections handles
    # and connections, settle within the first ~10 000 (seen: the RSS plateau)
    warm_n = max(batch, 10_000)
    warm = churn(server.port, path, warm_n, batch, seq=0, before_batch=hold,
                 after_batch=wait_events)
    base_events[0] = len(warm)
    n = wait_fds(pid, base_fds0, backend_port)
    assert n == base_fds0, "wsgw holds %d descriptors after the warm-up batch, %d before" % (
        n, base_fds0)
    time.sleep(0.5)
    base_rss = rss_kib(server)
    t0 = time.monotonic()
    ids = churn(server.port, path, TOTAL, batch, seq=warm_n, before_batch=hold,
                after_batch=wait_events)
    elapsed = time.monotonic() - t0
    after_fds = wait_fds(pid, base_fds0, backend_port)
    assert after_fds == base_fds0, "wsgw holds %d descriptors, %d before the churn" % (
        after_fds, base_fds0)
    time.sleep(0.5)
    rss = rss_kib(server)
    print("churn: %d connections in %.1f s; RSS %d KiB after warm-up, %d KiB after "
          "(%+d KiB); fds %d" % (TOTAL, elapsed, base_rss, rss, rss - base_rss, after_fds))
    assert rss <= base_rss + margin_kib, (
        "RSS grew from %d KiB to %d KiB over %d connections" % (base_rss, rss, TOTAL))
    assert len(set(warm + ids)) == len(warm) + len(ids) == warm_n + TOTAL
    # nothing went wrong on the way (epoll_ctl, memory, failed backend calls)
    bad = [l for l in server.read_log().splitlines() if " error " in l or " warn " in l]
    assert not bad, bad[:5]
    return warm + ids


def server_env():
    # ASan's quarantine holds freed memory back for a while: keep it small so
    # RSS says something about what wsgw itself holds.
    if conftest.ASAN:
        return {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=66:quarantine_size_mb=16"}
    return None


def test_churn_echo(wsgw_factory):
    s = wsgw_factory(["--close-timeout", "2s"], env=server_env())
    run_churn(s, "/churn")


def test_churn_with_disconnect_integration(wsgw_factory, recording_backend, tmp_path):
    b = recording_backend
    spec = {"openapi": "3.0.0", "info": {"title": "churn", "version": "1"}, "paths": {"/churn": {
        "x-yc-apigateway-websocket-message": {"x-yc-apigateway-integration": {"type": "echo"}},
        "x-yc-apigateway-websocket-disconnect": {"x-yc-apigateway-integration": {
            "type": "http", "url": "http://127.0.0.1:%d/disconnect" % b.port}},
    }}}
    path = tmp_path / "churn.yaml"
    path.write_text(yaml.safe_dump(spec))
    s = wsgw_factory(["--spec", str(path), "--close-timeout", "2s"], env=server_env())
    ids = run_churn(s, "/churn", backend=b, batch=BATCH_INTEG, margin_kib=RSS_MARGIN_INTEG_KIB)
    code = s.stop()
    assert code == 0
    got = b.report()
    counts = got["counts"]
    assert not got["others"], got["others"]
    missing = [i for i in ids if i not in counts]
    twice = {i: n for i, n in counts.items() if n != 1}
    unknown = set(counts) - set(ids)
    assert not missing and not twice and not unknown, (
        "%d upgraded connections without a disconnect event, %d with more than one, "
        "%d unknown ids" % (len(missing), len(twice), len(unknown)))
