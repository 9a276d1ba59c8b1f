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


# ---- the cloud functions / containers example ------------------------------------------

def readme_block(name, lang):
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    m = re.search(r"<!-- %s -->\s*```%s\n(.*?)```\s*<!-- /%s -->" % (name, lang, name), text, re.S)
    assert m, "README.md lost its %s markers" % name
    return m.group(1)


def test_readme_functions_example_runs(tmp_path, wsgw_factory, backend):  # noqa: F811
    """The functions example spec with the mappings its command line
    passes: --check-spec accepts it (and refuses it without them); run
    with tests/functions/runner.py serving examples/chat.py as both
    functions and the test backend as the container, each route answers."""
    import base64
    import json
    path = tmp_path / "api.yaml"
    path.write_text(readme_block("readme-fn-spec", "yaml"))
    cmd = readme_block("readme-fn-run", "sh")
    maps = re.findall(r"--(function|container) (\S+)=(\S+)", cmd)
    assert [(k, i) for k, i, _ in maps] == [("function", "d4e0000000message001"),
                                            ("function", "d4e0000000connect001"),
                                            ("container", "bba0000000container1")], maps
    p = subprocess.run([WSGW_BIN, "--check-spec", str(path)], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 2 and "has no local URL" in p.stderr, p.stderr
    args = [a for k, i, u in maps for a in ("--" + k, i + "=" + u)]
    p = subprocess.run([WSGW_BIN, "--check-spec", str(path)] + args, capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0, p.stderr

    runner = subprocess.Popen(["/usr/bin/python3", os.path.join(ROOT, "tests", "functions",
                                                                "runner.py"),
                               os.path.join(ROOT, "tests", "functions", "examples", "chat.py")],
                              stdout=subprocess.PIPE, text=True)
    try:
        port = re.fullmatch(r"listening on (\d+)\n", runner.stdout.readline()).group(1)
        fn = "http://127.0.0.1:%s/" % port
        backend.on("MESSAGE", content_type="text/plain", body=b"from the container")
        s = wsgw_factory(["--spec", str(path), "--function", "d4e0000000message001=" + fn,
                          "--function", "d4e0000000connect001=" + fn,
                          "--container", "bba0000000container1=" + backend.url("")])

        async def run():
            async with websockets.connect(s.url + "/websocket") as ws:
                cid = ws.response_headers[H + "Connection-Id"]
                assert await asyncio.wait_for(ws.recv(), 10) == "welcome " + cid
                await ws.send("hello")
                got = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert got["got"] == "hello" and got["fn"] == "d4e0000000message001", got
            async with websockets.connect(s.url + "/box/a/b?x=1") as ws:
                await ws.send("ping")
                assert await asyncio.wait_for(ws.recv(), 10) == "from the container"

        asyncio.run(run())
    finally:
        runner.terminate()
        runner.wait(10)
    (m,) = backend.events("MESSAGE")
    assert m.method == "POST" and m.target == "/box/a/b?x=1", m.target
    ctx = m.header("X-Yc-ApiGateway-Operation-Context")
    assert ctx == "eyJ3aGVyZSI6ImEvYiJ9" and base64.b64decode(ctx) == b'{"where":"a/b"}', ctx
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    assert "`X-Yc-ApiGateway-Operation-Context: %s`" % ctx in text


# -- the wsgw.v1 examples (README, "Extension API (wsgw.v1)"), run as written ----------

ID_H = H.lower() + "connection-id"



def chat_gateway(tmp_path, wsgw_factory):
    spec = tmp_path / "chat.yaml"
    spec.write_text('openapi: 3.0.0\ninfo: {title: t, version: "1"}\npaths:\n'
                    '  /chat/{room}:\n    x-yc-apigateway-websocket-message:\n'
                    '      x-yc-apigateway-integration: {type: echo}\n')
    return wsgw_factory(["--spec", str(spec), "--auth-token", "readme-token"])


def test_readme_wsgw_python_example(tmp_path, wsgw_factory):
    """Every call of the Python example answers OK, and the two clients get
    what it sends them."""
    import wsraw
    s = chat_gateway(tmp_path, wsgw_factory)
    gen = tmp_path / "gen"
    gen.mkdir()
    subprocess.run(["protoc", "--python_out=" + str(gen), "-I" + os.path.join(ROOT, "proto"),
                    "-I/usr/include", "wsgw/v1/gateway_service.proto"], check=True)
    code = readme_block("readme-gw-python", "python")
    assert "127.0.0.1:9090" in code
    code = 'TOKEN = "readme-token"\n' + code.replace("127.0.0.1:9090", "127.0.0.1:%d" % s.mgmt_port)
    a, b = wsraw.connect(s.port, path="/chat/a"), wsraw.connect(s.port, path="/chat/b")
    try:
        p = subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True, text=True,
                           timeout=60, env=dict(os.environ, PYTHONPATH=str(gen)))
        assert p.returncode == 0, p.stderr
        assert "total: 2" in p.stdout, p.stdout
        assert a.recv_message(timeout=10) == (1, b"hi")
        assert a.recv_close(timeout=10) == (4000, b"bye")
        for want in (b"hi", b"to the team", b"news"):
            assert b.recv_message(timeout=10) == (1, want)
    finally:
        a.close()
        b.close()


def test_readme_wsgw_curl_example(tmp_path, wsgw_factory):
    """Every line of the curl example answers 200 (curl -f, with the token),
    and the clients get what it sends."""
    import wsraw
    s = chat_gateway(tmp_path, wsgw_factory)
    script = readme_block("readme-gw-curl", "sh")
    assert script.count("curl -s ") == 8
    script = script.replace("127.0.0.1:9090", "127.0.0.1:%d" % s.mgmt_port).replace(
        "curl -s ", "curl -sSf -H 'Authorization: Bearer readme-token' ")
    a, b = wsraw.connect(s.port, path="/chat/a"), wsraw.connect(s.port, path="/chat/b")
    try:
        cid = a.response_headers[ID_H]
        p = subprocess.run(["bash", "-euc", script], capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, ID=cid))
        assert p.returncode == 0, (p.stdout, p.stderr)
        out = p.stdout
        assert '"total":2' in out and '"delivered":1' in out, out
        for want in (b"hi", b"hi"):  # Send, then SendToGroup
            assert a.recv_message(timeout=10) == (1, want)
        assert a.recv_close(timeout=10) == (4000, b"bye")
        assert b.recv_message(timeout=10) == (1, b"news")  # the broadcast excludes $ID
    finally:
        a.close()
        b.close()
