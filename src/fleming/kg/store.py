"""The KG store: Parquet on disk, CSR arrays in memory, fast typed-neighbour queries.

On disk (a directory written by ``save`` / ``fleming kg build``):

- ``nodes.parquet``: one row per entity, sorted by ``id`` (so node index = row number, and both are
  stable across rebuilds). Columns: id, type, name, synonyms (list), xrefs (list), sources (list),
  rare (bool), rare_flags (e.g. "orphanet|do_rare_slim|hpo"), attrs (JSON text: onset, specialty...).
- ``edges.parquet``: one row per distinct (relation, src, dst), sorted by (relation, src, dst).
  Columns: src, dst (int32 node indices), relation, confidence, frequency (NaN when unknown), and the
  provenance of the best-supported assertion: source, record, revision, field; plus ``sources``
  (every source asserting the edge, "|"-joined), ``support`` (how many assertions) and ``evidence``
  (the text the best assertion was read from: an infobox field segment, an extracted sentence).
  ``rev_order`` holds the reverse index's row order per relation, so loading needs no sort.
- ``meta.json``: build info (counts, merges per kind, timings, config).

In memory (``KG.load``), only the columns queries need are read: per stored relation a forward CSR
(a view into the sorted edge arrays, no copy) and a reverse CSR (one stable argsort), int32 throughout.
That is about 30 bytes per edge plus 8 bytes per node per relation present.

Usage::

    kg = KG.load("runs/kg")
    i = kg.index("DOID:12849")                  # node index of an id
    i = kg.lookup("OMIM:209850")                # ... or of any xref it merged
    kg.neighbors(i, "has_symptom")              # sorted int32 node indices
    kg.neighbors(j, "treated_by")               # inverse names use the reverse index
    nb, eids = kg.neighbor_edges(i, "has_symptom"); kg.frequency[eids]   # HPO frequencies
    c = kg.csr("has_symptom"); c.indptr, c.indices, c.eids               # raw arrays for numba kernels
    w = kg.long_tail_weights(kg.nodes_of_type("disease"), alpha=1.0)    # ∝ (degree + 1) ** -alpha
    kg.rare[i], kg.attrs(i).get("onset"), kg.provenance(eid)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from fleming.errors import InputError
from fleming.kg.schema import BY_NAME, ENTITY_TYPES, RELATION_NAMES, TYPE_CODE, resolve_relation

NODES, EDGES, META = "nodes.parquet", "edges.parquet", "meta.json"


@dataclass(frozen=True)
class CSR:
    """Neighbours of node i: ``indices[indptr[i]:indptr[i+1]]`` (sorted); ``eids`` the edge rows."""

    indptr: np.ndarray  # n_nodes + 1; int32 while the relation's edges fit, else int64
    indices: np.ndarray  # int32 neighbour node indices
    eids: np.ndarray  # int32/int64 row numbers into edges.parquet

    def neighbors(self, i: int) -> np.ndarray:
        return self.indices[self.indptr[i] : self.indptr[i + 1]]

    def degree(self) -> np.ndarray:
        return np.diff(self.indptr)


def _csr_from_sorted(keys: np.ndarray, values: np.ndarray, eids: np.ndarray, n: int) -> CSR:
    counts = np.bincount(keys, minlength=n)
    indptr = np.zeros(n + 1, dtype=np.int32 if len(values) < 2**31 else np.int64)   # half the memory
    np.cumsum(counts, out=indptr[1:])
    return _frozen(CSR(indptr, values, eids))


def _frozen(c: CSR) -> CSR:
    """The CSR with read-only arrays: the KG is immutable, and numba compiles one specialization for
    every relation (a read-only slice of the loaded edges and a writable copy were two array types)."""
    for a in (c.indptr, c.indices, c.eids):
        a.flags.writeable = False
    return c


class KG:
    """An immutable knowledge graph with per-relation CSR indices in both directions."""

    def __init__(
        self,
        path: Path | None,
        ids,
        names,
        type_codes: np.ndarray,
        rare: np.ndarray,
        src: np.ndarray,
        dst: np.ndarray,
        rel_codes: np.ndarray,
        rel_names: list[str],
        confidence: np.ndarray,
        frequency: np.ndarray,
        rev_order: np.ndarray | None = None,
    ):
        self.path = path
        self.ids, self.names = ids, names  # pyarrow string arrays (compact; see id()/name())
        self.type_codes, self.rare = type_codes, rare
        self.src, self.dst = src, dst
        self.confidence, self.frequency = confidence, frequency
        self.n_nodes, self.n_edges = len(type_codes), len(src)
        self._fwd: dict[str, CSR] = {}
        self._rev: dict[str, CSR] = {}
        self._sym: dict[str, CSR] = {}
        self._build_index(rel_codes, rel_names, rev_order)

    # ---- construction ----------------------------------------------------------------------------
    def _build_index(self, rel_codes: np.ndarray, rel_names: list[str], rev_order: np.ndarray | None) -> None:
        n = self.n_nodes
        bounds = relation_bounds(rel_codes, len(rel_names))
        if rev_order is None:
            rev_order = reverse_order(self.dst, bounds)
        for code, name in enumerate(rel_names):
            lo, hi = int(bounds[code]), int(bounds[code + 1])
            if lo == hi:
                continue
            s, d = self.src[lo:hi], self.dst[lo:hi]
            eids = np.arange(lo, hi, dtype=np.int32 if hi < 2**31 else np.int64)
            self._fwd[name] = _csr_from_sorted(s, d, eids, n)
            order = rev_order[lo:hi]
            self._rev[name] = _csr_from_sorted(d[order], s[order], eids[order], n)
            if BY_NAME.get(name) is not None and BY_NAME[name].symmetric:
                self._sym[name] = self._merge_sym(s, d, eids)

    def _merge_sym(self, s: np.ndarray, d: np.ndarray, eids: np.ndarray) -> CSR:
        a, b = np.concatenate([s, d]), np.concatenate([d, s])
        e = np.concatenate([eids, eids])
        order = np.lexsort((b, a))
        return _csr_from_sorted(a[order], b[order], e[order], self.n_nodes)

    @classmethod
    def load(cls, path: str | Path) -> KG:
        """Read nodes/edges Parquet from ``path`` and build the index (see module docstring)."""
        from fleming.io import read_parquet

        path = Path(path)
        if path.exists() and not path.is_dir():
            raise InputError(path, None, None,
                             "not a directory; expected a KG directory from `fleming kg build`")
        for f in (NODES, EDGES):
            if not (path / f).is_file():
                raise InputError(
                    path / f, None, None, "missing; expected a KG directory from `fleming kg build`"
                )
        node_cols = ["id", "name", "type", "rare"]
        cols = ["src", "dst", "relation", "confidence", "frequency"]
        _require_columns(path / NODES, node_cols)
        if "rev_order" in _require_columns(path / EDGES, cols):
            cols.append("rev_order")
        return cls.from_arrow(read_parquet(path / NODES, node_cols), read_parquet(path / EDGES, cols), path)

    @classmethod
    def from_arrow(cls, nt, et, path: Path | None = None) -> KG:
        import pyarrow as pa
        import pyarrow.compute as pc

        type_codes = _dict_codes(nt.column("type"), {t: i for t, i in TYPE_CODE.items()}, "type")
        rel = et.column("relation")
        rel_codes = _dict_codes(rel, {r: i for i, r in enumerate(RELATION_NAMES)}, "relation")
        src = et.column("src").to_numpy().astype(np.int32, copy=False)
        dst = et.column("dst").to_numpy().astype(np.int32, copy=False)
        rev = et.column("rev_order").to_numpy() if "rev_order" in et.column_names else None
        if not _sorted_by_relation_and_source(rel_codes, src):  # not written by save(): sort
            order = np.lexsort((dst, src, rel_codes))
            src, dst, rel_codes = src[order], dst[order], rel_codes[order]
            et, rev = et.take(pa.array(order)), None
        conf = et.column("confidence").to_numpy().astype(np.float32, copy=False)
        freq = pc.fill_null(et.column("frequency"), float("nan")).to_numpy().astype(np.float32, copy=False)
        rare = nt.column("rare").to_numpy(zero_copy_only=False).astype(bool)
        ids = nt.column("id").combine_chunks()
        names = nt.column("name").combine_chunks()
        return cls(
            path, ids, names, type_codes, rare, src, dst, rel_codes, list(RELATION_NAMES), conf, freq, rev
        )

    # ---- node look-ups ---------------------------------------------------------------------------
    @cached_property
    def _index(self) -> dict[str, int]:
        return {s: i for i, s in enumerate(self.ids.to_pylist())}

    def index(self, node_id: str) -> int:
        """Node index of a stable id; KeyError when absent."""
        return self._index[node_id]

    @cached_property
    def _xref_index(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for i, xs in enumerate(self.node_table.column("xrefs").to_pylist()):
            for x in xs:
                out.setdefault(x, i)
        return out

    def lookup(self, ref: str) -> int:
        """Node index of an id or of any cross-reference it holds ('OMIM:154700' after it merged
        into 'ORPHA:558'); prefixes are normalized ('DrugBank:DB1' -> 'DRUGBANK:DB1')."""
        from fleming.kg.schema import parse_xref

        if ref in self._index:
            return self._index[ref]
        return self._xref_index[parse_xref(ref) or ref]

    def id(self, i: int) -> str:
        return self.ids[int(i)].as_py()

    def name(self, i: int) -> str:
        return self.names[int(i)].as_py()

    def type(self, i: int) -> str:
        return ENTITY_TYPES[int(self.type_codes[i])]

    def nodes_of_type(self, etype: str) -> np.ndarray:
        return np.flatnonzero(self.type_codes == TYPE_CODE[etype]).astype(np.int32)

    @property
    def relations(self) -> list[str]:
        """Stored relations that have at least one edge."""
        return list(self._fwd)

    # ---- neighbour queries -----------------------------------------------------------------------
    def csr(self, relation: str) -> CSR:
        """The CSR for a relation or inverse name; symmetric relations answer both directions."""
        rel, direction = resolve_relation(relation)
        if rel not in self._fwd:
            empty = np.zeros(0, dtype=np.int32)
            return _frozen(CSR(np.zeros(self.n_nodes + 1, dtype=np.int64), empty, empty))
        if rel in self._sym:
            return self._sym[rel]
        return self._fwd[rel] if direction == "out" else self._rev[rel]

    def neighbors(self, i: int, relation: str) -> np.ndarray:
        """Sorted neighbour indices of node ``i`` over ``relation`` (e.g. 'has_symptom', 'treated_by')."""
        return self.csr(relation).neighbors(i)

    def neighbor_edges(self, i: int, relation: str) -> tuple[np.ndarray, np.ndarray]:
        c = self.csr(relation)
        lo, hi = c.indptr[i], c.indptr[i + 1]
        return c.indices[lo:hi], c.eids[lo:hi]

    def has_edge(self, i: int, relation: str, j: int) -> bool:
        nb = self.neighbors(i, relation)
        k = np.searchsorted(nb, j)
        return bool(k < len(nb) and nb[k] == j)

    def degree(self, relation: str | None = None) -> np.ndarray:
        """Per-node degree over one relation (direction as named), or total in+out over all."""
        if relation is not None:
            return self.csr(relation).degree()
        deg = np.bincount(self.src, minlength=self.n_nodes)
        deg += np.bincount(self.dst, minlength=self.n_nodes)
        return deg

    def long_tail_weights(
        self, nodes: np.ndarray | None = None, alpha: float = 1.0, relation: str | None = None
    ) -> np.ndarray:
        """Sampling weights ∝ (degree + 1) ** -alpha over ``nodes`` (all when None); they sum to 1."""
        deg = self.degree(relation).astype(np.float64)
        if nodes is not None:
            deg = deg[nodes]
        w = (deg + 1.0) ** -alpha
        return w / w.sum()

    # ---- full rows (read lazily from the Parquet files) ------------------------------------------
    @cached_property
    def node_table(self):
        import pyarrow.parquet as pq

        return pq.read_table(self._need_path() / NODES)

    @cached_property
    def edge_table(self):
        import pyarrow.parquet as pq

        return pq.read_table(self._need_path() / EDGES)

    def attrs(self, i: int) -> dict[str, Any]:
        raw = self.node_table.column("attrs")[int(i)].as_py()
        return json.loads(raw) if raw else {}

    def node(self, i: int) -> dict[str, Any]:
        row = self.node_table.slice(int(i), 1).to_pylist()[0]
        row["attrs"] = json.loads(row["attrs"]) if row.get("attrs") else {}
        return row

    def provenance(self, eid: int) -> dict[str, Any]:
        """The edge row: src/dst ids, relation, confidence, frequency, source, record, revision, field."""
        row = self.edge_table.slice(int(eid), 1).to_pylist()[0]
        row["src_id"], row["dst_id"] = self.id(row["src"]), self.id(row["dst"])
        return row

    def _need_path(self) -> Path:
        if self.path is None:
            raise ValueError("this KG was built in memory; save() it to read full rows")
        return self.path


def _sorted_by_relation_and_source(rel_codes: np.ndarray, src: np.ndarray) -> bool:
    """Cheap check (no int64 temporaries) that rows are ordered by relation, then source."""
    if len(src) < 2:
        return True
    rel_step = np.diff(rel_codes)
    if (rel_step < 0).any():
        return False
    src_down = np.diff(src) < 0
    return not (src_down & (rel_step == 0)).any()


def relation_bounds(rel_codes: np.ndarray, n_relations: int) -> np.ndarray:
    """Row ranges per relation code in edges sorted by relation: rows bounds[c]:bounds[c+1]."""
    return np.searchsorted(rel_codes, np.arange(n_relations + 1))


def reverse_order(dst: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Per relation segment, the stable order of rows by target (sources stay sorted within a target):
    the reverse CSR. ``save`` stores it as the ``rev_order`` column so that loading needs no sort."""
    out = np.empty(len(dst), dtype=np.int32 if len(dst) < 2**31 else np.int64)
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        if hi > lo:
            out[lo:hi] = np.argsort(dst[lo:hi], kind="stable")
    return out


def _dict_codes(col, codes: dict[str, int], field: str) -> np.ndarray:
    """Map a (dictionary-encoded) string column to schema codes without a Python loop per row."""
    import pyarrow as pa

    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if not pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_encode()
    dictionary = arr.dictionary.to_pylist()
    unknown = [v for v in dictionary if v not in codes]
    if unknown:
        raise InputError(
            "<kg>", None, field, f"unknown {field} value(s) {unknown[:5]}; expected the schema's"
        )
    lut = np.array([codes[v] for v in dictionary], dtype=np.int8)
    return lut[arr.indices.to_numpy(zero_copy_only=False)]


def _require_columns(path: Path, cols: list[str]) -> list[str]:
    """The column names of a Parquet file, after checking ``cols`` are among them (else ``InputError``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(path).names
    except (pa.ArrowException, OSError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise InputError(path, None, None, f"not a readable Parquet file ({first})") from None
    missing = [c for c in cols if c not in names]
    if missing:
        raise InputError(path, None, missing[0], f"missing column; the file has {names}")
    return names


def save(path: str | Path, nodes, edges, meta: dict[str, Any] | None = None) -> Path:
    """Write nodes/edges tables (from the builder) and meta.json into ``path``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from fleming.io import write_json

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    if "rev_order" not in edges.column_names:
        codes = _dict_codes(
            edges.column("relation"), {r: i for i, r in enumerate(RELATION_NAMES)}, "relation"
        )
        dst = edges.column("dst").to_numpy()
        edges = edges.append_column(
            "rev_order", pa.array(reverse_order(dst, relation_bounds(codes, len(RELATION_NAMES))))
        )
    pq.write_table(nodes, path / NODES, compression="zstd")
    pq.write_table(edges, path / EDGES, compression="zstd", row_group_size=1 << 22)
    write_json(path / META, meta or {})
    return path


def closed_world(path: str | Path | None) -> bool:
    """The KG folder is a closed-world slice (``fleming.train.world.slice_kg`` writes ``closed_world``
    into its meta.json): a pair it does not hold is false there, so absence is evidence."""
    import json

    meta = Path(path) / META if path is not None else None
    return bool(meta and meta.is_file() and json.loads(meta.read_text()).get("closed_world"))
