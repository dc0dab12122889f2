"""Medbullets (ChallengeClinicalQA), op4 and op5, as CSV or as pandas column-oriented JSON.

Columns: ``link``, ``question``, ``opa``..``opd`` (``ope`` in op5), ``answer_idx`` (letter), ``answer``
(option text), ``explanation``. Each file has 308 rows but only 298 distinct questions: 10 questions
appear twice under different links. The paper's Medbullets scores are whole numbers over 298 (e.g.
76.51% = 228/298), so the loaders keep the first occurrence of each question and count the rest as
dropped duplicates. In op5 every duplicate is an identical item; in op4 six of the ten carry a
different 4-option subset (sometimes with a different gold letter), which the drop reason says.

Choice (not stated in the paper): the ``medbullets`` evaluation split is **op5**, because its duplicates
are exact copies (de-duplication is unambiguous) and it is the benchmark's harder, original form; op4 is
the ``medbullets_op4`` variant.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import nullcontext
from typing import Any

from fleming.errors import InputError
from fleming.records import LETTERS
from fleming.sources.base import Collector
from fleming.sources.fields import keyed, letter, optional_text, text
from fleming.sources.readers import iter_csv, read_json

OPTION_COLUMN = re.compile(r"^op[a-u]$")
REQUIRED = ("question", "opa", "opb", "answer_idx")


def option_columns(columns: list[str]) -> list[str]:
    return sorted(c for c in columns if OPTION_COLUMN.match(c))


def iter_columnar(col: Collector, rel: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Rows of a column-oriented JSON document {"column": {"0": value, ...}} in index order."""
    path = col.path(rel)
    doc = read_json(path)
    if not isinstance(doc, dict) or not all(isinstance(v, dict) for v in doc.values()):
        raise InputError(path, None, None, 'expected column-oriented JSON {"column": {"0": value, ...}}')
    missing = [c for c in REQUIRED if c not in doc]
    if missing:
        raise InputError(path, None, missing[0], "column missing")
    for key in doc["question"]:
        if not key.isdigit():
            raise InputError(path, None, f"question.{key}", "expected a row index 0, 1, ...")
    for key in sorted(doc["question"], key=int):
        yield key, {c: values.get(key) for c, values in doc.items()}


def add_rows(col: Collector, rel: str, rows: Iterator[tuple[int | str, dict[str, Any]]], kind: str) -> None:
    """Keep the first occurrence of each question; count later ones as duplicates."""
    path = col.data_dir / rel
    seen: dict[str, tuple[dict[str, str], str]] = {}
    for where, row in rows:
        i = col.row()
        line = where if kind == "line" else None
        with keyed(str(where)) if kind == "key" else nullcontext():
            question = text(row, "question", path, line)
            options = {LETTERS[k]: text(row, c, path, line) for k, c in enumerate(option_columns(list(row)))}
            gold = letter(row.get("answer_idx"), path, line, "answer_idx")
            if row.get("answer") is not None and gold in options and options[gold] != row["answer"]:
                raise InputError(path, line, "answer", f"{row['answer']!r:.50} is not option {gold}")
        key = " ".join(question.split())
        if key in seen:
            same = seen[key] == (options, gold)
            col.drop(f"duplicate question ({'identical item' if same else 'different option set'})")
            continue
        seen[key] = (options, gold)
        col.add(i, rel, (kind, where), question=question, options=options, answer=[gold],
                fields={"answer": "answer_idx"},
                extra={"link": optional_text(row, "link"), "explanation": optional_text(row, "explanation")})


def load_csv(col: Collector, rel: str) -> None:
    add_rows(col, rel, iter_csv(col.path(rel), required=REQUIRED), "line")


def load_json(col: Collector, rel: str) -> None:
    add_rows(col, rel, iter_columnar(col, rel), "key")
