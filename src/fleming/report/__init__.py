"""The run report: ``report.md`` and one self-contained ``report.html`` (PNGs inlined), read only from the
stage folders' own files, so it can be rebuilt from a finished run at any time.

Sections: stage timings; KG; synthesis and the split; refinement funnel and difficulty; CoT verification
and refinement; SFT; reward curves per GRPO stage; mining pools per round; the stage ablation in the layout
of the paper's Table 4; the benchmarks in the layout of Table 3 when they ran; config and versions.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from fleming.report import training
from fleming.report.sections import kg_section, read_json, refine_sections, synth_section

STAGE_ORDER = ("kg", "synth", "split", "public", "model", "validator", "refine", "cot", "base", "sft",
               "grpo1", "grpo2", "eval", "rl_seeds")


def timings(root: Path) -> list[str]:
    rows = ["| stage | seconds | status |", "|---|---:|---|"]
    total = 0.0
    for stage in STAGE_ORDER:
        stats = read_json(root / stage / "stats.json")
        if stats is None:
            continue
        sec = float(stats.get("seconds", 0))
        total += sec
        done = (root / stage / ".done").is_file()
        rows.append(f"| {stage} | {sec:.1f} | {'done' if done else 'unfinished'} |")
    rows.append(f"| **total** | {total:.1f} | |")
    return rows


def versions() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    rows = ["| package | version |", "|---|---|"]
    for pkg in ("fleming", "torch", "transformers", "trl", "peft", "accelerate", "datasets", "numpy"):
        try:
            rows.append(f"| {pkg} | {version(pkg)} |")
        except PackageNotFoundError:
            rows.append(f"| {pkg} | not installed |")
    return rows


def write_report(cfg, root: Path, d: Path) -> dict[str, Any]:
    """Write ``root/report.md`` and ``root/report.html`` (PNGs in ``d``); returns what it wrote."""
    import dataclasses

    import yaml

    parts = ["# fleming run report", "", f"Config: `{cfg.source}`; run directory `{root}`.", "",
             "## Stages", ""] + timings(root)
    kg = Path(cfg.kg.dir) if cfg.kg.dir else root / "kg"
    if (kg / "nodes.parquet").is_file():
        parts += ["", "## Knowledge graph", ""] + kg_section(kg)
    if synth := read_json(root / "synth" / "stats.json"):
        parts += ["", "## Synthesis", ""] + synth_section(synth)
    if split := read_json(root / "split" / "stats.json"):
        parts += ["", "## Split", ""] + training.split_section(split)
    if (root / "refine" / "reports").is_dir():
        parts += refine_sections(root)
        if (root / "refine" / "reports" / "funnel.png").is_file():
            shutil.copy(root / "refine" / "reports" / "funnel.png", d / "funnel.png")
            parts += ["", "![data funnel](report/funnel.png)"]
    parts += training.difficulty_plot(root, d)
    parts += training.cot_section(root)
    parts += training.sft_section(root)
    parts += training.grpo_sections(root, d)
    parts += training.ablation_section(root, d)
    parts += training.seeds_section(root)
    parts += training.benchmarks_section(root)
    parts += ["", "## Config", "", "```yaml",
              yaml.safe_dump(json.loads(json.dumps(dataclasses.asdict(cfg), default=str)), sort_keys=False),
              "```", "", "## Versions", ""] + versions()
    md = "\n".join(parts) + "\n"
    (root / "report.md").write_text(md, encoding="utf-8")
    (root / "report.html").write_text(to_html(md, root), encoding="utf-8")
    return {"report_md": str(root / "report.md"), "report_html": str(root / "report.html"),
            "plots": sorted(p.name for p in d.glob("*.png"))}


CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em}
th{background:#f3f3f3}td{text-align:right}td:first-child{text-align:left}img{max-width:100%}
pre{background:#f7f7f7;padding:.8em;overflow:auto;font-size:.85em}"""


def to_html(md: str, root: Path) -> str:
    """One self-contained HTML page: markdown rendered (Python-Markdown, tables), images inlined."""
    import base64
    import re

    import markdown

    body = markdown.markdown(md, extensions=["tables", "fenced_code"])

    def inline(m: re.Match[str]) -> str:
        p = root / m.group(1)
        if not p.is_file():
            return m.group(0)
        return f'src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}"'

    body = re.sub(r'src="([^"]+\.png)"', inline, body)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>fleming run report</title>"
            f"<style>{CSS}</style></head><body>{body}</body></html>\n")
