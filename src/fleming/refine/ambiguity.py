"""The ambiguity gate: a validator LLM says whether any option other than the key is also correct.

Not in the paper. Its label check (``labelcheck.py``) catches a wrong key; it cannot catch an item with two
defensible answers, which a blind audit of our synthetic items found in about half of them (issue 10).
The gate asks the judge (prompt ``fleming-ambiguity-v1``) for JSON ``{"other_correct": [letters],
"reason": "..."}`` through ``fleming.llm.structured.generate_structured``, ``k`` times with seeds ``seed``
.. ``seed + k - 1`` (each vote its own cache entry, so a re-run makes no new calls; at temperature 0 the
votes are identical). An item at least ``min_flags`` of whose valid votes name another option goes to the
label check's review queue (same files, same ``fleming refine review-apply``; the CSV's ``step`` column
says ``ambiguity``), with each vote's letters and reason.

A vote is invalid, counted per reason and never an exception, when the reply is not JSON (``no_json``,
``invalid_json``), does not match the schema (``schema``), names a letter the item does not have
(``letter_not_an_option``) or the request failed (``request_failed``). An item with no valid vote is
``unjudged``: kept (or dropped, ``unjudged: drop``) and counted. Where failed requests could still have
reached ``min_flags`` the item is dropped as ``validator_error`` (not cached, so a re-run retries it).

In the review queue, ``validator_correct`` is the number of votes in which the key stood alone, and each
``validator_answers`` entry is the letters that vote judged correct (the key plus the others it named).
The stats give, per question type and per source, the items judged, flagged and the ambiguous rate.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints

from fleming.records import MCQ
from fleming.refine import batches
from fleming.steps import Step

Letter = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Ua-u]$")]
INVALID = ("request_failed", "no_json", "invalid_json", "schema", "letter_not_an_option")


class AmbiguityVerdict(BaseModel):
    other_correct: list[Letter] = Field(
        description="letters of the options other than the key that are also correct; [] if none")
    reason: str = Field(description="why, in one or two sentences")


@dataclass
class AmbiguityConfig:
    enabled: bool = field(default=False, metadata={
        "help": "ask a validator LLM whether another option is also correct (off: items pass through)"})
    backend: str = field(default="openai", metadata={
        "help": "LLM backend (fleming.llm.make_backend)", "choices": ["hf", "openai", "vllm"]})
    model: str = field(default="", metadata={"help": "the judge: a served model name, or a path for hf/vllm"})
    base_url: str | None = field(default=None, metadata={
        "help": "OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 (openai backend only)"})
    cache: str | None = field(default="llm-cache.sqlite", metadata={
        "help": "response cache under RUN/refine (null: no cache); every vote is cached"})
    k: int = field(default=3, metadata={"help": "votes per item (seeds seed .. seed+k-1)", "ge": 1})
    min_flags: int = field(default=2, metadata={
        "help": "valid votes naming another option needed to send the item to review", "ge": 1})
    temperature: float = field(default=0.7, metadata={"help": "sampling temperature of each vote", "ge": 0})
    max_tokens: int = field(default=256, metadata={"help": "tokens per judge reply", "ge": 1})
    seed: int = field(default=0, metadata={"help": "seed of the first vote"})
    max_retries: int = field(default=1, metadata={
        "help": "re-asks of an invalid reply, with the validation error shown to the judge", "ge": 0})
    prompt_id: str = field(default="fleming-ambiguity-v1", metadata={"help": "judge prompt id (prompts.py)"})
    unjudged: str = field(default="keep", metadata={
        "help": "an item with no valid vote: keep it or drop it (counted either way)",
        "choices": ["keep", "drop"]})
    batch: int = field(default=256, metadata={"help": "items per generate() call", "ge": 1})
    options: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "backend options passed to make_backend (concurrency, timeout, dtype, ...)"})

    def __post_init__(self) -> None:
        from fleming.prompts import PROMPTS

        if self.min_flags > self.k:
            raise ValueError(f"min_flags ({self.min_flags}) must be <= k ({self.k})")
        judges = sorted(p.id for p in PROMPTS.values() if p.kind == "judge")
        if self.prompt_id not in judges:
            raise ValueError(f"prompt_id {self.prompt_id!r}: expected a judge prompt, one of "
                             f"{', '.join(judges)}")


@dataclass
class Vote:
    """One judge reply: ``others`` (letters besides the key) or ``invalid`` (the reason), and the text."""

    others: tuple[str, ...] | None
    text: str
    invalid: str | None = None
    named_key: bool = False


def invalid_kind(error: str) -> str:
    """The counted reason of a ``StructuredResult.error``.

    >>> invalid_kind("schema: field 'reason': Field required"), invalid_kind("request failed: 503")
    ('schema', 'request_failed')
    """
    for prefix, kind in (("request failed", "request_failed"), ("no JSON", "no_json"),
                         ("invalid JSON", "invalid_json")):
        if error.startswith(prefix):
            return kind
    return "schema"


def read_vote(result, record: MCQ) -> Vote:
    """A ``StructuredResult`` checked against the item's own letters."""
    if result.value is None:
        return Vote(None, result.raw or f"[{result.error}]", invalid_kind(result.error or ""))
    letters = set(result.value.other_correct)
    if letters - set(record.options):
        return Vote(None, result.raw, "letter_not_an_option")
    others = tuple(sorted(letters - set(record.answer)))
    return Vote(others, result.value.reason, named_key=bool(letters & set(record.answer)))


def judge(backend, records: list[MCQ], cfg: AmbiguityConfig) -> list[list[Vote]]:
    """``cfg.k`` votes per record, in order."""
    from fleming.llm import SamplingParams
    from fleming.llm.structured import generate_structured
    from fleming.prompts import build_messages

    convs = [build_messages(r, cfg.prompt_id) for r in records]
    votes: list[list[Vote]] = [[] for _ in records]
    for v in range(cfg.k):
        params = SamplingParams(temperature=cfg.temperature, max_tokens=cfg.max_tokens, seed=cfg.seed + v)
        results = generate_structured(backend, convs, AmbiguityVerdict, params, max_retries=cfg.max_retries,
                                      progress=False)
        for i, res in enumerate(results):
            votes[i].append(read_vote(res, records[i]))
    return votes


def review_info(votes: list[Vote], record: MCQ, model: str) -> dict[str, Any]:
    """The review queue's ``validator`` entry: per vote the letters judged correct and the reason."""
    key = list(record.answer)
    answers = [f"invalid: {v.invalid}" if v.others is None else ",".join(sorted(key + list(v.others)))
               for v in votes]
    others = Counter(x for v in votes if v.others for x in v.others)
    return {"model": model, "k": len(votes), "correct": sum(1 for v in votes if v.others == ()),
            "errors": sum(v.invalid == "request_failed" for v in votes), "answers": answers,
            "texts": [v.text for v in votes], "other_correct": dict(sorted(others.items()))}


class Ambiguity(Step):
    """Send items whose judge names another correct option in ``min_flags`` votes to the review queue."""

    name = "ambiguity"

    def __init__(self, backend, config: AmbiguityConfig, exclusion_path=None):
        super().__init__(exclusion_path)
        self.backend, self.config = backend, config
        self.queue: list[dict[str, Any]] = []  # review queue rows: record + the judge's votes
        self.errors: list[MCQ] = []  # undecided because requests failed
        self.groups: dict[str, dict[str, Counter]] = {"question_type": {}, "source": {}}

    def process(self, records: Iterable[MCQ]) -> Iterator[MCQ]:
        for batch in batches(records, self.config.batch):
            yield from self._gate(batch)
        self.stats.extra["ambiguous_rates"] = self.rates()

    def _gate(self, batch: list[MCQ]) -> Iterator[MCQ]:
        model = getattr(self.backend, "model_name", "")
        for r, votes in zip(batch, judge(self.backend, batch, self.config), strict=True):
            info = review_info(votes, r, model)
            outcome = self._count(r, votes)
            extra = {k: info[k] for k in ("model", "k", "correct", "other_correct")}
            r = r.model_copy(update={"metadata": r.metadata.model_copy(
                update={"extra": {**r.metadata.extra, "ambiguity": {**extra, "outcome": outcome}}})})
            if outcome == "passed" or (outcome == "unjudged" and self.config.unjudged == "keep"):
                yield r
            elif outcome == "flagged":
                self.queue.append({"step": self.name, "record": r.model_dump(mode="json"), "validator": info})
                self.drop(r, "review_queue")
            elif outcome == "validator_error":
                self.errors.append(r)
                self.drop(r, "validator_error")
            else:
                self.drop(r, "unjudged")

    def _count(self, r: MCQ, votes: list[Vote]) -> str:
        """The item's outcome (flagged, passed, unjudged, validator_error), with every count updated."""
        valid = [v for v in votes if v.others is not None]
        flags = sum(1 for v in valid if v.others)
        failed = sum(v.invalid == "request_failed" for v in votes)
        self.stat_update("votes", len(votes))
        self.stat_update("valid_votes", len(valid))
        self.stat_update("votes_naming_another_option", flags)
        self.stat_update("votes_listing_the_key", sum(v.named_key for v in valid))
        for v in votes:
            if v.invalid:
                self.stat_update(f"invalid_vote:{v.invalid}")
        min_flags = self.config.min_flags
        outcome = ("flagged" if flags >= min_flags else "validator_error" if flags + failed >= min_flags
                   else "unjudged" if not valid else "passed")
        self.stat_update(f"items_{outcome}")
        for group, value in (("question_type", r.metadata.question_type or "(none)"), ("source", r.source)):
            self.groups[group].setdefault(value, Counter())[outcome] += 1
        return outcome

    def rates(self) -> dict[str, Any]:
        """Per question type and per source: items in, judged (flagged or passed), flagged, the
        ambiguous rate (flagged / judged), unjudged and validator errors; and the same over all items."""
        def row(c: Counter) -> dict[str, Any]:
            judged = c["flagged"] + c["passed"]
            return {"in": sum(c.values()), "judged": judged, "flagged": c["flagged"],
                    "ambiguous_rate": round(c["flagged"] / judged, 4) if judged else None,
                    "unjudged": c["unjudged"], "validator_error": c["validator_error"]}

        total = sum(self.groups["source"].values(), Counter())
        return {"all": row(total), **{g: {k: row(c) for k, c in sorted(v.items())}
                                     for g, v in self.groups.items()}}


def rates_markdown(rep: dict[str, Any]) -> str:
    """``reports/ambiguity.md``: the ambiguous rate per question type and per source."""
    a = rep["all"]
    lines = ["# Ambiguity gate", "", f"{a['in']} items; judged {a['judged']}, flagged {a['flagged']} "
             f"(ambiguous rate {a['ambiguous_rate']}); unjudged (no valid vote) {a['unjudged']}; "
             f"validator errors {a['validator_error']}.", ""]
    for group in ("question_type", "source"):
        lines += [f"## Per {group.replace('_', ' ')}", "",
                  f"| {group} | in | judged | flagged | ambiguous rate | unjudged | validator error |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        lines += [f"| {k} | {c['in']} | {c['judged']} | {c['flagged']} | {c['ambiguous_rate']} | "
                  f"{c['unjudged']} | {c['validator_error']} |" for k, c in rep[group].items()]
        lines.append("")
    return "\n".join(lines)
