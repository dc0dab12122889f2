"""MMLU-Pro (TIGER schema), biology and health: ``question_id``, ``question``, ``options`` (a list of 3 to
10 strings), ``answer`` (letter), ``answer_index``, ``category``, ``src`` (original source, e.g.
"ori_mmlu-virology"). Option counts vary per item; letters follow list order.
"""

from __future__ import annotations

from fleming.errors import InputError
from fleming.records import LETTERS
from fleming.sources.base import Collector
from fleming.sources.fields import letter, lettered, optional_text, text


def load_mmlu_pro(col: Collector, rel: str) -> None:
    for i, path, line, obj in col.jsonl(rel):
        options = lettered(obj.get("options"), path, line, "options")
        gold = letter(obj.get("answer"), path, line, "answer")
        idx = obj.get("answer_index")
        if idx is not None and (not isinstance(idx, int) or LETTERS[:len(options)][idx:idx + 1] != gold):
            raise InputError(path, line, "answer_index", f"{idx!r} does not point at answer {gold!r}")
        col.add(i, rel, ("line", line), question=text(obj, "question", path, line), options=options,
                answer=[gold], meta={"subject": optional_text(obj, "category")},
                extra={"source_id": obj.get("question_id"), "src": optional_text(obj, "src")})
