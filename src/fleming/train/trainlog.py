"""Training logs: TRL's metrics to JSONL (always) and a PNG of the reward curves per stage.

TensorBoard or W&B get the same metrics through TRL's own ``report_to`` when they are installed
(``default_report_to``); the JSONL file is the record the run's report and the plots read.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

PLOTTED = [("reward", "reward (weighted sum)"), ("reward_std", "reward std"),
           ("frac_reward_zero_std", "fraction of zero-std groups"),
           ("completions/mean_length", "completion length (tokens)")]


def default_report_to() -> list[str]:
    """The loggers TRL can use here: tensorboard and/or wandb when installed, else none."""
    return [name for mod, name in (("tensorboard", "tensorboard"), ("wandb", "wandb"))
            if importlib.util.find_spec(mod) is not None]


class JsonlLogger(TrainerCallback):
    """Appends every ``on_log`` dict (with step and epoch) as one JSON line to ``path``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and state.is_world_process_zero:
            row = {"step": state.global_step, "epoch": state.epoch,
                   **{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in logs.items()}}
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
        return control


def read_log(path: str | Path) -> list[dict[str, Any]]:
    p = Path(path)
    if not p.is_file():
        return []
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]


def plot_stage(rows: list[dict[str, Any]], out: str | Path, title: str) -> Path | None:
    """Reward, reward std, zero-std fraction and completion length against the step, one PNG."""
    rows = [r for r in rows if "reward" in r]
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(9, 6), sharex=True)
    for ax, (key, label) in zip(axes.flat, PLOTTED, strict=True):
        pts = [(r["step"], r[key]) for r in rows if r.get(key) is not None]
        if pts:
            ax.plot(*zip(*pts, strict=True), marker=".", linewidth=1)
        ax.set_title(label, fontsize=9)
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("step")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def window_means(rows: list[dict[str, Any]], key: str = "reward",
                 window: int = 5) -> tuple[float, float] | None:
    """Mean of ``key`` over the first and the last ``window`` logs (how far a stage moved)."""
    xs = [r[key] for r in rows if r.get(key) is not None]
    if not xs:
        return None
    w = max(1, min(window, len(xs) // 2 or 1))
    return sum(xs[:w]) / w, sum(xs[-w:]) / w
