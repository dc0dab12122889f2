"""Report sections over the model stages: split, difficulty, CoT, SFT, GRPO, the Table-4 ablation and the
Table-3 benchmarks. Each reads only its stage folder's files and says so when a stage did not run."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from fleming.eval.tables import ci_text, pct
from fleming.report.sections import read_json


def kv_table(d: dict[str, Any], key: str = "key", value: str = "value") -> list[str]:
    """A two-column table of a flat mapping (nested values as compact JSON)."""
    import json

    rows = [f"| {key} | {value} |", "|---|---:|"]
    for k, v in d.items():
        text = json.dumps(v, default=str) if isinstance(v, dict | list) else (
            f"{v:.4g}" if isinstance(v, float) else str(v))
        rows.append(f"| {k} | {text} |")
    return rows


def split_section(split: dict[str, Any]) -> list[str]:
    rows = ["| split | items | question types | hops |", "|---|---:|---|---|"]
    for name in ("train", "validation", "heldout"):
        s = split.get(name, {})
        types = ", ".join(f"{k} {v}" for k, v in s.get("question_types", {}).items())
        hops = ", ".join(f"{k}: {v}" for k, v in sorted(s.get("hops", {}).items()))
        rows.append(f"| {name} | {s.get('items', 0)} | {types} | {hops} |")
    return rows + ["", f"Stems (question type + observed findings) shared between training and the "
                       f"held-out or validation items: {split.get('stems_shared_with_train')}."]


def difficulty_plot(root: Path, d: Path) -> list[str]:
    from fleming.report.sections import training_set

    recs = training_set(root / "refine")
    if not recs:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = Counter(r.metadata.difficulty or "unlabelled" for r in recs)
    levels = [x for x in ("Easy", "Moderate", "Difficult", "unlabelled") if x in counts]
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.bar(levels, [counts[x] for x in levels], color="#4C72B0")
    ax.set_ylabel("training items")
    ax.set_title("Difficulty of the training set")
    fig.tight_layout()
    fig.savefig(d / "difficulty.png", dpi=110)
    plt.close(fig)
    return ["", "## Difficulty distribution", "", "![difficulty](report/difficulty.png)"]


def cot_section(root: Path) -> list[str]:
    stats = read_json(root / "cot" / "stats.json")
    if not stats:
        return ["", "## CoT cold start", "", "The cot stage did not run."]
    parts = ["", "## CoT cold start", "",
             f"In {stats.get('in')}, kept {stats.get('kept')}, dropped {stats.get('dropped')}."]
    for key, title in (("drop_reasons", "Drop reasons"), ("checks_failed", "Failed checks (all candidates)"),
                       ("per_strategy", "Refinement by strategy"), ("per_round", "Refinement by round"),
                       ("claims", "Claims in the kept chains, checked against the KG")):
        if stats.get(key):
            parts += ["", f"**{title}**", ""] + kv_table(stats[key])
    return parts


def sft_section(root: Path) -> list[str]:
    parts = []
    for stage, title in (("base", "Base: answer-only SFT"), ("sft", "CoT SFT")):
        stats = read_json(root / stage / "stats.json")
        if stats:
            flat = {k: v for k, v in stats.items() if not isinstance(v, dict | list)}
            parts += ["", f"## {title}", ""] + kv_table(flat)
    return parts


def grpo_sections(root: Path, d: Path) -> list[str]:
    import shutil

    parts = []
    for stage, title in (("grpo1", "GRPO stage 1"), ("grpo2", "GRPO stage 2 (mining rounds)")):
        stats = read_json(root / stage / "stats.json")
        if not stats:
            continue
        flat = {k: v for k, v in stats.items() if not isinstance(v, dict | list)}
        parts += ["", f"## {title}", ""] + kv_table(flat)
        for key in ("stop_reason", "plateau"):
            if stats.get(key):
                parts += ["", f"Stopped: {stats[key]}"]
        if stats.get("rounds"):
            parts += ["", "| round | asked | achieved | pools |", "|---|---|---|---|"]
            for i, r in enumerate(stats["rounds"], 1):
                m = r.get("mining", r)
                cells = [str(m.get(k, "")) for k in ("asked", "achieved", "pools")]
                parts.append(f"| {i} | " + " | ".join(cells) + " |")
        for png in sorted((root / stage).rglob("*.png")):
            name = f"{stage}-{png.stem}.png"
            shutil.copy(png, d / name)
            parts += ["", f"![{stage} {png.stem}](report/{name})"]
    return parts


def ablation_section(root: Path, d: Path) -> list[str]:
    table = read_json(root / "eval" / "ablation.json")
    head = ["", "## Stage ablation (layout of the paper's Table 4)", ""]
    if not table or not table.get("rows"):
        return head + ["No trained row was evaluated."]
    rows = table["rows"]
    split = table.get("split", "heldout")
    lines = head + [f"{table['heldout_items']} {split} items (stems never seen in training); greedy "
                    "accuracy with 95% bootstrap CIs; mean@k and maj@k at the sampling temperature; claim "
                    "precision of the greedy chains against the KG; copied pairs: share of the gold "
                    "chain's (subject, object) pairs the chain states, and the verdicts right on those.", "",
                    "| model | greedy acc. | 95% CI | format | mean@k | maj@k | claim precision | "
                    "copied pairs | verdicts on copied |", "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for label, r in rows.items():
        g, m, j, c = r["greedy"], r.get("mean_at_k") or {}, r.get("maj_at_k") or {}, r.get("claims") or {}
        lines.append(f"| {label} | {pct(g['accuracy'])} | {ci_text(g['ci'])} | {pct(r['format_rate'])} | "
                     f"{pct(m.get('accuracy'))} | {pct(j.get('accuracy'))} | {pct(c.get('precision'))} | "
                     f"{pct(c.get('copied_pairs'))} | {pct(c.get('verdicts_on_copied'))} |")
    lines += ["", "Paired tests between consecutive rows (same items):", "",
              "| step | Δ greedy | 95% CI | only before | only after | McNemar p | holds? |",
              "|---|---:|---|---:|---:|---:|---|"]
    for step, t in table["paired"].items():
        lo, hi = t["ci"]
        up, down = lo is not None and lo > 0, hi is not None and hi < 0
        both = t["mcnemar_p"] < 0.05             # significant only when both paired tests say so
        verdict = ("improves (significant)" if up and both else "worse (significant)" if down and both
                   else "CI excludes 0, McNemar does not" if up or down else "no significant change")
        lines.append(f"| {step} | {pct(t['diff'])} | {ci_text(t['ci'])} | {t['only_a']} | {t['only_b']} | "
                     f"{t['mcnemar_p']:.3g} | {verdict} |")
    lines += _breakdowns(rows) + _ablation_plot(rows, d)
    return lines


def seeds_section(root: Path) -> list[str]:
    """The RL rows over seeds (``fleming.pipeline.seeds``): every seed, mean, spread, gain over +CoT."""
    s = read_json(root / "rl_seeds" / "summary.json")
    if not s or not s.get("rows"):
        return []
    lines = ["", "## RL over seeds", "", f"{s['items']} {s['split']} items, greedy accuracy; +CoT "
             f"{pct(s['cot_accuracy'])}. Gain = paired difference against +CoT on the same items.", "",
             "| row | seeds | accuracy per seed | mean | sd | min-max | mean gain | seeds above +CoT | "
             "seeds significant (McNemar p < 0.05) |", "|---|---|---|---:|---:|---|---:|---:|---:|"]
    for label, r in s["rows"].items():
        sig = sum(t["mcnemar_p"] < 0.05 and t["diff"] > 0 for t in r["vs_cot"].values())
        seeds, accs = ", ".join(map(str, r["seeds"])), ", ".join(pct(a) for a in r["accuracy"])
        spread = f"{pct(r['min'])}-{pct(r['max'])}"
        lines.append(f"| {label} | {seeds} | {accs} | {pct(r['mean'])} | {pct(r['sd'])} | {spread} | "
                     f"{pct(r['gain_mean'])} | {r['seeds_above_cot']} of {len(r['seeds'])} | {sig} |")
    return lines


def _breakdowns(rows: dict[str, Any]) -> list[str]:
    out = []
    for cat in ("question_type", "hops"):
        values = sorted({v for r in rows.values() for v in r["greedy"].get("breakdowns", {}).get(cat, {})})
        if not values:
            continue
        out += ["", f"Greedy accuracy by {cat.replace('_', ' ')}:", "",
                "| model | " + " | ".join(values) + " |", "|---|" + "---:|" * len(values)]
        for label, r in rows.items():
            b = r["greedy"]["breakdowns"].get(cat, {})
            out.append(f"| {label} | " + " | ".join(
                f"{pct(b[v]['accuracy'])} (n={b[v]['n']})" if v in b else "-" for v in values) + " |")
    return out


def _ablation_plot(rows: dict[str, Any], d: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(rows)
    acc = [100 * rows[x]["greedy"]["accuracy"] for x in labels]
    lo = [100 * rows[x]["greedy"]["ci"][0] for x in labels]
    hi = [100 * rows[x]["greedy"]["ci"][1] for x in labels]
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    ax.bar(labels, acc, yerr=[[a - b for a, b in zip(acc, lo, strict=True)],
                              [b - a for a, b in zip(acc, hi, strict=True)]], capsize=4, color="#55A868")
    ax.set_ylabel("held-out greedy accuracy (%)")
    ax.set_title("Stage ablation (95% CI)")
    fig.tight_layout()
    fig.savefig(d / "ablation.png", dpi=110)
    plt.close(fig)
    return ["", "![ablation](report/ablation.png)"]


def benchmarks_section(root: Path) -> list[str]:
    table = read_json(root / "eval" / "ablation.json") or {}
    b = table.get("benchmarks")
    if not b:
        return []
    if b.get("skipped"):
        return ["", "## Benchmarks", "", f"Skipped: {b['skipped']}."]
    md = Path(b["results"]).with_suffix(".md")
    text = md.read_text() if md.is_file() else ""
    return ["", f"## Benchmarks (model of stage {b['stage']}; format and parse health at this size)", "",
            text.replace("\n# ", "\n### ").removeprefix("# ")]
