"""Disease Ontology: diseases, hierarchy, xrefs, symptoms, anatomy, pathogens, rare slim, definitions.

Files (../shared/kg/disease-ontology, DO release at the COMMIT there): HumanDO.tsv (id, label, parent
label), *inDO.tsv (xrefs: MESH, OMIM as MIM, Orphanet as ORDO, GARD, ICD10CM), disease-symptom.tsv
(has_symptom to SYMP terms), DO-ICDO-anatomy.tsv (located_in UBERON), DO-subClassOf-anonymous.tsv
('has material basis in' a pathogen -> causes; an inheritance mode -> attribute; 'transmitted by' a
vector -> transmitted_by), DO_rare_slim.obo (rare flag, synonyms, UMLS/NCI xrefs). Optional
``dhimmel`` directory (disease-ontology-dhimmel): definitions and the slim's xrefs.
"""

from __future__ import annotations

import re
from pathlib import Path

from fleming.kg.builder import GraphBuilder
from fleming.kg.importers.common import file_revision, iter_obo, read_tsv

SOURCE = "disease_ontology"
XREF_FILES = ("MESHinDO.tsv", "OMIMinDO.tsv", "OrphanetinDO.tsv", "GARDinDO.tsv", "ICD10inDO.tsv")
_AXIOM = re.compile(r"'([^']+)' some (?:'([^']+)'|([\w<>-]+))")
_INHERITANCE = re.compile(r"inheritance$")


def _is_organism(name: str) -> bool:
    """DO writes pathogens with a capital (NCBITaxon labels: 'Bacteria', 'Rickettsia conorii')."""
    return name[:1].isupper() and not _INHERITANCE.search(name)


def _diseases(b: GraphBuilder, d: Path, rev: str) -> tuple[dict[str, str], int]:
    path = d / "HumanDO.tsv"
    label_to_id: dict[str, str] = {}
    parents: list[tuple[str, str, int]] = []
    for lineno, row in read_tsv(path, ("id", "label", "subClassOf"), quoted=True):
        doid, label = row["id"], row["label"]
        b.add_entity(doid, "disease", label, SOURCE)
        label_to_id.setdefault(label, doid)
        if row["subClassOf"]:
            parents.append((doid, row["subClassOf"], lineno))
    n = 0
    for doid, parent, lineno in parents:
        pid = label_to_id.get(parent)
        if pid:
            b.add_edge(doid, "is_a", pid, SOURCE, doid, rev, f"HumanDO.tsv:{lineno}/subClassOf", 1.0)
            n += 1
    return label_to_id, n


def _xrefs(b: GraphBuilder, d: Path) -> int:
    n = 0
    for name in XREF_FILES:
        if not (d / name).is_file():
            continue
        for _, row in read_tsv(d / name, ("id", "label", "xrefs"), quoted=True):
            xref = row["xrefs"]
            if xref.startswith("MIM:PS"):  # OMIM phenotypic series: a group, not one disease
                continue
            b.add_entity(row["id"], "disease", row["label"], SOURCE, xrefs=[xref])
            n += 1
    return n


def _symptoms(b: GraphBuilder, d: Path, rev: str) -> int:
    n = 0
    for lineno, row in read_tsv(d / "disease-symptom.tsv", ("disease_id", "symptom_id", "symptom_label")):
        b.add_entity(row["symptom_id"], "phenotype", row["symptom_label"], SOURCE)
        b.add_edge(
            row["disease_id"],
            "has_symptom",
            row["symptom_id"],
            SOURCE,
            row["disease_id"],
            rev,
            f"disease-symptom.tsv:{lineno}/symptom_id",
            0.9,
        )
        n += 1
    return n


def _anatomy(b: GraphBuilder, d: Path, rev: str) -> int:
    n = 0
    for lineno, row in read_tsv(d / "DO-ICDO-anatomy.tsv", ("id", "anatomy_id", "anatomy_label")):
        if not row["anatomy_id"]:
            continue
        b.add_entity(row["anatomy_id"], "anatomy", row["anatomy_label"], SOURCE)
        b.add_edge(
            row["id"],
            "located_in",
            row["anatomy_id"],
            SOURCE,
            row["id"],
            rev,
            f"DO-ICDO-anatomy.tsv:{lineno}/anatomy_id",
            0.9,
        )
        n += 1
    return n


def _axioms(b: GraphBuilder, d: Path, rev: str) -> dict[str, int]:
    counts = {"causes": 0, "transmitted_by": 0, "inheritance": 0}
    path = d / "DO-subClassOf-anonymous.tsv"
    for lineno, row in read_tsv(path, ("ID", "LABEL", "SubClass Of [ANON]")):
        doid, inherit = row["ID"], []
        for prop, quoted, bare in _AXIOM.findall(row["SubClass Of [ANON]"]):
            target = quoted or bare
            field = f"DO-subClassOf-anonymous.tsv:{lineno}/{prop}"
            if prop == "has material basis in" and _INHERITANCE.search(target):
                inherit.append(target)
            elif prop in ("has material basis in", "transmitted by") and _is_organism(target):
                key = f"organism:{target}"
                b.add_entity(key, "organism", target.replace(" <genus>", ""), SOURCE)
                if prop == "transmitted by":
                    b.add_edge(doid, "transmitted_by", key, SOURCE, doid, rev, field, 0.9)
                    counts["transmitted_by"] += 1
                else:
                    b.add_edge(key, "causes", doid, SOURCE, doid, rev, field, 0.9)
                    counts["causes"] += 1
        if inherit:
            b.add_entity(doid, "disease", row["LABEL"], SOURCE, attrs={"inheritance": sorted(set(inherit))})
            counts["inheritance"] += 1
    return counts


def _rare_slim(b: GraphBuilder, d: Path) -> int:
    n = 0
    for t in iter_obo(d / "DO_rare_slim.obo"):
        if "id" not in t:
            continue
        xrefs = [x.replace("UMLS_CUI", "UMLS") for x in t.get("xref", ())]
        b.add_entity(
            t["id"][0],
            "disease",
            t["name"][0],
            SOURCE,
            xrefs=xrefs,
            synonyms=t.get("synonym", ()),
            rare=["do_rare_slim"] + (["orphanet"] if any(x.startswith("ORDO:") for x in xrefs) else []),
        )
        n += 1
    return n


def _dhimmel(b: GraphBuilder, d: Path) -> int:
    n = 0
    if (d / "description.tsv").is_file():
        for _, row in read_tsv(d / "description.tsv", ("disease_id", "name", "description")):
            if row["description"]:
                b.add_entity(
                    row["disease_id"],
                    "disease",
                    row["name"],
                    SOURCE,
                    attrs={"definition": row["description"]},
                )
                n += 1
    if (d / "xrefs-slim.tsv").is_file():
        for _, row in read_tsv(d / "xrefs-slim.tsv", ("doid_code", "doid_name", "resource", "resource_id")):
            b.add_entity(
                row["doid_code"],
                "disease",
                row["doid_name"],
                SOURCE,
                xrefs=[f"{row['resource']}:{row['resource_id']}"],
            )
    return n


def load(b: GraphBuilder, path: str | Path, dhimmel: str | Path | None = None) -> dict:
    d = Path(path)
    rev = file_revision(d)
    _, n_isa = _diseases(b, d, rev)
    stats = {
        "is_a": n_isa,
        "xrefs": _xrefs(b, d),
        "has_symptom": _symptoms(b, d, rev),
        "located_in": _anatomy(b, d, rev),
        "rare_slim": _rare_slim(b, d),
    }
    stats.update(_axioms(b, d, rev))
    if dhimmel:
        stats["definitions"] = _dhimmel(b, Path(dhimmel))
    return stats
