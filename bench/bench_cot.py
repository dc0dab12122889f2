"""Benchmark: the CoT stage (``run_cot``: teacher pass@k, verification, answer-blind validator, refinement)
driving the ``openai`` backend against a local endpoint that answers after a fixed delay L.

The endpoint is ``fleming.llm.loadtest`` in its own process with the scripted CoT teacher
(``fleming.cot.scripted``: one item in three gets a wrong first answer, so refinement rounds run).
Items are synthetic items with their KG, so verification includes the claim check. Figures:

- efficiency = requests answered per second / (C / L) at C=64, L=0.5 s, over the distillation loop
  (first request to last item journaled)                                            [>= 0.90]
- the same over the whole ``run_cot`` call (KG load and output writing included)
- client CPU per item (process time / items), requests per item, verified items

Run: ``python bench/bench_cot.py --items runs/synth/items.jsonl --n 2000`` (about a minute).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path

from bench_llm_openai import server_stats, start_server
from fleming.config import build
from fleming.cot.config import CotConfig
from fleming.cot.run import run_cot
from fleming.io import read_records


def baseline(url: str, c: int, n: int) -> dict:
    """The bare backend on the same server: n plain requests in one call (no CoT work)."""
    from fleming.llm import SamplingParams, make_backend

    convs = [[{"role": "user", "content": f"Question {i}: which option? A. x B. y"}] for i in range(n)]
    with make_backend("openai", "stub", base_url=url, concurrency=c) as be:
        t = time.perf_counter()
        be.generate(convs, SamplingParams(max_tokens=64), progress=False)
        return {"n": n, "rps": n / (time.perf_counter() - t)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=Path, required=True, help="synthetic items (.jsonl) with a KG")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--latency", type=float, default=0.5)
    ap.add_argument("--workers", type=int, default=32, help="chunks of 8 items in flight")
    args = ap.parse_args()
    records = list(read_records(args.items))[:args.n]
    c, lat = args.concurrency, args.latency
    ideal = c / lat
    srv, url = start_server(lat, extra=("--reply", "fleming.cot.scripted:reply"))
    try:
        base = baseline(url, c, len(records))
        before = server_stats(url)["answered"]
        cfg = build(CotConfig, {
            "teacher": {"kind": "llm", "model": "stub", "base_url": url, "k": args.k, "concurrency": c},
            "validator": {"enabled": True}, "rounds": 3, "refine_k": 2, "progress": False,
            "chunk": 8, "workers": args.workers,
            "checks": {"min_path_mention": 0.0}}, "", "bench")
        timeline: list[tuple[float, int]] = []
        stop = threading.Event()

        def watch() -> None:  # answered requests over time, from the server
            while not stop.wait(0.25):
                timeline.append((time.perf_counter(), server_stats(url)["answered"] - before))

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        with tempfile.TemporaryDirectory() as tmp:
            t0, cpu0 = time.perf_counter(), time.process_time()
            stats = run_cot(cfg, records, Path(tmp), log=lambda s: None)
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        stop.set()
        watcher.join()
        answered = server_stats(url)["answered"] - before
    finally:
        srv.kill()
    loop = stats["seconds"]["distill"]
    print(f"C={c}, L={lat} s, ideal {ideal:.0f} req/s; {len(records)} items, k={args.k}")
    print(f"baseline: the bare openai backend, {base['n']} requests in one generate call: "
          f"{base['rps']:.1f} req/s, efficiency {base['rps'] / ideal:.3f} (what this machine allows now)")
    print(f"requests answered {answered} ({answered / len(records):.2f} per item: pass@k, validator, "
          f"refinement); kept {stats['kept']}, dropped {stats['dropped']} {stats['drop_reasons']}")
    print(f"per round: {json.dumps(stats['per_round'])}")
    print(f"distillation loop {loop:.1f} s: {answered / loop:.1f} req/s, "
          f"efficiency {answered / loop / ideal:.3f}")
    print(f"whole run_cot {wall:.1f} s (setup {stats['seconds']['setup']} s, write "
          f"{stats['seconds']['write']} s): efficiency {answered / wall / ideal:.3f}")
    first = next(t for t, a in timeline if a > 0)
    lo = next(t for t, a in timeline if a >= 0.1 * answered)
    hi = next(t for t, a in timeline if a >= 0.9 * answered)
    last = next(t for t, a in timeline if a >= answered)
    print(f"steady state (10% to 90% of requests): {0.8 * answered / (hi - lo):.1f} req/s, efficiency "
          f"{0.8 * answered / (hi - lo) / ideal:.3f}; first answer {first - t0:.1f} s after the start, "
          f"last 10% took {last - hi:.1f} s")
    print(f"client CPU {1000 * cpu / len(records):.2f} ms per item (verification, prompts, HTTP, journal)")


if __name__ == "__main__":
    main()
