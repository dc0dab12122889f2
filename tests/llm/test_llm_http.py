"""The lean HTTP/1.1 client against raw socket servers: chunked bodies split across packets, bodies
framed by connection close, interim 100 responses, keep-alive reuse, and reconnecting after the server
closed an idle connection."""

from __future__ import annotations

import asyncio

import pytest

from fleming.errors import ConfigError
from fleming.llm.http import LeanHTTPClient


async def _serve(handler):
    """Start a raw server; ``handler(reader, writer, n_connection)`` answers on each connection."""
    count = {"connections": 0}

    async def on_conn(reader, writer):
        count["connections"] += 1
        try:
            await handler(reader, writer, count["connections"])
        finally:
            writer.close()

    server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1", count


async def _read_request(reader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    return head + await reader.readexactly(length)


def test_chunked_body_in_pieces():
    async def handler(reader, writer, _):
        await _read_request(reader)
        parts = [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", b"5\r\nhel", b"lo\r\n",
                 b"6;ext=1\r\n world\r\n", b"0\r\n", b"\r\n"]
        for p in parts:
            writer.write(p)
            await writer.drain()
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)

    async def main():
        server, url, _ = await _serve(handler)
        async with server:
            resp = await LeanHTTPClient(url).request("POST", "/chat/completions", b"{}", timeout=5)
        return resp

    resp = asyncio.run(main())
    assert resp.status == 200 and resp.body == b"hello world"


def test_body_until_close_and_interim_response():
    async def handler(reader, writer, _):
        request = await _read_request(reader)
        assert request.startswith(b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1:")
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Busy\r\nConnection: close\r\n\r\n")
        writer.write(b'{"error": "busy"}')
        await writer.drain()

    async def main():
        server, url, _ = await _serve(handler)
        async with server:
            return await LeanHTTPClient(url).request("GET", "/models", timeout=5)

    resp = asyncio.run(main())
    assert resp.status == 503 and resp.body == b'{"error": "busy"}'
    assert resp.headers["connection"] == "close"


def test_keep_alive_and_reconnect_after_idle_close():
    body = b'{"ok": true}'
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)

    async def handler(reader, writer, n):
        for _ in range(3 if n == 1 else 100):  # the first connection is closed after 3 requests
            try:
                await _read_request(reader)
            except asyncio.IncompleteReadError:
                return
            writer.write(reply)
            await writer.drain()

    async def main():
        server, url, count = await _serve(handler)
        client = LeanHTTPClient(url)
        async with server:
            bodies = []
            for _ in range(6):
                bodies.append((await client.request("POST", "/chat/completions", b"{}", timeout=5)).body)
                await asyncio.sleep(0.02)
            client.close()
        return bodies, count["connections"]

    bodies, connections = asyncio.run(main())
    assert bodies == [body] * 6
    assert connections == 2  # reused, then one transparent reconnect


def test_timeout():
    async def handler(reader, writer, _):
        await _read_request(reader)
        await asyncio.sleep(2)

    async def main():
        server, url, _ = await _serve(handler)
        async with server:
            await LeanHTTPClient(url).request("POST", "/x", b"{}", timeout=0.2)

    with pytest.raises(TimeoutError, match="no response within 0.2 s"):
        asyncio.run(main())


def test_bad_base_url():
    with pytest.raises(ConfigError, match="expected http"):
        LeanHTTPClient("ftp://example.com")
