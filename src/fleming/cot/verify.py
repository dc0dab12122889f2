"""Verification of one candidate chain; every check is a named reason in the stats.

Checks, in order (the paper filters candidates "by verifiable signals", §3.2; which signals is ours):

- ``format``: one ``<think>`` then one ``<answer>X</answer>`` (``fleming.grading.check_format``);
- ``wrong_answer``: the answer, read by the shared grader, is not the gold;
- ``reasoning_disagrees``: the reasoning itself commits to another option ("so the answer is B") while
  the tag says the gold;
- ``leak``: the chain leans on having been told the answer ("the given answer", "we are told the answer
  is", "as stated, the answer", ...);
- ``length``: words of reasoning outside ``[min_words, max_words]``;
- ``locality``: the chain stays on this item: it names the gold option (text or letter), cites no letter
  outside the item's options, and repeats no more than ``max_repeated_lines`` of its lines;
- ``path``: for KG items, it names at least ``min_path_mention`` of the reasoning path's entities;
- ``false_claim``: a claim sentence naming two KG entities is false in the KG (``fleming.cot.claims``);
- ``answer_blind`` (run by the distiller through the validator, MedReason's filter): with the conclusion
  and answer removed, a validator must reach the gold from the reasoning alone.

A candidate is verified when every check passes. Among verified candidates the best is the shortest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from fleming.cot.claims import ClaimChecker
from fleming.cot.config import ChecksConfig
from fleming.cot.grounded import Names, item_names
from fleming.grading import check_format, extract_answer, grade
from fleming.records import LETTERS, MCQ

CHECKS = (
    "format",
    "wrong_answer",
    "reasoning_disagrees",
    "leak",
    "length",
    "locality",
    "path",
    "false_claim",
    "answer_blind",
)
LEAK_PATTERNS = (
    r"\b(?:the|this)\s+given\s+(?:correct\s+)?answer",
    r"\bwe\s+(?:are|were)\s+told\b",
    r"\bas\s+stated,?\s+the\s+(?:correct\s+)?answer",
    r"\bthe\s+answer\s+(?:is|was)\s+(?:given|provided|stated)",
    r"\b(?:provided|given|supplied|reference|gold)\s+(?:correct\s+)?(?:answer|label|key)\b",
    r"\banswer\s+key\b",
    r"\baccording\s+to\s+the\s+(?:question|prompt),?\s+the\s+(?:correct\s+)?answer",
    r"\b(?:since|because)\s+the\s+(?:correct\s+)?answer\s+is\b",
)
_THINK = re.compile(r"<think>(.*?)</think>", re.S)
_CONCLUSION = re.compile(
    r"(?i)\b(?:answer|correct\s+(?:option|choice)|therefore|thus|hence|in\s+conclusion"
    r"|best[- ]supported|most\s+likely\s+(?:option|choice))\b|^\s*so\b"
)
# words without which the reasoning commits to no option (the grader's cascade is only run where present)
_COMMITS = re.compile(r"(?i)answer|correct|option|choice|boxed|\*\*|答案|选")
_LETTER_REF = re.compile(r"\b(?i:option|choice)\s+\(?([A-Z])\)?(?![A-Za-z])|\(([A-Z])\)")


def reasoning_of(text: str) -> str:
    """The reasoning: inside ``<think>`` when present, else the text before any ``<answer>``."""
    m = _THINK.search(text)
    return (m.group(1) if m else text.split("<answer>")[0]).strip()


def strip_conclusion(reasoning: str) -> str:
    """The reasoning without its conclusion, for the answer-blind check: every sentence that states an
    answer or concludes ("so", "therefore", "the answer is") is removed."""
    from fleming.cot.claims import sentences

    return "\n".join(s for s in sentences(reasoning) if not _CONCLUSION.search(s))


@dataclass
class Verdict:
    failed: dict[str, str] = field(default_factory=dict)  # check -> why
    claims: dict[str, int] = field(default_factory=lambda: {"true": 0, "false": 0, "uncheckable": 0})
    words: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed

    def feedback(self) -> str:
        return "; ".join(f"{k}: {v}" for k, v in self.failed.items()) or "none"

    def to_dict(self) -> dict[str, Any]:
        return {"failed": dict(self.failed), "claims": dict(self.claims), "words": self.words}


class Verifier:
    """Checks (a), (c), (d), (e); ``answer_blind`` (b) is added by the distiller."""

    def __init__(self, checks: ChecksConfig, claims: ClaimChecker | None = None, names: Names | None = None):
        self.cfg, self.claims, self.names = checks, claims, names
        self.leaks = [re.compile(p, re.I) for p in (*LEAK_PATTERNS, *checks.leak_phrases)]
        self.any_leak = re.compile("|".join(f"(?:{p})" for p in (*LEAK_PATTERNS, *checks.leak_phrases)), re.I)

    def verify(self, record: MCQ, text: str) -> Verdict:
        v = Verdict()
        reasoning = reasoning_of(text)
        v.words = len(reasoning.split())
        if not check_format(text):
            v.failed["format"] = "expected <think>...</think> then <answer>X</answer> and nothing after"
        g = grade(text, record.options, record.answer)
        if g.status != "correct":
            v.failed["wrong_answer"] = (
                f"answered {','.join(g.extracted) if g.extracted else 'nothing'}, "
                f"gold {','.join(record.answer)}"
            )
        own = extract_answer(reasoning, record.options) if _COMMITS.search(reasoning) else None
        if own is not None and set(own) != set(record.answer):
            v.failed["reasoning_disagrees"] = f"the reasoning concludes {','.join(own)}"
        if self.any_leak.search(reasoning):
            leak = next(p.pattern for p in self.leaks if p.search(reasoning))
            v.failed["leak"] = f"mentions being given the answer (/{leak}/)"
        if not self.cfg.min_words <= v.words <= self.cfg.max_words:
            v.failed["length"] = f"{v.words} words, bounds [{self.cfg.min_words}, {self.cfg.max_words}]"
        why = self._locality(record, reasoning)
        if why:
            v.failed["locality"] = why
        why = self._path(record, reasoning)
        if why:
            v.failed["path"] = why
        if self.claims is not None and self.cfg.claims:
            false = []
            for claim, verdict in self.claims.check_text(reasoning):
                v.claims[verdict] += 1
                if verdict == "false":
                    false.append(claim.text)
            if false:
                v.failed["false_claim"] = f"false in the KG: {false[0]!r}" + (
                    f" (+{len(false) - 1} more)" if len(false) > 1 else ""
                )
        return v

    def _locality(self, record: MCQ, reasoning: str) -> str | None:
        low = reasoning.casefold()
        gold_named = any(record.options[a].casefold() in low for a in record.answer) or any(
            re.search(rf"(?<![A-Za-z]){a}(?![A-Za-z])", reasoning) for a in record.answer
        )
        if not gold_named:
            return "never names the gold option"
        cited = {a or b for a, b in _LETTER_REF.findall(reasoning)}
        outside = sorted(c for c in cited if c not in record.options and c in LETTERS)
        if outside:
            return f"cites option {outside[0]}, which this item does not have"
        lines = [x.strip().casefold() for x in reasoning.splitlines() if x.strip()]
        if lines and 1 - len(set(lines)) / len(lines) > self.cfg.max_repeated_lines:
            return f"{len(lines) - len(set(lines))} of {len(lines)} lines repeated"
        return None

    def _path(self, record: MCQ, reasoning: str) -> str | None:
        ids = path_ids(record)
        if not ids:
            return None
        known = item_names(record)
        names = [known.get(i) or (self.names(i) if self.names else None) for i in ids]
        names = [n for n in names if n]
        if not names:
            return None
        low = reasoning.casefold()
        missing = [n for n in names if n.casefold() not in low]
        if 1 - len(missing) / len(names) < self.cfg.min_path_mention:
            return f"names {len(names) - len(missing)} of {len(names)} path entities (missing {missing[0]!r})"
        return None


def path_ids(record: MCQ) -> list[str]:
    """KG ids along the item's stored reasoning path, in order, once each."""
    out: list[str] = []
    for hop in record.metadata.extra.get("path") or []:
        src = hop.get("from")
        for x in (src if isinstance(src, list) else [src]) + [hop.get("to")]:
            if x and x not in out:
                out.append(x)
    return out
