"""RFC 6455 conformance of the WebSocket port, Autobahn-style, over raw
sockets (wsraw): framing, fragmentation, control frames, UTF-8, the close
handshake and the HTTP opening handshake's error responses.

The server runs with a long --close-timeout, so a TCP close seen within a
few seconds comes from the protocol event under test, never from a timer.
"""
import os
import struct

import pytest

import wsraw
from wsraw import OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT

EOF_WAIT = 5.0  # liveness bound: far below --close-timeout below


@pytest.fixture
def srv(wsgw_factory):
    return wsgw_factory(["--close-timeout", "30s"])


def connect(srv, **kw):
    return wsraw.connect(srv.port, **kw)


def expect_fail(c, code):
    """The server fails the connection: close frame with `code`, then it
    closes TCP on its own (lingering close, no reply needed)."""
    got, _ = c.recv_close()
    assert got == code
    c.expect_eof(EOF_WAIT)


def expect_close_then_reply(c, code):
    """The server starts a close handshake with `code`, waits for our close
    and then closes TCP."""
    got, _ = c.recv_close()
    assert got == code
    assert not c.is_closed_by_peer(0.2), "server closed TCP before the close handshake completed"
    c.send_close(code)
    c.expect_eof(EOF_WAIT)


def assert_still_echoes(srv):
    with connect(srv) as c:
        assert c.echo(OP_TEXT, b"still alive") == (OP_TEXT, b"still alive")
        c.close_handshake()


# ---- payload length encodings (§5.2) ------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 125, 126, 127, 1000, 65535, 65536, 100000, 131072])
def test_minimal_length_encodings_echo(srv, n):
    data = os.urandom(n)
    with connect(srv) as c:
        assert c.echo(OP_BINARY, data) == (OP_BINARY, data)
        c.close_handshake()


@pytest.mark.parametrize("n,bits", [(0, 16), (5, 16), (125, 16), (5, 64), (300, 64), (65535, 64)])
def test_non_minimal_length_encodings_accepted(srv, n, bits):
    data = os.urandom(n)
    with connect(srv) as c:
        c.send_frame(OP_BINARY, data, length_bits=bits)
        assert c.recv_message() == (OP_BINARY, data)
        c.close_handshake()


def test_64bit_length_with_msb_set_is_1002(srv):
    with connect(srv) as c:
        c.send_frame(OP_BINARY, b"abc", length_bits=64, length=(1 << 63) | 3)
        expect_fail(c, 1002)
    assert_still_echoes(srv)


def test_frame_over_max_frame_is_1009(wsgw_factory):
    s = wsgw_factory(["--close-timeout", "30s", "--max-frame", "100"])
    with connect(s) as c:
        assert c.echo(OP_BINARY, b"x" * 100) == (OP_BINARY, b"x" * 100)
        c.send_frame(OP_BINARY, b"y" * 101)
        got, _ = c.recv_close()
        assert got == 1009


def test_payload_of_oversized_frame_is_not_parsed_as_frames(wsgw_factory):
    """After failing an over-limit frame with 1009 the server must either
    skip that frame's payload or stop reading frames, and then close TCP
    once the close handshake is done. Here the payload's bytes on the wire
    happen to look like two valid frames, the second of which would swallow
    the client's close frame if the payload were parsed as frames."""
    s = wsgw_factory(["--close-timeout", "30s", "--max-frame", "100"])
    fake = (bytes([0x82, 0x80 | 93, 1, 2, 3, 4]) + b"\0" * 93 +  # masked binary, 93 bytes
            bytes([0x82, 0x80 | 8, 5, 6, 7, 8]))  # masked binary, 8 bytes: the size of our close
    key = fake[:4]  # the mask key is the first 4 of those bytes
    frame = wsraw.encode_frame(OP_BINARY, wsraw.mask_bytes(fake[4:], key), mask_key=key)
    assert len(frame) == 2 + 105 and frame[2:] == fake
    with connect(s) as c:
        c.send(frame[:2])  # 101 > 100 is certain from these two bytes
        got, _ = c.recv_close()
        assert got == 1009
        c.send(frame[2:])
        c.send_close(1009)
        c.expect_eof(EOF_WAIT)


def test_huge_64bit_length_is_1009(srv):
    with connect(srv) as c:
        c.send_frame(OP_BINARY, b"", length_bits=64, length=1 << 40)
        got, reason = c.recv_close()
        assert got == 1009


@pytest.mark.parametrize("bits", [16, 64])
def test_control_frame_with_extended_length_is_1002(srv, bits):
    with connect(srv) as c:
        c.send_frame(OP_PING, b"short", length_bits=bits)
        expect_fail(c, 1002)


# ---- header bits (§5.2) ---------------------------------------------------------


def test_unmasked_client_frame_is_1002(srv):
    with connect(srv) as c:
        c.send_frame(OP_TEXT, b"hello", mask=False)
        expect_fail(c, 1002)


@pytest.mark.parametrize("rsv", [4, 2, 1, 7])
def test_rsv_bits_are_1002(srv, rsv):
    with connect(srv) as c:
        c.send_frame(OP_TEXT, b"hello", rsv=rsv)
        expect_fail(c, 1002)


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_reserved_opcodes_are_1002(srv, opcode):
    with connect(srv) as c:
        c.send_frame(opcode, b"payload")
        expect_fail(c, 1002)


def test_frame_error_after_valid_frames_in_one_send(srv):
    with connect(srv) as c:
        c.send(wsraw.encode_frame(OP_TEXT, b"one") + wsraw.encode_frame(OP_TEXT, b"two") +
               wsraw.encode_frame(5, b"bad"))
        assert c.recv_message() == (OP_TEXT, b"one")
        assert c.recv_message() == (OP_TEXT, b"two")
        expect_fail(c, 1002)


# ---- control frames (§5.5) ------------------------------------------------------


def test_ping_125_bytes_gets_pong_with_same_payload(srv):
    data = os.urandom(125)
    with connect(srv) as c:
        c.send_frame(OP_PING, data)
        f = c.recv_frame()
        assert (f.opcode, f.fin, f.payload) == (OP_PONG, True, data)
        c.close_handshake()


def test_empty_ping_gets_empty_pong(srv):
    with connect(srv) as c:
        c.send_frame(OP_PING, b"")
        f = c.recv_frame()
        assert (f.opcode, f.payload) == (OP_PONG, b"")
        c.close_handshake()


def test_ping_126_bytes_is_1002(srv):
    with connect(srv) as c:
        c.send_frame(OP_PING, b"p" * 126)
        expect_fail(c, 1002)


def test_close_126_bytes_is_1002(srv):
    with connect(srv) as c:
        c.send_frame(OP_CLOSE, struct.pack("!H", 1000) + b"r" * 124)
        expect_fail(c, 1002)


def test_fragmented_ping_is_1002(srv):
    with connect(srv) as c:
        c.send_frame(OP_PING, b"ab", fin=False)
        expect_fail(c, 1002)


def test_unsolicited_pong_is_ignored(srv):
    with connect(srv) as c:
        c.send_frame(OP_PONG, b"unsolicited")
        assert c.echo(OP_TEXT, b"after") == (OP_TEXT, b"after")
        c.close_handshake()


# ---- fragmentation (§5.4) -------------------------------------------------------


def test_fragmented_message_is_reassembled(srv):
    with connect(srv) as c:
        c.send_frame(OP_TEXT, b"Hel", fin=False)
        c.send_frame(OP_CONT, b"", fin=False)
        c.send_frame(OP_CONT, b"lo, ", fin=False)
        c.send_frame(OP_CONT, b"world", fin=True)
        f = c.recv_frame()
        assert (f.opcode, f.fin, f.payload) == (OP_TEXT, True, b"Hello, world")
        c.close_handshake()


def test_fragmented_binary_over_several_reads(srv):
    parts = [os.urandom(40000) for _ in range(3)]
    with connect(srv) as c:
        c.send_frame(OP_BINARY, parts[0], fin=False)
        c.send_frame(OP_CONT, parts[1], fin=False)
        c.send_frame(OP_CONT, parts[2], fin=True)
        assert c.recv_message() == (OP_BINARY, b"".join(parts))
        c.close_handshake()


def test_continuation_without_start_is_1002(srv):
    with connect(srv) as c:
        c.send_frame(OP_CONT, b"orphan", fin=True)
        expect_fail(c, 1002)


def test_continuation_after_finished_message_is_1002(srv):
    with connect(srv) as c:
        assert c.echo(OP_TEXT, b"done") == (OP_TEXT, b"done")
        c.send_frame(OP_CONT, b"more", fin=True)
        expect_fail(c, 1002)


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY])
def test_new_data_frame_inside_fragmented_message_is_1002(srv, opcode):
    with connect(srv) as c:
        c.send_frame(OP_TEXT, b"first", fin=False)
        c.send_frame(opcode, b"second", fin=True)
        expect_fail(c, 1002)


def test_control_frames_between_fragments(srv):
    with connect(srv) as c:
        c.send_frame(OP_TEXT, b"frag1-", fin=False)
        c.send_frame(OP_PING, b"between")
        c.send_frame(OP_PONG, b"unsolicited")
        c.send_frame(OP_CONT, b"frag2-", fin=False)
        c.send_frame(OP_PING, b"again")
        c.send_frame(OP_CONT, b"frag3", fin=True)
        f = c.recv_frame()
        assert (f.opcode, f.payload) == (OP_PONG, b"between")
        f = c.recv_frame()
        assert (f.opcode, f.payload) == (OP_PONG, b"again")
        f = c.recv_frame()
        assert (f.opcode, f.fin, f.payload) == (OP_TEXT, True, b"frag1-frag2-frag3")
        c.close_handshake()


# ---- UTF-8 (§8.1) ----------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "ascii only", "κόσμε", "日本語テキスト", "emoji \U0001F600 done",
                                  "\U0010FFFF", "\u0080\u07FF\u0800\uFFFF\U00010000"])
def test_valid_utf8_text_echoed(srv, text):
    with connect(srv) as c:
        assert c.echo(OP_TEXT, text.encode()) == (OP_TEXT, text.encode())
        c.close_handshake()


@pytest.mark.parametrize("data", [
    b"\xff", b"abc\xc0\xafdef", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe0\x80\xaf",
    b"\x80", b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
], ids=["ff", "overlong-slash", "surrogate", "above-10ffff", "overlong-3", "lone-cont", "kosme-surrogate"])
def test_invalid_utf8_single_frame_is_1007(srv, data):
    with connect(srv) as c:
        c.send_frame(OP_TEXT, data)
        expect_close_then_reply(c, 1007)


UTF8_VECTORS = [
    # valid (RFC 3629 boundaries, Autobahn 6.x)
    b"", b"\x00", b"\x7f", b"\xc2\x80", b"\xdf\xbf", b"\xe0\xa0\x80", b"\xed\x9f\xbf",
    b"\xee\x80\x80", b"\xef\xbf\xbd", b"\xef\xbf\xbe", b"\xef\xbf\xbf", b"\xf0\x90\x80\x80",
    b"\xf0\x9f\x98\x80", b"\xf4\x8f\xbf\xbf", "κόσμε".encode(), "a€b😀c".encode(),
    # invalid
    b"\x80", b"\xbf", b"\x80\xbf\x80", b"\xc0", b"\xc0\x80", b"\xc1\xbf", b"\xc2", b"\xc2\x41",
    b"\xe0\x80\x80", b"\xe0\x9f\xbf", b"\xe0\xa0", b"\xe1\x80\x41", b"\xed\xa0\x80", b"\xed\xbf\xbf",
    b"\xed\xa0\x80\xed\xb0\x80", b"\xf0\x80\x80\x80", b"\xf0\x8f\xbf\xbf", b"\xf0\x90\x80",
    b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xf7\xbf\xbf\xbf", b"\xf8\x88\x80\x80\x80",
    b"\xfc\x84\x80\x80\x80\x80", b"\xfe", b"\xff", b"\xfe\xfe\xff\xff",
    b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80\x65\x64\x69\x74\x65\x64",
    b"abcdefgh\xc3\x28", b"12345678901234567\xa0",
]


def utf8_ok(b):
    try:
        b.decode("utf-8", "strict")  # Python's codec follows RFC 3629
        return True
    except UnicodeDecodeError:
        return False


@pytest.mark.parametrize("mode", ["single-frame", "one-byte-fragments", "with-empty-fragments"])
def test_utf8_vectors(srv, mode):
    """Each vector as a text message: valid ones echo, invalid ones 1007."""
    assert sum(map(utf8_ok, UTF8_VECTORS)) == 16
    for data in UTF8_VECTORS:
        if mode == "single-frame" or len(data) < 2:
            frames = [wsraw.encode_frame(OP_TEXT, data)]
        else:
            pieces = [data[i:i + 1] for i in range(len(data))]
            if mode == "with-empty-fragments":
                pieces = [p for b in pieces for p in (b, b"")]
            frames = [wsraw.encode_frame(OP_TEXT if i == 0 else OP_CONT, p,
                                         fin=i == len(pieces) - 1)
                      for i, p in enumerate(pieces)]
        with connect(srv) as c:
            c.send(b"".join(frames))
            if utf8_ok(data):
                assert c.recv_message() == (OP_TEXT, data), data
                c.close_handshake()
            else:
                got, _ = c.recv_close()
                assert got == 1007, data
                c.send_close(1007)
                c.expect_eof(EOF_WAIT)


def test_invalid_utf8_in_binary_is_fine(srv):
    with connect(srv) as c:
        assert c.echo(OP_BINARY, b"\xff\xfe\xed\xa0\x80") == (OP_BINARY, b"\xff\xfe\xed\xa0\x80")
        c.close_handshake()


def test_invalid_utf8_split_across_fragments_is_1007(srv):
    with connect(srv) as c:
        c.send_frame(OP_TEXT, b"ok \xce", fin=False)  # valid so far
        c.send_frame(OP_CONT, b"\xff rest", fin=True)  # \xce\xff is not
        expect_close_then_reply(c, 1007)


def test_valid_multibyte_char_split_across_fragments(srv):
    euro = "€".encode()  # e2 82 ac
    with connect(srv) as c:
        c.send_frame(OP_TEXT, b"price " + euro[:1], fin=False)
        c.send_frame(OP_CONT, euro[1:2], fin=False)
        c.send_frame(OP_CONT, euro[2:] + b" 5", fin=True)
        assert c.recv_message() == (OP_TEXT, "price € 5".encode())
        c.close_handshake()


def test_invalid_utf8_fails_fast_mid_frame(srv):
    """The first chunk of a 1000-byte text frame holds an invalid byte; the
    server must fail without waiting for the rest of the frame."""
    payload = b"abcd\xff" + b"x" * 995
    key = b"\x11\x22\x33\x44"
    frame = wsraw.encode_frame(OP_TEXT, payload, mask_key=key)
    first = len(frame) - 995  # header + "abcd\xff"
    with connect(srv) as c:
        c.send(frame[:first])
        got, _ = c.recv_close(timeout=5)
        assert got == 1007
        c.send(frame[first:])  # the rest of the frame is skipped
        c.send_close(1007)
        c.expect_eof(EOF_WAIT)


def test_text_ending_mid_sequence_is_1007(srv):
    with connect(srv) as c:
        c.send_frame(OP_TEXT, b"abc\xe2\x82")
        expect_close_then_reply(c, 1007)


def test_fragmented_text_ending_mid_sequence_is_1007(srv):
    with connect(srv) as c:
        c.send_frame(OP_TEXT, b"abc", fin=False)
        c.send_frame(OP_CONT, b"\xf0\x9f\x98", fin=True)
        expect_close_then_reply(c, 1007)


# ---- close handshake (§5.5.1, §7) ------------------------------------------------


VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
               3000, 3999, 4000, 4999]
INVALID_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535]


@pytest.mark.parametrize("code", VALID_CODES)
def test_valid_close_code_is_echoed(srv, code):
    with connect(srv) as c:
        c.send_close(code, b"reason text")
        assert c.recv_close() == (code, b"")
        c.expect_eof(EOF_WAIT)


@pytest.mark.parametrize("code", INVALID_CODES)
def test_invalid_close_code_is_1002(srv, code):
    with connect(srv) as c:
        c.send_close(code)
        expect_fail(c, 1002)


def test_one_byte_close_payload_is_1002(srv):
    with connect(srv) as c:
        c.send_frame(OP_CLOSE, b"\x03")
        expect_fail(c, 1002)


def test_close_reason_invalid_utf8_is_1007(srv):
    with connect(srv) as c:
        c.send_close(1000, b"bad \xff reason")
        expect_fail(c, 1007)


def test_close_reason_valid_utf8_max_length(srv):
    reason = ("é" * 61 + "x").encode()  # 123 bytes: the payload is exactly 125
    assert len(reason) == 123
    with connect(srv) as c:
        c.send_close(1000, reason)
        assert c.recv_close() == (1000, b"")
        c.expect_eof(EOF_WAIT)


def test_empty_close_gets_empty_close(srv):
    with connect(srv) as c:
        c.send_close()
        f = c.recv_frame()
        assert (f.opcode, f.payload) == (OP_CLOSE, b"")
        c.expect_eof(EOF_WAIT)


def test_data_after_close_is_ignored(srv):
    with connect(srv) as c:
        c.send(wsraw.encode_frame(OP_CLOSE, wsraw.close_payload(1000)) +
               wsraw.encode_frame(OP_TEXT, b"too late") + wsraw.encode_frame(OP_PING, b"late"))
        assert c.recv_close() == (1000, b"")
        c.expect_eof(EOF_WAIT)  # asserts nothing else arrived


def test_close_after_messages_in_one_send(srv):
    with connect(srv) as c:
        c.send(wsraw.encode_frame(OP_TEXT, b"a") + wsraw.encode_frame(OP_BINARY, b"b") +
               wsraw.encode_frame(OP_CLOSE, wsraw.close_payload(4001)))
        assert c.recv_message() == (OP_TEXT, b"a")
        assert c.recv_message() == (OP_BINARY, b"b")
        assert c.recv_close() == (4001, b"")
        c.expect_eof(EOF_WAIT)


def test_client_eof_without_close(srv):
    with connect(srv) as c:
        assert c.echo(OP_TEXT, b"x") == (OP_TEXT, b"x")
    assert_still_echoes(srv)


# ---- partial reads -----------------------------------------------------------------


def test_frame_fed_one_byte_at_a_time(srv):
    data = os.urandom(300)  # 16-bit length: a 8-byte header
    with connect(srv) as c:
        c.send_slowly(wsraw.encode_frame(OP_BINARY, data), chunk=1, pause=0.002)
        assert c.recv_message() == (OP_BINARY, data)
        c.send_slowly(wsraw.encode_frame(OP_CLOSE, wsraw.close_payload(1000, b"bye")), chunk=1)
        assert c.recv_close() == (1000, b"")
        c.expect_eof(EOF_WAIT)


def test_64bit_header_fed_one_byte_at_a_time(srv):
    data = os.urandom(70000)
    frame = wsraw.encode_frame(OP_BINARY, data)
    with connect(srv) as c:
        c.send_slowly(frame[:14], chunk=1, pause=0.002)
        c.send_slowly(frame[14:40], chunk=1, pause=0.002)
        c.send(frame[40:])
        assert c.recv_message() == (OP_BINARY, data)
        c.close_handshake()


def test_handshake_one_byte_at_a_time(srv):
    with wsraw.Conn(srv.port) as c:
        c.handshake(slowly=True)
        assert c.echo(OP_TEXT, b"slow") == (OP_TEXT, b"slow")
        c.close_handshake()


def test_handshake_and_first_frames_in_one_send(srv):
    key = wsraw.new_key()
    with wsraw.Conn(srv.port) as c:
        c.send(wsraw.request_bytes(key=key) + wsraw.encode_frame(OP_TEXT, b"first") +
               wsraw.encode_frame(OP_BINARY, b"second"))
        status, headers, _ = c.read_response_head()
        assert status == 101
        assert headers["sec-websocket-accept"] == wsraw.accept_for(key)
        assert c.recv_message() == (OP_TEXT, b"first")
        assert c.recv_message() == (OP_BINARY, b"second")
        c.close_handshake()


def test_handshake_in_two_pieces_with_frames_in_the_second(srv):
    request = wsraw.request_bytes()
    second = wsraw.encode_frame(OP_TEXT, b"second")
    with wsraw.Conn(srv.port) as c:
        c.send(request[:40])
        c.wait_server_read()  # the rest comes in a later read()
        c.send(request[40:] + wsraw.encode_frame(OP_TEXT, b"first") + second[:5])
        assert c.read_response_head()[0] == 101
        assert c.recv_message() == (OP_TEXT, b"first")
        c.wait_server_read()
        c.send(second[5:])
        assert c.recv_message() == (OP_TEXT, b"second")
        c.close_handshake()


def test_many_frames_in_one_send(srv):
    msgs = [os.urandom(i % 300) for i in range(200)]
    with connect(srv) as c:
        c.send(b"".join(wsraw.encode_frame(OP_BINARY, m) for m in msgs))
        for m in msgs:
            assert c.recv_message() == (OP_BINARY, m)
        c.close_handshake()


# ---- opening handshake errors (§4.2.1, RFC 9110) ----------------------------------


def http_exchange(srv, request, pieces=1):
    """Sends a raw request, returns (status, headers, body) and asserts the
    error-response invariants and that the server closes TCP after it."""
    with wsraw.Conn(srv.port) as c:
        if pieces == 1:
            c.send(request)
        else:
            step = -(-len(request) // pieces)
            for i in range(0, len(request), step):
                try:
                    c.send(request[i:i + step])
                except (BrokenPipeError, ConnectionResetError):
                    break
                c.wait_server_read()  # one piece per read(), or the server closed
        status, headers, body = c.read_http_response()
        assert status >= 400
        assert headers.get("content-type", "").startswith("text/plain"), headers
        assert int(headers["content-length"]) == len(body) > 0
        assert headers.get("connection", "").lower() == "close"
        assert "sec-websocket-accept" not in headers
        c.expect_eof(EOF_WAIT)
        return status, headers, body


def req(lines, body=b""):
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def base_lines(**over):
    fields = {
        "request": "GET /chat HTTP/1.1",
        "Host": "example.com",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": KEY,
        "Sec-WebSocket-Version": "13",
    }
    fields.update(over)
    out = [fields.pop("request")]
    out += ["%s: %s" % (k, v) for k, v in fields.items() if v is not None]
    return out


def test_handshake_reference_accept_value(srv):
    """RFC 6455 §1.3's worked example."""
    with wsraw.Conn(srv.port) as c:
        c.send(req(base_lines()))
        status, headers, _ = c.read_response_head()
        assert status == 101
        assert headers["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        assert "sec-websocket-protocol" not in headers
        assert c.echo(OP_TEXT, b"hi") == (OP_TEXT, b"hi")
        c.close_handshake()


def test_wrong_version_is_426(srv):
    status, headers, _ = http_exchange(srv, req(base_lines(**{"Sec-WebSocket-Version": "8"})))
    assert status == 426
    assert headers["sec-websocket-version"] == "13"


def test_missing_version_is_426(srv):
    status, headers, _ = http_exchange(srv, req(base_lines(**{"Sec-WebSocket-Version": None})))
    assert status == 426
    assert headers["sec-websocket-version"] == "13"


def test_post_is_405(srv):
    status, headers, _ = http_exchange(srv, req(base_lines(request="POST /chat HTTP/1.1")))
    assert status == 405
    assert headers["allow"] == "GET"


@pytest.mark.parametrize("case,over", [
    ("no-upgrade", {"Upgrade": None}),
    ("upgrade-not-websocket", {"Upgrade": "h2c"}),
    ("no-connection", {"Connection": None}),
    ("connection-without-upgrade", {"Connection": "keep-alive"}),
    ("no-host", {"Host": None}),
    ("empty-host", {"Host": ""}),
    ("no-key", {"Sec-WebSocket-Key": None}),
    ("key-15-bytes", {"Sec-WebSocket-Key": "AAAAAAAAAAAAAAAAAAAA"}),
    ("key-17-bytes", {"Sec-WebSocket-Key": "AAAAAAAAAAAAAAAAAAAAAAA="}),
    ("key-not-base64", {"Sec-WebSocket-Key": "!!!!!!!!!!!!!!!!!!!!!!=="}),
    ("http-1.0", {"request": "GET /chat HTTP/1.0"}),
    ("bad-target", {"request": "GET chat HTTP/1.1"}),
])
def test_bad_handshake_is_400(srv, case, over):
    status, _, _ = http_exchange(srv, req(base_lines(**over)))
    assert status == 400


@pytest.mark.parametrize("raw", [
    b"HELLO\r\n\r\n",
    b"GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n",
    b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/2.0\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\0" * 40,  # a TLS ClientHello
], ids=["garbage", "extra-token", "double-space", "http2-version", "space-in-name", "obs-fold", "tls"])
def test_malformed_request_is_400(srv, raw):
    status, _, _ = http_exchange(srv, raw)
    assert status == 400


def big_head():
    return req(base_lines() + ["X-Filler: " + "a" * 9000])


def test_head_over_8k_is_431(srv):
    status, _, _ = http_exchange(srv, big_head())
    assert status == 431


@pytest.fixture
def patient_srv(wsgw_factory):
    """The piecewise tests wait until the server has read each piece, through
    /proc/net/tcp, which is slow when the machine holds thousands of sockets:
    the handshake timeout must not be what answers (408) before the size
    check does."""
    return wsgw_factory(["--close-timeout", "30s", "--handshake-timeout", "300s"])


def test_head_over_8k_in_pieces_is_431(patient_srv):
    status, _, _ = http_exchange(patient_srv, big_head(), pieces=12)
    assert status == 431


def test_head_over_8k_without_end_is_431(patient_srv):
    status, _, _ = http_exchange(patient_srv, big_head()[:-4], pieces=5)
    assert status == 431


def test_head_just_under_8k_is_accepted(srv):
    lines = base_lines()
    size = len(req(lines + ["X-Filler: "]))
    request = req(lines + ["X-Filler: " + "a" * (8192 - size)])
    assert len(request) == 8192
    with wsraw.Conn(srv.port) as c:
        c.send(request)
        status, _, _ = c.read_response_head()
        assert status == 101
        c.close_handshake()


@pytest.mark.parametrize("over", [
    {"Connection": "keep-alive, Upgrade"},
    {"Connection": "upgrade"},
    {"Connection": "UPGRADE,keep-alive"},
    {"Upgrade": "WebSocket"},
    {"Upgrade": "websocket, h2c"},
    {"Upgrade": "WEBSOCKET", "Connection": "Keep-Alive ,\tupgrade"},
])
def test_handshake_header_variants_accepted(srv, over):
    with wsraw.Conn(srv.port) as c:
        c.send(req(base_lines(**over)))
        status, headers, _ = c.read_response_head()
        assert status == 101
        assert headers["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        assert c.echo(OP_TEXT, b"ok") == (OP_TEXT, b"ok")
        c.close_handshake()


def test_header_names_case_insensitive(srv):
    lines = ["GET / HTTP/1.1", "host: x", "UPGRADE: websocket", "connection: Upgrade",
             "sec-websocket-key: " + KEY, "SEC-WEBSOCKET-VERSION: 13"]
    with wsraw.Conn(srv.port) as c:
        c.send(req(lines))
        status, _, _ = c.read_response_head()
        assert status == 101
        c.close_handshake()


def test_connection_list_over_two_field_lines(srv):
    lines = base_lines(Connection="keep-alive") + ["Connection: Upgrade"]
    with wsraw.Conn(srv.port) as c:
        c.send(req(lines))
        status, _, _ = c.read_response_head()
        assert status == 101
        c.close_handshake()


def test_absolute_form_target_accepted(srv):
    with wsraw.Conn(srv.port) as c:
        c.send(req(base_lines(request="GET ws://example.com/path?q=1 HTTP/1.1")))
        status, _, _ = c.read_response_head()
        assert status == 101
        c.close_handshake()


def test_error_then_server_keeps_serving(srv):
    http_exchange(srv, b"HELLO\r\n\r\n")
    assert_still_echoes(srv)

