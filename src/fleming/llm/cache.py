"""A persistent response cache (SQLite, WAL) in front of any backend.

The key is a hash of the backend's model id, the messages, the sampling parameters minus ``n``, and the
sample index, so asking for 5 samples after a run with 1 sends only samples 1..4. Only successful
completions are stored: a failed request is tried again on the next run. Completions are written as
they arrive (in small batches), so a killed run loses at most a few seconds of work.

Like Curator's cache (NOTES.md §2), minus the dataset fingerprint: the key is per request, which is
what lets an interrupted evaluation resume item by item.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from fleming.llm.base import BaseBackend, Completion, Messages, ResultCallback, SamplingParams

_SCHEMA = """CREATE TABLE IF NOT EXISTS completions (
  key TEXT PRIMARY KEY, model TEXT NOT NULL, text TEXT NOT NULL, finish_reason TEXT,
  prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, created REAL NOT NULL)"""


def cache_key(model_id: str, messages: Messages, params: SamplingParams, sample: int,
              scope: dict | None = None) -> str:
    """A stable hash of what determines one completion; ``scope`` adds what a caller keys on besides
    (the evaluation's prompt id and version).

    >>> k = cache_key("hf:m", [{"role": "user", "content": "hi"}], SamplingParams(), 0)
    >>> k == cache_key("hf:m", [{"role": "user", "content": "hi"}], SamplingParams(n=3), 0)
    True
    >>> k == cache_key("hf:m", [{"role": "user", "content": "hi"}], SamplingParams(), 0, {"prompt": "p@2"})
    False
    """
    body = {"model": model_id, "messages": messages, "params": params.cache_fields(), "sample": sample}
    if scope:
        body["scope"] = scope
    blob = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResponseCache:
    """SQLite store of completions; one connection guarded by a lock, so threads in a process can share it.

    Separate processes can share the file too: WAL lets readers run beside one writer, and
    ``busy_timeout`` makes writers wait for each other.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), timeout=60, check_same_thread=False,
                                   isolation_level=None)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=60000")
            self._db.execute(_SCHEMA)

    def get_many(self, keys: Sequence[str]) -> dict[str, Completion]:
        out: dict[str, Completion] = {}
        with self._lock:
            for i in range(0, len(keys), 500):
                chunk = list(keys[i:i + 500])
                rows = self._db.execute(
                    "SELECT key, text, finish_reason, prompt_tokens, completion_tokens FROM completions "
                    f"WHERE key IN ({','.join('?' * len(chunk))})", chunk).fetchall()
                for key, text, finish, pt, ct in rows:
                    out[key] = Completion(text, finish, pt, ct)
        return out

    def put_many(self, model: str, items: Sequence[tuple[str, Completion]]) -> None:
        """Store successful completions; failed ones (``error`` set) are skipped."""
        rows = [(k, model, c.text, c.finish_reason, c.prompt_tokens, c.completion_tokens, time.time())
                for k, c in items if c.error is None]
        if not rows:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT OR REPLACE INTO completions VALUES (?,?,?,?,?,?,?)", rows)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM completions").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()


class _Writer:
    """Buffers completions from ``on_result`` and flushes them every ``every`` items or seconds."""

    def __init__(self, cache: ResponseCache, model: str, every: int = 64, seconds: float = 2.0):
        self.cache, self.model, self.every, self.seconds = cache, model, every, seconds
        self.buf: list[tuple[str, Completion]] = []
        self.last = time.monotonic()
        self._lock = threading.Lock()

    def add(self, key: str, c: Completion) -> None:
        if c.error is not None:
            return
        with self._lock:
            self.buf.append((key, c))
            due = len(self.buf) >= self.every or time.monotonic() - self.last > self.seconds
        if due:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            buf, self.buf, self.last = self.buf, [], time.monotonic()
        self.cache.put_many(self.model, buf)


class CachedBackend(BaseBackend):
    """Wraps a backend: cached samples are returned as they are; only missing ones reach the backend.

    ``stats`` counts, per instance, ``hits`` and ``misses`` (samples sent to the backend).
    ``flush_every`` completions are written together (1: each as it arrives, so a killed run repeats no
    answered request; the CoT stage uses that).
    """

    def __init__(self, inner: BaseBackend, cache: ResponseCache, scope: dict | None = None,
                 flush_every: int = 64):
        self.inner, self.cache, self.scope = inner, cache, dict(scope or {})
        self.flush_every = flush_every
        self.kind, self.model_name = inner.kind, inner.model_name
        self.stats = {"hits": 0, "misses": 0}

    def scoped(self, scope: dict) -> CachedBackend:
        """The same backend and cache, with ``scope`` added to every key (``stats`` are shared)."""
        view = CachedBackend(self.inner, self.cache, {**self.scope, **scope}, self.flush_every)
        view.stats = self.stats
        return view

    @property
    def cache_id(self) -> str:
        return self.inner.cache_id

    def generate_indexed(self, conversations: list[Messages], params: SamplingParams,
                         indices: Sequence[Sequence[int]], progress: bool = True,
                         on_result: ResultCallback | None = None) -> list[list[Completion]]:
        model = self.inner.cache_id
        keys = [[cache_key(model, conv, params, s, self.scope) for s in idx]
                for conv, idx in zip(conversations, indices, strict=True)]
        found = self.cache.get_many([k for ks in keys for k in ks])
        out: list[list[Completion | None]] = [[found.get(k) for k in ks] for ks in keys]
        todo = [j for j, row in enumerate(out) if any(c is None for c in row)]
        todo_idx = [[s for s, c in zip(indices[j], out[j], strict=True) if c is None] for j in todo]
        n_miss = sum(len(t) for t in todo_idx)
        self.stats["hits"] += sum(len(r) for r in out) - n_miss
        self.stats["misses"] += n_miss
        if on_result is not None:
            for j, row in enumerate(out):
                for s, c in zip(indices[j], row, strict=True):
                    if c is not None:
                        on_result(j, s, c)
        if todo:
            writer = _Writer(self.cache, model, every=self.flush_every)

            def store(pos: int, sample: int, c: Completion) -> None:
                j = todo[pos]
                writer.add(keys[j][list(indices[j]).index(sample)], c)
                if on_result is not None:
                    on_result(j, sample, c)

            try:
                fresh = self.inner.generate_indexed([conversations[j] for j in todo], params, todo_idx,
                                                    progress=progress, on_result=store)
            finally:
                writer.flush()
            for j, samples, comps in zip(todo, todo_idx, fresh, strict=True):
                for s, c in zip(samples, comps, strict=True):
                    out[j][list(indices[j]).index(s)] = c
        return out  # type: ignore[return-value]

    def close(self) -> None:
        self.inner.close()
        self.cache.close()
