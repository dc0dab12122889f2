"""The surface form of KG facts, shared by the grounded teacher, the claim checker and pre-training.

One sentence per fact, entity names exactly as ``nodes.parquet`` spells them (/work/briefs/claims.md):

=====================  ======================================  ========================================
relation               true form                               false form
=====================  ======================================  ========================================
has_phenotype          ``{disease} has {phenotype}.``          ``{disease} lacks {phenotype}.``
caused_by              ``{disease} is caused by {gene}.``      ``{disease} is not caused by {gene}.``
treats                 ``{drug} treats {disease}.``            ``{drug} does not treat {disease}.``
is_a                   ``{child} is a {parent}.``              ``{child} is not a {parent}.``
=====================  ======================================  ========================================

``ClaimChecker`` reads every sentence of a chain that has one of these forms and whose two names are KG
entities, and judges it against the graph:

- positive claims: ``has`` holds when the disease has a has_symptom/has_finding edge to the phenotype or
  to an is_a descendant of it (a more specific finding implies the general one, as synthesis reads it);
  ``is caused by`` when a disease -> gene associated_with edge (or gene causes disease) exists;
  ``treats`` when a treats edge exists (to the disease or an is_a descendant); ``is a`` when the parent
  is an is_a ancestor.
- negative claims are false when the positive one holds. Otherwise they are true only where the KG can
  support absence (open world, issue 10): an asserted negative (PharmacotherapyDB ``not_indicated_for``;
  any relation listed in ``negative_relations``), or a *rich* profile: the disease has at least
  ``rich_findings`` finding annotations (HPO's curated rare-disease profiles list a disease's hallmark
  findings; a sparse profile says little about what is absent), at least one gene for ``is not caused
  by`` (its genetic basis is annotated), or at least one is_a parent for ``is not a`` (the entity is
  placed in its ontology, whose hierarchy is complete). Everything else is ``uncheckable``, not true.
  On a closed-world slice (``fleming.kg.store.closed_world``: the slice holds every fact of its world)
  a negative claim is true whenever the positive one does not hold.

Claim precision = true / (true + false) over checkable claims.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

Verdict = Literal["true", "false", "uncheckable"]

# (relation, negated) -> the words between the two names
FORMS: dict[tuple[str, bool], str] = {
    ("has_phenotype", False): " has ",
    ("has_phenotype", True): " lacks ",
    ("caused_by", False): " is caused by ",
    ("caused_by", True): " is not caused by ",
    ("treats", False): " treats ",
    ("treats", True): " does not treat ",
    ("is_a", False): " is a ",
    ("is_a", True): " is not a ",
}
_FINDING_RELS = ("has_symptom", "has_finding")


def sentence(relation: str, subject: str, obj: str, negated: bool = False) -> str:
    """The one sentence stating a KG fact.

    >>> sentence("has_phenotype", "Marfan syndrome", "Arachnodactyly")
    'Marfan syndrome has Arachnodactyly.'
    >>> sentence("caused_by", "Marfan syndrome", "FBN1", negated=True)
    'Marfan syndrome is not caused by FBN1.'
    """
    return f"{subject}{FORMS[(relation, negated)]}{obj}."


@dataclass(frozen=True)
class Claim:
    relation: str
    subject: str
    obj: str
    negated: bool
    text: str


_SENTENCE_END = re.compile(r"(?<=\.)\s+")


def sentences(text: str) -> list[str]:
    """Candidate sentences: each line, split after full stops."""
    out = []
    for line in text.splitlines():
        out += [s.strip() for s in _SENTENCE_END.split(line.strip()) if s.strip()]
    return out


def parse_claims(text: str, is_name) -> list[Claim]:
    """Every sentence of ``text`` that has a claim form and whose two sides are entity names
    (``is_name(str) -> bool``). Where a connective occurs twice, any split naming two entities counts.

    >>> names = {"marfan syndrome", "arachnodactyly"}.__contains__
    >>> text = "Marfan syndrome lacks Arachnodactyly."
    >>> [c.negated for c in parse_claims(text, lambda s: names(s.casefold()))]
    [True]
    """
    claims = []
    for s in sentences(text):
        if not s.endswith("."):
            continue
        body = s[:-1]
        # longer connectives first: "is not caused by" must not be read as "is" ... "caused by"
        for (rel, neg), words in sorted(FORMS.items(), key=lambda kv: -len(kv[1])):
            found = _split(body, words, is_name)
            if found is not None:
                claims.append(Claim(rel, found[0], found[1], neg, s))
                break
    return claims


def _split(body: str, words: str, is_name) -> tuple[str, str] | None:
    start = body.find(words)
    while start > 0:
        left, right = body[:start].strip(), body[start + len(words) :].strip()
        if left and right and is_name(left) and is_name(right):
            return left, right
        start = body.find(words, start + 1)
    return None


class ClaimChecker:
    """Judge claim sentences against a ``fleming.kg.store.KG``; names match case-insensitively."""

    def __init__(
        self, kg, rich_findings: int = 15, negative_relations: Iterable[str] = ("not_indicated_for",)
    ):
        from fleming.kg.store import closed_world

        self.kg, self.rich_findings = kg, rich_findings
        self.closed = closed_world(kg.path)
        self.negative_relations = [r for r in negative_relations if r in kg.relations]

    @cached_property
    def _by_name(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for i, n in enumerate(self.kg.names.to_pylist()):
            if n:
                out.setdefault(n.casefold(), []).append(i)
        return out

    def is_name(self, s: str) -> bool:
        return s.casefold() in self._by_name

    def nodes(self, name: str) -> list[int]:
        return self._by_name.get(name.casefold(), [])

    def claims(self, text: str) -> list[Claim]:
        return parse_claims(text, self.is_name)

    def _closure(self, i: int, relation: str) -> set[int]:
        seen, stack = set(), [i]
        while stack:
            for j in self.kg.neighbors(stack.pop(), relation):
                j = int(j)
                if j not in seen:
                    seen.add(j)
                    stack.append(j)
        return seen

    def _holds(self, rel: str, s: int, o: int) -> bool:
        kg = self.kg
        if rel == "has_phenotype":
            targets = {o} | self._closure(o, "has_subtype")
            return any(int(x) in targets for r in _FINDING_RELS for x in kg.neighbors(s, r))
        if rel == "caused_by":
            return kg.has_edge(s, "associated_with", o) or kg.has_edge(o, "causes", s)
        if rel == "treats":
            targets = {o} | self._closure(o, "has_subtype")
            return any(int(x) in targets for x in kg.neighbors(s, "treats"))
        return o in self._closure(s, "is_a")

    def _absence_supported(self, rel: str, s: int, o: int) -> bool:
        kg = self.kg
        if self.closed or any(kg.has_edge(s, r, o) for r in self.negative_relations):
            return True
        if rel == "has_phenotype":
            return sum(len(kg.neighbors(s, r)) for r in _FINDING_RELS) >= self.rich_findings
        if rel == "caused_by":
            return len(kg.neighbors(s, "associated_with")) > 0
        if rel == "is_a":
            return len(kg.neighbors(s, "is_a")) > 0
        return False  # "does not treat": only an asserted non-indication supports it

    def check(self, claim: Claim) -> Verdict:
        """True, false or uncheckable; with several nodes of one name, the claim holds if any pair does."""
        pairs = [(s, o) for s in self.nodes(claim.subject) for o in self.nodes(claim.obj)]
        if not pairs:
            return "uncheckable"
        holds = any(self._holds(claim.relation, s, o) for s, o in pairs)
        if not claim.negated:
            return "true" if holds else "false"
        if holds:
            return "false"
        return (
            "true" if any(self._absence_supported(claim.relation, s, o) for s, o in pairs) else "uncheckable"
        )

    def check_text(self, text: str) -> list[tuple[Claim, Verdict]]:
        return [(c, self.check(c)) for c in self.claims(text)]
