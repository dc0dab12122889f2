"""GraphBuilder: importers add entity records and edge assertions; ``finalize`` merges and indexes them.

Merging (union-find over records), within a type group only (a disease never merges with a drug):

1. the same key (a source's id, e.g. 'DOID:10652', registered again by another source);
2. a shared cross-reference whose prefix names one concept (``schema.MERGE_PREFIXES``: DOID, OMIM,
   ORPHA, MESH, DRUGBANK, UMLS, ...);
3. a primary name equal (normalized) to another record's primary name or synonym, for names of 4+
   characters. Synonym-to-synonym matches never merge (shared abbreviations would chain).
4. "weak" records (Wikipedia link targets, whose type is a guess) join an existing entity of one of
   their allowed types by name or synonym, and take its type.

Every union that joins records from different sources is counted in ``merges[kind]`` (kind =
'xref:OMIM', 'key:DOID', 'name', 'synonym', 'weak'); unions within one source go to
``merges_within``. Edge endpoints are keys; an edge whose endpoint key is unknown, whose types break
the relation's domain/range, or which is a self-loop is dropped and counted in ``dropped[reason]``.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable

import numpy as np

from fleming.kg.schema import _NORM, BY_NAME, MERGE_PREFIXES, name_keys_many, norm_name, parse_xref, stable_id

TYPE_GROUP = {"lab": "phenotype", "imaging": "phenotype"}  # findings merge with phenotypes


def group_of(etype: str) -> str:
    return TYPE_GROUP.get(etype, etype)


class _UnionFind:
    def __init__(self) -> None:
        self.parent: list[int] = []

    def add(self) -> int:
        self.parent.append(len(self.parent))
        return len(self.parent) - 1

    def find(self, x: int) -> int:
        p = self.parent
        root = x
        while p[root] != root:
            root = p[root]
        while p[x] != root:
            p[x], x = root, p[x]
        return root

    def union(self, a: int, b: int) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        lo, hi = (ra, rb) if ra < rb else (rb, ra)  # the earlier record stays root (its source leads)
        self.parent[hi] = lo
        return True


class GraphBuilder:
    """Collects records from importers. See the module docstring for the merge rules."""

    def __init__(self) -> None:
        self.uf = _UnionFind()
        self.rtype: list[str] = []
        self.rname: list[str] = []
        self.rsource: list[str] = []
        self.rxrefs: list[set[str]] = []
        self.rsyn: list[set[str]] = []
        self.rattrs: list[dict] = []
        self.rrare: list[set[str]] = []
        self.rweak: list[tuple[str, ...] | None] = []
        self.rkeys: list[set[str]] = []
        self.by_key: dict[str, list[int]] = defaultdict(list)
        self.edge_chunks: list[dict] = []
        self._single: list[tuple] = []
        self.merges: Counter = Counter()
        self.merges_within: Counter = Counter()
        self.merges_refused: Counter = Counter()
        self.cluster_ids: dict[int, dict[str, str]] = {}  # root -> {namespace: the key it holds}
        self.dropped: Counter = Counter()

    # ---- entities ------------------------------------------------------------------------------------
    def add_entity(
        self,
        key: str,
        etype: str,
        name: str,
        source: str,
        *,
        xrefs: Iterable[str] = (),
        synonyms: Iterable[str] = (),
        attrs: dict | None = None,
        rare: Iterable[str] = (),
        weak_types: tuple[str, ...] | None = None,
    ) -> int:
        """Register one source record; returns its record index. ``key`` is what edges refer to."""
        for r in self.by_key.get(key, ()):  # same key, same group: one record, updated
            if group_of(self.rtype[r]) == group_of(etype):
                self._update(r, source, xrefs, synonyms, attrs, rare, name)
                return r
        r = self.uf.add()
        self.rtype.append(etype)
        self.rname.append(name)
        self.rsource.append(source)
        self.rxrefs.append({x for x in (parse_xref(s) for s in xrefs) if x})
        self.rsyn.append({s for s in synonyms if s and s != name})
        self.rattrs.append(dict(attrs or {}))
        self.rrare.append(set(rare))
        self.rweak.append(weak_types)
        self.by_key[key].append(r)
        k = parse_xref(key)
        self.rkeys.append({k} if k else set())
        if k:
            self.rxrefs[r].add(k)
            self.cluster_ids[r] = {k.partition(":")[0]: k}
        return r

    def _update(self, r: int, source: str, xrefs, synonyms, attrs, rare, name: str) -> None:
        also = self.rattrs[r].setdefault("_also", set())
        if source != self.rsource[r] and source not in also:  # a second source names the same id
            also.add(source)
            key = next(iter(self.cluster_ids.get(r, {})), "other")
            self.merges[f"key:{key}"] += 1
        self.rxrefs[r].update(x for x in (parse_xref(s) for s in xrefs) if x)
        self.rsyn[r].update(s for s in synonyms if s)
        if name and norm_name(name) != norm_name(self.rname[r]):
            self.rsyn[r].add(name)
        for k, v in (attrs or {}).items():
            self.rattrs[r].setdefault(k, v)
        self.rrare[r].update(rare)

    def has_key(self, key: str) -> bool:
        return key in self.by_key

    # ---- edges ---------------------------------------------------------------------------------------
    def add_edge(
        self,
        src: str,
        rel: str,
        dst: str,
        source: str,
        record: str = "",
        revision: str = "",
        field: str = "",
        confidence: float = 1.0,
        frequency: float = math.nan,
        evidence: str = "",
    ) -> None:
        """One assertion ``src -rel-> dst`` between entity keys, with its provenance (``evidence``: the
        text it was read from, for text sources)."""
        if rel not in BY_NAME:
            raise KeyError(f"unknown relation {rel!r} (from source {source!r}, field {field!r})")
        self._single.append((src, rel, dst, source, record, revision, field, confidence, frequency, evidence))

    def add_edges(
        self,
        src,
        rel: str,
        dst,
        source: str,
        record,
        revision: str,
        field: str,
        confidence: float,
        frequency=None,
    ) -> None:
        """Many assertions of one relation at once (columns: sequences or pyarrow arrays of keys);
        ``record`` is a sequence or one string, ``frequency`` an array or None (unknown)."""
        if rel not in BY_NAME:
            raise KeyError(f"unknown relation {rel!r} (from source {source!r}, field {field!r})")
        if len(src) != len(dst):
            raise ValueError(f"{source}/{field}: {len(src)} sources but {len(dst)} targets")
        self.edge_chunks.append(
            {
                "src": src,
                "rel": rel,
                "dst": dst,
                "source": source,
                "record": record,
                "revision": revision,
                "field": field,
                "confidence": confidence,
                "frequency": frequency,
                "evidence": "",
            }
        )

    def _flush_single(self) -> None:
        if self._single:
            cols = list(zip(*self._single, strict=True))
            names = (
                "src",
                "rel",
                "dst",
                "source",
                "record",
                "revision",
                "field",
                "confidence",
                "frequency",
                "evidence",
            )
            self.edge_chunks.append(dict(zip(names, (list(c) for c in cols), strict=True)))
            self._single = []

    # ---- merging -------------------------------------------------------------------------------------
    def _union(self, a: int, b: int, kind: str) -> None:
        """Join two clusters unless both hold different ids of one namespace (two HP terms sharing a
        UMLS xref, two DOIDs mapped to one MeSH id stay apart: the ontologies say they differ)."""
        ra, rb = self.uf.find(a), self.uf.find(b)
        if ra == rb:
            return
        ka, kb = self.cluster_ids.get(ra, {}), self.cluster_ids.get(rb, {})
        if any(ka[p] != kb[p] for p in ka.keys() & kb.keys()):
            self.merges_refused[kind] += 1
            return
        self.uf.union(ra, rb)
        root = self.uf.find(ra)
        merged = {**ka, **kb}
        self.cluster_ids.pop(ra, None)
        self.cluster_ids.pop(rb, None)
        if merged:
            self.cluster_ids[root] = merged
        sa, sb = self.rsource[a], self.rsource[b]
        (self.merges if sa != sb else self.merges_within)[kind] += 1

    def _merge_all(self) -> None:
        n = len(self.rtype)
        first: dict[tuple[str, str], int] = {}
        for r in range(n):
            if self.rweak[r] is not None:
                continue
            g = group_of(self.rtype[r])
            for x in sorted(self.rxrefs[r]):
                prefix = x.partition(":")[0]
                if prefix not in MERGE_PREFIXES:
                    continue
                other = first.setdefault((g, x), r)
                if other != r:
                    self._union(other, r, f"xref:{prefix}")
        self._merge_names(n)

    def _merge_names(self, n: int) -> None:
        keys = name_keys_many([*self.rname, *(s for syn in self.rsyn for s in syn)])
        primary: dict[tuple[str, str], int] = {}
        synonym: dict[tuple[str, str], int] = {}
        for r in range(n):
            if self.rweak[r] is None:
                g = group_of(self.rtype[r])
                for k in keys[self.rname[r]]:
                    other = primary.setdefault((g, k), r)
                    if other != r:
                        self._union(other, r, "name")
                for syn in self.rsyn[r]:
                    for k in keys[syn]:
                        synonym.setdefault((g, k), r)
        for gk, r in primary.items():
            other = synonym.get(gk)
            if other is not None:
                self._union(other, r, "synonym")
        for r in range(n):
            weak = self.rweak[r]
            if weak is None:
                continue
            for t in weak:
                hit = next(
                    (
                        d[(group_of(t), k)]
                        for k in keys[self.rname[r]]
                        for d in (primary, synonym)
                        if (group_of(t), k) in d
                    ),
                    None,
                )
                if hit is not None and group_of(self.rtype[hit]) == group_of(t):
                    self._union(hit, r, "weak")
                    break

    # ---- output --------------------------------------------------------------------------------------
    def finalize(self) -> tuple[object, object, dict]:
        """Merge, assign stable ids, and return (nodes table, edges table, info) ready for ``store.save``."""
        from fleming.kg.tables import edges_table, nodes_table

        self._merge_all()
        n = len(self.rtype)
        roots = np.fromiter((self.uf.find(r) for r in range(n)), dtype=np.int64, count=n)
        clusters: dict[int, list[int]] = defaultdict(list)
        for r, root in enumerate(roots.tolist()):
            clusters[root].append(r)
        rows = [self._entity_row(members) for members in clusters.values()]
        _dedupe_ids(rows)
        order = sorted(range(len(rows)), key=lambda i: rows[i]["id"])
        root_list = list(clusters)
        node_of_root = np.empty(n, dtype=np.int64)
        for new, old in enumerate(order):
            node_of_root[root_list[old]] = new
        rows = [rows[i] for i in order]
        node_of_record = node_of_root[roots]
        types = [r["type"] for r in rows]
        self._flush_single()
        edges = edges_table(self.edge_chunks, self.by_key, node_of_record, types, self.dropped)
        info = {
            "records": n,
            "entities": len(rows),
            "merges_cross_source": dict(self.merges.most_common()),
            "merges_within_source": dict(self.merges_within.most_common()),
            "merges_refused": dict(self.merges_refused.most_common()),
            "edges_dropped": dict(self.dropped.most_common()),
        }
        return nodes_table(rows), edges, info

    def _entity_row(self, members: list[int]) -> dict:
        """One merged entity. Its type comes from the first strong record; its name from the record
        whose key is the entity's id (DO's name for a DOID) when there is one, else the first."""
        if len(members) == 1:
            return self._single_row(members[0])
        lead = next((m for m in members if self.rweak[m] is None), members[0])
        etype, name = self.rtype[lead], self.rname[lead]
        xr = set().union(*(self.rxrefs[m] for m in members))
        best = stable_id(etype, xr, name)
        name = next((self.rname[m] for m in members if best in self.cluster_keys_of(m)), name)
        xrefs, syn, rare, sources, attrs = set(), set(), set(), set(), {}
        for m in members:
            xrefs |= self.rxrefs[m]
            syn |= self.rsyn[m]
            syn.add(self.rname[m])
            rare |= self.rrare[m]
            sources.add(self.rsource[m])
            for k, v in self.rattrs[m].items():
                if k == "_also":
                    sources |= v
                else:
                    attrs.setdefault(k, v)
        attrs["_also"] = sources
        return _single_row_impl(etype, name, xrefs, syn, rare, self.rsource[lead], attrs)

    def cluster_keys_of(self, r: int) -> set[str]:
        """The CURIE keys record ``r`` was registered under."""
        return self.rkeys[r]

    def _single_row(self, r: int) -> dict:
        return _single_row_impl(
            self.rtype[r],
            self.rname[r],
            self.rxrefs[r],
            self.rsyn[r],
            self.rrare[r],
            self.rsource[r],
            dict(self.rattrs[r]),
        )


def _single_row_impl(
    etype: str, name: str, xrefs: set[str], syn: set[str], rare: set[str], source: str, attrs: dict
) -> dict:
    sources = {source} | attrs.pop("_also", set()) if "_also" in attrs else {source}
    nkey, get = norm_name(name), _NORM.get
    return {
        "id": stable_id(etype, xrefs, name),
        "type": etype,
        "name": name,
        "synonyms": sorted(s for s in syn if (get(s) or norm_name(s)) != nkey) if syn else [],
        "xrefs": sorted(xrefs),
        "sources": sorted(sources),
        "rare": bool(rare),
        "rare_flags": "|".join(sorted(rare)),
        "attrs": json.dumps(attrs, sort_keys=True) if attrs else "",
    }


def _dedupe_ids(rows: list[dict]) -> None:
    """Two entities of different type groups can share a best xref (a MeSH id as disease and symptom):
    both then get ``type:xref`` ids, so the result does not depend on which came first."""
    seen: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        seen[r["id"]].append(i)
    for ids in seen.values():
        if len(ids) > 1:
            for i in ids:
                rows[i]["id"] = f"{rows[i]['type']}:{rows[i]['id']}"
    again = Counter(r["id"] for r in rows)
    for r in rows:
        if again[r["id"]] > 1:  # same type and same name key: disambiguate by xrefs
            r["id"] = f"{r['id']}#{'|'.join(r['xrefs']) or r['name']}"
