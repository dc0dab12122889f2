"""The one answer grader, shared by evaluation and the RL rewards.

Two readers of a response:
- ``check_format`` (strict, for the format reward): one ``<think>...</think>``, then one
  ``<answer>X</answer>``, nothing after.
- ``extract_answer`` (lenient, for evaluation and the correctness reward): the ordered cascade of
  ``fleming.extraction`` (tag, JSON field, answer statements and the concluding sentence, the
  opening line, the whole response), which reads the answer a response commits to and returns None
  where it commits to nothing. Its rules, in order, with a real example each: docs/extraction-rules.md.

The paper only says the model is told to answer inside ``<answer></answer>``; the cascade beyond the
tag is ours, so that models which ignore the format are still scored fairly.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from fleming.extraction import extract_answer, final_segment
from fleming.records import LETTERS, MAX_OPTIONS, MIN_OPTIONS

__all__ = ["Grade", "check_format", "coerce_gold", "coerce_options", "completion_text", "correctness_reward",
           "extract_answer", "final_segment", "format_reward", "grade", "summarize"]

Status = Literal["correct", "wrong", "unparsed"]


@dataclass(frozen=True)
class Grade:
    status: Status
    extracted: list[str] | None  # sorted letters, or None when unparsed


# ---------------------------------------------------------------- strict format (reward)
_STRICT = re.compile(r"\s*<think>(?P<think>.*?)</think>\s*<answer>(?P<answer>.*?)</answer>\s*", re.S)
_THINK_OPEN = "<think>"
_TAGS = ("<think>", "</think>", "<answer>", "</answer>")
_LETTER_LIST = re.compile(r"\s*[A-U](?:\s*,\s*[A-U])*\s*")


def check_format(response: str, think_opened: bool = False) -> bool:
    """Exactly one ``<think>...</think>`` then exactly one ``<answer>X</answer>``, nothing after.

    X is one letter or a comma-separated list ("A, C"). With ``think_opened`` the chat template
    already wrote ``<think>``, so the completion starts inside the reasoning.

    >>> check_format("<think>B fits.</think>\\n<answer>B</answer>")
    True
    >>> check_format("B fits.</think><answer>B</answer>", think_opened=True)
    True
    """
    text = _THINK_OPEN + response if think_opened else response
    m = _STRICT.fullmatch(text)
    if m is None or any(tag in m["think"] or tag in m["answer"] for tag in _TAGS):
        return False
    return _LETTER_LIST.fullmatch(m["answer"]) is not None


# ---------------------------------------------------------------- scoring
def grade(response: str, options: Mapping[str, str], gold: Sequence[str], *, think_opened: bool = False
          ) -> Grade:
    """Correct only when the extracted letter set equals the gold set."""
    extracted = extract_answer(response, options, think_opened=think_opened)
    if extracted is None:
        return Grade("unparsed", None)
    return Grade("correct" if set(extracted) == set(gold) else "wrong", extracted)


def summarize(grades: Iterable[Grade]) -> dict[str, Any]:
    """Counts, accuracy over all items (unparsed count as wrong), its standard error, unparsed rate."""
    counts = {"correct": 0, "wrong": 0, "unparsed": 0}
    for g in grades:
        counts[g.status] += 1
    n = sum(counts.values())
    acc = counts["correct"] / n if n else 0.0
    return {"n": n, **counts, "accuracy": acc, "stderr": math.sqrt(acc * (1 - acc) / n) if n else 0.0,
            "unparsed_rate": counts["unparsed"] / n if n else 0.0}


# ---------------------------------------------------------------- columns from other harnesses
def coerce_options(value: Any) -> dict[str, str]:
    """Options as a letter->text dict, from a list of texts (letters A.. implied) or such a dict.

    Raises ValueError saying what was expected.
    """
    if isinstance(value, Mapping):
        keys = [str(k).strip().upper() for k in value]
        texts = list(value.values())
    elif isinstance(value, list | tuple):
        keys, texts = list(LETTERS[:len(value)]), list(value)
    else:
        raise ValueError("expected a list of option texts or a dict letter->text, "
                         f"got {type(value).__name__}")
    if not MIN_OPTIONS <= len(texts) <= MAX_OPTIONS:
        raise ValueError(f"expected {MIN_OPTIONS} to {MAX_OPTIONS} options, got {len(texts)}")
    if keys != list(LETTERS[:len(keys)]):
        raise ValueError(f"option letters must be A..{LETTERS[len(keys) - 1]} in order, got {keys}")
    if not all(isinstance(t, str) for t in texts):
        raise ValueError("every option text must be a string")
    return dict(zip(keys, texts, strict=True))


_SEPARATED = re.compile(r"[A-Za-z](?:\s*(?:,|;|/|&|\band\b|\s)\s*[A-Za-z])*", re.IGNORECASE)


def gold_letters(value: Any) -> list[str]:
    """The letters of a string gold: upper-case letters run together ("ABD"), or single letters apart
    ("A, C", "b and d"); a word such as "bad" is not letters.

    >>> gold_letters("ABD"), gold_letters("(b)"), gold_letters("a, c")
    (['A', 'B', 'D'], ['b'], ['a', 'c'])
    >>> gold_letters("bad")
    Traceback (most recent call last):
    ValueError: expected a letter, letters ('ABD', 'A, C'), a list of letters or a 0-based index, got 'bad'
    """
    s = str(value).strip().strip("().").strip()
    if re.fullmatch(r"[A-Z]+", s):
        return list(s)
    if _SEPARATED.fullmatch(s):
        return re.findall(r"(?<![A-Za-z])[A-Za-z](?![A-Za-z])", s)
    raise ValueError(f"expected a letter, letters ('ABD', 'A, C'), a list of letters or a 0-based index, "
                     f"got {value!r}")


def coerce_gold(value: Any, options: Mapping[str, str]) -> list[str]:
    """Gold letters from a letter ("B"), letters ("ABD", "A, C"), a list of letters, or a 0-based index."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"expected a letter, a list of letters or a 0-based index, got {value!r}")
    if isinstance(value, int):
        if not 0 <= value < len(options):
            raise ValueError(f"index {value} is outside 0..{len(options) - 1}")
        return [LETTERS[value]]
    items = value if isinstance(value, list | tuple) else gold_letters(value)
    letters = [LETTERS[x] if isinstance(x, int) and not isinstance(x, bool) and 0 <= x < len(options)
               else str(x).strip().upper() for x in items]
    if not letters or any(x not in options for x in letters) or len(set(letters)) != len(letters):
        raise ValueError(f"expected distinct letters among {list(options)}, got {value!r}")
    return sorted(letters)


# ---------------------------------------------------------------- TRL-style rewards
def completion_text(completion: str | Sequence[Mapping[str, str]]) -> str:
    """A completion's text: the string itself, or the last message's content in a chat completion."""
    if isinstance(completion, str):
        return completion
    return completion[-1]["content"] if completion else ""


def correctness_reward(completions: Sequence[Any], options: Sequence[Any], answer: Sequence[Any],
                       **kwargs: Any) -> list[float]:
    """1.0 when the lenient extraction equals the gold letters, else 0.0 (one value per completion).

    ``options``/``answer`` are the dataset columns (flat rows: a list of texts and a list of letters).
    Each completion is scored on its own; no group statistics (groups are split across processes).
    """
    opened = kwargs.get("think_opened") is True  # a bool from fleming.train.rewards, never a dataset column

    def correct(completion: Any, opts: Mapping[str, str], gold: Any) -> bool:
        g = grade(completion_text(completion), opts, coerce_gold(gold, opts), think_opened=opened)
        return g.status == "correct"

    rows = zip(completions, options, answer, strict=True)
    return [float(correct(c, coerce_options(o), a)) for c, o, a in rows]


def format_reward(completions: Sequence[Any], **kwargs: Any) -> list[float]:
    """1.0 when the completion passes ``check_format``, else 0.0."""
    opened = kwargs.get("think_opened") is True
    return [float(check_format(completion_text(c), think_opened=opened)) for c in completions]
