"""GRPO rewards in TRL's reward-function signature, on top of the shared grader (``fleming.grading``).

The paper's reward (§3.3) is answer correctness plus format adherence, and nothing else: a length term
or any other shaping is excluded on purpose, because every extra term is one more thing the policy can
learn to game (reward hacking) instead of answering correctly. So the default is exactly two functions:

- ``Correctness``: 1.0 when the lenient extraction equals the gold letter(s), else 0.0; the same call
  the evaluation makes, so reward and evaluation never disagree about an answer.
- ``Format``: 1.0 when the strict format holds (``<think>...</think>`` then one ``<answer>...</answer>``).

``Grounding`` (off by default, beyond the paper) is a process check: 1.0 when the reasoning names the
text of the option the answer picks. NOTES.md §5 found that RL made tiny models' chains misquote their
options more often, which an outcome reward cannot see.

Each reward is a callable class (TRL pickles reward functions for its rollout workers, so no closures)
and scores every completion on its own: no group statistics, since a group can be split across GPUs.
TRL logs each under ``__name__`` (``rewards/correctness/mean`` ...).

>>> Format()(["<think>x</think><answer>B</answer>", "B"])
[1.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fleming.grading import (
    coerce_options,
    completion_text,
    correctness_reward,
    extract_answer,
    final_segment,
    format_reward,
)


class Correctness:
    """Correctness reward; ``think_opened``: the chat template writes ``<think>`` itself."""

    def __init__(self, think_opened: bool = False):
        self.think_opened, self.__name__ = think_opened, "correctness"

    def __call__(self, completions: Sequence[Any], options: Sequence[Any], answer: Sequence[Any],
                 **kwargs: Any) -> list[float]:
        kwargs = {**kwargs, "think_opened": self.think_opened}
        return correctness_reward(completions, options, answer, **kwargs)


class Format:
    """Strict-format reward (``fleming.grading.check_format``)."""

    def __init__(self, think_opened: bool = False):
        self.think_opened, self.__name__ = think_opened, "format"

    def __call__(self, completions: Sequence[Any], **kwargs: Any) -> list[float]:
        return format_reward(completions, **{**kwargs, "think_opened": self.think_opened})


class Grounding:
    """1.0 when the reasoning names the option text of the extracted answer (beyond the paper)."""

    def __init__(self, think_opened: bool = False):
        self.think_opened, self.__name__ = think_opened, "grounding"

    def __call__(self, completions: Sequence[Any], options: Sequence[Any], **kwargs: Any) -> list[float]:
        out = []
        for c, o in zip(completions, options, strict=True):
            text, opts = completion_text(c), coerce_options(o)
            letters = extract_answer(text, opts, think_opened=self.think_opened)
            final = final_segment(text, self.think_opened)
            reasoning = text[:len(text) - len(final)] if final is not None else ""
            ok = bool(letters) and all(opts[x].lower() in reasoning.lower() for x in letters)
            out.append(float(ok))
        return out


@dataclass
class RewardConfig:
    """Which rewards and their weights (TRL's ``reward_weights``; the advantage uses their weighted sum)."""

    correctness: float = field(default=1.0, metadata={"help": "weight of the correctness reward", "ge": 0})
    format: float = field(default=1.0, metadata={"help": "weight of the strict-format reward", "ge": 0})
    process_reward: bool = field(default=False, metadata={
        "help": "add the grounding reward (reasoning names the chosen option's text); beyond the paper"})
    process_weight: float = field(default=0.5, metadata={"help": "weight of the grounding reward", "ge": 0})


def make_reward_funcs(cfg: RewardConfig, think_opened: bool = False) -> tuple[list[Any], list[float]]:
    """(reward functions, weights) for ``GRPOTrainer(reward_funcs=...)`` and ``GRPOConfig.reward_weights``."""
    funcs: list[Any] = [Correctness(think_opened), Format(think_opened)]
    weights = [cfg.correctness, cfg.format]
    if cfg.process_reward:
        funcs.append(Grounding(think_opened))
        weights.append(cfg.process_weight)
    return funcs, weights
