"""A handshake that times out (408, --handshake-timeout) while its connect
integration (http) is still pending: the late answer must not upgrade the
connection that was already refused, nor send it anything; later
handshakes work. (Reported by the JWT lane: on_connect_done in integ.c.)
"""
import re
import threading
import time

import wsraw
from backend import LIVENESS, backend, backend_factory  # noqa: F401 (fixtures)

SPEC = """openapi: 3.0.0
info: {title: slow-connect, version: 1.0.0}
paths:
  /slow:
    x-yc-apigateway-websocket-connect:
      x-yc-apigateway-integration: {type: http, url: %(b)s/connect}
    x-yc-apigateway-websocket-message:
      x-yc-apigateway-integration: {type: http, url: %(b)s/message}
    x-yc-apigateway-websocket-disconnect:
      x-yc-apigateway-integration: {type: http, url: %(b)s/disconnect}
"""


def test_late_connect_answer_after_408_upgrades_nothing(wsgw_factory, backend, tmp_path):
    gate = threading.Event()
    backend.on("CONNECT", status=200, gate=gate)
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC % {"b": backend.url("").rstrip("/")})
    srv = wsgw_factory(["--spec", str(spec), "--close-timeout", "3s", "--handshake-timeout", "1s", "--log-level", "debug"])
    try:
        c = wsraw.Conn(srv.port)
        # the client stays and keeps sending (a frame right behind its
        # request), so the refused connection lingers while the answer comes
        c.send(wsraw.request_bytes(path="/slow") + wsraw.encode_frame(wsraw.OP_TEXT, b"early"))
        backend.wait_events("CONNECT", 1)
        st, _, _ = c.read_http_response(timeout=LIVENESS)
        assert st == 408
        gate.set()
        time.sleep(1.0)  # the connect answer arrives while the 408'd socket lingers
        assert c.unread_bytes() == 0, "bytes after the 408"
        # nor did wsgw try: the 101 would have met the socket shut for
        # writing after the 408 ("write: Broken pipe"), or, with the 408
        # still queued, reopened the refused connection ("open")
        log = srv.read_log()
        cid = re.search(r"conn (\S+): upgrading", log).group(1)
        assert "conn %s: write:" % cid not in log and "conn %s: open" % cid not in log, log[-2000:]
        assert backend.events("MESSAGE") == []
        c.close()
        time.sleep(0.5)
        assert backend.events("MESSAGE") == []
        assert backend.events("DISCONNECT") == []  # it never opened
        with wsraw.connect(srv.port, path="/slow") as ok:
            ok.send_text("hi")
            backend.wait_events("MESSAGE", 1)
    finally:
        gate.set()
