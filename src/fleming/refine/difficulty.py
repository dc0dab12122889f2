"""Difficulty labels (Easy / Moderate / Difficult) from three sources, stored with their source.

(a) ``llm``: the paper's rubric (§3.1, last paragraph) asked of an LLM through ``generate_structured``
    (JSON), ``votes`` times with distinct seeds; the majority wins, a tie goes to the harder level
    (a curriculum that sees a hard item late loses less than one that sees it too early).
(b) ``empirical``: a reference model's pass rate over k samples: the label check's trials
    (``metadata.extra["label_check"]``, no new calls), or a separate ``reference`` model's. Pass rate
    >= ``easy_min`` is Easy, <= ``difficult_max`` is Difficult, Moderate between.
(c) ``kg``: structural features that ``fleming synth`` stores in ``metadata.extra`` (hops, the anchor's
    degree percentile, distractor Jaccard), each scaled to [0, 1] and averaged; two cut points (``kg_cuts``)
    give the three levels. The weights and cut points are ours: the paper labels difficulty with an LLM only.

``metadata.difficulty`` takes the first source in ``precedence`` that gave a label and
``metadata.difficulty_source`` names it; every label is kept in ``metadata.extra["difficulty_labels"]``.
Where (a) and (b) both exist, ``agreement`` reports Cohen's kappa and the confusion matrix.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from fleming.records import MCQ
from fleming.refine import batches
from fleming.refine.labelcheck import LabelCheckConfig, LLMStepConfig, run_trials
from fleming.steps import Step

LEVELS = ("Easy", "Moderate", "Difficult")
RUBRIC = (
    "Classify the difficulty of this medical multiple-choice question into one of three tiers, based on "
    "the cognitive and domain expertise demands of the question:\n"
    "- Easy: assesses basic medical knowledge commonly known among practitioners.\n"
    "- Moderate: requires detailed medical understanding or intermediate clinical reasoning.\n"
    "- Difficult: demands advanced or specialized knowledge, complex multi-step inference, or familiarity "
    "with rare conditions."
)


class DifficultyLabel(BaseModel):
    difficulty: Literal["Easy", "Moderate", "Difficult"]
    reason: str = ""


@dataclass
class LLMDifficultyConfig(LLMStepConfig):
    """(a) the paper's rubric through an LLM (``enabled``: label difficulty this way)."""

    votes: int = field(default=3, metadata={"help": "labels per item; the majority wins", "ge": 1})
    max_tokens: int = field(default=256, metadata={"help": "new tokens per label", "ge": 1})


@dataclass
class DifficultyConfig:
    llm: LLMDifficultyConfig = field(default_factory=LLMDifficultyConfig)
    empirical: bool = field(default=True, metadata={
        "help": "the pass rate of the label check's trials, or of the reference model's"})
    # a reference model for (b), answering each item k times (only the fields the label check uses count;
    # min_correct is ignored); disabled: the label check's trials are the reference
    reference: LabelCheckConfig = field(default_factory=LabelCheckConfig)
    easy_min: float = field(default=0.8, metadata={"help": "pass rate at or above: Easy", "ge": 0, "le": 1})
    difficult_max: float = field(default=0.2, metadata={"help": "pass rate at or below: Difficult",
                                                        "ge": 0, "le": 1})
    kg: bool = field(default=True, metadata={"help": "structural features of synthetic items"})
    # score cut points Easy | Moderate | Difficult; on 10k items from the default KG the score's 33rd, 67th
    # and 90th percentiles are 0.30, 0.40 and 0.52, so about 35% / 45% / 20%
    kg_cuts: tuple[float, float] = field(default=(0.3, 0.45), metadata={
        "help": "structural score cut points: Easy | Moderate | Difficult (0 <= low <= high <= 1)"})
    precedence: list[str] = field(default_factory=lambda: ["llm", "empirical", "kg"], metadata={
        "help": "label sources in order: the first that gave a label wins (llm, empirical, kg)"})

    def __post_init__(self) -> None:
        if self.difficult_max >= self.easy_min:
            raise ValueError(f"difficult_max {self.difficult_max} must be below easy_min {self.easy_min}")
        if not 0 <= self.kg_cuts[0] <= self.kg_cuts[1] <= 1:
            raise ValueError(f"kg_cuts: expected 0 <= low <= high <= 1, got {list(self.kg_cuts)}")
        bad = sorted(set(self.precedence) - {"llm", "empirical", "kg"})
        if bad:
            raise ValueError(f"precedence: unknown {bad}; expected llm, empirical, kg")


def difficulty_messages(r: MCQ) -> list[dict[str, str]]:
    from fleming.prompts import format_options

    ctx = f"Context: {r.context.strip()}\n\n" if r.context else ""
    body = (f"{RUBRIC}\n\n{ctx}Question: {r.question.strip()}\n\nOptions:\n{format_options(r.options)}\n\n"
            f"Correct answer: {', '.join(r.answer)}")
    return [{"role": "user", "content": body}]


def majority(votes: list[str]) -> str | None:
    """Most frequent level; ties go to the harder level.

    >>> majority(["Easy", "Difficult", "Easy"]), majority(["Easy", "Moderate"]), majority([])
    ('Easy', 'Moderate', None)
    """
    if not votes:
        return None
    counts = Counter(votes)
    return max(counts, key=lambda lv: (counts[lv], LEVELS.index(lv)))


def llm_labels(backend, records: list[MCQ], cfg: LLMDifficultyConfig) -> list[tuple[str | None, list[str]]]:
    """Per record: (majority label or None, the valid votes)."""
    from fleming.llm import SamplingParams
    from fleming.llm.structured import generate_structured

    convs = [difficulty_messages(r) for r in records]
    votes: list[list[str]] = [[] for _ in records]
    for v in range(cfg.votes):
        params = SamplingParams(temperature=cfg.temperature, max_tokens=cfg.max_tokens, seed=cfg.seed + v)
        for i, res in enumerate(generate_structured(backend, convs, DifficultyLabel, params, progress=False)):
            if res.value is not None:
                votes[i].append(res.value.difficulty)
    return [(majority(v), v) for v in votes]


def empirical_label(correct: int, k: int, easy_min: float = 0.8, difficult_max: float = 0.2) -> str | None:
    """The level of a pass rate ``correct / k``.

    >>> empirical_label(5, 5), empirical_label(2, 5), empirical_label(1, 5)
    ('Easy', 'Moderate', 'Difficult')
    """
    if k <= 0:
        return None
    p = correct / k
    return "Easy" if p >= easy_min else "Difficult" if p <= difficult_max else "Moderate"


def _number(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) else None


def kg_features(extra: dict[str, Any]) -> dict[str, float]:
    """Structural features of a synthetic item, each scaled to [0, 1] (1 = harder).

    Read from what ``fleming synth`` stores: ``hops`` (1..4 -> 0..1), ``rarity.percentile`` (the anchor's
    degree percentile, 0 = rarest, so 1 - percentile / 100) and ``difficulty_features.mean_jaccard`` (how
    much the distractors share with the answer's observed features). Plain ``rarity`` / ``distractor_
    similarity`` numbers in [0, 1] are accepted too.
    """
    feats = extra.get("difficulty_features") if isinstance(extra.get("difficulty_features"), dict) else {}
    out: dict[str, float] = {}
    hops = _number(extra.get("hops", feats.get("hops")))
    if hops is not None:
        out["hops"] = min(max((hops - 1) / 3, 0.0), 1.0)
    rarity = extra.get("rarity")
    if isinstance(rarity, dict) and _number(rarity.get("percentile")) is not None:
        out["rarity"] = 1 - min(max(float(rarity["percentile"]) / 100, 0.0), 1.0)
    elif _number(rarity) is not None:
        out["rarity"] = min(max(float(rarity), 0.0), 1.0)
    sim = _number(feats.get("mean_jaccard", extra.get("distractor_similarity")))
    if sim is not None:
        out["distractor_similarity"] = min(max(sim, 0.0), 1.0)
    return out


def kg_label(extra: dict[str, Any], cuts: tuple[float, float] = (0.3, 0.45)) -> str | None:
    """The level of the mean of the structural features (``cuts`` split it); None without features.

    >>> kg_label({"hops": 4, "rarity": {"percentile": 5.0}, "difficulty_features": {"mean_jaccard": 0.7}})
    'Difficult'
    """
    feats = kg_features(extra)
    if not feats:
        return None
    score = sum(feats.values()) / len(feats)
    return LEVELS[sum(score >= c for c in cuts)]


def cohen_kappa(a: list[str], b: list[str], levels: tuple[str, ...] = LEVELS) -> dict[str, Any]:
    """Unweighted and linear-weighted kappa with the confusion matrix (rows: a, columns: b).

    >>> cohen_kappa(["Easy", "Difficult"], ["Easy", "Difficult"])["kappa"]
    1.0
    """
    n, k = len(a), len(levels)
    m = [[0] * k for _ in range(k)]
    for x, y in zip(a, b, strict=True):
        m[levels.index(x)][levels.index(y)] += 1
    out: dict[str, Any] = {"n": n, "levels": list(levels), "confusion": m}
    if n == 0:
        return {**out, "kappa": None, "kappa_linear": None, "agreement": None}
    rows = [sum(r) / n for r in m]
    cols = [sum(m[i][j] for i in range(k)) / n for j in range(k)]

    def kappa(weight) -> float | None:
        obs = sum(weight(i, j) * m[i][j] / n for i in range(k) for j in range(k))
        exp = sum(weight(i, j) * rows[i] * cols[j] for i in range(k) for j in range(k))
        return None if exp == 1 else round((obs - exp) / (1 - exp), 4)

    return {**out, "agreement": round(sum(m[i][i] for i in range(k)) / n, 4),
            "kappa": kappa(lambda i, j: float(i == j)),
            "kappa_linear": kappa(lambda i, j: 1 - abs(i - j) / (k - 1))}


class Difficulty(Step):
    """Label every item; drops nothing. ``backend`` is the LLM for (a), or None to skip (a)."""

    name = "difficulty"

    def __init__(self, config: DifficultyConfig, backend=None, exclusion_path=None, batch: int = 512,
                 reference=None):
        super().__init__(exclusion_path)
        self.config, self.backend, self.batch, self.reference = config, backend, batch, reference
        self.pairs: tuple[list[str], list[str]] = ([], [])  # (llm, empirical) where both exist

    def labels(self, batch: list[MCQ]) -> list[dict[str, str]]:
        cfg = self.config
        llm = [(None, [])] * len(batch) if self.backend is None else llm_labels(self.backend, batch, cfg.llm)
        trials = [r.metadata.extra.get("label_check") for r in batch]
        if self.reference is not None:
            ref = cfg.reference
            trials = run_trials(self.reference, batch, ref.k, ref.temperature, ref.max_tokens, ref.seed,
                                ref.prompt_id, ref.think_opened)
        out = []
        for r, (llm_label, _), lc in zip(batch, llm, trials, strict=True):
            found: dict[str, str] = {}
            if llm_label:
                found["llm"] = llm_label
            elif self.backend is not None:
                self.stat_update("llm_no_valid_vote")
            if cfg.empirical and isinstance(lc, dict) and lc.get("k"):
                emp = empirical_label(int(lc["correct"]), int(lc["k"]) - int(lc.get("errors", 0)),
                                      cfg.easy_min, cfg.difficult_max)
                if emp:
                    found["empirical"] = emp
            kg = kg_label(r.metadata.extra, cfg.kg_cuts) if cfg.kg else None
            if kg:
                found["kg"] = kg
            out.append(found)
        return out

    def _label(self, batch: list[MCQ]) -> Iterator[MCQ]:
        for r, found in zip(batch, self.labels(batch), strict=True):
            if "llm" in found and "empirical" in found:
                self.pairs[0].append(found["llm"])
                self.pairs[1].append(found["empirical"])
            src = next((s for s in self.config.precedence if s in found), None)
            self.stat_update(f"source:{src or 'none'}")
            if src:
                self.stat_update(f"level:{found[src]}")
            meta = r.metadata.model_copy(update={
                "difficulty": found.get(src) if src else r.metadata.difficulty,
                "difficulty_source": src or r.metadata.difficulty_source,
                "extra": {**r.metadata.extra, "difficulty_labels": found}})
            yield r.model_copy(update={"metadata": meta})

    def process(self, records: Iterable[MCQ]) -> Iterator[MCQ]:
        for batch in batches(records, self.batch):
            yield from self._label(batch)

    def agreement(self) -> dict[str, Any]:
        return {"llm_vs_empirical": cohen_kappa(*self.pairs)}
