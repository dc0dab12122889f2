"""CareQA, English close-ended (Citrus copy): ``exam_id``, ``question``, ``op1``..``op4``, ``cop`` (the
correct option as a float 1.0-4.0), ``year`` (2020-2024, a float), ``category`` (6 classes), ``unique_id``.

Two lines are rows of bare ``NaN`` (non-standard JSON that Python reads); they are dropped with a reason.
A row where only some fields are NaN is malformed and raises.
"""

from __future__ import annotations

from typing import Any

from fleming.errors import InputError
from fleming.records import LETTERS
from fleming.sources.base import Collector
from fleming.sources.fields import is_nan, optional_text, text

OPTION_FIELDS = ("op1", "op2", "op3", "op4")


def whole(v: Any) -> int | None:
    """2024.0 -> 2024; NaN, infinite, fractional, absent or non-numeric -> None."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    if isinstance(v, float) and not v.is_integer():
        return None
    return int(v)


def cop_letter(v: Any, n: int, path, line: int) -> str:
    """1.0 -> "A" ... n -> the n-th letter."""
    k = whole(v)
    if k is None or not 1 <= k <= n:
        raise InputError(path, line, "cop", f"expected a whole number 1-{n}, got {v!r:.40}")
    return LETTERS[k - 1]


def load_careqa(col: Collector, rel: str) -> None:
    for i, path, line, obj in col.jsonl(rel):
        if obj and all(is_nan(v) for v in obj.values()):
            col.drop("row of bare NaN values")
            continue
        question = text(obj, "question", path, line)
        options = {LETTERS[k]: text(obj, f, path, line) for k, f in enumerate(OPTION_FIELDS)}
        year = whole(obj.get("year"))
        col.add(i, rel, ("line", line), question=question, options=options,
                answer=[cop_letter(obj.get("cop"), len(options), path, line)],
                meta={"subject": optional_text(obj, "category"), "exam": None if year is None else str(year)},
                extra={"source_id": optional_text(obj, "unique_id"), "exam_id": whole(obj.get("exam_id"))})
