"""LLM label verification: a validator answers each item in k independent trials; items it answers
correctly fewer than ``min_correct`` times go to a review queue and out of the training set.

The paper: "any instance that fails to be correctly answered by a state-of-the-art LLM (e.g., GPT-4)
across five independent trials is flagged for manual review" (k = 5, min_correct = 1). Trials are the
``n = k`` samples of one request at ``temperature`` > 0; the LLM layer's response cache keys each on
its sample index (and the backend seeds sample i with ``seed + i`` where it can), so a re-run makes no
new calls. Answers are graded with ``fleming.grading.grade``, the grader the evaluation and the RL
rewards use. An item whose trials failed at the transport level (no completion) is not sent to review:
it is dropped as ``validator_error`` so a re-run can retry it.

The review queue (JSONL and CSV: the step that queued the item, question, options, label, the validator's
answers and reasoning) has empty ``decision`` and ``new_answer`` columns; the ambiguity gate
(``ambiguity.py``) writes the same files in its own step folder. ``fleming refine review-apply
DECISIONS.csv`` reads them back (``apply_review``): keep, relabel (with the new letter or letters) or drop.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleming.errors import InputError
from fleming.io import iter_jsonl, write_jsonl
from fleming.records import MCQ
from fleming.refine import batches
from fleming.steps import Step

REVIEW_COLUMNS = ["step", "id", "source", "question", "options", "label", "label_text", "validator_correct",
                  "validator_answers", "validator_reasoning", "decision", "new_answer", "note"]
DECISIONS = ("keep", "relabel", "drop")
REVIEW_STEPS = ("labelcheck", "ambiguity")  # steps that queue items for review (the CSV's `step` column)


BACKENDS = ["hf", "openai", "vllm"]


@dataclass
class LLMStepConfig:
    """The model a refinement step asks (the label check, the difficulty rubric), and how."""

    enabled: bool = field(default=False, metadata={"help": "run this step's LLM calls"})
    backend: str = field(default="openai", metadata={"help": "fleming.llm.make_backend kind",
                                                     "choices": BACKENDS})
    model: str = field(default="", metadata={"help": "model folder (hf, vllm) or served model name"})
    base_url: str | None = field(default=None, metadata={"help": "OpenAI-compatible endpoint (openai)"})
    cache: str | None = field(default="llm-cache.sqlite", metadata={
        "help": "response cache, relative to the run directory; null: no cache"})
    temperature: float = field(default=0.7, metadata={"help": "sampling temperature", "ge": 0})
    seed: int = field(default=0, metadata={"help": "sampling seed"})
    options: dict[str, Any] = field(default_factory=dict, metadata={"help": "passed to make_backend"})


@dataclass
class LabelCheckConfig(LLMStepConfig):
    k: int = field(default=5, metadata={"help": "trials per item", "ge": 1})
    min_correct: int = field(default=1, metadata={
        "help": "fewer correct trials -> review queue (paper: never correct in 5)", "ge": 1})
    max_tokens: int = field(default=512, metadata={"help": "new tokens per trial", "ge": 1})
    prompt_id: str = field(default="fleming-mcq-v1", metadata={"help": "prompt id (fleming.prompts)"})
    think_opened: bool = field(default=False, metadata={"help": "the chat template opens <think> itself"})
    batch: int = field(default=256, metadata={"help": "items per generate() call", "ge": 1})

    def __post_init__(self) -> None:
        if self.min_correct > self.k:
            raise ValueError(f"min_correct {self.min_correct} > k {self.k}: every item would be queued")


def run_trials(backend, records: list[MCQ], k: int, temperature: float, max_tokens: int, seed: int,
               prompt_id: str, think_opened: bool = False, progress: bool = False) -> list[dict[str, Any]]:
    """For each record: {"k", "correct", "answers" (letters joined, or "unparsed"/"error"), "texts"}."""
    from fleming.grading import grade
    from fleming.llm import SamplingParams
    from fleming.prompts import build_messages

    params = SamplingParams(temperature=temperature, max_tokens=max_tokens, n=k, seed=seed)
    rows = backend.generate([build_messages(r, prompt_id) for r in records], params, progress=progress)
    out = []
    for r, completions in zip(records, rows, strict=True):
        answers, texts, correct, errors = [], [], 0, 0
        for c in completions:
            if c.error:
                errors += 1
                answers.append("error")
                texts.append(f"[error: {c.error}]")
                continue
            g = grade(c.text, r.options, r.answer, think_opened=think_opened)
            correct += g.status == "correct"
            answers.append(",".join(g.extracted) if g.extracted else "unparsed")
            texts.append(c.text)
        out.append({"k": len(completions), "correct": correct, "errors": errors, "answers": answers,
                    "texts": texts})
    return out


class LabelCheck(Step):
    """Keep items the validator gets right at least ``min_correct`` times in ``k`` trials."""

    name = "labelcheck"

    def __init__(self, backend, config: LabelCheckConfig, exclusion_path=None):
        super().__init__(exclusion_path)
        self.backend, self.config = backend, config
        self.queue: list[dict[str, Any]] = []  # review queue rows: record + validator info
        self.errors: list[MCQ] = []  # items whose trials failed at the transport level

    def process(self, records: Iterable[MCQ]) -> Iterator[MCQ]:
        for batch in batches(records, self.config.batch):
            yield from self._check(batch)

    def _check(self, batch: list[MCQ]) -> Iterator[MCQ]:
        cfg = self.config
        trials = run_trials(self.backend, batch, cfg.k, cfg.temperature, cfg.max_tokens, cfg.seed,
                            cfg.prompt_id, cfg.think_opened)
        for r, t in zip(batch, trials, strict=True):
            info = {"model": getattr(self.backend, "model_name", ""), "k": t["k"], "correct": t["correct"],
                    "errors": t["errors"], "answers": t["answers"]}
            r = r.model_copy(update={"metadata": r.metadata.model_copy(
                update={"extra": {**r.metadata.extra, "label_check": info}})})
            self.stat_update("trials", t["k"])
            self.stat_update("correct_trials", t["correct"])
            if t["correct"] >= cfg.min_correct:
                yield r
            elif t["errors"]:
                self.errors.append(r)
                self.drop(r, "validator_error")
            else:
                validator = {**info, "texts": t["texts"]}
                self.queue.append({"step": self.name, "record": r.model_dump(mode="json"),
                                   "validator": validator})
                self.drop(r, "review_queue")


# ---------------------------------------------------------------- the review queue on disk
def _csv_row(item: dict[str, Any], max_reasoning: int = 2000) -> dict[str, str]:
    r, v = item["record"], item["validator"]
    texts = [t[:max_reasoning] for t in v["texts"]]
    return {"step": item.get("step", "labelcheck"), "id": r["id"], "source": r["source"],
            "question": r["question"],
            "options": "\n".join(f"{k}. {t}" for k, t in r["options"].items()),
            "label": ",".join(r["answer"]), "label_text": "; ".join(r["options"][a] for a in r["answer"]),
            "validator_correct": f"{v['correct']}/{v['k']}", "validator_answers": "; ".join(v["answers"]),
            "validator_reasoning": "\n---\n".join(texts), "decision": "", "new_answer": "", "note": ""}


def write_review_queue(items: list[dict[str, Any]], directory: str | Path) -> tuple[Path, Path]:
    """``review_queue.jsonl`` (full records and trials) and ``review_queue.csv`` (for people)."""
    d = Path(directory)
    jsonl = d / "review_queue.jsonl"
    write_jsonl(jsonl, items)
    path = d / "review_queue.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=REVIEW_COLUMNS)
        w.writeheader()
        for item in items:
            w.writerow(_csv_row(item))
    return jsonl, path


def read_decisions(path: str | Path, queue: dict[str, MCQ], step: str = "labelcheck"
                   ) -> dict[str, tuple[str, list[str]]]:
    """id -> (decision, new letters) for ``step``'s queue from a filled-in review CSV; rows with no
    decision, or of another step (the ``step`` column; a CSV without it is the label check's), are skipped.

    Errors name the file, the row (header = row 1), the column and what was expected.
    """
    path = Path(path)
    out: dict[str, tuple[str, list[str]]] = {}
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in ("id", "decision") if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(path, 1, missing[0], "missing column; expected id, decision, new_answer")
        for row_no, row in enumerate(reader, start=2):
            decision = (row.get("decision") or "").strip().lower()
            row_step = (row.get("step") or "labelcheck").strip()
            if row_step not in REVIEW_STEPS:
                raise InputError(path, row_no, "step", f"expected one of {', '.join(REVIEW_STEPS)}, "
                                                       f"got {row_step!r}")
            if not decision or row_step != step:
                continue
            item_id = (row.get("id") or "").strip()
            if item_id not in queue:
                raise InputError(path, row_no, "id", f"{item_id!r} is not in the review queue of step {step}")
            if decision not in DECISIONS:
                raise InputError(path, row_no, "decision",
                                 f"expected one of {', '.join(DECISIONS)}, got {decision!r}")
            letters = [x.strip().upper() for x in (row.get("new_answer") or "").replace(";", ",").split(",")
                       if x.strip()]
            if decision == "relabel":
                options = queue[item_id].options
                bad = [x for x in letters if x not in options]
                if not letters or bad:
                    got = row.get("new_answer")
                    raise InputError(path, row_no, "new_answer",
                                     f"relabel needs letters among {list(options)}, got {got!r}")
            out[item_id] = (decision, letters)
    return out


def load_queue(directory: str | Path) -> dict[str, MCQ]:
    path = Path(directory) / "review_queue.jsonl"
    if not path.is_file():
        raise InputError(path, None, None, "no review queue here (run the label check first)")
    return {obj["record"]["id"]: MCQ.model_validate(obj["record"]) for _, obj in iter_jsonl(path)}


def reviewed_records(queue: dict[str, MCQ], decisions: dict[str, tuple[str, list[str]]]
                     ) -> tuple[list[MCQ], list[MCQ], list[MCQ]]:
    """(brought back: kept or relabelled, dropped by the reviewer, still pending)."""
    back, dropped, pending = [], [], []
    for item_id, r in queue.items():
        decision, letters = decisions.get(item_id, ("", []))
        extra = {**r.metadata.extra, "review": {"decision": decision or "pending"}}
        if decision == "relabel":
            extra["review"].update({"from": r.answer, "to": letters})
            lc = extra.get("label_check")
            if isinstance(lc, dict):  # the validator's pass rate against the new label
                new = ",".join(sorted(letters))
                extra["label_check"] = {**lc, "correct": sum(a == new for a in lc.get("answers", []))}
            r = r.model_copy(update={"answer": letters})
        r = r.model_copy(update={"metadata": r.metadata.model_copy(update={"extra": extra})})
        {"keep": back, "relabel": back, "drop": dropped}.get(decision, pending).append(r)
    return back, dropped, pending
