"""CMExam validation split (kyre-99 xlsx; Chinese): ``Question``, ``Options``, ``Answer``, ``Explanation``.

``Options`` is one cell "A 原发病\\nB 出血部位\\n..." where the separator is a LITERAL backslash-n (two
characters), not a newline; each part is "<letter> <text>". ``Answer`` holds one or more letters
("ABC"); the 210 multi-answer items are kept and flagged ``multi_answer`` (INVENTORY.md's 211 counts
the "nan" answer below as a multi-letter one).

Known quirks, handled rather than raised:
- one row's Answer is the string "nan" (no gold answer): dropped with a reason;
- three rows have a gap in their option letters (B..E, or A, B, D, E): the options are re-lettered
  A.. in order and the answer mapped with them; ``extra["relettered_from"]`` keeps the original letters.
"""

from __future__ import annotations

import re
from typing import Any

from fleming.errors import InputError
from fleming.records import LETTERS
from fleming.sources.base import Collector
from fleming.sources.fields import optional_text, text
from fleming.sources.readers import iter_xlsx

REQUIRED = ("Question", "Options", "Answer")
SEPARATOR = re.compile(r"\\n|\n")  # the literal two characters backslash-n (and, tolerated, a newline)
PART = re.compile(r"^\s*([A-Z])[\s.、:：]\s*(.*?)\s*$", re.S)


def parse_options(cell: str, path, row: int) -> dict[str, str]:
    """"A x\\nB y" -> {"A": "x", "B": "y"} with the source letters (gaps possible, order checked)."""
    options: dict[str, str] = {}
    for k, part in enumerate(p for p in SEPARATOR.split(cell) if p.strip()):
        m = PART.match(part)
        if not m:
            raise InputError(path, row, "Options", f"part {k + 1} is not '<letter> <text>': {part[:30]!r}")
        letter, body = m.groups()
        if options and letter <= list(options)[-1]:
            raise InputError(path, row, "Options", f"letter {letter} out of order after {list(options)}")
        options[letter] = body
    if len(options) < 2:
        raise InputError(path, row, "Options", f"expected at least 2 options, got {len(options)}")
    return options


def answer_letters(cell: Any, path, row: int) -> list[str] | None:
    """"ABC" -> ["A", "B", "C"]; the string "nan" (a missing answer) -> None."""
    value = str(cell).strip() if cell is not None else ""
    if value.lower() in ("", "nan"):
        return None
    if not value.isalpha() or not value.isupper() or len(set(value)) != len(value):
        raise InputError(path, row, "Answer", f"expected letters like 'B' or 'ACD', got {value!r:.20}")
    return list(value)


def reletter(options: dict[str, str], answer: list[str]) -> tuple[dict[str, str], list[str], dict[str, str]]:
    """Close gaps in the letters: ({A.. -> text}, mapped answer, {new letter: original letter}).

    Every answer letter must be among ``options`` (checked by the caller).
    """
    mapping = {old: LETTERS[k] for k, old in enumerate(options)}
    new_opts = {mapping[old]: t for old, t in options.items()}
    new_answer = [mapping[a] for a in answer]
    return new_opts, new_answer, {new: old for old, new in mapping.items()}


def load_cmexam(col: Collector, rel: str) -> None:
    path = col.path(rel)
    for row, obj in iter_xlsx(path, REQUIRED):
        i = col.row()
        answer = answer_letters(obj.get("Answer"), path, row)
        if answer is None:
            col.drop("no gold answer (Answer is 'nan')")
            continue
        options = parse_options(text(obj, "Options", path, row), path, row)
        explanation = optional_text(obj, "Explanation")
        extra: dict[str, Any] = {"explanation": None if explanation == "nan" else explanation}
        if list(options) != list(LETTERS[:len(options)]):
            bad = [a for a in answer if a not in options]
            if bad:
                raise InputError(path, row, "Answer", f"letters {bad} are not among options {list(options)}")
            options, answer, extra["relettered_from"] = reletter(options, answer)
            col.flag("relettered")
        if len(answer) > 1:
            extra["multi_answer"] = True
            col.flag("multi_answer")
        col.add(i, rel, ("row", row), question=text(obj, "Question", path, row), options=options,
                answer=answer, fields={"options": "Options", "answer": "Answer"}, extra=extra)
