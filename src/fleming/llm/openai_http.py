"""The ``openai`` backend: any OpenAI-compatible ``/chat/completions`` endpoint over async HTTP.

- Bounded concurrency: at most ``concurrency`` requests in flight. A request waiting out a retry backoff
  gives its slot to another, so a few failures do not idle the pipe, and a retry goes before new
  requests when it is due.
- Optional ``rpm``: request starts are spaced 60/rpm seconds apart.
- Retries (tenacity), exponential backoff with jitter, honouring ``Retry-After``: on 408, 429, 5xx,
  timeouts, connection errors and malformed responses. Other 4xx fail at once. A request that still
  fails becomes ``Completion(error=...)``: the batch always finishes.
- The API key comes from the environment variable ``api_key_env`` (default ``OPENAI_API_KEY``), never
  from arguments, and is never logged. Without it no Authorization header is sent (local servers).
- ``sample_mode="n"`` asks for the samples of a conversation in one request (``n``);
  ``"seeds"`` sends one request per sample with seed ``seed + index`` (for servers without ``n``).
- A reasoning parser's ``reasoning_content`` is put back as ``<think>...</think>`` before the content,
  so graders see the same text a local model would produce.

Requests run on one event loop in a background thread that lives as long as the backend, so the
connection pool stays warm across ``generate`` calls.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import itertools
import json
import os
import random
import threading
from collections.abc import Sequence
from typing import Any, Literal

from tenacity import AsyncRetrying, RetryError, retry_if_exception_type, stop_after_attempt

from fleming.errors import ConfigError
from fleming.llm import base
from fleming.llm.base import Completion, SamplingParams
from fleming.llm.http import LeanHTTPClient


class RetryableError(Exception):
    """A failure worth retrying; ``retry_after`` is the server's hint in seconds, if any."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class FatalError(Exception):
    """A failure that retrying will not fix (e.g. HTTP 400 or 401)."""


class _Pacer:
    """Spaces request starts ``60 / rpm`` seconds apart."""

    def __init__(self, rpm: float):
        self.interval, self.next = 60.0 / rpm, 0.0

    async def wait(self) -> None:
        now = asyncio.get_running_loop().time()
        start = max(now, self.next)
        self.next = start + self.interval
        if start > now:
            await asyncio.sleep(start - now)


class _Gate:
    """At most ``limit`` requests in flight; waiting retries go before waiting first attempts, so an
    item that failed once does not queue behind the whole backlog and stretch the end of the run."""

    def __init__(self, limit: int):
        self.free, self.waiters, self.seq = limit, [], itertools.count()

    async def acquire(self, priority: int) -> None:
        if self.free > 0 and not self.waiters:
            self.free -= 1
            return
        fut = asyncio.get_running_loop().create_future()
        heapq.heappush(self.waiters, (priority, next(self.seq), fut))
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():  # the slot was handed over: pass it on
                self.release()
            raise

    def release(self) -> None:
        while self.waiters:
            fut = heapq.heappop(self.waiters)[2]
            if not fut.done():
                fut.set_result(None)  # hand the slot over directly
                return
        self.free += 1


class _LoopThread:
    """An event loop running in a daemon thread; ``run`` blocks the caller until a coroutine finishes."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fleming-openai", daemon=True)
        self.thread.start()

    def run(self, coro):
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return fut.result()
        except BaseException:
            fut.cancel()
            raise

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


def parse_chat_response(status: int, headers: dict[str, str], body: bytes, n: int) -> list[Completion]:
    """``n`` completions from an HTTP response, or raise RetryableError / FatalError."""
    if status == 429 or status == 408 or status >= 500:
        raise RetryableError(f"HTTP {status}: {_snippet(body)}", _retry_after(headers))
    if status != 200:
        raise FatalError(f"HTTP {status}: {_snippet(body)}")
    try:
        data = json.loads(body)
        choices = sorted(data["choices"], key=lambda c: c.get("index", 0))
        usage = data.get("usage") or {}
        if len(choices) != n:
            raise ValueError(f"expected {n} choices, got {len(choices)} (a server without 'n' needs "
                             "sample_mode='seeds')")
        prompt_toks = int(usage.get("prompt_tokens", 0))
        gen_toks = int(usage.get("completion_tokens", 0)) // n  # usage is per request: split evenly
        out = []
        for c in choices:
            msg = c["message"]
            text = msg.get("content") or ""
            reasoning = msg.get("reasoning_content") or msg.get("reasoning")
            if reasoning:
                text = f"<think>{reasoning}</think>{text}"
            out.append(Completion(text, c.get("finish_reason"), prompt_toks, gen_toks))
        return out
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise RetryableError(f"malformed response: {type(e).__name__}: {e}; body: {_snippet(body)}") from e


def _snippet(body: bytes, limit: int = 200) -> str:
    text = body[:limit].decode("utf-8", "replace")
    return text + ("..." if len(body) > limit else "")


def _retry_after(headers: dict[str, str]) -> float | None:
    try:
        return float(headers["retry-after"])
    except (KeyError, ValueError):
        return None


class OpenAIBackend(base.BaseBackend):
    """Options: ``concurrency`` (64), ``rpm`` (None), ``timeout`` s per request (120), ``max_retries``
    (6), ``backoff`` (initial, max) seconds ((0.1, 30)), ``api_key_env`` ("OPENAI_API_KEY"),
    ``sample_mode`` ("n" | "seeds"), ``response_format`` (sent as is), ``extra_body`` (merged into
    every request)."""

    kind = "openai"

    def __init__(self, model: str, *, base_url: str, concurrency: int = 64, rpm: float | None = None,
                 timeout: float = 120.0, max_retries: int = 6, backoff: tuple[float, float] = (0.1, 30.0),
                 api_key_env: str = "OPENAI_API_KEY", sample_mode: Literal["n", "seeds"] = "n",
                 response_format: dict[str, Any] | None = None, extra_body: dict[str, Any] | None = None):
        if concurrency < 1 or timeout <= 0 or max_retries < 0 or (rpm is not None and rpm <= 0):
            raise ConfigError("openai backend: expected concurrency >= 1, timeout > 0, max_retries >= 0, "
                              f"rpm > 0; got {concurrency}, {timeout}, {max_retries}, {rpm}")
        if sample_mode not in ("n", "seeds"):
            raise ConfigError(f"sample_mode={sample_mode!r}: expected 'n' or 'seeds'")
        self.model_name, self.base_url = model, base_url
        self.concurrency, self.rpm, self.timeout = concurrency, rpm, timeout
        self.max_retries, self.backoff, self.sample_mode = max_retries, backoff, sample_mode
        self.response_format, self.extra_body = response_format, dict(extra_body or {})
        key = os.environ.get(api_key_env)
        self._client = LeanHTTPClient(base_url, headers={"Authorization": f"Bearer {key}"} if key else {})
        self._loop: _LoopThread | None = None
        self._gate: _Gate | None = None  # created on the loop thread, shared by all generate calls
        self._start = threading.Lock()

    @property
    def cache_id(self) -> str:
        """The model name, plus the response format when one is requested (it changes the outputs)."""
        if not self.response_format:
            return f"openai:{self.model_name}"
        fmt = json.dumps(self.response_format, sort_keys=True)
        return f"openai:{self.model_name}:format={hashlib.sha256(fmt.encode()).hexdigest()[:16]}"

    @property
    def n_requests(self) -> int:
        """HTTP requests sent so far, retries included."""
        return self._client.n_requests

    def payload(self, conv: base.Messages, params: SamplingParams, n: int, seed: int | None,
                response_format: dict[str, Any] | None = None) -> bytes:
        body: dict[str, Any] = {"model": self.model_name, "messages": conv, "temperature": params.temperature,
                                "top_p": params.top_p, "max_tokens": params.max_tokens, "n": n}
        if seed is not None:
            body["seed"] = seed
        if params.stop:
            body["stop"] = list(params.stop)
        if response_format or self.response_format:
            body["response_format"] = response_format or self.response_format
        body.update(self.extra_body)
        return json.dumps(body, ensure_ascii=False).encode("utf-8")

    def _plan(self, conversations: list[base.Messages], params: SamplingParams,
              indices: Sequence[Sequence[int]]) -> list[tuple[int, list[int], int, bytes]]:
        """Requests to send: (conversation, the sample indices it answers, choices asked for, body)."""
        greedy = params.temperature == 0
        jobs = []
        for j, (conv, idx) in enumerate(zip(conversations, indices, strict=True)):
            idx = list(idx)
            if not idx:
                continue
            if greedy or self.sample_mode == "n":  # greedy: one sample stands for all
                n = 1 if greedy else len(idx)
                jobs.append((j, idx, n, self.payload(conv, params, n, params.seed)))
            else:
                base = params.seed or 0
                jobs += [(j, [s], 1, self.payload(conv, params, 1, base + s)) for s in idx]
        return jobs

    def generate_indexed(self, conversations: list[base.Messages], params: SamplingParams,
                         indices: Sequence[Sequence[int]], progress: bool = True,
                         on_result: base.ResultCallback | None = None) -> list[list[Completion]]:
        base.check_conversations(conversations)
        jobs = self._plan(conversations, params, indices)
        out: list[list[Completion | None]] = [[None] * len(idx) for idx in indices]
        greedy = params.temperature == 0
        with self._start:  # concurrent generate calls from threads share one loop
            if self._loop is None:
                self._loop = _LoopThread()
        with base.progress_bar(sum(len(i) for i in indices), f"openai {self.model_name}", progress) as tick:
            def done(job: tuple[int, list[int], int, bytes], comps: list[Completion]) -> None:
                j, idx, _, _ = job
                if greedy:
                    comps = [Completion(**vars(comps[0])) for _ in idx]
                for s, c in zip(idx, comps, strict=True):
                    out[j][list(indices[j]).index(s)] = c
                    if on_result is not None:
                        on_result(j, s, c)
                tick(len(idx))

            self._loop.run(self._run(jobs, done, 1 if base.URGENT.get() else 2))
        return out  # type: ignore[return-value]

    async def _run(self, jobs, done, priority: int = 2) -> None:
        if self._gate is None:  # one gate per backend: concurrent generate calls share ``concurrency``
            self._gate = _Gate(self.concurrency)
        inflight = self._gate
        slots = asyncio.Semaphore(self.concurrency * 4)  # jobs alive at once, backing off included
        pacer = _Pacer(self.rpm) if self.rpm else None
        pending: set[asyncio.Task] = set()
        errors: list[BaseException] = []  # from ``done`` (e.g. the cache write): raised at the end

        def finished(task: asyncio.Task, job) -> None:
            slots.release()
            pending.discard(task)
            if not task.cancelled():
                try:
                    done(job, task.result())
                except Exception as e:  # noqa: BLE001 - re-raised below, after the batch settles
                    errors.append(e)

        try:
            for job in jobs:
                await slots.acquire()
                task = asyncio.ensure_future(self._request(job[3], job[2], inflight, pacer, priority))
                task.add_done_callback(lambda t, job=job: finished(t, job))
                pending.add(task)
            while pending:
                await asyncio.gather(*list(pending), return_exceptions=True)
        except asyncio.CancelledError:  # the caller was interrupted: stop sending
            for task in list(pending):
                task.cancel()
            raise
        if errors:
            raise errors[0]

    def _wait(self, state) -> float:
        initial, cap = self.backoff
        delay = min(cap, initial * 2 ** (state.attempt_number - 1)) * random.uniform(0.5, 1.5)
        exc = state.outcome.exception() if state.outcome else None
        hint = getattr(exc, "retry_after", None)
        return max(delay, min(hint, 120.0)) if hint else delay

    async def _request(self, body: bytes, n: int, inflight: _Gate, pacer: _Pacer | None,
                       priority: int = 2) -> list[Completion]:
        """``n`` completions for one request body; failures come back as error completions."""
        retrying = AsyncRetrying(stop=stop_after_attempt(self.max_retries + 1), wait=self._wait,
                                 retry=retry_if_exception_type((RetryableError, TimeoutError, OSError)),
                                 reraise=False)
        try:
            async for attempt in retrying:
                with attempt:
                    if pacer is not None:
                        await pacer.wait()
                    await inflight.acquire(0 if attempt.retry_state.attempt_number > 1 else priority)
                    try:
                        resp = await self._client.request("POST", "/chat/completions", body, self.timeout)
                    finally:
                        inflight.release()
                    return parse_chat_response(resp.status, resp.headers, resp.body, n)
        except RetryError as e:
            last = e.last_attempt.exception()
            error = f"failed after {e.last_attempt.attempt_number} attempts: {type(last).__name__}: {last}"
        except FatalError as e:
            error = str(e)
        except Exception as e:  # noqa: BLE001 - one bad request must not end the batch
            error = f"{type(e).__name__}: {e}"
        return [Completion("", error=error) for _ in range(n)]

    def close(self) -> None:
        if self._loop is not None:
            self._loop.loop.call_soon_threadsafe(self._client.close)
            self._loop.close()
            self._loop, self._gate = None, None
