"""The multiple-choice record that flows through every stage.

Options are ordered and lettered consecutively from A (2 to 21 options, A..U). ``answer`` holds one or
more gold letters (CMExam has multi-answer items). Record validation is structural; content checks
(empty or duplicate option text, markup, encoding) belong to the refine format filter, which must be able
to see such records to count them.
"""

from __future__ import annotations

import json
import string
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

LETTERS = string.ascii_uppercase[:21]  # A..U
MIN_OPTIONS, MAX_OPTIONS = 2, 21


class Metadata(BaseModel):
    """Descriptive fields; ``extra`` holds anything source-specific (synthesis provenance, scores...)."""

    model_config = ConfigDict(extra="forbid")

    subject: str | None = None
    body_system: str | None = None
    question_type: str | None = None
    exam: str | None = None  # exam step ("step1", "step2&3") or year
    difficulty: str | None = None  # Easy | Moderate | Difficult
    difficulty_source: str | None = None  # llm | empirical | kg | ...
    provenance: dict[str, Any] = Field(default_factory=dict)  # file, sha256, row, ...
    extra: dict[str, Any] = Field(default_factory=dict)


class MCQ(BaseModel):
    """One multiple-choice question.

    >>> q = MCQ(id="x1", source="demo", split="test", question="2+2?", options={"A": "3", "B": "4"},
    ...         answer=["B"])
    >>> q.answer_text
    '4'
    """

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    source: str = Field(min_length=1)
    split: str = Field(min_length=1)
    question: str
    options: dict[str, str]
    answer: list[str]
    context: str | None = None
    language: str = "en"
    metadata: Metadata = Field(default_factory=Metadata)

    @field_validator("question")
    @classmethod
    def _question_not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("question is empty")
        return v

    @field_validator("options")
    @classmethod
    def _options_lettered(cls, v: dict[str, str]) -> dict[str, str]:
        n = len(v)
        if not MIN_OPTIONS <= n <= MAX_OPTIONS:
            raise ValueError(f"expected {MIN_OPTIONS} to {MAX_OPTIONS} options, got {n}")
        if list(v) != list(LETTERS[:n]):
            raise ValueError(f"option letters must be A..{LETTERS[n - 1]} in order, got {list(v)}")
        return v

    @field_validator("answer")
    @classmethod
    def _answer_in_options(cls, v: list[str], info: ValidationInfo) -> list[str]:
        if not v:
            raise ValueError("at least one gold letter is required")
        if len(set(v)) != len(v):
            raise ValueError(f"repeated letters {v}")
        options = info.data.get("options")
        if options is not None:  # None: options already failed their own check
            bad = [a for a in v if a not in options]
            if bad:
                raise ValueError(f"letters {bad} are not among the options {list(options)}")
        return v

    @property
    def letters(self) -> list[str]:
        return list(self.options)

    @property
    def answer_text(self) -> str:
        return "; ".join(self.options[a] for a in self.answer)

    @property
    def is_multi_answer(self) -> bool:
        return len(self.answer) > 1

    # ---- flat form: one row of plain columns, for Parquet and Hugging Face datasets ----
    def to_row(self) -> dict[str, Any]:
        """Columns with fixed types: options become a list (letters are implied by position)."""
        return {
            "id": self.id,
            "source": self.source,
            "split": self.split,
            "question": self.question,
            "options": list(self.options.values()),
            "answer": list(self.answer),
            "context": self.context,
            "language": self.language,
            "metadata": self.metadata.model_dump_json(),
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> MCQ:
        opts = row["options"]
        if isinstance(opts, dict):
            options = dict(opts)
        else:
            options = {LETTERS[i]: t for i, t in enumerate(opts)} if len(opts) <= MAX_OPTIONS else opts
        meta = row.get("metadata") or {}
        if isinstance(meta, str):
            meta = json.loads(meta)
        return cls(
            id=row["id"], source=row["source"], split=row["split"], question=row["question"],
            options=options, answer=_answer_list(row["answer"]), context=row.get("context"),
            language=row.get("language") or "en", metadata=meta,
        )


def _answer_list(value: Any) -> Any:
    """A flat row's answer column: a list as it is; a string is one value ("BAD" is not B, A, D)."""
    return [value] if isinstance(value, str) else list(value) if isinstance(value, list | tuple) else value


def first_error(err: ValidationError) -> tuple[str, str]:
    """(field, message) of the first problem in a pydantic error, for one-line reports."""
    e = err.errors()[0]
    field = ".".join(str(p) for p in e["loc"]) or "record"
    msg = e["msg"].removeprefix("Value error, ")
    return field, msg
