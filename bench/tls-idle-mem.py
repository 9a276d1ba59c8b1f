#!/usr/bin/python3
"""Memory per idle wss:// connection against ws:// (README: TLS).

Starts the release binary twice (plain, then with a test certificate made
here), opens N WebSocket connections (TLS 1.3, one echo each so every
connection has done real I/O, then idle), and reports the wsgw process's
RSS delta / N. Usage: bench/tls-idle-mem.py [N] (default 2000).
"""
import asyncio
import os
import re
import ssl
import subprocess
import sys
import tempfile
import time

import websockets

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("WSGW_BIN", os.path.join(ROOT, "build", "release", "wsgw"))
N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def certs(d):
    key, crt = os.path.join(d, "k.pem"), os.path.join(d, "c.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt, "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return crt, key


def start(args, log):
    p = subprocess.Popen([BIN, "--listen", "127.0.0.1:0", "--mgmt-listen", "127.0.0.1:0",
                          "--ping-interval", "off", "--max-connections", str(N + 100)] + args,
                         stdout=log, stderr=subprocess.STDOUT)
    for _ in range(500):
        m = re.search(r"\(port (\d+)\)", open(log.name).read())
        if m:
            return p, int(m.group(1))
        time.sleep(0.02)
    raise SystemExit("no start")


async def fill(url, ctx):
    conns = []
    for i in range(N):
        ws = await websockets.connect(url, ssl=ctx, open_timeout=30, ping_interval=None,
                                      compression=None)
        await ws.send("x")
        await ws.recv()
        conns.append(ws)
    return conns


def measure(tls, d):
    log = open(os.path.join(d, "tls.log" if tls else "plain.log"), "w")
    args, ctx = [], None
    if tls:
        crt, key = certs(d)
        args = ["--tls-cert", crt, "--tls-key", key]
        ctx = ssl.create_default_context(cafile=crt)
    p, port = start(args, log)
    url = "%s://127.0.0.1:%d/" % ("wss" if tls else "ws", port)

    async def run():
        warm = await fill(url, ctx) if False else None  # noqa: F841
        before = rss_kib(p.pid)
        conns = await fill(url, ctx)
        await asyncio.sleep(1)
        after = rss_kib(p.pid)
        for ws in conns:
            ws.transport.abort()
        return before, after
    before, after = asyncio.run(run())
    p.terminate()
    p.wait()
    return before, after


with tempfile.TemporaryDirectory() as d:
    for tls in (False, True):
        b, a = measure(tls, d)
        print("%-7s N=%d  RSS before %d KiB, after %d KiB: %.0f B per idle connection"
              % ("wss://" if tls else "ws://", N, b, a, (a - b) * 1024.0 / N))
