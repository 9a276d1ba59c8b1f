"""The README's promises, run as written: its example spec validates, and a
gateway started with it (the backend port swapped for the test backend's)
delivers connect, message and disconnect events and echoes on /echo."""
import asyncio
import os
import re
import subprocess

import websockets

from backend import backend, backend_factory  # noqa: F401  (fixtures)
from conftest import ROOT, WSGW_BIN

H = "X-Yc-Apigateway-Websocket-"


def readme_spec():
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    m = re.search(r"<!-- readme-spec -->\s*```yaml\n(.*?)```\s*<!-- /readme-spec -->", text, re.S)
    assert m, "README.md lost its example spec markers"
    return m.group(1)


def test_readme_spec_checks(tmp_path):
    path = tmp_path / "api.yaml"
    path.write_text(readme_spec())
    p = subprocess.run([WSGW_BIN, "--check-spec", str(path)], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0, p.stderr
    # the route summary lines (the detail lines under them: test_yandex_specs.py)
    assert [ln for ln in p.stdout.splitlines()[1:] if ln.startswith("  /")] == [
        "  /chat/{room} (line 4): connect http, message http, disconnect http",
        "  /echo (line 19): connect -, message echo, disconnect -",
    ], p.stdout


def test_readme_spec_runs(tmp_path, wsgw_factory, backend):  # noqa: F811
    backend.on("MESSAGE", content_type="application/json", body=lambda req: b'{"got":' + req.body + b"}")
    path = tmp_path / "api.yaml"
    path.write_text(readme_spec().replace("127.0.0.1:3000", "127.0.0.1:%d" % backend.port))
    s = wsgw_factory(["--spec", str(path)])

    async def run():
        async with websockets.connect(s.url + "/chat/lobby", user_agent_header="readme") as ws:
            cid = ws.response_headers["X-Yc-Apigateway-Websocket-Connection-Id"]
            await ws.send("1")
            assert await asyncio.wait_for(ws.recv(), 10) == '{"got":1}'
            await ws.close(4000, "done")
        async with websockets.connect(s.url + "/echo") as ws:
            await ws.send(b"\x01\x02")
            assert await asyncio.wait_for(ws.recv(), 10) == b"\x01\x02"
        return cid

    cid = asyncio.run(run())
    backend.wait_events("DISCONNECT", 1, conn_id=cid)
    events = [(r.event, r.path) for r in backend.events(conn_id=cid)]
    assert events == [("CONNECT", "/connect/lobby"), ("MESSAGE", "/message/lobby"),
                      ("DISCONNECT", "/disconnect")], events
    disc = backend.events("DISCONNECT", conn_id=cid)[0]
    assert disc.header(H + "Disconnect-Status-Code") == "4000"
    assert disc.header(H + "Disconnect-Reason") == "done"
