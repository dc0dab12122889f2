"""Benchmark: our GRPO stage (``run_grpo_stage``) against a plain TRL ``GRPOTrainer`` on the same model,
items and settings; per-step wall time, median over all timed steps of several interleaved runs.

Both sides get the same ``GRPOConfig`` (built by ``grpo_args``), the same reward functions, the same
seed (so the same rollouts) and the same step timer; ours adds what it adds in real use (stage-1 item
selection, the plateau callback, the JSONL logger, saving and plotting outside the steps). Target
(issue 14): ours / plain <= 1.05. The first step of each run is a warm-up and is not timed.

Run: ``python bench/bench_grpo.py [--model DIR] [--data FILE] [--runs 5] [--steps 6]``
(default model: /work/cache/grpo-tiny/sft when present, else a fresh tiny model).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from transformers import TrainerCallback

from fleming.config import build
from fleming.io import read_records
from fleming.records import MCQ, Metadata
from fleming.train.grpo import GRPOSection, grpo_args, rows, run_grpo_stage, select_stage1
from fleming.train.rewards import make_reward_funcs


class StepTimer(TrainerCallback):
    def __init__(self):
        self.times: list[float] = []
        self._t = 0.0

    def on_step_begin(self, args, state, control, **kw):
        self._t = time.perf_counter()

    def on_step_end(self, args, state, control, **kw):
        self.times.append(time.perf_counter() - self._t)


def plain_trl(cfg: GRPOSection, model: Path, records: list[MCQ], out: Path, timer: StepTimer) -> None:
    import datasets
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOTrainer

    torch.set_num_threads(1)
    funcs, weights = make_reward_funcs(cfg.rewards)
    records, _ = select_stage1(records, cfg.stage1, cfg.seed)  # the items and order our stage trains on
    args = grpo_args(cfg, 1, out, weights, log=lambda s: None)
    trainer = GRPOTrainer(model=AutoModelForCausalLM.from_pretrained(str(model)), reward_funcs=funcs,
                          args=args, processing_class=AutoTokenizer.from_pretrained(str(model)),
                          train_dataset=datasets.Dataset.from_list(rows(records, cfg.prompt_id)),
                          callbacks=[timer])
    trainer.train()


def load_items(data: str | None, n: int) -> list[MCQ]:
    if data:
        recs = [r for r in read_records(data) if r.metadata.difficulty in ("Easy", "Moderate")]
        return recs[:n]
    opts = {"A": "Marfan syndrome", "B": "Noonan syndrome", "C": "Turner syndrome", "D": "Down syndrome"}
    return [MCQ(id=f"q{i}", source="bench", split="train", question=f"Short stature and finding {i}?",
                options=opts, answer=["ABCD"[i % 4]], metadata=Metadata(difficulty="Easy")) for i in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None)
    ap.add_argument("--data", default="/work/cache/grpo-data/grpo.jsonl")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--steps", type=int, default=6)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-grpo-"))
    model = Path(a.model) if a.model else Path("/work/cache/grpo-tiny/sft")
    if not (model / "model.safetensors").is_file():
        from fleming.train.tiny import build_tiny_model

        model = build_tiny_model(tmp / "tiny")
    data = a.data if a.data and Path(a.data).is_file() else None
    records = load_items(data, 64)
    trl = {"num_generations": 4, "per_device_train_batch_size": 16, "max_completion_length": 48,
           "max_steps": a.steps, "learning_rate": 1e-4, "save_strategy": "no", "logging_steps": 1,
           "shuffle_dataset": False}
    cfg = build(GRPOSection, {"stage1": {"mix": "all", "trl": trl}}, "", "bench")
    ours, plain = [], []
    for i in range(a.runs):
        for side in (("plain", "ours") if i % 2 == 0 else ("ours", "plain")):
            timer = StepTimer()
            out = tmp / f"{side}-{i}"
            if side == "ours":
                cfg.out = str(out)
                run_grpo_stage(cfg, 1, model, records, out, log=lambda s: None, callbacks=[timer])
                ours += timer.times[1:]
            else:
                plain_trl(cfg, model, records, out, timer)
                plain += timer.times[1:]
            print(f"run {i} {side:5s}: steps {[round(t, 3) for t in timer.times]}")
    mo, mp = statistics.median(ours), statistics.median(plain)
    print(f"model {model}; {len(records)} items, 4 prompts x 4 rollouts, <= 48 tokens, {a.runs} runs x "
          f"{a.steps - 1} timed steps each side")
    print(f"median step: ours {mo:.3f} s, plain TRL {mp:.3f} s, ratio {mo / mp:.3f} (target <= 1.05)")


if __name__ == "__main__":
    main()
