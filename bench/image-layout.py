#!/usr/bin/python3
"""Writes src/image.ld, the start-up layout of the image's binary.

build/image/wsgw links Debian's static libcrypto, libssl and the other
libraries, whose archive members each hold one .text: the code OpenSSL runs
while it initialises (config, providers, name maps, the DRBG) is 150 KB
spread over about 200 members across 3 MB, and the kernel maps file pages
64 KiB around each fault, so 2 MB of code became resident at start. The
linker script this writes puts, at the front of .text and .rodata, all of
our own code and the library members whose code ran in a profile: start,
one WebSocket client's echo, shutdown.

Run it after a library update changed its members (the image test's RSS
bound is what notices): needs valgrind (Debian package valgrind, not part of
`make deps`) and a build of build/image/wsgw (its link map is read):

    make build/image/wsgw && bench/image-layout.py && make build/image/wsgw

The layout changes where code sits, never what is linked.
"""
import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import websockets

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "build/image/wsgw")
OUT = os.path.join(ROOT, "src/image.ld")


def profile(tmp):
    """Names of the functions of BIN that ran (callgrind)."""
    out = os.path.join(tmp, "callgrind.out")
    log = os.path.join(tmp, "log")
    with open(log, "w") as err:
        p = subprocess.Popen(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out, BIN,
                              "--listen", "127.0.0.1:0", "--mgmt-listen", "127.0.0.1:0"],
                             stdout=subprocess.DEVNULL, stderr=err)
    port = None
    for _ in range(600):
        m = re.search(r"WebSocket on \S+ \(port (\d+)\)", open(log).read())
        if m:
            port = int(m.group(1))
            break
        if p.poll() is not None:
            break
        time.sleep(0.2)
    if port is None:
        p.kill()
        sys.exit("wsgw did not start under valgrind:\n" + open(log).read()[-2000:])

    async def echo():
        async with websockets.connect("ws://127.0.0.1:%d/layout" % port, compression=None,
                                      open_timeout=60) as ws:
            await ws.send("layout")
            assert await asyncio.wait_for(ws.recv(), 60) == "layout"

    asyncio.run(echo())
    p.send_signal(signal.SIGTERM)
    if p.wait(120) != 0:
        sys.exit("wsgw under valgrind exited with %s" % p.returncode)
    ann = subprocess.run(["callgrind_annotate", "--threshold=100", out], capture_output=True,
                         text=True, check=True).stdout
    names = set()
    for ln in ann.splitlines():
        m = re.match(r"\s*[\d,]+ \([^)]*\)\s+(?:\S*:)?(\S+) \[(\S+)\]$", ln)
        if m and os.path.realpath(m.group(2)) == os.path.realpath(BIN):
            names.add(m.group(1).split("'")[0])
    return names


def text_sections(mapfile):
    """[(start, size, archive, member)] of the input .text sections."""
    lines = open(mapfile).read().split("\n")
    out, i, inside = [], 0, False
    while i < len(lines):
        ln = lines[i]
        if re.match(r"^\.text", ln):
            inside = True
        elif re.match(r"^\.\S", ln):
            inside = False
        if inside:
            if re.match(r"^ \.text\S*\s*$", ln) and i + 1 < len(lines):
                ln, i = ln.rstrip() + lines[i + 1], i + 1
            m = re.match(r"^ \.text\S*\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S+)\((\S+)\)$", ln)
            if m and int(m.group(2), 16):
                out.append((int(m.group(1), 16), int(m.group(2), 16),
                            os.path.basename(m.group(3)), m.group(4)))
        i += 1
    return out


def main():
    with tempfile.TemporaryDirectory() as tmp:
        ran = profile(tmp)
    addrs = []
    nm = subprocess.run(["nm", "-S", "--defined-only", BIN], capture_output=True, text=True,
                        check=True).stdout
    for ln in nm.splitlines():
        f = ln.split()
        if len(f) == 4 and f[2] in "tT" and f[3] in ran:
            addrs.append(int(f[0], 16))
    members = []
    for start, size, archive, member in text_sections(BIN + ".map"):
        if archive == "libwsgw.a" or (archive, member) in members:
            continue
        if any(start <= a < start + size for a in addrs):
            members.append((archive, member))
    if len(members) < 20:
        sys.exit("only %d library members ran: profile or link map not understood" % len(members))

    def rules(sections):
        own = "    *libwsgw.a:*.o(%s)\n" % sections
        return own + "".join("    *%s:%s(%s)\n" % (a, m, sections) for a, m in members)

    with open(OUT, "w") as f:
        f.write("/* image.ld — start-up layout of build/image/wsgw (Makefile, README.md\n"
                " * \"Deploying\"): our code, then the %d members of the static libraries\n"
                " * whose code ran at start and for one client's echo, first in .text and\n"
                " * .rodata, so the pages the kernel maps around each fault are mostly code\n"
                " * that runs. Written by bench/image-layout.py from a callgrind profile;\n"
                " * do not edit. A member missing here only costs resident pages. */\n"
                % len(members))
        f.write("SECTIONS\n{\n  .text.wsgw_start :\n  {\n%s  }\n}\nINSERT BEFORE .text;\n"
                % rules(".text"))
        f.write("SECTIONS\n{\n  .rodata.wsgw_start :\n  {\n%s  }\n}\nINSERT BEFORE .rodata;\n"
                % rules(".rodata .rodata.*"))
    print("%s: %d library members" % (OUT, len(members)))


if __name__ == "__main__":
    main()
