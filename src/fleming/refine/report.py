"""Reports of a refinement run, rebuilt from the step folders (so a resumed run reports every step):
the funnel (per step and per reason, and kept items per source), the contamination report per benchmark,
the mix report, difficulty agreement, the ambiguous rate per question type and source, and anonymization
counts."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from fleming.io import read_records, write_json


def _load(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def funnel(run) -> dict[str, Any]:
    from fleming.refine.pipeline import STEPS

    steps, by_source = [], {}
    for i, name in enumerate(STEPS):
        st = _load(run.stats_path(i))
        if st is None:
            continue
        steps.append({"step": name, "in": st["in"], "kept": st["kept"], "dropped": st["dropped"],
                      "drop_reasons": st["drop_reasons"],
                      "reconciles": st["in"] == st["kept"] + st["dropped"], "extra": st["extra"]})
        recs = run.step_dir(i) / "records.jsonl"
        if recs.is_file():
            by_source[name] = dict(Counter(r.source for r in read_records(recs)))
    return {"steps": steps, "kept_by_source": by_source, "reconciles": all(s["reconciles"] for s in steps)}


def funnel_markdown(f: dict[str, Any]) -> str:
    lines = ["# Refinement funnel", "", "| step | in | kept | dropped | reasons |",
             "|---|---:|---:|---:|---|"]
    for s in f["steps"]:
        reasons = ", ".join(f"{k} {v}" for k, v in s["drop_reasons"].items()) or "-"
        lines.append(f"| {s['step']} | {s['in']} | {s['kept']} | {s['dropped']} | {reasons} |")
    lines += ["", f"Counts reconcile at every step (in = kept + dropped): {f['reconciles']}", ""]
    inputs = f["steps"][0]["extra"].get("inputs", {}) if f["steps"] else {}
    missing = [f"{name} ({v['missing']})" for name, v in inputs.items() if "missing" in v]
    if missing:
        lines += [f"Optional inputs not found, skipped: {', '.join(missing)}", ""]
    sources = sorted({src for counts in f["kept_by_source"].values() for src in counts})
    steps = list(f["kept_by_source"])
    if sources:
        lines += ["## Kept items per source after each step", "",
                  "| source | " + " | ".join(steps) + " |", "|---|" + "---:|" * len(steps)]
        for src in sources:
            counts = [str(f["kept_by_source"][s].get(src, 0)) for s in steps]
            lines.append(f"| {src} | " + " | ".join(counts) + " |")
    return "\n".join(lines) + "\n"


def contamination_markdown(rep: dict[str, Any]) -> str:
    r = rep["rules"]
    lines = ["# Contamination report", "",
             f"Rules: {r['ngram']}-gram cover >= {r['min_ngram_overlap']} of the shorter stem "
             f"(13-grams in more than {r['max_ngram_df']} evaluation items are boilerplate: "
             f"{r['boilerplate_ngrams_skipped']} skipped), or rapidfuzz ratio >= {r['fuzzy_ratio']} on "
             "question + sorted options; and any item from an evaluation split.", "",
             f"Checked {rep['checked']} training items, removed {rep['removed']}.", "",
             "| benchmark | eval items | train items removed | eval_split | ngram_overlap | fuzzy_match | "
             "eval items matched |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name, b in rep["benchmarks"].items():
        by = b["by_rule"]
        cols = [b["eval_items"], b["train_items_removed"], by.get("eval_split", 0),
                by.get("ngram_overlap", 0), by.get("fuzzy_match", 0), b["eval_items_matched"]]
        lines.append(f"| {name} | " + " | ".join(map(str, cols)) + " |")
    return "\n".join(lines) + "\n"


def mix_markdown(rep: dict[str, Any]) -> str:
    lines = ["# Mix report", "", f"Seed {rep['seed']}; asked {rep['total_asked']}, achieved "
             f"{rep['total_achieved']} from a pool of {rep['pool']}.", "",
             "| cell | proportion asked | asked | achieved | available | share achieved |",
             "|---|---:|---:|---:|---:|---:|"]
    for cell, c in rep["cells"].items():
        lines.append(f"| {cell} | {rep['proportions_asked'][cell]} | {c['asked']} | {c['achieved']} | "
                     f"{c['available']} | {c['share_achieved']} |")
    if rep.get("limited_by"):
        lines.append("\nNo total was asked, so the total is the largest the proportions allow; limited by "
                     f"{rep['limited_by']}.")
    for s in rep["short"]:
        lines.append(f"\n- {s['cell']}: {s['missing']} short ({s['why']}).")
    if rep["not_in_any_cell"]:
        lines.append(f"\nNot in any asked cell (not selected): {rep['not_in_any_cell']}")
    return "\n".join(lines) + "\n"


def funnel_png(f: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = f["steps"]
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(steps) + 1))
    names = [s["step"] for s in steps][::-1]
    kept = [s["kept"] for s in steps][::-1]
    ax.barh(names, kept, color="#4c72b0", label="kept")
    ax.barh(names, [s["dropped"] for s in steps][::-1], left=kept, color="#dd8452", label="dropped")
    ax.set_xlabel("items")
    ax.legend(loc="lower right")
    ax.set_title("Refinement funnel")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_reports(run) -> dict[str, Any]:
    from fleming.refine.ambiguity import rates_markdown
    from fleming.refine.pipeline import STEPS

    out = run.root / "reports"
    out.mkdir(parents=True, exist_ok=True)
    f = funnel(run)
    write_json(out / "funnel.json", f)
    (out / "funnel.md").write_text(funnel_markdown(f), encoding="utf-8")
    if f["steps"]:
        funnel_png(f, out / "funnel.png")
    sections = {"decontam": ("contamination.json", "contamination", contamination_markdown),
                "mix": ("mix_report.json", "mix", mix_markdown),
                "difficulty": ("agreement.json", "difficulty_agreement", None),
                "ambiguity": ("ambiguity.json", "ambiguity", rates_markdown)}
    for step, (fname, stem, to_md) in sections.items():
        rep = _load(run.step_dir(STEPS.index(step)) / fname)
        if rep is not None:
            write_json(out / f"{stem}.json", rep)
            if to_md:
                (out / f"{stem}.md").write_text(to_md(rep), encoding="utf-8")
    return f
