"""The one answer grader, shared by evaluation and the RL rewards.

Two readers of a response:
- ``check_format`` (strict, for the format reward): one ``<think>...</think>``, then one
  ``<answer>X</answer>``, nothing after.
- ``extract_answer`` (lenient, for evaluation and the correctness reward), an ordered cascade:
  1. the last ``<answer>...</answer>`` tag (authoritative when present);
  2. the last answer statement: "answer is (X)", "Answer: X", "Final Answer: X", "X is the correct
     answer", ``\\boxed{X}``, Chinese "答案是X" / "答案：X" / "故选X"; then a bold letter (``**X**``)
     alone on the last line;
  3. a unique option-text match in the answer slot, or of the whole final text;
  4. else None (unparsed).

Precision over recall: a letter is taken only from a statement that commits to it. A letter mentioned
in the reasoning ("B is wrong"), after the final answer, in a hedge ("A or C"), in a conditional ("if
the answer is B"), outside the item's options, or in an output whose ``<think>`` never closed
(truncated) gives None; so does a final answer followed by a change of mind ("Wait, actually C").
There is no "last letter anywhere in the text" fallback and no best-of-first/last: the last statement
that has an answer slot decides, and when that slot is empty, hedged or out of range the answer is
None, never an earlier statement. (The official MMLU-Pro harness guesses in these cases; see
docs/extraction-disagreements.md.)

The paper only says the model is told to answer inside ``<answer></answer>``; the cascade beyond the
tag is ours, so that models which ignore the format are still scored fairly.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from fleming.records import LETTERS, MAX_OPTIONS, MIN_OPTIONS

Status = Literal["correct", "wrong", "unparsed"]


@dataclass(frozen=True)
class Grade:
    status: Status
    extracted: list[str] | None  # sorted letters, or None when unparsed


# ---------------------------------------------------------------- answer slots
class _NoSlot:
    """The text after a cue is prose, not an answer slot ("the answer is related to ...")."""


NO_SLOT = _NoSlot()
Parsed = list[str] | None | _NoSlot  # letters | a slot that commits to nothing | no slot here
_FULLWIDTH = str.maketrans("（）【】［］：，。；、！？　", "()[][]:,.;,!? ")
_FILLER = re.compile(r"(?i)(?:the|options?|choices?|letter|closest\s+to|most\s+likely|likely|probably"
                     r"|definitely|clearly)\s+|选项\s*|选\s*")
_TOKEN = re.compile(r"\(\s*([A-Za-z])\s*\)|\[([A-Z])\]|([A-Z])(?![A-Za-z0-9'’\-])")
_RUN = re.compile(r"[A-Z]{2,}(?![A-Za-z0-9'’\-])")  # "ABD": multi-answer, after Chinese cues and in tags
_AND = re.compile(r"\s*(?:[,;]\s*(?:and\s+)?|&|\+|\band\b|和|及|与)\s*")
_EITHER = re.compile(r"(?i)(?:either|between)\s+")
_OR_NOW = re.compile(r"\s*,?\s*(?:\bor\b|或者?|还是|/)\s*\(?[A-Z](?![a-z])")  # "B or C", "B/C", "B或C"
# a letter named in passing; bare "A" and "I" are left out (the article, the pronoun)
_MENTION = (r"(?:\(\s*[A-Z]\s*\)|\b(?i:option|choice)\s+[A-Z]\b|(?<![A-Za-z0-9])(?:[B-HJ-Z](?![A-Za-z0-9])"
            r"|[AI](?=[\u4e00-\u9fff])))")
_OR_LATER = re.compile(r"[^.\n]{0,12}?(?:\bor\b|或|还是)[^.\n]{0,30}?" + _MENTION)
_AFTER_LETTER = re.compile(r"(?i)[.,;:!?)\]}\u4e00-\u9fff]|\s*$|\s*\n|\s+(?:[-–—(:]|(?:because|since|as|"
                           r"which|is|was|due|for|not|rather|instead|over)\b)")


def _normalize(text: str) -> str:
    """Markdown and LaTeX wrappers off, full-width punctuation to ASCII (for cues and slots)."""
    text = text.translate(_FULLWIDTH)
    text = re.sub(r"\\(?:text|textbf|mathrm|mathbf)\{([^{}]*)\}", r"\1", text)
    return re.sub(r"\*\*|__|`|\$", "", text)


def _norm_text(text: str) -> str:
    return " ".join(text.casefold().split()).strip(" .,;:!\"'")


def _letters_at(s: str, runs: bool) -> tuple[list[str], int, bool]:
    """(letters, end, bare) for the letter list at the start of ``s``: "B", "(B)", "A, C", "ABD"."""
    if runs and (m := _RUN.match(s)):
        return list(m.group(0)), m.end(), True
    letters: list[str] = []
    pos, bare = 0, False
    while m := _TOKEN.match(s, pos):
        letters.append((m.group(1) or m.group(2) or m.group(3)).upper())
        pos, bare = m.end(), m.group(3) is not None
        sep = _AND.match(s, pos)
        if not (sep and _TOKEN.match(s, sep.end())):
            break
        pos = sep.end()
    return letters, pos, bare


def _parse_slot(span: str, options: Mapping[str, str], runs: bool = False) -> Parsed:
    """The letters an answer slot commits to; None when the slot is empty, hedged or out of range.

    A bare letter must end the clause ("B.", "B because", "B. Insulin"), so that "A patient ..." or
    "I think ..." are not read as letters.
    """
    s = span.lstrip(" \t\n:=-#")
    explicit, hedged = s.startswith(("(", "[")), False
    while m := _FILLER.match(s) or _EITHER.match(s):
        s, hedged = s[m.end():], hedged or m.re is _EITHER
    letters, end, bare = _letters_at(s, runs)
    if not letters:
        return None if explicit else NO_SLOT
    rest = s[end:]
    if rest.lstrip(")] ").startswith("?"):
        return NO_SLOT  # "so the answer is B?" asks, it does not commit
    if hedged or _OR_NOW.match(rest):
        return None
    if bare and not _AFTER_LETTER.match(rest) and not (
            len(letters) == 1 and letters[0] in options and _starts_with_option(rest, options[letters[0]])):
        return None if explicit else NO_SLOT
    if _OR_LATER.match(rest) or len(set(letters)) != len(letters) or any(x not in options for x in letters):
        return None
    return sorted(letters)


def _starts_with_option(rest: str, option_text: str) -> bool:
    head = _norm_text(option_text)[:12]
    return bool(head) and _norm_text(rest).startswith(head)


def _match_option_text(span: str, options: Mapping[str, str], prefix: bool = True) -> list[str] | None:
    """The one option whose text the span is (or, with ``prefix``, starts with at a word boundary)."""
    s = _norm_text(_normalize(span))
    if not s or s.startswith(("not ", "none ")):
        return None
    texts = {k: _norm_text(v) for k, v in options.items()}
    exact = [k for k, t in texts.items() if t and s == t]
    if exact or not prefix:
        return exact if len(exact) == 1 else None
    starts = [k for k, t in texts.items() if t and s.startswith(t) and not s[len(t)].isalnum()]
    return starts if len(starts) == 1 else None


# ---------------------------------------------------------------- the cascade
_THINK_OPEN, _THINK_CLOSE = "<think>", "</think>"
_OPEN_TAG, _CLOSE_TAG = "<answer>", "</answer>"
_CUT_BODY = re.compile(r"\s*\(?[A-Z]\)?(?:\s*,\s*\(?[A-Z]\)?)*\s*")  # after an "<answer>" left open
_CUES = re.compile(
    r"(?i:\banswers?\s*(?:is|are|would\s+be|should\s+be|must\s+be|will\s+be)\b\s*:?"
    r"|\banswers?\s*:|\bfinal\s+answer\b(?=[ \t]*\n)"
    r"|\b(?:correct|best|right|final)\s+(?:option|choice|response)\s+(?:is|would\s+be)\b\s*:?"
    r"|\bI\s+(?:would\s+)?(?:choose|select|pick)\b)"
    r"|(?:正确|最终|最佳)?答案\s*(?:应该?[是为]|[是为选]|:)"
    r"|(?:故|所以|因此|因而|综上|本题|应)[,\s]*(?:本题)?应?选(?:择)?\s*:?"
)
_REVERSE = re.compile(r"(?<![A-Za-z])(?:(?i:option|choice)\s+)?\(?([A-Z])\)?\s+is\s+the\s+"
                      r"(?i:correct|right|best)\s+(?i:answer|option|choice)\b")
_CONDITIONAL = re.compile(r"(?:(?i:\b(?:if|whether|unless|suppose|assuming)\b)|如果|假如|若)[^.,\n:]*$")
_REOPEN = re.compile(r"(?:(?i:\b(?:wait|actually|on second thought|correction|reconsider|instead)\b)"
                     r"|等等|更正|其实)[^\n]{0,80}?" + _MENTION)  # the answer is re-opened after it was given
_WHOLE = re.compile(r"(?:(?i:option|choice)\s+)?\(?([A-Z])\)?(?:[.):]?\s+(.+)|[.)]?)", re.S)
_BOXED = re.compile(r"\\boxed\{((?:[^{}]|\{[^{}]*\})*)\}")
_BOLD_LINE = re.compile(r"(?P<lead>[^*\n]{0,60}?)\*\*(?P<inner>[^*\n]+)\*\*\s*[.。]?\s*")


def final_segment(response: str, think_opened: bool = False) -> str | None:
    """The text that may hold the final answer: after the last ``</think>``.

    None when a think block was opened (by the response, or by the chat template when
    ``think_opened``) and never closed: the output was cut off inside its reasoning.
    """
    if _THINK_CLOSE in response:
        return response.rsplit(_THINK_CLOSE, 1)[1]
    if think_opened or _THINK_OPEN in response:
        return None
    return response


def _from_tag(segment: str, options: Mapping[str, str]) -> Parsed:
    """Step 1: the last ``<answer>`` tag: letters, a statement inside it, or an option's text."""
    tag = _last_tag(segment)
    if tag is None:
        return NO_SLOT
    body, end = _normalize(tag[0]).strip(), tag[1]
    parsed = _parse_slot(body, options, runs=True)
    if parsed is NO_SLOT:
        parsed = _from_statements(body, options)
    if not isinstance(parsed, list):
        return _match_option_text(_last_statement_text(body) or body, options)
    return None if _REOPEN.search(segment[end:]) else parsed


def _last_tag(segment: str) -> tuple[str, int] | None:
    """(body, end) of the last ``<answer>`` tag, found in linear time (a regex is quadratic on junk).

    An ``<answer>`` left open at the very end counts when only letters follow it: "</answer>" was
    the generation's stop string.
    """
    low = segment.lower()
    close, last_open = low.rfind(_CLOSE_TAG), low.rfind(_OPEN_TAG)
    if last_open > close and _CUT_BODY.fullmatch(segment, last_open + len(_OPEN_TAG)):
        return segment[last_open + len(_OPEN_TAG):], len(segment)
    start = low.rfind(_OPEN_TAG, 0, close) if close >= 0 else -1
    if start < 0:
        return None
    return segment[start + len(_OPEN_TAG):close], close + len(_CLOSE_TAG)


def _cues(text: str) -> list[re.Match[str]]:
    """Answer cues, leaving out conditional ones ("if the answer is B, ...")."""
    return [m for m in _CUES.finditer(text)
            if not _CONDITIONAL.search(text[max(0, m.start() - 40):m.start()])]


def _from_statements(segment: str, options: Mapping[str, str]) -> Parsed:
    """Step 2: the last answer statement that has a slot decides; then a bold letter on the last line."""
    text = _normalize(segment)
    found: list[tuple[int, int, list[str] | None]] = []  # (start, end, letters)
    for m in _cues(text):
        parsed = _parse_slot(text[m.end():m.end() + 300], options, runs=not m.group(0).isascii())
        if parsed is not NO_SLOT:
            found.append((m.start(), m.end(), parsed))
    for m in _REVERSE.finditer(text):
        found.append((m.start(), m.end(), [m.group(1)] if m.group(1) in options else None))
    for m in _BOXED.finditer(text):
        parsed = _parse_slot(m.group(1).strip(), options, runs=True)
        found.append((m.start(), m.end(), None if parsed is NO_SLOT else parsed))
    if not found:
        return _bold_last_line(segment, options)
    _, end, letters = max(found, key=lambda f: f[0])
    after = re.split(r"(?<=[.!?])\s*|\n", text[end:].lstrip(), maxsplit=1)[1:]  # past the statement
    return None if after and _REOPEN.search(after[0]) else letters


def _bold_last_line(segment: str, options: Mapping[str, str]) -> Parsed:
    """"**B**" or "Therefore: **B. Insulin**" as the last line of the response."""
    lines = [ln.strip() for ln in segment.strip().splitlines() if ln.strip()]
    m = _BOLD_LINE.fullmatch(lines[-1]) if lines else None
    if m is None or re.search(r"(?i)\bnot\b|不", m["lead"]):
        return NO_SLOT
    lead = m["lead"].strip()
    if lead and not re.search(r"(?i)(?:[:：]|\bis|是)$", lead):
        return NO_SLOT
    return _parse_slot(_normalize(m["inner"]), options)


def _last_statement_text(segment: str) -> str | None:
    """The words after the last answer cue, to the end of that sentence (for step 3)."""
    text = _normalize(segment)
    starts = [m.end() for m in _cues(text)]
    if not starts:
        return None
    return re.split(r"(?<=[.!?])\s|\n", text[starts[-1]:].strip(), maxsplit=1)[0]


def extract_answer(response: str, options: Mapping[str, str], *, think_opened: bool = False
                   ) -> list[str] | None:
    """Letters the response commits to (sorted), or None.

    >>> extract_answer("Insulin lowers glucose. The answer is (B).", {"A": "Glucagon", "B": "Insulin"})
    ['B']
    >>> extract_answer("It is either A or B.", {"A": "x", "B": "y"}) is None
    True
    """
    segment = final_segment(response, think_opened)
    if segment is None or not segment.strip():
        return None
    for step in (_from_tag, _from_statements):
        parsed = step(segment, options)
        if parsed is not NO_SLOT:
            return parsed  # type: ignore[return-value]
    span = _last_statement_text(segment)
    if span is not None:  # step 3: "The answer is insulin."
        return _match_option_text(span, options)
    return _whole_is_option(segment, options)


def _whole_is_option(segment: str, options: Mapping[str, str]) -> list[str] | None:
    """The whole response is one option: "B", "(B)", "Option B", "B. Insulin" or "Insulin"."""
    m = _WHOLE.fullmatch(_normalize(segment).strip())
    if m and m[1] in options and (not m[2] or _norm_text(m[2]) == _norm_text(options[m[1]])):
        return [m[1]]
    return _match_option_text(segment, options, prefix=False)


# ---------------------------------------------------------------- strict format (reward)
_STRICT = re.compile(r"\s*<think>(?P<think>.*?)</think>\s*<answer>(?P<answer>.*?)</answer>\s*", re.S)
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


def coerce_gold(value: Any, options: Mapping[str, str]) -> list[str]:
    """Gold letters from a letter ("B"), letters ("ABD", "A, C"), a list of letters, or a 0-based index."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"expected a letter, a list of letters or a 0-based index, got {value!r}")
    if isinstance(value, int):
        if not 0 <= value < len(options):
            raise ValueError(f"index {value} is outside 0..{len(options) - 1}")
        return [LETTERS[value]]
    items = value if isinstance(value, list | tuple) else re.findall(r"[A-Za-z]", str(value))
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
