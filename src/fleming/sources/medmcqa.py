"""MedMCQA dev, structured copy (Medpredict): ``question``, ``choices`` ["A. text", ...], ``answer`` (0-3).

The canonical copy (MedXpertQA repo, options inlined in the question, with ids and subjects) is read by
``inline.load_inline`` with ``inline.medmcqa_fields``. This copy has the same rows in the same order,
so it shares their record ids.
"""

from __future__ import annotations

from fleming.errors import InputError
from fleming.records import LETTERS
from fleming.sources.base import Collector
from fleming.sources.fields import lettered, text


def strip_letter_prefixes(choices: list[str], path, line: int) -> list[str]:
    """"A. text" -> "text"; the prefixes must run A., B., ... in order."""
    out = []
    for i, c in enumerate(choices):
        prefix = f"{LETTERS[i]}. "
        if not c.startswith(prefix):
            raise InputError(path, line, "choices", f"choice {i + 1} lacks the prefix {prefix!r}: {c[:20]!r}")
        out.append(c[len(prefix):])
    return out


def load_structured(col: Collector, rel: str) -> None:
    for i, path, line, obj in col.jsonl(rel):
        choices = lettered(obj.get("choices"), path, line, "choices")
        options = dict(zip(choices, strip_letter_prefixes(list(choices.values()), path, line), strict=True))
        gold = obj.get("answer")
        if not isinstance(gold, int) or isinstance(gold, bool) or not 0 <= gold < len(options):
            raise InputError(path, line, "answer", f"expected an index 0-{len(options) - 1}: {gold!r:.30}")
        col.add(i, rel, ("line", line), question=text(obj, "question", path, line), options=options,
                answer=[LETTERS[gold]], fields={"options": "choices"})
