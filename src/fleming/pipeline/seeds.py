"""The ``rl_seeds`` stage of ``fleming run``: the two GRPO stages repeated over more seeds.

Seeds move a small model's RL result by several points, so a gain read from one seed is not a result
(issue 16: RL gains must hold in mean over at least 3 seeds). The run's own ``grpo1``/``grpo2`` are the
first seed (``grpo.seed``); each seed in ``seeds.rl`` reruns both stages from the same +CoT checkpoint
with ``grpo.seed`` set to it (item order, sampling, mining), in ``rl_seeds/seed{N}/``, and scores both
rows greedy on the eval split with the eval stage's grader. Seeds run in separate processes, at most
``seeds.workers`` at once (one torch thread each on CPU). A seed whose ``result.json`` exists is not run
again, so a crashed stage resumes. The summary gives, per RL row, every seed's accuracy, the mean and
the spread, and every seed's paired test against +CoT.
"""

from __future__ import annotations

import dataclasses
import statistics
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from fleming.io import read_records, write_json

RL_ROWS = (("grpo1", "+RL1"), ("grpo2", "+RL2"))


def _seed_config(cfg, seed: int):
    return dataclasses.replace(cfg, grpo={**cfg.grpo, "seed": seed})


def run_seed(cfg, root: Path, seed: int, d: Path, kg: Path) -> dict[str, Any]:
    """grpo1 and grpo2 for one seed from the +CoT checkpoint, then both rows greedy on the eval split."""
    from fleming.pipeline import train
    from fleming.pipeline.evaluate import chain_order, evaluate_row

    done = d / "result.json"
    if done.is_file():
        return train.read_json(done)
    scfg = _seed_config(cfg, seed)
    on = {"sft": cfg.sft.get("enabled", True), "grpo1": True, "grpo2": True}
    start = train.start_model(scfg, root, "grpo1", on)
    train.run_grpo1(scfg, root, d / "grpo1", start)
    train.run_grpo2(scfg, root, d / "grpo2", train.checkpoint(d / "grpo1"))
    records = list(read_records(root / "split" / f"{cfg.eval.split}.jsonl"))
    ev = dataclasses.replace(cfg.eval, samples=1)
    order = chain_order(cfg)
    rows = {}
    for stage, label in RL_ROWS:
        row = evaluate_row(train.checkpoint(d / stage), records, d / "eval" / stage, ev, kg, order)
        rows[label] = {"accuracy": row["greedy"]["accuracy"], "correct": row["correct"],
                       "claim_precision": (row.get("claims") or {}).get("precision")}
    result = {"seed": seed, "rows": rows}
    write_json(done, result)
    return result


def summarize(per_seed: list[dict[str, Any]], cot_correct: dict[str, bool]) -> dict[str, Any]:
    """Per RL row: each seed's accuracy, mean, sd, min, max; each seed's paired test against +CoT.

    >>> s = summarize([{"seed": 0, "rows": {"+RL1": {"accuracy": 0.5, "correct": {"a": True, "b": False}}}},
    ...                {"seed": 1, "rows": {"+RL1": {"accuracy": 1.0, "correct": {"a": True, "b": True}}}}],
    ...               {"a": False, "b": False})
    >>> s["+RL1"]["mean"], s["+RL1"]["gain_mean"], s["+RL1"]["seeds_above_cot"]
    (0.75, 0.75, 2)
    """
    from fleming.pipeline.evaluate import paired

    out: dict[str, Any] = {}
    for _, label in RL_ROWS:
        got = [(r["seed"], r["rows"][label]) for r in per_seed if label in r["rows"]]
        if not got:
            continue
        accs = [row["accuracy"] for _, row in got]
        tests = {str(s): paired(cot_correct, row["correct"]) for s, row in got}
        gains = [t["diff"] for t in tests.values()]
        out[label] = {"seeds": [s for s, _ in got], "accuracy": accs, "mean": statistics.fmean(accs),
                      "sd": statistics.stdev(accs) if len(accs) > 1 else 0.0, "min": min(accs),
                      "max": max(accs), "vs_cot": tests, "gain_mean": statistics.fmean(gains),
                      "seeds_above_cot": sum(g > 0 for g in gains)}
    return out


def run_rl_seeds(cfg, root: Path, d: Path, kg: Path) -> dict[str, Any]:
    """Every extra seed (in parallel processes), then the summary over them and the run's own seed."""
    from fleming.pipeline.train import grpo_config, read_json

    table = read_json(root / "eval" / "ablation.json")
    rows = table["rows"]
    own = {"seed": grpo_config(cfg).seed,
           "rows": {label: {"accuracy": rows[label]["greedy"]["accuracy"], "correct": rows[label]["correct"]}
                    for _, label in RL_ROWS if label in rows}}
    seeds = [s for s in cfg.seeds.rl if s != own["seed"]]
    workers = max(1, min(cfg.seeds.workers, len(seeds)))
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(run_seed, cfg, root, s, d / f"seed{s}", kg) for s in seeds]
        per_seed = [own] + [f.result() for f in futures]
    summary = {"split": table["split"], "items": table["heldout_items"],
               "cot_accuracy": rows["+CoT"]["greedy"]["accuracy"],
               "rows": summarize(per_seed, rows["+CoT"]["correct"])}
    write_json(d / "summary.json", summary)
    return {k: {"mean": v["mean"], "sd": v["sd"], "gain_mean": v["gain_mean"]}
            for k, v in summary["rows"].items()}
