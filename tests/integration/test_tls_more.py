"""TLS, continued (README: TLS; issue 14's remaining promises).

Covered:
- session tickets: a ticket resumes across one --tls-ticket-rotation and
  not after two; the keys survive a SIGHUP certificate reload; a ticket of
  one port never resumes on the other;
- http integrations get X-Forwarded-Proto set by wsgw (https for a wss://
  client, http for ws://), never the client's own, unless the spec sets it;
- refusals on the wss:// port: within the handshake slack over
  --max-connections a 503 over TLS after the handshake; past it, and at the
  descriptor limit (prlimit), a TLS internal_error alert, never a plaintext
  503 a TLS client cannot read;
- a client's TLS 1.3 KeyUpdate (libssl's SSL_key_update through ctypes)
  while the server's socket is full: no spin, the echo goes on under the
  new keys;
- headless Chromium trusting the test CA through an NSS database in its
  HOME (no --ignore-certificate-errors): an https page opens wss://, echoes
  text and binary, closes cleanly.
"""
import asyncio
import os
import re
import signal
import socket
import ssl
import subprocess
import time

import pytest
import websockets

import conftest
import wsraw
from backend import backend, backend_factory  # noqa: F401 (fixtures)
from test_integrations import http, route, write_spec
from test_tls import Pki, client_ctx, wait_log, wss

WAIT = 20.0
ALERT_INTERNAL_ERROR = b"\x15\x03\x03\x00\x02\x02\x50"  # fatal internal_error, in the clear
ROTATED = "TLS session-ticket keys rotated"


@pytest.fixture
def pki(tmp_path):
    d = tmp_path / "pki"
    d.mkdir()
    return Pki(d)


def tls_args(pki, stem="srv", serial=1):
    crt, key = pki.issue(stem, "wsgw-" + stem, serial)
    return ["--tls-cert", crt, "--tls-key", key]


# -- session tickets ------------------------------------------------------------

def upgrade(t, path="/t"):
    """A WebSocket upgrade over the TLS socket t, up to the 101's end: TLS 1.3
    tickets come after the handshake, with the first response."""
    t.sendall(wsraw.request_bytes(path=path))
    head = b""
    while b"\r\n\r\n" not in head:
        b = t.recv(4096)
        assert b, "closed before the 101: %r" % head
        head += b
    assert head.startswith(b"HTTP/1.1 101"), head


def session_of(port, ctx, session=None):
    """(the session to resume next time, whether this one was resumed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as s:
        with ctx.wrap_socket(s, server_hostname="127.0.0.1", session=session) as t:
            assert t.version() == "TLSv1.3"
            upgrade(t)
            return t.session, t.session_reused


def test_ticket_resumes_across_one_rotation_not_two(wsgw_factory, pki):
    srv = wsgw_factory(tls_args(pki) + ["--tls-ticket-rotation", "4s", "--close-timeout", "2s"])
    ctx = client_ctx(pki)
    wait_log(srv, ROTATED, 1)  # just after a rotation: ~4 s before the next
    first, reused = session_of(srv.port, ctx)
    assert not reused
    assert session_of(srv.port, ctx, first)[1], "a fresh ticket did not resume"
    assert srv.read_log().count(ROTATED) == 1, "the machine is too slow for this test"
    wait_log(srv, ROTATED, 2, timeout=10)  # the ticket's key is now the previous one
    assert session_of(srv.port, ctx, first)[1], "a ticket did not resume across one rotation"
    wait_log(srv, ROTATED, 3, timeout=10)  # and now it is gone
    assert not session_of(srv.port, ctx, first)[1], "a ticket resumed after two rotations"


def test_ticket_keys_survive_reload_and_stay_per_port(wsgw_factory, pki):
    mcrt, mkey = pki.issue("mgmt", "wsgw-mgmt", 9)
    srv = wsgw_factory(tls_args(pki) + ["--mgmt-tls-cert", mcrt, "--mgmt-tls-key", mkey,
                                        "--close-timeout", "2s"])
    ctx = client_ctx(pki)
    ws_session, _ = session_of(srv.port, ctx)
    srv.proc.send_signal(signal.SIGHUP)
    wait_log(srv, "SIGHUP: reloaded the TLS certificate")
    assert session_of(srv.port, ctx, ws_session)[1], "a reload dropped the ticket keys"
    # a management port ticket offered to the WebSocket port: a full handshake
    mgmt_session, _ = healthz_session(srv.mgmt_port, ctx)
    assert healthz_session(srv.mgmt_port, ctx, mgmt_session)[1], "no resumption on its own port"
    assert not session_of(srv.port, ctx, mgmt_session)[1], "a ticket crossed ports"


def healthz_session(port, ctx, session=None):
    """session_of for the management port: GET /healthz."""
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as s:
        with ctx.wrap_socket(s, server_hostname="127.0.0.1", session=session) as t:
            t.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
            assert t.recv(4096).startswith(b"HTTP/1.1 200")
            return t.session, t.session_reused


# -- X-Forwarded-Proto to http integrations -------------------------------------------

def test_http_integrations_get_the_scheme(wsgw_factory, pki, backend, tmp_path):
    fwd = {"headers": {"*": "*"}}
    fixed = {"headers": {"*": "*", "X-Forwarded-Proto": "https"}}
    spec = write_spec(tmp_path, {
        "/s": route(http(backend.url("/m"), **fwd), connect=http(backend.url("/c"), **fwd),
                    disconnect=http(backend.url("/d"), **fwd)),
        "/fixed": route(http(backend.url("/fm"), **fixed), connect=http(backend.url("/fc"), **fixed)),
    })
    plain = wsgw_factory(["--spec", spec, "--close-timeout", "2s"])
    tls = wsgw_factory(["--spec", spec, "--close-timeout", "2s"] + tls_args(pki))
    cases = []  # (case, expected scheme)
    for srv, url, ctx, scheme in ((plain, plain.url, None, "http"),
                                  (tls, wss(tls), client_ctx(pki), "https")):
        for spoof in (None, "https", "http"):
            cases.append(("%s-%s" % (scheme, spoof), url, ctx, spoof, scheme))

    async def clients():
        for case, url, ctx, spoof, _ in cases:
            headers = {"X-Case": case}
            if spoof:
                headers["X-Forwarded-Proto"] = spoof
            async with websockets.connect(url + "/s", ssl=ctx, extra_headers=headers,
                                          open_timeout=WAIT) as ws:
                await ws.send("x")
        async with websockets.connect(plain.url + "/fixed", open_timeout=WAIT,
                                      extra_headers={"X-Forwarded-Proto": "gopher"}) as ws:
            await ws.send("y")
    asyncio.run(asyncio.wait_for(clients(), 60))
    n = len(cases)
    reqs = (backend.wait_events("CONNECT", n + 1) + backend.wait_events("MESSAGE", n + 1)
            + backend.wait_events("DISCONNECT", n))
    want = {case: scheme for case, _, _, _, scheme in cases}
    seen = 0
    for r in reqs:
        if r.path in ("/fc", "/fm"):  # the spec's own value, alone
            assert r.headers_all("X-Forwarded-Proto") == ["https"], r.header_items
            continue
        assert r.headers_all("X-Forwarded-Proto") == [want[r.header("X-Case")]], \
            (r.path, r.header_items)
        seen += 1
    assert seen == 3 * n


# -- refusals on the wss:// port ---------------------------------------------------------

def tls_refusal_bytes(port):
    """What a TLS client gets after its ClientHello on a refused connection."""
    inb, outb = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ssl.create_default_context().wrap_bio(inb, outb, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as s:
        try:
            s.sendall(outb.read())
        except OSError:
            pass
        data = b""
        while True:
            try:
                b = s.recv(4096)
            except ConnectionResetError:
                break
            if not b:
                break
            data += b
    return data


def assert_alert_to_a_tls_client(port, pki):
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as s:
        with pytest.raises(ssl.SSLError, match="INTERNAL_ERROR|internal error"):
            client_ctx(pki).wrap_socket(s, server_hostname="127.0.0.1")


def test_wss_over_the_cap(wsgw_factory, pki):
    """Within the handshake slack: a 503 over TLS, after the handshake.
    Past it: the internal_error alert at accept."""
    srv = wsgw_factory(tls_args(pki) + ["--max-connections", "1", "--handshake-timeout", "60s",
                                        "--close-timeout", "2s"])
    held = []
    try:
        first = client_ctx(pki).wrap_socket(socket.create_connection(("127.0.0.1", srv.port),
                                                                     timeout=WAIT),
                                            server_hostname="127.0.0.1")
        held.append(first)
        upgrade(first)
        with socket.create_connection(("127.0.0.1", srv.port), timeout=WAIT) as s:
            with client_ctx(pki).wrap_socket(s, server_hostname="127.0.0.1") as t:
                t.sendall(wsraw.request_bytes())
                data = b""
                while True:
                    b = t.recv(4096)
                    if not b:
                        break
                    data += b
        assert data.startswith(b"HTTP/1.1 503"), data
        assert data.endswith(b"too many connections\n"), data
        for _ in range(1024):  # silent: they fill the slack
            held.append(socket.create_connection(("127.0.0.1", srv.port), timeout=WAIT))
        t0 = time.monotonic()
        assert tls_refusal_bytes(srv.port) == ALERT_INTERNAL_ERROR
        assert_alert_to_a_tls_client(srv.port, pki)
        assert time.monotonic() - t0 < 10
    finally:
        for s in held:
            s.close()


@pytest.fixture
def tls_fd_limited(tmp_path, pki):
    """wsgw with wss:// under a hard descriptor limit of 64 (prlimit)."""
    s = conftest.Server(tls_args(pki) + ["--close-timeout", "2s", "--handshake-timeout", "60s"])
    s.args = ["prlimit", "--nofile=64:64", "--"] + s.args
    s.start(tmp_path)
    yield s
    code = s.stop()
    s.assert_clean()
    assert code == 0, s.read_log()[-4000:]


def test_fd_limit_on_the_tls_port_answers_an_alert(tls_fd_limited, pki):
    s = tls_fd_limited
    held = []
    try:
        for _ in range(64):  # silent connections, more than the descriptors left
            held.append(socket.create_connection(("127.0.0.1", s.port), timeout=WAIT))
        time.sleep(1.0)
        refused = []
        for c in held:  # an accepted one stays silent; a refused one got the alert
            c.setblocking(False)
            try:
                refused.append(c.recv(64))
            except BlockingIOError:
                pass
            c.setblocking(True)
        assert refused and all(r == ALERT_INTERNAL_ERROR for r in refused), refused
        assert len(held) - len(refused) > 30
        for _ in range(5):
            assert tls_refusal_bytes(s.port) == ALERT_INTERNAL_ERROR
        assert_alert_to_a_tls_client(s.port, pki)
        for c in held[:5]:
            c.close()
        del held[:5]
        time.sleep(0.3)

        async def echo():
            async with websockets.connect(wss(s), ssl=client_ctx(pki), open_timeout=WAIT) as ws:
                await ws.send("back")
                assert await asyncio.wait_for(ws.recv(), WAIT) == "back"
        asyncio.run(echo())
    finally:
        for c in held:
            c.close()
    s.stop()
    assert re.search(r"totals: .* [1-9]\d* at the descriptor limit", s.read_log()), \
        s.read_log()[-2000:]


# -- headless Chromium over wss://, trusting the test CA ---------------------------------

class _HttpsPage:
    """The browser tests' page (test_browser.PAGE), served over https with a
    certificate of the test CA: the case wss:// exists for (an https page
    may not open ws://)."""

    def __init__(self, cert):
        import http.server
        import threading
        from test_browser import _PageHandler
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _PageHandler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*cert)
        # The handshake in the handler's thread (at its first read), not in
        # accept(): a browser's preconnect that never sends a ClientHello
        # would hold the accepting thread, and the page, forever.
        self.srv.socket = ctx.wrap_socket(self.srv.socket, server_side=True,
                                          do_handshake_on_connect=False)
        self.url = "https://127.0.0.1:%d/" % self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def nss_trust(home, ca):
    """Chromium on Linux takes locally trusted CAs from the NSS database in
    $HOME/.pki/nssdb (certutil, Debian's libnss3-tools)."""
    db = home / ".pki" / "nssdb"
    db.mkdir(parents=True)
    for args in (["-N", "--empty-password"], ["-A", "-n", "wsgw test CA", "-t", "C,,", "-i", ca]):
        subprocess.run(["certutil", "-d", "sql:" + str(db)] + args, check=True, capture_output=True,
                       timeout=30)


def test_chromium_wss_trusting_the_test_ca(wsgw_factory, pki, tmp_path):
    from test_browser import Browser, webdriver
    if webdriver is None:
        pytest.fail("python3-selenium is missing; `make deps` installs it")
    if not os.access("/usr/bin/certutil", os.X_OK):
        pytest.fail("certutil is missing; `make deps` installs Debian's libnss3-tools")
    srv = wsgw_factory(tls_args(pki) + ["--close-timeout", "2s"])
    home = tmp_path / "home"
    nss_trust(home, pki.ca)
    page = _HttpsPage(pki.issue("page", "page", 77))
    saved = os.environ.get("HOME")
    os.environ["HOME"] = str(home)  # chromedriver, and so Chromium, start with it
    try:
        b = Browser(home, home / "chromedriver.log")
    finally:
        if saved is None:
            del os.environ["HOME"]
        else:
            os.environ["HOME"] = saved
    try:
        b.arm()
        b.call(b.driver.get, page.url)
        assert b.driver.title == "wsgw browser test", "the https page did not load: %r" % (
            b.driver.page_source[:300])
        got = b.js("""
            const ws = await wsOpen(args[0]);
            const r = {page: location.protocol};
            ws.send("hello over tls");
            r.text = await wsRecv(ws);
            const d = new Uint8Array(70000);
            for (let i = 0; i < d.length; i++) d[i] = i & 255;
            ws.send(d.buffer);
            const m = await wsRecv(ws);
            r.binary = [kind(m), sameBytes(m, d.buffer)];
            ws.close(1000, "done");
            r.close = await wsClosed(ws);
            return r;
        """, "wss://127.0.0.1:%d/browser/tls" % srv.port)
        assert got == {"page": "https:", "text": "hello over tls", "binary": ["binary", True],
                       "close": {"code": 1000, "reason": "", "wasClean": True}}, got
        b.disarm()
    finally:
        b.quit()
        page.close()


# -- a client's KeyUpdate while the server's socket is full --------------------------------

def ssl_pointer(sock):
    """The OpenSSL SSL* under a Python SSLSocket: Python has no KeyUpdate
    call, so the test calls libssl's SSL_key_update on it (ctypes, the same
    libssl.so.3 Python's ssl module runs on). CPython's PySSLSocket starts
    with PyObject_HEAD (2 words), the socket's weakref, then SSL *; checked
    with SSL_version before use."""
    import ctypes
    lib = ctypes.CDLL("libssl.so.3")
    lib.SSL_version.argtypes = [ctypes.c_void_p]
    lib.SSL_key_update.argtypes = [ctypes.c_void_p, ctypes.c_int]
    ptr = ctypes.cast(id(sock._sslobj), ctypes.POINTER(ctypes.c_void_p))[3]
    assert lib.SSL_version(ptr) == 0x0304, "not CPython's PySSLSocket layout: cannot reach SSL *"
    return lib, ptr


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_key_update_into_a_full_socket(wsgw_factory, pki):
    """The client stops reading until the server's socket and output queue
    hold echoes, then sends a TLS 1.3 KeyUpdate asking for the server's and
    one more message. The server answers with its own KeyUpdate into the
    full socket (OpenSSL 3.0: at its next write, behind the queued echoes):
    no spin meanwhile, and once the client reads, every echo comes back, the
    last one under the server's new keys (the client's TLS verifies them)."""
    srv = wsgw_factory(tls_args(pki) + ["--max-out-queue", "64M", "--max-message", "1M",
                                        "--close-timeout", "2s"])
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fills soon
    raw.settimeout(WAIT)
    raw.connect(("127.0.0.1", srv.port))
    t = client_ctx(pki).wrap_socket(raw, server_hostname="127.0.0.1")
    try:
        assert t.version() == "TLSv1.3"
        upgrade(t)
        lib, ptr = ssl_pointer(t)
        msgs = [bytes([i]) * 65536 for i in range(32)]  # 2 MiB of echoes nobody reads yet
        for m in msgs:
            t.sendall(wsraw.encode_frame(wsraw.OP_BINARY, m))
        time.sleep(1.0)  # the server reads them all; its writes stop at the full socket
        assert lib.SSL_key_update(ptr, 1) == 1  # SSL_KEY_UPDATE_REQUESTED, sent with the next write
        t.sendall(wsraw.encode_frame(wsraw.OP_TEXT, b"after the key update"))
        cpu0, t0 = cpu_seconds(srv.proc.pid), time.monotonic()
        time.sleep(1.5)  # still not reading
        cpu = cpu_seconds(srv.proc.pid) - cpu0
        elapsed = time.monotonic() - t0
        assert cpu < 0.5 * elapsed, "wsgw spun: %.2f s CPU in %.2f s" % (cpu, elapsed)
        want = b"".join(wsraw.encode_frame(wsraw.OP_BINARY, m, mask=False) for m in msgs)
        want += wsraw.encode_frame(wsraw.OP_TEXT, b"after the key update", mask=False)
        got = b""
        while len(got) < len(want):
            b = t.recv(1 << 20)
            assert b, "closed after %d of %d bytes" % (len(got), len(want))
            got += b
        assert got == want
    finally:
        t.close()


# -- OCSP stapling ------------------------------------------------------------------------

def ocsp_response(pki, cert, serial, status, out):
    """A DER OCSP response for cert, signed by the test CA (openssl ocsp as
    a one-shot responder); status "V" (good) or "R" (revoked)."""
    d = pki.d
    end = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-enddate"], check=True,
                         capture_output=True, text=True).stdout.strip().split("=", 1)[1]
    stamp = time.strftime("%y%m%d%H%M%SZ", time.strptime(end, "%b %d %H:%M:%S %Y GMT"))
    revoked = time.strftime("%y%m%d%H%M%SZ", time.gmtime()) if status == "R" else ""
    with open(d / "index.txt", "w") as f:
        f.write("%s\t%s\t%s\t%02X\tunknown\t/CN=x\n" % (status, stamp, revoked, serial))
    subprocess.run(["openssl", "ocsp", "-issuer", pki.ca, "-cert", cert, "-no_nonce",
                    "-reqout", str(d / "req.der")], check=True, capture_output=True)
    subprocess.run(["openssl", "ocsp", "-index", str(d / "index.txt"), "-rsigner", pki.ca,
                    "-rkey", pki.ca_key, "-CA", pki.ca, "-reqin", str(d / "req.der"),
                    "-respout", out, "-ndays", "1"], check=True, capture_output=True)


def stapled(port, pki):
    """What openssl s_client -status shows of the stapled response."""
    r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-status",
                        "-CAfile", pki.ca, "-verify_return_error"], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=30)
    m = re.search(r"Cert Status: (\w+)", r.stdout)
    if "OCSP response: no response sent" in r.stdout:
        return "none"
    assert "OCSP Response Status: successful" in r.stdout, r.stdout + r.stderr
    return m.group(1) if m else "?"


def test_ocsp_stapling_and_reload(wsgw_factory, pki, tmp_path):
    crt, key = pki.issue("srv", "wsgw-srv", 0x31)
    ocsp = str(tmp_path / "ocsp.der")
    ocsp_response(pki, crt, 0x31, "V", ocsp)
    srv = wsgw_factory(["--tls-cert", crt, "--tls-key", key, "--tls-ocsp-file", ocsp,
                        "--close-timeout", "2s"])
    assert stapled(srv.port, pki) == "good"
    # a new response at the same path, SIGHUP: stapled from then on
    ocsp_response(pki, crt, 0x31, "R", str(tmp_path / "new.der"))
    os.replace(tmp_path / "new.der", ocsp)
    srv.proc.send_signal(signal.SIGHUP)
    wait_log(srv, "SIGHUP: reloaded the TLS certificate")
    assert stapled(srv.port, pki) == "revoked"
    # not an OCSP response: the reload is refused, the running one stays
    with open(ocsp, "wb") as f:
        f.write(b"not DER")
    srv.proc.send_signal(signal.SIGHUP)
    wait_log(srv, "SIGHUP: TLS reload refused")
    assert "--tls-ocsp-file %s: not a DER OCSP response" % ocsp in srv.read_log()
    assert stapled(srv.port, pki) == "revoked"
    # without the flag nothing is stapled
    plain = wsgw_factory(["--tls-cert", crt, "--tls-key", key, "--close-timeout", "2s"])
    assert stapled(plain.port, pki) == "none"
    from test_tls import run_exit
    r = run_exit(["--tls-cert", crt, "--tls-key", key, "--tls-ocsp-file", crt])
    assert r.returncode != 0 and "--tls-ocsp-file" in r.stderr + r.stdout, r.stderr
