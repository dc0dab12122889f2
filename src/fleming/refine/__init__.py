"""Data refinement (RODS' third component): format filter, dedup, decontamination, label check,
anonymization, difficulty, mixing; ``fleming refine CONFIG`` runs them in order (``pipeline``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of ``size`` items (the last may be shorter; none when ``items`` is empty).

    >>> [len(b) for b in batches(range(5), 2)]
    [2, 2, 1]
    """
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
