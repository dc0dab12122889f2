"""A session cache of loads from the real files in ../shared (each loader runs once per test session)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from fleming.sources.base import LoadResult
from fleming.sources.registry import load


@pytest.fixture(scope="session")
def loaded(benchmarks_dir: Path) -> Callable[[str], LoadResult]:
    cache: dict[str, LoadResult] = {}

    def get(name: str) -> LoadResult:
        if name not in cache:
            cache[name] = load(name, benchmarks_dir)
        return cache[name]

    return get


@pytest.fixture
def by_id(loaded):
    """Records of one load keyed by id."""
    return lambda name: {r.id: r for r in loaded(name).records}
