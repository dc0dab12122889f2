"""Step / Filter base: every step counts what came in, what it kept and why it dropped the rest.

Modelled on datatrove: a step maps an iterator of records to an iterator of records; a Filter returns
``True`` or ``(False, "reason")``; the base class counts ``dropped[reason]`` and, when given an
exclusion file, writes every dropped record there with its reason so it can be inspected.
Counts always reconcile: ``n_in == n_kept + sum(dropped)``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from fleming.records import MCQ


@dataclass
class Stats:
    name: str
    n_in: int = 0
    n_kept: int = 0
    dropped: Counter = field(default_factory=Counter)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_dropped(self) -> int:
        return sum(self.dropped.values())

    def reconciles(self) -> bool:
        return self.n_in == self.n_kept + self.n_dropped

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "in": self.n_in, "kept": self.n_kept, "dropped": self.n_dropped,
                "drop_reasons": dict(self.dropped.most_common()), "extra": self.extra}


class Step:
    """Base step: override ``process``; stats are counted here."""

    name = "step"

    def __init__(self, exclusion_path: str | Path | None = None):
        self.stats = Stats(self.name)
        self.exclusion_path = Path(exclusion_path) if exclusion_path else None
        self._excl: IO[str] | None = None

    def stat_update(self, key: str, value: float = 1) -> None:
        self.stats.extra[key] = self.stats.extra.get(key, 0) + value

    def drop(self, record: MCQ | dict[str, Any], reason: str) -> None:
        self.stats.dropped[reason] += 1
        if self.exclusion_path is not None:
            if self._excl is None:
                self.exclusion_path.parent.mkdir(parents=True, exist_ok=True)
                self._excl = open(self.exclusion_path, "w", encoding="utf-8")  # noqa: SIM115 - closed in run()
            rec = record.model_dump(mode="json") if isinstance(record, MCQ) else record
            self._excl.write(json.dumps({"reason": reason, "record": rec}, ensure_ascii=False) + "\n")

    def process(self, records: Iterable[MCQ]) -> Iterator[MCQ]:
        raise NotImplementedError

    def run(self, records: Iterable[MCQ]) -> Iterator[MCQ]:
        def counted_in() -> Iterator[MCQ]:
            for r in records:
                self.stats.n_in += 1
                yield r

        try:
            for r in self.process(counted_in()):
                self.stats.n_kept += 1
                yield r
        finally:
            if self._excl is not None:
                self._excl.close()
                self._excl = None


class Filter(Step):
    """Keep or drop one record at a time: ``filter`` returns True or (False, reason)."""

    name = "filter"

    def filter(self, record: MCQ) -> bool | tuple[bool, str]:
        raise NotImplementedError

    def process(self, records: Iterable[MCQ]) -> Iterator[MCQ]:
        for r in records:
            verdict = self.filter(r)
            ok, reason = (verdict, self.name) if isinstance(verdict, bool) else verdict
            if ok:
                yield r
            else:
                self.drop(r, reason)
