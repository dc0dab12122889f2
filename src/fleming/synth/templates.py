"""Question types (path templates over the KG schema) and the synthesis config.

A question type samples an *anchor* entity (long-tail weighted), shows either ``k`` of its features
(``masked``: the anchor is hidden, e.g. findings of a disease) or the anchor itself (named), and asks for
the node reached along ``chain`` (each hop a relation or a union of relations; inverse names such as
``treated_by`` walk edges backwards). Hops: the masked anchor is one hop from its findings, and each
chain step adds one, so ``findings -> disease -> drug -> class`` has 3.

    >>> qt = QuestionType("treatment_class", "disease", chain=(("treated_by",), ("in_class",)))
    >>> qt.hops, qt.path
    (3, 'features -> disease -> treated_by -> in_class')

``configs/synth-default.yaml`` spells out ``DEFAULT_TYPES`` and every ``SynthConfig`` field; a test keeps
the two equal. Types whose relations the KG lacks produce no items and are reported as unsupported.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from fleming.config import build, convert, load_yaml
from fleming.errors import ConfigError
from fleming.kg.schema import ENTITY_TYPES, resolve_relation

FINDINGS = ("has_symptom", "has_finding")


@dataclass(frozen=True)
class QuestionType:
    name: str
    anchor: str                                     # entity type sampled (long-tail weighted)
    features: tuple[str, ...] = FINDINGS            # relations giving the anchor's features
    chain: tuple[tuple[str, ...], ...] = ()         # hops from the anchor to the answer
    masked: bool = True                             # stem shows k features (True) or names the anchor
    observe: tuple[int, int] = (3, 3)               # k range of observed features (masked only)
    min_shared: int = 2                             # siblings share >= this many observed features
    negatives: tuple[str, ...] = ()                 # curated wrong answers of the anchor (1-hop chains)
    answer: str | None = None                       # entity type the answer must have (None: any)
    weight: float = 1.0                             # share in the question-type mix
    subject: str = "medicine"

    @property
    def hops(self) -> int:
        return int(self.masked) + len(self.chain)

    @property
    def path(self) -> str:
        steps = ["features"] if self.masked else []
        steps.append(self.anchor)
        steps += ["|".join(h) for h in self.chain]
        return " -> ".join(steps)


def _qt(name: str, anchor: str, chain: str = "", weight: float = 1.0, subject: str = "medicine",
        **kw: Any) -> QuestionType:
    hops = tuple(tuple(h.split("|")) for h in chain.split()) if chain else ()
    return QuestionType(name, anchor, chain=hops, weight=weight, subject=subject, **kw)


_DRUG_FEATURES = ("treats", "in_class", "targets")
DEFAULT_TYPES: tuple[QuestionType, ...] = (
    # min_shared=1: a disease having two stem findings is ruled out only by an asserted negative
    # (``evidence``), so distractors (and the diseases path options come through) mostly share one
    _qt("diagnosis", "disease", weight=4.0, subject="diagnosis", min_shared=1),
    _qt("additional_finding", "disease", "has_symptom|has_finding", 1.5, "diagnosis", min_shared=1),
    _qt("diagnosis_gene", "disease", "associated_with", 1.5, "genetics", answer="gene", min_shared=1),
    _qt("allelic_disorder", "disease", "associated_with gene_associated_with", 1.0, "genetics",
        answer="disease", min_shared=1),
    _qt("diagnostic_test", "disease", "diagnosed_by", 1.0, "diagnosis"),
    _qt("treatment", "disease", "treated_by", 1.5, "pharmacology", answer="drug"),
    _qt("treatment_avoid", "disease", "contraindicates", 1.0, "pharmacology", answer="drug"),
    _qt("treatment_class", "disease", "treated_by in_class", 1.0, "pharmacology"),
    _qt("treatment_mechanism", "disease", "treated_by has_mechanism", 1.0, "pharmacology"),
    _qt("treatment_adverse_effect", "disease", "treated_by causes", 1.0, "pharmacology", answer="phenotype"),
    _qt("disease_drug", "disease", "treated_by", 1.0, "pharmacology", masked=False, min_shared=2,
        negatives=("not_indicated_drug",), answer="drug"),
    _qt("drug_indication", "drug", "treats", 1.0, "pharmacology", masked=False, min_shared=1,
        features=_DRUG_FEATURES, negatives=("not_indicated_for",), answer="disease"),
    _qt("drug_class", "drug", "in_class", 1.0, "pharmacology", masked=False, min_shared=1,
        features=_DRUG_FEATURES),
    _qt("drug_mechanism", "drug", "has_mechanism", 1.0, "pharmacology", masked=False, min_shared=1,
        features=_DRUG_FEATURES),
    _qt("drug_contraindication", "drug", "contraindicated_in", 1.0, "pharmacology", masked=False,
        min_shared=1, features=_DRUG_FEATURES),
    _qt("drug_adverse_effect", "drug", "causes", 1.0, "pharmacology", masked=False, min_shared=1,
        features=_DRUG_FEATURES, answer="phenotype"),
)


def _f(default: Any, help_: str, **bounds: Any) -> Any:
    """A config field with help text and bounds (checked by ``fleming.config`` when the YAML is read)."""
    return field(default=default, metadata={"help": help_, **bounds})


@dataclass(frozen=True)
class ParaphraseConfig:
    """Optional LLM rewrite of each stem through ``fleming.llm.make_backend``."""

    backend: str = field(default="openai", metadata={"help": "hf | openai | vllm",
                                                     "choices": ["hf", "openai", "vllm"]})
    model: str = field(default="", metadata={"help": "model folder or served model name"})
    base_url: str | None = field(default=None, metadata={"help": "OpenAI-compatible endpoint"})
    cache_path: str | None = field(default=None, metadata={"help": "response cache (SQLite)"})
    fraction: float = field(default=1.0, metadata={"help": "share of items to paraphrase (by item seed)",
                                                   "ge": 0, "le": 1})
    temperature: float = field(default=0.7, metadata={"help": "sampling temperature", "ge": 0})
    max_tokens: int = field(default=400, metadata={"help": "new tokens per paraphrase", "ge": 1})
    options: dict[str, Any] = field(default_factory=dict, metadata={"help": "passed to make_backend"})


@dataclass(frozen=True)
class SynthConfig:
    question_types: tuple[QuestionType, ...] = DEFAULT_TYPES
    n_options: int = _f(5, "answer + up to n_options - 1 distractors", ge=2, le=21)
    min_options: int = _f(4, "fewer valid distractors: the attempt is dropped", ge=2, le=21)
    alpha: float = _f(2.5, "anchor weight ∝ (degree + 1) ** -alpha (2.5: the tail's items need open-world "
                      "evidence and specific hallmarks, which small profiles give less; on 10,000 default "
                      "items 2.0 left the rarest-30% ratio at 1.12, 2.5 gives 1.43 with the word-root rule)",
                      ge=0)
    rare_boost: float = _f(2.0, "... times this for rare-flagged anchors (Orphanet, DO, HPO)", gt=0)
    default_frequency: float = _f(0.5, "finding frequency where the source gives none", gt=0, le=1)
    max_attempts: int = _f(20, "attempts per item slot before the slot is given up", ge=1)
    min_observed_frequency: float = _f(
        0.3, "a finding known to occur in fewer of the anchor's patients (HPO 'Occasional', 'Very rare') is "
        "never in the stem: a presentation shows what is typical (unknown frequencies are allowed)",
        ge=0, le=1)
    max_genes: int = _f(2, "gene questions: a disease linked to more genes (genetic heterogeneity, or an "
                        "over-broad mapping) is neither the patient's disease nor an allelic answer", ge=1)
    label_types: bool = _f(False, "drug-label types (disease_drug, drug_indication) keyed from "
                           "PharmacotherapyDB / Hetionet indications; off by default: a blind audit found "
                           "the label differs from practice in 5 of 7 such items (memantine "
                           "'disease-modifying', oncology drugs' real uses listed as non-indications)")
    open_findings: bool = _f(False, "additional_finding on an open-world KG: its distractors are ruled "
                             "out by absence from rich profiles, which blind audits accepted in 21 of 36 "
                             "items; off by default (a closed-world slice always makes it)")
    max_siblings: int = _f(32, "siblings sampled and ranked per attempt", ge=1)
    max_consistent: int = _f(24, "path types: more anchors fit the stem -> too vague, dropped", ge=1)
    max_visit: int = _f(20000, "nodes a consistency walk may visit (else unverifiable)", ge=1)
    chunk_size: int = _f(2048, "item slots per task (fixed: results do not depend on workers)", ge=1)
    pilot_slots: int = _f(128, "per type, before the run: measure its acceptance ...", ge=0)
    min_acceptance: float = _f(0.02, "... and leave out types whose attempts succeed less often", ge=0, lt=1)
    language: str = _f("en", "template pack (src/fleming/synth/packs/<language>.yaml)")
    packs: tuple[str, ...] = _f((), "extra template-pack files (YAML)")
    provenance_records: bool = _f(True, "add source record ids of the subgraph edges")
    paraphrase: ParaphraseConfig | None = _f(None, "optional LLM rewrite of each stem")


def _err(path: str, where: str, msg: str) -> ConfigError:
    return ConfigError(f"{path}: field '{where}': {msg}")


def _check_relation(path: str, where: str, name: str) -> None:
    try:
        resolve_relation(name)
    except KeyError as e:
        raise _err(path, where, str(e).strip('"')) from None


def parse_type(path: str, name: str, raw: dict[str, Any]) -> QuestionType:
    where = f"question_types.{name}"
    if not isinstance(raw, dict):
        raise _err(path, where, f"expected a mapping, got {type(raw).__name__}")
    known = {f.name for f in fields(QuestionType)} - {"name"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise _err(path, f"{where}.{unknown[0]}", f"unknown key; expected one of {sorted(known)}")
    for key in ("anchor", "answer"):
        if (key == "anchor" or raw.get(key) is not None) and raw.get(key) not in ENTITY_TYPES:
            raise _err(path, f"{where}.{key}", f"expected an entity type ({', '.join(ENTITY_TYPES)})")
    kw = convert(QuestionType, raw, where, path, skip=("chain", "features", "negatives", "observe"))
    chain = [h if isinstance(h, list) else str(h).split("|") for h in kw.get("chain", [])]
    kw["chain"] = tuple(tuple(h) for h in chain)
    for key in ("features", "negatives"):
        if key in kw:
            kw[key] = tuple(kw[key])
    for i, hop in enumerate(kw["chain"]):
        for rel in hop:
            _check_relation(path, f"{where}.chain[{i}]", rel)
    for key in ("features", "negatives"):
        for rel in kw.get(key, ()):
            _check_relation(path, f"{where}.{key}", rel)
    obs = kw.get("observe", (3, 3))
    obs = (obs, obs) if isinstance(obs, int) else tuple(obs)
    if len(obs) != 2 or not 1 <= obs[0] <= obs[1] <= 8:
        raise _err(path, f"{where}.observe",
                   f"expected k or [kmin, kmax] with 1 <= kmin <= kmax <= 8, got {obs}")
    kw["observe"] = obs
    qt = QuestionType(name=name, **kw)
    if not qt.masked and not qt.chain:
        raise _err(path, f"{where}.chain", "a named anchor needs at least one hop to ask about")
    if qt.negatives and len(qt.chain) != 1:
        raise _err(path, f"{where}.negatives", "negatives apply to one-hop chains only")
    if qt.weight < 0 or qt.min_shared < 1 or len(qt.chain) > 3:
        raise _err(path, where, "expected weight >= 0, min_shared >= 1 and at most 3 chain hops")
    return qt


def parse_config(raw: dict[str, Any], path: str = "<config>") -> SynthConfig:
    if not isinstance(raw, dict):
        raise _err(path, "<root>", "expected a mapping")
    known = {f.name for f in fields(SynthConfig)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise _err(path, unknown[0], f"unknown key; expected one of {sorted(known)}")
    kw = convert(SynthConfig, raw, "", path, skip=("question_types", "paraphrase"))
    if "question_types" in kw:
        types = kw["question_types"] or {}
        if not isinstance(types, dict):
            raise _err(path, "question_types",
                       f"expected a mapping of name -> type, got {type(types).__name__}")
        kw["question_types"] = tuple(parse_type(path, n, r) for n, r in types.items())
    if kw.get("paraphrase"):
        kw["paraphrase"] = build(ParaphraseConfig, kw["paraphrase"], "paraphrase", path)
    kw["packs"] = tuple(kw.get("packs") or ())
    cfg = SynthConfig(**kw)
    if not 2 <= cfg.min_options <= cfg.n_options <= 21:
        raise _err(path, "n_options", f"expected 2 <= min_options <= n_options <= 21, got "
                   f"{cfg.min_options}, {cfg.n_options}")
    if cfg.pilot_slots < 0 or not 0 <= cfg.min_acceptance < 1:
        raise _err(path, "min_acceptance", f"expected pilot_slots >= 0 and 0 <= min_acceptance < 1, got "
                   f"{cfg.pilot_slots}, {cfg.min_acceptance}")
    if not cfg.question_types or all(q.weight == 0 for q in cfg.question_types):
        raise _err(path, "question_types", "expected at least one type with weight > 0")
    return cfg


def load_config(path: str | Path | None) -> SynthConfig:
    """The config in a YAML file, or the defaults when ``path`` is None."""
    if path is None:
        return SynthConfig()
    return parse_config(load_yaml(path), str(path))
