"""KG facts of a closed world as claim sentences: the pre-training corpus (chains come from
``fleming.cot.grounded`` and are checked by ``fleming.cot.claims``, which reads a closed-world slice).

The sentences are those of the shared contract, written by ``fleming.cot.claims.sentence`` (the one
table of claim forms; a test pins them):

    {disease} has {phenotype}.          {disease} lacks {phenotype}.
    {disease} is caused by {gene}.      {disease} is not caused by {gene}.

Absence is decided inside the world (``fleming.train.world``): the slice is closed, so a pair it does
not hold is false. The real HPO is open-world; outside a slice a "lacks" claim would be uncheckable.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

RELATION = {"phenotype": "has_phenotype", "gene": "caused_by"}  # kind -> fleming.cot.claims relation


def sentence(kind: str, a: str, b: str, true: bool) -> str:
    """One claim sentence.

    >>> sentence("gene", "Marfan syndrome", "FBN1", False)
    'Marfan syndrome is not caused by FBN1.'
    """
    from fleming.cot.claims import sentence as claim

    return claim(RELATION[kind], a, b, negated=not true)


@dataclass
class World:
    """The closed world of a KG slice: names, each disease's phenotypes and genes (by name)."""

    diseases: list[str]
    phenotypes: list[str]
    genes: list[str]
    has: dict[str, set[str]] = field(default_factory=dict)      # disease -> phenotype names
    caused: dict[str, set[str]] = field(default_factory=dict)   # disease -> gene names
    name_of: dict[str, str] = field(default_factory=dict)       # node id -> name

    @classmethod
    def load(cls, kg_dir: str | Path) -> World:
        import pyarrow as pa
        import pyarrow.parquet as pq

        nodes = pq.read_table(Path(kg_dir) / "nodes.parquet", columns=["id", "name", "type"])
        edges = pq.read_table(Path(kg_dir) / "edges.parquet", columns=["src", "dst", "relation"])
        names = nodes.column("name").to_pylist()
        types = nodes.column("type").cast(pa.string()).to_pylist()
        has: dict[str, set[str]] = defaultdict(set)
        caused: dict[str, set[str]] = defaultdict(set)
        rels = edges.column("relation").cast(pa.string()).to_pylist()
        for s, d, r in zip(edges.column("src").to_pylist(), edges.column("dst").to_pylist(), rels,
                           strict=True):
            if types[s] != "disease":
                continue
            if r in ("has_symptom", "has_finding"):
                has[names[s]].add(names[d])
            elif r == "associated_with" and types[d] == "gene":
                caused[names[s]].add(names[d])

        def of(t: str) -> list[str]:
            return sorted({n for n, ty in zip(names, types, strict=True) if ty == t})

        return cls(of("disease"), sorted(set(of("phenotype")) | set(of("lab"))), of("gene"),
                   dict(has), dict(caused), dict(zip(nodes.column("id").to_pylist(), names, strict=True)))

    def holds(self, kind: str, a: str, b: str) -> bool:
        return b in (self.has if kind == "phenotype" else self.caused).get(a, set())

    def entities(self) -> list[str]:
        return self.diseases + self.phenotypes + self.genes


def facts(world: World, rng: random.Random, negatives: bool = True, per_line: int = 8) -> Iterator[str]:
    """Every true fact once, and as many fresh false ones (drawn anew on each call), shuffled per disease
    and cut into lines of at most ``per_line`` sentences (joined by spaces; short lines pad little)."""
    for d in world.diseases:
        lines = []
        for kind, pool, held in (("phenotype", world.phenotypes, world.has.get(d, set())),
                                 ("gene", world.genes, world.caused.get(d, set()))):
            lines += [sentence(kind, d, b, True) for b in sorted(held)]
            if negatives:
                absent = [b for b in rng.sample(pool, min(len(pool), 4 * len(held) + 4)) if b not in held]
                lines += [sentence(kind, d, b, False) for b in absent[: len(held)]]
        rng.shuffle(lines)
        for i in range(0, len(lines), per_line):
            yield " ".join(lines[i:i + per_line])


LETTERS = "ABCD"


def copy_line(world: World, rng: random.Random) -> str:
    """A copy exercise in the form of a chain's option lines: four lettered options, then each restated
    after its letter in a true claim about it, e.g. ``A. X B. Y C. Z D. W`` then ``A. X lacks P. B. Y
    has P. ...`` (diseases against a finding of one of them) or ``A. D is not caused by G1. ...`` (genes
    against a disease that has one of them). Beyond the paper: the step a tiny model failed in
    docs/ablation.md (V3) is copying the option written after a letter."""
    if rng.random() < 0.5 or not world.caused or len(world.genes) < len(LETTERS):
        opts = rng.sample(world.diseases, min(len(LETTERS), len(world.diseases)))
        p = rng.choice(sorted(world.has[opts[0]]))
        rng.shuffle(opts)
        claims = [sentence("phenotype", o, p, world.holds("phenotype", o, p)) for o in opts]
    else:
        d = rng.choice(sorted(world.caused))
        g = rng.choice(sorted(world.caused[d]))
        opts = [g, *rng.sample([x for x in world.genes if x != g], len(LETTERS) - 1)]
        rng.shuffle(opts)
        claims = [sentence("gene", d, o, world.holds("gene", d, o)) for o in opts]
    head = " ".join(f"{x}. {o}" for x, o in zip(LETTERS, opts, strict=False))
    return head + "\n" + " ".join(f"{x}. {c}" for x, c in zip(LETTERS, claims, strict=False))
