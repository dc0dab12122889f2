"""Mixing: the training set drawn to target proportions by source group and by difficulty, seeded.

The paper tunes "the proportion of public and synthetic data" but gives no numbers; the proportions are
configuration. Each cell (group x difficulty) is asked ``total * p_group * p_difficulty`` items (largest
remainder rounding). With no ``total``, the largest total that every cell can fill is used, so the
proportions hold exactly. A cell with too few items gives all it has, and the report says which cell
fell short, by how much and why. Items outside the asked cells are dropped as ``not_selected`` so the
counts still reconcile.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fleming.errors import ConfigError
from fleming.records import MCQ
from fleming.steps import Step

UNLABELED = "unlabeled"
LEVELS = ("Easy", "Moderate", "Difficult")


@dataclass
class MixConfig:
    total: int | None = field(default=None, metadata={
        "help": "training-set size; null: the largest the proportions allow", "ge": 1})
    source: dict[str, float] = field(default_factory=lambda: {"public": 0.5, "synthetic": 0.5}, metadata={
        "help": "proportions of public and synthetic items (>= 0, summing to 1)"})
    difficulty: dict[str, float] | None = field(default=None, metadata={
        "help": "difficulty proportions, e.g. {Easy: 0.3, Moderate: 0.4, Difficult: 0.3}; null: any"})
    question_types: dict[str, float] | None = field(default=None, metadata={
        "help": "question-type proportions, e.g. {diagnosis: 0.25, ...} (a type without items: 'none'); "
                "null: any"})
    synthetic_sources: list[str] = field(default_factory=lambda: ["synth", "kg"], metadata={
        "help": "source-name prefixes of synthetic items"})
    seed: int = field(default=0, metadata={"help": "sampling seed"})
    formats: list[str] = field(default_factory=lambda: ["parquet", "hf"], metadata={
        "help": "training-set files: parquet, hf (datasets.save_to_disk), jsonl"})

    def check(self) -> None:
        for name, props in (("source", self.source), ("difficulty", self.difficulty or {}),
                            ("question_types", self.question_types or {})):
            if any(p < 0 for p in props.values()) or (props and not math.isclose(sum(props.values()), 1.0)):
                raise ConfigError(f"mix.{name}: proportions must be >= 0 and sum to 1, got {props}")
        for name, props, allowed in (("source", self.source, {"public", "synthetic"}),
                                     ("difficulty", self.difficulty or {}, {*LEVELS, UNLABELED})):
            if set(props) - allowed:
                raise ConfigError(f"mix.{name}: unknown {sorted(set(props) - allowed)}; expected "
                                  f"{', '.join(sorted(allowed))}")
        bad = set(self.formats) - {"parquet", "hf", "jsonl"}
        if bad:
            raise ConfigError(f"mix.formats: unknown {sorted(bad)}; expected parquet, hf, jsonl")


def group_of(r: MCQ, synthetic_prefixes: list[str]) -> str:
    return "synthetic" if any(r.source.startswith(p) for p in synthetic_prefixes) else "public"


def largest_remainder(total: int, weights: dict[Any, float]) -> dict[Any, int]:
    """Integer counts summing to ``total`` in the given proportions.

    >>> largest_remainder(10, {"a": 0.5, "b": 0.25, "c": 0.25})
    {'a': 5, 'b': 3, 'c': 2}
    """
    raw = {k: total * w for k, w in weights.items()}
    out = {k: int(math.floor(v)) for k, v in raw.items()}
    for k in sorted(raw, key=lambda k: raw[k] - out[k], reverse=True)[: total - sum(out.values())]:
        out[k] += 1
    return out


class Mix(Step):
    name = "mix"

    def __init__(self, config: MixConfig, exclusion_path=None):
        super().__init__(exclusion_path)
        config.check()
        self.config = config
        self.report: dict[str, Any] = {}

    def cells(self) -> dict[tuple[str, Any, Any], float]:
        diff = self.config.difficulty or {None: 1.0}
        types = self.config.question_types or {None: 1.0}
        src = self.config.source
        return {(g, d, t): pg * pd * pt for g, pg in src.items() for d, pd in diff.items()
                for t, pt in types.items() if pg * pd * pt > 0}

    def process(self, records: Iterable[MCQ]) -> Iterator[MCQ]:
        cfg = self.config
        recs = list(records)
        by_cell: dict[tuple[str, Any, Any], list[int]] = defaultdict(list)
        for i, r in enumerate(recs):
            d = (r.metadata.difficulty or UNLABELED) if cfg.difficulty else None
            t = (r.metadata.question_type or "none") if cfg.question_types else None
            by_cell[(group_of(r, cfg.synthetic_sources), d, t)].append(i)
        cells = self.cells()
        avail = {c: len(by_cell.get(c, [])) for c in cells}
        total = cfg.total if cfg.total is not None else min(
            (int(math.floor(avail[c] / p + 1e-9)) for c, p in cells.items()), default=0)
        asked = largest_remainder(total, cells)
        rng = np.random.default_rng(cfg.seed)
        chosen: set[int] = set()
        for c in sorted(cells, key=str):
            pool = by_cell.get(c, [])
            take = min(asked[c], len(pool))
            if take:
                chosen.update(int(i) for i in rng.choice(pool, size=take, replace=False))
        self._make_report(total, asked, avail, by_cell, chosen, recs)
        if cfg.total is None and cells:
            c = min(cells, key=lambda c: avail[c] / cells[c])
            name = _label(c)
            self.report["limited_by"] = (f"{name}: {avail[c]} available for a proportion of "
                                         f"{round(cells[c], 4)}, so at most {total} items in all")
        order = rng.permutation(sorted(chosen)) if chosen else []
        for i in order:
            yield recs[int(i)]
        for i, r in enumerate(recs):
            if i not in chosen:
                self.drop(r, "not_selected")

    def _make_report(self, total, asked, avail, by_cell, chosen, recs) -> None:
        label = _label
        got = {c: sum(1 for i in by_cell.get(c, []) if i in chosen) for c in asked}
        short = [{"cell": label(c), "asked": asked[c], "achieved": got[c], "missing": asked[c] - got[c],
                  "why": f"only {avail[c]} items available in this cell after refinement"}
                 for c in asked if got[c] < asked[c]]
        outside = {label(c): len(v) for c, v in by_cell.items() if c not in asked}
        n = max(len(chosen), 1)
        self.report = {
            "seed": self.config.seed, "total_asked": total, "total_achieved": len(chosen),
            "pool": len(recs), "proportions_asked": {label(c): round(p, 4) for c, p in self.cells().items()},
            "cells": {label(c): {"asked": asked[c], "achieved": got[c], "available": avail[c],
                                 "share_achieved": round(got[c] / n, 4)} for c in asked},
            "short": short, "not_in_any_cell": outside,
        }


def _label(cell: tuple) -> str:
    """'synthetic', 'synthetic/Easy', 'synthetic/Easy/diagnosis': the cell's parts that are set."""
    return "/".join(str(x) for x in cell if x is not None)
