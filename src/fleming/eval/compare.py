"""``fleming eval compare RUN_A RUN_B``: paired per-benchmark differences on the item ids both runs scored.

Each item is correct or not in each run (the single sample, or the majority vote with several
samples). The significance test is the exact McNemar test on the discordant pairs (two-sided binomial
test of "only A right" against Binomial(discordant, 1/2)); the CI of the difference (B - A) is a paired
percentile bootstrap over items. Items that failed in either run are left out and counted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fleming.errors import ConfigError
from fleming.eval.benchmarks import BENCHMARKS
from fleming.eval.items import FAILED, ItemLog
from fleming.eval.metrics import N_BOOT, bootstrap_means, mcnemar_exact, percentile_ci, rng_for
from fleming.eval.tables import ci_text, md_table, pct


def load_run(run_dir: str | Path) -> dict[str, dict[str, dict[str, Any]]]:
    """{benchmark: {id: row}} for every benchmark file in a run directory."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir}: not a directory (expected an evaluation output folder)")
    runs = {name: ItemLog(run_dir / f"{name}.jsonl").read() for name in BENCHMARKS
            if (run_dir / f"{name}.jsonl").exists()}
    if not runs:
        raise ConfigError(f"{run_dir}: no <benchmark>.jsonl files (expected e.g. medqa.jsonl)")
    return runs


def compare_benchmark(name: str, a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]],
                      seed: int = 0, n_boot: int = N_BOOT) -> dict[str, Any]:
    common = sorted(set(a) & set(b))
    ids = [i for i in common if a[i]["status"] != FAILED and b[i]["status"] != FAILED]
    ca = np.array([bool(a[i]["correct"]) for i in ids], dtype=float)
    cb = np.array([bool(b[i]["correct"]) for i in ids], dtype=float)
    only_a = int(((ca == 1) & (cb == 0)).sum())
    only_b = int(((ca == 0) & (cb == 1)).sum())
    reps = bootstrap_means(cb - ca, n_boot, rng_for(seed, name, "paired"))
    return {
        "n": len(ids), "n_failed_excluded": len(common) - len(ids),
        "n_only_in_a": len(set(a) - set(b)), "n_only_in_b": len(set(b) - set(a)),
        "accuracy_a": float(ca.mean()) if ids else None, "accuracy_b": float(cb.mean()) if ids else None,
        "diff": float((cb - ca).mean()) if ids else None,
        "diff_ci": list(percentile_ci(reps)) if ids else None,
        "only_a_correct": only_a, "only_b_correct": only_b, "mcnemar_p": mcnemar_exact(only_a, only_b),
        "_reps": reps,
    }


def compare_runs(dir_a: str | Path, dir_b: str | Path, seed: int = 0, n_boot: int = N_BOOT) -> dict[str, Any]:
    ra, rb = load_run(dir_a), load_run(dir_b)
    names = [n for n in BENCHMARKS if n in ra and n in rb]
    if not names:
        raise ConfigError(f"{dir_a} and {dir_b} share no benchmark (A has {sorted(ra)}, B has {sorted(rb)})")
    per = {n: compare_benchmark(n, ra[n], rb[n], seed, n_boot) for n in names}
    t3 = [n for n in names if BENCHMARKS[n].table3 and per[n]["n"]]
    macro = None
    if t3:
        reps = np.mean([per[n]["_reps"] for n in t3], axis=0)
        macro = {"diff": float(np.mean([per[n]["diff"] for n in t3])), "diff_ci": list(percentile_ci(reps)),
                 "benchmarks": t3}
    for v in per.values():
        v.pop("_reps")
    return {"a": str(dir_a), "b": str(dir_b), "test": "exact McNemar (two-sided) on discordant pairs; "
            "difference CI: paired percentile bootstrap over items", "benchmarks": per, "macro": macro}


def compare_markdown(result: dict[str, Any]) -> str:
    header = ["Benchmark", "n paired", "A %", "B %", "Δ (B−A) pp", "95% CI Δ", "only A right",
              "only B right", "McNemar p"]
    rows = []
    for name, v in result["benchmarks"].items():
        rows.append([BENCHMARKS[name].display, str(v["n"]), pct(v["accuracy_a"]), pct(v["accuracy_b"]),
                     _signed(v["diff"]), ci_text(v["diff_ci"]), str(v["only_a_correct"]),
                     str(v["only_b_correct"]), f"{v['mcnemar_p']:.3g}"])
    macro = result["macro"]
    if macro:
        rows.append([f"Avg. ({len(macro['benchmarks'])} of Table 3)", "", "", "", _signed(macro["diff"]),
                     ci_text(macro["diff_ci"]), "", "", ""])
    notes = [f"A = `{result['a']}`, B = `{result['b']}`. Test: {result['test']}."]
    for name, v in result["benchmarks"].items():
        if v["n_failed_excluded"] or v["n_only_in_a"] or v["n_only_in_b"]:
            notes.append(f"{BENCHMARKS[name].display}: {v['n_failed_excluded']} failed in a run (excluded), "
                         f"{v['n_only_in_a']} only in A, {v['n_only_in_b']} only in B.")
    return md_table(header, rows) + "\n\n" + "\n".join(notes) + "\n"


def _signed(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:+.2f}"
