"""Teacher distillation with pass@k, verification and iterative refinement, for one chunk of items.

Per item (paper §3.2): the teacher writes ``k`` candidates from question + options + gold answer; every
candidate is verified (``fleming.cot.verify``; the answer-blind check goes through the validator only for
candidates that pass every other check, so a failed candidate costs no validator call). The best verified
candidate (the shortest; all verified ones passed every check) is kept. An item with none goes through up
to ``rounds`` refinement rounds, each with one strategy (Backtracking, Path Exploration, Self-Correction,
cycled), given the best failed attempt (most checks passed, then shortest) and the verifier's feedback.
Every attempt is recorded with its round, strategy and outcome.

The grounded teacher (``teacher.kind: grounded``) writes one deterministic candidate per item and has no
refinement (rewording a KG path by rule gives the same text); with ``teacher.grounding`` an LLM teacher
gets that chain as facts to use.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from fleming.cot.config import CotConfig
from fleming.cot.grounded import Names, grounded_chain
from fleming.cot.verify import Verdict, Verifier, reasoning_of, strip_conclusion
from fleming.grading import grade
from fleming.llm.base import SamplingParams, urgent
from fleming.prompts import STRATEGY_PROMPTS, cot_item_text, cot_prompt, format_options
from fleming.records import MCQ


def canonical(record: MCQ, text: str) -> str:
    """The SFT completion: the candidate's reasoning, then the gold letters in the strict format."""
    return f"<think>\n{reasoning_of(text)}\n</think>\n<answer>{', '.join(record.answer)}</answer>"


@dataclass
class Attempt:
    round: int
    strategy: str  # "pass@k" in round 0, else the refinement strategy; "grounded" for the KG teacher
    sample: int
    text: str
    verdict: Verdict | None = None  # None: the teacher request failed
    error: str | None = None
    blind_ok: bool | None = None  # answer-blind check passed (None: not run)

    @property
    def ok(self) -> bool:
        return self.verdict is not None and self.verdict.ok

    def score(self) -> tuple[int, int]:
        """Lower is better: checks failed, then words."""
        if self.verdict is None:
            return (99, 1 << 30)
        return (len(self.verdict.failed), self.verdict.words)

    def to_dict(self) -> dict[str, Any]:
        return {
            "round": self.round,
            "strategy": self.strategy,
            "sample": self.sample,
            "text": self.text,
            "ok": self.ok,
            "answer_blind": self.blind_ok,
            "error": self.error,
            **(self.verdict.to_dict() if self.verdict else {}),
        }

    def verified(self, blind: bool) -> bool:
        """Every check passed, the answer-blind one included when a validator runs."""
        return self.ok and (self.blind_ok is True or not blind)


@dataclass
class ItemResult:
    record: MCQ
    attempts: list[Attempt] = field(default_factory=list)
    best: Attempt | None = None
    reason: str | None = None  # why the item was dropped

    def to_dict(self) -> dict[str, Any]:
        best = self.best
        return {
            "id": self.record.id,
            "kept": best is not None,
            "reason": self.reason,
            "best": None
            if best is None
            else {
                "round": best.round,
                "strategy": best.strategy,
                "sample": best.sample,
                "completion": canonical(self.record, best.text),
            },
            "attempts": [a.to_dict() for a in self.attempts],
        }


class Distiller:
    """Runs the loop for a chunk of items; backends are ``fleming.llm`` backends (cached by the caller)."""

    def __init__(
        self, cfg: CotConfig, verifier: Verifier, teacher=None, validator=None, names: Names | None = None
    ):
        self.cfg, self.verifier, self.teacher, self.validator, self.names = (
            cfg,
            verifier,
            teacher,
            validator,
            names,
        )

    # ---- prompts
    def teacher_messages(self, r: MCQ) -> list[dict[str, str]]:
        grounding = grounded_chain(r, self.names) if self.cfg.teacher.grounding else None
        text = cot_prompt(self.cfg.teacher.prompt_id).template.format(item=cot_item_text(r, grounding))
        return [{"role": "user", "content": text}]

    def refine_messages(self, r: MCQ, strategy: str, failed: Attempt) -> list[dict[str, str]]:
        grounding = grounded_chain(r, self.names) if self.cfg.teacher.grounding else None
        feedback = failed.verdict.feedback() if failed.verdict else f"the request failed ({failed.error})"
        text = cot_prompt(STRATEGY_PROMPTS[strategy]).template.format(
            item=cot_item_text(r, grounding), attempt=failed.text.strip() or "(empty)", feedback=feedback
        )
        return [{"role": "user", "content": text}]

    def validator_messages(self, r: MCQ, text: str) -> list[dict[str, str]]:
        reasoning = strip_conclusion(reasoning_of(text))
        content = cot_prompt(self.cfg.validator.prompt_id).template.format(
            question=r.question.strip(), options=format_options(r.options), reasoning=reasoning or "(none)"
        )
        return [{"role": "user", "content": content}]

    # ---- the loop
    def run(self, records: list[MCQ]) -> list[ItemResult]:
        results = [ItemResult(r) for r in records]
        if self.cfg.teacher.kind == "grounded":
            self._grounded(results)
            return results
        t = self.cfg.teacher
        todo = self._round(results, 0, "pass@k", [self.teacher_messages(x.record) for x in results], t.k)
        for rnd in range(1, self.cfg.rounds + 1):
            if not todo:
                break
            strategy = self.cfg.strategies[(rnd - 1) % len(self.cfg.strategies)]
            convs = [
                self.refine_messages(x.record, strategy, min(x.attempts, key=Attempt.score)) for x in todo
            ]
            todo = self._round(todo, rnd, strategy, convs, self.cfg.refine_k)
        for x in todo:
            x.reason = _drop_reason(x)
        return results

    def _grounded(self, results: list[ItemResult]) -> None:
        fresh = []
        for x in results:
            chain = grounded_chain(x.record, self.names, self.cfg.teacher.order)
            if chain is None:
                x.reason = "no_grounding"  # not a synthetic item with a stored path
                continue
            text = canonical(x.record, chain)
            x.attempts.append(Attempt(0, "grounded", 0, text, self.verifier.verify(x.record, text)))
            fresh.append(x)
        self._answer_blind([(x.record, x.attempts[-1]) for x in fresh])
        for x in fresh:
            a = x.attempts[-1]
            ok = a.verified(self.validator is not None)
            x.best, x.reason = (a, None) if ok else (None, _drop_reason(x))

    def _round(
        self, items: list[ItemResult], rnd: int, strategy: str, convs: list, n: int
    ) -> list[ItemResult]:
        """Sample ``n`` candidates per item, verify them; returns the items still without a verified one."""
        t = self.cfg.teacher
        params = SamplingParams(
            temperature=t.temperature, max_tokens=t.max_tokens, n=n, seed=self.cfg.seed + 1000 * rnd
        )
        with urgent() if rnd else nullcontext():  # an item's later steps go before others' first ones
            rows = self.teacher.generate(convs, params, progress=False)
        fresh: list[tuple[MCQ, Attempt]] = []
        for x, comps in zip(items, rows, strict=True):
            for s, c in enumerate(comps):
                if c.error:
                    a = Attempt(rnd, strategy, s, "", None, c.error)
                else:
                    a = Attempt(rnd, strategy, s, c.text, self.verifier.verify(x.record, c.text))
                    fresh.append((x.record, a))
                x.attempts.append(a)
        self._answer_blind(fresh)
        left = []
        for x in items:
            ok = [a for a in x.attempts if a.verified(self.validator is not None)]
            if ok:
                x.best = min(ok, key=Attempt.score)
            else:
                left.append(x)
        return left

    def _answer_blind(self, pairs: list[tuple[MCQ, Attempt]]) -> None:
        """Check (b) for candidates that passed every other check, in waves: each item's best such
        candidate first, the next only where that one fails, so a verified item costs one validator call."""
        if self.validator is None:
            return
        queues: dict[str, list[tuple[MCQ, Attempt]]] = {}
        for r, a in sorted(pairs, key=lambda p: p[1].score()):
            if a.ok:
                queues.setdefault(r.id, []).append((r, a))
        v = self.cfg.validator
        params = SamplingParams(temperature=v.temperature, max_tokens=v.max_tokens, n=1, seed=self.cfg.seed)
        while queues:
            wave = [q.pop(0) for q in queues.values()]
            with urgent():
                rows = self.validator.generate(
                    [self.validator_messages(r, a.text) for r, a in wave], params, progress=False
                )
            for (r, a), (c,) in zip(wave, rows, strict=True):
                if c.error:
                    a.verdict.failed["answer_blind"] = f"validator request failed: {c.error}"
                    continue
                g = grade(c.text, r.options, r.answer)
                if g.status != "correct":
                    got = ",".join(g.extracted) if g.extracted else "nothing"
                    a.verdict.failed["answer_blind"] = (
                        f"from the reasoning alone the validator answered {got}"
                    )
                else:
                    a.blind_ok = True
                    queues.pop(r.id)  # verified: its other candidates need no validator call
            queues = {k: q for k, q in queues.items() if q}


def _drop_reason(x: ItemResult) -> str:
    """Why an item never verified: teacher_error when no request succeeded, else the first failed check
    of its best attempt."""
    done = [a for a in x.attempts if a.verdict is not None]
    if not done:
        return "teacher_error"
    best = min(done, key=Attempt.score)
    return next(iter(best.verdict.failed), "unverified")
