"""KG benchmarks: build, save and load times; synthetic scale-ups; load time, peak RSS, query throughput.

    .venv/bin/python bench/bench_kg.py                     # shared config (default config without ../shared)
    .venv/bin/python bench/bench_kg.py --sizes 1e6:1e7     # only the 1M-node / 10M-edge scale-up

Each size is saved as Parquet, then loaded in a fresh process that reports: Parquet -> ready index time,
peak RSS (and its growth over the process after imports), and typed-neighbour queries per second
(``kg.neighbors(i, relation)`` on random nodes of the relation's source type, for a forward, an inverse
and a symmetric relation). Targets (issue 4): load < 1 s at 1M edges, < 5 s at 10M; memory < 0.5 GiB
at 1M edges, < 1.5 GiB at 10M; raw sources -> merged graph < 10 s.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE = r"""
import json, sys, time
import numpy as np, pyarrow.parquet
from fleming.kg.store import KG
def kib(field):   # VmHWM / VmRSS of this process (ru_maxrss would include the parent's, kept across exec)
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith(field))
base = kib("VmRSS:")
t = time.perf_counter(); kg = KG.load(sys.argv[1]); load_s = time.perf_counter() - t
peak = kib("VmHWM:")
rng = np.random.default_rng(0)
qps = {}
for rel, src_type in (("has_symptom", "disease"), ("treated_by", "disease"), ("resembles", "drug")):
    nodes = kg.nodes_of_type(src_type)
    if not len(nodes):
        continue
    picks = rng.choice(nodes, size=200_000).tolist()
    t = time.perf_counter(); n = 0
    for i in picks:
        n += len(kg.neighbors(i, rel))
    qps[rel] = round(len(picks) / (time.perf_counter() - t))
grow = peak - base
print(json.dumps({"nodes": kg.n_nodes, "edges": kg.n_edges, "load_s": round(load_s, 3),
                  "peak_rss_gib": round(peak / 2**20, 3), "index_rss_gib": round(grow / 2**20, 3),
                  "bytes_per_edge": round(grow * 1024 / max(1, kg.n_edges), 1), "queries_per_s": qps}))
"""


def probe(path: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_build(config: Path, out: Path) -> dict:
    from fleming.kg.build import build

    t = time.perf_counter()
    _, _, meta = build(config, out)
    return {
        "config": config.name,
        "entities": meta["entities"],
        "edges": meta["edges"],
        "build_total_s": round(time.perf_counter() - t, 2),
        **meta["timings_s"],
    }


def bench_scaleup(real: Path, n_nodes: int, n_edges: int, out: Path) -> dict:
    from fleming.kg.scaleup import scale_up
    from fleming.kg.store import KG, save

    t = time.perf_counter()
    nodes, edges = scale_up(KG.load(real), n_nodes, n_edges, seed=0)
    gen_s = time.perf_counter() - t
    t = time.perf_counter()
    save(out, nodes, edges, {"scaleup_of": str(real)})
    return {"generate_s": round(gen_s, 2), "save_s": round(time.perf_counter() - t, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=None)
    ap.add_argument("--sizes", default="1e5:1e6,1e6:1e7", help="nodes:edges scale-ups, comma-separated")
    ap.add_argument("--work", type=Path, default=None, help="where to write the graphs (default: a temp dir)")
    args = ap.parse_args()
    shared = (ROOT.parent / "shared" / "kg").is_dir()
    config = args.config or ROOT / "configs" / ("kg-shared.yaml" if shared else "kg-default.yaml")
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-kg-"))
    real = work / "real"
    b = bench_build(config, real)
    print(
        f"build {b['config']}: {b['entities']:,} entities, {b['edges']:,} edges; raw -> merged "
        f"{b['raw_to_merged']} s wall ({b['raw_to_merged_cpu']} s CPU), save {b['save']} s"
    )
    print(
        "  "
        + ", ".join(f"{k} {v}" for k, v in b.items() if k.startswith("import:") or k == "merge_and_index")
    )
    rows = [("real", probe(real), {})]
    for spec in filter(None, args.sizes.split(",")):
        n, e = (int(float(x)) for x in spec.split(":"))
        path = work / f"scaleup-{n}-{e}"
        gen = bench_scaleup(real, n, e, path)
        rows.append((f"scale-up {n:,}/{e:,}", probe(path), gen))
    print(
        f"\n{'graph':<26}{'nodes':>11}{'edges':>12}{'load s':>8}{'peak GiB':>10}{'index GiB':>10}"
        f"{'B/edge':>8}  queries/s (has_symptom, treated_by, resembles)   generate/save s"
    )
    for name, p, gen in rows:
        q = ", ".join(f"{v:,}" for v in p["queries_per_s"].values())
        print(
            f"{name:<26}{p['nodes']:>11,}{p['edges']:>12,}{p['load_s']:>8}{p['peak_rss_gib']:>10}"
            f"{p['index_rss_gib']:>10}{p['bytes_per_edge']:>8}  "
            f"{q:<46}{gen.get('generate_s', '')}/{gen.get('save_s', '')}"
        )


if __name__ == "__main__":
    main()
