"""The MedXpertQA repo's inline format, used for its MedQA, MedMCQA and MMLU-medical inputs.

Each line: ``id``, ``question`` ending in "\\nAnswer Choices: (A) ... (B) ...", ``label`` ["B"], plus
per-benchmark fields that a ``describe`` function maps to (metadata, extra). The choices are parsed out
of the question, which keeps only its stem.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fleming.errors import InputError
from fleming.sources.base import Collector
from fleming.sources.fields import gold_list, optional_text, split_inline_choices, text

Describe = Callable[[dict[str, Any]], tuple[dict[str, Any], dict[str, Any]]]


def source_id(obj: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    return {}, ({"source_id": obj["id"]} if "id" in obj else {})


def medmcqa_fields(obj: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """MedMCQA: subject_name -> subject; topic and the explanation (label_rationale) kept in extra."""
    extra = {"source_id": obj.get("id"), "topic": optional_text(obj, "topic_name"),
             "explanation": optional_text(obj, "label_rationale")}
    return {"subject": optional_text(obj, "subject_name")}, extra


def mmlu_fields(obj: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"subject": optional_text(obj, "subject")}, {}


def load_inline(col: Collector, rel: str, describe: Describe = source_id) -> None:
    for i, path, line, obj in col.jsonl(rel):
        try:
            stem, options = split_inline_choices(text(obj, "question", path, line))
        except ValueError as e:
            raise InputError(path, line, "question", str(e)) from None
        meta, extra = describe(obj)
        col.add(i, rel, ("line", line), question=stem, options=options,
                answer=gold_list(obj.get("label"), path, line, "label"), fields={"answer": "label"},
                meta=meta, extra=extra)
