"""Decontamination: no evaluation item, or near copy of one, enters training.

A training item is dropped when
- its (source, split) is the split of an evaluation benchmark (``eval_split``): evaluation sets never
  enter training, whatever form they come in;
- its stem (context + question) shares word 13-grams with an evaluation stem (``ngram_overlap``), as in
  GPT-3 and NeMo Curator, covering at least ``min_ngram_overlap`` of the shorter stem's 13-grams; or
- its question + options reach a rapidfuzz ratio >= 95 with an evaluation item's (``fuzzy_match``), as
  in m1. Options are sorted before comparing, so a copy with shuffled options still matches.

Candidates are never found by an all-pairs scan: 13-grams are looked up in a sorted hash array
(``np.searchsorted``), and fuzzy candidates come from LSH banding of MinHash signatures over word sets
(stop words out; datasketch's permutations and its optimal bands for Jaccard >= ``candidate_threshold``;
an edit that keeps the ratio at 95 keeps word-set Jaccard above about 0.5), banded and looked up with
numpy in bulk (datasketch's per-item ``query`` cost 8 s per 45k items), then confirmed with
``rapidfuzz`` (``process.cpdist`` on the candidate pairs, after a length bound).

Departures from "any shared 13-gram": on MedQA dev, MedMCQA and CMExam against MedQA test, CareQA,
MMLU-Pro and MedXpertQA, a single shared 13-gram flagged 379 of 12,266 items (3%), nearly all unrelated
vignettes sharing a stock phrase ("comes to the emergency department because of a 4-week history of
fatigue and headache"), so
- a 13-gram in more than ``max_ngram_df`` evaluation items is boilerplate and is not indexed
  ("which of the following is the most likely cause of this patient's symptoms" is 13 words), and
- the shared 13-grams must cover ``min_ngram_overlap`` (0.3) of the shorter stem's 13-grams. Copies
  score 0.9-1.0 and MedXpertQA's rewrites of MedQA cases 0.2-0.5; unrelated pairs stay under 0.2
  (median 0.016). Stems shorter than 13 words are left to the fuzzy rule.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fleming.records import MCQ
from fleming.refine import batches
from fleming.refine.text import (
    MinHasher,
    TokenHasher,
    band_keys,
    concat_ragged,
    expand_ranges,
    ngram_hashes,
    stem_text,
)
from fleming.steps import Step

# The nine benchmarks of the paper's Table 3 (fleming.eval.benchmarks), by loader name.
DEFAULT_BENCHMARKS = ["careqa", "jmed", "medbullets", "medmcqa", "medqa", "medxpertqa", "pubmedqa",
                      "mmlu_pro_biology", "mmlu_pro_health"]
_STOP_WORDS = ("a an the of in on at to for from by with and or not no is are was were be been this that "
               "which what who whom following most likely each these those it its as")
_STOP = frozenset(_STOP_WORDS.split())


@dataclass
class DecontamConfig:
    benchmarks: list[str] = field(default_factory=lambda: list(DEFAULT_BENCHMARKS), metadata={
        "help": "registry loader names of the evaluation sets to decontaminate against"})
    ngram: int = field(default=13, metadata={"help": "n-gram size (words) of the overlap rule", "ge": 1})
    fuzzy_ratio: float = field(default=95.0, metadata={
        "help": "rapidfuzz ratio on question + sorted options at or above which an item is a copy",
        "gt": 0, "le": 100})
    candidate_threshold: float = field(default=0.4, metadata={
        "help": "LSH Jaccard on word sets for fuzzy candidates", "gt": 0, "le": 1})
    num_perm: int = field(default=128, metadata={"help": "MinHash permutations", "ge": 1})
    max_ngram_df: int = field(default=5, metadata={
        "help": "n-grams in more evaluation items than this are boilerplate", "ge": 1})
    min_ngram_overlap: float = field(default=0.3, metadata={
        "help": "shared n-grams / n-grams of the shorter stem at or above which an item is contaminated",
        "gt": 0, "le": 1})
    batch: int = field(default=20_000, metadata={"help": "records per batch (bounds memory)", "ge": 1})


def fuzzy_text(r: MCQ) -> str:
    """Question + sorted options, through rapidfuzz's default processor, whitespace collapsed."""
    from rapidfuzz import utils

    opts = sorted(r.options.values(), key=str.casefold)
    return " ".join(utils.default_process(r.question + "\n" + "\n".join(opts)).split())


@dataclass
class Hit:
    benchmark: str
    eval_id: str
    rule: str  # eval_split | ngram_overlap | fuzzy_match
    score: float  # 13-gram cover (0-1), or the fuzzy ratio (0-100)


@dataclass
class Keys:
    """What the two rules look at, for a batch of records."""

    grams: np.ndarray  # stem 13-gram hashes, grouped by record
    n_grams: np.ndarray  # 13-grams per record
    bands: np.ndarray  # (n, b) LSH band keys of the word set (stem + options, stop words out)
    has_words: np.ndarray  # records with at least one word (others are not banded)


def best_per_row(rows: np.ndarray, cols: np.ndarray, score: np.ndarray, n: int, threshold: float
                 ) -> list[tuple[int, float] | None]:
    """For each row 0..n-1: (col, score) of its best pair at or above ``threshold``, else None."""
    out: list[tuple[int, float] | None] = [None] * n
    ok = score >= threshold
    rows, cols, score = rows[ok], cols[ok], score[ok]
    order = np.lexsort((-score, rows))
    first = np.ones(len(order), dtype=bool)
    first[1:] = rows[order][1:] != rows[order][:-1]
    for k in order[first]:
        out[int(rows[k])] = (int(cols[k]), float(score[k]))
    return out


class EvalIndex:
    """13-gram and fuzzy-candidate (LSH banding) indexes over every evaluation item."""

    def __init__(self, eval_sets: dict[str, list[MCQ]], config: DecontamConfig):
        from datasketch.lsh import _optimal_param

        self.config = config
        self.items: list[MCQ] = []
        self.bench: list[str] = []
        for name, recs in eval_sets.items():
            self.items.extend(recs)
            self.bench.extend([name] * len(recs))
        self.splits = {(r.source, r.split): b for r, b in zip(self.items, self.bench, strict=True)}
        self.sizes = Counter(self.bench)
        self.hasher = TokenHasher()
        self.stop = self.hasher.encode([" ".join(sorted(_STOP))])[0]
        self.minhasher = MinHasher(config.num_perm, seed=7)
        self.n_bands, self.n_rows = _optimal_param(config.candidate_threshold, config.num_perm, 0.5, 0.5)
        keys = self.keys(self.items)
        self._index_ngrams(keys)
        self.eval_grams = keys.n_grams
        banded = np.flatnonzero(keys.has_words)
        self.band_order = [banded[np.argsort(keys.bands[banded, j], kind="stable")]
                           for j in range(self.n_bands)]
        self.band_sorted = [keys.bands[o, j] for j, o in enumerate(self.band_order)]
        self.fuzzy = [fuzzy_text(r) for r in self.items]
        self.fuzzy_len = np.array([len(t) for t in self.fuzzy])

    def keys(self, records: list[MCQ]) -> Keys:
        fs, ls = self.hasher.encode([stem_text(r) for r in records])
        fo, lo = self.hasher.encode(["\n".join(r.options.values()) for r in records])
        grams, n_grams = ngram_hashes(fs, ls, self.config.ngram)
        words, lengths = concat_ragged(fs, ls, fo, lo)
        keep = ~np.isin(words, self.stop)
        owner = np.repeat(np.arange(len(records)), lengths)
        counts = np.bincount(owner[keep], minlength=len(records))
        sig = self.minhasher.signatures(words[keep], counts)
        return Keys(grams, n_grams, band_keys(sig, self.n_bands, self.n_rows), counts > 0)

    def _index_ngrams(self, keys: Keys) -> None:
        owner = np.repeat(np.arange(len(self.items)), keys.n_grams)
        order = np.lexsort((owner, keys.grams))
        grams, owner = keys.grams[order], owner[order]
        distinct = np.ones(len(grams), dtype=bool)  # each (gram, item) once
        distinct[1:] = (grams[1:] != grams[:-1]) | (owner[1:] != owner[:-1])
        grams, owner = grams[distinct], owner[distinct]
        uniq, start, df = np.unique(grams, return_index=True, return_counts=True)
        keep = df <= self.config.max_ngram_df
        self.n_boilerplate = int((~keep).sum())
        self.gram_keys, self.gram_start, self.gram_df = uniq[keep], start[keep], df[keep]
        self.gram_owner = owner  # items of gram_keys[k]: gram_owner[gram_start[k]:][:gram_df[k]]

    def ngram_hits(self, keys: Keys, n: int) -> list[tuple[int, float] | None]:
        """Per record: the evaluation item whose stem its 13-grams cover most (shared 13-grams / 13-grams
        of the shorter stem), if the cover reaches ``min_ngram_overlap``."""
        owner = np.repeat(np.arange(n), keys.n_grams)
        pos = np.searchsorted(self.gram_keys, keys.grams)
        pos[pos == len(self.gram_keys)] = 0
        found = self.gram_keys[pos] == keys.grams if len(self.gram_keys) else np.zeros(len(pos), bool)
        rec, k = owner[found], pos[found]
        rec = np.repeat(rec, self.gram_df[k])
        item = self.gram_owner[expand_ranges(self.gram_start[k], self.gram_df[k])]
        pair, shared = np.unique(rec * len(self.items) + item, return_counts=True)
        rec, item = pair // len(self.items), pair % len(self.items)
        cover = shared / np.maximum(np.minimum(keys.n_grams[rec], self.eval_grams[item]), 1)
        return best_per_row(rec, item, cover, n, self.config.min_ngram_overlap)

    def candidates(self, keys: Keys) -> tuple[np.ndarray, np.ndarray]:
        """(record, evaluation item) pairs that share an LSH band."""
        recs, items = [], []
        banded = np.flatnonzero(keys.has_words)
        for j in range(self.n_bands):
            q = keys.bands[banded, j]
            lo = np.searchsorted(self.band_sorted[j], q, "left")
            hi = np.searchsorted(self.band_sorted[j], q, "right")
            hit = hi > lo
            recs.append(np.repeat(banded[hit], (hi - lo)[hit]))
            items.append(self.band_order[j][expand_ranges(lo[hit], (hi - lo)[hit])])
        pair = np.unique(np.concatenate(recs) * len(self.items) + np.concatenate(items))
        return pair // len(self.items), pair % len(self.items)

    def fuzzy_hits(self, records: list[MCQ], keys: Keys) -> list[tuple[int, float] | None]:
        """Per record: the best evaluation item at rapidfuzz ratio >= ``fuzzy_ratio``, among candidates."""
        from rapidfuzz import fuzz, process

        rec, item = self.candidates(keys)
        texts = {int(i): fuzzy_text(records[i]) for i in np.unique(rec)}
        tlen = np.array([len(texts[int(i)]) for i in rec], dtype=float)
        elen = self.fuzzy_len[item]
        close = 2 * np.minimum(tlen, elen) / np.maximum(tlen + elen, 1) * 100 >= self.config.fuzzy_ratio
        rec, item = rec[close], item[close]  # a ratio can never exceed this length bound
        scores = process.cpdist([texts[int(i)] for i in rec], [self.fuzzy[int(i)] for i in item],
                                scorer=fuzz.ratio, score_cutoff=self.config.fuzzy_ratio, dtype=np.float32)
        return best_per_row(rec, item, np.asarray(scores, dtype=float), len(records), self.config.fuzzy_ratio)

    def check(self, records: list[MCQ]) -> list[Hit | None]:
        keys = self.keys(records)
        grams = self.ngram_hits(keys, len(records))
        fuzzy = self.fuzzy_hits(records, keys)
        hits: list[Hit | None] = []
        for r, g, f in zip(records, grams, fuzzy, strict=True):
            if (r.source, r.split) in self.splits:
                hits.append(Hit(self.splits[(r.source, r.split)], "", "eval_split", 1.0))
            elif g:
                hits.append(Hit(self.bench[g[0]], self.items[g[0]].id, "ngram_overlap", round(g[1], 3)))
            elif f:
                hits.append(Hit(self.bench[f[0]], self.items[f[0]].id, "fuzzy_match", round(f[1], 2)))
            else:
                hits.append(None)
        return hits


class Decontaminate(Step):
    """Drop training items that are, or nearly copy, an evaluation item; builds a per-benchmark report."""

    name = "decontam"

    def __init__(self, index: EvalIndex, exclusion_path=None, max_examples: int = 20):
        super().__init__(exclusion_path)
        self.index = index
        self.max_examples = max_examples
        self._by_bench: dict[str, Counter] = defaultdict(Counter)
        self._eval_hit: dict[str, set[str]] = defaultdict(set)
        self._examples: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def _record_hit(self, r: MCQ, hit: Hit) -> MCQ:
        self._by_bench[hit.benchmark][hit.rule] += 1
        if hit.eval_id:
            self._eval_hit[hit.benchmark].add(hit.eval_id)
        info = {"benchmark": hit.benchmark, "eval_id": hit.eval_id, "rule": hit.rule, "score": hit.score}
        if hit.rule != "eval_split" and len(self._examples[hit.benchmark]) < self.max_examples:
            self._examples[hit.benchmark].append({"train_id": r.id, "source": r.source, **info})
        extra = {**r.metadata.extra, "contamination": info}
        return r.model_copy(update={"metadata": r.metadata.model_copy(update={"extra": extra})})

    def process(self, records: Iterable[MCQ]) -> Iterator[MCQ]:
        for batch in batches(records, self.index.config.batch):
            yield from self._flush(batch)

    def _flush(self, batch: list[MCQ]) -> Iterator[MCQ]:
        for r, hit in zip(batch, self.index.check(batch), strict=True):
            if hit is None:
                yield r
            else:
                self.drop(self._record_hit(r, hit), hit.rule)

    def report(self) -> dict[str, Any]:
        """Per benchmark: its size, training items removed by rule, evaluation items hit, examples."""
        benches = {}
        for name, size in self.index.sizes.items():
            rules = self._by_bench.get(name, Counter())
            benches[name] = {"eval_items": size, "train_items_removed": sum(rules.values()),
                             "by_rule": dict(rules), "eval_items_matched": len(self._eval_hit.get(name, ())),
                             "examples": self._examples.get(name, [])}
        cfg = self.index.config
        return {"rules": {"ngram": cfg.ngram, "fuzzy_ratio": cfg.fuzzy_ratio,
                          "min_ngram_overlap": cfg.min_ngram_overlap, "max_ngram_df": cfg.max_ngram_df,
                          "candidate_threshold": cfg.candidate_threshold,
                          "boilerplate_ngrams_skipped": self.index.n_boilerplate},
                "checked": self.stats.n_in, "removed": self.stats.n_dropped, "benchmarks": benches}
