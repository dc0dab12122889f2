"""PharmacotherapyDB v1.0: physician-curated drug-disease pairs.

indications.tsv categories: DM (disease modifying) -> treats, SYM (symptomatic) -> palliates, NOT
(non-indication) -> not_indicated_for: ready hard negatives for distractors. Drugs are DrugBank ids,
diseases DOIDs; confidence grows with the number of curators (1 -> 0.85, 2+ -> 0.95).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from fleming.errors import InputError
from fleming.kg.builder import GraphBuilder
from fleming.kg.importers.common import file_revision, read_tsv

SOURCE = "pharmacotherapydb"
CATEGORY = {"DM": "treats", "SYM": "palliates", "NOT": "not_indicated_for"}


def load(b: GraphBuilder, path: str | Path) -> dict:
    d = Path(path)
    rev = file_revision(d)
    counts: Counter = Counter()
    path = d / "indications.tsv"
    cols = ("doid_id", "drugbank_id", "disease", "drug", "category", "n_curators")
    for lineno, row in read_tsv(path, cols):
        rel = CATEGORY.get(row["category"])
        if rel is None:
            raise InputError(
                path, lineno, "category", f"expected one of {sorted(CATEGORY)}, got {row['category']!r}"
            )
        drug, disease = f"DrugBank:{row['drugbank_id']}", row["doid_id"]
        b.add_entity(drug, "drug", row["drug"], SOURCE)
        b.add_entity(disease, "disease", row["disease"], SOURCE)
        conf = 0.95 if int(row["n_curators"] or 1) >= 2 else 0.85
        b.add_edge(
            drug,
            rel,
            disease,
            SOURCE,
            f"{row['drugbank_id']}|{disease}",
            rev,
            f"indications.tsv:{lineno}/category={row['category']}",
            conf,
        )
        counts[rel] += 1
    return dict(counts)
