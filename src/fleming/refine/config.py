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

    loader: str | None = None
    path: str | None = None
    limit: int | None = None  # keep a seeded random sample of this many records
    sample_seed: int = 0
    split: str | None = None  # override the records' split (the original goes to provenance)
    source: str | None = None  # override the records' source
    optional: bool = False  # a missing file is reported in the funnel instead of failing

    @property
    def name(self) -> str:
        return self.loader or Path(self.path or "?").stem


@dataclass
class RefineConfig:
    inputs: list[InputSpec] = field(default_factory=list)
    data_dir: str | None = None  # for loaders; default ../shared/benchmarks or $FLEMING_DATA_DIR
    out: str = "runs/refine"  # run directory (the CLI's --out wins)
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
    try:
        cfg.mix.check()
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    return cfg
