"""The lenient answer reader: an ordered cascade over the text after the last ``</think>``.

1. the last ``<answer>...</answer>`` tag (authoritative when present);
2. the last JSON ``"answer"`` field (``{"answer": "D", ...}``, ``"answer_choice": "A. Text"``);
3. the last answer statement anywhere in the text decides: "answer is (X)", "Answer: X", "Final
   Answer: X", "X is the correct answer", ``\\boxed{X}`` (or ``\\boxed{no}``), Chinese "答案是X" /
   "答案：X" / "故选X" / "因此C正确"; the concluding sentence that names one option ("The most
   likely diagnosis is (D).", "option D, <text>, is the correct ..."); an option alone on the last
   line after a lead-in ("... is:" / "(H) Text") or as "Option D: Text"; a tick list with one option
   ticked; "... so C." as the last words; else a bold letter (``**X**``) alone on the last line;
4. the option text in the last statement's slot ("The answer is insulin.");
5. the response opens with its option on a line of its own, then explains ("D. Text" / "", "###
   Explanation: ...");
6. the whole response is one option: its letter, or its text up to typography;
7. else None (unparsed).

Precision over recall: a letter is taken only from a statement that commits to it, at a place where
responses commit (a tag, a JSON field, a statement, the last sentence or line, the opening line). A
letter mentioned in the reasoning ("B is wrong"), in a hedge ("A or C"), in a conditional ("if the
answer is B"), outside the item's options, quoted with another option's text, in an output whose
``<think>`` never closed (truncated), or re-opened right after the answer ("Wait, actually C") gives
None. There is no "last letter anywhere in the text" fallback and no best-of-first/last. (The
official MMLU-Pro harness guesses in these cases; see docs/extraction-disagreements.md.) The rules in
order, each with an example (a real one where ../shared holds one), are in docs/extraction-rules.md.

The paper only says the model is told to answer inside ``<answer></answer>``; the cascade beyond the
tag is ours, so that models which ignore the format are still scored fairly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from fleming.extraction import rules
from fleming.extraction.slots import (
    MENTION,
    NO_SLOT,
    Parsed,
    fuzzy_option,
    match_option_text,
    norm_text,
    normalize,
    parse_slot,
)

__all__ = ["extract_answer", "final_segment"]

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
    r"|(?:故|所以|因此|综上(?:所述)?)[,\s]*(?=[A-Z](?:[A-Z,和及与]*[A-Z])?\s*项?(?:正确|最可能|最符合|符合|为正确答案))"
)
_REVERSE = re.compile(r"(?<![A-Za-z])(?:(?i:option|choice)\s+)?\(?([A-Z])\)?\s+is\s+the\s+"
                      r"(?i:correct|right|best)\s+(?i:answer|option|choice)\b")
_CONDITIONAL = re.compile(r"(?:(?i:\b(?:if|whether|unless|suppose|assuming)\b)|如果|假如|若)[^.,\n:]*$")
_REOPEN = re.compile(r"(?:(?i:\b(?:wait|actually|on second thought|correction|reconsider|instead)\b)"
                     r"|等等|更正|其实)[^\n]{0,80}?" + MENTION)  # the answer is re-opened after it was given
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
    body, end = normalize(tag[0]).strip(), tag[1]
    parsed = parse_slot(body, options, runs=True)
    if parsed is NO_SLOT:
        parsed = _from_statements(body, options)
    if not isinstance(parsed, list):
        return match_option_text(_last_statement_text(body) or body, options)
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
    """Step 3: the last statement that commits (or refuses to) decides; then a bold last line."""
    text = normalize(segment)
    found: list[rules.Found] = []  # (start, end, letters)
    for m in _cues(text):
        slot = text[m.end():m.end() + 300]
        parsed = parse_slot(slot, options, runs=not m.group(0).isascii())
        if parsed is NO_SLOT:  # "Final Answer: The next step is (F) Text."
            found += rules.concluding(re.split(r"(?<=[.!?])\s|\n", slot.strip(), maxsplit=1)[0], options)
        else:
            found.append((m.start(), m.end(), parsed))
    for m in _REVERSE.finditer(text):
        found.append((m.start(), m.end(), [m.group(1)] if m.group(1) in options else None))
    for m in _BOXED.finditer(text):
        parsed = parse_slot(m.group(1).strip(), options, runs=True)
        if parsed is NO_SLOT:  # \boxed{no} (PubMedQA)
            parsed = match_option_text(m.group(1), options, prefix=False)
        found.append((m.start(), m.end(), parsed))  # type: ignore[arg-type]
    for rule in (rules.concluding, rules.option_line, rules.option_last_line, rules.tick_list,
                 rules.terminal_so):
        found += rule(text, options)
    if not found:
        return _bold_last_line(segment, options)
    _, end, letters = max(found, key=lambda f: f[0])
    rest = text[end:].lstrip()
    pieces = [p for p in re.split(r"(?<=[.!?])\s*|\n", rest, maxsplit=8) if p.strip()]
    after = pieces[1] if len(pieces) > 1 else ""  # the sentence after the statement's own
    return None if _REOPEN.search(after) else letters


def _bold_last_line(segment: str, options: Mapping[str, str]) -> Parsed:
    """"**B**" or "Therefore: **B. Insulin**" as the last line of the response."""
    lines = [ln.strip() for ln in segment.strip().splitlines() if ln.strip()]
    m = _BOLD_LINE.fullmatch(lines[-1]) if lines else None
    if m is None or re.search(r"(?i)\bnot\b|不", m["lead"]):
        return NO_SLOT
    lead = m["lead"].strip()
    if lead and not re.search(r"(?i)(?:[:：]|\bis|是)$", lead):
        return NO_SLOT
    return parse_slot(normalize(m["inner"]), options)


def _last_statement_text(segment: str) -> str | None:
    """The words after the last answer cue, to the end of that sentence (for step 3)."""
    text = normalize(segment)
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
    for step in (_from_tag, rules.from_json, _from_statements):
        parsed = step(segment, options)
        if parsed is not NO_SLOT:
            return parsed  # type: ignore[return-value]
    span = _last_statement_text(segment)
    if span is not None:  # step 4: "The answer is insulin."
        by_text = match_option_text(span, options)
        if by_text is not None:
            return by_text
    opening = rules.leading_option(segment, options)  # step 5
    if opening is not NO_SLOT or span is not None:
        return None if opening is NO_SLOT else opening  # type: ignore[return-value]
    return _whole_is_option(segment, options)


def _whole_is_option(segment: str, options: Mapping[str, str]) -> list[str] | None:
    """The whole response is one option: "B", "(B)", "Option B", "B. Insulin" or "Insulin"."""
    m = _WHOLE.fullmatch(normalize(segment).strip())
    if m and m[1] in options and (not m[2] or norm_text(m[2]) == norm_text(options[m[1]])):
        return [m[1]]
    return match_option_text(segment, options, prefix=False) or fuzzy_option(segment, options)


# ---------------------------------------------------------------- strict format (reward)
_STRICT = re.compile(r"\s*<think>(?P<think>.*?)</think>\s*<answer>(?P<answer>.*?)</answer>\s*", re.S)
_TAGS = ("<think>", "</think>", "<answer>", "</answer>")
_LETTER_LIST = re.compile(r"\s*[A-U](?:\s*,\s*[A-U])*\s*")
