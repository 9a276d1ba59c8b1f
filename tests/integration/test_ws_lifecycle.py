"""Connection lifecycle of the WebSocket port: clients that vanish, the
handshake/idle/ping/lifetime timers, the connection cap, shutdown on
SIGTERM, backpressure, IPv6, and the command line (flags, environment).

Timers run with short values set by flags; every wait below is a liveness
bound (something must happen before it), never a speed requirement.
"""
import asyncio
import os
import re
import signal
import socket
import struct
import subprocess
import threading
import time

import pytest
import websockets

import conftest
import wsraw
from wsraw import OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT

EOF_WAIT = 5.0


def assert_echoes(port, host="127.0.0.1", family=socket.AF_INET):
    with wsraw.connect(port, host=host, family=family) as c:
        assert c.echo(OP_TEXT, b"ping?") == (OP_TEXT, b"ping?")
        c.close_handshake()


# ---- clients that vanish -------------------------------------------------------------


def test_client_vanishes_mid_frame(wsgw):
    with wsraw.connect(wsgw.port) as c:
        frame = wsraw.encode_frame(OP_BINARY, os.urandom(1000))
        c.send(frame[:500])
    with wsraw.connect(wsgw.port) as c:
        frame = wsraw.encode_frame(OP_BINARY, os.urandom(100000))
        c.send(frame[:3])  # mid-header
    assert_echoes(wsgw.port)


def test_client_vanishes_mid_fragmented_message(wsgw):
    with wsraw.connect(wsgw.port) as c:
        c.send_frame(OP_TEXT, "κόσμε".encode() * 1000, fin=False)
        c.send_frame(wsraw.OP_CONT, b"more", fin=False)
        c.send(wsraw.encode_frame(wsraw.OP_CONT, b"x" * 70000)[:40000])
    assert_echoes(wsgw.port)


def test_client_vanishes_mid_handshake_and_with_reset(wsgw):
    with wsraw.Conn(wsgw.port) as c:
        c.send(wsraw.request_bytes()[:30])
    with wsraw.connect(wsgw.port) as c:
        c.send(wsraw.encode_frame(OP_BINARY, b"y" * 200000)[:70000])
        # RST instead of FIN
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with wsraw.connect(wsgw.port) as c:
        c.send_frame(OP_TEXT, b"unread echo")  # the server's reply is never read
        c.wait_readable_bytes(2 + len(b"unread echo"))  # but it has arrived
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    assert_echoes(wsgw.port)


def test_client_vanishes_while_server_output_queued(wsgw):
    """A client that sends a lot, reads nothing and disappears: its queued
    output must be freed (ASan checks leaks at exit). Small socket buffers
    make sure the server's queue (--max-out-queue, 1 MiB) fills and the
    server stops reading before the 400 frames are all sent."""
    c = wsraw.Conn(wsgw.port)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    c.handshake()
    with c:
        c.sock.settimeout(2)
        frame = wsraw.encode_frame(OP_BINARY, b"q" * 65536, mask_key=b"\0\0\0\0")
        sent = 0
        with pytest.raises(socket.timeout):  # the server stopped reading: backpressure
            for sent in range(400):
                c.sock.sendall(frame)
        assert sent >= 16, "stalled after %d frames: before 1 MiB was echoed" % sent
        assert c.unread_bytes() > 0  # the echoes it wrote wait, unread
    assert_echoes(wsgw.port)


# ---- handshake timeout -----------------------------------------------------------------


def test_half_handshake_times_out_with_408(wsgw_factory):
    s = wsgw_factory(["--handshake-timeout", "1s", "--close-timeout", "30s"])
    with wsraw.Conn(s.port) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: example.com\r\n")
        status, headers, body = c.read_http_response(timeout=6)
        assert status == 408
        assert headers["connection"].lower() == "close"
        assert headers["content-type"].startswith("text/plain")
        assert int(headers["content-length"]) == len(body) > 0
        c.expect_eof(EOF_WAIT)
    assert_echoes(s.port)


def test_silent_connection_times_out_with_408(wsgw_factory):
    s = wsgw_factory(["--handshake-timeout", "1s", "--close-timeout", "30s"])
    with wsraw.Conn(s.port) as c:
        status, _, _ = c.read_http_response(timeout=6)
        assert status == 408
        c.expect_eof(EOF_WAIT)


def test_handshake_timeout_does_not_affect_open_connections(wsgw_factory):
    s = wsgw_factory(["--handshake-timeout", "300ms", "--idle-timeout", "off",
                      "--ping-interval", "off"])
    with wsraw.connect(s.port) as c:
        time.sleep(1.0)  # several handshake timeouts pass
        assert c.echo(OP_TEXT, b"open") == (OP_TEXT, b"open")
        c.close_handshake()


# ---- idle timeout and pings ----------------------------------------------------------


def test_idle_timeout_closes_with_1001(wsgw_factory):
    s = wsgw_factory(["--idle-timeout", "1s", "--ping-interval", "off", "--close-timeout", "30s"])
    with wsraw.connect(s.port) as c:
        f = c.recv_frame(timeout=5)  # the first thing the server sends
        assert f.opcode == OP_CLOSE
        assert f.close_code() == (1001, b"idle timeout")
        c.send_close(1001)
        c.expect_eof(EOF_WAIT)


def test_idle_timeout_reset_by_messages(wsgw_factory):
    s = wsgw_factory(["--idle-timeout", "1s", "--ping-interval", "off"])
    with wsraw.connect(s.port) as c:
        end = time.monotonic() + 2.5
        i = 0
        while time.monotonic() < end:
            assert c.echo(OP_TEXT, b"%d" % i) == (OP_TEXT, b"%d" % i)
            i += 1
            time.sleep(0.2)
        c.close_handshake()


def test_idle_timeout_counts_from_handshake_end(wsgw_factory):
    s = wsgw_factory(["--idle-timeout", "3s", "--ping-interval", "off", "--handshake-timeout", "10s"])
    with wsraw.Conn(s.port) as c:
        req = wsraw.request_bytes()
        c.send(req[:20])
        time.sleep(3.5)  # a slow handshake: still within --handshake-timeout
        c.send(req[20:])
        assert c.read_response_head()[0] == 101
        time.sleep(1.0)  # idle for 1 s of the allowed 3 s
        assert c.echo(OP_TEXT, b"still open") == (OP_TEXT, b"still open")
        c.close_handshake()


def test_ping_interval_sends_ping(wsgw_factory):
    s = wsgw_factory(["--ping-interval", "1s", "--idle-timeout", "10s"])
    with wsraw.connect(s.port) as c:
        f = c.recv_frame(timeout=3)
        assert (f.opcode, f.payload, f.fin) == (OP_PING, b"", True)
        c.send_frame(OP_PONG, f.payload)
        assert c.echo(OP_TEXT, b"after ping") == (OP_TEXT, b"after ping")
        c.close_handshake()


def test_pongs_keep_connection_open_past_idle_timeout(wsgw_factory):
    s = wsgw_factory(["--idle-timeout", "2s", "--ping-interval", "500ms"])
    with wsraw.connect(s.port) as c:
        end = time.monotonic() + 4.0
        pings = 0
        while time.monotonic() < end:
            try:
                f = c.recv_frame(timeout=max(0.01, end - time.monotonic()))
            except TimeoutError:
                break
            assert f.opcode == OP_PING, "expected only pings, got %r" % f
            pings += 1
            c.send_frame(OP_PONG, f.payload)
        assert pings >= 2
        assert c.echo(OP_TEXT, b"alive") == (OP_TEXT, b"alive")
        c.close_handshake()


def test_messages_and_pongs_keep_connection_open(wsgw_factory):
    s = wsgw_factory(["--idle-timeout", "2s", "--ping-interval", "500ms"])
    with wsraw.connect(s.port) as c:
        end = time.monotonic() + 4.0
        i = 0
        while time.monotonic() < end:
            c.send_frame(OP_TEXT, b"m%d" % i)
            while True:
                f = c.recv_frame(timeout=3)
                if f.opcode == OP_PING:
                    c.send_frame(OP_PONG, f.payload)
                    continue
                assert (f.opcode, f.payload) == (OP_TEXT, b"m%d" % i)
                break
            i += 1
            time.sleep(0.5)
        c.close_handshake()


def test_unanswered_pings_end_in_idle_close(wsgw_factory):
    s = wsgw_factory(["--idle-timeout", "2s", "--ping-interval", "500ms", "--close-timeout", "30s"])
    with wsraw.connect(s.port) as c:
        pings = 0
        while True:
            f = c.recv_frame(timeout=6)
            if f.opcode == OP_PING:
                pings += 1
                continue
            assert f.opcode == OP_CLOSE
            assert f.close_code()[0] == 1001
            break
        assert pings >= 1
        c.send_close(1001)
        c.expect_eof(EOF_WAIT)


def test_websockets_client_pings_keep_it_alive(wsgw_factory):
    """A real client with its own keepalive pings survives a short idle timeout."""
    s = wsgw_factory(["--idle-timeout", "1s", "--ping-interval", "off"])

    async def go():
        async with websockets.connect(s.url, ping_interval=0.3, ping_timeout=5) as ws:
            await asyncio.sleep(2.5)
            await ws.send("still here")
            assert await ws.recv() == "still here"
        assert ws.close_code == 1000
    asyncio.run(asyncio.wait_for(go(), 30))


# ---- max lifetime ----------------------------------------------------------------------


def test_max_lifetime_closes_active_connection(wsgw_factory):
    s = wsgw_factory(["--max-lifetime", "1s", "--close-timeout", "30s"])
    with wsraw.connect(s.port) as c:
        deadline = time.monotonic() + 6
        i = 0
        while True:
            assert time.monotonic() < deadline, "no close within the lifetime bound"
            c.send_frame(OP_TEXT, b"%d" % i)
            f = c.recv_frame(timeout=5)
            if f.opcode == OP_CLOSE:
                code, reason = f.close_code()
                assert code == 1001
                assert b"lifetime" in reason
                break
            assert (f.opcode, f.payload) == (OP_TEXT, b"%d" % i)
            i += 1
            time.sleep(0.1)
        assert i >= 1
        c.send_close(1001)
        c.expect_eof(EOF_WAIT)


# ---- connection cap --------------------------------------------------------------------


def test_max_connections(wsgw_factory):
    s = wsgw_factory(["--max-connections", "3", "--close-timeout", "30s"])
    conns = [wsraw.connect(s.port) for _ in range(3)]
    try:
        with wsraw.Conn(s.port) as c:
            c.send(wsraw.request_bytes())
            status, headers, body = c.read_http_response()
            assert status == 503
            assert headers["connection"].lower() == "close"
            assert int(headers["content-length"]) == len(body) > 0
            c.expect_eof(EOF_WAIT)
        for i, c in enumerate(conns):
            assert c.echo(OP_TEXT, b"c%d" % i) == (OP_TEXT, b"c%d" % i)
        conns[0].close_handshake()  # the server has closed it when EOF is seen
        conns[0].close()
        c = wsraw.connect(s.port)
        conns[0] = c
        assert c.echo(OP_TEXT, b"new") == (OP_TEXT, b"new")
        with wsraw.Conn(s.port) as c:
            c.send(wsraw.request_bytes())
            assert c.read_http_response()[0] == 503
    finally:
        for c in conns:
            c.close()


REFUSAL_503 = b"too many connections\n"


def refusal_lines(log):
    """Warnings about refused or paused accepts (rate-limited: one per 10 s)."""
    return [l for l in log.splitlines() if " warn " in l and ("accept" in l or "refus" in l)]


def test_beyond_cap_and_slack_static_503(wsgw_factory):
    """Past --max-connections + 1024 pending handshakes a new connection still
    gets a 503 (issue 8 defect 12), answered at accept from a constant: even
    a client that has sent nothing yet reads it."""
    s = wsgw_factory(["--max-connections", "3", "--handshake-timeout", "60s",
                      "--close-timeout", "2s"])
    held = []
    try:
        for _ in range(3 + 1024):  # cap + slack, all silent, all accepted
            held.append(wsraw.Conn(s.port))
        with wsraw.Conn(s.port) as c:  # says nothing: answered anyway
            status, headers, body = c.read_http_response(timeout=EOF_WAIT)
            assert (status, body) == (503, REFUSAL_503)
            assert headers["connection"].lower() == "close"
            c.expect_eof(EOF_WAIT)
        for _ in range(20):
            with wsraw.Conn(s.port) as c:
                c.send(wsraw.request_bytes())
                assert c.read_http_response(timeout=EOF_WAIT)[:3:2] == (503, REFUSAL_503)
        # one in the slack: a full connection, it reads the request first
        held[-1].send(wsraw.request_bytes())
        status, _, body = held[-1].read_http_response(timeout=EOF_WAIT)
        assert (status, body) == (503, b"too many connections\n")
        # the first three are below the cap
        held[0].handshake()
        assert held[0].echo(OP_TEXT, b"ok") == (OP_TEXT, b"ok")
    finally:
        for c in held:
            c.close()
    assert len(refusal_lines(s.read_log())) == 1, refusal_lines(s.read_log())


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.fixture
def wsgw_fd_limited(tmp_path):
    """wsgw under a hard descriptor limit of 64 (prlimit), stopped and
    checked like the wsgw fixture."""
    s = conftest.Server(["--close-timeout", "2s"])
    s.args = ["prlimit", "--nofile=64:64", "--"] + s.args
    s.start(tmp_path)
    yield s
    code = s.stop()
    s.assert_clean()
    assert code == 0, s.read_log()[-4000:]


def test_fd_limit_answers_503_without_spinning(wsgw_fd_limited):
    """At EMFILE the WebSocket listener answers each waiting client 503 with
    the spare descriptor (none hangs in the backlog), uses no CPU while
    idle, logs one warning, not one per 100 ms, and recovers."""
    s = wsgw_fd_limited
    held = []
    try:
        for _ in range(64):  # open WebSocket connections until the fds run out
            c = wsraw.Conn(s.port)
            c.send(wsraw.request_bytes())
            status, _, body = c.read_http_response(timeout=EOF_WAIT)
            if status != 101:
                assert (status, body) == (503, REFUSAL_503)
                c.close()
                break
            held.append(c)
        else:
            raise AssertionError("64 connections open under a limit of 64 descriptors")
        assert len(held) > 30
        refused = 1
        cpu0 = cpu_seconds(s.proc.pid)
        t0 = time.monotonic()
        for i in range(100):
            with wsraw.Conn(s.port) as c:
                if i % 2:  # with or without a request: the answer comes at accept
                    c.send(wsraw.request_bytes())
                status, _, body = c.read_http_response(timeout=EOF_WAIT)
                assert (status, body) == (503, REFUSAL_503)
                refused += 1
            if i % 25 == 0:
                time.sleep(0.25)
        time.sleep(1.0)  # idle at the limit
        elapsed = time.monotonic() - t0
        cpu = cpu_seconds(s.proc.pid) - cpu0
        assert cpu < 0.5 * elapsed, "wsgw used %.2f s CPU in %.2f s at the fd limit" % (cpu, elapsed)
        assert len(refusal_lines(s.read_log())) == 1, refusal_lines(s.read_log())
        for c in held[:5]:
            c.close_handshake()
            c.close()
        del held[:5]
        time.sleep(0.2)
        assert_echoes(s.port)  # descriptors back: served again
    finally:
        for c in held:
            c.close()
    s.stop()
    totals = re.search(r"totals: .* (\d+) at the descriptor limit", s.read_log())
    assert totals and int(totals.group(1)) == refused, s.read_log()[-2000:]


# ---- shutdown --------------------------------------------------------------------------


def test_sigterm_closes_clients_with_1001(wsgw_factory):
    s = wsgw_factory(["--drain-timeout", "10s"])

    async def go():
        clients = [await websockets.connect(s.url, ping_interval=None) for _ in range(5)]
        for i, ws in enumerate(clients):
            await ws.send("m%d" % i)
            assert await ws.recv() == "m%d" % i
        loop = asyncio.get_running_loop()
        code = await loop.run_in_executor(None, s.stop)
        for ws in clients:
            await asyncio.wait_for(ws.wait_closed(), 10)
            assert ws.close_code == 1001
            assert ws.close_reason == "server shutting down"
        return code
    code = asyncio.run(asyncio.wait_for(go(), 30))
    assert code == 0, s.read_log()
    assert "received SIGTERM" in s.read_log()


def test_sigterm_answers_pending_handshake_with_503(wsgw_factory):
    s = wsgw_factory([])
    with wsraw.Conn(s.port) as half, wsraw.connect(s.port) as ws:
        half.send(b"GET / HTTP/1.1\r\n")
        half.wait_server_read()  # accepted and in its handshake
        s.proc.send_signal(signal.SIGTERM)
        status, _, _ = half.read_http_response()
        assert status == 503
        half.expect_eof(EOF_WAIT)
        assert ws.recv_close() == (1001, b"server shutting down")
        ws.send_close(1001)
        ws.expect_eof(EOF_WAIT)
    assert s.proc.wait(10) == 0


def test_sigterm_with_unresponsive_client_exits_after_drain_timeout(wsgw_factory):
    s = wsgw_factory(["--drain-timeout", "1s", "--close-timeout", "30s"])
    with wsraw.connect(s.port) as c:
        s.proc.send_signal(signal.SIGTERM)
        assert c.recv_close() == (1001, b"server shutting down")
        # never answer the close
        assert s.proc.wait(10) == 0
        c.expect_eof(EOF_WAIT)
    assert "drain timeout" in s.read_log()


def test_sigterm_stops_accepting(wsgw_factory):
    s = wsgw_factory(["--drain-timeout", "10s"])
    with wsraw.connect(s.port) as c:
        s.proc.send_signal(signal.SIGTERM)
        assert c.recv_close() == (1001, b"server shutting down")
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", s.port), timeout=5).close()
        c.send_close(1001)
        c.expect_eof(EOF_WAIT)
    assert s.proc.wait(10) == 0


# ---- backpressure ----------------------------------------------------------------------


def test_backpressure_bounds_memory_and_loses_nothing(wsgw):
    """A client that sends 48 MiB of 64 KiB frames without reading: the
    server stops reading once --max-out-queue (1 MiB) is queued, so the
    sender stalls and the server's memory stays bounded; once the client
    reads, every echo arrives intact and in order."""
    frame_size, total = 65536, 48 << 20
    n = total // frame_size
    base_kib = wsgw.proc_status_kib("VmRSS")
    c = wsraw.connect(wsgw.port, timeout=30)
    sent = [0]
    errors = []

    def sender():
        try:
            key = b"\x5a\xa5\x0f\xf0"
            for i in range(n):
                payload = struct.pack("!I", i) + bytes([i & 0xFF]) * (frame_size - 4)
                c.sock.sendall(wsraw.encode_frame(OP_BINARY, payload, mask_key=key))
                sent[0] = i + 1
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    th = threading.Thread(target=sender, daemon=True)
    th.start()
    try:
        # wait until the sender makes no progress for a while (stalled)
        last, since, peak = -1, time.monotonic(), 0
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            time.sleep(0.1)
            peak = max(peak, wsgw.proc_status_kib("VmRSS"))
            if sent[0] != last:
                last, since = sent[0], time.monotonic()
            elif time.monotonic() - since > 1.0 or sent[0] == n:
                break
        for _ in range(5):
            peak = max(peak, wsgw.proc_status_kib("VmRSS"))
            time.sleep(0.05)
        assert not errors, errors
        assert sent[0] < n, "the server read all 48 MiB without the client reading: no backpressure"
        growth_mib = (peak - base_kib) / 1024
        assert growth_mib < 24, "server RSS grew by %.1f MiB while the client did not read" % growth_mib
        for i in range(n):
            op, payload = c.recv_message(timeout=30)
            assert op == OP_BINARY and len(payload) == frame_size
            assert payload[:4] == struct.pack("!I", i), "echo %d out of order" % i
            assert payload[4:] == bytes([i & 0xFF]) * (frame_size - 4), "echo %d corrupted" % i
        th.join(30)
        assert not errors, errors
        assert sent[0] == n
        c.close_handshake()
    finally:
        c.close()


# ---- IPv6 ------------------------------------------------------------------------------


@pytest.mark.skipif(not conftest.ipv6_available(), reason="no IPv6 loopback")
def test_ipv6_listen(wsgw_factory):
    s = wsgw_factory(["--listen", "[::1]:0"])
    assert re.search(r"WebSocket on \[::1\]:0 \(port %d\)" % s.port, s.read_log())
    assert_echoes(s.port, host="::1", family=socket.AF_INET6)

    async def go():
        async with websockets.connect("ws://[::1]:%d/" % s.port) as ws:
            await ws.send("v6")
            assert await ws.recv() == "v6"
    asyncio.run(asyncio.wait_for(go(), 30))


# ---- command line and environment ------------------------------------------------------


def run_wsgw(args, env=None, timeout=10):
    e = dict(os.environ)
    for k in list(e):
        if k.startswith("WSGW_") and k != "WSGW_BIN" and k != "WSGW_ASAN":
            del e[k]
    e.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=66")
    if env:
        e.update(env)
    return subprocess.run([conftest.WSGW_BIN] + list(args), capture_output=True, text=True,
                          env=e, timeout=timeout)


@pytest.mark.parametrize("args,env,label", [
    (["--max-message", "12x"], None, "--max-message"),
    (["--idle-timeout", "5x"], None, "--idle-timeout"),
    (["--handshake-timeout", "0"], None, "--handshake-timeout"),
    (["--max-connections", "-1"], None, "--max-connections"),
    (["--listen", "127.0.0.1"], None, "--listen"),
    (["--max-message", "1K", "--max-frame", "2K"], None, "--max-frame"),
    (["--log-level", "loud"], None, "--log-level"),
    (["--log-format", "xml"], None, "--log-format"),
    (["--max-message"], None, "--max-message"),
    (["--no-such-flag", "1"], None, "--no-such-flag"),
    ([], {"WSGW_MAX_MESSAGE": "lots"}, "WSGW_MAX_MESSAGE"),
])
def test_bad_flag_exits_2_with_one_line(args, env, label):
    r = run_wsgw(args, env)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert label in lines[0]
    assert lines[0].startswith("wsgw: ")


def test_bad_flag_value_names_the_value():
    r = run_wsgw(["--max-message", "12x"])
    assert r.returncode == 2
    assert "--max-message" in r.stderr and "12x" in r.stderr


# Every flag, written out here (not read from config.c, so the code is not
# checked against itself): its WSGW_* variable, the default --help prints and
# the default README.md's flags table gives. A flag added to config.c needs
# a row here; the failure message names the flag and the place it is missing.
FLAGS = [
    ("--listen", "WSGW_LISTEN", "127.0.0.1:8080", "`127.0.0.1:8080`"),
    ("--mgmt-listen", "WSGW_MGMT_LISTEN", "127.0.0.1:9090", "`127.0.0.1:9090`"),
    ("--gateway-id", "WSGW_GATEWAY_ID", "d5dwsgw0000000000001", "`d5dwsgw0000000000001`"),
    ("--subprotocols", "WSGW_SUBPROTOCOLS", '""', "none"),
    ("--trust-proxy", "WSGW_TRUST_PROXY", "false", "off"),
    ("--max-message", "WSGW_MAX_MESSAGE", "128K", "`128K`"),
    ("--max-frame", "WSGW_MAX_FRAME", "=max-message", "= max-message"),
    ("--max-head", "WSGW_MAX_HEAD", "8K", "`8K`"),
    ("--max-out-queue", "WSGW_MAX_OUT_QUEUE", "1M", "`1M`"),
    ("--max-user-agent", "WSGW_MAX_USER_AGENT", "512", "`512`"),
    ("--max-connections", "WSGW_MAX_CONNECTIONS", "100000", "`100000`"),
    ("--handshake-timeout", "WSGW_HANDSHAKE_TIMEOUT", "10s", "`10s`"),
    ("--idle-timeout", "WSGW_IDLE_TIMEOUT", "600s", "`600s`"),
    ("--ping-interval", "WSGW_PING_INTERVAL", "30s", "`30s`"),
    ("--max-lifetime", "WSGW_MAX_LIFETIME", "off", "`off`"),
    ("--close-timeout", "WSGW_CLOSE_TIMEOUT", "5s", "`5s`"),
    ("--drain-timeout", "WSGW_DRAIN_TIMEOUT", "5s", "`5s`"),
    ("--auth-token", "WSGW_AUTH_TOKEN", '""', "none"),
    ("--auth-token-file", "WSGW_AUTH_TOKEN_FILE", '""', "none"),
    ("--metrics-token", "WSGW_METRICS_TOKEN", '""', "none"),
    ("--grpc-max-body", "WSGW_GRPC_MAX_BODY", "4M", "`4M`"),
    ("--max-streams", "WSGW_MAX_STREAMS", "1024", "`1024`"),
    ("--rest-max-body", "WSGW_REST_MAX_BODY", "1M", "`1M`"),
    ("--request-timeout", "WSGW_REQUEST_TIMEOUT", "30s", "`30s`"),
    ("--spec", "WSGW_SPEC", '""', "none"),
    ("--check-spec", "WSGW_CHECK_SPEC", '""', "\u2014"),
    ("--max-inbound-queue", "WSGW_MAX_INBOUND_QUEUE", "1M", "`1M`"),
    ("--backend-connections", "WSGW_BACKEND_CONNECTIONS", "256", "`256`"),
    ("--backend-idle-timeout", "WSGW_BACKEND_IDLE_TIMEOUT", "4s", "`4s`"),
    ("--backend-ca-file", "WSGW_BACKEND_CA_FILE", '""', "none"),
    ("--tls-cert", "WSGW_TLS_CERT", '""', "none"),
    ("--tls-key", "WSGW_TLS_KEY", '""', "none"),
    ("--tls-ticket-rotation", "WSGW_TLS_TICKET_ROTATION", "1h", "`1h`"),
    ("--tls-ocsp-file", "WSGW_TLS_OCSP_FILE", '""', "none"),
    ("--mgmt-tls-cert", "WSGW_MGMT_TLS_CERT", '""', "none"),
    ("--mgmt-tls-key", "WSGW_MGMT_TLS_KEY", '""', "none"),
    ("--mgmt-tls-client-ca", "WSGW_MGMT_TLS_CLIENT_CA", '""', "none"),
    ("--mgmt-max-connections", "WSGW_MGMT_MAX_CONNECTIONS", "1024", "`1024`"),
    ("--mgmt-max-buffer", "WSGW_MGMT_MAX_BUFFER", "16M", "`16M`"),
    ("--mgmt-max-buffer-total", "WSGW_MGMT_MAX_BUFFER_TOTAL", "256M", "`256M`"),
    ("--disconnect-retry", "WSGW_DISCONNECT_RETRY", "30s", "`30s`"),
    ("--max-pending-disconnects", "WSGW_MAX_PENDING_DISCONNECTS", "100000", "`100000`"),
    ("--var", "WSGW_VAR_NAME", '""', "none"),
    ("--function", "WSGW_FUNCTION_N", '""', "none"),
    ("--container", "WSGW_CONTAINER_N", '""', "none"),
    ("--integration-error-message", "WSGW_INTEGRATION_ERROR_MESSAGE", "false", "off"),
    ("--log-level", "WSGW_LOG_LEVEL", "info", "`info`"),
    ("--log-format", "WSGW_LOG_FORMAT", "text", "`text`"),
    ("--cluster", "WSGW_CLUSTER", '""', "none"),
    ("--cluster-call-timeout", "WSGW_CLUSTER_CALL_TIMEOUT", "1s", "`1s`"),
    ("--cluster-max-calls", "WSGW_CLUSTER_MAX_CALLS", "16384", "`16384`"),
    ("--cluster-max-queued", "WSGW_CLUSTER_MAX_QUEUED", "64M", "`64M`"),
]
HERE = "FLAGS in tests/integration/test_ws_lifecycle.py"


def help_rows(text):
    """{flag: (variable, default)} of the option lines of --help."""
    rows = {}
    for m in re.finditer(r"^  (--[a-z0-9-]+)(?: [A-Z=]+)?\s+(WSGW_[A-Z0-9_]+)\s+(\S+)$", text, re.M):
        rows[m.group(1)] = (m.group(2), m.group(3))
    return rows


def readme_rows():
    """{flag: (variable, default cell)} of README.md's flags table."""
    with open(os.path.join(conftest.ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    rows = {}
    for m in re.finditer(r"^\| `(--[a-z0-9-]+)[^`]*` \| `([^`]*)` \| ([^|]*?) \|", text, re.M):
        rows[m.group(1)] = (m.group(2), m.group(3))
    return rows


def compare(where, got):
    """Problems between FLAGS and one source's {flag: (variable, default)}
    (the default compared with the column of FLAGS for that source)."""
    col = 2 if where == "--help" else 3
    want = {f[0]: (f[1], f[col]) for f in FLAGS}
    problems = []
    for flag in sorted(set(got) - set(want)):
        problems.append("%s is in %s but not in %s: add its row (flag, variable, --help default, "
                        "README default)" % (flag, where, HERE))
    for flag in sorted(set(want) - set(got)):
        problems.append("%s is in %s but missing from %s" % (flag, HERE, where))
    for flag in sorted(set(want) & set(got)):
        if got[flag][0] != want[flag][0]:
            problems.append("%s: %s says variable %s, %s says %s" % (
                flag, where, got[flag][0], HERE, want[flag][0]))
        if got[flag][1] != want[flag][1]:
            problems.append("%s: %s says default %s, %s says %s" % (
                flag, where, got[flag][1], HERE, want[flag][1]))
    return problems


def test_help_lists_every_flag():
    r = run_wsgw(["--help"])
    assert r.returncode == 0
    assert r.stderr == ""
    problems = compare("--help", help_rows(r.stdout))
    assert not problems, "\n".join(problems)
    # --help lists no option line the rows above did not match
    listed = set(re.findall(r"^\s+(--[a-z][a-z0-9-]*)", r.stdout, re.M)) - {"--version"}
    assert listed == {f[0] for f in FLAGS}, listed ^ {f[0] for f in FLAGS}
    assert "--help" in r.stdout and "--version" in r.stdout


def test_readme_lists_every_flag():
    problems = compare("README.md's flags table", readme_rows())
    assert not problems, "\n".join(problems)


def test_help_wins_over_bad_flags():
    r = run_wsgw(["--max-message", "12x", "--help"])
    assert r.returncode == 0
    assert "--max-message" in r.stdout


def test_version():
    r = run_wsgw(["--version"])
    assert r.returncode == 0
    assert re.fullmatch(r"wsgw \d+\.\d+\.\d+ \(commit [A-Za-z0-9._-]+\)\n", r.stdout), r.stdout


def max_message_probe(s, ok_size, bad_size):
    """Asserts ok_size bytes echo and bad_size bytes are refused with 1009."""
    with wsraw.connect(s.port) as c:
        data = os.urandom(ok_size)
        assert c.echo(OP_BINARY, data) == (OP_BINARY, data)
        c.send_frame(OP_BINARY, os.urandom(bad_size))
        code, _ = c.recv_close()
        assert code == 1009
        c.send_close(1009)
        c.expect_eof(EOF_WAIT)


def test_env_max_message_honoured(wsgw_factory):
    s = wsgw_factory([], env={"WSGW_MAX_MESSAGE": "1000"})
    max_message_probe(s, 1000, 1001)


def test_flag_beats_env(wsgw_factory):
    s = wsgw_factory(["--max-message", "2000"], env={"WSGW_MAX_MESSAGE": "1000"})
    max_message_probe(s, 2000, 2001)


def test_flag_equals_form(wsgw_factory):
    s = wsgw_factory(["--max-message=1500"])
    max_message_probe(s, 1500, 1501)
