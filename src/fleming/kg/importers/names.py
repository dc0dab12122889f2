"""Drug and disease name dictionaries (fastdatascience-ner export: DrugBank open vocabulary, MeSH,
MedlinePlus): entities with synonyms, so that other sources' names and Wikipedia links find them.

drugs.tsv: one drug per row (DrugBank id, else MeSH id), xrefs MeSH / MedlinePlus, '|'-separated
synonyms. diseases_mesh.tsv: MeSH disease descriptors; one whose every tree number lies under C23
(pathological conditions, signs and symptoms) is a phenotype, the rest diseases. No edges.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from fleming.kg.builder import GraphBuilder
from fleming.kg.importers.common import find_file, read_tsv

SOURCE = "names"


def _split(s: str) -> list[str]:
    return [x for x in s.split("|") if x]


def load_drugs(b: GraphBuilder, path: Path) -> int:
    """Drug rows. A MeSH id shared by several rows is a broad heading (e.g. 'Immunologic Factors' on
    many antibodies), not an identity: it is kept only on the row it names alone."""
    cols = ("canonical", "name", "drugbank_id", "mesh_id", "medline_plus_id", "synonyms")
    rows = [row for _, row in read_tsv(path, cols)]
    mesh_count = Counter(r["mesh_id"] for r in rows if r["mesh_id"])
    for row in rows:
        if mesh_count[row["mesh_id"]] > 1 and row["drugbank_id"]:
            row["mesh_id"] = ""
        xrefs = [f"MESH:{row['mesh_id']}"] if row["mesh_id"] else []
        if row["medline_plus_id"]:
            xrefs.append(f"MEDLINEPLUS:{row['medline_plus_id']}")
        key = f"DrugBank:{row['drugbank_id']}" if row["drugbank_id"] else (xrefs[0] if xrefs else None)
        if key is None:
            key = f"drug:{row['canonical']}"
        b.add_entity(key, "drug", row["name"], SOURCE, xrefs=xrefs, synonyms=_split(row["synonyms"]))
    return len(rows)


def load_diseases(b: GraphBuilder, path: Path) -> Counter:
    counts: Counter = Counter()
    for _, row in read_tsv(path, ("canonical", "name", "mesh_id", "mesh_tree_numbers", "synonyms")):
        trees = _split(row["mesh_tree_numbers"])
        etype = "phenotype" if trees and all(t.startswith("C23") for t in trees) else "disease"
        b.add_entity(
            f"MESH:{row['mesh_id']}",
            etype,
            row["name"],
            SOURCE,
            synonyms=_split(row["synonyms"]),
            attrs={"mesh_tree": trees} if trees else None,
        )
        counts[etype] += 1
    return counts


def load(b: GraphBuilder, path: str | Path) -> dict:
    d = Path(path)
    stats = {"drugs": load_drugs(b, find_file(d, "drugs.tsv"))}
    stats.update(load_diseases(b, find_file(d, "diseases_mesh.tsv")))
    return stats
