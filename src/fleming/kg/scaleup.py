"""Synthetic scale-up of a real KG that keeps its degree distributions (for benchmarks at 1M nodes).

For every stored relation and every entity type on its source side, the synthetic nodes of that type
draw their out-degrees from the real nodes' out-degrees (a bootstrap, zeros included) and their
in-degree weights likewise from the real in-degrees on the target side; targets are then drawn with
probability proportional to those weights (a Chung-Lu configuration model), so hubs stay hubs and the
long tail stays long. Node types keep their real proportions; degrees are scaled by one factor to
reach ``n_edges``. Duplicate pairs and self loops are removed, so the edge count lands a little under.
Frequencies on has_symptom/has_finding are resampled from the real ones; rare flags keep each type's
real share. Deterministic for a seed.

    >>> nodes, edges = scale_up(KG.load("runs/kg-shared"), n_nodes=1_000_000, n_edges=10_000_000)
    >>> save("runs/kg-1m", nodes, edges, {"scaleup_of": "runs/kg-shared"})
"""

from __future__ import annotations

import numpy as np

from fleming.kg.schema import BY_NAME, ENTITY_TYPES, RELATION_NAMES
from fleming.kg.store import KG


def _node_types(kg: KG, n_nodes: int, rng: np.random.Generator) -> np.ndarray:
    counts = np.bincount(kg.type_codes, minlength=len(ENTITY_TYPES)).astype(np.float64)
    types = rng.choice(len(ENTITY_TYPES), size=n_nodes, p=counts / counts.sum()).astype(np.int8)
    return np.sort(types, kind="stable")  # nodes of one type are contiguous


def _relation_edges(kg: KG, rel: str, types: np.ndarray, scale: float, rng: np.random.Generator):
    out_deg, in_deg = kg.csr(rel).degree(), np.diff(kg._rev[rel].indptr) if rel in kg._rev else None
    src_parts, w_nodes, w = [], [], []
    for code in range(len(ENTITY_TYPES)):
        real = kg.type_codes == code
        syn = np.flatnonzero(types == code)
        if not real.any() or not len(syn):
            continue
        od = out_deg[real]
        if od.any():
            d = rng.choice(od, size=len(syn)) * scale
            d = np.floor(d + rng.random(len(syn))).astype(np.int64)  # stochastic rounding
            src_parts.append(np.repeat(syn, d))
        idg = in_deg[real]
        if idg.any():
            w_nodes.append(syn)
            w.append(rng.choice(idg, size=len(syn)).astype(np.float64))
    if not src_parts or not w:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    src = np.concatenate(src_parts)
    cand, weight = np.concatenate(w_nodes), np.concatenate(w)
    cum = np.cumsum(weight)
    dst = cand[np.searchsorted(cum, rng.random(len(src)) * cum[-1], side="right").clip(0, len(cand) - 1)]
    if BY_NAME[rel].symmetric:
        src, dst = np.minimum(src, dst), np.maximum(src, dst)
    keep = src != dst
    key = np.unique(src[keep] * len(types) + dst[keep])
    return key // len(types), key % len(types)


def scale_up(kg: KG, n_nodes: int, n_edges: int, seed: int = 0):
    """(nodes table, edges table) in the store's format; see the module docstring."""
    import pyarrow as pa

    from fleming.kg.tables import edge_schema, node_schema

    rng = np.random.default_rng(seed)
    types = _node_types(kg, n_nodes, rng)
    scale = (n_edges / max(1, kg.n_edges)) * (kg.n_nodes / n_nodes)
    srcs, dsts, rels, freqs = [], [], [], []
    for code, rel in enumerate(RELATION_NAMES):
        if rel not in kg.relations:
            continue
        s, d = _relation_edges(kg, rel, types, scale, rng)
        real_f = kg.frequency[kg.csr(rel).eids] if rel in ("has_symptom", "has_finding") else None
        freqs.append(
            rng.choice(real_f, size=len(s))
            if real_f is not None and len(real_f)
            else np.full(len(s), np.nan, np.float32)
        )
        srcs.append(s)
        dsts.append(d)
        rels.append(np.full(len(s), code, np.int8))
    n = sum(len(s) for s in srcs)
    const = pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array(["scaleup"]))
    edges = pa.table(
        {
            "src": pa.array(np.concatenate(srcs).astype(np.int32)),
            "dst": pa.array(np.concatenate(dsts).astype(np.int32)),
            "relation": pa.DictionaryArray.from_arrays(
                pa.array(np.concatenate(rels)), pa.array(list(RELATION_NAMES))
            ),
            "confidence": pa.array(np.full(n, 0.9, np.float32)),
            "frequency": pa.array(np.concatenate(freqs).astype(np.float32)),
            "source": const,
            "record": pa.array(np.full(n, "", object), pa.string()),
            "revision": const,
            "field": const,
            "sources": const,
            "support": pa.array(np.ones(n, np.int32)),
            "evidence": pa.array(np.full(n, "", object), pa.string()),
        },
        schema=edge_schema(),
    )
    return _nodes(kg, types, rng, pa, node_schema()), edges


def _nodes(kg: KG, types: np.ndarray, rng: np.random.Generator, pa, schema):
    n = len(types)
    rare_share = np.array(
        [
            kg.rare[kg.type_codes == c].mean() if (kg.type_codes == c).any() else 0.0
            for c in range(len(ENTITY_TYPES))
        ]
    )
    ids = pa.array([f"syn:{ENTITY_TYPES[t]}:{i:08d}" for i, t in enumerate(types.tolist())])
    empty = pa.array([[]] * n, pa.list_(pa.string()))
    return pa.table(
        {
            "id": ids,
            "type": pa.DictionaryArray.from_arrays(pa.array(types), pa.array(list(ENTITY_TYPES))),
            "name": ids,
            "synonyms": empty,
            "xrefs": empty,
            "sources": pa.array([["scaleup"]] * n, pa.list_(pa.string())),
            "rare": pa.array(rng.random(n) < rare_share[types]),
            "rare_flags": pa.array([""] * n),
            "attrs": pa.array([""] * n),
        },
        schema=schema,
    )


__all__ = ["scale_up"]
