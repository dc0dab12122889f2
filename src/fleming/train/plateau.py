"""Plateau detection for a GRPO stage: a ``TrainerCallback`` that ends the stage when rewards go sparse.

The paper trains stage 1 "until performance plateaus, which shows as reward sparsity" (§3.3) and gives
no rule; ours watches, over a window of TRL's logged steps:

- ``zero_std``: the fraction of groups whose summed reward has zero std (no learning signal), mean over
  the window, at or above ``max_zero_std``;
- ``func_std``: every reward function's own std at or below ``min_func_std`` (a summed reward can have
  zero std while its parts vary, e.g. right-but-badly-formatted vs wrong-but-well-formatted);
- ``slope``: the least-squares slope (per logged step) of the moving-average reward over the window at
  or below ``min_slope``, for ``patience`` logs in a row.

Nothing fires before ``min_steps``. When one fires, the callback sets ``should_training_stop`` and
``should_save`` and keeps the reason in ``reason`` (the stage records it and logs one line).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from transformers import TrainerCallback


@dataclass
class PlateauConfig:
    enabled: bool = field(default=True, metadata={"help": "end the stage at a reward plateau"})
    window: int = field(default=8, metadata={"help": "logged steps in the moving window", "ge": 2})
    min_steps: int = field(default=16, metadata={"help": "no plateau before this global step", "ge": 0})
    max_zero_std: float = field(default=0.9, metadata={
        "help": "stop when the window's mean fraction of zero-std groups reaches this", "gt": 0, "le": 1})
    min_func_std: float = field(default=0.02, metadata={
        "help": "stop when every reward function's window-mean std is at or below this", "ge": 0})
    min_slope: float = field(default=0.002, metadata={
        "help": "stop when the moving-average reward's slope per logged step is at or below this"})
    patience: int = field(default=4, metadata={"help": "logs in a row the slope rule must hold", "ge": 1})


def slope(ys: list[float]) -> float:
    """Least-squares slope of ``ys`` against 0..n-1.

    >>> slope([1.0, 2.0, 3.0]), slope([2.0, 2.0])
    (1.0, 0.0)
    """
    n = len(ys)
    if n < 2:
        return 0.0
    mx, my = (n - 1) / 2, sum(ys) / n
    return sum((i - mx) * (y - my) for i, y in enumerate(ys)) / sum((i - mx) ** 2 for i in range(n))


class PlateauCallback(TrainerCallback):
    """Watches TRL's ``on_log`` metrics; ``reason`` is None until a rule fires."""

    def __init__(self, cfg: PlateauConfig, log: Callable[[str], None] = print):
        self.cfg, self.log = cfg, log
        self.rewards: deque[float] = deque(maxlen=cfg.window)
        self.moving: deque[float] = deque(maxlen=cfg.window)
        self.zero_std: deque[float] = deque(maxlen=cfg.window)
        self.func_std: dict[str, deque[float]] = {}
        self.flat = 0
        self.reason: str | None = None
        self.step: int | None = None

    def observe(self, logs: dict[str, float], step: int) -> str | None:
        """Take one log; the reason to stop, or None."""
        if "reward" not in logs or logs["reward"] is None:
            return None
        c = self.cfg
        self.rewards.append(float(logs["reward"]))
        self.moving.append(sum(self.rewards) / len(self.rewards))
        self.zero_std.append(float(logs.get("frac_reward_zero_std") or 0.0))
        for key, value in logs.items():
            if key.startswith("rewards/") and key.endswith("/std") and value is not None:
                self.func_std.setdefault(key.split("/")[1], deque(maxlen=c.window)).append(float(value))
        full = len(self.rewards) == c.window
        if not (full and step >= c.min_steps):
            return None
        zero = sum(self.zero_std) / len(self.zero_std)
        if zero >= c.max_zero_std:
            return (f"zero_std: {zero:.2f} of groups had one reward (window of {c.window} logs) "
                    f">= {c.max_zero_std}")
        stds = {k: sum(v) / len(v) for k, v in self.func_std.items()}
        if stds and all(s <= c.min_func_std for s in stds.values()):
            parts = ", ".join(f"{k} {s:.3f}" for k, s in stds.items())
            return f"func_std: every reward function's std <= {c.min_func_std} ({parts})"
        s = slope(list(self.moving))
        self.flat = self.flat + 1 if s <= c.min_slope else 0
        if self.flat >= c.patience:
            return (f"slope: moving-average reward {self.moving[-1]:.3f} changed {s:+.4f} per log "
                    f"(<= {c.min_slope}) for {self.flat} logs")
        return None

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not self.cfg.enabled or self.reason is not None or not logs:
            return control
        reason = self.observe(logs, state.global_step)
        if reason:
            self.reason, self.step = reason, state.global_step
            self.log(f"[grpo] plateau at step {state.global_step}: {reason}; stopping and saving")
            control.should_training_stop = True
            control.should_save = True
        return control
