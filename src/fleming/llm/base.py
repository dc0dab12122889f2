"""The LLM interface every backend implements: chat messages in, ``n`` completions out, with token usage.

A backend never raises for one bad request: a request that fails for good comes back as
``Completion(text="", error="...")`` so a batch of a million requests always finishes.

Backends implement ``generate_indexed``: conversation ``j`` asks for the samples whose indices are in
``indices[j]``. The response cache uses it to ask only for the samples it does not hold yet, and the
sample index seeds the request where the backend supports per-sample seeds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from fleming.errors import ConfigError

Messages = list[dict[str, str]]
# on_result(conversation position, sample index, completion): called as each completion is ready.
ResultCallback = Callable[[int, int, "Completion"], None]


# Requests made inside ``urgent()`` go before waiting first requests where a backend queues them (the
# openai backend's concurrency gate): a multi-step pipeline's later steps then do not wait behind the
# whole backlog of first steps, so the run does not end on a long tail.
URGENT: ContextVar[bool] = ContextVar("fleming_urgent_requests", default=False)


@contextmanager
def urgent() -> Iterator[None]:
    token = URGENT.set(True)
    try:
        yield
    finally:
        URGENT.reset(token)


@dataclass(frozen=True)
class SamplingParams:
    """Sampling settings shared by all backends. ``temperature == 0`` means greedy decoding.

    ``stop`` (an addition to the documented interface, default empty) ends a completion at the first of
    these strings; the string itself is not returned, as in the OpenAI API.

    >>> SamplingParams(temperature=0.7, n=4).n
    4
    """

    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 512
    n: int = 1
    seed: int | None = None
    stop: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if isinstance(self.stop, str):
            object.__setattr__(self, "stop", (self.stop,))
        elif not isinstance(self.stop, tuple):
            object.__setattr__(self, "stop", tuple(self.stop))
        checks = [("temperature", self.temperature >= 0, "expected >= 0"),
                  ("top_p", 0 < self.top_p <= 1, "expected in (0, 1]"),
                  ("max_tokens", self.max_tokens >= 1, "expected >= 1"),
                  ("n", self.n >= 1, "expected >= 1")]
        for name, ok, expected in checks:
            if not ok:
                raise ConfigError(f"SamplingParams.{name}={getattr(self, name)!r}: {expected}")

    def cache_fields(self) -> dict:
        """What identifies a completion, minus ``n`` (the sample index stands in for it)."""
        return {"temperature": self.temperature, "top_p": self.top_p, "max_tokens": self.max_tokens,
                "seed": self.seed, "stop": list(self.stop)}

    def sample_seed(self, index: int) -> int | None:
        """The seed for sample ``index`` when samples are drawn as separate seeded requests."""
        return None if self.seed is None else self.seed + index


@dataclass
class Completion:
    text: str
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None  # set (and text "") when the request failed for good; never raises

    @property
    def ok(self) -> bool:
        return self.error is None


@runtime_checkable
class Backend(Protocol):
    model_name: str

    def generate(self, conversations: list[Messages], params: SamplingParams,
                 progress: bool = True) -> list[list[Completion]]: ...

    def close(self) -> None: ...


class BaseBackend:
    """Shared ``generate`` on top of ``generate_indexed``; subclasses set ``kind`` and ``model_name``."""

    kind = "base"
    model_name: str = ""

    @property
    def cache_id(self) -> str:
        """What the response cache keys the model on (a subclass may add a weights fingerprint)."""
        return f"{self.kind}:{self.model_name}"

    def generate(self, conversations: list[Messages], params: SamplingParams,
                 progress: bool = True) -> list[list[Completion]]:
        """``params.n`` completions per conversation, in order."""
        indices = [list(range(params.n))] * len(conversations)
        return self.generate_indexed(conversations, params, indices, progress=progress)

    def generate_indexed(self, conversations: list[Messages], params: SamplingParams,
                         indices: Sequence[Sequence[int]], progress: bool = True,
                         on_result: ResultCallback | None = None) -> list[list[Completion]]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def check_conversations(conversations: list[Messages]) -> None:
    """Fail early, naming the conversation and message, when a message is not {role, content: str}."""
    for i, conv in enumerate(conversations):
        if not isinstance(conv, list) or not conv:
            raise ConfigError(f"conversation {i}: expected a non-empty list of messages")
        for j, m in enumerate(conv):
            if not isinstance(m, dict) or not isinstance(m.get("role"), str) \
                    or not isinstance(m.get("content"), str):
                raise ConfigError(f"conversation {i}, message {j}: expected {{'role': str, 'content': str}}")


@contextmanager
def progress_bar(total: int, description: str, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """A rich progress bar with ETA; yields ``tick(n)``. Disabled, or with nothing to do, it is a no-op."""
    if not enabled or total == 0:
        yield lambda n=1: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), transient=False) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)
