"""Report sections over the data stages' own stats files: KG, synthesis, refinement, training set."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from fleming.io import read_records


def read_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def kg_section(kg_dir: Path) -> list[str]:
    import pyarrow.parquet as pq

    meta = read_json(kg_dir / "meta.json") or {}
    types = Counter(pq.read_table(kg_dir / "nodes.parquet", columns=["type"]).column("type").to_pylist())
    rels = Counter(pq.read_table(kg_dir / "edges.parquet", columns=["relation"])
                   .column("relation").to_pylist())
    origin = ", ".join(s["kind"] for s in meta.get("sources", [])) or (
        f"a closed-world slice of {meta['slice_of']}" if meta.get("slice_of") else "?")
    lines = [f"{sum(types.values()):,} entities and {sum(rels.values()):,} relations from: {origin}.", "",
             "| entity type | count |", "|---|---:|"]
    lines += [f"| {t} | {c:,} |" for t, c in types.most_common()]
    lines += ["", "| relation | count |", "|---|---:|"] + [f"| {r} | {c:,} |" for r, c in rels.most_common()]
    return lines


def synth_section(stats: dict[str, Any]) -> list[str]:
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


def mix_dir(refine_root: Path) -> Path:
    from fleming.refine.pipeline import STEPS

    return refine_root / "steps" / f"{STEPS.index('mix'):02d}_mix"


def training_set(refine_root: Path) -> list:
    path = mix_dir(refine_root) / "records.jsonl"
    return list(read_records(path)) if path.is_file() else []


def training_set_section(refine_root: Path, recs: list) -> list[str]:
    where = mix_dir(refine_root)
    diff = Counter(f"{r.metadata.difficulty} ({r.metadata.difficulty_source})" for r in recs)
    lines = [f"{len(recs)} items in `{where}` (also Parquet and a Hugging Face dataset there).", "",
             "| difficulty (source) | items |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in diff.most_common()]
    return lines


def _pair_kappa(recs: list, a: str, b: str) -> dict[str, Any]:
    from fleming.refine.difficulty import cohen_kappa

    pairs = [(lab[a], lab[b]) for r in recs
             if a in (lab := r.metadata.extra.get("difficulty_labels", {})) and b in lab]
    return cohen_kappa([x for x, _ in pairs], [y for _, y in pairs])


def agreement(agree: dict[str, Any] | None) -> list[str]:
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


def refine_sections(root: Path) -> list[str]:
    """The refine stage's own reports (funnel, contamination, mix), difficulty agreement, training set."""
    reports = root / "refine" / "reports"
    parts: list[str] = []
    for name in ("funnel.md", "contamination.md", "mix.md"):
        p = reports / name
        if p.is_file():
            text = p.read_text().replace("\n# ", "\n### ").removeprefix("# ")
            parts += ["", "## " + text]
    agree = read_json(reports / "difficulty_agreement.json") or {}
    train = training_set(root / "refine")  # read once: the kappa and the training-set table share it
    agree["empirical_vs_kg (training set)"] = _pair_kappa(train, "empirical", "kg")
    parts += ["", "## Difficulty agreement", ""] + agreement(agree)
    parts += ["", "## Training set", ""] + training_set_section(root / "refine", train)
    return parts
