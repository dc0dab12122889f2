"""The ``fleming refine`` config: one YAML file, one dataclass per step (see configs/refine-example.yaml).

Unknown keys and wrong types are errors that name the file and the key path. Relative paths in the
config (inputs, kg_dir) are taken from the current directory, like the command's other paths.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleming.config import build, load_yaml
from fleming.errors import ConfigError
from fleming.refine.ambiguity import AmbiguityConfig
from fleming.refine.anonymize import AnonymizeConfig
from fleming.refine.decontam import DecontamConfig
from fleming.refine.dedup import DedupConfig
from fleming.refine.difficulty import DifficultyConfig
from fleming.refine.format import FormatConfig
from fleming.refine.labelcheck import LabelCheckConfig
from fleming.refine.mix import MixConfig


@dataclass
class InputSpec:
    """One training-side input: a registry loader name or a file of raw rows (.jsonl / .parquet)."""

    loader: str | None = field(default=None, metadata={"help": "a registry loader name (fleming data list)"})
    path: str | None = field(default=None, metadata={"help": "a file of raw rows (.jsonl or .parquet)"})
    limit: int | None = field(default=None, metadata={
        "help": "keep a seeded random sample of this many records", "ge": 1})
    sample_seed: int = field(default=0, metadata={"help": "seed of the limit's sample"})
    split: str | None = field(default=None, metadata={
        "help": "override the records' split (the original goes to provenance)"})
    source: str | None = field(default=None, metadata={"help": "override the records' source"})
    optional: bool = field(default=False, metadata={
        "help": "a missing file is reported in the funnel instead of failing"})
    allow_empty: bool = field(default=False, metadata={
        "help": "an input that yields no rows is reported instead of failing"})

    @property
    def name(self) -> str:
        return self.loader or Path(self.path or "?").stem


@dataclass
class RefineConfig:
    inputs: list[InputSpec] = field(default_factory=list, metadata={"help": "loaders and raw files"})
    data_dir: str | None = field(default=None, metadata={
        "help": "for loaders; default ../shared/benchmarks or $FLEMING_DATA_DIR"})
    out: str = field(default="runs/refine", metadata={"help": "run directory (the CLI's --out wins)"})
    format: FormatConfig = field(default_factory=FormatConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    decontam: DecontamConfig = field(default_factory=DecontamConfig)
    anonymize: AnonymizeConfig = field(default_factory=AnonymizeConfig)
    labelcheck: LabelCheckConfig = field(default_factory=LabelCheckConfig)
    ambiguity: AmbiguityConfig = field(default_factory=AmbiguityConfig, metadata={
        "help": "the ambiguity gate: a validator LLM asked whether another option is also correct"})
    difficulty: DifficultyConfig = field(default_factory=DifficultyConfig)
    mix: MixConfig = field(default_factory=MixConfig)

    def step_config(self, step: str) -> dict[str, Any]:
        """The part of the config one step depends on (its done marker records a fingerprint of it)."""
        if step == "inputs":
            return {"inputs": [dataclasses.asdict(i) for i in self.inputs], "data_dir": self.data_dir}
        value = getattr(self, step, None)
        return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else {}


def load_config(path: str | Path) -> RefineConfig:
    path = Path(path)
    data = load_yaml(path)
    cfg = build(RefineConfig, data, "", str(path))
    for i, spec in enumerate(cfg.inputs):
        if (spec.loader is None) == (spec.path is None):
            raise ConfigError(f"{path}: inputs[{i}]: give exactly one of 'loader' or 'path'")
        if spec.loader is not None:
            _check_loader(path, i, spec.loader)
        elif Path(spec.path).suffix not in (".jsonl", ".parquet"):
            raise ConfigError(f"{path}: inputs[{i}].path: expected a .jsonl or .parquet file, "
                              f"got {spec.path}")
    for i, name in enumerate(cfg.decontam.benchmarks):
        _check_loader(path, i, name, f"decontam.benchmarks[{i}]")
    try:
        cfg.mix.check()
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    if not cfg.inputs:
        raise ConfigError(f"{path}: inputs: expected at least one input (a loader or a path)")
    return cfg


def _check_loader(path: Path, i: int, name: str, where: str | None = None) -> None:
    from fleming.sources.registry import REGISTRY

    if name not in REGISTRY:
        where = where or f"inputs[{i}].loader"
        raise ConfigError(f"{path}: {where}: unknown loader {name!r}; expected one of "
                          f"{', '.join(sorted(REGISTRY))}")
