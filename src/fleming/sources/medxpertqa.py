"""MedXpertQA Text test (HF ``TsinghuaC3I/MedXpertQA`` exported with ``datasets.to_json``).

Fields: ``id`` (Text-0..), ``question`` (the options are also inlined after "Answer Choices:"),
``options`` {A..J}, ``label`` ("E"), ``medical_task``, ``body_system``, ``question_type``.
The inlined block duplicates ``options``, so it is cut from the question. Where the two disagree (2 items
in the snapshot, one typo and one swapped distractor; neither touches the gold letter) the structured
``options`` win, and the record is flagged ``inline_choices_differ``.
"""

from __future__ import annotations

from fleming.sources.base import Collector
from fleming.sources.fields import (
    CHOICES_MARK,
    letter,
    optional_text,
    options_dict,
    split_inline_choices,
    text,
)


def strip_inline(question: str, options: dict[str, str]) -> tuple[str, bool]:
    """(question without its inlined choices, whether those choices differ from ``options``)."""
    if CHOICES_MARK not in question:
        return question, False
    try:
        stem, inline = split_inline_choices(question)
    except ValueError:
        return question.rpartition(CHOICES_MARK)[0].rstrip(), True
    return stem, inline != options


def load_medxpertqa(col: Collector, rel: str) -> None:
    for i, path, line, obj in col.jsonl(rel):
        options = options_dict(obj.get("options"), path, line, "options")
        stem, differs = strip_inline(text(obj, "question", path, line), options)
        if differs:
            col.flag("inline_choices_differ")
        col.add(i, rel, ("line", line), question=stem, options=options,
                answer=[letter(obj.get("label"), path, line, "label")], fields={"answer": "label"},
                meta={"body_system": optional_text(obj, "body_system"),
                      "question_type": optional_text(obj, "question_type")},
                extra={"source_id": obj.get("id"), "medical_task": optional_text(obj, "medical_task"),
                       "inline_choices_differ": True if differs else None})
