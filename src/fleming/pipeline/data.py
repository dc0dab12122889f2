"""The data stages of ``fleming run``: kg -> synth -> split -> public -> refine.

Each is a function ``(cfg, run_dir, folder) -> stats`` that writes only into its own folder and reads
earlier stages' folders; ``fleming.pipeline.run`` lists them in order.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import yaml

from fleming.errors import ConfigError, FlemingError
from fleming.io import read_records, write_json, write_records
from fleming.records import MCQ

SPLITS = ("train", "validation", "heldout")


def kg_dir(cfg, root: Path) -> Path:
    return Path(cfg.kg.dir) if cfg.kg.dir else root / "kg"


def run_kg(cfg, root: Path, d: Path) -> dict[str, Any]:
    from fleming.kg.build import build as build_kg

    config = d / "kg-config.yaml"
    body: dict[str, Any] = {"sources": cfg.kg.sources}
    if cfg.kg.shared_dir:
        body["shared_dir"] = str(Path(cfg.kg.shared_dir).resolve())
    config.write_text(yaml.safe_dump(body, sort_keys=False))
    _, _, meta = build_kg(config, d)
    return {"entities": meta.get("entities"), "edges": meta["edges"], "timings_s": meta["timings_s"]}


def run_synth(cfg, root: Path, d: Path, n: int | None = None, seed: int | None = None) -> dict[str, Any]:
    from fleming.synth.run import synthesize
    from fleming.synth.templates import load_config

    s = cfg.synth
    return synthesize(kg_dir(cfg, root), n or s.n, load_config(s.config), s.seed if seed is None else seed,
                      d, workers=s.workers)  # its stats.json, which the runner rewrites with the seconds


def stem_key(r: MCQ) -> str:
    """What makes two items the same case: their question type and observed findings (or the question
    text for items without KG provenance). Items sharing a key go to one split together."""
    extra = r.metadata.extra
    obs = sorted(o.get("id", "") for o in extra.get("observed", []))
    if obs:
        return f"{r.metadata.question_type}|{'|'.join(obs)}"
    return " ".join(r.question.casefold().split())


def split_items(records: list[MCQ], n_heldout: int, n_val: int, seed: int) -> dict[str, list[MCQ]]:
    """Held-out and validation items, stratified over question type and hops so each is balanced, with
    every stem group whole in one split (no held-out case is seen in training).

    Departure: the paper evaluates on public benchmarks only; a KG world needs its own held-out set."""
    groups: dict[str, list[MCQ]] = defaultdict(list)
    for r in records:
        groups[stem_key(r)].append(r)
    strata: dict[tuple, list[str]] = defaultdict(list)
    for key, rs in groups.items():
        strata[(rs[0].metadata.question_type, rs[0].metadata.extra.get("hops"))].append(key)
    rng = random.Random(seed)
    for keys in strata.values():
        rng.shuffle(keys)
    order = sorted(strata)
    out: dict[str, list[MCQ]] = {s: [] for s in SPLITS}
    for split, want in (("heldout", n_heldout), ("validation", n_val)):
        while len(out[split]) < want and any(strata[s] for s in order):
            for s in order:                      # round robin over strata: balanced types and hops
                if strata[s] and len(out[split]) < want:
                    out[split] += groups[strata[s].pop()]
    for s in order:
        for key in strata[s]:
            out["train"] += groups[key]
    rank = {r.id: i for i, r in enumerate(records)}
    return {name: sorted((r.model_copy(update={"split": name}) for r in rs), key=lambda r: rank[r.id])
            for name, rs in out.items()}


def run_split(cfg, root: Path, d: Path) -> dict[str, Any]:
    records = list(read_records(root / "synth" / "items.jsonl"))
    if cfg.split.heldout + cfg.split.validation >= len(records):
        raise ConfigError(f"{cfg.source}: split: heldout + validation ({cfg.split.heldout} + "
                          f"{cfg.split.validation}) leave no training items of {len(records)}")
    parts = split_items(records, cfg.split.heldout, cfg.split.validation, cfg.split.seed)
    stats: dict[str, Any] = {"in": len(records)}
    for name, rs in parts.items():
        write_records(d / f"{name}.jsonl", rs)
        types = Counter(r.metadata.question_type for r in rs)
        stats[name] = {"items": len(rs), "question_types": dict(types),
                       "hops": dict(Counter(str(r.metadata.extra.get("hops")) for r in rs))}
    keys = {name: {stem_key(r) for r in rs} for name, rs in parts.items()}
    stats["stems_shared_with_train"] = len(keys["train"] & (keys["heldout"] | keys["validation"]))
    assert stats["in"] == sum(stats[s]["items"] for s in SPLITS)
    return stats


def run_public(cfg, root: Path, d: Path) -> dict[str, Any]:
    from fleming.config import build
    from fleming.refine.config import InputSpec
    from fleming.refine.pipeline import Inputs

    specs = [build(InputSpec, x, f"public.inputs[{i}]", cfg.source) for i, x in enumerate(cfg.public.inputs)]
    step = Inputs(specs, cfg.public.data_dir, d / "exclusions.jsonl")
    n = write_records(d / "records.jsonl", step.run(step.rows()))
    return {**step.stats.to_dict(), "written": n, "inputs": step.per_input}


def training_inputs(cfg, root: Path) -> list[dict[str, Any]]:
    inputs = [{"path": str(root / "split" / "train.jsonl")}]
    if cfg.public.enabled:
        inputs.append({"path": str(root / "public" / "records.jsonl")})
    return inputs


def refine_config(cfg, root: Path, base_url: str | None):
    """The refine section with the run's inputs, and the served validator where there is one."""
    from fleming.config import build
    from fleming.refine.config import RefineConfig

    data = dict(cfg.refine)
    data["inputs"] = training_inputs(cfg, root)
    if base_url:
        llm = {"backend": "openai", "model": "validator", "base_url": base_url}
        data["labelcheck"] = {**data.get("labelcheck", {}), **llm}
        diff = dict(data.get("difficulty", {}))
        diff["llm"] = {**diff.get("llm", {}), **llm}
        data["difficulty"] = diff
    data.setdefault("mix", {}).setdefault("seed", cfg.seed)
    return build(RefineConfig, data, "refine", cfg.source)


def run_refine(cfg, root: Path, d: Path) -> dict[str, Any]:
    from fleming.pipeline.serving import serve_model
    from fleming.refine.pipeline import RefineRun

    if cfg.validator.enabled:
        with serve_model(root / "validator", "validator") as url:
            report = RefineRun(refine_config(cfg, root, url), root).run()
    else:
        report = RefineRun(refine_config(cfg, root, None), root).run()
    path = training_set_path(root)
    recs = list(read_records(path))
    if not recs:
        raise FlemingError(f"{path}: refinement kept no training item; see {root / 'refine' / 'reports'}"
                           "/funnel.md for where they were dropped (a label check whose validator never "
                           "answers right sends every item to the review queue)")
    write_json(d / "training_set.json", {"path": str(path), "items": len(recs)})
    return {"training_items": len(recs),
            "difficulty": dict(Counter(r.metadata.difficulty for r in recs)),
            "funnel": report if isinstance(report, dict) else None}


def training_set_path(root: Path) -> Path:
    from fleming.refine.pipeline import STEPS

    return root / "refine" / "steps" / f"{STEPS.index('mix'):02d}_mix" / "records.jsonl"
