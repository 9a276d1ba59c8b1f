"""wsgw driven by a real browser: Debian's Chromium, headless, through
chromedriver and python3-selenium.

A page served by this module (http://127.0.0.1:<port>/, a tiny http.server
thread) opens WebSockets to the wsgw under test with the browser's own
WebSocket client, so the handshake carries what browsers send and python
clients do not (Origin, `Sec-WebSocket-Extensions: permessage-deflate;
client_max_window_bits`, the browser's User-Agent) and the frames are
masked and sized the browser's way. The assertions are on what the page's
JavaScript sees (open, protocol, extensions, message data and types, close
events); the handshake headers and the connection id (JavaScript cannot read
the 101's headers) come from Chromium's DevTools network log.

The browser is not optional: `make deps` installs it, so a missing one is a
failure. One browser serves the whole module; a watchdog kills its process
group if a test runs past TEST_TIMEOUT, so a hung browser fails the test
instead of hanging the suite.
"""
import base64
import http.server
import json
import os
import re
import signal
import threading
import time
import urllib.error
import urllib.request

import pytest

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.remote.remote_connection import RemoteConnection
except ImportError as e:  # a failure below, not a skip
    webdriver = None
    SELENIUM_ERROR = str(e)

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# Headless as root in a container, no network chatter of the browser's own.
# (Not --disable-crashpad-for-testing: with it Chromium 156's renderer never
# answers. Its crashpad handlers leave their session but exit with the
# browser.)
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-extensions", "--no-first-run", "--disable-sync", "--mute-audio"]
TEST_TIMEOUT = 60  # seconds per test (and for start-up, and for shutdown)
SCRIPT_TIMEOUT = 20  # seconds for one piece of page JavaScript
ID_HEADER = "X-Yc-Apigateway-Websocket-Connection-Id"
CONN_ID_RE = re.compile(r"^[a-z2-7]{33}$")
REST = "/apigateways/websocket/v1/connections/"

# The page: helpers the tests' JavaScript calls. Every socket gets
# binaryType "arraybuffer", a queue of received messages and a `closed`
# promise of its close event.
PAGE = """<!doctype html>
<meta charset="utf-8">
<title>wsgw browser test</title>
<link rel="icon" href="data:,">
<script>
"use strict";
window.sockets = {};
function withTimeout(p, ms, what) {
  let t;
  return Promise.race([p, new Promise((_, reject) => {
    t = setTimeout(() => reject(new Error("timed out after " + ms + " ms: " + what)), ms);
  })]).finally(() => clearTimeout(t));
}
function closeInfo(e) { return {code: e.code, reason: e.reason, wasClean: e.wasClean}; }
// Opens a WebSocket; resolves with it once open, rejects if it closes first.
function wsOpen(url, protocols) {
  const ws = protocols === undefined ? new WebSocket(url) : new WebSocket(url, protocols);
  ws.binaryType = "arraybuffer";
  ws.inbox = [];
  ws.waiters = [];
  ws.closeEvent = null;
  ws.closed = new Promise(resolve => ws.addEventListener("close", e => {
    ws.closeEvent = closeInfo(e);
    resolve(ws.closeEvent);
  }));
  ws.onmessage = e => {
    const w = ws.waiters.shift();
    if (w) w(e.data); else ws.inbox.push(e.data);
  };
  const opened = new Promise((resolve, reject) => {
    ws.onopen = () => resolve(ws);
    ws.closed.then(c => reject(new Error("closed before open: " + JSON.stringify(c))));
  });
  return withTimeout(opened, 10000, "open " + url);
}
// The next message (string or ArrayBuffer); rejects if the socket closes first.
function wsRecv(ws, ms) {
  if (ws.inbox.length) return Promise.resolve(ws.inbox.shift());
  const next = new Promise((resolve, reject) => {
    ws.waiters.push(resolve);
    ws.closed.then(c => reject(new Error("closed while waiting for a message: " + JSON.stringify(c))));
  });
  return withTimeout(next, ms || 10000, "message on " + ws.url);
}
function wsClosed(ws, ms) { return withTimeout(ws.closed, ms || 10000, "close of " + ws.url); }
function bytes(buf) { return Array.from(new Uint8Array(buf)); }
function sameBytes(a, b) {
  a = new Uint8Array(a); b = new Uint8Array(b);
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
function kind(m) { return typeof m === "string" ? "text" : m instanceof ArrayBuffer ? "binary" : typeof m; }
</script>
"""


class _PageHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):  # quiet
        pass

    def do_GET(self):
        if self.path == "/":
            body = PAGE.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
        else:
            body = b""
            self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def page_url():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _PageHandler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield "http://127.0.0.1:%d/" % srv.server_address[1]
    srv.shutdown()
    srv.server_close()


class Browser:
    """Chromium under chromedriver, in a process group of its own."""

    def __init__(self, home, log_path):
        self.pgid = None
        self.timer = None
        self.timed_out = False
        self.perf = []  # DevTools network events read so far
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for flag in CHROMIUM_FLAGS + ["--user-data-dir=" + str(home / "profile")]:
            opts.add_argument(flag)
        opts.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
        # Crash reports and caches go under `home` too, not ~/.config.
        env = dict(os.environ, XDG_CONFIG_HOME=str(home / "config"), XDG_CACHE_HOME=str(home / "cache"))
        # chromedriver (and so Chromium, its child) leads a new session; the
        # whole tree is then one process group to kill.
        self.service = Service(CHROMEDRIVER, log_path=str(log_path), env=env,
                               popen_kw={"start_new_session": True})
        RemoteConnection.set_timeout(TEST_TIMEOUT)  # no chromedriver call waits forever
        self.arm()
        try:
            self.driver = webdriver.Chrome(service=self.service, options=opts)
        except BaseException:
            self.kill()
            raise
        finally:
            self.disarm()
            if self.service.process is not None:
                self.pgid = self.service.process.pid
        self.driver.set_script_timeout(SCRIPT_TIMEOUT)
        self.driver.set_page_load_timeout(SCRIPT_TIMEOUT)

    # ---- watchdog --------------------------------------------------------------

    def arm(self, seconds=TEST_TIMEOUT):
        self.disarm()
        self.timer = threading.Timer(seconds, self._timeout, (seconds,))
        self.timer.daemon = True
        self.timer.start()

    def disarm(self):
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _timeout(self, seconds):
        self.timed_out = seconds
        self.kill()

    def call(self, fn, *args):
        """fn(*args) (a chromedriver call), failing clearly if the watchdog
        killed the browser meanwhile."""
        try:
            return fn(*args)
        except Exception:
            if self.timed_out:
                pytest.fail("the browser hung: killed by the watchdog after %ss" % self.timed_out)
            raise

    def kill(self):
        pid = self.pgid or (self.service.process.pid if self.service.process else None)
        if pid:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def quit(self):
        self.arm()
        try:
            self.driver.quit()
        finally:
            self.disarm()
            self.kill()  # renderers and helpers that outlive chromedriver's quit
            if self.service.process is not None:
                try:
                    self.service.process.wait(timeout=10)
                except Exception:
                    pass

    # ---- page --------------------------------------------------------------

    def js(self, body, *args):
        """Runs `body` as the body of an async JavaScript function whose
        arguments are in `args`; returns its value, or fails the test with
        the JavaScript error."""
        script = ("const done = arguments[arguments.length - 1];\n"
                  "(async (args) => {\n" + body + "\n})(Array.prototype.slice.call(arguments, 0, -1))"
                  ".then(v => done({ok: v === undefined ? null : v}),"
                  " e => done({err: String(e && e.stack || e)}));")
        r = self.call(self.driver.execute_async_script, script, *args)
        if "err" in r:
            console = "\n".join(e["message"] for e in self.driver.get_log("browser"))
            pytest.fail("page JavaScript failed: %s\nbrowser console:\n%s" % (r["err"], console))
        return r["ok"]

    def ws_events(self, url, until, timeout=10):
        """DevTools' Network.webSocket* events of the socket the page opened
        to `url`, {method: params}, once the event `until` is among them."""
        deadline = time.time() + timeout
        while True:
            for e in self.call(self.driver.get_log, "performance"):
                m = json.loads(e["message"])["message"]
                if m["method"].startswith("Network.webSocket"):
                    self.perf.append(m)
            req_id = next((m["params"]["requestId"] for m in self.perf
                           if m["method"] == "Network.webSocketCreated" and m["params"]["url"] == url),
                          None)
            events = {m["method"]: m["params"] for m in self.perf
                      if req_id is not None and m["params"].get("requestId") == req_id}
            if until in events:
                return events
            assert time.time() < deadline, "DevTools logged no %s for %s" % (until, url)
            time.sleep(0.05)

    def handshake(self, url):
        """The WebSocket handshake of `url` as DevTools saw it: (request
        headers, response status, response headers with lowercase names)."""
        ev = self.ws_events(url, "Network.webSocketHandshakeResponseReceived")
        resp = ev["Network.webSocketHandshakeResponseReceived"]["response"]
        return (ev["Network.webSocketWillSendHandshakeRequest"]["request"]["headers"], resp["status"],
                {k.lower(): v for k, v in resp["headers"].items()})


@pytest.fixture(scope="module")
def browser(tmp_path_factory, page_url):
    if webdriver is None:
        pytest.fail("python3-selenium is missing (%s); `make deps` installs it" % SELENIUM_ERROR)
    for path, pkg in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            pytest.fail("%s is missing; `make deps` installs Debian's %s" % (path, pkg))
    d = tmp_path_factory.mktemp("chromium")
    b = Browser(d, d / "chromedriver.log")
    try:
        b.arm()
        b.driver.get(page_url)
        b.disarm()
        assert b.driver.title == "wsgw browser test"
    except BaseException:
        b.quit()
        raise
    yield b
    b.quit()


@pytest.fixture
def page(browser, page_url):
    """The browser on a fresh copy of the page, under the watchdog."""
    browser.arm()
    browser.call(browser.driver.get, page_url)
    browser.perf.clear()
    browser.driver.get_log("performance")  # drop the events of earlier tests
    browser.driver.get_log("browser")
    yield browser
    browser.disarm()


def rest(server, method, conn_id, suffix="", body=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s%s%s" % (server.mgmt_port, REST, conn_id, suffix),
                                 method=method, data=None if body is None else json.dumps(body).encode())
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


# ---- tests ---------------------------------------------------------------------


def test_handshake(page, page_url, wsgw_factory):
    """Chromium offers permessage-deflate and sends its Origin and
    User-Agent; wsgw upgrades without an extension, selects the browser's
    first supported subprotocol and names the connection."""
    s = wsgw_factory(["--subprotocols", "chat,superchat", "--close-timeout", "2s"])
    url = s.url + "/browser/handshake?q=1"
    got = page.js("""
        const ws = await wsOpen(args[0], ["other", "superchat", "chat"]);
        const r = {protocol: ws.protocol, extensions: ws.extensions, url: ws.url, ua: navigator.userAgent};
        ws.close(1000);
        await wsClosed(ws);
        return r;
    """, url)
    assert got["protocol"] == "superchat"
    assert got["extensions"] == ""
    req, status, resp = page.handshake(url)
    assert "permessage-deflate" in req.get("Sec-WebSocket-Extensions", ""), req
    assert req["Origin"] == page_url.rstrip("/")
    assert req["User-Agent"] == got["ua"] and "HeadlessChrome" in got["ua"]
    assert req["Sec-WebSocket-Protocol"] == "other, superchat, chat"
    assert status == 101
    assert "sec-websocket-extensions" not in resp, resp
    assert resp["sec-websocket-protocol"] == "superchat"
    assert CONN_ID_RE.match(resp[ID_HEADER.lower()]), resp


def test_subprotocols_without_flag(page, wsgw):
    """Without --subprotocols wsgw selects none. A page that asks for none
    gets ws.protocol ""; one that asks for some gets a 101 without
    Sec-WebSocket-Protocol, which the browser itself fails (RFC 6455
    4.1): a 1006 close, never an open."""
    url = wsgw.url + "/browser/no-subprotocols"
    got = page.js("""
        const ws = await wsOpen(args[0]);
        ws.send("x");
        const m = await wsRecv(ws);
        ws.close();
        await wsClosed(ws);
        const asked = new WebSocket(args[1], ["chat"]);
        let opened = false, errored = false;
        asked.onopen = () => { opened = true; };
        asked.onerror = () => { errored = true; };
        const closed = await withTimeout(new Promise(r => asked.onclose = e => r(closeInfo(e))), 10000, "close");
        return {protocol: ws.protocol, extensions: ws.extensions, m: m,
                asked: {opened: opened, errored: errored, closed: closed}};
    """, url, url + "?asked")
    assert got == {"protocol": "", "extensions": "", "m": "x",
                   "asked": {"opened": False, "errored": True,
                             "closed": {"code": 1006, "reason": "", "wasClean": False}}}
    ev = page.ws_events(url + "?asked", "Network.webSocketFrameError")
    assert ev["Network.webSocketWillSendHandshakeRequest"]["request"]["headers"]["Sec-WebSocket-Protocol"] == "chat"
    err = ev["Network.webSocketFrameError"]["errorMessage"]
    assert "Sec-WebSocket-Protocol" in err and "no response" in err, err


UNICODE = ["κόσμε", "日本語", "emoji 😀🎉", "nul \u0000 inside", "mixed ascii и кириллица ✓",
           "\U0010FFFF", "🙂" * 20000, "€"]


def test_echo(page, wsgw):
    """Text and binary (ArrayBuffer) messages of many sizes come back
    unchanged and of the same kind, in order."""
    got = page.js("""
        const ws = await wsOpen(args[0]);
        const r = {};
        ws.send("hello");
        let m = await wsRecv(ws);
        r.text = [kind(m), m];
        const b = new Uint8Array(256);
        for (let i = 0; i < 256; i++) b[i] = i;
        ws.send(b.buffer);
        m = await wsRecv(ws);
        r.binary = [kind(m), bytes(m)];
        ws.send(""); m = await wsRecv(ws); r.emptyText = [kind(m), m];
        ws.send(new ArrayBuffer(0)); m = await wsRecv(ws); r.emptyBinary = [kind(m), m.byteLength];
        // 100 KiB of text, and binary across the 16- and 64-bit length encodings
        const big = "0123456789abcdef".repeat(6400);
        ws.send(big); m = await wsRecv(ws);
        r.bigText = [kind(m), m.length, m === big];
        r.bigBinary = [];
        for (const n of [125, 126, 65535, 65536, 131072]) {
          const d = new Uint8Array(n);
          for (let off = 0; off < n; off += 65536) crypto.getRandomValues(d.subarray(off, off + 65536));
          ws.send(d.buffer); m = await wsRecv(ws);
          r.bigBinary.push([n, kind(m), sameBytes(m, d.buffer)]);
        }
        // non-ASCII UTF-8, as Python sent it
        r.unicode = [];
        for (const s of args[1]) { ws.send(s); r.unicode.push(await wsRecv(ws)); }
        // a burst, text and binary interleaved, sent without waiting
        for (let i = 0; i < 100; i++) ws.send(i % 2 ? "m" + i : new Uint8Array([i, 255 - i]).buffer);
        r.burst = [];
        for (let i = 0; i < 100; i++) {
          m = await wsRecv(ws);
          r.burst.push(typeof m === "string" ? m : bytes(m));
        }
        ws.close(1000);
        r.close = await wsClosed(ws);
        return r;
    """, wsgw.url + "/browser/echo", UNICODE)
    assert got["text"] == ["text", "hello"]
    assert got["binary"] == ["binary", list(range(256))]
    assert got["emptyText"] == ["text", ""]
    assert got["emptyBinary"] == ["binary", 0]
    assert got["bigText"] == ["text", 102400, True]
    assert got["bigBinary"] == [[n, "binary", True] for n in (125, 126, 65535, 65536, 131072)]
    assert got["unicode"] == UNICODE
    assert got["burst"] == ["m%d" % i if i % 2 else [i, 255 - i] for i in range(100)]
    assert got["close"] == {"code": 1000, "reason": "", "wasClean": True}


def test_client_close_with_code(page, wsgw):
    """close(4000, reason) from the page: wsgw completes the close handshake
    echoing the code (without the reason)."""
    got = page.js("""
        const ws = await wsOpen(args[0]);
        ws.send("before close");
        const m = await wsRecv(ws);
        ws.close(4000, "bye from the browser é");
        return [m, await wsClosed(ws)];
    """, wsgw.url + "/browser/close")
    assert got == ["before close", {"code": 4000, "reason": "", "wasClean": True}]


def test_management_api_reaches_the_browser(page, wsgw):
    """The connection id (from the 101, via DevTools) works on the REST
    API: Get reports the browser's User-Agent, Send delivers text and
    binary to the page, Disconnect closes it with 1000 through a complete
    close handshake and Get no longer finds it."""
    url = wsgw.url + "/browser/managed"
    ua = page.js("""
        window.sockets.a = await wsOpen(args[0]);
        return navigator.userAgent;
    """, url)
    _, _, resp = page.handshake(url)
    cid = resp[ID_HEADER.lower()]

    status, j = rest(wsgw, "GET", cid)
    assert status == 200, j
    assert j["id"] == cid
    assert j["identity"] == {"sourceIp": "127.0.0.1", "userAgent": ua}

    text = "pushed to the browser ✓"
    status, j = rest(wsgw, "POST", cid, ":send",
                     {"data": base64.b64encode(text.encode()).decode(), "type": "TEXT"})
    assert status == 200, j
    status, j = rest(wsgw, "POST", cid, ":send",
                     {"data": base64.b64encode(b"\x00\xffbin").decode(), "type": "BINARY"})
    assert status == 200, j
    got = page.js("""
        const ws = window.sockets.a;
        const a = await wsRecv(ws), b = await wsRecv(ws);
        return [[kind(a), a], [kind(b), bytes(b)]];
    """)
    assert got == [["text", text], ["binary", [0, 255, 98, 105, 110]]]

    status, j = rest(wsgw, "DELETE", cid)
    assert status == 200, j
    closed = page.js("return await wsClosed(window.sockets.a);")
    assert closed == {"code": 1000, "reason": "", "wasClean": True}
    status, j = rest(wsgw, "GET", cid)
    assert status == 404, j


def test_server_pings_keep_a_quiet_browser_open(page, wsgw_factory):
    """The browser answers wsgw's pings by itself, so a page that sends
    nothing outlives --idle-timeout; without pings it is closed with 1001."""
    pinged = wsgw_factory(["--ping-interval", "100ms", "--idle-timeout", "700ms"])
    unpinged = wsgw_factory(["--ping-interval", "off", "--idle-timeout", "500ms"])
    got = page.js("""
        const a = await wsOpen(args[0]), b = await wsOpen(args[1]);
        const [bClosed] = await Promise.all([
          wsClosed(b, 5000),
          new Promise(r => setTimeout(r, 1500)),  // a stays quiet for 2x its idle timeout
        ]);
        const aState = a.readyState;
        a.send("still here");
        const m = await wsRecv(a);
        a.close();
        await wsClosed(a);
        return {aState: aState, m: m, bClosed: bClosed};
    """, pinged.url + "/browser/pinged", unpinged.url + "/browser/unpinged")
    assert got["aState"] == 1 and got["m"] == "still here", got
    assert got["bClosed"] == {"code": 1001, "reason": "idle timeout", "wasClean": True}, got
