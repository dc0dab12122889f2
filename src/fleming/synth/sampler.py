"""The synthesizer's index over a loaded ``fleming.kg.store.KG``: hop CSRs, is_a closure, name keys,
long-tail anchor weights and rarity per question type.

Built once per run (and shared by forked workers); every per-item step then touches only the
neighbourhood of the sampled entity. Anchor weights are ∝ (degree + 1) ** -alpha, times ``rare_boost``
for entities the KG flags as rare (Orphanet, DO rare slim, HPO). Rarity is recorded as the anchor's
degree percentile among the type's eligible anchors (ties share the mid rank) and its decile, 1 = the
rarest tenth, so that uniform sampling would put about 10% of items in each decile.
"""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass

import numpy as np

from fleming.kg.schema import FINDING_TYPES, TYPE_CODE
from fleming.kg.store import KG, closed_world
from fleming.synth.csr import (
    closed_feature_sets,
    hop_is_closed,
    inverse_name,
    isa_closure,
    keep_rows,
    node_column,
    reachable,
    sampled_edges,
    stack_hops,
    union_csr,
)
from fleming.synth.evidence import RICH_FREQ_SHARE, RICH_MIN, SPECIFIC
from fleming.synth.findings import finding_masks
from fleming.synth.names import name_keys, root_keys, same_disease_keys, word_keys
from fleming.synth.templates import QuestionType, SynthConfig

GraphArrays = namedtuple("GraphArrays", "type_codes group freq aptr aidx dptr didx kptr kidx "
                                        "hptr hidx heid hoff rptr ridx roff closed cslot cptr cidx "
                                        "nptr nidx rich generic minage system wptr widx sptr sidx sexed rdeg "
                                        "cworld histo")
TypeArrays = namedtuple("TypeArrays", "anchors cum fh chain neg masked kmin kmax m n_distr min_distr "
                                      "max_attempts max_sibs max_consistent max_visit anchor_type "
                                      "answer_type default_freq rev_pure mode min_obs_freq max_genes")
# How a type's distractors are ruled out (``fleming.synth.evidence``): a diagnosis's sibling diseases;
# a masked path's options (genes, diseases: catalogue answers) through every anchor reaching them; an
# additional finding through the key's own profile; a named anchor's curated negatives only.
MODE_DIAGNOSIS, MODE_PATH, MODE_FINDING, MODE_CURATED = 0, 1, 2, 3
CATALOGUE_ANSWERS = ("gene", "disease")     # a disease entry lists its genes: absence there is evidence
LETHAL_ANCHOR = (r"\b(stillbirth|neonatal death|perinatal death|death in infancy|death in early infancy|"
                 r"fetal death|lethal|anencephaly|acrania|exencephaly|iniencephaly)\b")
# Diseases fatal before or around birth by their own name (HPO gives Meckel syndrome no death annotation;
# audits found 2-year-olds with it in rounds 3, 6 and 7): never the patient's disease.
LETHAL_NAME = r"\b(lethal|meckel syndrome|meckel like|meckel gruber|fetal akinesia|hydrops fetalis)\b"


@dataclass
class TypePlan:
    """One supported question type: its kernel arrays and its anchors' rarity."""

    qt: QuestionType
    arrays: TypeArrays
    degree: np.ndarray        # total degree of each eligible anchor
    percentile: np.ndarray    # degree percentile among eligible anchors (0..100)
    decile: np.ndarray        # 1 = rarest tenth .. 10


def rarity(deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mid-rank degree percentile (0..100) and decile (1 = lowest-degree tenth)."""
    if len(deg) == 0:
        return np.zeros(0), np.zeros(0, dtype=np.int8)
    s = np.sort(deg)
    below = np.searchsorted(s, deg, side="left")
    equal = np.searchsorted(s, deg, side="right") - below
    pct = 100.0 * (below + 0.5 * equal) / len(deg)
    dec = np.clip((pct // 10).astype(np.int64) + 1, 1, 10).astype(np.int8)
    return pct, dec


class SynthIndex:
    """Everything the kernel needs for ``cfg``'s question types on ``kg`` (see the module docstring).

    ``plans`` holds the supported types; ``unsupported`` maps the others to the reason (e.g. the KG has
    no ``treats`` edges).
    """

    def __init__(self, kg: KG, cfg: SynthConfig):
        self.kg, self.cfg = kg, cfg
        self.unsupported: dict[str, str] = {}
        self._hop_ids: dict[tuple[str, ...], int] = {}
        self._holder_counts: dict[int, np.ndarray] = {}
        self._fwd: list = []
        self._rev: list = []
        self.sampled = sampled_edges(kg)
        self.closed_world = closed_world(kg.path)     # a closed-world slice: absence is evidence
        wanted = [qt for qt in cfg.question_types if qt.weight > 0 and self._has_edges(qt)
                  and self._mode(qt) is not None]
        hops = {qt.name: (self._hop(qt.features),
                          [self._hop(h, qt.answer if i == len(qt.chain) - 1 else None)
                           for i, h in enumerate(qt.chain)],
                          self._hop(qt.negatives) if qt.negatives else -1) for qt in wanted}
        self.degree = kg.degree()
        aptr, aidx, dptr, didx = isa_closure(kg)
        generic, minage, sexed, histo = finding_masks(kg.names, kg.type_codes, np.diff(aptr), np.diff(dptr),
                                                      [TYPE_CODE[t] for t in FINDING_TYPES],
                                                      TYPE_CODE["drug_class"])
        self._generic_findings = generic
        self._no_anchor = generic | self._lethal()   # no traits ('..., susceptibility to'), no disease
        #                                              fatal around birth (no patient brought for evaluation)
        kptr, kidx = name_keys(kg.n_nodes, kg.names, node_column(kg, "synonyms"))
        kptr, kidx = same_disease_keys(kg, kptr, kidx)
        self.plans: dict[str, TypePlan] = {}
        for qt in wanted:
            plan = self._plan(qt, *hops[qt.name])
            if plan is None:
                self.unsupported[qt.name] = "no eligible anchor (too few features or no path to an answer)"
            else:
                self.plans[qt.name] = plan
        self.max_feature_degree = max([int(np.diff(p[0]).max(initial=0)) for p in self._fwd] or [0])
        fhs = sorted({p.arrays.fh for p in self.plans.values()})
        cslot, cptr, cidx = closed_feature_sets(self._fwd, fhs, kg.n_nodes, aptr, aidx)
        rich, rdeg = self._rich(fhs), self._anchor_degree(fhs)
        hptr, hidx, heid, hoff = stack_hops(self._fwd, kg.n_nodes, kg.n_edges)
        rptr, ridx, _, roff = stack_hops(self._rev, kg.n_nodes, kg.n_edges)
        del self._fwd, self._rev                  # stacked copies from here on
        closed = np.array([hop_is_closed(k[0]) for k in self._hop_ids] or [False], dtype=np.bool_)
        group = np.where(np.isin(kg.type_codes, [TYPE_CODE[t] for t in FINDING_TYPES]), -1, kg.type_codes)
        lacks = kg.csr("lacks_finding")
        words = self._word_text()
        self.graph = GraphArrays(kg.type_codes, group.astype(np.int8), kg.frequency, aptr, aidx, dptr, didx,
                                 kptr, kidx, hptr, hidx, heid, hoff, rptr, ridx, roff, closed,
                                 cslot, cptr, cidx, lacks.indptr.astype(np.int64), lacks.indices,
                                 rich, generic, minage, self._systems(aptr, dptr),
                                 *word_keys(kg.n_nodes, words), *root_keys(kg.n_nodes, words), sexed, rdeg,
                                 np.array([self.closed_world], dtype=np.bool_), histo)

    def _observable(self, fh: int, k: int) -> np.ndarray:
        """Anchors that can pass the stem checks at all (``masking``, ``kernel._specific``): >= k features
        not generic and not known to be atypical, two of them held by <= SPECIFIC anchors. Without this
        the long-tail weight would go mostly to thin profiles whose every attempt fails, and the items
        would come from the common anchors after all (the rarest 30% gave 28.5% of 10,000 items)."""
        ptr, idx, eid = self._fwd[fh]
        freq = self.kg.frequency[eid]
        usable = ~self._generic_findings[idx] & ~(freq < self.cfg.min_observed_frequency)
        rows = np.repeat(np.arange(len(ptr) - 1), np.diff(ptr))
        holders = self._holders(fh)
        n_use = np.bincount(rows, weights=usable, minlength=len(ptr) - 1)
        n_spec = np.bincount(rows, weights=usable & (holders[idx] <= SPECIFIC), minlength=len(ptr) - 1)
        return (n_use >= k) & (n_spec >= 2)

    def _word_text(self):
        """Names, and for findings their synonyms too ('Athyreosis' / 'Thyroid agenesis'): a key named with
        a stem finding's synonym restates it (``names.word_keys``, ``prims.shares_word``)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        kg = self.kg
        names = kg.names.cast(pa.string())
        syn = pc.fill_null(pc.binary_join(node_column(kg, "synonyms"), " "), "")
        finding = pa.array(np.isin(kg.type_codes, [TYPE_CODE[t] for t in FINDING_TYPES]))
        return pc.if_else(finding, pc.binary_join_element_wise(names, syn, " "), names)

    def _lethal(self) -> np.ndarray:
        """Nodes with a finding that ends life before or around birth ('Stillbirth', 'Neonatal death',
        'Death in infancy', anencephaly), or diseases so named (``LETHAL_NAME``): a stem about a patient
        brought for evaluation cannot be them."""
        import pyarrow.compute as pc

        from fleming.synth.names import normalize

        kg = self.kg
        norm = normalize(kg.names.cast("string"))
        hit = pc.match_substring_regex(norm, LETHAL_ANCHOR).to_numpy(zero_copy_only=False)
        lethal = np.asarray(hit, dtype=bool) & np.isin(kg.type_codes, [TYPE_CODE[t] for t in FINDING_TYPES])
        named = pc.match_substring_regex(norm, LETHAL_NAME).to_numpy(zero_copy_only=False)
        out = np.asarray(named, dtype=bool) & (kg.type_codes == TYPE_CODE["disease"])
        for rel in ("has_symptom", "has_finding"):
            c = kg.csr(rel)
            rows = np.repeat(np.arange(len(c.indptr) - 1), np.diff(c.indptr))
            out[rows[lethal[c.indices]]] = True
        return out

    def _anchor_degree(self, fhs: list[int]) -> np.ndarray:
        """Per finding: how many anchors hold it directly over the feature hops (``kernel``: a stem needs
        one finding held by at most SPECIFIC of them)."""
        deg = np.zeros(self.kg.n_nodes, dtype=np.int64)
        for h in fhs:
            deg += self._holders(h)
        return deg

    def _holders(self, h: int) -> np.ndarray:
        """Per node: how many nodes hold it over hop h (counted once per hop, kept)."""
        if h not in self._holder_counts:
            self._holder_counts[h] = np.bincount(self._fwd[h][1], minlength=self.kg.n_nodes)
        return self._holder_counts[h]

    def _rich(self, fhs: list[int]) -> np.ndarray:
        """Rich profiles (``evidence``): >= RICH_MIN findings over a feature hop, >= RICH_FREQ_SHARE of
        them with a frequency."""
        rich = np.zeros(self.kg.n_nodes, dtype=np.bool_)
        for h in fhs:
            ptr, _, eid = self._fwd[h]
            n = np.diff(ptr)
            rows = np.repeat(np.arange(len(n)), n)
            known = np.bincount(rows, weights=~np.isnan(self.kg.frequency[eid]), minlength=len(n))
            rich |= (n >= RICH_MIN) & (known >= RICH_FREQ_SHARE * np.maximum(n, 1))
        return rich

    def _systems(self, aptr: np.ndarray, dptr: np.ndarray) -> np.ndarray:
        """Organ systems: findings with is_a children right below the root of their ontology (HPO's
        'Abnormality of the nervous system', ...), for ``evidence.same_system``."""
        finding = np.isin(self.kg.type_codes, [TYPE_CODE[t] for t in FINDING_TYPES])
        return finding & (np.diff(aptr) == 1) & (np.diff(dptr) > 0)

    def _mode(self, qt: QuestionType) -> int | None:
        """How the type's distractors are ruled out (MODE_*), or None (then unsupported, with the reason):
        a type whose options could only be ruled out by a missing edge produces nothing."""
        if qt.masked and not qt.chain:
            return MODE_DIAGNOSIS
        if qt.masked and len(qt.chain) == 1 and set(qt.chain[0]) == set(qt.features):
            if self.cfg.open_findings or self.closed_world:
                return MODE_FINDING
            self.unsupported[qt.name] = (
                "an additional finding's distractors are ruled out by their absence from rich profiles, "
                "which blind audits accepted in 21 of 36 items (the key is a finding expected in a disease "
                "the stem often does not identify); off on an open-world KG unless open_findings is set")
            return None
        if qt.masked and qt.answer in CATALOGUE_ANSWERS:
            return MODE_PATH
        if not qt.masked and qt.negatives:
            if self.cfg.label_types:
                return MODE_CURATED
            self.unsupported[qt.name] = (
                "keyed from drug labels (PharmacotherapyDB / Hetionet indications), which a blind audit "
                "found to differ from practice in 5 of 7 items; off unless label_types is set")
            return None
        self.unsupported[qt.name] = (
            f"no loaded source states what is NOT reached along {' -> '.join('|'.join(h) for h in qt.chain)}"
            " (no asserted negatives): its distractors could only be ruled out by a missing edge, which an "
            "incomplete KG does not prove; off until such a source is loaded")
        return None

    def _has_edges(self, qt: QuestionType) -> bool:
        groups = [("features", qt.features)] + [(f"chain[{i}]", h) for i, h in enumerate(qt.chain)]
        empty = [f"{what} ({'|'.join(rels)})" for what, rels in groups
                 if all(self.kg.csr(r).indices.size == 0 for r in rels)]
        if empty:
            self.unsupported[qt.name] = f"the KG has no edges for {', '.join(empty)}"
            return False
        only = [f"{what} ({'|'.join(rels)})" for what, rels in groups
                if sum(self._edges(r, True) for r in rels) > sum(self._edges(r, False) for r in rels)]
        if only:
            self.unsupported[qt.name] = (
                f"{', '.join(only)} loaded mostly from a sample (e.g. Hetionet's 5,000-edge samples): a "
                "sample is never complete, so a missing edge rules nothing out; off until a full source is "
                "loaded")
        return not only

    def _edges(self, rel: str, sampled: bool) -> int:
        """Edges of a relation (or inverse name) that come (or do not come) from a sample."""
        eids = self.kg.csr(rel).eids
        return int((self.sampled[eids] == sampled).sum()) if len(eids) else 0

    def _hop(self, rels: tuple[str, ...], target: str | None = None) -> int:
        """Hop id of a union of relations; with ``target`` only edges into that entity type (the last hop
        of a type whose answers have one type: walks skip what could never be an option). Sampled edges
        stay: what they state is true and may make an option consistent; only their absences mean
        nothing, so a type whose hop has nothing but sampled edges is off (``_has_edges``)."""
        key = (tuple(sorted(rels)), target)
        if key not in self._hop_ids:
            self._hop_ids[key] = len(self._fwd)
            fwd = union_csr(self.kg, key[0])
            rev = union_csr(self.kg, tuple(inverse_name(r) for r in key[0]))
            if target is not None:
                code = TYPE_CODE[target]
                fwd = keep_rows(fwd, self.kg.type_codes[fwd[1]] == code)
                rows = np.repeat(self.kg.type_codes == code, np.diff(rev[0]))
                rev = keep_rows(rev, rows)
            self._fwd.append(fwd)
            self._rev.append(rev)
        return self._hop_ids[key]

    def _plan(self, qt: QuestionType, fh: int, chain: list[int], neg: int) -> TypePlan | None:
        kg, cfg = self.kg, self.cfg
        ok = (kg.type_codes == TYPE_CODE[qt.anchor]) & ~self._no_anchor
        fdeg = np.diff(self._fwd[fh][0])
        if qt.masked:
            ok &= self._observable(fh, qt.observe[0])
        else:
            ndeg = np.diff(self._fwd[neg][0]) if neg >= 0 else 0
            ok &= (fdeg >= 1) | (ndeg >= 1)
            if self._mode(qt) == MODE_CURATED:        # options come from curated negatives only
                ok &= ndeg >= cfg.min_options - 1
        if chain:
            end = kg.type_codes == TYPE_CODE[qt.answer] if qt.answer else np.ones(kg.n_nodes, dtype=bool)
            need = 2 if qt.answer in (None, qt.anchor) else 1
            if qt.masked and chain[0] == fh:           # answers among the features: not the observed ones
                need = qt.observe[1] + 1
            ok &= reachable(self._fwd, chain, end, need)
        anchors = np.flatnonzero(ok).astype(np.int32)
        if len(anchors) == 0:
            return None
        deg = self.degree[anchors]
        w = (deg + 1.0) ** -cfg.alpha * np.where(kg.rare[anchors], cfg.rare_boost, 1.0)
        pct, dec = rarity(deg)
        holders = self._rev[fh][1]                       # every feature holder has the anchor's type?
        pure = bool((kg.type_codes[holders] == TYPE_CODE[qt.anchor]).all())
        arrays = TypeArrays(anchors, np.cumsum(w), fh, np.array(chain, dtype=np.int64), neg,
                            int(qt.masked), qt.observe[0], qt.observe[1], qt.min_shared,
                            cfg.n_options - 1, cfg.min_options - 1, cfg.max_attempts, cfg.max_siblings,
                            cfg.max_consistent, cfg.max_visit, TYPE_CODE[qt.anchor],
                            TYPE_CODE.get(qt.answer or "", -1),
                            cfg.default_frequency, int(pure), self._mode(qt),
                            cfg.min_observed_frequency, cfg.max_genes)
        return TypePlan(qt, arrays, deg, pct, dec)

    def uniform_deciles(self, name: str) -> dict[int, float]:
        """Share of each rarity decile under uniform sampling of the type's eligible anchors."""
        dec = self.plans[name].decile
        return {d: float((dec == d).mean()) for d in range(1, 11)}
