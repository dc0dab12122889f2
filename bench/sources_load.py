"""Time every loader on the real files in ../shared/benchmarks; print records, seconds, peak memory.

    .venv/bin/python bench/sources_load.py [--data-dir DIR]

Target (issue 2): loading all the benchmarks takes a few seconds at most.
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

from fleming.sources.registry import BENCHMARKS, load, loader_names


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args()
    print(f"{'loader':<22}{'read':>7}{'kept':>7}{'seconds':>9}{'rec/s':>9}{'peak MiB':>10}")
    total = {"all": 0.0, "benchmarks": 0.0}
    for name in loader_names():
        t0 = time.perf_counter()
        res = load(name, args.data_dir)
        dt = time.perf_counter() - t0
        tracemalloc.start()  # a second, traced load for memory: tracing slows openpyxl ~10x
        load(name, args.data_dir)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        total["all"] += dt
        total["benchmarks"] += dt if name in BENCHMARKS else 0.0
        print(f"{name:<22}{res.stats.n_in:>7}{res.stats.n_kept:>7}{dt:>9.3f}{res.stats.n_kept / dt:>9.0f}"
              f"{peak:>10.1f}")
    print(f"the 10 benchmarks: {total['benchmarks']:.2f} s; all {len(loader_names())} loaders: "
          f"{total['all']:.2f} s (untraced)")
    print(f"process max RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
