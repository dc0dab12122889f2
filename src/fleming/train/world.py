"""A closed world for the scaled-down ablation: a slice of the default KG, items on it, and a split.

The slice keeps a few hundred Orphanet diseases, their phenotypes (``has_symptom`` / ``has_finding``)
and their genes (``associated_with``), and every KG edge among those nodes. Inside the slice the world
is *closed*: a phenotype the slice does not give a disease is absent from it, so "D lacks P" is a true
fact of this world (the real HPO is open-world; the slice is a model world, not a medical claim).

Items come from ``fleming synth`` on the slice. ``split_world`` groups them by stem, the set of observed
findings, so that no finding combination of the held-out or validation items occurs in training (for
any question type), and balances held-out and validation over question types (hence over hops).

Departure from the paper: the paper's KG has >100k entities and its items are mixed with public QA;
this world is small enough that a ~1M-parameter model can learn every fact in minutes on one core.
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from fleming.errors import ConfigError, InputError
from fleming.io import read_records, write_json, write_records
from fleming.records import MCQ

PHENOTYPE_RELATIONS = ("has_symptom", "has_finding")
GENE_RELATION = "associated_with"
SPLITS = ("train", "validation", "heldout")


@dataclass
class WorldConfig:
    """The slice of the KG and the items drawn on it."""

    n_diseases: int = field(default=150, metadata={"help": "diseases kept in the slice", "ge": 2})
    disease_prefix: str = field(default="ORPHA:", metadata={"help": "only diseases whose id starts with "
                                                                     "this (Orphanet by default)"})
    min_phenotypes: int = field(default=6, metadata={"help": "a kept disease has at least this many "
                                                              "phenotypes", "ge": 3})
    max_phenotypes: int = field(default=16, metadata={"help": "... and at most this many", "ge": 3})
    max_per_gene: int = field(default=3, metadata={"help": "diseases taken per shared gene while seeding "
                                                            "the slice from genes shared by >= 2 diseases",
                                                    "ge": 2})
    gene_share: float = field(default=0.6, metadata={"help": "share of the slice seeded from shared genes "
                                                              "(allelic-disorder items need them)",
                                                      "ge": 0.0, "le": 1.0})
    n_items: int = field(default=12000, metadata={"help": "items asked of fleming synth on the slice",
                                                   "ge": 100})
    n_options: int = field(default=4, metadata={"help": "options per item (answer + distractors; every "
                                                        "item has exactly this many)",
                                                "ge": 3, "le": 10})
    heldout_per_type: int = field(default=250, metadata={"help": "held-out items per question type",
                                                          "ge": 1})
    validation_per_type: int = field(default=100, metadata={"help": "validation items per question type",
                                                             "ge": 1})
    seed: int = field(default=0, metadata={"help": "seed of the slice, the synthesis and the split"})


def slice_kg(kg_dir: str | Path, out: str | Path, cfg: WorldConfig) -> dict:
    """Write the slice (``nodes.parquet``, ``edges.parquet``, ``meta.json``) to ``out``; returns counts."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from fleming.kg.store import EDGES, NODES, save

    kg_dir = Path(kg_dir)
    if not (kg_dir / NODES).is_file():
        raise InputError(str(kg_dir / NODES), None, "kg", "not found; build it with `fleming kg build`")
    if cfg.min_phenotypes > cfg.max_phenotypes:
        raise ConfigError(f"world: min_phenotypes {cfg.min_phenotypes} > max_phenotypes {cfg.max_phenotypes}")
    nodes = pq.read_table(kg_dir / NODES)
    edges = pq.read_table(kg_dir / EDGES)
    ids = np.asarray(nodes.column("id").to_pylist(), dtype=object)
    types = np.asarray(nodes.column("type").cast(pa.string()).to_pylist(), dtype=object)
    src, dst = edges.column("src").to_numpy(), edges.column("dst").to_numpy()
    rel = np.asarray(edges.column("relation").cast(pa.string()).to_pylist(), dtype=object)
    is_disease = types == "disease"
    phen = np.isin(rel, PHENOTYPE_RELATIONS) & is_disease[src]
    gene = (rel == GENE_RELATION) & is_disease[src] & (types[dst] == "gene")
    n_phen = np.bincount(src[phen], minlength=len(ids))
    n_gene = np.bincount(src[gene], minlength=len(ids))
    orpha = np.char.startswith(ids.astype(str), cfg.disease_prefix)
    ok = orpha & (n_phen >= cfg.min_phenotypes) & (n_phen <= cfg.max_phenotypes) & (n_gene >= 1)
    candidates = set(np.flatnonzero(ok).tolist())
    if len(candidates) < cfg.n_diseases:
        raise ConfigError(f"world: only {len(candidates)} {cfg.disease_prefix} diseases have "
                          f"{cfg.min_phenotypes}-{cfg.max_phenotypes} phenotypes and a gene; "
                          f"n_diseases is {cfg.n_diseases}")
    phenotypes: dict[int, set[int]] = defaultdict(set)
    for s, d in zip(src[phen].tolist(), dst[phen].tolist(), strict=True):
        if s in candidates:
            phenotypes[s].add(d)
    kept = _pick_diseases(src[gene], dst[gene], phenotypes, candidates, cfg)
    keep_node = np.zeros(len(ids), dtype=bool)
    keep_node[kept] = True
    ends = (phen | gene) & keep_node[src]
    keep_node[dst[ends]] = True                       # their phenotypes and genes
    keep_edge = keep_node[src] & keep_node[dst] & (phen | gene)  # no phenotype->gene, no is_a
    new_index = np.cumsum(keep_node) - 1              # nodes stay sorted by id, edges by (relation, src, dst)
    sub_nodes = nodes.filter(pa.array(keep_node))
    sub_edges = edges.filter(pa.array(keep_edge)).drop_columns(["rev_order"])
    sub_edges = sub_edges.set_column(sub_edges.schema.get_field_index("src"), "src",
                                     pa.array(new_index[src[keep_edge]].astype(np.int32)))
    sub_edges = sub_edges.set_column(sub_edges.schema.get_field_index("dst"), "dst",
                                     pa.array(new_index[dst[keep_edge]].astype(np.int32)))
    counts = {t: int(c) for t, c in Counter(types[keep_node].tolist()).items()}
    rel_counts = {str(k): int(v) for k, v in Counter(rel[keep_edge].tolist()).items()}
    meta = {"slice_of": str(kg_dir), "world": cfg.__dict__, "nodes": counts, "edges": rel_counts,
            "closed_world": "a phenotype or gene the slice does not give a disease is absent from it"}
    save(out, sub_nodes, sub_edges, meta)
    return meta


def _pick_diseases(gsrc: np.ndarray, gdst: np.ndarray, phenotypes: dict[int, set[int]], candidates: set[int],
                   cfg: WorldConfig) -> list[int]:
    """Seed part of the slice from genes shared by >= 2 candidate diseases, fill the rest by overlap."""
    rng = random.Random(cfg.seed)
    by_gene: dict[int, list[int]] = defaultdict(list)
    for s, g in zip(gsrc.tolist(), gdst.tolist(), strict=True):
        if s in candidates:
            by_gene[g].append(s)
    shared = sorted(g for g, ds in by_gene.items() if len(ds) >= 2)
    rng.shuffle(shared)
    kept: list[int] = []
    seen: set[int] = set()
    target = round(cfg.n_diseases * cfg.gene_share)
    for g in shared:
        if len(kept) >= target:
            break
        for d in sorted(by_gene[g])[: cfg.max_per_gene]:
            if d not in seen and len(kept) < cfg.n_diseases:
                kept.append(d)
                seen.add(d)
    return sorted(_fill_by_overlap(kept, candidates - seen, phenotypes, cfg.n_diseases, rng))


def _fill_by_overlap(kept: list[int], rest: set[int], phenotypes: dict[int, set[int]], n: int,
                     rng: random.Random) -> list[int]:
    """Add the candidates sharing the most phenotypes with the slice so far (ties at random): diagnosis
    items need distractors that share >= 2 observed findings, which random diseases rarely do."""
    pool = sorted(rest)
    rng.shuffle(pool)
    have: Counter = Counter(p for d in kept for p in phenotypes[d])
    while len(kept) < n and pool:
        best = max(range(len(pool)), key=lambda i: sum(have[p] > 0 for p in phenotypes[pool[i]])
                   / len(phenotypes[pool[i]]))
        d = pool.pop(best)
        kept.append(d)
        have.update(phenotypes[d])
    return kept


def synth_items(slice_dir: str | Path, out: str | Path, cfg: WorldConfig) -> dict:
    """``fleming synth`` on the slice (default templates, ``n_options`` options); returns its stats."""
    from fleming.synth.run import synthesize
    from fleming.synth.templates import load_config

    synth_cfg = replace(load_config(None), n_options=cfg.n_options, min_options=cfg.n_options)
    return synthesize(slice_dir, cfg.n_items, synth_cfg, cfg.seed, out, workers=1)


def stem_key(record: MCQ) -> str:
    """The stem as a set of observed findings (ids); the question text when the item has none."""
    observed = record.metadata.extra.get("observed") or []
    ids = sorted(o["id"] for o in observed if o.get("id"))
    return "|".join(ids) if ids else record.question


def split_world(records: list[MCQ], cfg: WorldConfig) -> dict[str, list[MCQ]]:
    """Train / validation / held-out, stem-disjoint, held-out and validation balanced over types.

    Stems (``stem_key``) are visited in a seeded order. A stem goes to held-out while one of its items'
    types is still below ``heldout_per_type`` there, then to validation likewise, else to training. A
    stem shared by several types keeps, in held-out or validation, only the items whose type still has
    room; its other items are returned under ``dropped`` (never in training: that would leak the stem).

    >>> split_world([], WorldConfig())
    {'train': [], 'validation': [], 'heldout': [], 'dropped': []}
    """
    groups: dict[str, list[MCQ]] = defaultdict(list)
    for r in records:
        groups[stem_key(r)].append(r)
    keys = sorted(groups)
    random.Random(cfg.seed).shuffle(keys)
    quota = {"heldout": cfg.heldout_per_type, "validation": cfg.validation_per_type}
    filled: dict[str, Counter] = {s: Counter() for s in quota}
    out: dict[str, list[MCQ]] = {s: [] for s in (*SPLITS, "dropped")}
    for k in keys:
        items = groups[k]
        split = next((s for s in quota
                      if any(filled[s][r.metadata.question_type] < quota[s] for r in items)), "train")
        for r in items:
            t = r.metadata.question_type
            if split != "train" and filled[split][t] >= quota[split]:
                out["dropped"].append(r)
                continue
            if split != "train":
                filled[split][t] += 1
            out[split].append(r.model_copy(update={"split": split}))
    return out


def build_world(kg_dir: str | Path, out: str | Path, cfg: WorldConfig, log=print) -> dict:
    """Slice, synthesize and split: ``out/kg``, ``out/synth``, ``out/{train,validation,heldout}.jsonl``."""
    out = Path(out)
    meta = slice_kg(kg_dir, out / "kg", cfg)
    log(f"world: slice {meta['nodes']} edges {meta['edges']}")
    stats = synth_items(out / "kg", out / "synth", cfg)
    records = list(read_records(out / "synth" / "items.jsonl"))
    parts = split_world(records, cfg)
    for name in SPLITS:
        write_records(out / f"{name}.jsonl", parts[name])
    summary = {"slice": meta, "synth_items": stats["n_items"],
               "splits": {k: _tally(v) for k, v in parts.items()},
               "dropped_reason": "stem in held-out or validation, its type already full there"}
    write_json(out / "world.json", summary)
    log("world: " + json.dumps(summary["splits"]))
    return summary


def _tally(records: list[MCQ]) -> dict:
    return {"n": len(records),
            "types": dict(Counter(r.metadata.question_type for r in records)),
            "hops": dict(Counter(str(r.metadata.extra.get("hops")) for r in records))}
