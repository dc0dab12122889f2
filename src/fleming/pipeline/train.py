"""The model stages of ``fleming run``: model -> validator -> (refine) -> cot -> base -> sft -> grpo1 ->
grpo2. Each starts from the newest enabled stage's checkpoint before it (the 32B recipe switches the
cold start off, so GRPO starts from the base model).

Departure for the CPU demo: the base model is a tiny Qwen2 built and pre-trained here on KG facts
(``fleming.train.pretrain``), written in the sentences the reasoning chains later check, so that "Base"
knows the facts before it is taught to reason; the paper starts from Qwen2.5-7B / Qwen3-32B.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fleming.config import build
from fleming.io import read_records
from fleming.records import MCQ

# the ablation's rows, in Table 4's order: (stage folder, row label)
ROWS = (("base", "Base"), ("sft", "+CoT"), ("grpo1", "+RL1"), ("grpo2", "+RL2"))
CHAIN = ("model", "sft", "grpo1", "grpo2")  # what each policy stage starts from


def model_dir(cfg, root: Path) -> Path:
    """The base model: a user's HF folder, or the one built in ``root/model``."""
    path = cfg.model.get("path")
    return Path(path) if path else root / "model"


def start_model(cfg, root: Path, stage: str, enabled: dict[str, bool]) -> Path:
    """The checkpoint ``stage`` starts from: the newest enabled policy stage before it."""
    before = CHAIN[:CHAIN.index(stage)] if stage in CHAIN else CHAIN[:1]
    for s in reversed(before):
        if s == "model":
            return model_dir(cfg, root)
        if enabled.get(s):
            return checkpoint(root / s)
    return model_dir(cfg, root)


def checkpoint(d: Path) -> Path:
    """A stage's checkpoint: its folder, or the ``stage1`` / ``stage2`` folder that ``fleming train grpo``
    writes when the stage ran under ``accelerate launch``."""
    for c in (d, d / "stage1", d / "stage2"):
        if any(c.glob("*.safetensors")):
            return c
    return d


def section(cfg, name: str) -> dict[str, Any]:
    """A stage's own section, without the run-level keys ``enabled`` and ``accelerate``."""
    return {k: v for k, v in getattr(cfg, name).items() if k not in ("enabled", "accelerate")}


def launch(cfg, name: str, d: Path, body: dict[str, Any], command: list[str]) -> dict[str, Any] | None:
    """Run the stage under ``accelerate launch`` when its section names an accelerate config (several
    GPUs, DeepSpeed): the section, completed with this run's paths, goes to ``d/NAME.yaml`` and the
    stage's own command (``fleming train sft|grpo``) trains from it. None when there is no launcher."""
    import subprocess
    import sys

    import yaml

    acc = getattr(cfg, name).get("accelerate")
    if not acc:
        return None
    conf = d / f"{name}.yaml"
    conf.write_text(yaml.safe_dump({name: body}, sort_keys=False))
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(acc), "-m",
           "fleming.cli", "train", *command, str(conf)]
    subprocess.run(cmd, check=True)
    return {"launched": " ".join(cmd[1:])}


def run_model(cfg, root: Path, d: Path, kg: Path) -> dict[str, Any]:
    """Build and pre-train the tiny base model on the KG's facts (``model.path`` skips this stage)."""
    from fleming.train.pretrain import PretrainConfig, pretrain

    pc = build(PretrainConfig, cfg.model.get("pretrain"), "model.pretrain", cfg.source)
    return pretrain(pc, kg, d)


def training_set(root: Path) -> list[MCQ]:
    from fleming.pipeline.data import training_set_path

    return list(read_records(training_set_path(root)))


def run_validator(cfg, root: Path, d: Path, kg: Path) -> dict[str, Any]:
    """A label-check validator: the base model SFT-warmed on KG-grounded chains of *other* items (another
    synthesis seed), none of whose stems is a held-out or validation stem.

    Departure: the paper's validator is a strong LLM (GPT-4). In a closed world of 150 diseases most
    stems recur across seeds, so warm-up items may share a stem with training items (never with the
    evaluation splits): the label check is then lenient rather than blind."""
    from fleming.cot.config import CotConfig
    from fleming.cot.run import run_cot
    from fleming.pipeline.data import run_synth
    from fleming.train.sft import SFTSection, run_sft_stage
    from fleming.train.world import stem_key

    run_synth(cfg, root, d / "items", n=cfg.validator.n, seed=cfg.synth.seed + 1_000_003)
    held = {stem_key(r) for name in ("heldout", "validation")
            for r in read_records(root / "split" / f"{name}.jsonl")}
    items = [r for r in read_records(d / "items" / "items.jsonl") if stem_key(r) not in held]
    cot = run_cot(CotConfig(kg=str(kg), progress=False), items, d / "cot")
    sft = build(SFTSection, cfg.validator.sft, "validator.sft", cfg.source)
    stats = run_sft_stage(sft, model_dir(cfg, root), d / "cot", d, where="validator.sft.trl", file=cfg.source)
    return {"items": len(items), "cot_kept": cot.get("kept"), "sft": stats}


def run_cot_stage(cfg, root: Path, d: Path, kg: Path) -> dict[str, Any]:
    from fleming.cot.config import CotConfig
    from fleming.cot.run import run_cot

    cot = build(CotConfig, {"kg": str(kg), **section(cfg, "cot")}, "cot", cfg.source)
    return run_cot(cot, training_set(root), d)


def run_base(cfg, root: Path, d: Path) -> dict[str, Any]:
    """The ablation's Base row: the base model taught the answer format alone (answer-only SFT on the
    same training items, an empty think block), standing for the paper's non-reasoning base."""
    from fleming.cot.dataset import answer_only_dataset
    from fleming.train.sft import SFTSection, run_sft_stage

    answer_only_dataset(training_set(root), d / "data")
    sft = build(SFTSection, section(cfg, "base"), "base", cfg.source)
    return run_sft_stage(sft, model_dir(cfg, root), d / "data", d, where="base.trl", file=cfg.source)


def run_sft(cfg, root: Path, d: Path, start: Path) -> dict[str, Any]:
    from fleming.train.sft import SFTSection, run_sft_stage

    body = section(cfg, "sft")
    launched = launch(cfg, "sft", d, {**body, "model": str(start), "data": str(root / "cot"), "out": str(d)},
                      ["sft"])
    if launched:
        return launched
    sft = build(SFTSection, body, "sft", cfg.source)
    return run_sft_stage(sft, start, root / "cot", d, where="sft.trl", file=cfg.source)


def grpo_config(cfg):
    from fleming.train.grpo import GRPOSection

    g = build(GRPOSection, section(cfg, "grpo"), "grpo", cfg.source)
    g.file, g.where = cfg.source, "grpo."
    return g


def run_grpo1(cfg, root: Path, d: Path, start: Path) -> dict[str, Any]:
    from fleming.pipeline.data import training_set_path
    from fleming.train.grpo import run_grpo_stage

    body = {**section(cfg, "grpo"), "model": str(start), "data": str(training_set_path(root)), "out": str(d)}
    launched = launch(cfg, "grpo", d, body, ["grpo", "--stage", "1"])
    return launched or run_grpo_stage(grpo_config(cfg), 1, start, training_set(root), d)


def run_grpo2(cfg, root: Path, d: Path, start: Path) -> dict[str, Any]:
    from fleming.pipeline.data import training_set_path
    from fleming.train.grpo import run_stage2

    val = root / "split" / "validation.jsonl"
    body = {**section(cfg, "grpo"), "model": str(start), "data": str(training_set_path(root)), "out": str(d),
            "heldout": {**section(cfg, "grpo").get("heldout", {}), "path": str(val)}}
    launched = launch(cfg, "grpo", d, body, ["grpo", "--stage", "2", "--model", str(start)])
    return launched or run_stage2(grpo_config(cfg), start, training_set(root), d,
                                  heldout=list(read_records(val)) or None)


def trained_rows(root: Path) -> list[tuple[str, str, Path]]:
    """(stage, row label, checkpoint) for each ablation row whose stage finished."""
    out = []
    for stage, label in ROWS:
        d = root / stage
        if (d / ".done").is_file() and any(checkpoint(d).glob("*.safetensors")):
            out.append((stage, label, checkpoint(d)))
    return out


def read_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None
