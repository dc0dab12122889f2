"""A toy KG for the ablation-world tests: six diseases (one OMIM), seven phenotypes, three genes."""

from __future__ import annotations

from pathlib import Path

PHEN = {"HP:1": "Seizure", "HP:2": "Fever", "HP:3": "Rash", "HP:4": "Cough", "HP:5": "Short stature",
        "HP:6": "Intellectual disability", "HP:7": "Hearing impairment"}
DISEASES = {  # id: (name, phenotypes, genes)
    "ORPHA:1": ("Alpha syndrome", ["HP:1", "HP:2", "HP:3"], ["G:1"]),
    "ORPHA:2": ("Beta syndrome", ["HP:2", "HP:3", "HP:4"], ["G:1"]),
    "ORPHA:3": ("Gamma disease", ["HP:3", "HP:4", "HP:5"], ["G:2"]),
    "ORPHA:4": ("Delta disease", ["HP:1", "HP:5", "HP:6"], ["G:3"]),
    "ORPHA:5": ("Epsilon disease", ["HP:1", "HP:2", "HP:6", "HP:7"], ["G:2"]),
    "OMIM:9": ("Omega disease", ["HP:7", "HP:1", "HP:2"], ["G:3"]),
}


def toy_kg(out: Path) -> Path:
    from fleming.kg.builder import GraphBuilder
    from fleming.kg.store import save

    b = GraphBuilder()
    for k, v in PHEN.items():
        b.add_entity(k, "phenotype", v, "toy")
    b.add_edge("HP:2", "is_a", "HP:1", "toy", "hp", "1", "is_a")
    for g in ("G:1", "G:2", "G:3"):
        b.add_entity(g, "gene", f"GENE{g[2:]}", "toy")
    b.add_edge("HP:1", "associated_with", "G:1", "toy", "hp", "1", "g2p", 0.9)   # phenotype -> gene: dropped
    for did, (name, feats, genes) in DISEASES.items():
        b.add_entity(did, "disease", name, "toy", rare=["toy"])
        for f in feats:
            b.add_edge(did, "has_symptom", f, "toy", did, "1", "hpoa", 0.9, 0.5)
        for g in genes:
            b.add_edge(did, "associated_with", g, "toy", did, "1", "g2p", 0.9)
    nodes, edges, info = b.finalize()
    save(out, nodes, edges, {"info": info})
    return out
