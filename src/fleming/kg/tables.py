"""Arrow tables for the store: node rows, and edge assertions resolved, checked, deduplicated and sorted.

Edges: one row per distinct (relation, src, dst); among several assertions of one edge the most
confident one gives the provenance columns, ``sources`` lists every source and ``support`` counts them.
Symmetric relations are stored once per pair, smaller node index first. Rows are sorted by
(relation code, src, dst), the order ``store.KG`` builds its CSR from without sorting.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from fleming.kg.schema import BY_NAME, ENTITY_TYPES, REL_CODE, RELATION_NAMES, TYPE_CODE


def node_schema():
    import pyarrow as pa

    return pa.schema(
        [
            ("id", pa.string()),
            ("type", pa.dictionary(pa.int8(), pa.string())),
            ("name", pa.string()),
            ("synonyms", pa.list_(pa.string())),
            ("xrefs", pa.list_(pa.string())),
            ("sources", pa.list_(pa.string())),
            ("rare", pa.bool_()),
            ("rare_flags", pa.string()),
            ("attrs", pa.string()),
        ]
    )


def edge_schema():
    import pyarrow as pa

    d = pa.dictionary(pa.int32(), pa.string())
    return pa.schema(
        [
            ("src", pa.int32()),
            ("dst", pa.int32()),
            ("relation", pa.dictionary(pa.int8(), pa.string())),
            ("confidence", pa.float32()),
            ("frequency", pa.float32()),
            ("source", d),
            ("record", pa.string()),
            ("revision", d),
            ("field", d),
            ("sources", d),
            ("support", pa.int32()),
            ("evidence", pa.string()),
        ]
    )


def nodes_table(rows: list[dict]):
    import pyarrow as pa

    cols = {f.name: [r[f.name] for r in rows] for f in node_schema()}
    cols["type"] = _dict_array(cols["type"], ENTITY_TYPES, pa.int8())
    return pa.table(cols, schema=node_schema())


def _dict_array(values, vocab, index_type):
    import pyarrow as pa

    codes = {v: i for i, v in enumerate(vocab)}
    idx = np.fromiter((codes[v] for v in values), dtype=np.int64, count=len(values))
    return pa.DictionaryArray.from_arrays(pa.array(idx, type=index_type), pa.array(list(vocab), pa.string()))


def _allowed_lut() -> tuple[np.ndarray, np.ndarray]:
    """[relation code, type code] -> allowed as source / as target."""
    dom = np.zeros((len(RELATION_NAMES), len(ENTITY_TYPES)), dtype=bool)
    rng = np.zeros_like(dom)
    for name, code in REL_CODE.items():
        for t in BY_NAME[name].domain:
            dom[code, TYPE_CODE[t]] = True
        for t in BY_NAME[name].range:
            rng[code, TYPE_CODE[t]] = True
    return dom, rng


def _strings(chunks: list[dict], name: str):
    """One pyarrow string array of a column over all chunks (scalars broadcast)."""
    import pyarrow as pa

    parts = []
    for c in chunks:
        v, n = c[name], len(c["src"])
        if isinstance(v, str):
            v = [v] * n
        parts.append(v if isinstance(v, pa.Array) else pa.array(v, pa.string()))
    return pa.concat_arrays(parts) if parts else pa.array([], pa.string())


def _numbers(chunks: list[dict], name: str, default: float) -> np.ndarray:
    parts = []
    for c in chunks:
        v, n = c[name], len(c["src"])
        parts.append(
            np.full(n, default if v is None else v, dtype=np.float32)
            if v is None or np.isscalar(v)
            else np.asarray(v, dtype=np.float32)
        )
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def _resolve_keys(
    keys, rel: np.ndarray, by_key, node_of_record: np.ndarray, type_codes: np.ndarray, lut: np.ndarray
) -> np.ndarray:
    """Node index per endpoint key (-1 when unknown); among records sharing a key (one per type
    group), the one whose type the relation allows. Each distinct (key, relation) is resolved once."""
    enc = keys.dictionary_encode()
    vocab = enc.dictionary.to_pylist()
    pair = enc.indices.to_numpy().astype(np.int64) * 64 + rel
    uniq, inv = np.unique(pair, return_inverse=True)
    out = np.empty(len(uniq), dtype=np.int64)
    for j, p in enumerate(uniq.tolist()):
        recs = by_key.get(vocab[p >> 6])
        if not recs:
            out[j] = -1
            continue
        nodes = [int(node_of_record[r]) for r in recs]
        out[j] = next((nd for nd in nodes if lut[p & 63, type_codes[nd]]), nodes[0])
    return out[inv]


def edges_table(chunks: list[dict], by_key, node_of_record: np.ndarray, types: list[str], dropped: Counter):
    import pyarrow as pa

    type_codes = np.array([TYPE_CODE[t] for t in types], dtype=np.int64)
    dom, rng = _allowed_lut()
    rel = np.concatenate(
        [
            np.full(len(c["src"]), REL_CODE[c["rel"]])
            if isinstance(c["rel"], str)
            else np.array([REL_CODE[r] for r in c["rel"]])
            for c in chunks
        ]
        or [np.zeros(0)]
    )
    rel = rel.astype(np.int64)
    src = _resolve_keys(_strings(chunks, "src"), rel, by_key, node_of_record, type_codes, dom)
    dst = _resolve_keys(_strings(chunks, "dst"), rel, by_key, node_of_record, type_codes, rng)
    conf = _numbers(chunks, "confidence", 1.0)
    freq = _numbers(chunks, "frequency", np.nan)
    ok = _check(src, dst, rel, type_codes, dom, rng, dropped)
    sym = np.array([BY_NAME[n].symmetric for n in RELATION_NAMES])[rel]
    swap = sym & (src > dst)
    src[swap], dst[swap] = dst[swap], src[swap]
    idx = np.flatnonzero(ok)
    order = idx[np.lexsort((-conf[idx], dst[idx], src[idx], rel[idx]))]
    key = (rel[order] * (len(types) + 1) + src[order]) * (len(types) + 1) + dst[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.zeros(0, dtype=np.int64)
    best = pa.array(order[starts])
    support = np.diff(np.r_[starts, len(order)]).astype(np.int32)
    source = _strings(chunks, "source")
    d32 = pa.dictionary(pa.int32(), pa.string())
    cols = {
        "src": pa.array(src[order[starts]].astype(np.int32)),
        "dst": pa.array(dst[order[starts]].astype(np.int32)),
        "relation": pa.DictionaryArray.from_arrays(
            pa.array(rel[order[starts]].astype(np.int8)), pa.array(list(RELATION_NAMES))
        ),
        "confidence": pa.array(conf[order[starts]]),
        "frequency": pa.array(freq[order[starts]]),
        "source": source.take(best).dictionary_encode().cast(d32),
        "record": _strings(chunks, "record").take(best),
        "revision": _strings(chunks, "revision").take(best).dictionary_encode().cast(d32),
        "field": _strings(chunks, "field").take(best).dictionary_encode().cast(d32),
        "sources": _joined_sources(source, order, starts),
        "support": pa.array(support),
        "evidence": _strings(chunks, "evidence").take(best),
    }
    return pa.table(cols, schema=edge_schema())


def _check(src, dst, rel, type_codes, dom, rng, dropped: Counter) -> np.ndarray:
    """Which assertions to keep; counts the others by reason."""
    unknown = (src < 0) | (dst < 0)
    s, d = np.where(unknown, 0, src), np.where(unknown, 0, dst)
    loop = ~unknown & (s == d)
    bad_dom = ~unknown & ~loop & ~dom[rel, type_codes[s]]
    bad_rng = ~unknown & ~loop & ~bad_dom & ~rng[rel, type_codes[d]]
    for name, mask in (("unknown endpoint", unknown), ("self loop", loop)):
        if mask.any():
            dropped[name] += int(mask.sum())
    for name, mask in (("domain", bad_dom), ("range", bad_rng)):
        for code, cnt in zip(*np.unique(rel[mask], return_counts=True), strict=True):
            dropped[f"{name} of {RELATION_NAMES[code]}"] += int(cnt)
    return ~(unknown | loop | bad_dom | bad_rng)


def _joined_sources(source, order: np.ndarray, starts: np.ndarray):
    """'hetionet|pharmacotherapydb' per kept edge (every distinct source among its assertions), as a
    dictionary array built from codes, without a Python object per edge."""
    import pyarrow as pa

    enc = source.dictionary_encode()
    vocab = enc.dictionary.to_pylist()
    sc = enc.indices.to_numpy().astype(np.int64)[order]
    sizes = np.diff(np.r_[starts, len(order)])
    codes = sc[starts].copy()
    multi = np.flatnonzero(sizes > 1)
    if len(multi):
        group = np.repeat(np.arange(len(starts)), sizes)
        sel = np.isin(group, multi)
        pairs = np.unique(group[sel] * len(vocab) + sc[sel])
        per: dict[int, list[str]] = {}
        for p in pairs.tolist():
            per.setdefault(p // len(vocab), []).append(vocab[p % len(vocab)])
        joined: dict[str, int] = {}
        for g, names in per.items():
            codes[g] = joined.setdefault("|".join(sorted(names)), len(vocab) + len(joined))
        vocab = vocab + list(joined)
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), pa.array(vocab, pa.string()))
