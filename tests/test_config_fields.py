"""Every field of the configs read from YAML carries help text, and the shipped configs pass the checks."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import pytest

from fleming.config import describe
from fleming.cot.config import CotConfig
from fleming.kg.build import KGConfig
from fleming.kg.build import load_config as load_kg
from fleming.pipeline.config import RunConfig, load_run_config
from fleming.refine.config import RefineConfig
from fleming.refine.config import load_config as load_refine
from fleming.synth.templates import ParaphraseConfig, SynthConfig
from fleming.synth.templates import load_config as load_synth
from fleming.train.grpo import GRPOSection
from fleming.train.pretrain import PretrainConfig
from fleming.train.sft import SFTSection
from fleming.train.world import WorldConfig

ROOT = Path(__file__).resolve().parents[1]


def leaf_fields(cls: type, prefix: str = "") -> list[tuple[str, dataclasses.Field]]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        item = typing.get_args(tp)[0] if typing.get_origin(tp) is list else None
        if dataclasses.is_dataclass(tp):
            out += leaf_fields(tp, f"{prefix}{f.name}.")
        elif item is not None and dataclasses.is_dataclass(item):
            out += [(f"{prefix}{f.name}", f), *leaf_fields(item, f"{prefix}{f.name}[].")]
        else:
            out.append((f"{prefix}{f.name}", f))
    return out


@pytest.mark.parametrize("cls", [RefineConfig, SynthConfig, ParaphraseConfig, KGConfig, SFTSection, CotConfig,
                                 GRPOSection, PretrainConfig, WorldConfig, RunConfig])
def test_every_field_has_help(cls):
    missing = [name for name, f in leaf_fields(cls) if not f.metadata.get("help") and f.init
               and name != "question_types"]  # question types are checked by parse_type, key by key
    assert missing == []
    assert len(describe(cls)) == len(leaf_fields(cls))


@pytest.mark.parametrize("name", ["run-7b.yaml", "run-32b.yaml"])
def test_run_configs_load(name):
    cfg = load_run_config(ROOT / "configs" / name)   # every stage's section is built, hence validated
    assert cfg.grpo["stage2"]["trl"]["num_generations"] > cfg.grpo["stage1"]["trl"]["num_generations"]


def test_packaged_demo_config_loads():
    assert load_run_config(None).kg.slice is not None


def test_shipped_configs_pass_the_checks():
    assert load_refine(ROOT / "configs/refine-example.yaml").dedup.threshold == 0.8
    assert load_synth(ROOT / "configs/synth-default.yaml") == SynthConfig()
    for name in ("kg-default.yaml", "kg-shared.yaml"):
        assert load_kg(ROOT / "configs" / name)["sources"]
