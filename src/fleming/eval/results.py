"""From per-item rows to results: accuracy with 95% bootstrap CIs, unparsed rate, pass@k, majority vote,
per-category breakdowns, failed items, and the macro average over the paper's nine benchmarks.

Accuracy is pass@1: the mean over items of (correct samples / samples), which is plain accuracy with
one sample. Failed items (requests that failed for good) are not scored: they are counted and listed
with their reason, and the accuracy is over the scored items. The macro average is the unweighted mean
of the Table 3 benchmarks present, as in the paper; its CI resamples each benchmark independently and
averages the replicates.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from fleming.eval.benchmarks import Benchmark
from fleming.eval.items import FAILED
from fleming.eval.metrics import N_BOOT, bootstrap_means, ks_for, pass_at_k, percentile_ci, rng_for

NO_VALUE = "(none)"


def scored(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["status"] != FAILED]


def item_scores(rows: Sequence[dict[str, Any]]) -> np.ndarray:
    """Per-item pass@1: correct samples / samples."""
    return np.array([r["n_correct"] / len(r["samples"]) for r in rows], dtype=float)


def accuracy_block(rows: Sequence[dict[str, Any]], rng: np.random.Generator,
                   n_boot: int = N_BOOT) -> tuple[dict[str, Any], np.ndarray]:
    """{n, accuracy, ci, unparsed_rate} of scored rows, and the bootstrap replicates of the accuracy."""
    scores = item_scores(rows)
    reps = bootstrap_means(scores, n_boot, rng)
    n_samples = sum(len(r["samples"]) for r in rows)
    unparsed = sum(s["status"] == "unparsed" for r in rows for s in r["samples"])
    block = {
        "n": len(rows),
        "accuracy": float(scores.mean()) if len(rows) else None,
        "ci": list(percentile_ci(reps)) if len(rows) else None,
        "unparsed_rate": unparsed / n_samples if n_samples else None,
    }
    return block, reps


def summarize_benchmark(bench: Benchmark, rows: Sequence[dict[str, Any]], samples: int, seed: int,
                        n_boot: int = N_BOOT) -> tuple[dict[str, Any], np.ndarray]:
    """The results entry of one benchmark, and its accuracy replicates (for the macro CI)."""
    ok = scored(rows)
    failed = [{"id": r["id"], "error": r.get("error") or "unknown"} for r in rows if r["status"] == FAILED]
    main, reps = accuracy_block(ok, rng_for(seed, bench.name), n_boot)
    entry: dict[str, Any] = {
        "display": bench.display, "version": bench.version, "table3": bench.table3,
        "prompt_id": rows[0]["prompt_id"] if rows else None, "samples": samples,
        **main, "n_failed": len(failed), "failed": failed,
    }
    if samples > 1 and ok:
        vote = np.array([r["correct"] for r in ok], dtype=float)
        entry["majority"] = {"accuracy": float(vote.mean()), "ci": list(
            percentile_ci(bootstrap_means(vote, n_boot, rng_for(seed, bench.name, "majority"))))}
        entry["pass_at_k"] = {str(k): float(np.mean([pass_at_k(len(r["samples"]), r["n_correct"], k)
                                                     for r in ok])) for k in ks_for(samples)}
    entry["breakdowns"] = {c.name: _breakdown(bench, c.name, ok, seed, n_boot) for c in bench.categories}
    return entry, reps


def _breakdown(bench: Benchmark, category: str, rows: Sequence[dict[str, Any]], seed: int,
               n_boot: int) -> dict[str, Any]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[r.get("categories", {}).get(category) or NO_VALUE].append(r)
    return {value: accuracy_block(group, rng_for(seed, bench.name, category, value), n_boot)[0]
            for value, group in sorted(groups.items())}


def macro_average(entries: dict[str, dict[str, Any]], replicates: dict[str, np.ndarray],
                  n_table3: int) -> dict[str, Any] | None:
    """Unweighted mean over the Table 3 benchmarks that have scored items."""
    names = [n for n, e in entries.items() if e["table3"] and e["accuracy"] is not None]
    if not names:
        return None
    reps = np.mean([replicates[n] for n in names], axis=0)
    return {"accuracy": float(np.mean([entries[n]["accuracy"] for n in names])),
            "ci": list(percentile_ci(reps)), "benchmarks": names, "complete": len(names) == n_table3}


def build_results(rows_by_bench: dict[str, tuple[Benchmark, list[dict[str, Any]]]], *, samples: int,
                  seed: int, run: dict[str, Any], n_table3: int = 9, n_boot: int = N_BOOT) -> dict[str, Any]:
    """results.json: run settings, one entry per benchmark, and the macro average."""
    entries, reps = {}, {}
    for name, (bench, rows) in rows_by_bench.items():
        entries[name], reps[name] = summarize_benchmark(bench, rows, samples, seed, n_boot)
    return {"run": run, "bootstrap": {"resamples": n_boot, "seed": seed, "level": 0.95},
            "benchmarks": entries, "macro_average": macro_average(entries, reps, n_table3)}
