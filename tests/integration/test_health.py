"""Health probes and JSON logs (README: Management API, Logging).

- GET/HEAD /healthz and /readyz on the management port, over HTTP/1.1 and
  HTTP/2 (h2c prior knowledge), answered without the bearer token even when
  --auth-token is set; other methods 405 with Allow
- /readyz turns 503 as soon as a drain starts (the drain held open by a
  WebSocket client that never answers the close), /healthz stays 200
- --log-format json (and WSGW_LOG_FORMAT): one JSON object per line with
  time, level, msg; a message carrying quotes, backslashes and non-ASCII
  from a spec stays one valid line; a bad value is refused

Seen failing on main before this change: /healthz and /readyz were 404,
--log-format an unknown flag.
"""
import json
import re
import signal
import subprocess

import wsraw
from conftest import WSGW_BIN

WAIT = 20.0  # liveness bound, never a figure
TOKEN = "s3cr3t"
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def curl(port, path, *args, h2=False):
    """(status, headers text, body) of one request with curl."""
    cmd = ["curl", "-sS", "-m", str(WAIT)] + ([] if "-I" in args else ["-D", "-"])
    cmd += ["--http2-prior-knowledge"] if h2 else ["--http1.1"]
    cmd += list(args) + ["http://127.0.0.1:%d%s" % (port, path)]
    out = subprocess.run(cmd, capture_output=True, timeout=WAIT + 5, check=True).stdout.decode()
    head, _, body = out.partition("\r\n\r\n")
    status = int(head.split()[1])
    if h2:
        assert head.startswith("HTTP/2 "), head
    return status, head, body


def probe_all(port, h2, expect_ready):
    """Both probes, GET and HEAD, with no token and with a wrong one."""
    for auth in ([], ["-H", "authorization: Bearer wrong"]):
        st, head, body = curl(port, "/healthz", *auth, h2=h2)
        assert st == 200 and json.loads(body) == {"status": "ok"}, (st, body)
        assert "content-type: application/json" in head.lower(), head
        st, _, body = curl(port, "/readyz", *auth, h2=h2)
        want = 200 if expect_ready else 503
        assert st == want, (st, body)
        assert json.loads(body) == {"status": "ok" if expect_ready else "draining"}, body
        for path, want_head in (("/healthz", 200), ("/readyz", want)):
            st, _, body = curl(port, path, "-I", *auth, h2=h2)
            assert st == want_head and body == "", (path, st, body)


def test_probes_without_token(wsgw_factory):
    srv = wsgw_factory(["--auth-token", TOKEN])
    for h2 in (False, True):
        probe_all(srv.mgmt_port, h2, expect_ready=True)
        st, _, _ = curl(srv.mgmt_port, "/healthz", "-H", "authorization: Bearer " + TOKEN, h2=h2)
        assert st == 200
        # the token is still required everywhere else
        st, _, _ = curl(srv.mgmt_port, "/apigateways/websocket/v1/connections/x", h2=h2)
        assert st == 401
        st, head, _ = curl(srv.mgmt_port, "/readyz", "-X", "POST", h2=h2)
        assert st == 405 and re.search(r"(?im)^allow: GET, HEAD\r?$", head), head
        # exact paths only: an unknown path is 404 over HTTP/1.1 and HTTP/2 alike
        st, _, _ = curl(srv.mgmt_port, "/healthz/x", h2=h2)
        assert st == 404, st


def test_probes_no_token_configured(wsgw):
    for h2 in (False, True):
        probe_all(wsgw.mgmt_port, h2, expect_ready=True)


def test_readyz_503_during_drain(wsgw_factory):
    srv = wsgw_factory(["--auth-token", TOKEN, "--close-timeout", "30s", "--drain-timeout", "15s"])
    ws = wsraw.connect(srv.port)  # never answers the close: the drain waits for it
    try:
        srv.proc.send_signal(signal.SIGTERM)
        code, _ = ws.recv_close(timeout=WAIT, skip_data=True)
        assert code == 1001  # the drain has begun
        for h2 in (False, True):
            probe_all(srv.mgmt_port, h2, expect_ready=False)
        assert srv.proc.poll() is None, "the drain ended before the probes were checked"
    finally:
        ws.close()


def json_lines(text):
    lines = [ln for ln in text.split("\n") if ln]
    objs = [json.loads(ln) for ln in lines]  # each line alone is one object
    for o in objs:
        assert set(o) == {"time", "level", "msg"}, o
        assert TIME_RE.match(o["time"]), o
        assert o["level"] in ("error", "warn", "info", "debug"), o
    return objs


def test_json_log_lines(wsgw_factory):
    srv = wsgw_factory(["--log-format", "json"])
    srv.stop()
    objs = json_lines(srv.read_log())
    msgs = [o["msg"] for o in objs]
    assert any(m.startswith("wsgw ") and "management on" in m for m in msgs), msgs
    assert "received SIGTERM" in msgs and any(m.startswith("totals: ") for m in msgs), msgs


def test_json_log_env(wsgw_factory):
    srv = wsgw_factory([], env={"WSGW_LOG_FORMAT": "json"})
    srv.stop()
    assert json_lines(srv.read_log())


def test_text_log_is_default(wsgw):
    first = wsgw.read_log().split("\n")[0]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z info wsgw ", first), first


def run_exit(args, env=None):
    p = subprocess.run([WSGW_BIN, "--listen", "127.0.0.1:0", "--mgmt-listen", "127.0.0.1:0"] + args,
                       capture_output=True, timeout=WAIT, env=env)
    return p.returncode, p.stderr.decode("utf-8", "strict")


def test_json_log_escapes_spec_text(tmp_path):
    """A spec error quotes the spec's text; with quotes, backslashes, escaped
    control bytes and non-ASCII, the line is still one JSON object, and
    msg reads back exactly as the text log has it."""
    d = tmp_path / 'q"u\\ote'
    d.mkdir()
    spec = d / "api.yaml"
    spec.write_bytes(
        b'openapi: 3.0.0\ninfo: {title: t, version: "1"}\npaths:\n  /a:\n'
        b'    x-yc-apigateway-websocket-message:\n      x-yc-apigateway-integration:\n'
        b'        type: http\n        url: http://127.0.0.1:1/\n'
        b'        timeouts: {read: "1\\"q\\\\b\\nc\\x01\\x7f\\xe9\\u2028"}\n')
    code, err = run_exit(["--spec", str(spec), "--log-format", "json"])
    assert code == 2, err
    lines = err.split("\n")
    assert lines[-1] == "" and len(lines) == 2, err  # one line, newline-terminated
    (o,) = json_lines(err)
    assert o["level"] == "error" and "is not a number of seconds" in o["msg"], o
    code, text = run_exit(["--spec", str(spec)])
    assert code == 2
    assert text.rstrip("\n").split(" ", 2)[2] == o["msg"], (text, o)
    assert str(spec) in o["msg"] and "\u00e9" in o["msg"], o


def test_bad_log_format_refused():
    code, err = run_exit(["--log-format", "logfmt"])
    assert code == 2 and "--log-format" in err and "not a log format" in err, err
