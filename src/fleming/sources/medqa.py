"""MedQA (USMLE): the jind11 format and the Citrus unified format (the inline format is ``inline.py``).

- jind11 (the original release; 4- or 5-option; test, dev and the train sample): ``question``,
  ``options`` {A..}, ``answer_idx`` (letter), ``answer`` (option text), ``meta_info`` (step1 / step2&3).
- Citrus unified: ``id``, ``Q``, ``A`` (letter), ``OP`` [{op_idx, op_value, op_text}].
"""

from __future__ import annotations

from fleming.errors import InputError
from fleming.sources.base import Collector
from fleming.sources.fields import letter, optional_text, options_dict, text


def load_jind11(col: Collector, rel: str) -> None:
    for i, path, line, obj in col.jsonl(rel):
        options = options_dict(obj.get("options"), path, line, "options")
        gold = letter(obj.get("answer_idx"), path, line, "answer_idx")
        answer_text = obj.get("answer")
        if answer_text is not None and gold in options and options[gold] != answer_text:
            raise InputError(path, line, "answer", f"option text {answer_text!r:.60} is not option {gold} "
                             f"({options[gold]!r:.60})")
        extra = {"source_id": obj["realidx"]} if "realidx" in obj else {}
        col.add(i, rel, ("line", line), question=text(obj, "question", path, line), options=options,
                answer=[gold], fields={"answer": "answer_idx"},
                meta={"exam": optional_text(obj, "meta_info")}, extra=extra)


def load_citrus(col: Collector, rel: str) -> None:
    for i, path, line, obj in col.jsonl(rel):
        ops = obj.get("OP")
        if not isinstance(ops, list) or not all(isinstance(o, dict) for o in ops):
            raise InputError(path, line, "OP", f"expected a list of option objects, got {ops!r:.60}")
        try:
            options = options_dict({o["op_idx"]: o["op_value"] for o in ops}, path, line, "OP")
        except KeyError as e:
            raise InputError(path, line, "OP", f"option object without {e}") from None
        col.add(i, rel, ("line", line), question=text(obj, "Q", path, line), options=options,
                answer=[letter(obj.get("A"), path, line, "A")], fields={"answer": "A", "options": "OP"},
                extra={"source_id": obj.get("id")})
