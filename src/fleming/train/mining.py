"""Stage 2's adaptive hard-sample mining (paper §3.3): score every item with the newest model, pool, mix.

1. **Score**: k sampled rollouts per item through the ``fleming.llm`` layer (``hf``: batched
   ``generate`` on CPU or GPU; ``vllm`` where installed), behind the SQLite response cache, graded by
   ``fleming.grading`` (the rewards' and the evaluation's grader). Each item's pass rate goes to
   ``scores.jsonl``.
2. **Pools** (``pools.json``, with the model that mined them and the round): ``easy`` (always right),
   ``hard`` (pass rate <= ``hard_max_pass``: repeated failures), ``normal`` (the rest).
3. **Mix** "Right : Wrong" (Figure 2: 1:2). Wrong = items the model gets wrong at least half the time
   (the hard pool, Difficult items first, then normal items by rising pass rate); Right = the easy pool.
   **Fallback** when the easy pool cannot fill its share (a small model that guesses is rarely always
   right): Right is topped up with the normal items the model gets right most often (pass rate >= 0.5,
   highest first). When even that falls short, all Wrong items are kept (they are the priority) and
   the stats say what was asked and what was achieved. ``max_items`` caps the total at the same ratio.
4. **Accounting**: a ``fleming.steps.Filter`` keeps the mix and drops the rest with a reason
   (``right_surplus``, ``over_cap``, ``zero_variance``, ``mining_error``); in = kept + dropped, and
   ``excluded.jsonl`` holds every dropped item with its reason.

``dynamic_sampling`` (off by default; beyond the paper, DAPO-style) drops items whose k rollouts all got
the same summed reward: their GRPO group would have zero advantage. TRL 1.16 has no public hook to drop
zero-variance groups inside the trainer and refill the batch (its reward functions must not compute
group statistics, and a ``None`` reward only zeroes an advantage), so this is done here, on the data.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleming.errors import ConfigError
from fleming.records import MCQ
from fleming.steps import Filter


def parse_ratio(text: str, where: str) -> tuple[float, float]:
    """``"1:2"`` -> (1.0, 2.0); both parts positive.

    >>> parse_ratio("1:2", "mix")
    (1.0, 2.0)
    """
    try:
        a, b = (float(x) for x in str(text).split(":"))
    except ValueError:
        raise ValueError(f"{where}: expected a ratio like 1:2, got {text!r}") from None
    if a <= 0 or b <= 0:
        raise ValueError(f"{where}: both parts of {text!r} must be > 0")
    return a, b


@dataclass
class MiningConfig:
    backend: str = field(default="auto", metadata={
        "help": "rollout engine: hf, vllm, or auto (vllm when installed with a GPU, else hf)",
        "choices": ["auto", "hf", "vllm"]})
    k: int = field(default=8, metadata={"help": "rollouts per item", "ge": 1})
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature", "ge": 0})
    top_p: float = field(default=1.0, metadata={"help": "nucleus sampling", "gt": 0, "le": 1})
    max_tokens: int = field(default=128, metadata={"help": "completion budget per rollout", "ge": 1})
    batch: int = field(default=64, metadata={"help": "hf backend generation batch (rows)", "ge": 1})
    seed: int = field(default=0, metadata={"help": "sampling seed"})
    right_wrong: str = field(default="1:2", metadata={"help": "Right : Wrong mix (Figure 2: 1:2)"})
    hard_max_pass: float = field(default=0.2, metadata={
        "help": "pass rate at or below which an item is hard (repeated failures)", "ge": 0, "lt": 1})
    max_items: int | None = field(default=None, metadata={"help": "cap on the mixed set", "ge": 1})
    pool: int | None = field(default=None, metadata={
        "help": "items scored per round: a seeded sample of the training set (all when unset, as in the "
                "paper; k rollouts per item make scoring all of a large set the cost of the stage on CPU)",
        "ge": 1})
    dynamic_sampling: bool = field(default=False, metadata={
        "help": "drop items whose k rollouts all got the same reward (DAPO-style; beyond the paper)"})
    cache: bool = field(default=True, metadata={"help": "keep rollouts in OUT/mining-cache.sqlite"})

    def __post_init__(self) -> None:
        parse_ratio(self.right_wrong, "mining.right_wrong")


def _backend(mcfg: MiningConfig, model: Path, cache: Path | None):
    import importlib.util

    from fleming.llm import make_backend

    kind = mcfg.backend
    if kind == "auto":
        import torch

        kind = "vllm" if torch.cuda.is_available() and importlib.util.find_spec("vllm") else "hf"
    opts = {"batch_size": mcfg.batch} if kind == "hf" else {}
    return kind, make_backend(kind, str(model), cache_path=cache, **opts)


def score(records: list[MCQ], model: Path, mcfg: MiningConfig, weights: tuple[float, float],
          prompt_id: str, cache: Path | None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """k rollouts per record, graded: one score row per record, and the timing."""
    from transformers import AutoTokenizer

    from fleming.grading import check_format, grade
    from fleming.llm import SamplingParams
    from fleming.prompts import build_messages, opens_think, render_chat

    convs = [build_messages(r, prompt_id) for r in records]
    tok = AutoTokenizer.from_pretrained(str(model), trust_remote_code=False)
    opened = opens_think(render_chat(tok, convs[0]))
    params = SamplingParams(temperature=mcfg.temperature, top_p=mcfg.top_p, max_tokens=mcfg.max_tokens,
                            n=mcfg.k, seed=mcfg.seed)
    kind, backend = _backend(mcfg, model, cache)
    t0 = time.perf_counter()
    with backend:
        outs = backend.generate(convs, params, progress=False)
    seconds = time.perf_counter() - t0
    rows = []
    for r, comps in zip(records, outs, strict=True):
        ok = [c for c in comps if c.ok]
        correct = [grade(c.text, r.options, r.answer, think_opened=opened).status == "correct" for c in ok]
        fmt = [check_format(c.text, think_opened=opened) for c in ok]
        rewards = [weights[0] * a + weights[1] * b for a, b in zip(correct, fmt, strict=True)]
        rows.append({"id": r.id, "difficulty": r.metadata.difficulty, "k": len(ok),
                     "errors": len(comps) - len(ok), "correct": sum(correct),
                     "pass_rate": sum(correct) / len(ok) if ok else None, "rewards": rewards})
    n = sum(len(c) for c in outs)
    return rows, {"backend": kind, "rollouts": n, "seconds": round(seconds, 2),
                  "rollouts_per_s": round(n / seconds, 2) if seconds else None, "think_opened": opened}


def pools(rows: list[dict[str, Any]], hard_max_pass: float) -> dict[str, list[str]]:
    """easy (always right), normal, hard (pass rate <= hard_max_pass); unscored rows go nowhere."""
    out: dict[str, list[str]] = {"easy": [], "normal": [], "hard": []}
    for s in rows:
        p = s["pass_rate"]
        if p is None:
            continue
        out["easy" if p == 1.0 else "hard" if p <= hard_max_pass else "normal"].append(s["id"])
    return out


_LEVEL_ORDER = {"Difficult": 0, "Moderate": 1, "Easy": 2}


def mix(rows: list[dict[str, Any]], mcfg: MiningConfig, seed: int) -> tuple[dict[str, str], dict[str, Any]]:
    """The Right : Wrong mix (module docstring): id -> "right" | "wrong" for kept items, and the report."""
    rng = random.Random(seed)
    scored = [s for s in rows if s["pass_rate"] is not None]
    if mcfg.dynamic_sampling:
        scored = [s for s in scored if len(set(s["rewards"])) > 1]
    rng.shuffle(scored)  # ties broken at random, reproducibly
    pool = pools(scored, mcfg.hard_max_pass)
    by_id = {s["id"]: s for s in scored}
    hard = sorted((by_id[i] for i in pool["hard"]),
                  key=lambda s: (_LEVEL_ORDER.get(s["difficulty"], 3), s["pass_rate"]))
    normal = sorted((by_id[i] for i in pool["normal"]), key=lambda s: s["pass_rate"])
    wrong = hard + [s for s in normal if s["pass_rate"] < 0.5]
    easy = [by_id[i] for i in pool["easy"]]
    fallback = [s for s in reversed(normal) if s["pass_rate"] >= 0.5]
    r_w, w_w = parse_ratio(mcfg.right_wrong, "mining.right_wrong")
    if mcfg.max_items:
        wrong = wrong[:round(mcfg.max_items * w_w / (r_w + w_w))]
    want_right = round(len(wrong) * r_w / w_w)
    right = easy[:want_right]
    from_easy = len(right)
    right += fallback[:want_right - from_easy]
    used_fallback = len(right) - from_easy
    chosen = {s["id"]: "wrong" for s in wrong} | {s["id"]: "right" for s in right}
    report = {"pools": {k: len(v) for k, v in pool.items()},
              "asked": {"right_wrong": mcfg.right_wrong, "right": want_right, "wrong": len(wrong)},
              "achieved": {"right": len(right), "wrong": len(wrong),
                           "right_from_easy": from_easy, "right_from_fallback": used_fallback,
                           "ratio": f"{len(right)}:{len(wrong)}"},
              "fallback_used": used_fallback > 0, "short_of_right": want_right - len(right)}
    return chosen, report


class MixFilter(Filter):
    """Keeps the mined mix; every other item is dropped with the reason it was left out."""

    name = "mining_mix"

    def __init__(self, chosen: dict[str, str], rows: list[dict[str, Any]], mcfg: MiningConfig,
                 exclusion_path: Path | None = None):
        super().__init__(exclusion_path)
        self.chosen, self.mcfg = chosen, mcfg
        self.rows = {s["id"]: s for s in rows}

    def filter(self, record: MCQ) -> bool | tuple[bool, str]:
        if record.id in self.chosen:
            return True
        s = self.rows.get(record.id)
        if s is None and self.mcfg.pool is not None:
            return False, "not_in_scored_pool"
        if s is None or s["pass_rate"] is None:
            return False, "mining_error"
        if self.mcfg.dynamic_sampling and len(set(s["rewards"])) <= 1:
            return False, "zero_variance"
        return False, "over_cap" if s["pass_rate"] < 0.5 else "right_surplus"


def mine(cfg, model: Path, records: list[MCQ], out: Path, round: int,
         log: Callable[[str], None] = print) -> dict[str, Any]:
    """Score ``records`` with ``model`` (k rollouts each), persist pools and the mix in ``out``.

    ``cfg`` is a ``GRPOSection`` (mining, rewards, prompt_id, seed). Writes ``scores.jsonl``,
    ``pools.json``, ``items.jsonl`` (the mix to train on), ``excluded.jsonl`` and ``mining_stats.json``.
    """
    from fleming.io import write_json, write_jsonl, write_records

    mcfg, out = cfg.mining, Path(out)
    if not records:
        raise ConfigError("mining: no records to score")
    out.mkdir(parents=True, exist_ok=True)
    cache = Path(cfg.out) / "mining-cache.sqlite" if mcfg.cache else None
    scored = records
    if mcfg.pool is not None and mcfg.pool < len(records):
        scored = random.Random(cfg.seed + round).sample(records, mcfg.pool)
    log(f"[mine] round {round}: {len(scored)} of {len(records)} items x {mcfg.k} rollouts with {model}")
    rows, timing = score(scored, Path(model), mcfg, (cfg.rewards.correctness, cfg.rewards.format),
                         cfg.prompt_id, cache)
    write_jsonl(out / "scores.jsonl", rows)
    pool = pools(rows, mcfg.hard_max_pass)
    write_json(out / "pools.json", {"round": round, "model": str(model), "k": mcfg.k, **pool})
    chosen, report = mix(rows, mcfg, cfg.seed + round)
    filt = MixFilter(chosen, rows, mcfg, out / "excluded.jsonl")
    kept = list(filt.run(records))
    write_records(out / "items.jsonl", kept)
    passes = [s["pass_rate"] for s in rows if s["pass_rate"] is not None]
    stats = {"round": round, "model": str(model), "k": mcfg.k, **timing, **report,
             "mean_pass_rate": float(f"{sum(passes) / len(passes):.4f}") if passes else None,
             "filter": filt.stats.to_dict(), "reconciles": filt.stats.reconciles()}
    write_json(out / "mining_stats.json", stats)
    fallback = (f" (fallback: {report['achieved']['right_from_fallback']} right from normal)"
                if report["fallback_used"] else "")
    log(f"[mine] round {round}: pools {json.dumps(report['pools'])}; mix asked {report['asked']['right']}:"
        f"{report['asked']['wrong']} achieved {report['achieved']['ratio']}"
        f"{fallback}"
        f"; {timing['rollouts_per_s']} rollouts/s ({timing['backend']})")
    return stats
