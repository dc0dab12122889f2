"""Two-stage RLVR with TRL's GRPOTrainer (paper §3.3): one config section, one function per stage.

Each stage is a NEW ``GRPOTrainer`` built from the previous stage's saved weights, with its own dataset
and ``num_generations`` (changing them on a live trainer runs but keeps the old batch shape; NOTES §3).
TRL's own ``GRPOConfig`` fields are read from the YAML (``stage1.trl`` / ``stage2.trl``) by
``fleming.config.trl_args``. The paper's objective is fixed here, explicitly:

- ``scale_rewards="none"``: advantage = reward - group mean, no division by the std (fixed; a YAML value
  that contradicts it is an error);
- ``beta=0.0`` (no KL term), ``num_iterations=1`` (on-policy), ``epsilon=0.2`` (defaults, overridable);
- ``loss_type="dr_grpo"``: per-token log-probs summed over each completion and divided by a constant,
  i.e. the paper's ``1/k Σ log πθ(y_i|x) A_i`` up to a constant (``grpo`` would average per sequence and
  weight short completions more);
- ``mask_truncated_completions=False``: a truncated completion keeps its zero format/correctness reward
  and its negative advantage, which is what teaches a model to finish inside the token budget;
- on CPU ``bf16`` and activation checkpointing off (TRL turns both on; CPU runs 2x slower with them).

Stage 1 takes Easy + Moderate items (``metadata.difficulty`` from refine) in a configurable mix (Figure
2's "Hard : Simple 1:1" is Moderate : Easy 1:1) and stops at a reward plateau (``plateau.py``). Stage 2
(``curriculum.run_stage2``) alternates mining (``mining.py``) and GRPO rounds.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleming.errors import ConfigError, FlemingError
from fleming.records import MCQ
from fleming.train.mining import MiningConfig, parse_ratio
from fleming.train.plateau import PlateauCallback, PlateauConfig
from fleming.train.rewards import RewardConfig, make_reward_funcs

LEVELS = ("Easy", "Moderate", "Difficult")
OBJECTIVE = {"beta": 0.0, "num_iterations": 1, "epsilon": 0.2, "loss_type": "dr_grpo",
             "mask_truncated_completions": False}
FIXED = {"scale_rewards": "none"}  # the paper's advantage: r - mean, no std


@dataclass
class Stage1Config:
    difficulties: list[str] = field(default_factory=lambda: ["Easy", "Moderate"], metadata={
        "help": "difficulty labels stage 1 trains on (metadata.difficulty from refine)"})
    mix: str = field(default="1:1", metadata={
        "help": "harder : simpler among the chosen levels (Figure 2: Hard : Simple 1:1); 'all': every item; "
                "when the ratio would keep under half the items, all are used (stats: fallback)"})
    max_items: int | None = field(default=None, metadata={"help": "cap on the stage's items", "ge": 1})
    plateau: PlateauConfig = field(default_factory=PlateauConfig)
    trl: dict[str, Any] = field(default_factory=dict, metadata={"help": "GRPOConfig fields for stage 1"})

    def __post_init__(self) -> None:
        bad = [d for d in self.difficulties if d not in LEVELS]
        if bad or not self.difficulties:
            raise ValueError(f"stage1.difficulties: expected some of {', '.join(LEVELS)}, "
                             f"got {self.difficulties}")
        if self.mix != "all":
            parse_ratio(self.mix, "stage1.mix")


@dataclass
class Stage2Config:
    rounds: int = field(default=2, metadata={"help": "mining + GRPO rounds at most", "ge": 1})
    min_gain: float = field(default=0.0, metadata={
        "help": "a round must raise held-out accuracy by more than this (points in [0, 1]) to go on"})
    plateau: PlateauConfig = field(default_factory=lambda: PlateauConfig(enabled=False))
    trl: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "GRPOConfig fields for stage 2 (num_generations larger than stage 1's)"})


@dataclass
class LoraSection:
    enabled: bool = field(default=False, metadata={"help": "train LoRA adapters (merged when saved)"})
    r: int = field(default=16, metadata={"help": "LoRA rank", "ge": 1})
    alpha: int = field(default=32, metadata={"help": "LoRA alpha", "ge": 1})
    dropout: float = field(default=0.0, metadata={"help": "LoRA dropout", "ge": 0, "lt": 1})
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"],
                                      metadata={"help": "modules that get adapters"})


@dataclass
class HeldoutConfig:
    path: str | None = field(default=None, metadata={"help": "held-out records; default: a slice of data"})
    n: int = field(default=200, metadata={"help": "items sliced off data when path is unset", "ge": 1})
    max_tokens: int = field(default=128, metadata={"help": "greedy answer budget", "ge": 1})
    batch: int = field(default=32, metadata={"help": "generation batch", "ge": 1})


@dataclass
class GRPOSection:
    """The ``grpo:`` section of a run config (or a file of its own)."""

    model: str = field(default="", metadata={"help": "starting checkpoint (the SFT output), safetensors"})
    data: str = field(default="", metadata={"help": "training records (.jsonl / .parquet) with difficulty"})
    out: str = field(default="runs/grpo", metadata={"help": "output folder (stage1/, stage2/)"})
    seed: int = field(default=0, metadata={"help": "seed for item selection and sampling"})
    prompt_id: str = field(default="fleming-mcq-v1", metadata={"help": "prompt id (fleming.prompts)"})
    rewards: RewardConfig = field(default_factory=RewardConfig)
    stage1: Stage1Config = field(default_factory=Stage1Config)
    mining: MiningConfig = field(default_factory=MiningConfig)
    stage2: Stage2Config = field(default_factory=Stage2Config)
    heldout: HeldoutConfig = field(default_factory=HeldoutConfig)
    lora: LoraSection = field(default_factory=LoraSection)
    file: str = field(default="<grpo config>", init=False)  # where it came from, for error messages
    where: str = field(default="", init=False)  # "grpo." when read from a whole-run config


def load_section(path: str | Path) -> GRPOSection:
    """The file alone, or the ``grpo:`` section of a whole-run config."""
    from fleming.config import load, load_yaml

    cfg = load(GRPOSection, path, "grpo")
    cfg.file, cfg.where = str(path), "grpo." if "grpo" in load_yaml(path) else ""
    return cfg


# ---------------------------------------------------------------- stage 1 items
def select_stage1(records: list[MCQ], cfg: Stage1Config, seed: int) -> tuple[list[MCQ], dict[str, Any]]:
    """Items at the chosen levels, in the ``mix`` ratio (harder : simpler), seeded; and what was achieved."""
    missing = [r.id for r in records if r.metadata.difficulty not in LEVELS]
    if missing:
        raise FlemingError(f"{len(missing)} of {len(records)} records have no metadata.difficulty "
                           f"(first: {missing[0]}); stage 1 picks {'/'.join(cfg.difficulties)} items by it: "
                           "run refine with the difficulty step first (fleming refine CONFIG)")
    levels = sorted(cfg.difficulties, key=LEVELS.index)
    by = {lv: [r for r in records if r.metadata.difficulty == lv] for lv in levels}
    rng = random.Random(seed)
    for lv in levels:
        rng.shuffle(by[lv])
    info: dict[str, Any] = {"available": {lv: len(v) for lv, v in by.items()}, "mix_asked": cfg.mix}
    if cfg.mix == "all" or len(levels) == 1:
        chosen = [r for lv in levels for r in by[lv]]
    else:
        hard_w, simple_w = parse_ratio(cfg.mix, "stage1.mix")
        hard = [r for lv in levels[1:] for r in by[lv]]  # the harder levels together
        simple = by[levels[0]]
        n = min(len(hard) / hard_w, len(simple) / simple_w)  # units of the ratio both sides can fill
        chosen = hard[:round(n * hard_w)] + simple[:round(n * simple_w)]
        if len(chosen) < (len(hard) + len(simple)) / 2:       # one side nearly empty (1 Easy : 108
            chosen = hard + simple                           # Moderate): every item, not 2 of them
            info["fallback"] = "the ratio keeps under half the items: all of them are used"
    rng.shuffle(chosen)
    if cfg.max_items:
        chosen = chosen[:cfg.max_items]
    info["chosen"] = {lv: sum(r.metadata.difficulty == lv for r in chosen) for lv in levels}
    if not chosen:
        raise FlemingError(f"stage 1 has no items: available {info['available']}, mix {cfg.mix}")
    return chosen, info


# ---------------------------------------------------------------- GRPOConfig
def _on_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def grpo_args(cfg: GRPOSection, stage: int, out: Path, weights: list[float],
              log: Callable[[str], None] = print):
    """``GRPOConfig`` for ``stage``: the YAML's ``trl`` fields over OBJECTIVE, FIXED enforced, device set."""
    from trl import GRPOConfig

    from fleming.config import trl_args
    from fleming.train.trainlog import default_report_to

    section = cfg.stage1 if stage == 1 else cfg.stage2
    where = f"{cfg.where}stage{stage}.trl"
    data = {**OBJECTIVE, "seed": cfg.seed, "report_to": default_report_to() or "none",
            "logging_steps": 1, "save_strategy": "steps", "save_steps": 20, "save_total_limit": 2,
            "dataloader_num_workers": 0, **section.trl}
    if not _on_cuda():  # device settings, not the objective: a GPU config still runs here
        cpu = {"bf16": False, "activation_checkpointing": False, "gradient_checkpointing": False,
               "use_cpu": True, "use_vllm": False}
        changed = [k for k, v in cpu.items() if k in section.trl and section.trl[k] != v]
        if changed:
            log(f"[grpo] CPU: {', '.join(changed)} overridden ({cpu})")
        data.update(cpu)
    args = trl_args(GRPOConfig, data, where, cfg.file, output_dir=str(out / "checkpoints"),
                    reward_weights=weights, **FIXED)
    if args.per_device_train_batch_size % args.num_generations:
        raise ConfigError(f"{cfg.file}: {where}.per_device_train_batch_size: "
                          f"{args.per_device_train_batch_size} is not divisible by num_generations "
                          f"{args.num_generations} (it counts completions: every prompt's group must fit in "
                          "one device batch)")
    return args


def rows(records: list[MCQ], prompt_id: str) -> list[dict[str, Any]]:
    """Conversational prompts plus the columns the rewards read (options as texts, gold letters)."""
    from fleming.prompts import build_messages

    return [{"prompt": build_messages(r, prompt_id), "options": list(r.options.values()),
             "answer": list(r.answer), "id": r.id} for r in records]


def check_checkpoint(path: Path) -> None:
    """A checkpoint folder must hold safetensors weights (fleming loads nothing else)."""
    if not path.is_dir():
        raise FlemingError(f"{path}: checkpoint folder not found")
    if not any(path.glob("*.safetensors")):
        found = ", ".join(sorted(p.name for p in path.iterdir())[:6]) or "nothing"
        raise FlemingError(f"{path}: no *.safetensors weights (found {found}); fleming loads safetensors "
                           "only: re-save the model with save_pretrained(safe_serialization=True)")


# ---------------------------------------------------------------- one stage
def run_grpo_stage(cfg: GRPOSection, stage: int, model: Path, records: list[MCQ], out: Path,
                   log: Callable[[str], None] = print, callbacks: list | None = None) -> dict[str, Any]:
    """Train a new GRPOTrainer from ``model`` on ``records`` and save a safetensors checkpoint to ``out``.

    Stage 1 selects its items from ``records`` (``select_stage1``); stage 2 takes them as given (the mined
    mix). A killed run resumes from ``out/checkpoints`` (``ignore_data_skip`` when the items changed).
    ``callbacks``: extra ``TrainerCallback``s (timers, loggers) beside the plateau and JSONL ones.
    Returns stats, with ``stopped`` saying why the stage ended.
    """
    import time

    import datasets
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOTrainer

    from fleming.io import fingerprint, write_json
    from fleming.prompts import build_messages, opens_think, render_chat
    from fleming.train.sft import _last_checkpoint
    from fleming.train.trainlog import JsonlLogger, plot_stage, read_log, window_means

    model, out = Path(model), Path(out)
    check_checkpoint(model)
    info: dict[str, Any] = {}
    if stage == 1:
        records, info = select_stage1(records, cfg.stage1, cfg.seed)
    elif not records:
        raise FlemingError(f"stage {stage}: no items to train on")
    args = grpo_args(cfg, stage, out, make_reward_funcs(cfg.rewards)[1], log)  # before anything is loaded
    out.mkdir(parents=True, exist_ok=True)
    if not _on_cuda():
        torch.set_num_threads(1)
    tok = AutoTokenizer.from_pretrained(str(model), trust_remote_code=False)
    think_opened = opens_think(render_chat(tok, build_messages(records[0], cfg.prompt_id)))
    reward_funcs, weights = make_reward_funcs(cfg.rewards, think_opened)
    policy = AutoModelForCausalLM.from_pretrained(str(model), use_safetensors=True, trust_remote_code=False,
                                                  dtype=torch.bfloat16 if args.bf16 else torch.float32)
    data_fp = fingerprint([r.id for r in records])
    last = _last_checkpoint(out / "checkpoints")
    if last is not None:
        check_checkpoint(last)
        same = (out / "data.fingerprint").is_file() and (out / "data.fingerprint").read_text() == data_fp
        args.ignore_data_skip = not same
        log(f"[grpo] stage {stage}: resuming from {last}"
            + ("" if same else " (new items: ignore_data_skip)"))
    (out / "data.fingerprint").write_text(data_fp)
    plateau = PlateauCallback((cfg.stage1 if stage == 1 else cfg.stage2).plateau, log)
    log_path = out / "metrics.jsonl"
    if last is None:
        log_path.unlink(missing_ok=True)
    trainer = GRPOTrainer(model=policy, reward_funcs=reward_funcs, args=args, processing_class=tok,
                          train_dataset=datasets.Dataset.from_list(rows(records, cfg.prompt_id)),
                          peft_config=_peft(cfg.lora),
                          callbacks=[plateau, JsonlLogger(log_path), *(callbacks or [])])
    log(f"[grpo] stage {stage}: {len(records)} items x {args.num_generations} rollouts, "
        f"batch {args.per_device_train_batch_size}, max_steps {args.max_steps}, loss {args.loss_type}, "
        f"beta {args.beta}, scale_rewards {args.scale_rewards}")
    t0 = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=str(last) if last else None)
    seconds = time.perf_counter() - t0
    _save(trainer, tok, out, cfg.lora.enabled)
    hist = read_log(log_path)
    steps = trainer.state.global_step
    stopped = plateau.reason or ("max_steps" if args.max_steps > 0 and steps >= args.max_steps else "epochs")
    first_last = window_means(hist)
    stats = {"stage": stage, "seed": args.seed, "items": len(records), "selection": info, "steps": steps,
             "stopped": stopped,
             "plateau_step": plateau.step, "train_loss": result.training_loss,
             "reward_first_last": first_last, "seconds": round(seconds, 1),
             "seconds_per_step": round(seconds / max(steps, 1), 3), "num_generations": args.num_generations,
             "objective": {k: getattr(args, k) for k in (*OBJECTIVE, *FIXED)}, "reward_weights": weights,
             "think_opened": think_opened, "model_in": str(model), "model_out": str(out),
             "plot": str(plot_stage(hist, out / "rewards.png", f"GRPO stage {stage}: {out}") or "")}
    write_json(out / "grpo_stats.json", stats)
    log(f"[grpo] stage {stage}: {steps} steps in {seconds:.0f} s, stopped: {stopped}; reward first->last "
        f"{_fmt(first_last)}")
    return stats


def _fmt(pair: tuple[float, float] | None) -> str:
    return "n/a" if pair is None else f"{pair[0]:.3f} -> {pair[1]:.3f}"


def _peft(lora: LoraSection):
    if not lora.enabled:
        return None
    from peft import LoraConfig

    return LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                      target_modules=list(lora.target_modules), task_type="CAUSAL_LM")


def _save(trainer, tok, out: Path, merged_lora: bool) -> None:
    """Full weights as safetensors (LoRA merged in), the tokenizer, and no pickled training args."""
    model = trainer.model
    if merged_lora:
        model = model.merge_and_unload()
    model.save_pretrained(str(out), safe_serialization=True)
    tok.save_pretrained(str(out))
    (out / "training_args.bin").unlink(missing_ok=True)


def run_stage2(cfg: GRPOSection, model: Path, records: list[MCQ], out: Path,
               log: Callable[[str], None] = print, heldout: list[MCQ] | None = None) -> dict[str, Any]:
    """Stage 2 (mining + GRPO rounds); see ``fleming.train.curriculum.run_stage2``."""
    from fleming.train.curriculum import run_stage2 as run

    return run(cfg, model, records, out, log, heldout)


def split_heldout(cfg: GRPOSection, records: list[MCQ]) -> tuple[list[MCQ], list[MCQ]]:
    """(training records, held-out records): ``heldout.path`` when set, else a seeded slice of ``records``."""
    from fleming.io import read_records

    if cfg.heldout.path:
        return records, list(read_records(cfg.heldout.path))
    order = list(range(len(records)))
    random.Random(cfg.seed + 7).shuffle(order)
    cut = set(order[:min(cfg.heldout.n, len(records) // 5)])
    return ([r for i, r in enumerate(records) if i not in cut],
            [r for i, r in enumerate(records) if i in cut])


def run_stage(cfg: GRPOSection, stage: int, model: Path | None = None,
              log: Callable[[str], None] = print) -> dict[str, Any]:
    """What ``fleming train grpo CONFIG --stage N`` runs: read the data, run the stage into OUT/stageN,
    and measure held-out accuracy before and after stage 1 (stage 2 measures it every round)."""
    if not cfg.data:
        raise ConfigError(f"{cfg.file}: {cfg.where}data: the training records are required")
    out = Path(cfg.out)
    # the stage's GRPOConfig is checked before any evaluation, mining or training
    grpo_args(cfg, stage, out / f"stage{stage}", make_reward_funcs(cfg.rewards)[1], log)
    with _exclusive(out / f".stage{stage}.lock"):
        return _run_stage(cfg, stage, model, out, log)


@contextmanager
def _exclusive(lock: Path) -> Iterator[None]:
    """One run per stage folder: a second one would train into the same checkpoints."""
    import fcntl

    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FlemingError(f"{lock.parent}: another run of this stage is writing here") from None
        yield


def _run_stage(cfg: GRPOSection, stage: int, model: Path | None, out: Path,
               log: Callable[[str], None]) -> dict[str, Any]:
    from fleming.io import read_records, write_json
    from fleming.train.curriculum import fmt_acc, heldout_accuracy

    records, heldout = split_heldout(cfg, list(read_records(cfg.data)))
    if stage == 1:
        if not (model or cfg.model):
            raise ConfigError(f"{cfg.file}: {cfg.where}model: the starting checkpoint is required")
        start = Path(model or cfg.model)
        check_checkpoint(start)
        h = cfg.heldout
        before = heldout_accuracy(start, heldout, h.max_tokens, h.batch, cfg.prompt_id, cfg.seed)
        log(f"[grpo] held-out before stage 1: {fmt_acc(before)}")
        stats = run_grpo_stage(cfg, 1, start, records, out / "stage1", log)
        after = heldout_accuracy(out / "stage1", heldout, h.max_tokens, h.batch, cfg.prompt_id, cfg.seed)
        log(f"[grpo] held-out after stage 1: {fmt_acc(after)}")
        stats = {**stats, "heldout_before": before, "heldout_after": after}
        write_json(out / "stage1" / "grpo_stats.json", stats)
        return stats
    start = Path(model or out / "stage1")
    check_checkpoint(start)
    return run_stage2(cfg, start, records, out / "stage2", log, heldout)
