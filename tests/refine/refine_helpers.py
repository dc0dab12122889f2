"""Small builders shared by the refinement tests (a module, not conftest, so tests can import it)."""

from __future__ import annotations

from fleming.records import LETTERS, MCQ


def mcq(id: str, question: str, options: list[str], answer: str = "A", source: str = "pool",
        split: str = "train", **extra) -> MCQ:
    """A record from plain values (tests build their own small items with this)."""
    return MCQ(id=id, source=source, split=split, question=question,
               options={LETTERS[i]: o for i, o in enumerate(options)}, answer=[answer],
               metadata={"extra": extra})
