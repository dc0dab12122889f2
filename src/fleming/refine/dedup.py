"""Duplicates inside the training pool: exact copies and near copies (MinHash LSH), best provenance kept.

- Exact: the same normalised stem and the same set of options (option order does not count).
- Near: Jaccard similarity of word-n-gram shingles (stem + sorted options) at or above ``threshold``,
  found with ``datasketch.MinHashLSH`` and confirmed on the MinHash estimate. Pairs are joined transitively
  (union-find), as in text-dedup and datatrove, so a chain A~B~C keeps one item.
- The kept copy is the one with the best provenance: the earliest source in ``source_priority``
  (curated exam sets before derived sets before synthetic items), then the earliest in the input.
- Every dropped copy carries ``metadata.extra["duplicate_of"] = {"id", "source", "jaccard"}`` in the
  exclusion file; copies whose gold answer text differs from the kept copy's are counted as
  ``label_conflicts`` in the step's stats.

The paper only says the refinement removes malformed data; dedup inside the pool is our addition (the
public sets overlap, e.g. MedQA's 4- and 5-option forms and the MedMCQA copies).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from fleming.records import MCQ
from fleming.refine.text import MinHasher, TokenHasher, full_text, ngram_hashes, normalize
from fleming.steps import Step

# Best provenance first: human-written exam items, then derived or web sets, then synthetic items.
DEFAULT_SOURCE_PRIORITY = ["medqa", "medbullets", "medmcqa", "careqa", "mmlu_pro", "medxpertqa", "cmexam",
                           "jmed", "pubmedqa", "synthetic"]


@dataclass
class DedupConfig:
    threshold: float = field(default=0.8, metadata={
        "help": "estimated Jaccard of shingle sets at or above which items are near copies",
        "gt": 0, "le": 1})
    ngram: int = field(default=3, metadata={"help": "shingle size in words", "ge": 1})
    num_perm: int = field(default=128, metadata={"help": "MinHash permutations", "ge": 1})
    seed: int = field(default=1, metadata={"help": "MinHash seed"})
    source_priority: list[str] = field(default_factory=lambda: list(DEFAULT_SOURCE_PRIORITY), metadata={
        "help": "source-name prefixes, best first: a cluster keeps the item of the best source"})
    batch: int = field(default=20_000, metadata={"help": "records per shingling batch (bounds memory)",
                                                 "ge": 1})
    # datasketch picks bands to minimise weighted false-positive/false-negative area; candidates are
    # verified on the signatures, so false negatives cost more: (0.2, 0.8) finds 74% of pairs at J=0.8
    # and 93% at J=0.85 (balanced weights: 40% and 69%)
    lsh_weights: tuple[float, float] = field(default=(0.2, 0.8), metadata={
        "help": "datasketch's (false positive, false negative) weights for choosing LSH bands"})

    def __post_init__(self) -> None:
        fp, fn = self.lsh_weights
        if fp < 0 or fn < 0 or not math.isclose(fp + fn, 1.0):
            raise ValueError(f"lsh_weights: expected two weights >= 0 summing to 1, got {self.lsh_weights}")


def source_rank(source: str, priority: list[str]) -> int:
    """Position of the first priority entry that ``source`` starts with; unknown sources come last.

    >>> source_rank("synthetic-kg", ["medqa", "synthetic"])
    1
    """
    for i, p in enumerate(priority):
        if source == p or source.startswith(p):
            return i
    return len(priority)


def exact_key(r: MCQ) -> bytes:
    text = normalize(full_text(r, sort_options=True))
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


class UnionFind:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        p = self.parent
        while p[i] != i:
            p[i] = p[p[i]]
            i = p[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def signatures(records: list[MCQ], minhasher: MinHasher, ngram: int, batch: int,
               hasher: TokenHasher | None = None) -> np.ndarray:
    """MinHash signatures of stem + options word n-grams, one row per record."""
    hasher = hasher or TokenHasher()
    out = np.empty((len(records), minhasher.num_perm), dtype=np.uint32)
    for lo in range(0, len(records), batch):
        chunk = records[lo:lo + batch]
        flat, lengths = hasher.encode([full_text(r, sort_options=True) for r in chunk])
        shingles, counts = ngram_hashes(flat, lengths, ngram, short="whole")
        out[lo:lo + len(chunk)] = minhasher.signatures(shingles, counts)
    return out


def candidate_pairs(sig: np.ndarray, minhasher: MinHasher, threshold: float,
                    weights: tuple[float, float] = (0.5, 0.5)) -> Iterator[tuple[int, int]]:
    """Pairs of rows that share an LSH bucket (datasketch MinHashLSH at ``threshold``)."""
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=minhasher.num_perm, weights=tuple(weights))
    with lsh.insertion_session() as session:
        for i in range(len(sig)):
            session.insert(i, minhasher.lean(sig[i]), check_duplication=False)
    for table in lsh.hashtables:
        for bucket in table.keys():  # noqa: SIM118 - a datasketch storage, not a dict
            members = table.get(bucket)
            if len(members) > 1:
                m = sorted(members)
                yield from ((m[0], j) for j in m[1:])  # a star is enough for union-find
                if len(m) <= 8:  # small buckets: every pair, so one outlier cannot hide a match
                    yield from ((a, b) for k, a in enumerate(m[1:], 1) for b in m[k + 1:])


class Dedup(Step):
    """Drop exact and near duplicates inside the pool, keeping the copy with the best provenance."""

    name = "dedup"

    def __init__(self, config: DedupConfig | None = None, exclusion_path=None):
        super().__init__(exclusion_path)
        self.config = config or DedupConfig()
        self.clusters: list[dict] = []  # for the dedup report: kept id, dropped ids

    def clusters_of(self, records: list[MCQ]) -> tuple[UnionFind, np.ndarray]:
        cfg = self.config
        uf = UnionFind(len(records))
        first: dict[bytes, int] = {}
        for i, r in enumerate(records):
            k = exact_key(r)
            if k in first:
                uf.union(first[k], i)
            else:
                first[k] = i
        minhasher = MinHasher(cfg.num_perm, cfg.seed)
        sig = signatures(records, minhasher, cfg.ngram, cfg.batch)
        pairs = np.array(list(set(candidate_pairs(sig, minhasher, cfg.threshold, cfg.lsh_weights))),
                         dtype=np.int64)
        self.stat_update("lsh_candidate_pairs", len(pairs))
        if len(pairs):
            sim = (sig[pairs[:, 0]] == sig[pairs[:, 1]]).mean(axis=1)
            for a, b in pairs[sim >= cfg.threshold]:
                uf.union(int(a), int(b))
        return uf, sig

    def process(self, records: Iterable[MCQ]) -> Iterator[MCQ]:
        recs = list(records)
        uf, sig = self.clusters_of(recs)
        groups: dict[int, list[int]] = {}
        for i in range(len(recs)):
            groups.setdefault(uf.find(i), []).append(i)
        prio = self.config.source_priority
        dropped: dict[int, tuple[int, float]] = {}
        for members in groups.values():
            if len(members) == 1:
                continue
            keep = min(members, key=lambda i: (source_rank(recs[i].source, prio), i))
            others = [recs[i].id for i in members if i != keep]
            self.clusters.append({"kept": recs[keep].id, "dropped": others})
            for i in members:
                if i != keep:
                    dropped[i] = (keep, float((sig[i] == sig[keep]).mean()))
        for i, r in enumerate(recs):
            if i not in dropped:
                yield r
                continue
            keep, jac = dropped[i]
            kept = recs[keep]
            exact = exact_key(r) == exact_key(kept)
            if sorted(normalize(r.options[a]) for a in r.answer) != sorted(
                    normalize(kept.options[a]) for a in kept.answer):
                self.stat_update("label_conflicts")
            extra = {**r.metadata.extra, "duplicate_of": {"id": kept.id, "source": kept.source,
                                                          "jaccard": round(jac, 3)}}
            self.drop(r.model_copy(update={"metadata": r.metadata.model_copy(update={"extra": extra})}),
                      "exact_duplicate" if exact else "near_duplicate")
