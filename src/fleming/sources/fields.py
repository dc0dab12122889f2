"""Field helpers shared by the loaders: required text, gold letters, lettered options, inline choices."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fleming.errors import InputError
from fleming.records import LETTERS

CHOICES_MARK = "\nAnswer Choices:"  # how the MedXpertQA repo inlines options into the question


def text(obj: dict[str, Any], key: str, path: Path, line: int | None) -> str:
    """A required, non-blank string field."""
    if key not in obj or obj[key] is None or is_nan(obj[key]):
        raise InputError(path, line, key, "missing, expected a non-empty string")
    v = obj[key]
    if not isinstance(v, str):
        raise InputError(path, line, key, f"expected a string, got {type(v).__name__} {v!r:.40}")
    if not v.strip():
        raise InputError(path, line, key, "empty, expected a non-empty string")
    return v


def optional_text(obj: dict[str, Any], key: str) -> str | None:
    """A string field that may be absent, null or NaN (returned as None)."""
    v = obj.get(key)
    return v if isinstance(v, str) and v.strip() else None


def is_nan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def letter(v: Any, path: Path, line: int | None, key: str) -> str:
    """A single gold letter such as "B" (surrounding spaces tolerated)."""
    if isinstance(v, str) and len(v.strip()) == 1 and v.strip() in LETTERS:
        return v.strip()
    raise InputError(path, line, key, f"expected one option letter A-{LETTERS[-1]}, got {v!r:.40}")


def lettered(values: list[Any], path: Path, line: int | None, key: str) -> dict[str, str]:
    """Options given as a list become {"A": first, "B": second, ...}."""
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise InputError(path, line, key, f"expected a list of strings, got {values!r:.60}")
    if len(values) > len(LETTERS):
        raise InputError(path, line, key, f"expected at most {len(LETTERS)} options, got {len(values)}")
    return {LETTERS[i]: v for i, v in enumerate(values)}


def options_dict(v: Any, path: Path, line: int | None, key: str) -> dict[str, str]:
    """Options given as {letter: text}; letters are put in A.. order (record validation checks gaps)."""
    if not isinstance(v, dict) or not all(isinstance(k, str) and isinstance(t, str) for k, t in v.items()):
        raise InputError(path, line, key, f"expected an object of letter -> text, got {v!r:.60}")
    return dict(sorted(v.items()))


def split_inline_choices(question: str) -> tuple[str, dict[str, str]]:
    """Split "stem\\nAnswer Choices: (A) x (B) y ..." into (stem, {"A": "x", "B": "y", ...}).

    Markers are read in letter order: option k ends where " (next letter) " first appears after it, so
    a parenthesised letter inside an option ("Rh(D) positive", "Both (A) & (B)" in the last option) is
    kept as text unless it is exactly the next marker. Raises ValueError when there is no choices block
    or fewer than two choices.

    >>> split_inline_choices("Pick one.\\nAnswer Choices: (A) Rh(D) positive (B) red (C) Both (A) & (B)")
    ('Pick one.', {'A': 'Rh(D) positive', 'B': 'red', 'C': 'Both (A) & (B)'})
    """
    stem, mark, tail = question.rpartition(CHOICES_MARK)
    if not mark:
        raise ValueError(f"no '{CHOICES_MARK.strip()}' block in the question")
    tail = tail.strip()
    if not tail.startswith("(A)"):
        raise ValueError(f"the choices block should start with '(A)', got {tail[:20]!r}")
    options: dict[str, str] = {}
    pos = 3
    for i, cur in enumerate(LETTERS):
        nxt = LETTERS[i + 1] if i + 1 < len(LETTERS) else None
        m = re.compile(rf"\s\({nxt}\)(?=\s|$)").search(tail, pos) if nxt else None
        end = m.start() if m else len(tail)
        options[cur] = tail[pos:end].strip()
        if m is None:
            break
        pos = m.end()
    if len(options) < 2:
        raise ValueError(f"expected at least 2 choices (A), (B), ... in the block, got {len(options)}")
    return stem.rstrip(), options


def gold_list(v: Any, path: Path, line: int | None, key: str) -> list[str]:
    """A label written as a JSON list of letters, e.g. ["B"]."""
    if not isinstance(v, list) or not v:
        raise InputError(path, line, key, f"expected a non-empty list of letters, got {v!r:.40}")
    return [letter(x, path, line, key) for x in v]


@contextmanager
def keyed(key: str) -> Iterator[None]:
    """Errors raised while reading one entry of a JSON document keyed by id name it: field 'KEY.field'."""
    try:
        yield
    except InputError as e:
        raise InputError(e.path, e.line, f"{key}.{e.field}" if e.field else key, e.message) from None
