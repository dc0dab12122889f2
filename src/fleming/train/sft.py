"""Supervised fine-tuning with TRL's SFTTrainer on prompt/completion pairs built from MCQ records.

The prompt is the evaluation prompt (``fleming.prompts.build_messages``); the completion is
``<think>{reasoning}</think>\n<answer>{letters}</answer>``, the format the grader's strict check and
the RL format reward expect. Objective settings are set explicitly rather than inherited from TRL's
defaults (they change between releases). The paper's cold start uses teacher-written chains of thought
(§3.2); callers pass whatever reasoning they have (teacher CoT, or a KG-grounded path for synthetic items).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from fleming.prompts import build_messages
from fleming.records import MCQ


@dataclass
class SFTStageConfig:
    """One SFT stage. Defaults suit the tiny CPU model; paper-scale runs override them in YAML."""

    learning_rate: float = field(default=2e-3, metadata={"help": "peak learning rate", "gt": 0})
    max_steps: int = field(default=300, metadata={"help": "optimizer steps", "ge": 1})
    per_device_train_batch_size: int = field(default=16, metadata={"help": "sequences per step", "ge": 1})
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "micro-batches per step", "ge": 1})
    max_length: int = field(default=768, metadata={"help": "tokens per sequence (longer: truncated)",
                                                   "ge": 1})
    warmup_ratio: float = field(default=0.05, metadata={
        "help": "passed as warmup_steps (a float < 1 is a ratio)", "ge": 0})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay", "ge": 0})
    logging_steps: int = field(default=20, metadata={"help": "steps between log lines", "ge": 1})
    seed: int = field(default=0, metadata={"help": "training seed"})
    bf16: bool = field(default=False, metadata={"help": "TRL defaults to true; CPU runs need false"})
    num_threads: int = field(default=1, metadata={
        "help": "torch threads on CPU (NOTES.md §5: 1 is fastest for tiny models)", "ge": 1})


def completion_text(record: MCQ, reasoning: str) -> str:
    return f"<think>\n{reasoning.strip()}\n</think>\n<answer>{', '.join(record.answer)}</answer>"


def sft_rows(records: Iterable[MCQ], reasoning: Callable[[MCQ], str]) -> list[dict]:
    """Conversational prompt/completion rows, the shape SFTTrainer trains on the completion only."""
    return [{"prompt": build_messages(r),
             "completion": [{"role": "assistant", "content": completion_text(r, reasoning(r))}]}
            for r in records]


def run_sft(model_dir: str | Path, rows: list[dict], out: str | Path, cfg: SFTStageConfig) -> Path:
    """Fine-tune ``model_dir`` on ``rows`` and save a safetensors checkpoint (with tokenizer) to ``out``.

    Checkpoints go to ``out/checkpoints``; a crashed run resumes from the last one.
    """
    import datasets
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    out = Path(out)
    if not torch.cuda.is_available():
        torch.set_num_threads(cfg.num_threads)
    tok = AutoTokenizer.from_pretrained(str(model_dir), trust_remote_code=False)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), use_safetensors=True,
                                                 trust_remote_code=False)
    args = SFTConfig(
        output_dir=str(out / "checkpoints"),
        learning_rate=cfg.learning_rate, max_steps=cfg.max_steps, warmup_steps=cfg.warmup_ratio,
        per_device_train_batch_size=cfg.per_device_train_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps, weight_decay=cfg.weight_decay,
        lr_scheduler_type="cosine", max_length=cfg.max_length, seed=cfg.seed,
        # the objective, explicitly: loss on the completion only, no packing, plain NLL
        completion_only_loss=True, assistant_only_loss=False, packing=False, loss_type="nll",
        bf16=cfg.bf16 and torch.cuda.is_available(), use_cpu=not torch.cuda.is_available(),
        activation_checkpointing=False,
        logging_steps=cfg.logging_steps, save_strategy="steps", save_steps=max(cfg.max_steps // 3, 1),
        save_total_limit=1, save_only_model=False, report_to=[], dataloader_num_workers=0,
        disable_tqdm=False,
    )
    trainer = SFTTrainer(model=model, args=args, processing_class=tok,
                         train_dataset=datasets.Dataset.from_list(rows))
    last = _last_checkpoint(out / "checkpoints")
    result = trainer.train(resume_from_checkpoint=str(last) if last else None)
    trainer.save_model(str(out))  # safetensors by default
    tok.save_pretrained(str(out))
    (out / "training_args.bin").unlink(missing_ok=True)  # a pickle; the checkpoint is safetensors only
    (out / "train_loss.txt").write_text(f"{result.training_loss:.6f}\n")
    return out


def _last_checkpoint(d: Path) -> Path | None:
    ckpts = sorted(d.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1])) if d.is_dir() else []
    return ckpts[-1] if ckpts else None
