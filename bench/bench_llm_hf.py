"""Benchmark: the ``hf`` backend on the tiny model, batched generation against one prompt at a time.

Prints generated tokens/s for batch sizes 1 (one prompt at a time), 8, 16, 32 and 64, greedy, on MCQ-style
prompts built from HPO term names (varied lengths, so left padding is exercised). Target (issue 3):
batched >= 3x one-at-a-time. One torch thread, as recommended for tiny models on CPU (NOTES.md §5).

Run: ``.venv/bin/python bench/bench_llm_hf.py [--model DIR] [--max-tokens 64]`` (about a minute).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from fleming.llm import SamplingParams, make_backend
from fleming.train.tiny import build_tiny_model, training_text


def prompts(n: int, seed: int = 0) -> list[list[dict[str, str]]]:
    rng = random.Random(seed)
    terms = [t for t in training_text() if 3 <= len(t) <= 60]
    convs = []
    for _ in range(n):
        findings = ", ".join(rng.sample(terms, rng.randint(1, 8)))
        options = "\n".join(f"{c}. {rng.choice(terms)}" for c in "ABCD")
        system = "You are a medical expert. Answer inside <answer></answer>."
        question = f"A patient presents with {findings}. Which is the most likely diagnosis?\n{options}"
        convs.append([{"role": "system", "content": system}, {"role": "user", "content": question}])
    return convs


def tokens_per_second(model: str, convs, batch_size: int, max_tokens: int) -> tuple[float, float]:
    with make_backend("hf", model, batch_size=batch_size, num_threads=1) as be:
        be.generate(convs[:2], SamplingParams(max_tokens=4), progress=False)  # warm-up
        t0 = time.perf_counter()
        out = be.generate(convs, SamplingParams(temperature=0, max_tokens=max_tokens), progress=False)
        wall = time.perf_counter() - t0
    return sum(r[0].completion_tokens for r in out) / wall, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="checkpoint directory (default: build the tiny model in a temp dir)")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--n", type=int, default=64, help="prompts per batched run")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or str(build_tiny_model(Path(tmp) / "tiny"))
        convs = prompts(args.n)
        single, wall = tokens_per_second(model, convs[:16], 1, args.max_tokens)
        print(f"one prompt at a time (16 prompts)     {single:8.0f} tokens/s  ({wall:.1f} s)")
        for bs in (8, 16, 32, 64):
            tps, wall = tokens_per_second(model, convs, bs, args.max_tokens)
            print(f"batch_size={bs:<3} ({len(convs)} prompts)          {tps:8.0f} tokens/s  ({wall:.1f} s)  "
                  f"speed-up {tps / single:.1f}x")


if __name__ == "__main__":
    main()
