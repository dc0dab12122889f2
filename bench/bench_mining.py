"""Benchmark: rollouts/s of stage-2 mining (``fleming.llm`` hf backend, batched, length-sorted) against
TRL's own generation for the same items and k.

TRL side: a ``GRPOTrainer`` is built with the same model and ``num_generations = k``; its public
``generation_config`` (what TRL's transformers path passes to ``model.generate``) generates each
prompt repeated k times, ``per_device_train_batch_size`` rows per call, as TRL's RepeatSampler lays a
generation batch out. Mining side: ``mining.score`` (cache off) with ``batch`` rows per call. Same
sampling (temperature 1, top_p 1, no top-k), same token budget. Both are timed in one run of the script.

Run: ``python bench/bench_mining.py [--model DIR] [--data FILE] [--n 64] [--k 8] [--max-tokens 48]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from fleming.config import build
from fleming.io import read_records
from fleming.prompts import build_messages
from fleming.train.grpo import GRPOSection, grpo_args, rows
from fleming.train.mining import score
from fleming.train.rewards import make_reward_funcs


def trl_rollouts(cfg: GRPOSection, model: Path, records, out: Path) -> tuple[int, float]:
    import datasets
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOTrainer

    torch.set_num_threads(1)
    funcs, weights = make_reward_funcs(cfg.rewards)
    args = grpo_args(cfg, 1, out, weights, log=lambda s: None)
    tok = AutoTokenizer.from_pretrained(str(model))
    trainer = GRPOTrainer(model=AutoModelForCausalLM.from_pretrained(str(model)), reward_funcs=funcs,
                          args=args, processing_class=tok,
                          train_dataset=datasets.Dataset.from_list(rows(records, cfg.prompt_id)))
    tok.padding_side = "left"
    texts = [tok.apply_chat_template(build_messages(r), add_generation_prompt=True, tokenize=False)
             for r in records for _ in range(args.num_generations)]
    n, t0 = 0, time.perf_counter()
    with torch.inference_mode():
        for b in range(0, len(texts), args.per_device_train_batch_size):
            enc = tok(texts[b:b + args.per_device_train_batch_size], return_tensors="pt", padding=True,
                      add_special_tokens=False)
            out_ids = trainer.model.generate(**enc, generation_config=trainer.generation_config)
            n += out_ids.shape[0]
    return n, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="/work/cache/grpo-tiny/sft")
    ap.add_argument("--data", default="/work/cache/grpo-data/grpo.jsonl")
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--batch", type=int, default=64, help="mining rows per generate call")
    ap.add_argument("--trl-batch", type=int, default=16, help="TRL per_device_train_batch_size (rows)")
    a = ap.parse_args()
    records = list(read_records(a.data))[:a.n]
    model, tmp = Path(a.model), Path(tempfile.mkdtemp(prefix="bench-mining-"))
    cfg = build(GRPOSection, {
        "mining": {"backend": "hf", "k": a.k, "max_tokens": a.max_tokens, "batch": a.batch, "cache": False},
        "stage1": {"trl": {"num_generations": a.k, "per_device_train_batch_size": a.trl_batch,
                           "max_completion_length": a.max_tokens, "temperature": 1.0, "top_p": 1.0}}},
        "", "bench")
    _, timing = score(records, model, cfg.mining, (1.0, 1.0), cfg.prompt_id, None)
    n_trl, s_trl = trl_rollouts(cfg, model, records, tmp)
    print(f"model {model}; {len(records)} items x k={a.k}, <= {a.max_tokens} tokens, temperature 1")
    print(f"mining (hf backend, batch {a.batch}): {timing['rollouts']} rollouts in {timing['seconds']:.1f} s "
          f"= {timing['rollouts_per_s']:.1f} rollouts/s")
    print(f"TRL generation (batch {a.trl_batch} rows): {n_trl} rollouts in {s_trl:.1f} s "
          f"= {n_trl / s_trl:.1f} rollouts/s")
    print(f"ratio mining / TRL: {timing['rollouts_per_s'] / (n_trl / s_trl):.2f}")


if __name__ == "__main__":
    main()
