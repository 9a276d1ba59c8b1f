"""`--listen [::]:PORT` is one dual-stack listener: IPv4 and IPv6 clients
both connect, and each one's source address is reported as it is (IPv4 not
as an IPv4-mapped IPv6 address)."""
import asyncio
import json
import socket
import urllib.request

import pytest
import websockets

import conftest


def get(s, cid):
    url = "http://127.0.0.1:%d/apigateways/websocket/v1/connections/%s" % (s.mgmt_port, cid)
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


@pytest.mark.skipif(not conftest.ipv6_available(), reason="no IPv6 loopback")
def test_dual_stack_listener(wsgw_factory):
    s = wsgw_factory(["--listen", "[::]:0"])

    async def run():
        seen = {}
        for host in ("127.0.0.1", "[::1]"):
            async with websockets.connect("ws://%s:%d/" % (host, s.port)) as ws:
                await ws.send("ping")
                assert await asyncio.wait_for(ws.recv(), 10) == "ping"
                cid = ws.response_headers["X-Yc-Apigateway-Websocket-Connection-Id"]
                seen[host] = (await asyncio.get_running_loop().run_in_executor(None, get, s, cid))
        return seen

    seen = asyncio.run(run())
    assert seen["127.0.0.1"]["identity"]["sourceIp"] == "127.0.0.1"
    assert seen["[::1]"]["identity"]["sourceIp"] == "::1"
