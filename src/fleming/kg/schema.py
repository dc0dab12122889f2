"""The knowledge-graph schema: entity types, relation types, provenance, stable ids, name normalization.

Relations are stored in one direction only (``treats``: drug -> disease); the inverse name
(``treated_by``) is a query alias that the store answers from the reverse CSR index, so no fact is
stored twice. Symmetric relations (``differential_of``, ``resembles``) are stored once per pair with
the smaller node index first and answered from both CSR directions.

Every edge carries provenance: ``source`` (importer name), ``record`` (the source's record or article
id), ``revision`` (release, commit or revision id of the source), ``field`` (the column or infobox
field the fact came from) and a ``confidence`` in [0, 1]; ``frequency`` (0..1, NaN when unknown) is
set on has_symptom / has_finding edges where the source gives one (HPO).

Departure from the paper: the paper builds its KG from Wikipedia alone with an LLM agent; here open
curated sources (HPO, DO, Hetionet, PharmacotherapyDB, DrugCentral) form the backbone and Wikipedia
infoboxes add to it, so a graph can be built offline, and every fact keeps where it came from.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache


class EntityType(StrEnum):
    DISEASE = "disease"
    PHENOTYPE = "phenotype"  # symptom, sign, clinical phenotype, side effect
    LAB = "lab"  # laboratory test or laboratory finding
    IMAGING = "imaging"  # imaging test or imaging finding
    DRUG = "drug"
    DRUG_CLASS = "drug_class"  # pharmacologic class or mechanism of action
    ANATOMY = "anatomy"
    PROCESS = "process"  # pathophysiology, biological process, pathway
    GENE = "gene"
    PROCEDURE = "procedure"  # non-drug treatment, diagnostic or preventive procedure
    ORGANISM = "organism"  # pathogen or vector


ENTITY_TYPES: tuple[str, ...] = tuple(t.value for t in EntityType)
TYPE_CODE: dict[str, int] = {t: i for i, t in enumerate(ENTITY_TYPES)}
FINDING_TYPES = frozenset({"phenotype", "lab", "imaging"})


@dataclass(frozen=True)
class Relation:
    name: str
    domain: frozenset[str]  # allowed source entity types
    range: frozenset[str]  # allowed target entity types
    inverse: str | None = None  # query alias answered from the reverse index
    symmetric: bool = False
    doc: str = ""


def _rel(
    name: str, dom: str, rng: str, inverse: str | None = None, symmetric: bool = False, doc: str = ""
) -> Relation:
    return Relation(name, frozenset(dom.split()), frozenset(rng.split()), inverse, symmetric, doc)


_D, _F = "disease", "phenotype lab imaging"
RELATIONS: tuple[Relation, ...] = (
    _rel("has_symptom", _D, "phenotype", "symptom_of", doc="disease -> symptom/sign; frequency 0..1"),
    _rel("has_finding", _D, "lab imaging phenotype", "finding_of", doc="disease -> lab/imaging finding"),
    _rel("diagnosed_by", _D, "lab imaging procedure", "diagnoses"),
    _rel("differential_of", _D + " phenotype", _D + " phenotype", symmetric=True),
    _rel("treats", "drug drug_class procedure", _D + " " + _F, "treated_by"),
    _rel(
        "palliates",
        "drug drug_class procedure",
        _D + " " + _F,
        "palliated_by",
        doc="symptomatic treatment (Hetionet CpD, PharmacotherapyDB SYM)",
    ),
    _rel("prevents", "drug drug_class procedure", _D, "prevented_by"),
    _rel("contraindicated_in", "drug drug_class", _D + " " + _F, "contraindicates"),
    _rel(
        "not_indicated_for",
        "drug",
        _D,
        "not_indicated_drug",
        doc="physician-curated non-indication (PharmacotherapyDB NOT): a ready hard negative",
    ),
    _rel("has_mechanism", "drug", "drug_class", "mechanism_of"),
    _rel("in_class", "drug", "drug_class", "class_of"),
    _rel("targets", "drug", "gene", "targeted_by", doc="drug -> target gene, action in provenance field"),
    _rel(
        "causes",
        "disease drug drug_class organism gene process phenotype procedure",
        _D + " " + _F,
        "caused_by",
        doc="cause -> effect (Hetionet CcSE: drug causes side effect)",
    ),
    _rel("risk_factor_for", " ".join(ENTITY_TYPES), _D, "has_risk_factor"),
    _rel("complication_of", _D + " " + _F, _D, "has_complication"),
    _rel("located_in", _D + " " + _F, "anatomy", "location_of"),
    _rel("transmitted_by", _D, "organism", "transmits"),
    _rel(
        "associated_with",
        _D + " " + _F,
        "gene",
        "gene_associated_with",
        doc="disease/phenotype -> gene (Hetionet DaG, HPO genes_to_phenotype)",
    ),
    _rel("participates_in", "gene", "process", "has_participant", doc="gene -> GO process/pathway"),
    _rel("is_a", " ".join(ENTITY_TYPES), " ".join(ENTITY_TYPES), "has_subtype"),
    _rel("resembles", _D + " drug", _D + " drug", symmetric=True),
    _rel(
        "lacks_finding",
        _D,
        _F,
        "lacked_by",
        doc="asserted absence: the source states the disease does NOT have the finding (HPO NOT)",
    ),
)
# Appended last so the codes of the relations above stay as they were.
RELATION_NAMES: tuple[str, ...] = tuple(r.name for r in RELATIONS)
REL_CODE: dict[str, int] = {n: i for i, n in enumerate(RELATION_NAMES)}
BY_NAME: dict[str, Relation] = {r.name: r for r in RELATIONS}
INVERSE: dict[str, str] = {r.inverse: r.name for r in RELATIONS if r.inverse}

# Provenance columns every edge carries (see module docstring).
PROVENANCE_FIELDS = ("source", "record", "revision", "field")


def resolve_relation(name: str) -> tuple[str, str]:
    """(stored relation, direction) for a relation or inverse name: 'treated_by' -> ('treats', 'in')."""
    if name in BY_NAME:
        return name, "out"
    if name in INVERSE:
        return INVERSE[name], "in"
    raise KeyError(f"unknown relation {name!r}; known: {', '.join(RELATION_NAMES + tuple(INVERSE))}")


# ---- identifiers -------------------------------------------------------------------------------------
# Cross-reference prefixes, normalized (left: spellings seen in sources; right: canonical prefix).
PREFIX_ALIASES = {
    "doid": "DOID",
    "omim": "OMIM",
    "mim": "OMIM",
    "orpha": "ORPHA",
    "ordo": "ORPHA",
    "orphanet": "ORPHA",
    "mesh": "MESH",
    "msh": "MESH",
    "drugbank": "DRUGBANK",
    "db": "DRUGBANK",
    "umls": "UMLS",
    "umls_cui": "UMLS",
    "hp": "HP",
    "ncbigene": "NCBIGENE",
    "entrez": "NCBIGENE",
    "gene": "NCBIGENE",
    "uberon": "UBERON",
    "symp": "SYMP",
    "go": "GO",
    "chebi": "CHEBI",
    "ndfrt": "NDFRT",
    "gard": "GARD",
    "icd10": "ICD10",
    "icd10cm": "ICD10",
    "decipher": "DECIPHER",
    "atc": "ATC",
    "medlineplus": "MEDLINEPLUS",
    "nci": "NCI",
    "snomedct": "SNOMEDCT",
    "pathway": "PATHWAY",
    "cas": "CAS",
    "icd9": "ICD9",
}
# Prefixes that identify one concept: sharing one merges two entities. (ICD10 codes are broad
# categories shared by many diseases, so they are kept as xrefs but never merge.)
MERGE_PREFIXES = frozenset(
    {
        "DOID",
        "OMIM",
        "ORPHA",
        "MESH",
        "DRUGBANK",
        "UMLS",
        "HP",
        "NCBIGENE",
        "UBERON",
        "GARD",
        "DECIPHER",
        "CHEBI",
        "NDFRT",
        "SYMP",
        "GO",
    }
)
# Which xref names an entity, best first, per type: the stable id is the best xref the merged entity has.
ID_PRIORITY = {
    "disease": ("DOID", "ORPHA", "OMIM", "MESH", "DECIPHER", "UMLS", "GARD"),
    "phenotype": ("HP", "SYMP", "MESH", "UMLS"),
    "drug": ("DRUGBANK", "MESH", "CHEBI", "UMLS"),
    "drug_class": ("NDFRT", "MESH", "CHEBI", "UMLS"),
    "gene": ("NCBIGENE",),
    "anatomy": ("UBERON", "MESH"),
    "process": ("GO", "MESH"),
}
_DEFAULT_PRIORITY = ("DOID", "HP", "DRUGBANK", "NCBIGENE", "UBERON", "MESH", "UMLS", "ORPHA", "OMIM")


def norm_xref(prefix: str, local: str) -> str:
    """Canonical CURIE: ``norm_xref('MIM', 'PS267700') == 'OMIM:PS267700'``; ORDO:540 -> ORPHA:540."""
    p = PREFIX_ALIASES.get(prefix.strip().lower(), prefix.strip().upper())
    return f"{p}:{local.strip()}"


KNOWN_PREFIXES = frozenset(PREFIX_ALIASES.values())


def parse_xref(curie: str) -> str | None:
    """'MSH:D019337' -> 'MESH:D019337'; None for text without a known prefix ('wiki:Autism')."""
    p, sep, local = curie.partition(":")
    if not sep or not local.strip():
        return None
    x = norm_xref(p, local)
    return x if x.partition(":")[0] in KNOWN_PREFIXES else None


def stable_id(etype: str, xrefs: list[str] | tuple[str, ...] | set[str], name: str) -> str:
    """The entity's id: its best cross-reference (by type priority), else ``type:normalized-name``.

    Derived from content, never from insertion order, so ids survive rebuilds and source order.
    >>> stable_id("disease", ["OMIM:209850", "MESH:D001321"], "Autism")
    'OMIM:209850'
    >>> stable_id("procedure", [], "Behavioral therapy")
    'procedure:behavioral therapy'
    """
    best: dict[str, str] = {}
    for x in xrefs:
        p = x.partition(":")[0]
        if p not in best or x < best[p]:
            best[p] = x
    for prefix in ID_PRIORITY.get(etype, _DEFAULT_PRIORITY):
        if prefix in best:
            return best[prefix]
    return f"{etype}:{norm_name(name)}"


# ---- names -------------------------------------------------------------------------------------------
_NON_WORD = re.compile(r"[^\w]+")
_INVERTED = re.compile(r"^([^,]+), ([^,]+)$")  # MeSH style "Abdomen, Acute" -> "acute abdomen"


_NORM: dict[str, str] = {}


def norm_text(text: str) -> str:
    """Lower-case, accents stripped, punctuation to single spaces; 'Crohn's disease' -> 'crohn s disease'."""
    s = text if text.isascii() else unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return _NON_WORD.sub(" ", s.lower()).strip()


def norm_name(name: str) -> str:
    """``norm_text``, cached (entity names recur; free text should call ``norm_text``)."""
    hit = _NORM.get(name)
    if hit is None:
        hit = _NORM[name] = norm_text(name)
    return hit


def norm_names(names: list[str]) -> list[str]:
    """``norm_name`` over many names at once (pyarrow kernels, ~10x faster); fills its cache."""
    import pyarrow as pa
    import pyarrow.compute as pc

    todo = [n for n in dict.fromkeys(names) if n not in _NORM]
    if todo:
        a = pc.utf8_normalize(pa.array(todo, pa.string()), "NFKD")
        a = pc.utf8_lower(pc.replace_substring_regex(a, r"[^\x00-\x7f]", ""))
        a = pc.utf8_trim_whitespace(pc.replace_substring_regex(a, r"[^0-9A-Za-z_]+", " "))
        _NORM.update(zip(todo, a.to_pylist(), strict=True))
    return [_NORM[n] for n in names]


@lru_cache(maxsize=1 << 20)
def name_keys(name: str) -> tuple[str, ...]:
    """Normalized forms of one name used for merging: itself and the un-inverted MeSH form."""
    keys = [norm_name(name)]
    m = _INVERTED.match(name.strip()) if "," in name else None
    if m:
        keys.append(norm_name(f"{m.group(2)} {m.group(1)}"))
    return tuple(dict.fromkeys(k for k in keys if len(k) >= 4))


def name_keys_many(names: list[str]) -> dict[str, tuple[str, ...]]:
    """``name_keys`` for many names at once (normalization in bulk)."""
    uniq = list(dict.fromkeys(names))
    normed = norm_names(uniq)
    out = {}
    for n, k in zip(uniq, normed, strict=True):
        out[n] = name_keys(n) if "," in n else ((k,) if len(k) >= 4 else ())
    return out


_IMAGING = re.compile(
    r"\b(mri|ct|x ?ray|radiograph\w*|ultrasound|ultrasonograph\w*|echocardiogra\w*|"
    r"scan|tomograph\w*|angiogra\w*|mammogra\w*|imaging|sonograph\w*|fluoroscop\w*|"
    r"pet|scintigra\w*)\b"
)
_LAB = re.compile(
    r"\b(level|levels|concentration|count|assay|serum|plasma|blood test|urine|urinalysis|"
    r"culture|biopsy|titer|titre|antibod\w*|enzyme|test|testing|screen\w*|smear|panel|"
    r"hemoglobin|glucose|creatinine|electrolyte\w*|eeg|ecg|ekg|electro\w+gra\w+)\b"
)


def guess_finding_type(name: str, default: str = "phenotype") -> str:
    """'imaging' or 'lab' when the name says so (an MRI, a serum level), else ``default``.

    >>> guess_finding_type("Elevated serum creatinine"), guess_finding_type("Cerebral atrophy on MRI")
    ('lab', 'imaging')
    """
    n = norm_name(name)
    if _IMAGING.search(n):
        return "imaging"
    if _LAB.search(n):
        return "lab"
    return default
