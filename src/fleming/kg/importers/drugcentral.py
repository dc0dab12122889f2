"""DrugCentral (dhimmel/drugcentral rephetio export): drug classes and targets.

classes.tsv + drug-to-class.tsv: FDA 'Mechanism of Action' classes -> has_mechanism; every other class
(FDA established pharmacologic class, physiologic effect, chemical/ingredient, MeSH pharmacological
action, ChEBI application) -> in_class. targets.tsv: drug -> gene (targets), the action (inhibitor,
agonist, ...) kept in the provenance record. indications.tsv is PharmacotherapyDB's DM/SYM subset and
is not imported again.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from fleming.kg.builder import GraphBuilder
from fleming.kg.importers.common import file_revision, read_tsv

SOURCE = "drugcentral"
PREFIX = {"FDA": "NDFRT", "MeSH": "MESH", "CHEBI": None}


def class_key(class_id: str, source: str) -> str:
    """'N0000175655' (FDA) -> 'NDFRT:N0000175655'; 'D000970' (MeSH) -> 'MESH:D000970'; CHEBI ids as is."""
    p = PREFIX.get(source)
    return f"{p}:{class_id}" if p and ":" not in class_id else class_id


def load(b: GraphBuilder, path: str | Path) -> dict:
    d = Path(path)
    rev = file_revision(d)
    counts: Counter = Counter()
    classes: dict[str, tuple[str, str]] = {}
    for _, row in read_tsv(d / "classes.tsv", ("class_id", "class_name", "class_source", "class_type")):
        key = class_key(row["class_id"], row["class_source"])
        classes[row["class_id"]] = (key, row["class_type"])
        b.add_entity(key, "drug_class", row["class_name"], SOURCE, attrs={"class_type": row["class_type"]})
        counts["classes"] += 1
    for lineno, row in read_tsv(d / "drug-to-class.tsv", ("drugbank_id", "drugbank_name", "class_id")):
        drug = f"DrugBank:{row['drugbank_id']}"
        b.add_entity(drug, "drug", row["drugbank_name"], SOURCE)
        key, ctype = classes.get(row["class_id"], (row["class_id"], ""))
        rel = "has_mechanism" if ctype == "Mechanism of Action" else "in_class"
        b.add_edge(
            drug,
            rel,
            key,
            SOURCE,
            f"{row['drugbank_id']}|{row['class_id']}",
            rev,
            f"drug-to-class.tsv:{lineno}/class_id",
            0.9,
        )
        counts[rel] += 1
    for lineno, row in read_tsv(d / "targets.tsv", ("GeneID", "drugbank_id", "drugbank_name", "actions")):
        drug = f"DrugBank:{row['drugbank_id']}"
        b.add_entity(drug, "drug", row["drugbank_name"], SOURCE)
        b.add_edge(
            drug,
            "targets",
            f"NCBIGene:{row['GeneID']}",
            SOURCE,
            f"{row['drugbank_id']}|{row['GeneID']}|{row['actions'] or 'unknown action'}",
            rev,
            f"targets.tsv:{lineno}/GeneID",
            0.9,
        )
        counts["targets"] += 1
    return dict(counts)
