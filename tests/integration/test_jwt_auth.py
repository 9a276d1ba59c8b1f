"""JWT authorizers at the WebSocket handshake (issue 13; jwt-authorizer.md,
shared/spec/YANDEX-FIDELITY.md §1): tests/spec/yc_jwt.yaml with keys made
here (RS256 and ES256, python3-cryptography), served as a JWKS by the test
backend, tokens signed here.

- good tokens (RS256, ES256) get 101, and the http integration sees the
  authorizer context in X-Yc-Apigateway-Authorizer-Context on connect,
  message and disconnect (never the client's own header of that name);
- expired, wrong audience / issuer, missing required claim, bad signature,
  alg none, unknown kid, no token, wrong prefix: 401; missing scope: 403;
  the connect integration is not called for any of them;
- `security: []` opts a path out; tokens in a query parameter and a cookie;
- the JWKS is fetched once for many handshakes within jwkTtlInSeconds,
  also when they all arrive before the first fetch ends; a handshake's
  early frames wait with it;
- JWKS server down, or answering garbage: 500.
"""
import base64
import json
import os
import re
import threading
import time

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

import conftest
import wsraw
from backend import LIVENESS, backend, backend_factory, free_port  # noqa: F401 (fixtures)

SPEC = os.path.join(conftest.ROOT, "tests", "spec", "yc_jwt.yaml")
CTX = "X-Yc-Apigateway-Authorizer-Context"
ISS, AUD = "https://issuer.test", "wsgw-test"

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64int(n, size=None):
    size = size or (n.bit_length() + 7) // 8
    return b64(n.to_bytes(size, "big"))


def jwks():
    rn = RSA_KEY.public_key().public_numbers()
    en = EC_KEY.public_key().public_numbers()
    return json.dumps({"keys": [
        {"kty": "RSA", "kid": "r1", "use": "sig", "alg": "RS256", "n": b64int(rn.n), "e": b64int(rn.e)},
        {"kty": "EC", "kid": "e1", "crv": "P-256", "x": b64int(en.x, 32), "y": b64int(en.y, 32)},
    ]}).encode()


def token(claims=None, alg="RS256", kid="r1", key=None, tamper=False, **extra):
    now = int(time.time())
    c = {"iss": ISS, "aud": AUD, "sub": "user-1", "exp": now + 600, "iat": now - 5,
         "scope": "openid chat:write"}
    c.update(claims or {})
    for k in [k for k, v in c.items() if v is None]:
        del c[k]
    c.update(extra)
    head = {"alg": alg, "typ": "JWT"}
    if kid:
        head["kid"] = kid
    signing = b64(json.dumps(head).encode()) + "." + b64(json.dumps(c).encode())
    if alg == "none":
        return signing + "."
    if alg.startswith("RS"):
        sig = (key or RSA_KEY).sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
    else:
        r, s = decode_dss_signature((key or EC_KEY).sign(signing.encode(), ec.ECDSA(hashes.SHA256())))
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    if tamper:
        sig = bytes([sig[0] ^ 1]) + sig[1:]
    return signing + "." + b64(sig)


def status_of(srv, path, headers=()):
    """The handshake's answer: (status, body)."""
    with wsraw.Conn(srv.port) as c:
        c.send(wsraw.request_bytes(path=path, extra_headers=headers))
        st, _, body = c.read_http_response(timeout=LIVENESS)
        return st, body


def start(wsgw_factory, be, jwks_url=None):
    be.on(None, status=200, content_type="application/json", body=jwks())
    return wsgw_factory(["--spec", SPEC, "--close-timeout", "2s",
                         "--var", "jwks=" + (jwks_url or be.url("/jwks.json")),
                         "--var", "backend=" + be.url("").rstrip("/")])


def fetches(be):
    return [r for r in be.requests if r.path == "/jwks.json"]


def bearer(tok):
    return ["Authorization: Bearer " + tok]


def test_good_tokens_reach_the_backend_with_their_context(wsgw_factory, backend):
    srv = start(wsgw_factory, backend)
    for tok in (token(), token(alg="ES256", kid="e1")):
        # the client's own context header never passes, even with '*': '*'
        # forwarding on the connect integration
        with wsraw.connect(srv.port, path="/chat",
                           extra_headers=bearer(tok) + [CTX + ": {\"jwt\":\"forged\"}"]) as c:
            cid = c.response_headers[wsraw_h("connection-id")]
            c.send_text("hi")
            backend.wait_events("MESSAGE", 1, conn_id=cid)
        backend.wait_events("DISCONNECT", 1, conn_id=cid)
        for ev in ("CONNECT", "MESSAGE", "DISCONNECT"):
            req = backend.events(ev, conn_id=cid)[0]
            ctx = json.loads(req.header(CTX))
            assert ctx["jwt"]["claims"]["sub"] == "user-1", ctx
            assert ctx["jwt"]["claims"]["iss"] == ISS
            assert ctx["jwt"]["claims"]["exp"].isdigit()  # map[string]string, as documented
            assert ctx["jwt"]["scopes"] == ["openid", "chat:write"]
    assert len(fetches(backend)) == 1


def wsraw_h(name):
    return ("x-yc-apigateway-websocket-" + name).lower()


def test_refusals(wsgw_factory, backend):
    srv = start(wsgw_factory, backend)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cases = [
        ([], 401),                                                      # no token
        (["Authorization: Basic " + token()], 401),                     # wrong prefix
        (["Authorization: Bearer "], 401),                              # empty
        (bearer("not.a.token"), 401),
        (bearer(token({"exp": int(time.time()) - 120})), 401),          # expired
        (bearer(token({"nbf": int(time.time()) + 600})), 401),          # not yet valid
        (bearer(token({"aud": "someone-else"})), 401),                  # wrong audience
        (bearer(token({"iss": "https://evil.test"})), 401),             # wrong issuer
        (bearer(token({"sub": None})), 401),                            # requiredClaims: sub
        (bearer(token(tamper=True)), 401),                              # bad signature
        (bearer(token(key=other)), 401),                                # another key
        (bearer(token(alg="none")), 401),
        (bearer(token(kid="nope")), 401),                               # unknown kid
        (bearer(token(alg="ES256", kid="r1")), 401),                    # alg and key disagree
        (bearer(token({"scope": "openid"})), 403),                      # missing scope
        (bearer(token({"scope": None})), 403),
    ]
    for headers, want in cases:
        st, _ = status_of(srv, "/chat", headers)
        assert st == want, (headers, st)
    # an unknown kid refetches at most every 10 s: the first did, the rest not
    assert len(fetches(backend)) <= 2
    assert backend.events("CONNECT") == []  # no refused handshake reached the integration
    # scp as an array counts as scopes too
    st, _ = status_of(srv, "/chat", bearer(token({"scope": None, "scp": ["chat:write"]})))
    assert st == 101


def test_open_path_query_and_cookie(wsgw_factory, backend):
    srv = start(wsgw_factory, backend)
    assert status_of(srv, "/open")[0] == 101
    assert status_of(srv, "/query")[0] == 401
    assert status_of(srv, "/query?token=" + token({"iss": "anyone"}))[0] == 101
    assert status_of(srv, "/query?a=1&token=" + token({"aud": "x"}))[0] == 401
    with wsraw.connect(srv.port, path="/query?x=1&token=" + token()) as c:
        c.send_text("echo me")
        assert c.recv_frame().payload == b"echo me"
    assert status_of(srv, "/cookie", ["Cookie: a=b"])[0] == 401
    assert status_of(srv, "/cookie", ["Cookie: AUTH=" + token(tamper=True)])[0] == 401
    with wsraw.connect(srv.port, path="/cookie",
                       extra_headers=["Cookie: a=b; AUTH=" + token({"aud": "x"}) + "; c=d"]) as c:
        cid = c.response_headers[wsraw_h("connection-id")]
        c.send_text("m")
        backend.wait_events("MESSAGE", 1, conn_id=cid)
    req = backend.events("MESSAGE", conn_id=cid)[0]
    assert json.loads(req.header(CTX))["jwt"]["claims"]["aud"] == "x"
    # two authorizers naming one jwksUri share its keys (the cloud keys its
    # cache by URI and kid): one fetch
    assert len(fetches(backend)) == 1


def test_one_fetch_for_many_waiting_handshakes(wsgw_factory, backend):
    gate = threading.Event()
    backend.on(None, status=200, content_type="application/json", body=jwks(), gate=gate)
    srv = wsgw_factory(["--spec", SPEC, "--close-timeout", "2s",
                        "--var", "jwks=" + backend.url("/jwks.json"),
                        "--var", "backend=" + backend.url("").rstrip("/")])
    conns = []
    try:
        # the first carries a frame right behind its request: it waits too
        first = wsraw.Conn(srv.port)
        conns.append(first)
        first.send(wsraw.request_bytes(path="/query?token=" + token()) +
                   wsraw.encode_frame(wsraw.OP_TEXT, b"early"))
        for _ in range(20):
            c = wsraw.Conn(srv.port)
            conns.append(c)
            c.send(wsraw.request_bytes(path="/query?token=" + token()))
        backend.wait_for(lambda _: len(fetches(backend)) == 1, what="the JWKS call")
        time.sleep(0.3)
        assert len(fetches(backend)) == 1
        gate.set()
        for c in conns:
            st, _, _ = c.read_response_head(timeout=LIVENESS)
            assert st == 101
        assert first.recv_frame().payload == b"early"
    finally:
        gate.set()
        for c in conns:
            c.close()
    assert len(fetches(backend)) == 1


def test_results_cached_by_path_template_and_token(wsgw_factory, backend):
    """cachedAuth: no jwkTtlInSeconds (keys fetched for every token judged)
    and authorizer_result_ttl_in_seconds: 300, path mode: a token judged
    once is not judged again on any URI of /cached/{room}, pass or fail."""
    srv = start(wsgw_factory, backend)
    good, weak = token(), token({"scope": "openid"})
    assert status_of(srv, "/cached/a", bearer(good))[0] == 101
    assert len(fetches(backend)) == 1
    assert status_of(srv, "/cached/a", bearer(good))[0] == 101
    assert status_of(srv, "/cached/b", bearer(good))[0] == 101
    assert len(fetches(backend)) == 1  # cached: no fetch, no check
    assert status_of(srv, "/cached/a", bearer(weak))[0] == 403
    assert len(fetches(backend)) == 2
    assert status_of(srv, "/cached/c", bearer(weak))[0] == 403
    assert len(fetches(backend)) == 2  # a denial is kept too
    # a token that does not decode is refused before any cache or key
    assert status_of(srv, "/cached/a", bearer("x.y.z"))[0] == 401
    assert len(fetches(backend)) == 2


def test_handshake_timeout_while_waiting_for_keys(wsgw_factory, backend):
    """A handshake that times out waiting for keys gets its 408 and nothing
    more when the keys arrive; the others waiting go on."""
    gate = threading.Event()
    backend.on(None, status=200, content_type="application/json", body=jwks(), gate=gate)
    srv = wsgw_factory(["--spec", SPEC, "--close-timeout", "2s", "--handshake-timeout", "1s",
                        "--var", "jwks=" + backend.url("/jwks.json"),
                        "--var", "backend=" + backend.url("").rstrip("/")])
    try:
        with wsraw.Conn(srv.port) as c:
            c.send(wsraw.request_bytes(path="/chat", extra_headers=bearer(token())))
            st, _, _ = c.read_http_response(timeout=LIVENESS)
            assert st == 408
            gate.set()
            backend.wait_for(lambda _: len(fetches(backend)) == 1, what="the JWKS call")
            time.sleep(0.5)
            assert c.unread_bytes() == 0
            assert backend.events("CONNECT") == []  # its connect never ran
        assert status_of(srv, "/chat", bearer(token()))[0] == 101
        assert len(backend.events("CONNECT")) == 1
    finally:
        gate.set()


def test_jwks_down_or_broken_is_500(wsgw_factory, backend, free_port):
    srv = start(wsgw_factory, backend, jwks_url="http://127.0.0.1:%d/jwks.json" % free_port)
    st, _ = status_of(srv, "/chat", bearer(token()))
    assert st == 500
    assert status_of(srv, "/chat")[0] == 401  # no token: 401 before any key is needed
    assert status_of(srv, "/open")[0] == 101
    assert "authorizer keys: cannot get http://127.0.0.1:%d/jwks.json" % free_port in srv.read_log()
    for status, body in ((200, b"{not json"), (200, b'{"keys":7}'), (503, b"")):
        backend.on(None, status=status, content_type="application/json", body=body)
        srv2 = start_plain(wsgw_factory, backend)
        assert status_of(srv2, "/chat", bearer(token()))[0] == 500


def start_plain(wsgw_factory, be):
    return wsgw_factory(["--spec", SPEC, "--close-timeout", "2s",
                         "--var", "jwks=" + be.url("/jwks.json"),
                         "--var", "backend=" + be.url("").rstrip("/")])


def test_check_spec_lists_the_authorizers():
    import subprocess
    p = subprocess.run([conftest.WSGW_BIN, "--check-spec", SPEC], capture_output=True,
                       timeout=LIVENESS)
    out = p.stdout.decode() + p.stderr.decode()
    assert p.returncode == 0, out
    assert re.search(r'authorizer: headerAuth \(line \d+\), jwt, credential from header '
                     r'"Authorization" after "Bearer "', out), out
    assert "results cached 300 s by path template and token" in out
    assert "scopes: chat:write" in out
    assert 'credential from query parameter "token"' in out
    assert 'credential from cookie "AUTH"' in out


def test_readme_example_is_a_valid_spec(tmp_path):
    import subprocess
    with open(os.path.join(conftest.ROOT, "README.md")) as f:
        text = f.read()
    sect = text[text.index("### Authorizers"):]
    block = sect[sect.index("```yaml\n") + 8:sect.index("```\n", sect.index("```yaml\n") + 8)]
    path = tmp_path / "readme.yaml"
    path.write_text(block)
    p = subprocess.run([conftest.WSGW_BIN, "--check-spec", str(path)], capture_output=True,
                       timeout=LIVENESS)
    out = p.stdout.decode() + p.stderr.decode()
    assert p.returncode == 0, out
    assert "authorizer: jwtAuth" in out and "results cached 60 s" in out


# ---- reload (SIGHUP): each spec has its own authorizer runtime ---------------

RELOAD_SPEC = """openapi: 3.0.0
info: {title: reload-jwt, version: 1.0.0}
paths:
  /x:
    x-yc-apigateway-websocket-message:
      security: [{%(x)s: []}]
      x-yc-apigateway-integration: {type: echo}
  /y:
    x-yc-apigateway-websocket-message:
      security: [{%(y)s: []}]
      x-yc-apigateway-integration: {type: echo}
components:
  securitySchemes:
    authA:
      type: openIdConnect
      x-yc-apigateway-authorizer:
        type: jwt
        jwksUri: %(a)s
        jwkTtlInSeconds: 300
        identitySource: {in: header, name: Authorization, prefix: "Bearer "}
        audiences: [wsgw-test]
    authB:
      type: openIdConnect
      x-yc-apigateway-authorizer:
        type: jwt
        jwksUri: %(b)s
        jwkTtlInSeconds: 300
        identitySource: {in: header, name: Authorization, prefix: "Bearer "}
        audiences: [other]
"""

PLAIN_SPEC = """openapi: 3.0.0
info: {title: reload-plain, version: 1.0.0}
paths:
  /x:
    x-yc-apigateway-websocket-message:
      x-yc-apigateway-integration: {type: echo}
"""


def test_reload_between_authorizer_specs(wsgw_factory, backend_factory, tmp_path):
    """A handshake waiting for its spec's keys across a SIGHUP finishes per
    its old spec; new handshakes use the new spec's authorizers (other
    jwksUri, other order); a fetch in flight when the old spec goes is
    detached; reload to a spec without authorizers and back."""
    import signal
    be_a, be_b = backend_factory(), backend_factory()
    gate = threading.Event()
    be_a.on(None, status=200, content_type="application/json", body=jwks(), gate=gate)
    be_b.on(None, status=200, content_type="application/json", body=jwks())
    ua, ub = be_a.url("/jwks.json"), be_b.url("/jwks.json")
    spec = tmp_path / "spec.yaml"
    spec.write_text(RELOAD_SPEC % {"x": "authA", "y": "authB", "a": ua, "b": ub})
    srv = wsgw_factory(["--spec", str(spec), "--close-timeout", "2s"])
    aud_test, aud_other = token(), token({"aud": "other"})

    def hup(n):
        srv.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + LIVENESS
        while srv.read_log().count("SIGHUP: reloaded spec") < n:
            assert time.monotonic() < deadline, srv.read_log()[-3000:]
            time.sleep(0.02)

    try:
        waiting = wsraw.Conn(srv.port)  # /x on the old spec: authA, keys of be_a (gated)
        waiting.send(wsraw.request_bytes(path="/x", extra_headers=bearer(aud_test)) +
                     wsraw.encode_frame(wsraw.OP_TEXT, b"early"))
        gone = wsraw.Conn(srv.port)  # waits too, then leaves before the keys come
        gone.send(wsraw.request_bytes(path="/x", extra_headers=bearer(aud_test)))
        be_a.wait_for(lambda _: len(fetches(be_a)) == 1, what="the JWKS call")
        # the new spec swaps the authorizers: /x is authB (be_b, aud other)
        # (authA now names be_b and aud other, authB be_a and aud wsgw-test)
        spec.write_text(RELOAD_SPEC.replace("[wsgw-test]", "[T]").replace("[other]", "[wsgw-test]")
                        .replace("[T]", "[other]") % {"x": "authA", "y": "authB",
                                                       "a": ub, "b": ua})
        hup(1)
        assert status_of(srv, "/x", bearer(aud_test))[0] == 401
        assert status_of(srv, "/x", bearer(aud_other))[0] == 101
        assert len(fetches(be_b)) == 1
        gone.close()
        time.sleep(0.2)
        gate.set()
        st, _, _ = waiting.read_response_head(timeout=LIVENESS)
        assert st == 101  # judged by the old spec's authA with be_a's keys
        assert waiting.recv_frame().payload == b"early"
        waiting.close()
        # the old spec is gone with its last connection; a handshake on the
        # new spec's /y (authB now: be_a, aud wsgw-test) fetches be_a afresh
        assert status_of(srv, "/y", bearer(aud_test))[0] == 101
        assert len(fetches(be_a)) == 2

        spec.write_text(PLAIN_SPEC)
        hup(2)
        assert status_of(srv, "/x")[0] == 101  # no authorizer now
        spec.write_text(RELOAD_SPEC % {"x": "authA", "y": "authB", "a": ua, "b": ub})
        hup(3)
        assert status_of(srv, "/x")[0] == 401
        assert status_of(srv, "/x", bearer(aud_test))[0] == 101
        assert "cannot be reloaded" not in srv.read_log()
    finally:
        gate.set()


def test_reload_frees_a_spec_whose_keys_are_in_flight(wsgw_factory, backend, tmp_path):
    """The old spec's last handshake times out (408) while its JWKS call
    is in flight: the spec and its authorizer runtime are freed, the call
    detached; its late answer touches nothing (ASan)."""
    import signal
    gate = threading.Event()
    backend.on(None, status=200, content_type="application/json", body=jwks(), gate=gate)
    url = backend.url("/jwks.json")
    spec = tmp_path / "spec.yaml"
    spec.write_text(RELOAD_SPEC % {"x": "authA", "y": "authB", "a": url, "b": url})
    srv = wsgw_factory(["--spec", str(spec), "--close-timeout", "2s", "--handshake-timeout", "1s"])
    try:
        with wsraw.Conn(srv.port) as c:
            c.send(wsraw.request_bytes(path="/x", extra_headers=bearer(token())))
            backend.wait_for(lambda _: len(fetches(backend)) == 1, what="the JWKS call")
            spec.write_text(PLAIN_SPEC)
            srv.proc.send_signal(signal.SIGHUP)
            assert c.read_http_response(timeout=LIVENESS)[0] == 408
        time.sleep(0.5)  # the connection is freed, and the old spec with it
        gate.set()
        backend.wait_for(lambda _: backend.requests and len(fetches(backend)) == 1, what="-")
        time.sleep(0.5)  # the detached call's answer arrives
        assert status_of(srv, "/x")[0] == 101
        assert "SIGHUP: reloaded spec" in srv.read_log()
    finally:
        gate.set()
