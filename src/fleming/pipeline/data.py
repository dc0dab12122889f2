"""The data stages of ``fleming run``: kg -> synth -> split -> public -> refine.

Each is a function ``(cfg, run_dir, folder) -> stats`` that writes only into its own folder and reads
earlier stages' folders; ``fleming.pipeline.run`` lists them in order.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from fleming.errors import ConfigError, FlemingError
from fleming.io import read_records, write_json, write_records

SPLITS = ("train", "validation", "heldout")


def kg_dir(cfg, root: Path) -> Path:
    return Path(cfg.kg.dir) if cfg.kg.dir and cfg.kg.slice is None else root / "kg"


def run_kg(cfg, root: Path, d: Path) -> dict[str, Any]:
    """Build the KG from its sources (or take ``kg.dir``), then cut the closed world when ``kg.slice``
    asks for one."""
    from fleming.config import build
    from fleming.train.world import WorldConfig, slice_kg

    full = Path(cfg.kg.dir) if cfg.kg.dir else d / ("full" if cfg.kg.slice is not None else "")
    stats = {} if cfg.kg.dir else _build_kg(cfg, full)
    if cfg.kg.slice is not None:
        stats["slice"] = slice_kg(full, d, build(WorldConfig, cfg.kg.slice, "kg.slice", cfg.source))
    return stats


def _build_kg(cfg, d: Path) -> dict[str, Any]:
    from fleming.kg.build import build as build_kg

    d.mkdir(parents=True, exist_ok=True)
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
    sc = load_config(s.config)
    if s.n_options is not None:
        sc = replace(sc, n_options=s.n_options, min_options=s.n_options)
    return synthesize(kg_dir(cfg, root), n or s.n, sc, s.seed if seed is None else seed, d, workers=s.workers)


def run_split(cfg, root: Path, d: Path) -> dict[str, Any]:
    """Train / validation / held-out, stem-disjoint (``fleming.train.world.split_world``): no held-out or
    validation finding combination occurs in training, for any question type; held-out and validation
    balanced over question types (hence hops). Items whose stem went to held-out or validation after their
    type was full there are dropped, counted (training them would leak the stem).

    Departure: the paper evaluates on public benchmarks only; a KG world needs its own held-out set."""
    from fleming.train.world import WorldConfig, split_world, stem_key

    records = list(read_records(root / "synth" / "items.jsonl"))
    s = cfg.split
    parts = split_world(records, WorldConfig(heldout_per_type=s.heldout_per_type,
                                             validation_per_type=s.validation_per_type, seed=s.seed))
    if not parts["train"]:
        raise ConfigError(f"{cfg.source}: split: the held-out and validation quotas leave no training items "
                          f"of {len(records)}")
    stats: dict[str, Any] = {"in": len(records)}
    for name, rs in parts.items():
        write_records(d / f"{name}.jsonl", rs)
        types = Counter(r.metadata.question_type for r in rs)
        stats[name] = {"items": len(rs), "question_types": dict(types),
                       "hops": dict(Counter(str(r.metadata.extra.get("hops")) for r in rs))}
    keys = {name: {stem_key(r) for r in rs} for name, rs in parts.items() if name in SPLITS}
    stats["stems_shared_with_train"] = len(keys["train"] & (keys["heldout"] | keys["validation"]))
    stats["reconciles"] = stats["in"] == sum(stats[n]["items"] for n in parts)
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
