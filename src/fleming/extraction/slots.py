"""Answer slots: the letters (or option text) that the words after an answer cue commit to.

Shared by the cascade (``fleming.extraction``) and its rules (``fleming.extraction.rules``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from difflib import SequenceMatcher


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
_PAREN_LIST = re.compile(r"\(\s*[A-Z](?:\s*,\s*[A-Z])+\s*\)")
_SUB_PARTS = re.compile(r"\(a\)[^\n]{0,80}?\(b\)")
_LOWER = re.compile(r"([a-z])\s*[.)]?[ \t]*(?:\n|$)")
_EITHER = re.compile(r"(?i)(?:either|between)\s+")
_OR_NOW = re.compile(r"\s*,?\s*(?:\bor\b|或者?|还是|/)\s*\(?[A-Z](?![a-z])")  # "B or C", "B/C", "B或C"
# a letter named in passing; bare "A" and "I" are left out (the article, the pronoun)
MENTION = (r"(?:\(\s*[A-Z]\s*\)|\b(?i:option|choice)\s+[A-Z]\b|(?<![A-Za-z0-9])(?:[B-HJ-Z](?![A-Za-z0-9])"
            r"|[AI](?=[\u4e00-\u9fff])))")
_OR_LATER = re.compile(r"[^.\n]{0,12}?(?:\bor\b|或|还是)[^.\n]{0,30}?" + MENTION)
_AFTER_LETTER = re.compile(r"(?i)[.,;:!?)\]}\u4e00-\u9fff]|\s*$|\s*\n|\s+(?:[-–—(:]|(?:because|since|as|"
                           r"which|is|was|due|for|not|rather|instead|over)\b)")


def normalize(text: str) -> str:
    """Markdown and LaTeX wrappers off, full-width punctuation to ASCII (for cues and slots)."""
    text = text.translate(_FULLWIDTH)
    text = re.sub(r"\\(?:text|textbf|mathrm|mathbf)\{([^{}]*)\}", r"\1", text)
    return re.sub(r"\*\*|__|`|\$", "", text)


def norm_text(text: str) -> str:
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


def parse_slot(span: str, options: Mapping[str, str], runs: bool = False) -> Parsed:
    """The letters an answer slot commits to; None when the slot is empty, hedged or out of range.

    A bare letter must end the clause ("B.", "B because", "B. Insulin"), so that "A patient ..." or
    "I think ..." are not read as letters.
    """
    s = span.lstrip(" \t\n:=-#")
    explicit, hedged = s.startswith(("(", "[")), False
    while m := _FILLER.match(s) or _EITHER.match(s):
        s, hedged = s[m.end():], hedged or m.re is _EITHER
    if group := _PAREN_LIST.match(s):  # "(B, F)": several letters in one pair of brackets
        letters = re.findall(r"[A-Z]", group[0])
        return sorted(letters) if all(x in options for x in letters) and len(set(letters)) == len(letters) \
            else None
    if _SUB_PARTS.match(s):
        return None  # "(a) 0.217, (b) 0.356": answers to sub-questions, not an option
    letters, end, bare = _letters_at(s, runs)
    low = _LOWER.match(s)
    if not letters and low and not explicit:  # "answer: a" (lowercase, alone on its line)
        return [low[1].upper()] if low[1].upper() in options else None
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
    head = norm_text(option_text)[:12]
    return bool(head) and norm_text(rest).startswith(head)


def match_option_text(span: str, options: Mapping[str, str], prefix: bool = True) -> list[str] | None:
    """The one option whose text the span is (or, with ``prefix``, starts with at a word boundary)."""
    s = norm_text(normalize(span))
    if not s or s.startswith(("not ", "none ")):
        return None
    texts = {k: norm_text(v) for k, v in options.items()}
    exact = [k for k, t in texts.items() if t and s == t]
    if exact or not prefix:
        return exact if len(exact) == 1 else None
    starts = [k for k, t in texts.items() if t and s.startswith(t) and not s[len(t)].isalnum()]
    return starts if len(starts) == 1 else None




# ---------------------------------------------------------------- option text, with typographic slack
_TYPO = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "\u00a0": " "})


def _plain(text: str) -> str:
    return norm_text(normalize(text).translate(_TYPO)).strip("()[]*# ")


def consistent(text: str, option_text: str) -> bool:
    """Whether ``text``, written after a letter, is that option's text (typos and reflow allowed).

    >>> consistent("Refuse to dictate the operative report.", "Refuse to dictate the operative report")
    True
    >>> consistent("Cortisol", "Insulin")
    False
    """
    a, b = _plain(text), _plain(option_text)
    if not a or not b:
        return False
    if a == b or (len(b) >= 8 and (a.startswith(b) or (len(a) >= 8 and b.startswith(a)))):
        return True
    return _close(a, b)


def _close(a: str, b: str) -> bool:
    """Equal up to spacing and one mistyped word ("operativ" for "operative"); never a different word
    ("high" for "low") or number ("1200" for "1500")."""
    if a == b or a.replace(" ", "") == b.replace(" ", ""):
        return True
    wa, wb = a.split(), b.split()
    diff = [(x, y) for x, y in zip(wa, wb, strict=False) if x != y]
    if len(wa) != len(wb) or len(wa) < 3 or len(diff) != 1 or re.search(r"\d", "".join(diff[0])):
        return False
    x, y = diff[0]
    if wa[-1] == x and (y.startswith(x) or x.startswith(y)):
        return False  # the last word cut short: a truncated text, not a typo
    return SequenceMatcher(None, x, y, autojunk=False).ratio() >= 0.75


def fuzzy_option(text: str, options: Mapping[str, str]) -> list[str] | None:
    """The one option whose whole text ``text`` is, up to typography ("’" vs "'", a typo, spacing).

    The whole text, not a prefix: "Klinefelter syndrome is a sex chromosome disorder" is prose.
    """
    a = _plain(text)
    hits = [k for k, v in options.items() if (b := _plain(v)) and a and _close(a, b)]
    return hits if len(hits) == 1 else None


_LETTER_TEXT = re.compile(r"\s*(?P<word>(?i:option|choice)\s+)?(?:\((?P<a>[A-Z])\)|(?P<b>[A-Z])(?=[.:)\s]|$))"
                          r"(?P<punct>[.:)\-]?)[ \t]*(?P<text>[^\n]*)")


_ANOTHER = re.compile(r"\b(?:and|or)\s+\(?[A-Z]\)?[.:)]\s")


def letter_with_text(span: str, options: Mapping[str, str]) -> Parsed:
    """"B", "(B) Insulin", "B. Insulin", "Option B: Insulin": the letter, checked against the text.

    A letter whose quoted text is not its option's commits to nothing (None). NO_SLOT when ``span``
    does not start with a letter, or starts with a bare capital and prose ("A 45-year-old man").
    >>> letter_with_text("B. Insulin", {"A": "Glucagon", "B": "Insulin"})
    ['B']
    >>> letter_with_text("B. Glucagon", {"A": "Glucagon", "B": "Insulin"}) is None
    True
    """
    m = _LETTER_TEXT.fullmatch(normalize(span).strip())
    if m is None:
        return NO_SLOT
    letter, text = m["a"] or m["b"], m["text"].strip().rstrip(".")
    marked = bool(m["a"] or m["word"] or m["punct"])  # "(B)", "option B", "B." / "B:" / "B)"
    if _ANOTHER.search(text):
        return None  # "C. Surgical resection and D. Hormone replacement therapy": two options
    exact = match_option_text(text, options, prefix=False) if text else None
    if exact is not None and exact != [letter]:
        return None if marked else NO_SLOT  # "B. Glucagon" where Glucagon is A
    if text and not consistent(text, options.get(letter, "")):
        return None if marked else NO_SLOT
    return [letter] if letter in options else None
