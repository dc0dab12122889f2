"""Format filter: raw rows become records (``Validate``), then structural and text checks (``FormatFilter``).

The paper's first refinement pass removes "duplicate answer options, malformed inputs, or encoding
artifacts". Here:

- ``Validate`` turns raw dicts (JSONL rows, flat Parquet rows) into ``MCQ`` and counts every row that
  fails by the field at fault: ``option_count_out_of_range``, ``answer_not_in_options``,
  ``missing_<field>``, ``invalid_<field>`` ... Rows already loaded as ``MCQ`` pass through.
- ``FormatFilter`` first repairs what ftfy can repair (mojibake, ligatures, stray control characters,
  HTML entities, broken line breaks) and counts each kind of fix in ``stats.extra`` (``fixed:<fix>``),
  then drops, with the first reason that applies: ``empty_option``, ``duplicate_options``,
  ``option_count_out_of_range`` (the configured range, narrower than the record's 2..21),
  ``encoding_artefact`` (what ftfy could not fix), ``markup`` (HTML tags, wiki markup),
  ``malformed_text`` (no words) and ``truncated_text`` (text that stops on a comma or an opening bracket).
- Suspicious records (an addition to the paper's list) are dropped as ``field_too_long`` (over
  ``max_field_chars``) or ``<question|context|option>_length_outlier`` (a field ``outlier_ratio`` times
  longer than the median of that field in its source, measured by ``fit`` in a first pass); a question
  of one word is flagged (``metadata.extra.format_flags``, counted as ``flagged:one_word_question``).

Thresholds were calibrated on the real benchmark files (tests/refine/test_refine_format.py): the checks
flag the genuinely broken items there (duplicate "Measles." options, a stem cut off after a comma) and
leave legitimate patterns alone (MedMCQA's fill-in stems that end on "is", CareQA's ``<h>`` notation,
MMLU-Pro's case-sensitive genotype options such as "bb bb" / "Bb Bb").
"""

from __future__ import annotations

import re
import statistics
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import ftfy
from ftfy import badness
from pydantic import ValidationError

from fleming.records import MAX_OPTIONS, MCQ, MIN_OPTIONS, first_error
from fleming.steps import Step

_FTFY = ftfy.TextFixerConfig(uncurl_quotes=False, fix_character_width=False, explain=True)
# Tags that are markup wherever they appear; any other name counts only when it is closed (</h2>).
_HTML_TAGS = ("a|b|br|hr|p|div|span|img|i|u|em|strong|sup|sub|li|ul|ol|table|tr|td|th|font|center|"
              "small|big|tt|pre|code|blockquote")
_MARKUP = re.compile(rf"<(?:{_HTML_TAGS})(?:\s[^<>]{{0,200}})?\s*/?>|</[A-Za-z][A-Za-z0-9]*\s*>|"
                     r"\[\[|\]\]|\{\{|\}\}|&(?:[A-Za-z]{2,8}|#\d{1,6}|#x[0-9A-Fa-f]{1,6});", re.IGNORECASE)
_ESCAPES = re.compile(r"\\[nrt](?![A-Za-z])|\\u[0-9A-Fa-f]{4}|\\x[0-9A-Fa-f]{2}")
# characters some ftfy fixer acts on: entities, CR and other line breaks, C0/C1 controls, ANSI escapes,
# ligatures, surrogates and ftfy's other control characters (chardata.CONTROL_CHARS)
_FTFY_TRIGGER = re.compile("[&\r\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ufb00-\ufb06"
                           "\ud800-\udfff\u206a-\u206f\ufeff\ufff9-\ufffc]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]")
_WORD = re.compile(r"[^\W\d_]", re.UNICODE)
_TRUNCATED_END = ",([{"  # a text that ends on one of these was cut off
_CJK_CHAR = re.compile("[\u3400-\u9fff]")


@dataclass
class FormatConfig:
    min_options: int = field(default=MIN_OPTIONS, metadata={
        "help": "items with fewer options are dropped (option_count_out_of_range)",
        "ge": MIN_OPTIONS, "le": MAX_OPTIONS})
    max_options: int = field(default=MAX_OPTIONS, metadata={
        "help": "items with more options are dropped", "ge": MIN_OPTIONS, "le": MAX_OPTIONS})
    min_question_words: int = field(default=1, metadata={
        "help": "fewer words (CJK characters count as words) is malformed_text", "ge": 0})
    fix_encoding: bool = field(default=True, metadata={"help": "repair with ftfy before checking; "
                                                               "false only checks"})
    one_word_question: str = field(default="flag", metadata={
        "help": "a question of one word (MedMCQA has legitimate ones, 'Metformin:'): flag keeps it with "
                "metadata.extra.format_flags and a count; drop drops it; keep does neither",
        "choices": ["flag", "drop", "keep"]})
    max_field_chars: int = field(default=50_000, metadata={
        "help": "a question, context or option longer than this is dropped (field_too_long)", "ge": 1})
    outlier_ratio: float = field(default=20.0, metadata={
        "help": "a field longer than this many times the median of the same field in its source (and "
                "than outlier_min_chars) is dropped (<field>_length_outlier)", "gt": 1})
    outlier_min_chars: int = field(default=2000, metadata={
        "help": "fields shorter than this are never length outliers", "ge": 1})

    def __post_init__(self) -> None:
        if self.min_options > self.max_options:
            raise ValueError(f"min_options {self.min_options} > max_options {self.max_options}")


# ---------------------------------------------------------------- raw rows -> records
_REASONS = [  # (field, message fragment, reason); first match wins, else invalid_<field>
    ("options", "options, got", "option_count_out_of_range"),
    ("options", "option letters", "bad_option_letters"),
    ("answer", "not among the options", "answer_not_in_options"),
    ("answer", "at least one gold letter", "missing_answer"),
    ("question", "question is empty", "empty_question"),
]


def validation_reason(err: ValidationError) -> str:
    """A drop reason for the first problem in a pydantic error, named after the field at fault."""
    e = err.errors()[0]
    field = str(e["loc"][0]) if e["loc"] else "record"
    if e["type"] == "missing":
        return f"missing_{field}"
    msg = first_error(err)[1]
    for f, fragment, reason in _REASONS:
        if f == field and fragment in msg:
            return reason
    return f"invalid_{field}"


def to_record(row: dict[str, Any]) -> MCQ:
    if isinstance(row.get("options"), list) or isinstance(row.get("metadata"), str):
        return MCQ.from_row(row)  # the flat Parquet / HF form
    return MCQ.model_validate(row)


def validate_row(row: MCQ | dict[str, Any]) -> MCQ | str:
    """The record, or the reason the row is not one (a row with ``__error__`` could not be parsed)."""
    if isinstance(row, MCQ):
        return row
    if "__error__" in row:
        return str(row["__error__"])
    try:
        return to_record(row)
    except ValidationError as e:
        return validation_reason(e)
    except KeyError as e:  # from_row on a row missing a column
        return f"missing_{e.args[0]}"
    except TypeError:
        return "invalid_record"


class Validate(Step):
    """Raw dict rows -> MCQ; failures are dropped with a reason naming the field (see module doc)."""

    name = "validate"

    def process(self, records: Iterable[MCQ | dict[str, Any]]) -> Iterator[MCQ]:
        for row in records:
            r = validate_row(row)
            if isinstance(r, str):
                self.drop(row, r)
            else:
                yield r


# ---------------------------------------------------------------- text repairs and checks
def looks_bad(text: str) -> bool:
    """ftfy's mojibake measure; ASCII text never looks bad (and this regex is the costly part)."""
    return not text.isascii() and badness.is_bad(text)


def needs_repair(text: str, bad: bool | None = None) -> bool:
    """Whether ftfy (with our settings) could change ``text``: a character one of its fixers acts on, text
    that is not NFC, or text that ftfy's badness measure flags (its encoding fix runs only then). A fast
    path: most text skips ftfy entirely (a test checks it against ftfy on the real sets)."""
    return bool(_FTFY_TRIGGER.search(text)) or not unicodedata.is_normalized("NFC", text) or (
        looks_bad(text) if bad is None else bad)


def fix_text(text: str, bad: bool | None = None) -> tuple[str, list[str]]:
    """(repaired text, names of the ftfy fixes applied).

    >>> fix_text("inﬁltrates")
    ('infiltrates', ['fix_latin_ligatures'])
    """
    if not needs_repair(text, bad):
        return text, []
    out = ftfy.fix_and_explain(text, _FTFY)
    kinds = []
    for action, what in out.explanation or []:
        if action == "apply":
            kinds.append(what)
        elif action == "decode":
            kinds.append("mojibake")
    return out.text, sorted(set(kinds))


def option_key(text: str) -> str:
    """How options are compared for duplicates: whitespace and trailing punctuation do not count."""
    return " ".join(text.split()).strip(" .;:,")


def has_duplicate_options(options: Iterable[str]) -> bool:
    """Same text twice, or the same words with only their initial capitals changed.

    >>> has_duplicate_options(["Standard deviation", "Mode", "Standard Deviation"])
    True
    >>> has_duplicate_options(["bb bb", "Bb Bb", "AaBb", "AABB"])  # genotypes: case is meaningful
    False
    """
    keys = [option_key(o) for o in options]
    if len(set(keys)) < len(keys):
        return True
    folded: dict[str, list[str]] = {}
    for k in keys:
        folded.setdefault(k.casefold(), []).append(k)
    return any(_initials_only(a, b) for group in folded.values() if len(group) > 1
               for i, a in enumerate(group) for b in group[i + 1:])


def _initials_only(a: str, b: str) -> bool:
    """``a`` and ``b`` (same length, equal ignoring case) differ only in the first letter of words of
    three or more letters."""
    if len(a) != len(b):
        return False
    for m in re.finditer(r"\w+", a):
        word_a, word_b = m.group(), b[m.start():m.end()]
        if word_a != word_b and (len(word_a) < 3 or word_a[1:] != word_b[1:]):
            return False
    return True


def text_problem(text: str, bad: bool | None = None) -> str | None:
    """The reason one text field is unusable after repair, or None (``bad``: ``looks_bad(text)`` if known)."""
    if (_CONTROL.search(text) or ("\\" in text and _ESCAPES.search(text))
            or (looks_bad(text) if bad is None else bad)):
        return "encoding_artefact"
    if ("<" in text or "&" in text or "[[" in text or "]]" in text or "{{" in text or "}}" in text) \
            and _MARKUP.search(text):
        return "markup"
    end = text.rstrip()[-1:]
    if end and end in _TRUNCATED_END:
        return "truncated_text"
    return None


class FormatFilter(Step):
    """Repair with ftfy, then drop items with a structural or text problem (reasons in the module doc)."""

    name = "format"

    def __init__(self, config: FormatConfig | None = None, exclusion_path=None):
        super().__init__(exclusion_path)
        self.config = config or FormatConfig()
        self.medians: dict[str, dict[str, float]] = {}  # source -> field -> median length (``fit``)

    def fit(self, records: Iterable[MCQ]) -> None:
        """Median length of each field kind (question, context, option) per source, for the outlier check
        (a first pass over the step's input; without it only ``max_field_chars`` applies)."""
        lengths: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
        for r in records:
            for kind, text in _fields(r):
                lengths[r.source][kind].append(len(text))
        self.medians = {s: {k: statistics.median(v) for k, v in d.items()} for s, d in lengths.items()}

    def length_problem(self, r: MCQ) -> str | None:
        """``field_too_long`` over the absolute cap, ``<kind>_length_outlier`` far above the source's
        median."""
        cfg, med = self.config, self.medians.get(r.source, {})
        for kind, text in _fields(r):
            if len(text) > cfg.max_field_chars:
                return "field_too_long"
            if kind in med and len(text) > max(cfg.outlier_min_chars, cfg.outlier_ratio * med[kind]):
                return f"{kind}_length_outlier"
        return None

    def repair(self, r: MCQ) -> tuple[MCQ, dict[str, bool]]:
        """The record with ftfy's repairs, and ``looks_bad`` of each repaired text (computed once)."""
        texts = {"question": r.question, **({"context": r.context} if r.context else {}),
                 **{f"option {k}": v for k, v in r.options.items()}}
        fixed, bad, kinds = {}, {}, set()
        for name, text in texts.items():
            b = looks_bad(text)
            new, k = fix_text(text, b) if self.config.fix_encoding else (text, [])
            if new != text:
                kinds |= set(k) or {"other"}
                b = looks_bad(new)
            fixed[name], bad[name] = new, b
        if fixed == texts:
            return r, bad
        self.stat_update("records_repaired")
        for k in kinds:
            self.stat_update(f"fixed:{k}")
        extra = {**r.metadata.extra, "format_fixes": sorted(kinds)}
        update = {"question": fixed["question"], "context": fixed.get("context", r.context),
                  "options": {k: fixed[f"option {k}"] for k in r.options},
                  "metadata": r.metadata.model_copy(update={"extra": extra})}
        return r.model_copy(update=update), bad

    def problem(self, r: MCQ, bad: dict[str, bool] | None = None) -> str | None:
        cfg = self.config
        opts = list(r.options.values())
        if any(not o.strip() or o.strip().casefold() == "nan" for o in opts):
            return "empty_option"
        if has_duplicate_options(opts):
            return "duplicate_options"
        if not cfg.min_options <= len(opts) <= cfg.max_options:
            return "option_count_out_of_range"
        words = word_count(r.question)
        if words < cfg.min_question_words:
            return "malformed_text"
        if cfg.one_word_question == "drop" and words == 1:
            return "one_word_question"
        bad = bad or {}
        texts = {"question": r.question, **{f"option {k}": v for k, v in r.options.items()},
                 **({"context": r.context} if r.context else {})}
        for name, text in texts.items():
            reason = text_problem(text, bad.get(name))
            if reason:
                return reason
        return None

    def process(self, records: Iterable[MCQ]) -> Iterator[MCQ]:
        for r in records:
            if reason := self.length_problem(r):  # before ftfy and the regexes see a huge text
                self.drop(r, reason)
                continue
            r, bad = self.repair(r)
            reason = self.problem(r, bad)
            if reason:
                self.drop(r, reason)
            else:
                yield self.flag(r)

    def flag(self, r: MCQ) -> MCQ:
        """A kept record with a suspicious trait gets ``metadata.extra.format_flags`` and a count."""
        if self.config.one_word_question != "flag" or word_count(r.question) != 1:
            return r
        self.stat_update("flagged:one_word_question")
        extra = {**r.metadata.extra, "format_flags": ["one_word_question"]}
        return r.model_copy(update={"metadata": r.metadata.model_copy(update={"extra": extra})})


def word_count(text: str) -> int:
    """Whitespace words plus CJK characters; 0 when the text has no letter at all."""
    if not _WORD.search(text):
        return 0
    return len(text.split()) + len(_CJK_CHAR.findall(text))


def _fields(r: MCQ) -> Iterator[tuple[str, str]]:
    yield "question", r.question
    if r.context:
        yield "context", r.context
    for o in r.options.values():
        yield "option", o
