"""A minimal OpenAI-compatible endpoint for load tests and fault tests of clients (not a model server).

It answers ``POST .../chat/completions`` after a fixed delay (``GET .../stats`` returns its tallies),
and can inject faults at given rates:
``429``, ``500`` and ``400`` (answered at once, like a rate limiter), ``timeout`` (never answers),
``malformed`` (HTTP 200 with a truncated JSON body) and ``disconnect`` (drops the connection).
``counts`` has ``answered`` (responses written) and ``repeated`` (answers to a request body answered
before): what a resumed client must keep at zero.
A raw asyncio protocol keeps its own cost near 30 µs a request, so a benchmark measures the client.

>>> with StubServer(delay=0.01) as url:                      # doctest: +SKIP
...     ...  # make_backend("openai", "stub", base_url=url)
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import json
import random
import threading
from collections import Counter
from collections.abc import Callable

FAULTS = ("429", "500", "400", "timeout", "malformed", "disconnect")
Reply = Callable[[dict, int], str]  # (request JSON, index of the choice) -> assistant content


def default_reply(request: dict, index: int) -> str:
    return "<think>stub</think>\n<answer>A</answer>"


def _http(status: int, reason: str, body: bytes, extra: str = "") -> bytes:
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n").encode() + body


class _Handler(asyncio.Protocol):
    def __init__(self, server: StubServer):
        self.server, self.buf, self.transport = server, bytearray(), None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end]).decode("latin-1")
            length = int(_header(head, "content-length") or 0)
            if len(self.buf) < end + 4 + length:
                return
            body = bytes(self.buf[end + 4:end + 4 + length])
            del self.buf[:end + 4 + length]
            self.server.authorization = _header(head, "authorization")
            self.server.handle(self.transport, head.split(" ", 2)[1], body)


class StubServer:
    """Serve on ``host:port`` (0 picks a free port) in a background thread; ``url`` ends in ``/v1``.

    ``faults`` maps a kind in FAULTS to its probability per request; ``reply`` makes the content;
    ``counts`` tallies requests and faults, ``max_inflight`` is the most requests held at once,
    ``authorization`` the last Authorization header; ``seed`` makes the fault sequence reproducible.
    """

    def __init__(self, delay: float = 0.0, faults: dict[str, float] | None = None, reply: Reply | None = None,
                 host: str = "127.0.0.1", port: int = 0, seed: int = 0):
        bad = set(faults or {}) - set(FAULTS)
        if bad:
            raise ValueError(f"unknown fault kinds {sorted(bad)}: expected {FAULTS}")
        self.delay, self.faults, self.reply = delay, dict(faults or {}), reply or default_reply
        self.host, self.port, self.rng = host, port, random.Random(seed)
        self.counts: Counter = Counter()
        self.answered: Counter = Counter()  # sha256 of a request body -> times it was answered
        self.inflight = self.max_inflight = 0
        self.authorization: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def _fault(self) -> str | None:
        x = self.rng.random()
        for kind, p in self.faults.items():
            if x < p:
                return kind
            x -= p
        return None

    def handle(self, transport, path: str, body: bytes) -> None:
        self.counts["requests"] += 1
        if path.endswith("/stats"):  # the tallies, for a client in another process
            self.counts["requests"] -= 1
            transport.write(_http(200, "OK", json.dumps(dict(self.counts)).encode()))
            return
        if path.endswith("/models"):
            data = json.dumps({"object": "list", "data": [{"id": "stub", "object": "model"}]}).encode()
            transport.write(_http(200, "OK", data))
            return
        fault = self._fault()
        if fault is not None:
            self.counts[fault] += 1
        if fault == "429":
            transport.write(_http(429, "Too Many Requests", b'{"error":{"message":"rate limited"}}'))
        elif fault == "500":
            transport.write(_http(500, "Internal Server Error", b'{"error":{"message":"injected"}}'))
        elif fault == "400":
            transport.write(_http(400, "Bad Request", b'{"error":{"message":"injected bad request"}}'))
        elif fault == "disconnect":
            transport.close()
        elif fault != "timeout":  # a timeout simply never answers
            resp = _http(200, "OK", b'{"choices": [{"index": 0, "mess') if fault == "malformed" \
                else self._completion(body)
            self.inflight += 1
            self.max_inflight = max(self.max_inflight, self.inflight)
            key = None if fault == "malformed" else hashlib.sha256(body).hexdigest()
            self._loop.call_later(self.delay, self._answer, transport, resp, key)

    def _answer(self, transport, data: bytes, key: str | None = None) -> None:
        self.inflight -= 1
        if not transport.is_closing():
            transport.write(data)
            if key is not None:  # a request body answered twice is a repeated request
                self.answered[key] += 1
                self.counts["answered"] += 1
                self.counts["repeated"] += self.answered[key] > 1

    def _completion(self, body: bytes) -> bytes:
        req = json.loads(body)
        n = int(req.get("n") or 1)
        choices = [{"index": i, "message": {"role": "assistant", "content": self.reply(req, i)},
                    "finish_reason": "stop"} for i in range(n)]
        data = {"id": f"stub-{self.counts['requests']}", "object": "chat.completion", "created": 0,
                "model": req.get("model", "stub"), "choices": choices,
                "usage": {"prompt_tokens": 10, "completion_tokens": 5 * n, "total_tokens": 10 + 5 * n}}
        return _http(200, "OK", json.dumps(data).encode())

    async def serve(self) -> asyncio.AbstractServer:
        """Start serving on the running loop (for use in an existing event loop or a separate process)."""
        self._loop = asyncio.get_running_loop()
        srv = await self._loop.create_server(lambda: _Handler(self), self.host, self.port, backlog=4096)
        self.port = srv.sockets[0].getsockname()[1]
        return srv

    def __enter__(self) -> str:
        ready = threading.Event()

        def main() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._srv = loop.run_until_complete(self.serve())
            ready.set()
            loop.run_forever()
            self._srv.close()
            loop.close()

        self._thread = threading.Thread(target=main, name="stub-openai", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self.url

    def __exit__(self, *exc) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)


def _header(head: str, name: str) -> str | None:
    for line in head.split("\r\n")[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == name:
            return v.strip()
    return None


def main(argv: list[str] | None = None) -> None:
    """``python -m fleming.llm.loadtest --delay 0.5 --fault 429=0.05 --port 0``: serve until killed;
    prints ``listening on URL`` once ready."""
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--delay", type=float, default=0.0)
    ap.add_argument("--fault", action="append", default=[], help="KIND=RATE, e.g. 429=0.05")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--reply", default=None, help="MODULE:FUNCTION making the content, e.g. "
                                                  "fleming.cot.scripted:reply (default: a fixed answer)")
    args = ap.parse_args(argv)
    faults = {k: float(v) for k, v in (f.split("=", 1) for f in args.fault)}
    reply = None
    if args.reply:
        module, _, func = args.reply.partition(":")
        reply = getattr(importlib.import_module(module), func)
    server = StubServer(args.delay, faults, reply=reply, host=args.host, port=args.port)

    async def run() -> None:
        srv = await server.serve()
        print(f"listening on {server.url}", flush=True)
        await srv.serve_forever()

    asyncio.run(run())


if __name__ == "__main__":
    main()
