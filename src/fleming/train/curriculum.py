"""Stage 2 rounds (paper §3.3) and held-out accuracy between stages.

A round = mine the whole training set with the newest model (``mining.mine``), then a NEW GRPO trainer
on the mix from that model's weights, with stage 2's (larger) ``num_generations``. Rounds go on until
``stage2.rounds`` runs out or a round brings no gain (> ``min_gain``) in greedy accuracy on the held-out
slice; the round that brought none is kept on disk but the best model so far is the stage's output.
Held-out accuracy is greedy decoding through the ``hf`` backend, graded by ``fleming.grading``, with a
percentile-bootstrap 95% CI (``fleming.eval.metrics``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fleming.records import MCQ


def heldout_accuracy(model: Path, records: list[MCQ], max_tokens: int = 128, batch: int = 32,
                     prompt_id: str = "fleming-mcq-v1", seed: int = 0) -> dict[str, Any]:
    """Greedy accuracy on ``records`` with its 95% CI, format rate and unparsed rate."""
    from transformers import AutoTokenizer

    from fleming.eval.metrics import bootstrap_ci
    from fleming.grading import check_format, grade
    from fleming.llm import SamplingParams, make_backend
    from fleming.prompts import build_messages, opens_think, render_chat

    convs = [build_messages(r, prompt_id) for r in records]
    opened = opens_think(render_chat(AutoTokenizer.from_pretrained(str(model)), convs[0]))
    with make_backend("hf", str(model), batch_size=batch) as backend:
        outs = backend.generate(convs, SamplingParams(temperature=0.0, max_tokens=max_tokens), progress=False)
    grades = [grade(o[0].text, r.options, r.answer, think_opened=opened)
              for r, o in zip(records, outs, strict=True)]
    scores = [float(g.status == "correct") for g in grades]
    lo, hi = bootstrap_ci(scores, seed=seed)
    n = len(scores)
    return {"n": n, "accuracy": sum(scores) / n, "ci95": [lo, hi],
            "format": sum(check_format(o[0].text, think_opened=opened) for o in outs) / n,
            "unparsed": sum(g.status == "unparsed" for g in grades) / n}


def fmt_acc(a: dict[str, Any]) -> str:
    return (f"{100 * a['accuracy']:.1f}% [{100 * a['ci95'][0]:.1f}, {100 * a['ci95'][1]:.1f}] "
            f"(n={a['n']}, format {100 * a['format']:.0f}%)")


def run_stage2(cfg, model: Path, records: list[MCQ], out: Path, log: Callable[[str], None] = print,
               heldout: list[MCQ] | None = None) -> dict[str, Any]:
    """Mining + GRPO rounds from ``model``; the best model is copied to ``out`` (safetensors)."""
    import shutil

    from fleming.io import read_records, write_json
    from fleming.train.grpo import run_grpo_stage
    from fleming.train.mining import mine

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    h = cfg.heldout
    evaluate = (lambda m: heldout_accuracy(m, heldout, h.max_tokens, h.batch, cfg.prompt_id, cfg.seed)) \
        if heldout else None
    best, best_acc = Path(model), evaluate(model) if evaluate else None
    if best_acc:
        log(f"[stage2] held-out before stage 2: {fmt_acc(best_acc)}")
    rounds: list[dict[str, Any]] = []
    stopped = "round budget spent"
    for r in range(1, cfg.stage2.rounds + 1):
        rdir = out / f"round-{r}"
        mined = mine(cfg, best, records, rdir / "mining", r, log)
        items = list(read_records(rdir / "mining" / "items.jsonl"))
        stage = run_grpo_stage(cfg, 2, best, items, rdir / "model", log)
        entry: dict[str, Any] = {"round": r, "mining": _brief(mined), "grpo": stage}
        if evaluate:
            acc = evaluate(rdir / "model")
            entry["heldout"] = acc
            gain = acc["accuracy"] - best_acc["accuracy"]
            log(f"[stage2] round {r}: held-out {fmt_acc(acc)}, gain {100 * gain:+.1f} points")
            rounds.append(entry)
            if gain <= cfg.stage2.min_gain:
                stopped = (f"round {r} brought no held-out gain ({100 * gain:+.1f} <= "
                           f"{100 * cfg.stage2.min_gain} points)")
                break
            best_acc = acc
        else:
            rounds.append(entry)
        best = rdir / "model"
    for f in best.iterdir():  # the stage's output: the best model's files
        if f.is_file() and (f.suffix in {".safetensors", ".json", ".jinja", ".txt"}):
            shutil.copy2(f, out / f.name)
    stats = {"rounds": rounds, "stopped": stopped, "best_model": str(best), "heldout_best": best_acc}
    write_json(out / "stage2_stats.json", stats)
    log(f"[stage2] stopped: {stopped}; best model {best}")
    return stats


def _brief(m: dict[str, Any]) -> dict[str, Any]:
    keys = ("k", "rollouts", "rollouts_per_s", "pools", "asked", "achieved", "fallback_used",
            "mean_pass_rate")
    return {k: m[k] for k in keys if k in m}
