"""The echo route driven by a real client library (python3-websockets,
asyncio): messages of every size and kind, fragmentation, ping/pong, the
close handshake, the connection-id header, subprotocols, limits, and many
concurrent connections.
"""
import asyncio
import os
import re
import resource

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

ID_HEADER = "X-Yc-Apigateway-Websocket-Connection-Id"


def run(coro, timeout=60):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def client(server, path="/", **kw):
    kw.setdefault("max_size", None)
    kw.setdefault("ping_interval", None)
    kw.setdefault("close_timeout", 10)
    kw.setdefault("open_timeout", 30)
    return websockets.connect(server.url + path, **kw)


async def closed_code(ws):
    """Waits for the server's close; returns (close_code, close_reason)."""
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 10)
    await ws.wait_closed()
    return ws.close_code, ws.close_reason


# ---- echo -----------------------------------------------------------------------


def test_text_and_binary_echo(wsgw):
    async def go():
        async with client(wsgw) as ws:
            await ws.send("hello")
            got = await ws.recv()
            assert got == "hello" and isinstance(got, str)
            await ws.send(b"\x00\x01\x02\xff")
            got = await ws.recv()
            assert got == b"\x00\x01\x02\xff" and isinstance(got, bytes)
    run(go())


def test_empty_messages(wsgw):
    async def go():
        async with client(wsgw) as ws:
            await ws.send("")
            got = await ws.recv()
            assert got == "" and isinstance(got, str)
            await ws.send(b"")
            got = await ws.recv()
            assert got == b"" and isinstance(got, bytes)
    run(go())


@pytest.mark.parametrize("n", [125, 126, 65535, 65536, 131072])
def test_message_sizes(wsgw, n):
    async def go():
        async with client(wsgw) as ws:
            data = os.urandom(n)
            await ws.send(data)
            assert await ws.recv() == data
            text = ("abcdefghij" * (n // 10 + 1))[:n]
            await ws.send(text)
            assert await ws.recv() == text
    run(go())


def test_unicode_text(wsgw):
    samples = ["κόσμε", "日本語", "emoji 😀🎉", "\u0000nul inside", "mixed ascii и кириллица ✓",
               "\U0010FFFF", "🙂" * 20000]
    async def go():
        async with client(wsgw) as ws:
            for s in samples:
                await ws.send(s)
                assert await ws.recv() == s
    run(go())


def test_fragmented_messages_echoed_whole(wsgw):
    async def go():
        async with client(wsgw) as ws:
            await ws.send(["Hel", "lo, ", "", "wor", "ld"])
            assert await ws.recv() == "Hello, world"
            parts = [os.urandom(40000) for _ in range(3)]
            await ws.send(parts)
            assert await ws.recv() == b"".join(parts)
            await ws.send(["price ", "€", "5"])
            assert await ws.recv() == "price €5"
    run(go())


def test_fragmented_message_at_max_size(wsgw):
    async def go():
        async with client(wsgw) as ws:
            parts = [os.urandom(32768) for _ in range(4)]  # 128 KiB in total
            await ws.send(parts)
            assert await ws.recv() == b"".join(parts)
    run(go())


def test_ping_pong(wsgw):
    async def go():
        async with client(wsgw) as ws:
            for payload in (b"x", b"", os.urandom(125), b"ping-payload"):
                waiter = await ws.ping(payload)
                await asyncio.wait_for(waiter, 10)  # resolved only by a pong with this payload
            await ws.send("after pings")
            assert await ws.recv() == "after pings"
    run(go())


def test_many_pings_between_messages(wsgw):
    async def go():
        async with client(wsgw) as ws:
            waiters = []
            for i in range(50):
                waiters.append(await ws.ping(b"%d" % i))
                await ws.send("m%d" % i)
            for i in range(50):
                assert await ws.recv() == "m%d" % i
            await asyncio.wait_for(asyncio.gather(*waiters), 10)
    run(go())


@pytest.mark.parametrize("code,reason", [(1000, ""), (4000, "custom reason"), (4999, "é"), (3000, "")])
def test_client_close_code_echoed(wsgw, code, reason):
    async def go():
        ws = await client(wsgw)
        await ws.send("x")
        assert await ws.recv() == "x"
        await ws.close(code, reason)
        assert ws.close_code == code
        assert ws.close_reason == ""  # the server echoes the code only
    run(go())


def test_connection_id_header(wsgw):
    async def go():
        ids = set()
        for _ in range(200):
            async with client(wsgw) as ws:
                cid = ws.response_headers[ID_HEADER]
                assert re.fullmatch(r"[a-z2-7]{33}", cid), cid
                assert len(ws.response_headers.get_all(ID_HEADER)) == 1
                ids.add(cid)
        assert len(ids) == 200
    run(go(), timeout=120)


# ---- subprotocols ----------------------------------------------------------------


def test_subprotocol_server_picks_client_preference(wsgw_factory):
    s = wsgw_factory(["--subprotocols", "chat,superchat"])
    async def go():
        async with client(s, subprotocols=["superchat", "chat"]) as ws:
            assert ws.subprotocol == "superchat"
            await ws.send("hi")
            assert await ws.recv() == "hi"
        async with client(s, subprotocols=["chat", "superchat"]) as ws:
            assert ws.subprotocol == "chat"
        async with client(s, subprotocols=["other", "superchat"]) as ws:
            assert ws.subprotocol == "superchat"
        async with client(s, subprotocols=["other"]) as ws:
            assert ws.subprotocol is None
            assert "Sec-WebSocket-Protocol" not in ws.response_headers
            await ws.send("still works")
            assert await ws.recv() == "still works"
        async with client(s) as ws:
            assert ws.subprotocol is None
            assert "Sec-WebSocket-Protocol" not in ws.response_headers
    run(go())


def test_subprotocol_names_are_case_sensitive(wsgw_factory):
    s = wsgw_factory(["--subprotocols", "chat"])
    async def go():
        async with client(s, subprotocols=["CHAT"]) as ws:
            assert ws.subprotocol is None
    run(go())


def test_no_subprotocols_flag_selects_none(wsgw):
    async def go():
        async with client(wsgw, subprotocols=["chat", "superchat"]) as ws:
            assert ws.subprotocol is None
            assert "Sec-WebSocket-Protocol" not in ws.response_headers
            await ws.send("x")
            assert await ws.recv() == "x"
    run(go())


# ---- many connections, ordering --------------------------------------------------


def test_1000_concurrent_connections(wsgw):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= 2200, "cannot open 1000 sockets"
    n = 1000

    async def one(i, ready, go_on):
        async with client(wsgw, open_timeout=60) as ws:
            ready.append(ws.response_headers[ID_HEADER])
            await go_on.wait()  # every connection is open at once
            for j in range(3):
                msg = "conn %d message %d" % (i, j)
                await ws.send(msg)
                assert await ws.recv() == msg
            await ws.send(b"%d" % i)
            assert await ws.recv() == b"%d" % i
        assert ws.close_code == 1000
        return i

    async def go():
        ready, go_on = [], asyncio.Event()
        tasks = [asyncio.ensure_future(one(i, ready, go_on)) for i in range(n)]
        while len(ready) < n:
            done = [t for t in tasks if t.done()]
            for t in done:
                t.result()  # raise the first failure
            await asyncio.sleep(0.05)
        assert len(set(ready)) == n
        go_on.set()
        assert sorted(await asyncio.gather(*tasks)) == list(range(n))
    run(go(), timeout=120)


def test_order_of_1000_messages(wsgw):
    async def go():
        async with client(wsgw) as ws:
            msgs = ["message %04d %s" % (i, "x" * (i % 97)) for i in range(1000)]

            async def sender():
                for i, m in enumerate(msgs):
                    await ws.send(m if i % 2 else m.encode())

            task = asyncio.ensure_future(sender())
            for i, m in enumerate(msgs):
                assert await ws.recv() == (m if i % 2 else m.encode())
            await task
    run(go())


# ---- limits ----------------------------------------------------------------------


def test_message_over_max_message_is_1009(wsgw_factory):
    s = wsgw_factory(["--max-message", "1000", "--close-timeout", "5s"])
    async def go():
        async with client(s) as ws:
            await ws.send(b"a" * 1000)
            assert await ws.recv() == b"a" * 1000
            await ws.send(b"a" * 1001)
            code, _ = await closed_code(ws)
            assert code == 1009
    run(go())


def test_text_over_max_message_is_1009(wsgw_factory):
    s = wsgw_factory(["--max-message", "1000", "--close-timeout", "5s"])
    async def go():
        async with client(s) as ws:
            await ws.send("é" * 500)  # 1000 bytes
            assert await ws.recv() == "é" * 500
            await ws.send("é" * 500 + "x")  # 1001 bytes
            code, _ = await closed_code(ws)
            assert code == 1009
    run(go())


def test_fragmented_message_over_max_message_is_1009(wsgw_factory):
    s = wsgw_factory(["--max-message", "1000", "--close-timeout", "5s"])
    async def go():
        async with client(s) as ws:
            await ws.send([b"a" * 500, b"b" * 500])
            assert await ws.recv() == b"a" * 500 + b"b" * 500
            await ws.send([b"a" * 600, b"b" * 401])
            code, _ = await closed_code(ws)
            assert code == 1009
    run(go())


def test_default_max_message_is_128k(wsgw):
    async def go():
        async with client(wsgw) as ws:
            await ws.send(b"z" * 131072)
            assert await ws.recv() == b"z" * 131072
            await ws.send(b"z" * 131073)
            code, _ = await closed_code(ws)
            assert code == 1009
    run(go())


def test_frame_over_max_frame_is_1009(wsgw_factory):
    s = wsgw_factory(["--max-frame", "100", "--close-timeout", "5s"])
    async def go():
        async with client(s) as ws:
            await ws.send(b"f" * 100)
            assert await ws.recv() == b"f" * 100
            # fragments of at most 100 bytes make a bigger message
            await ws.send([b"g" * 100, b"h" * 100, b"i" * 50])
            assert await ws.recv() == b"g" * 100 + b"h" * 100 + b"i" * 50
            await ws.send(b"f" * 101)
            code, _ = await closed_code(ws)
            assert code == 1009
    run(go())


def test_close_by_server_keeps_other_clients(wsgw_factory):
    s = wsgw_factory(["--max-message", "1000", "--close-timeout", "5s"])
    async def go():
        async with client(s) as other:
            async with client(s) as ws:
                await ws.send(b"a" * 2000)
                code, _ = await closed_code(ws)
                assert code == 1009
            await other.send("still here")
            assert await other.recv() == "still here"
    run(go())
