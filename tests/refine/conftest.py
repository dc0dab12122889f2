"""Fixtures for the refinement tests: registry loads of the real files (cached per session) and helpers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from fleming.records import MCQ
from fleming.refine.decontam import DEFAULT_BENCHMARKS


@pytest.fixture(scope="session")
def records(benchmarks_dir: Path) -> Callable[[str], list[MCQ]]:
    """``records(name)``: a registry loader's records from ../shared/benchmarks, loaded once."""
    from fleming.sources.registry import load

    cache: dict[str, list[MCQ]] = {}

    def get(name: str) -> list[MCQ]:
        if name not in cache:
            cache[name] = load(name, benchmarks_dir).records
        return cache[name]

    return get


@pytest.fixture(scope="session")
def eval_sets(records) -> dict[str, list[MCQ]]:
    """The nine benchmarks of the paper's Table 3."""
    return {name: records(name) for name in DEFAULT_BENCHMARKS}
