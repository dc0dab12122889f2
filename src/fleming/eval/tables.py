"""Markdown tables from results.json: the paper's Table 3 layout (benchmarks as columns, macro average),
an lm-eval style per-benchmark table, per-category breakdowns and the list of failed items.
"""

from __future__ import annotations

from typing import Any

from fleming.eval.benchmarks import BENCHMARKS, PAPER_AVERAGES, PAPER_TABLE3, table3

MAX_FAILED_LISTED = 50  # per benchmark in the markdown; results.json lists them all


def pct(x: float | None, digits: int = 2) -> str:
    return "—" if x is None else f"{100 * x:.{digits}f}"


def ci_text(ci: list[float] | None) -> str:
    return "—" if not ci else f"{pct(ci[0], 1)}–{pct(ci[1], 1)}"


def md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def table3_markdown(results: dict[str, Any], model: str) -> str:
    """Benchmarks as columns in Table 3 order, then Avg., then benchmarks outside Table 3 (marked †)."""
    entries = results["benchmarks"]
    extra = [b for b in BENCHMARKS.values() if not b.table3 and b.name in entries]
    cols = [*table3(), None, *extra]  # None = the Avg. column
    macro = results.get("macro_average")

    def cells(get_bench, get_avg) -> list[str]:
        out = []
        for b in cols:
            if b is None:
                out.append(get_avg(macro) if macro else "—")
            else:
                out.append(get_bench(entries[b.name]) if b.name in entries else "—")
        return out

    header = ["Model", *[b.display + ("†" if not b.table3 else "") if b else _avg_label(macro)
                         for b in cols]]
    rows = [
        [model, *cells(lambda e: pct(e["accuracy"]), lambda m: pct(m["accuracy"]))],
        ["95% CI", *cells(lambda e: ci_text(e["ci"]), lambda m: ci_text(m["ci"]))],
        ["unparsed %", *cells(lambda e: pct(e["unparsed_rate"], 1), lambda m: "")],
        ["n scored (failed)", *cells(lambda e: f"{e['n']} ({e['n_failed']})", lambda m: "")],
    ]
    for ref, scores in PAPER_TABLE3.items():
        rows.append([ref, *[f"{PAPER_AVERAGES[ref]:.2f}" if b is None else
                            (f"{scores[b.name]:.2f}" if b.name in scores else "") for b in cols]])
    note = "Accuracy % (pass@1); CIs are 95% percentile bootstrap over items."
    if extra:
        note += " † not one of the paper's nine, so not in the average."
    if macro and not macro["complete"]:
        note += f" Avg. covers the {len(macro['benchmarks'])} Table 3 benchmarks run, not all nine."
    return md_table(header, rows) + "\n\n" + note


def _avg_label(macro: dict[str, Any] | None) -> str:
    return "Avg." if not macro or macro["complete"] else f"Avg. ({len(macro['benchmarks'])}/9)"


def benchmarks_markdown(results: dict[str, Any]) -> str:
    """lm-eval style: one row per benchmark with version, prompt, n, CI and the sampling metrics."""
    entries = results["benchmarks"]
    samples = max((e["samples"] for e in entries.values()), default=1)
    extra_cols = [f"maj@{samples} %", *[f"pass@{k} %" for k in _ks(entries)]] if samples > 1 else []
    header = ["Benchmark", "Version", "Prompt", "n", "Failed", "Accuracy %", "95% CI", "Unparsed %",
              *extra_cols]
    rows = []
    for e in entries.values():
        row = [e["display"], e["version"], e["prompt_id"] or "—", str(e["n"]), str(e["n_failed"]),
               pct(e["accuracy"]), ci_text(e["ci"]), pct(e["unparsed_rate"], 1)]
        if samples > 1:
            maj = e.get("majority")
            row.append(f"{pct(maj['accuracy'])} ({ci_text(maj['ci'])})" if maj else "—")
            row += [pct(e.get("pass_at_k", {}).get(k)) for k in _ks(entries)]
        rows.append(row)
    note = ("\n\nAccuracy is pass@1 (mean over samples); pass@k is the unbiased estimator; maj@K is the "
            "majority vote over samples, where unparsed samples do not vote and a tie goes to the answer "
            "sampled first.") if samples > 1 else ""
    return md_table(header, rows) + note


def _ks(entries: dict[str, Any]) -> list[str]:
    ks: list[str] = []
    for e in entries.values():
        ks += [k for k in e.get("pass_at_k", {}) if k not in ks]
    return sorted(ks, key=int)


def breakdowns_markdown(results: dict[str, Any]) -> str:
    parts = []
    for e in results["benchmarks"].values():
        for cat, groups in e.get("breakdowns", {}).items():
            rows = [[value, str(g["n"]), pct(g["accuracy"]), ci_text(g["ci"]), pct(g["unparsed_rate"], 1)]
                    for value, g in groups.items()]
            parts.append(f"### {e['display']} by {cat}\n\n"
                         + md_table([cat, "n", "Accuracy %", "95% CI", "Unparsed %"], rows))
    return "\n\n".join(parts)


def failed_markdown(results: dict[str, Any]) -> str:
    parts = []
    for e in results["benchmarks"].values():
        if not e["failed"]:
            continue
        lines = [f"- `{f['id']}`: {f['error']}" for f in e["failed"][:MAX_FAILED_LISTED]]
        if len(e["failed"]) > MAX_FAILED_LISTED:
            lines.append(f"- … {len(e['failed']) - MAX_FAILED_LISTED} more in results.json")
        parts.append(f"### {e['display']}: {e['n_failed']} failed\n\n" + "\n".join(lines))
    return "\n\n".join(parts)


def results_markdown(results: dict[str, Any]) -> str:
    run = {**results["run"]}
    run["prompt"] = run.get("prompt") or "each benchmark's own"
    settings = " · ".join(f"{k.replace('_', ' ')} {run[k]}" for k in (
        "backend", "prompt", "samples", "temperature", "top_p", "max_tokens", "seed", "think_opened", "limit")
        if run.get(k) is not None)
    parts = [f"# Evaluation of `{run.get('model', '?')}`", settings,
             "## Table 3 layout", table3_markdown(results, run.get("model", "model")),
             "## Per benchmark", benchmarks_markdown(results)]
    if breakdowns := breakdowns_markdown(results):
        parts += ["## Breakdowns", breakdowns]
    failed = failed_markdown(results)
    parts += ["## Failed requests", failed or "None: every item was scored."]
    return "\n\n".join(parts) + "\n"
