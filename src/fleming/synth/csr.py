"""CSR building blocks of the synthesizer's index (``sampler.SynthIndex``): a node column, the union
of relations as one hop, sampled-edge marks, stacking hops, the is_a closure, closed feature sets and
path reachability. Plain functions over a ``fleming.kg.store.KG``; no question-type logic."""

from __future__ import annotations

import numpy as np
from numba import njit

from fleming.kg.importers.hetionet import SAMPLE_MARK  # suffix of sampled edges' ``field``
from fleming.kg.schema import BY_NAME, FINDING_TYPES, INVERSE
from fleming.kg.store import KG


def node_column(kg: KG, name: str):
    """One column of nodes.parquet (only that one is read)."""
    import pyarrow.parquet as pq

    if kg.path is None:
        raise ValueError("this KG was built in memory; save() it first")
    return pq.read_table(kg.path / "nodes.parquet", columns=[name]).column(name).combine_chunks()


def inverse_name(rel: str) -> str:
    """'treats' -> 'treated_by', 'treated_by' -> 'treats', symmetric 'resembles' -> itself."""
    if rel in BY_NAME:
        return BY_NAME[rel].inverse or rel
    return INVERSE[rel]


def hop_is_closed(rels: tuple[str, ...]) -> bool:
    """A hop into findings: membership is closed over is_a (an annotated child implies its parent)."""
    ranges = [BY_NAME[r].range if r in BY_NAME else BY_NAME[INVERSE[r]].domain for r in rels]
    return all(rg <= FINDING_TYPES for rg in ranges)


def union_csr(kg: KG, rels: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(indptr, indices, eids) of the union of relations (duplicates dropped), sorted per node."""
    if len(rels) == 1:
        c = kg.csr(rels[0])
        return c.indptr, c.indices, c.eids.astype(np.int64, copy=False)
    srcs, dsts, eids = [], [], []
    for r in rels:
        c = kg.csr(r)
        srcs.append(np.repeat(np.arange(kg.n_nodes, dtype=np.int32), np.diff(c.indptr)))
        dsts.append(c.indices)
        eids.append(c.eids.astype(np.int64, copy=False))
    s, d, e = np.concatenate(srcs), np.concatenate(dsts), np.concatenate(eids)
    order = np.lexsort((d, s))
    s, d, e = s[order], d[order], e[order]
    keep = np.ones(len(s), dtype=bool)
    keep[1:] = (s[1:] != s[:-1]) | (d[1:] != d[:-1])
    s, d, e = s[keep], d[keep], e[keep]
    indptr = np.zeros(kg.n_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(s, minlength=kg.n_nodes), out=indptr[1:])
    return indptr, d.astype(np.int32, copy=False), e


def sampled_edges(kg: KG) -> np.ndarray:
    """Per edge: whether it comes from a sample (its ``field`` ends in SAMPLE_MARK)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if kg.path is None or kg.n_edges == 0:
        return np.zeros(kg.n_edges, dtype=bool)
    field = pq.read_table(kg.path / "edges.parquet", columns=["field"]).column("field").combine_chunks()
    if hasattr(field, "dictionary"):                       # dictionary-encoded: test each value once
        marks = np.asarray(pc.ends_with(field.dictionary, SAMPLE_MARK).fill_null(False), dtype=bool)
        return marks[np.asarray(field.indices.fill_null(0))] & np.asarray(field.indices.is_valid())
    return np.asarray(pc.ends_with(field, SAMPLE_MARK).fill_null(False), dtype=bool)


def keep_rows(csr: tuple[np.ndarray, np.ndarray, np.ndarray], mask: np.ndarray):
    """The CSR with only the entries where ``mask`` holds."""
    ptr, idx, eid = csr
    rows = np.repeat(np.arange(len(ptr) - 1), np.diff(ptr))
    new = np.zeros(len(ptr), dtype=np.int64)
    np.cumsum(np.bincount(rows[mask], minlength=len(ptr) - 1), out=new[1:])
    return new, idx[mask], eid[mask]


def stack_hops(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]], n: int, n_edges: int):
    """Hop CSRs stacked: indptr rows (int32 while every offset fits), one indices and one eids array."""
    small = max(n_edges, sum(len(p[1]) for p in parts)) < 2**31 - 1
    ptr = np.zeros((max(len(parts), 1), n + 1), dtype=np.int32 if small else np.int64)
    off = np.zeros(len(parts) + 1, dtype=np.int64)
    for h, (p, idx, _) in enumerate(parts):
        ptr[h] = p
        off[h + 1] = off[h] + len(idx)
    idx = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int32)
    eid = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0, np.int64)
    return ptr, idx.astype(np.int32, copy=False), eid.astype(np.int32 if small else np.int64, copy=False), off


@njit(cache=True)
def _ancestor_closure(n, pptr, pidx, cptr, cidx):
    """Proper is_a ancestors of every node (sorted CSR), parents processed before children."""
    pending = np.diff(pptr).astype(np.int64)
    order = np.empty(n, np.int64)
    head, tail = 0, 0
    for v in range(n):
        if pending[v] == 0:
            order[tail] = v
            tail += 1
    while head < tail:
        u = order[head]
        head += 1
        for j in range(cptr[u], cptr[u + 1]):
            c = cidx[j]
            pending[c] -= 1
            if pending[c] == 0:
                order[tail] = c
                tail += 1
    for v in range(n):                       # nodes on cycles: appended, they keep direct parents only
        if pending[v] > 0:
            order[tail] = v
            tail += 1
    start = np.zeros(n, np.int64)
    size = np.zeros(n, np.int64)
    buf = np.empty(max(16, 4 * len(pidx)), np.int32)
    mark = np.full(n, -1, np.int64)
    used = 0
    for oi in range(n):
        v = order[oi]
        start[v] = used
        for j in range(pptr[v], pptr[v + 1]):
            p = pidx[j]
            for q in range(-1, size[p]):
                x = p if q < 0 else buf[start[p] + q]
                if mark[x] != v:
                    mark[x] = v
                    if used >= len(buf):
                        nb = np.empty(2 * len(buf), np.int32)
                        nb[:used] = buf[:used]
                        buf = nb
                    buf[used] = x
                    used += 1
        size[v] = used - start[v]
        buf[start[v]:used].sort()
    ptr = np.zeros(n + 1, np.int64)
    for v in range(n):
        ptr[v + 1] = ptr[v] + size[v]
    out = np.empty(ptr[n], np.int32)
    for v in range(n):
        out[ptr[v]:ptr[v + 1]] = buf[start[v]:start[v] + size[v]]
    return ptr, out


def _transpose(ptr: np.ndarray, idx: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    src = np.repeat(np.arange(n, dtype=np.int32), np.diff(ptr))
    order = np.lexsort((src, idx))
    tptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(idx, minlength=n), out=tptr[1:])
    return tptr, src[order]


def isa_closure(kg: KG) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(aptr, aidx, dptr, didx): proper is_a ancestors and descendants of every node."""
    up, down = kg.csr("is_a"), kg.csr("has_subtype")
    aptr, aidx = _ancestor_closure(kg.n_nodes, up.indptr, up.indices, down.indptr, down.indices)
    dptr, didx = _transpose(aptr, aidx, kg.n_nodes)
    return aptr, aidx, dptr, didx


@njit(cache=True)
def _closed_pass(n, ptr, idx, aptr, aidx, size, out):
    """One pass over every node's features and their is_a ancestors, deduplicated: counts them into
    ``size`` (cumulative) when ``out`` is empty, else writes them, sorted per node, at ``size``."""
    mark = np.full(n, -1, np.int64)
    fill = len(out) > 0
    for v in range(n):
        k = size[v]
        for j in range(ptr[v], ptr[v + 1]):
            f = idx[j]
            for q in range(aptr[f] - 1, aptr[f + 1]):
                x = f if q < aptr[f] else aidx[q]
                if mark[x] != v:
                    mark[x] = v
                    if fill:
                        out[k] = x
                    k += 1
        if fill:
            out[size[v]:k].sort()
        else:
            size[v + 1] = k


def closed_feature_sets(fwd: list, hops: list[int], n: int, aptr, aidx):
    """(cslot, cptr, cidx): for each feature hop h (cslot[h] >= 0), every node's features closed over
    is_a ancestors, so "r has f (or a descendant of f)" is one binary search in r's list."""
    cslot = np.full(max(len(fwd), 1), -1, np.int64)
    ptrs, idxs, off = [], [], 0
    for k, h in enumerate(hops):
        size = np.zeros(n + 1, np.int64)
        _closed_pass(n, fwd[h][0], fwd[h][1], aptr, aidx, size, np.zeros(0, np.int32))
        out = np.empty(size[-1], np.int32)
        _closed_pass(n, fwd[h][0], fwd[h][1], aptr, aidx, size, out)
        cslot[h] = k
        ptrs.append(size + off)
        idxs.append(out)
        off += len(out)
    small = off < 2**31 - 1
    cptr = np.array(ptrs, dtype=np.int32 if small else np.int64).reshape(len(hops), n + 1) if hops \
        else np.zeros((1, n + 1), np.int32)
    cidx = np.concatenate(idxs) if idxs else np.zeros(0, np.int32)
    return cslot, cptr, cidx


def reachable(g_parts, hop_ids: list[int], end: np.ndarray, need: int) -> np.ndarray:
    """Nodes with at least ``need`` paths along the hops to a node where ``end`` holds (paths back to the
    anchor itself, or to its observed features, cannot be answers: callers raise ``need`` for them)."""
    paths = end.astype(np.float64)
    n = len(end)
    for h in reversed(hop_ids):
        ptr, idx, _ = g_parts[h]
        src = np.repeat(np.arange(n, dtype=np.int32), np.diff(ptr))
        paths = np.minimum(np.bincount(src, weights=paths[idx], minlength=n), float(need))
    return paths >= need
