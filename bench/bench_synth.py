"""Synthesis benchmarks: skeleton-kernel rate, complete items/s, attempts per item and peak RSS by KG size.

    .venv/bin/python bench/bench_synth.py                       # real KGs + scale-ups to 10k, 100k, 1M nodes
    .venv/bin/python bench/bench_synth.py --sizes 1e5 --n 20000  # one scale-up size

KGs: the embedded default (HPO), the real merged graph from configs/kg-shared.yaml (when ../shared is
there), and synthetic scale-ups of that real graph (``fleming.kg.scaleup``, same edges-per-node ratio).
Each measurement runs in a fresh process after a warm-up process (so numba loads its cached kernels
instead of compiling) and reports:

- skeleton kernel: the diagnosis skeleton (long-tail disease, observe 3 findings, distractors sharing
  >= 2 and lacking >= 1, ranked, is_a-closed, synonym-free, verified) per CPU-second, and all types;
  beside it the issue's reference step alone ("core": the same kernel functions up to the choice of
  distractors, without the final verification, option shuffle and output; ``synth_core.py``);
- complete items: ``synthesize`` (kernel + rendering + provenance + MCQ validation + JSON), items/s per
  wall second and per CPU-second of the process, attempts per item, CPU microseconds per item and
  per attempt, on one process and on all cores, with the peak RSS (VmHWM) of the process.

Targets (issue 5): kernel >= 100k skeletons/s, >= 10,000 complete items/s on one process at ~100k nodes,
cost per item within 1.5x from 10k to 1M nodes, RSS < 0.5 GiB at 100k nodes. The machine this runs on
is shared; CPU-seconds are reported beside wall time for that reason.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE = r"""
import json, os, sys, time
import numpy as np
def kib(field):
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith(field))
mode, kg_dir, n, workers = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
from fleming.synth.templates import SynthConfig
res = {}
if mode == "kernel":
    from fleming.kg.store import KG
    from fleming.synth.run import Synthesizer
    from fleming.synth.prims import seed_for
    from synth_core import core_skeletons
    s = Synthesizer(KG.load(kg_dir), SynthConfig(), seed=1)
    s.warm_up()
    t_ = s.index.plans["diagnosis"].arrays
    seeds = np.array([seed_for(np.uint64(1), i, 0) for i in range(1000, 1000 + n)], np.uint64)
    core_skeletons(s.index.graph, t_, s.kernel.work, seeds[:10])
    t = time.process_time()
    made = core_skeletons(s.index.graph, t_, s.kernel.work, seeds)
    dt = time.process_time() - t
    res["core"] = {"skeletons_per_cpu_s": round(made / dt), "attempts_per_cpu_s": round(n / dt),
                   "us_per_attempt": round(dt / n * 1e6, 2), "attempts_per_skeleton": round(n / made, 3)}
    for name in ["diagnosis", "all"]:
        names = s.names if name == "all" else [name]
        acc = att = 0
        t = time.process_time()
        for t_name in names:
            out = s.kernel.run(t_name, np.arange(1000, 1000 + n // len(names)), 1)
            acc += int((out.status == 0).sum()); att += int(out.attempts.sum())
        dt = time.process_time() - t
        res[name] = {"skeletons_per_cpu_s": round(acc / dt), "attempts_per_cpu_s": round(att / dt),
                     "us_per_attempt": round(dt / att * 1e6, 2), "attempts_per_skeleton": round(att / acc, 3)}
else:
    import tempfile
    from fleming.synth.run import synthesize
    with tempfile.TemporaryDirectory() as d:
        st = synthesize(kg_dir, n, SynthConfig(), seed=1, out_dir=d, workers=workers)
    t = st["timing_s"]
    res = {"items": st["n_items"], "items_per_s": t["items_per_s"], "index_s": t["load_and_index"],
           "attempts_per_item": st["attempts_per_item"],
           "items_per_cpu_s": round(st["n_items"] / max(t["synthesis_cpu_parent"], 1e-9))
           if workers == 1 else None,
           "us_per_item_cpu": round(t["synthesis_cpu_parent"] / st["n_items"] * 1e6, 1)
           if workers == 1 else None,
           "rarest_30pct_ratio": st["rarity_deciles"]["rarest_30pct_ratio"]}
res["peak_rss_gib"] = round(kib("VmHWM:") / 2**20, 3)
print(json.dumps(res))
"""


def probe(mode: str, kg: Path, n: int, workers: int = 1) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "bench")])}
    out = subprocess.run([sys.executable, "-c", PROBE, mode, str(kg), str(n), str(workers)],
                         capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(f"probe {mode} {kg} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def real_kgs(work: Path) -> list[tuple[str, Path]]:
    from fleming.kg.build import build

    kgs = []
    for name in ("kg-default", "kg-shared"):
        cfg = ROOT / "configs" / f"{name}.yaml"
        out = work / name
        if not (out / "edges.parquet").is_file():
            try:
                build(cfg, out)
            except Exception as e:                     # ../shared absent: the shared KG is skipped
                print(f"skip {name}: {e}", file=sys.stderr)
                continue
        kgs.append((name, out))
    return kgs


def scaleups(real: Path, sizes: list[int], work: Path) -> list[tuple[str, Path]]:
    from fleming.kg.scaleup import scale_up
    from fleming.kg.store import KG, save

    kg = KG.load(real)
    ratio = kg.n_edges / kg.n_nodes
    out = []
    for n in sizes:
        path = work / f"scaleup-{n}"
        if not (path / "edges.parquet").is_file():
            nodes, edges = scale_up(kg, n, int(n * ratio), seed=0)
            save(path, nodes, edges, {"scaleup_of": str(real)})
        out.append((f"scale-up {n:,}", path))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/fleming-bench-synth"))
    ap.add_argument("--sizes", default="1e4,1e5,1e6", help="scale-up node counts ('' for none)")
    ap.add_argument("--n", type=int, default=20000, help="items per synthesize run")
    ap.add_argument("--kernel-slots", type=int, default=50000)
    ap.add_argument("--workers", type=int, default=0, help="all-cores run (0: os.cpu_count())")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    kgs = real_kgs(args.work)
    sizes = [int(float(x)) for x in args.sizes.split(",") if x]
    base = dict(kgs).get("kg-shared", dict(kgs).get("kg-default"))
    kgs += scaleups(base, sizes, args.work) if sizes else []
    workers = args.workers or os.cpu_count() or 1
    rows = []
    for name, path in kgs:
        probe("synth", path, 200)                                  # warm-up: numba cache, page cache
        k = probe("kernel", path, args.kernel_slots)
        one = probe("synth", path, args.n, 1)
        many = probe("synth", path, args.n, workers)
        rows.append((name, path, k, one, many))
        print(json.dumps({"kg": name, "kernel": k, "one_process": one, "all_cores": many}), flush=True)
    _table(rows, workers)


def _table(rows, workers: int) -> None:
    from fleming.kg.store import KG

    print(f"\n| KG | nodes | edges | core step/CPU-s | diagnosis skeletons/CPU-s | all-type skeletons/CPU-s "
          f"| µs/attempt "
          f"| items/s (1 proc, wall) | items/CPU-s | µs/item CPU | attempts/item | peak RSS GiB (1 proc) "
          f"| items/s ({workers} procs) | rarest-30% ratio |")
    print("|" + "---|" * 15)
    for name, path, k, one, many in rows:
        kg = KG.load(path)
        print(f"| {name} | {kg.n_nodes:,} | {kg.n_edges:,} | {k['core']['skeletons_per_cpu_s']:,} "
              f"| {k['diagnosis']['skeletons_per_cpu_s']:,} "
              f"| {k['all']['skeletons_per_cpu_s']:,} | {k['all']['us_per_attempt']} "
              f"| {one['items_per_s']:,} "
              f"| {one['items_per_cpu_s']:,} | {one['us_per_item_cpu']} | {one['attempts_per_item']} "
              f"| {one['peak_rss_gib']} | {many['items_per_s']:,} | {one['rarest_30pct_ratio']} |")


if __name__ == "__main__":
    main()
