"""Synthesis fixtures: the default KG (built once), a small hand-made KG, and ``ParquetCheck``, an
independent re-check of items computed from the KG's Parquet files with plain Python sets (no store,
no CSR, no synthesizer code)."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from fleming.kg.schema import BY_NAME, FINDING_TYPES, INVERSE

ROOT = Path(__file__).resolve().parents[2]


class ParquetCheck:
    """Facts straight from nodes.parquet / edges.parquet.

    Semantics (the definition the synthesizer must satisfy): a node *has* feature f when it has an edge
    of the question's feature relations to f or to an is_a descendant of f; the anchors consistent with
    a stem are those of the anchor type having every observed feature (masked) or the named anchor;
    an option is consistent when a consistent anchor reaches it along the question's hops, where a hop
    into findings also reaches the is_a ancestors of what it reaches.

    Open world (written from the issue's definitions, not from ``fleming.synth.evidence``): the key has
    no annotation that is a stated negative, its ancestor or descendant; every distractor's recorded
    kind holds: ``asserted_negative`` (a lacks_finding edge to an observed finding or its ancestor, or
    a curated non-indication of the named anchor), ``pertinent_negative`` (a stated negative, or a
    descendant of it, annotated at frequency >= 0.8), ``rich_absence`` (>= 20 annotated findings, half
    with a frequency, and a finding annotated on the key at >= 0.8 with nothing related to it, nor in
    its organ system: an ancestor directly below its ontology's root that has children). For a
    gene or allelic-disease option, every anchor reaching it must be ruled out (at most 8); for an
    additional finding, the key and every consistent anchor must lack it (asserted or rich absence).
    ``closed_world`` holds only when the KG's meta.json says the KG is a closed-world slice, and then
    when d has nothing that is an observed finding (or the additional finding), its ancestor or its
    descendant.

    Clinical validity (issue 10's audits): only ``asserted_negative`` rules out a near competitor (a
    disease having, closed over is_a, two or more observed findings or one held by <= 100 anchors); an
    additional-finding distractor is held by at most 150 anchors, related to no observed finding and in
    none of their organ systems, and the key finding is annotated at frequency >= 0.8; no observed
    finding is annotated on the key at a frequency below 0.3; two observed findings are held by at most
    100 anchors, one annotated on the key at >= 0.8 (or without a frequency); no two options, nor an
    option and an observed finding, share a content word of their names, nor an option and an observed
    finding the root of one (5 letters after a prefix: 'Hypersulfaturia' / 'sulfate'); no option or
    stated negative is sex-specific; a gene question's disease (and an allelic answer) has at most 2 genes.
    """

    def __init__(self, kg_dir: Path):
        nodes = pq.read_table(kg_dir / "nodes.parquet", columns=["id", "type", "attrs"]).to_pydict()
        self.freq: dict[tuple[int, int], float] = {}
        self.ids, self.types = nodes["id"], nodes["type"]
        self.attrs = nodes["attrs"]
        self.index = {x: i for i, x in enumerate(self.ids)}
        cols = ["src", "dst", "relation", "frequency"]
        e = pq.read_table(kg_dir / "edges.parquet", columns=cols).to_pydict()
        self.out: dict[str, dict[int, set[int]]] = defaultdict(lambda: defaultdict(set))
        self.inn: dict[str, dict[int, set[int]]] = defaultdict(lambda: defaultdict(set))
        for s, d, r, f in zip(e["src"], e["dst"], e["relation"], e["frequency"], strict=True):
            self.out[r][s].add(d)
            self.inn[r][d].add(s)
            if r in ("has_symptom", "has_finding") and f is not None and f == f:
                self.freq[(s, d)] = max(f, self.freq.get((s, d), 0.0))
        self._anc: dict[int, set[int]] = {}
        self._desc: dict[int, set[int]] = {}
        self._holders: dict = {}
        meta = kg_dir / "meta.json"
        self.closed = meta.is_file() and bool(json.loads(meta.read_text()).get("closed_world"))

    def _closure(self, x: int, adj: dict[int, set[int]], memo: dict[int, set[int]]) -> set[int]:
        if x not in memo:
            seen, stack = set(), [x]
            while stack:
                for p in adj.get(stack.pop(), ()):
                    if p not in seen:
                        seen.add(p)
                        stack.append(p)
            memo[x] = seen
        return memo[x]

    def ancestors(self, x: int) -> set[int]:
        return self._closure(x, self.out["is_a"], self._anc)

    def descendants(self, x: int) -> set[int]:
        return self._closure(x, self.inn["is_a"], self._desc)

    def step(self, x: int, rel: str) -> set[int]:
        """Neighbours over a relation name, inverse names walked backwards, symmetric both ways."""
        if rel in BY_NAME:
            res = set(self.out[rel].get(x, ()))
            if BY_NAME[rel].symmetric:
                res |= self.inn[rel].get(x, set())
            return res
        return set(self.inn[INVERSE[rel]].get(x, ()))

    def features(self, x: int, rels: list[str]) -> set[int]:
        direct = set().union(*(self.step(x, r) for r in rels))
        return direct.union(*(self.ancestors(f) for f in direct)) if direct else set()

    def consistent_anchors(self, item: dict) -> set[int]:
        extra = item["metadata"]["extra"]
        anchor = extra["anchor"]
        if not anchor["masked"]:
            return {self.index[anchor["id"]]}
        rels = tuple(extra["path"][0]["relation"].split("|"))
        sets = [self.holders(self.index[o["id"]], rels) for o in extra["observed"]]
        return {c for c in set.intersection(*sets) if self.types[c] == anchor["type"]}

    def holders(self, f: int, rels: tuple[str, ...]) -> set[int]:
        """Nodes having f or one of its is_a descendants over ``rels`` (memoized)."""
        key = (f, rels)
        if key not in self._holders:
            self._holders[key] = {s for d in {f} | self.descendants(f) for r in rels
                                  for s in self.inn[r].get(d, ())}
        return self._holders[key]

    def reached(self, starts: set[int], hops: list[str]) -> set[int]:
        cur = set(starts)
        for hop in hops:
            rels = hop.split("|")
            nxt = set().union(*(self.step(x, r) for x in cur for r in rels)) if cur else set()
            if all((BY_NAME[r].range if r in BY_NAME else BY_NAME[INVERSE[r]].domain) <= FINDING_TYPES
                   for r in rels):
                nxt = nxt.union(*(self.ancestors(x) for x in nxt)) if nxt else nxt
            cur = nxt
        return cur

    def problems(self, item: dict) -> list[str]:
        """Empty when the answer fits every observed fact, each distractor breaks at least one, and the
        open-world evidence recorded for each distractor holds (class docstring)."""
        extra = item["metadata"]["extra"]
        hops = item["metadata"]["provenance"]["template_path"].split(" -> ")
        chain = hops[2:] if hops[0] == "features" else hops[1:]
        cons = self.consistent_anchors(item)
        ok = cons if not chain else self.reached(cons, chain)
        ans = self.index[extra["answer"]["id"]]
        out = [] if ans in ok else [f"{item['id']}: answer {extra['answer']['id']} is not consistent"]
        for d in extra["distractors"]:
            if self.index[d["id"]] in ok:
                out.append(f"{item['id']}: distractor {d['id']} is consistent with every observed fact")
        pat = extra.get("patient")
        if pat and pat.get("onset"):
            onsets = json.loads(self.attrs[self.index[extra["anchor"]["id"]]] or "{}").get("onset", [])
            if pat["onset"] not in onsets:
                out.append(f"{item['id']}: onset {pat['onset']} is not the anchor's")
        return out + self.open_world(item, chain, cons) + self.clinical(item, chain)

    # ---- clinical validity -----------------------------------------------------------------------
    @staticmethod
    def words(name: str) -> set[str]:
        from fleming.synth.names import GENERIC_WORDS  # a word list (data), not the synthesizer's logic

        fam = re.match(r"^([A-Z]{2,4})[A-Z]*[0-9][A-Z0-9]*$", name)       # a gene symbol's family
        name += f" fam_{fam.group(1)}" if fam else ""
        ws = {re.sub(r"^([a-z]{3,}[^s])s$", r"\1", w) for w in re.split(r"[^a-z0-9_]+", name.lower())}
        return {w for w in ws if len(w) >= 4 and w not in GENERIC_WORDS}

    @classmethod
    def roots(cls, name: str) -> set[str]:
        from fleming.synth.names import ROOT_PREFIXES, ROOT_STOP  # word lists (data)

        ws = (re.sub(f"^({ROOT_PREFIXES})(?=[a-z]{{5,}}$)", "", w) for w in cls.words(name) if "_" not in w)
        return {w[:5] for w in ws if len(w) >= 5 and w[:5] not in ROOT_STOP}

    def n_holders(self, f: int) -> int:
        return len(set().union(*(self.inn[r].get(f, set()) for r in self.FEATS)))

    def clinical(self, item: dict, chain: list[str]) -> list[str]:
        from fleming.synth.findings import FEMALE, MALE

        extra, iid = item["metadata"]["extra"], item["id"]
        if not extra["anchor"]["masked"]:
            return []
        key = self.index[extra["anchor"]["id"]]
        observed = [self.index[o["id"]] for o in extra["observed"]]
        names = list(item["options"].values())
        out = [f"{iid}: observed {self.ids[o]} is atypical of the key" for o in observed
               if self.freq.get((key, o), 1.0) < 0.3 and (key, o) in self.freq]
        specific = [o for o in observed if self.n_holders(o) <= 100]
        if len(specific) < 2 or not any(self.freq.get((key, o), 1.0) >= 0.8 for o in specific):
            out.append(f"{iid}: the stem is not specific (two findings held by <= 100 anchors, one typical)")
        for i, a in enumerate(names):
            out += [f"{iid}: options {a!r} and {b!r} share a word" for b in names[:i]
                    if self.words(a) & self.words(b)]
        out += [f"{iid}: option {a!r} restates {o['name']!r}" for a in names for o in extra["observed"]
                if self.words(a) & self.words(o["name"]) or self.roots(a) & self.roots(o["name"])]
        sexed = [n["name"] for n in extra.get("negatives", [])] + [
            d["name"] for d in extra["distractors"] if self.types[self.index[d["id"]]] in FINDING_TYPES]
        out += [f"{iid}: {n!r} is sex-specific" for n in sexed if MALE.search(n) or FEMALE.search(n)]
        if chain == [extra["path"][0]["relation"]] if extra["path"] else False:
            ans_i = self.index[extra["answer"]["id"]]
            if self.freq.get((key, ans_i), 0.0) < 0.8:
                out.append(f"{iid}: the additional finding is no hallmark of the key")
            for d in extra["distractors"]:
                x = self.index[d["id"]]
                if self.n_holders(x) > 150 or any(
                        x in ({o} | self.ancestors(o) | self.descendants(o))
                        or self.systems(x) & self.systems(o) for o in observed):
                    out.append(f"{iid}: distractor {d['id']} is common or in an observed finding's system")
        if chain and chain[0] == "associated_with":
            genes = lambda d: len(self.out["associated_with"].get(d, set()))  # noqa: E731
            ans_i = self.index[extra["answer"]["id"]]
            if genes(key) > 2 or (self.types[ans_i] == self.types[key] and genes(ans_i) > 2):
                out.append(f"{iid}: a gene question on a disease with more than 2 genes")
        return out

    # ---- open world ------------------------------------------------------------------------------
    FEATS = ("has_symptom", "has_finding")

    def direct(self, d: int) -> set[int]:
        return set().union(*(self.out[r].get(d, set()) for r in self.FEATS))

    def touches(self, d: int, f: int) -> bool:
        """d has an annotation that is f, an is_a ancestor or an is_a descendant of f."""
        related = {f} | self.ancestors(f) | self.descendants(f)
        return bool(self.direct(d) & related)

    def systems(self, f: int) -> set[int]:
        """f's organ systems: its ancestors directly below the ontology's root, with children."""
        return {s for s in self.ancestors(f) if len(self.ancestors(s)) == 1 and self.descendants(s)
                and self.types[s] in FINDING_TYPES}

    def far(self, d: int, f: int) -> bool:
        """Nothing of d is f, related to f, or under one of f's organ systems."""
        systems = self.systems(f)
        under = set().union(*({s} | self.descendants(s) for s in systems)) if systems else set()
        return not self.touches(d, f) and not (self.direct(d) & under)

    def rich(self, d: int) -> bool:
        fs = self.direct(d)
        return len(fs) >= 20 and sum((d, x) in self.freq for x in fs) >= 0.5 * len(fs)

    def kinds(self, d: int, key: int, observed: list[int], negatives: list[int]) -> set[str]:
        """Every kind of evidence that rules anchor d out of a stem."""
        found = set()
        lacks = self.out["lacks_finding"].get(d, set())
        if any(lacks & ({o} | self.ancestors(o)) for o in observed):
            found.add("asserted_negative")
        if self.closed and any(not self.touches(d, o) for o in observed):
            found.add("closed_world")
        touched = [o for o in observed if self.touches(d, o)]
        if len(touched) >= 2 or any(self.n_holders(o) <= 100 for o in touched):   # near: asserted only
            return found
        hall = {x for x in self.direct(d) if self.freq.get((d, x), 0.0) >= 0.8}
        if any(p in hall or hall & self.descendants(p) for p in negatives):
            found.add("pertinent_negative")
        if self.rich(d) and any(self.freq.get((key, o), 0.0) >= 0.8 and self.far(d, o) for o in observed):
            found.add("rich_absence")
        return found

    def companion(self, p: int, o: int) -> bool:
        """At least 20% of o's direct holders (>= 10) have p or a descendant of p."""
        hs = set().union(*(self.inn[r].get(o, set()) for r in self.FEATS))
        pd = {p} | self.descendants(p)
        return len(hs) >= 10 and sum(bool(self.direct(h) & pd) for h in hs) >= 0.2 * len(hs)

    def absent(self, d: int, f: int) -> set[str]:
        """Evidence that anchor d lacks finding f."""
        lacks = self.out["lacks_finding"].get(d, set())
        found = {"asserted_negative"} if lacks & ({f} | self.ancestors(f)) else set()
        if self.rich(d) and self.far(d, f):
            found.add("rich_absence")
        if self.closed and not self.touches(d, f):
            found.add("closed_world")
        return found

    def sources(self, x: int, chain: list[str], anchor_type: str) -> set[int]:
        """Anchors reaching x along the chain (walked backwards, as written)."""
        cur = {x}
        for hop in reversed(chain):
            rels = hop.split("|")
            inv = [BY_NAME[r].inverse if r in BY_NAME else INVERSE[r] for r in rels]
            cur = set().union(*(self.step(y, r) for y in cur for r in inv)) if cur else set()
        return {d for d in cur if self.types[d] == anchor_type}

    def open_world(self, item: dict, chain: list[str], cons: set[int]) -> list[str]:
        extra, iid = item["metadata"]["extra"], item["id"]
        key = self.index[extra["anchor"]["id"]]
        observed = [self.index[o["id"]] for o in extra["observed"]]
        negatives = [self.index[n["id"]] for n in extra.get("negatives", [])]
        kinds = extra.get("discriminators", {})
        out = [f"{iid}: the key has the stated negative {self.ids[p]}" for p in negatives
               if self.touches(key, p)]
        out += [f"{iid}: the negative {self.ids[p]} shares an organ system with {self.ids[o]}"
                for p in negatives for o in observed if self.systems(p) & self.systems(o)]
        out += [f"{iid}: the negative {self.ids[p]} goes with {self.ids[o]}"
                for p in negatives for o in observed if self.companion(p, o)]
        masked, atype = extra["anchor"]["masked"], extra["anchor"]["type"]
        feature_hop = chain == [extra["path"][0]["relation"]] if masked and extra["path"] else False
        for d in extra["distractors"]:
            x, kind = self.index[d["id"]], kinds.get(d["letter"])
            if not masked:
                why = set() if not d["curated_negative"] else {"asserted_negative"} if any(
                    x in self.out[r].get(key, ()) or key in self.out[r].get(x, ())
                    for r in ("not_indicated_for",)) else set()
            elif not chain:
                why = self.kinds(x, key, observed, negatives)
            elif feature_hop:
                ev = [self.absent(c, x) for c in cons | {key}]
                why = set.union(*ev) if all(ev) else set()
            else:
                srcs = self.sources(x, chain, atype)
                ev = [self.kinds(s, key, observed, negatives) for s in srcs]
                why = set() if key in srcs or len(srcs) > 8 or not all(ev) else set.union(set(), *ev)
            if kind not in why:
                out.append(f"{iid}: distractor {d['id']} recorded as ruled out by {kind}, evidence: {why}")
        ans = self.index[extra["answer"]["id"]]
        if masked and chain and self.types[ans] == atype and not self.kinds(ans, key, observed, negatives):
            out.append(f"{iid}: the answer {self.ids[ans]} may be the patient's own disease")
        return out


@pytest.fixture(scope="session")
def checker() -> type[ParquetCheck]:
    return ParquetCheck


@pytest.fixture(scope="session")
def default_check(default_kg: Path) -> ParquetCheck:
    return ParquetCheck(default_kg)


def toy_kg(out: Path) -> Path:
    """A small KG with an is_a hierarchy, frequencies, synonyms, genes and drugs (see test_synth_kernel);
    every finding a disease lacks is asserted absent (lacks_finding), so distractors have evidence."""
    from fleming.kg.builder import GraphBuilder
    from fleming.kg.store import save

    b = GraphBuilder()
    terms = {"HP:1": "Seizure", "HP:2": "Focal seizure", "HP:3": "Fever", "HP:4": "Rash", "HP:5": "Cough",
             "HP:6": "Short stature", "HP:7": "Intellectual disability", "HP:8": "Elevated serum creatinine"}
    for k, v in terms.items():
        b.add_entity(k, "lab" if "serum" in v else "phenotype", v, "toy")
    b.add_edge("HP:2", "is_a", "HP:1", "toy", "hp", "1", "is_a")
    diseases = {
        "OMIM:1": ("Alpha syndrome", ["HP:1", "HP:3", "HP:4", "HP:5", "HP:8"], ["G:1"]),
        "OMIM:2": ("Beta syndrome", ["HP:2", "HP:3", "HP:4"], ["G:2"]),
        "OMIM:3": ("Gamma disease", ["HP:3", "HP:4", "HP:6"], ["G:3"]),
        "OMIM:4": ("Delta disease", ["HP:1", "HP:3", "HP:7"], ["G:4"]),
        "OMIM:5": ("Epsilon disease", ["HP:1", "HP:4", "HP:5"], ["G:1"]),
        "OMIM:6": ("Zeta disease", ["HP:5", "HP:6", "HP:7", "HP:3"], ["G:5"]),
        "OMIM:7": ("Familial eta dyskinesia", ["HP:1", "HP:5", "HP:6"], ["G:6"]),
        "OMIM:8": ("Eta dyskinesia, familial", ["HP:3", "HP:5", "HP:6", "HP:1"], ["G:7"]),
        "OMIM:9": ("Theta disease", ["HP:4", "HP:5", "HP:7"], ["G:8"]),
    }
    symbols = ["ALX1", "BMP2", "CHD3", "DMD4", "EYA5", "FGF6", "GLI7", "HOXA8"]   # no two of one family
    for g in sorted({g for _, _, gs in diseases.values() for g in gs}):
        b.add_entity(g, "gene", symbols[int(g[2:]) - 1], "toy")
    for did, (name, feats, genes) in diseases.items():
        b.add_entity(did, "disease", name, "toy", attrs={"onset": ["Childhood onset"]}, rare=["toy"])
        for i, f in enumerate(feats):
            rel = "has_finding" if f == "HP:8" else "has_symptom"
            b.add_edge(did, rel, f, "toy", did, "1", "hpoa", 0.9, [0.9, 0.5, 0.9, 0.7, 0.4][i % 5])
        for g in genes:
            b.add_edge(did, "associated_with", g, "toy", did, "1", "g2p", 0.9)
        for t in terms:                  # the toy world is closed by assertion (HPO NOT annotations):
            if t not in feats and not (t == "HP:1" and "HP:2" in feats):    # what it lacks, it states
                b.add_edge(did, "lacks_finding", t, "toy", did, "1", "hpoa/NOT", 0.9)
    nodes, edges, info = b.finalize()
    save(out, nodes, edges, {"info": info})
    return out


@pytest.fixture(scope="session")
def small_kg(tmp_path_factory) -> Path:
    return toy_kg(tmp_path_factory.mktemp("synth-kg-toy"))
