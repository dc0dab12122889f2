"""Optional LLM relation extractor for a page's lead and medical sections (through ``fleming.llm``).

Each chunk (the lead, "Signs and symptoms", "Diagnosis", ...) goes to the model with a JSON schema
(``Extraction``) through ``generate_structured``; every relation must quote the sentence it rests on.
A relation is kept only when that sentence really occurs in the chunk (whitespace-insensitive) and
its subject is the page's topic; the rest are dropped and counted by reason, so a model that invents
evidence adds nothing. Kept relations enter the graph with source 'wikipedia_llm', confidence 0.5, the
section as field and the sentence as evidence.
"""

from __future__ import annotations

import contextlib
import re
from collections import Counter
from dataclasses import dataclass
from typing import Literal

import mwparserfromhell
from pydantic import BaseModel, Field

from fleming.kg.schema import norm_name

SECTIONS = (
    "signs and symptoms",
    "symptoms",
    "characteristics",
    "presentation",
    "causes",
    "risk factors",
    "diagnosis",
    "differential diagnosis",
    "treatment",
    "management",
    "prevention",
    "complications",
    "medical uses",
    "mechanism of action",
    "contraindications",
    "pharmacology",
)
RelationName = Literal[
    "has_symptom",
    "has_finding",
    "diagnosed_by",
    "differential_of",
    "treated_by",
    "contraindicated_in",
    "has_mechanism",
    "in_class",
    "caused_by",
    "risk_factor",
    "has_complication",
    "located_in",
    "prevented_by",
]
# extractor relation -> (stored relation, page is the source?)
STORED = {
    "has_symptom": ("has_symptom", True),
    "has_finding": ("has_finding", True),
    "diagnosed_by": ("diagnosed_by", True),
    "differential_of": ("differential_of", True),
    "treated_by": ("treats", False),
    "contraindicated_in": ("contraindicated_in", True),
    "has_mechanism": ("has_mechanism", True),
    "in_class": ("in_class", True),
    "caused_by": ("causes", False),
    "risk_factor": ("risk_factor_for", False),
    "has_complication": ("complication_of", False),
    "located_in": ("located_in", True),
    "prevented_by": ("prevents", False),
}
OBJECT_TYPES = {
    "has_symptom": ("phenotype",),
    "has_finding": ("lab", "imaging", "phenotype"),
    "diagnosed_by": ("lab", "imaging", "procedure"),
    "differential_of": ("disease", "phenotype"),
    "treated_by": ("drug", "drug_class", "procedure"),
    "contraindicated_in": ("disease", "phenotype"),
    "has_mechanism": ("drug_class",),
    "in_class": ("drug_class",),
    "caused_by": ("organism", "disease", "drug", "gene", "process"),
    "risk_factor": ("disease", "phenotype", "drug", "process", "procedure"),
    "has_complication": ("disease", "phenotype"),
    "located_in": ("anatomy",),
    "prevented_by": ("procedure", "drug", "drug_class"),
}


class ExtractedRelation(BaseModel):
    subject: str = Field(description="the page's topic, as named in the text")
    relation: RelationName
    object: str = Field(description="the other entity, a short noun phrase")
    sentence: str = Field(description="the exact sentence of the text that states this relation")


class Extraction(BaseModel):
    relations: list[ExtractedRelation]


@dataclass
class TextFact:
    title: str
    section: str
    relation: str  # stored relation name
    page_is_source: bool
    target: str
    types: tuple[str, ...]
    evidence: str


def chunks(wikitext: str, max_chars: int = 3000) -> list[tuple[str, str]]:
    """(section, plain text) for the lead and the medical sections, each cut to ``max_chars``."""
    code = mwparserfromhell.parse(wikitext)
    out = []
    for sec in code.get_sections(levels=[2], include_lead=True, flat=True):
        heads = sec.filter_headings()
        name = heads[0].title.strip_code().strip().lower() if heads else "lead"
        if name != "lead" and name not in SECTIONS:
            continue
        for h in heads:
            sec.remove(h)
        junk = sec.filter_tags(matches=lambda n: str(n.tag).lower() == "ref", recursive=False)
        junk += [
            w
            for w in sec.filter_wikilinks(recursive=False)
            if str(w.title).split(":")[0].strip().lower() in ("file", "image")
        ]
        for node in junk:
            with contextlib.suppress(ValueError):  # already gone with its parent
                sec.remove(node)
        text = re.sub(r"\n{2,}", "\n", sec.strip_code()).strip()
        if text:
            out.append((name, text[:max_chars]))
    return out


def conversation(title: str, section: str, text: str) -> list[dict[str, str]]:
    return [
        {
            "role": "system",
            "content": "You extract medical facts from encyclopedia text. Use only what the "
            "text states; quote the sentence for every relation.",
        },
        {
            "role": "user",
            "content": f"Article: {title}\nSection: {section}\n\n{text}\n\nList the relations "
            f"between '{title}' (the subject) and other medical entities.",
        },
    ]


def _squash(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip().lower()


def check(title: str, section: str, text: str, ext: Extraction, dropped: Counter) -> list[TextFact]:
    """Keep relations whose sentence occurs in ``text`` and whose subject is the page's topic."""
    body, topic = _squash(text), norm_name(title)
    facts = []
    for r in ext.relations:
        if not r.sentence.strip() or _squash(r.sentence) not in body:
            dropped["evidence not in text"] += 1
        elif norm_name(r.subject) != topic and topic not in norm_name(r.subject):
            dropped["subject is not the page"] += 1
        elif not r.object.strip() or norm_name(r.object) == topic:
            dropped["empty or self object"] += 1
        else:
            rel, page_src = STORED[r.relation]
            facts.append(
                TextFact(
                    title,
                    section,
                    rel,
                    page_src,
                    r.object.strip(),
                    OBJECT_TYPES[r.relation],
                    r.sentence.strip(),
                )
            )
    return facts


def extract(backend, pages: list[tuple[str, str]], params=None, max_chars: int = 3000):
    """(facts, dropped reasons) for ``pages`` = [(title, wikitext)]; never raises on model output."""
    from fleming.llm.base import SamplingParams
    from fleming.llm.structured import generate_structured

    work = [(title, sec, text) for title, wt in pages for sec, text in chunks(wt, max_chars)]
    convs = [conversation(t, s, x) for t, s, x in work]
    results = generate_structured(
        backend, convs, Extraction, params or SamplingParams(max_tokens=768), progress=False
    )
    facts: list[TextFact] = []
    dropped: Counter = Counter()
    for (title, sec, text), res in zip(work, results, strict=True):
        if res.value is None:
            dropped[f"no valid reply: {(res.error or '')[:40]}"] += 1
            continue
        facts += check(title, sec, text, res.value, dropped)
    return facts, dropped


def add_facts(b, facts: list[TextFact], revisions: dict[str, str] | None = None) -> int:
    """Extracted facts into the graph (page entity 'wiki:Title', weak targets), sentence as evidence."""
    from fleming.kg.wikipedia.infobox import guess_type
    from fleming.kg.wikipedia.pages import page_key

    for f in facts:
        key, tkey = page_key(f.title), f"wikitext:{norm_name(f.target)}"
        if not b.has_key(key):  # no infobox imported for it: type unknown, join by name
            b.add_entity(
                key, "disease", f.title, "wikipedia_llm", weak_types=("disease", "drug", "phenotype")
            )
        b.add_entity(tkey, guess_type(f.target, f.types), f.target, "wikipedia_llm", weak_types=f.types)
        src, dst = (key, tkey) if f.page_is_source else (tkey, key)
        b.add_edge(
            src,
            f.relation,
            dst,
            "wikipedia_llm",
            f.title,
            (revisions or {}).get(f.title, ""),
            f"llm:{f.section}",
            0.5,
            evidence=f.evidence,
        )
    return len(facts)
