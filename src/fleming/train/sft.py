"""Supervised fine-tuning (the cold start's second half, paper §3.2) with TRL's SFTTrainer.

Rows are TRL's conversational prompt/completion shape: the prompt is the evaluation prompt
(``fleming.prompts.build_messages``), the completion ``<think>…</think>`` then ``<answer>X</answer>``
(the format the strict grader and the RL format reward expect). ``fleming cot`` writes them.

The section's ``trl`` mapping holds any ``trl.SFTConfig`` field (read by ``fleming.config.trl_args``);
the objective is fixed here, explicitly, not inherited from TRL's defaults (they change between
releases): loss on the completion only, no packing, plain NLL; on CPU also ``bf16`` off, ``use_cpu`` on
and no activation checkpointing (NOTES.md §3). ``lora`` holds ``peft.LoraConfig`` fields (null: full
fine-tuning); LoRA weights are merged before saving, so the checkpoint loads as a plain model.
A share of the items (by a hash of the item id) is held out: its loss is measured before and after.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleming.prompts import build_messages
from fleming.records import MCQ

OBJECTIVE = {"completion_only_loss": True, "assistant_only_loss": False, "packing": False, "loss_type": "nll"}
CPU = {"bf16": False, "use_cpu": True, "activation_checkpointing": False}
DEFAULTS = {
    "learning_rate": 2e-3,
    "max_steps": 300,
    "per_device_train_batch_size": 16,
    "max_length": 768,
    "lr_scheduler_type": "cosine",
    "warmup_steps": 0.05,
    "logging_steps": 20,
    "save_strategy": "steps",
    "save_total_limit": 1,
    "report_to": "none",
    "dataloader_num_workers": 0,
    "seed": 0,
}


@dataclass
class SFTSection:
    model: str = field(default="", metadata={"help": "base model directory (HF checkpoint, safetensors)"})
    data: str = field(default="", metadata={"help": "a `fleming cot` output directory (its dataset/)"})
    out: str = field(default="runs/sft", metadata={"help": "where the fine-tuned checkpoint goes"})
    lora: dict[str, Any] | None = field(
        default=None,
        metadata={
            "help": "peft.LoraConfig fields (r, lora_alpha, target_modules, ...); null: full fine-tuning"
        },
    )
    trl: dict[str, Any] = field(
        default_factory=dict,
        metadata={
            "help": "trl.SFTConfig fields (learning_rate, max_steps, ...); the objective is fixed by fleming"
        },
    )
    eval_fraction: float = field(
        default=0.1,
        metadata={
            "help": "share of items held out (by id hash) to measure held-out loss",
            "ge": 0.0,
            "lt": 1.0,
        },
    )
    num_threads: int = field(
        default=1, metadata={"help": "torch threads on CPU (1 is fastest for tiny models)", "ge": 1}
    )


def completion_text(record: MCQ, reasoning: str) -> str:
    return f"<think>\n{reasoning.strip()}\n</think>\n<answer>{', '.join(record.answer)}</answer>"


def sft_rows(records: Iterable[MCQ], reasoning: Callable[[MCQ], str]) -> list[dict]:
    """Conversational prompt/completion rows, the shape SFTTrainer trains on the completion only."""
    return [
        {
            "id": r.id,
            "prompt": build_messages(r),
            "completion": [{"role": "assistant", "content": completion_text(r, reasoning(r))}],
        }
        for r in records
    ]


def held_out(item_id: str, fraction: float) -> bool:
    """Whether an item is in the held-out share (stable across runs and row orders)."""
    h = int.from_bytes(hashlib.sha256(item_id.encode()).digest()[:8], "big")
    return h / 2**64 < fraction


def sft_args(cfg: SFTSection, out: Path, where: str = "trl", file: str = "config"):
    """The ``SFTConfig``: YAML fields, fleming's defaults where unset, the objective fixed explicitly."""
    import torch
    from trl import SFTConfig

    from fleming.config import trl_args

    data = {**DEFAULTS, **(cfg.trl or {})}
    data.setdefault("save_steps", max(int(data["max_steps"]) // 3, 1) if int(data["max_steps"]) > 0 else 500)
    explicit = {**OBJECTIVE, "output_dir": str(out / "checkpoints"), "save_only_model": False}
    if not torch.cuda.is_available():
        explicit.update(CPU)
    return trl_args(SFTConfig, data, where, file, **explicit)


def run_sft_stage(
    cfg: SFTSection,
    model: Path,
    data_dir: Path,
    out: Path,
    log: Callable[[str], None] = print,
    *,
    where: str = "trl",
    file: str = "config",
) -> dict[str, Any]:
    """Fine-tune ``model`` on the CoT dataset in ``data_dir``; a safetensors checkpoint + tokenizer go to
    ``out`` (resumes from ``out/checkpoints``). Returns stats incl. train and held-out loss."""
    from fleming.cot.dataset import load_sft_dataset

    ds = load_sft_dataset(data_dir)
    rows = [
        {"id": i, "prompt": p, "completion": c}
        for i, p, c in zip(ds["id"], ds["prompt"], ds["completion"], strict=True)
    ]
    train = [r for r in rows if not held_out(r["id"], cfg.eval_fraction)]
    evals = [r for r in rows if held_out(r["id"], cfg.eval_fraction)]
    log(f"[sft] {len(train)} training rows, {len(evals)} held out")
    return train_sft(Path(model), train, evals, Path(out), cfg, log, where=where, file=file)


def train_sft(
    model_dir: Path,
    train: list[dict],
    evals: list[dict],
    out: Path,
    cfg: SFTSection,
    log: Callable[[str], None] = print,
    *,
    where: str = "trl",
    file: str = "config",
) -> dict[str, Any]:
    """The training itself, on prompt/completion rows (the demo's validator warm-up calls it directly)."""
    import datasets
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTTrainer

    out.mkdir(parents=True, exist_ok=True)
    args = sft_args(cfg, out, where, file)
    if not torch.cuda.is_available():
        torch.set_num_threads(cfg.num_threads)
    tok = AutoTokenizer.from_pretrained(str(model_dir), trust_remote_code=False)
    net = AutoModelForCausalLM.from_pretrained(str(model_dir), use_safetensors=True, trust_remote_code=False)
    peft_config = None
    if cfg.lora is not None:
        from peft import LoraConfig

        peft_config = LoraConfig(task_type="CAUSAL_LM", **cfg.lora)

    def dataset(rs: list[dict]):
        return datasets.Dataset.from_list(
            [{"prompt": r["prompt"], "completion": r["completion"]} for r in rs]
        )

    trainer = SFTTrainer(
        model=net,
        args=args,
        processing_class=tok,
        train_dataset=dataset(train),
        eval_dataset=dataset(evals) if evals else None,
        peft_config=peft_config,
    )
    last = _last_checkpoint(out / "checkpoints")
    before_file = out / "held_out_loss_before.txt"  # measured once, before the first step
    if evals and last is None:
        before_file.write_text(f"{trainer.evaluate()['eval_loss']:.6f}\n")
    before = float(before_file.read_text()) if evals and before_file.is_file() else None
    result = trainer.train(resume_from_checkpoint=str(last) if last else None)
    after = trainer.evaluate()["eval_loss"] if evals else None
    model = trainer.model.merge_and_unload() if peft_config is not None else trainer.model
    model.save_pretrained(str(out), safe_serialization=True)
    tok.save_pretrained(str(out))
    (out / "training_args.bin").unlink(missing_ok=True)  # a pickle; the checkpoint is safetensors only
    (out / "train_loss.txt").write_text(f"{result.training_loss:.6f}\n")
    stats = {
        "train_rows": len(train),
        "held_out_rows": len(evals),
        "steps": result.global_step,
        "train_loss": round(result.training_loss, 6),
        "resumed_from": last.name if last else None,
        "held_out_loss_before": None if before is None else round(before, 6),
        "held_out_loss_after": None if after is None else round(after, 6),
        "lora": cfg.lora is not None,
    }
    log(f"[sft] {stats}")
    return stats


def _last_checkpoint(d: Path) -> Path | None:
    """The newest *complete* checkpoint: the Trainer writes trainer_state.json last, so a folder without it
    was cut off mid-save by a kill and is skipped (resuming from it fails)."""
    ckpts = sorted(d.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1])) if d.is_dir() else []
    done = [c for c in ckpts if (c / "trainer_state.json").is_file()]
    return done[-1] if done else None
