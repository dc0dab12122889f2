"""CoT test helpers: a hand-made KG (findings with an is_a pair, genes, a drug with an indication and a
curated non-indication) and synthetic-style items over it, their ``metadata.extra`` shaped as
``fleming synth`` stores it (observed, anchor, answer, path, distractors with what they lack)."""

from __future__ import annotations

from pathlib import Path

from fleming.records import MCQ

FINDINGS = {
    "HP:1": "Seizure",
    "HP:2": "Focal seizure",
    "HP:3": "Fever",
    "HP:4": "Rash",
    "HP:5": "Cough",
    "HP:6": "Short stature",
}
DISEASES = {  # id: (name, findings, genes)
    "OMIM:1": ("Alpha syndrome", ["HP:1", "HP:3", "HP:4", "HP:5"], ["G:1"]),
    "OMIM:2": ("Beta syndrome", ["HP:2", "HP:3", "HP:4"], ["G:2"]),
    "OMIM:3": ("Gamma disease", ["HP:3", "HP:4", "HP:6"], ["G:3"]),
    "OMIM:4": ("Delta disease", ["HP:3", "HP:5"], []),
}


def build_kg(out: Path) -> Path:
    from fleming.kg.builder import GraphBuilder
    from fleming.kg.store import save

    b = GraphBuilder()
    for k, v in FINDINGS.items():
        b.add_entity(k, "phenotype", v, "toy")
    b.add_edge("HP:2", "is_a", "HP:1", "toy", "hp", "1", "is_a")
    for g in ("G:1", "G:2", "G:3"):
        b.add_entity(g, "gene", f"GENE{g[2:]}", "toy")
    for did, (name, feats, genes) in DISEASES.items():
        b.add_entity(did, "disease", name, "toy")
        for f in feats:
            b.add_edge(did, "has_symptom", f, "toy", did, "1", "hpoa", 0.9, 0.5)
        for g in genes:
            b.add_edge(did, "associated_with", g, "toy", did, "1", "g2p", 0.9)
    b.add_entity("DB:1", "drug", "Drugamine", "toy")
    b.add_edge("DB:1", "treats", "OMIM:1", "toy", "x", "1", "indication")
    b.add_edge("DB:1", "not_indicated_for", "OMIM:2", "toy", "x", "1", "not")
    nodes, edges, info = b.finalize()
    save(out, nodes, edges, {"info": info})
    return out


def diagnosis_item(i: int = 0, kg: str | None = None) -> MCQ:
    """'Seizure, fever, rash, cough: which condition?' -> Alpha syndrome; each distractor lacks a finding."""
    obs = [{"id": f, "name": FINDINGS[f], "type": "phenotype"} for f in ("HP:1", "HP:3", "HP:5")]
    alpha = {"id": "OMIM:1", "name": "Alpha syndrome", "type": "disease"}
    distractors = [
        {
            "id": "OMIM:2",
            "name": "Beta syndrome",
            "type": "disease",
            "letter": "A",
            "via": "OMIM:2",
            "lacks": "HP:5",
        },
        {
            "id": "OMIM:3",
            "name": "Gamma disease",
            "type": "disease",
            "letter": "C",
            "via": "OMIM:3",
            "lacks": "HP:1",
        },
        {
            "id": "OMIM:4",
            "name": "Delta disease",
            "type": "disease",
            "letter": "D",
            "via": "OMIM:4",
            "lacks": "HP:1",
        },
    ]
    extra = {
        "anchor": {**alpha, "masked": True},
        "answer": alpha,
        "observed": obs,
        "distractors": distractors,
        "path": [{"from": [o["id"] for o in obs], "relation": "has_symptom|has_finding", "to": "OMIM:1"}],
    }
    return MCQ(
        id=f"item-{i}",
        source="synthetic",
        split="train",
        question=f"Patient {i} has seizure, fever and cough. Which condition best explains these findings?",
        options={"A": "Beta syndrome", "B": "Alpha syndrome", "C": "Gamma disease", "D": "Delta disease"},
        answer=["B"],
        metadata={"extra": extra, "provenance": {"kg": kg} if kg else {}},
    )
