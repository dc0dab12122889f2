"""Per-item results: one JSONL row per evaluated item, appended and flushed batch by batch.

A row holds the prompt messages, every response, the extracted letters, the status and, when a request
failed, its error. Re-opening the log resumes: the last row per id wins, a line cut short by a kill is
truncated away (that item is simply evaluated again), and rows that failed are retried.

Row fields: id, benchmark, version, prompt_id, prompt_version, prompt_fingerprint, gold, categories,
messages, responses, finish_reasons, prompt_tokens, completion_tokens, samples ([{extracted, status}]
per sample), extracted (the item's answer: the single sample, or the majority vote when there are
several), correct, n_correct, status (correct | wrong | unparsed | failed), error.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from fleming.eval.benchmarks import Benchmark, category_value
from fleming.eval.metrics import majority_vote
from fleming.io import iter_jsonl
from fleming.records import MCQ

FAILED = "failed"


class ItemLog:
    """Append-only per-item JSONL for one benchmark of one run."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def read(self) -> dict[str, dict[str, Any]]:
        """Rows by id (last row wins). A partial last line, left by a killed run, is cut off first."""
        if not self.path.exists():
            return {}
        self._drop_partial_tail()
        rows: dict[str, dict[str, Any]] = {}
        for _, row in iter_jsonl(self.path):
            rows[str(row["id"])] = row
        return rows

    def append(self, rows: Iterable[dict[str, Any]]) -> None:
        """Write rows and flush them to disk before returning (one batch survives a kill)."""
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        if not text:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())

    def _drop_partial_tail(self) -> None:
        size = self.path.stat().st_size
        if size == 0:
            return
        with open(self.path, "rb+") as f:
            f.seek(size - 1)
            if f.read(1) == b"\n":
                return
            f.seek(0)
            keep = f.read().rfind(b"\n") + 1
            f.truncate(keep)


def prompt_key(spec: Any) -> dict[str, str]:
    """What identifies a prompt in a row: id, version and a hash of its text (a ``PromptSpec``)."""
    return {"prompt_id": spec.id, "prompt_version": spec.version, "prompt_fingerprint": spec.fingerprint}


def is_done(row: dict[str, Any], bench: Benchmark, prompt: dict[str, str]) -> bool:
    """A row counts as finished when it did not fail and matches the current task and prompt versions."""
    return (row.get("status") != FAILED and row.get("version") == bench.version
            and all(row.get(k) == v for k, v in prompt.items()))


def item_row(bench: Benchmark, record: MCQ, prompt: dict[str, str], messages: list[dict[str, str]],
             completions: Sequence[Any], grade_fn) -> dict[str, Any]:
    """Score one item's completions with ``grade_fn(response, options, gold) -> Grade``;
    ``prompt`` is ``prompt_key(spec)``."""
    row: dict[str, Any] = {
        "id": record.id, "benchmark": bench.name, "version": bench.version, **prompt,
        "gold": sorted(record.answer),
        "categories": {c.name: category_value(record.metadata, c.field) for c in bench.categories},
        "messages": messages,
        "responses": [c.text for c in completions],
        "finish_reasons": [c.finish_reason for c in completions],
        "prompt_tokens": sum(c.prompt_tokens for c in completions),
        "completion_tokens": sum(c.completion_tokens for c in completions),
    }
    errors = list(dict.fromkeys(c.error for c in completions if c.error))
    if errors or not completions:
        return {**row, "samples": [], "extracted": None, "correct": False, "n_correct": 0,
                "status": FAILED, "error": "; ".join(errors) or "the backend returned no completion"}
    grades = [grade_fn(c.text, record.options, record.answer) for c in completions]
    extracted, status = _item_answer(grades)
    return {**row, "samples": [{"extracted": g.extracted, "status": g.status} for g in grades],
            "extracted": extracted, "correct": status == "correct",
            "n_correct": sum(g.status == "correct" for g in grades), "status": status, "error": None}


def _item_answer(grades: Sequence[Any]) -> tuple[list[str] | None, str]:
    """The single sample's answer, or the majority vote (its status comes from a sample that gave it)."""
    if len(grades) == 1:
        return grades[0].extracted, grades[0].status
    vote = majority_vote([g.extracted for g in grades])
    if vote is None:
        return None, "unparsed"
    status = next(g.status for g in grades if g.extracted is not None and sorted(g.extracted) == vote)
    return vote, status
