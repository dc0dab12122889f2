"""An OpenAI-compatible server for a local Hugging Face checkpoint (``fleming serve``).

``POST /v1/chat/completions`` (messages, temperature, top_p, max_tokens, n, seed, stop; no streaming)
and ``GET /v1/models``. Generation is ``HFGenerator.complete``, the routine of the ``hf`` backend, so
greedy outputs match a local run. Concurrent requests are micro-batched: the worker takes what arrived
within ``batch_wait_ms`` (up to ``max_batch`` sequences), groups it by sampling parameters and runs one
``generate`` per group in a worker thread, so the event loop keeps accepting requests meanwhile.
Fields the server does not implement (``response_format``, tools, ...) are accepted and ignored.

Limits (``ServeLimits``): a request asking for more than ``max_tokens`` new tokens, or whose prompt is over
``max_prompt_tokens``, gets a 400 saying so (a huge prompt is refused from its character count, before it
is tokenized); a request not answered within ``request_timeout`` seconds gets a 504, and its batch stops
generating then too (``max_time``). With ``api_key`` set, every request needs ``Authorization: Bearer
<key>`` (401 otherwise). On shutdown (SIGTERM), requests in flight get ``shutdown_grace`` seconds, then
generation stops at the next token.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import threading
import time
import uuid
from collections import defaultdict
from typing import Any

from pydantic import BaseModel, Field

from fleming.llm.base import Completion, SamplingParams
from fleming.llm.hf import HFGenerator

DEFAULT_MAX_TOKENS = 512


@dataclasses.dataclass(frozen=True)
class ServeLimits:
    """What one request may ask of the server (see the module docstring)."""

    max_tokens: int = 4096  # new tokens per request
    max_prompt_tokens: int = 32768  # tokens of the rendered prompt
    request_timeout: float = 300.0  # seconds until a request gets a 504
    api_key: str | None = None  # the bearer token every request must carry
    shutdown_grace: float = 2.0  # seconds requests in flight get after SIGTERM

    def __post_init__(self) -> None:
        if self.max_tokens < 1 or self.max_prompt_tokens < 1 or self.request_timeout <= 0:
            raise ValueError("max_tokens and max_prompt_tokens must be >= 1 and request_timeout > 0")


class ChatMessage(BaseModel):
    role: str
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):  # content parts: keep the text ones
            return "".join(p.get("text", "") for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatRequest(BaseModel):
    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    temperature: float = Field(1.0, ge=0, le=2)  # the OpenAI API's default
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    n: int = Field(1, ge=1, le=64)
    seed: int | None = None
    stop: str | list[str] | None = None
    stream: bool = False

    def sampling(self, default_max: int = DEFAULT_MAX_TOKENS) -> SamplingParams:
        stop = [self.stop] if isinstance(self.stop, str) else (self.stop or [])
        return SamplingParams(temperature=self.temperature, top_p=self.top_p, n=self.n, seed=self.seed,
                              max_tokens=self.asked_tokens or default_max, stop=tuple(stop))

    @property
    def asked_tokens(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class MicroBatcher:
    """Collects prompts from concurrent requests and generates them in batches, one batch at a time."""

    def __init__(self, gen: HFGenerator, max_batch: int = 16, wait_s: float = 0.005,
                 max_time: float | None = None):
        self.gen, self.max_batch, self.wait_s, self.max_time = gen, max_batch, wait_s, max_time
        self.queue: asyncio.Queue = asyncio.Queue()
        self.batches = 0
        self.stop = threading.Event()  # set on shutdown: generation ends at the next token

    def close(self) -> None:
        """Stop generating and fail the requests still queued."""
        self.stop.set()
        while not self.queue.empty():
            _, _, f = self.queue.get_nowait()
            if not f.done():
                f.set_exception(RuntimeError("the server is shutting down"))

    async def submit(self, prompts: list[str], params: SamplingParams) -> list[Completion]:
        loop = asyncio.get_running_loop()
        params = dataclasses.replace(params, n=1)  # n is already expanded into prompts
        futs = [loop.create_future() for _ in prompts]
        for p, f in zip(prompts, futs, strict=True):
            self.queue.put_nowait((p, params, f))
        return list(await asyncio.gather(*futs))

    async def _take(self) -> list[tuple]:
        items = [await self.queue.get()]
        deadline = asyncio.get_running_loop().time() + self.wait_s
        while len(items) < self.max_batch:
            try:
                items.append(self.queue.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            try:
                items.append(await asyncio.wait_for(self.queue.get(), left))
            except TimeoutError:
                break
        return items

    async def run(self) -> None:
        while True:
            groups: dict[SamplingParams, list[tuple]] = defaultdict(list)
            for item in await self._take():
                if not item[2].done():  # a request that timed out or went away is not generated
                    groups[item[1]].append(item)
            for params, items in groups.items():
                await self._generate(params, items)

    async def _generate(self, params: SamplingParams, items: list[tuple]) -> None:
        self.batches += 1
        try:
            comps = await asyncio.to_thread(self._complete, [p for p, _, _ in items], params)
        except Exception as e:  # noqa: BLE001 - answer the requests with the error, keep serving
            for _, _, f in items:
                if not f.done():
                    f.set_exception(e)
            return
        for (_, _, f), c in zip(items, comps, strict=True):
            if not f.done():
                f.set_result(c)

    def _complete(self, prompts: list[str], params: SamplingParams) -> list[Completion]:
        if params.seed is not None:
            import torch

            torch.manual_seed(params.seed)
        return self.gen.complete(prompts, params, max_time=self.max_time, stop_event=self.stop)


def create_app(gen: HFGenerator, model_id: str, max_batch: int = 16, batch_wait_ms: float = 5.0,
               limits: ServeLimits | None = None):
    """The FastAPI app; the micro-batching worker starts with the app (lifespan)."""
    from contextlib import asynccontextmanager

    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    limits = limits or ServeLimits()
    batcher = MicroBatcher(gen, max_batch=max_batch, wait_s=batch_wait_ms / 1000,
                           max_time=limits.request_timeout)

    @asynccontextmanager
    async def lifespan(app):
        worker = asyncio.create_task(batcher.run())
        yield
        batcher.close()
        worker.cancel()

    app = FastAPI(title="fleming serve", lifespan=lifespan)
    app.state.batcher = batcher
    app.state.limits = limits

    def error(status: int, message: str, kind: str = "invalid_request_error") -> JSONResponse:
        return JSONResponse({"error": {"message": message, "type": kind}}, status_code=status)

    if limits.api_key:
        expected = f"Bearer {limits.api_key}".encode()

        @app.middleware("http")
        async def bearer(request: Request, call_next):
            given = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                return error(401, "missing or wrong API key (send Authorization: Bearer <key>)",
                             "authentication_error")
            return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errs = "; ".join(f"{'.'.join(map(str, e['loc'][1:]))}: {e['msg']}" for e in exc.errors()[:5])
        return error(400, f"invalid request: {errs}")

    @app.get("/v1/models")
    async def models() -> dict:
        return {"object": "list", "data": [{"id": model_id, "object": "model", "created": 0,
                                            "owned_by": "fleming"}]}

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok"}

    @app.post("/v1/chat/completions")
    async def chat(req: ChatRequest):
        if req.stream:
            return error(400, "stream=true is not supported by fleming serve")
        if req.asked_tokens is not None and req.asked_tokens > limits.max_tokens:
            return error(400, f"max_tokens {req.asked_tokens} is over this server's cap of "
                              f"{limits.max_tokens} (fleming serve --max-tokens-cap)")
        params = req.sampling(default_max=min(DEFAULT_MAX_TOKENS, limits.max_tokens))
        messages = [{"role": m.role, "content": m.text()} for m in req.messages]
        if problem := prompt_problem(messages):
            return error(400, problem)
        prompt = gen.render([messages])[0]
        n_prompt = (await asyncio.to_thread(gen.prompt_lengths, [prompt]))[0]
        if n_prompt > limits.max_prompt_tokens:
            return error(400, f"the prompt has {n_prompt} tokens, over this server's cap of "
                              f"{limits.max_prompt_tokens} (fleming serve --max-prompt-tokens)")
        greedy = params.temperature == 0  # greedy samples are identical: generate once
        try:
            comps = await asyncio.wait_for(batcher.submit([prompt] * (1 if greedy else params.n), params),
                                           limits.request_timeout)
        except TimeoutError:
            return error(504, f"no answer within {limits.request_timeout} s (fleming serve "
                              "--request-timeout)", "timeout")
        if greedy:
            comps = comps * params.n
        return _response(model_id, comps)

    def prompt_problem(messages: list[dict[str, str]]) -> str | None:
        """Over the prompt cap by character count alone (no tokenizing a huge text), or None."""
        chars = sum(len(m["content"]) for m in messages)
        if chars > limits.max_prompt_tokens * gen.max_token_chars:
            return (f"the prompt has {chars} characters, more than {limits.max_prompt_tokens} tokens "
                    "(this server's cap, fleming serve --max-prompt-tokens)")
        return None

    return app


def _response(model_id: str, comps: list[Completion]) -> dict:
    n_gen = sum(c.completion_tokens for c in comps)
    return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
            "model": model_id,
            "choices": [{"index": i, "message": {"role": "assistant", "content": c.text},
                         "finish_reason": c.finish_reason} for i, c in enumerate(comps)],
            "usage": {"prompt_tokens": comps[0].prompt_tokens, "completion_tokens": n_gen,
                      "total_tokens": comps[0].prompt_tokens + n_gen}}


def serve(model: str, host: str = "127.0.0.1", port: int = 8000, *, served_model_name: str | None = None,
          max_batch: int = 16, batch_wait_ms: float = 5.0, device: str | None = None,
          num_threads: int | None = None, access_log: bool = False,
          limits: ServeLimits | None = None) -> None:
    """Load ``model`` and serve it until interrupted (SIGINT/SIGTERM: see ``ServeLimits.shutdown_grace``)."""
    import uvicorn

    limits = limits or ServeLimits()
    gen = HFGenerator(model, device=device, num_threads=num_threads)
    app = create_app(gen, served_model_name or model, max_batch=max_batch, batch_wait_ms=batch_wait_ms,
                     limits=limits)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=access_log,
                timeout_graceful_shutdown=limits.shutdown_grace)
