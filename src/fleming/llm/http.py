"""A lean asyncio HTTP/1.1 client with a keep-alive connection pool, for JSON APIs.

Chosen by measurement (bench/bench_llm_openai.py): on 2 cores httpx costs ~1.3 ms of CPU per request
(and its pool degrades past a few hundred connections), the official ``openai`` client ~2 ms; this
client ~0.1 ms, which is what lets one process keep thousands of requests per second in flight.

It speaks just what an OpenAI-compatible endpoint needs: HTTP/1.1 over TCP or TLS, ``Content-Length``
or chunked responses, keep-alive with a reconnect when the server closed an idle connection, and a
per-request timeout. No redirects, proxies, cookies or compression (it asks for ``identity``).
"""

from __future__ import annotations

import asyncio
import ssl
from urllib.parse import urlsplit

from fleming.errors import ConfigError


class HTTPResponse:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: dict[str, str], body: bytes):
        self.status, self.headers, self.body = status, headers, body


class _Conn(asyncio.Protocol):
    """One connection; parses one response at a time into ``self.fut``."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.fut: asyncio.Future | None = None
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.head: tuple[int, dict[str, str]] | None = None
        self.got_bytes = False

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        self.closed = True
        if self.fut is not None and not self.fut.done():
            if self.head is not None and _framing(self.head[1]) == "close":
                self._resolve(bytes(self.buf))
            else:
                self.fut.set_exception(ConnectionError(f"connection closed by the server ({exc or 'EOF'})"))

    def send(self, data: bytes, fut: asyncio.Future) -> None:
        self.fut, self.head, self.got_bytes = fut, None, False
        self.buf.clear()
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        self.got_bytes = True
        self.buf += data
        if self.fut is None or self.fut.done():
            return
        try:
            self._parse()
        except (ValueError, IndexError) as e:
            self.fut.set_exception(ConnectionError(f"malformed HTTP response: {e}"))
            self.transport.close()

    def _parse(self) -> None:
        if self.head is None:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            headers = {}
            for line in lines[1:]:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
            del self.buf[:end + 4]
            if 100 <= status < 200:  # interim response: the real one follows
                return self._parse()
            self.head = (status, headers)
        framing = _framing(self.head[1])
        if framing == "chunked":
            body = _dechunk(self.buf)
            if body is not None:
                self._resolve(body)
        elif framing != "close" and len(self.buf) >= int(framing):
            self._resolve(bytes(self.buf[:int(framing)]))

    def _resolve(self, body: bytes) -> None:
        status, headers = self.head
        if headers.get("connection", "").lower() == "close" and self.transport is not None:
            self.closed = True
            self.transport.close()
        self.fut.set_result(HTTPResponse(status, headers, body))


def _framing(headers: dict[str, str]) -> str:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return "chunked"
    return headers.get("content-length", "close")


def _dechunk(buf: bytearray) -> bytes | None:
    """The body of a complete chunked message in ``buf``, or None while chunks are still missing."""
    out, pos = bytearray(), 0
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(bytes(buf[pos:eol]).split(b";")[0], 16)
        if size == 0:
            return bytes(out) if buf.find(b"\r\n\r\n", eol) >= 0 or buf.endswith(b"\r\n\r\n") else None
        if len(buf) < eol + 2 + size + 2:
            return None
        out += buf[eol + 2:eol + 2 + size]
        pos = eol + 2 + size + 2


class LeanHTTPClient:
    """POST/GET JSON bodies to one origin, reusing connections (at most one request per connection).

    >>> client = LeanHTTPClient("http://127.0.0.1:8000/v1", headers={"Authorization": "Bearer x"})
    >>> # resp = await client.request("POST", "/chat/completions", b'{...}', timeout=60)
    """

    def __init__(self, base_url: str, headers: dict[str, str] | None = None):
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ConfigError(f"base_url {base_url!r}: expected http(s)://host[:port][/path]")
        self.host = url.hostname
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.prefix = url.path.rstrip("/")
        self.ssl = ssl.create_default_context() if url.scheme == "https" else None
        host_header = self.host if url.port is None else f"{self.host}:{url.port}"
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self._head = (f"Host: {host_header}\r\nUser-Agent: fleming\r\nAccept: application/json\r\n"
                      f"Accept-Encoding: identity\r\n{extra}").encode("latin-1")
        self._idle: list[_Conn] = []
        self.n_requests = 0

    async def _connect(self) -> _Conn:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(_Conn, self.host, self.port, ssl=self.ssl,
                                               server_hostname=self.host if self.ssl else None)
        return conn

    def _encode(self, method: str, path: str, body: bytes | None) -> bytes:
        start = f"{method} {self.prefix}{path} HTTP/1.1\r\n".encode("latin-1")
        if body is None:
            return start + self._head + b"\r\n"
        return (start + self._head + b"Content-Type: application/json\r\nContent-Length: "
                + str(len(body)).encode() + b"\r\n\r\n" + body)

    async def request(self, method: str, path: str, body: bytes | None = None,
                      timeout: float = 60.0) -> HTTPResponse:
        """One request; raises ``TimeoutError`` after ``timeout`` s and ``ConnectionError`` on I/O errors."""
        data = self._encode(method, path, body)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        for attempt in range(2):
            conn = self._take_idle()
            reused = conn is not None
            if conn is None:
                conn = await asyncio.wait_for(self._connect(), timeout)
            self.n_requests += 1
            fut = loop.create_future()
            timer = loop.call_at(deadline, _expire, fut, timeout)
            conn.send(data, fut)
            try:
                resp = await fut
            except ConnectionError:
                conn.transport.close()
                # a kept-alive connection the server had already closed: retry once on a fresh one
                if reused and not conn.got_bytes and attempt == 0:
                    continue
                raise
            except BaseException:
                conn.transport.close()
                raise
            finally:
                timer.cancel()
            if not conn.closed:
                self._idle.append(conn)
            return resp
        raise AssertionError("unreachable")

    def _take_idle(self) -> _Conn | None:
        """A kept-alive connection that is still open (the server may have closed some meanwhile)."""
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed and not conn.transport.is_closing():
                return conn
        return None

    def close(self) -> None:
        for conn in self._idle:
            if conn.transport is not None:
                conn.transport.close()
        self._idle.clear()


def _expire(fut: asyncio.Future, timeout: float) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError(f"no response within {timeout:g} s"))
