"""JMED, the early 1094-item, 5-option release (Citrus xlsx; Chinese). Not the later 1000-item,
21-option (A-U) release the paper used, which is only on the Hugging Face hub.

Columns used: ``final_question``, ``final_options`` (a JSON string ``{"options": {"A": ..., ...}}``),
``final_correct_answer`` (a Python-literal list written as the string ``"['A']"``), ``diagId``,
``score`` and ``qwen_score`` (kept in metadata; 874 items have qwen_score 1). One item lists its option
keys out of order (B..E, A); options are put back in letter order, which keeps every letter's text.
"""

from __future__ import annotations

import ast
import json
from typing import Any

from fleming.errors import InputError
from fleming.sources.base import Collector
from fleming.sources.fields import gold_list, options_dict, text
from fleming.sources.readers import iter_xlsx

REQUIRED = ("final_question", "final_options", "final_correct_answer")


def parse_options(cell: Any, path, row: int) -> tuple[dict[str, str], bool]:
    """(options in letter order, whether the cell listed them out of order)."""
    try:
        doc = json.loads(cell) if isinstance(cell, str) else None
    except json.JSONDecodeError as e:
        raise InputError(path, row, "final_options", f"invalid JSON: {e.msg} (column {e.colno})") from None
    if not isinstance(doc, dict) or "options" not in doc:
        expected = 'expected JSON {"options": {"A": ...}}'
        raise InputError(path, row, "final_options", f"{expected}, got {cell!r:.60}")
    raw = doc["options"]
    options = options_dict(raw, path, row, "final_options")
    return options, list(raw) != list(options)


def parse_answer(cell: Any, path, row: int) -> list[str]:
    """"['A']" -> ["A"]; a literal list of letters, read safely with ``ast.literal_eval``."""
    try:
        value = ast.literal_eval(cell) if isinstance(cell, str) else cell
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        value = cell
    return gold_list(value, path, row, "final_correct_answer")


def load_jmed(col: Collector, rel: str) -> None:
    path = col.path(rel)
    for row, obj in iter_xlsx(path, REQUIRED):
        i = col.row()
        options, reordered = parse_options(obj.get("final_options"), path, row)
        if reordered:
            col.flag("options_reordered")
        col.add(i, rel, ("row", row), question=text(obj, "final_question", path, row), options=options,
                answer=parse_answer(obj.get("final_correct_answer"), path, row),
                fields={"options": "final_options", "answer": "final_correct_answer"},
                extra={"source_id": None if obj.get("diagId") is None else str(obj["diagId"]),
                       "score": obj.get("score"), "qwen_score": obj.get("qwen_score")})
