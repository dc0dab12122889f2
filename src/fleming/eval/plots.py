"""The results chart: accuracy per benchmark with 95% CI error bars, the macro average, and the paper's
Fleming-R1-7B/32B scores as markers for reference (the paper's average only beside a complete nine-benchmark
average). Benchmarks outside Table 3 (†) come after the average. matplotlib, Agg backend (no display).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fleming.eval.benchmarks import BENCHMARKS, PAPER_AVERAGES, PAPER_TABLE3

AVG = "__avg__"


def chart_rows(results: dict[str, Any]) -> list[tuple[str, str, float, float, float]]:
    """(key, label, accuracy %, CI low %, CI high %) per benchmark in table order, then the average."""
    entries = results["benchmarks"]

    def bars(table3: bool) -> list[tuple[str, str, float, float, float]]:
        return [(b.name, b.display + ("" if table3 else "†"), 100 * e["accuracy"], 100 * e["ci"][0],
                 100 * e["ci"][1]) for b in BENCHMARKS.values()
                if b.table3 == table3 and (e := entries.get(b.name)) and e["accuracy"] is not None]

    macro = results.get("macro_average")
    avg = []
    if macro:
        label = "Avg." if macro["complete"] else f"Avg. ({len(macro['benchmarks'])}/9)"
        avg = [(AVG, label, 100 * macro["accuracy"], 100 * macro["ci"][0], 100 * macro["ci"][1])]
    return [*bars(True), *avg, *bars(False)]


def plot_results(results: dict[str, Any], path: str | Path, title: str | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = chart_rows(results)
    path = Path(path)
    fig, ax = plt.subplots(figsize=(max(7.5, 0.9 * len(rows) + 4), 4.5), dpi=120)
    try:
        xs = range(len(rows))
        acc = [r[2] for r in rows]
        err = [[r[2] - r[3] for r in rows], [r[4] - r[2] for r in rows]]
        colors = ["#7f7f7f" if r[0] == AVG else "#1f77b4" for r in rows]
        complete = bool((results.get("macro_average") or {}).get("complete"))
        ax.bar(xs, acc, yerr=err, capsize=3, color=colors, label="this run (95% CI)")
        for (ref, scores), marker in zip(PAPER_TABLE3.items(), ("o", "^"), strict=True):
            pts = [(i, (PAPER_AVERAGES[ref] if complete else None) if r[0] == AVG else scores.get(r[0]))
                   for i, r in enumerate(rows)]
            pts = [(i, y) for i, y in pts if y is not None]
            if pts:
                ax.scatter([p[0] for p in pts], [p[1] for p in pts], marker=marker, zorder=3,
                           facecolors="none", edgecolors="black", label=ref)
        ax.set_xticks(list(xs), [r[1] for r in rows], rotation=35, ha="right")
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(0, 100)
        ax.set_title(title or f"{results['run'].get('model', '')}")
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path
