"""Builder merge rules, stable ids, CSR queries, provenance and Parquet round trip on small graphs."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from fleming.errors import InputError
from fleming.kg.builder import GraphBuilder
from fleming.kg.schema import guess_finding_type, norm_name, resolve_relation, stable_id
from fleming.kg.store import KG, save


def _small(order: int = 0) -> GraphBuilder:
    """Alzheimer's from three sources, a drug, symptoms; ``order`` permutes the insertion order."""
    entities = [
        ("DOID:10652", "disease", "Alzheimer's disease", "do", {"xrefs": ["MESH:D000544"]}),
        ("MESH:D000544", "disease", "Alzheimer Disease", "mesh", {"synonyms": ["Alzheimer dementia"]}),
        ("OMIM:104300", "disease", "Alzheimer disease", "hpo", {"rare": ["hpo"]}),
        ("DrugBank:DB00843", "drug", "Donepezil", "pdb", {}),
        ("HP:0002354", "phenotype", "Memory impairment", "hpo", {}),
        ("HP:0000726", "phenotype", "Dementia", "hpo", {"xrefs": ["UMLS:C0497327"]}),
        ("HP:0100543", "phenotype", "Cognitive impairment", "hpo", {"xrefs": ["UMLS:C0497327"]}),
        ("wiki:Memory loss", "phenotype", "Memory impairment", "wikipedia", {"weak_types": ("phenotype",)}),
    ]
    if order:
        entities = entities[::-1]
    b = GraphBuilder()
    for key, t, name, src, kw in entities:
        b.add_entity(key, t, name, src, **kw)
    b.add_edge("DrugBank:DB00843", "treats", "DOID:10652", "pdb", "r1", "v1", "indications.tsv/category", 0.9)
    b.add_edge("DrugBank:DB00843", "treats", "MESH:D000544", "x", "r2", "v2", "f", 0.5)
    b.add_edges(
        ["OMIM:104300", "OMIM:104300"],
        "has_symptom",
        ["HP:0002354", "HP:0000726"],
        "hpo",
        ["OMIM:104300|PMID:1", "OMIM:104300|PMID:2"],
        "2025-01-16",
        "phenotype.hpoa/hpo_id",
        0.95,
        np.array([0.8, math.nan]),
    )
    b.add_edge("OMIM:104300", "treats", "HP:0002354", "bad")  # disease cannot treat
    b.add_edge("MESH:D000544", "differential_of", "DOID:10652", "x")  # same entity after merging
    b.add_edge("HP:0000726", "differential_of", "HP:0002354", "x")
    b.add_edge("HP:0002354", "differential_of", "HP:0000726", "y")  # the same symmetric pair again
    b.add_edge("nowhere:1", "is_a", "HP:0000726", "x")
    return b


@pytest.fixture()
def small_kg(tmp_path) -> KG:
    nodes, edges, info = _small().finalize()
    save(tmp_path, nodes, edges, info)
    return KG.load(tmp_path)


def test_merges_by_xref_and_name_but_keeps_distinct_ontology_terms(small_kg):
    b = _small()
    nodes, _, info = b.finalize()
    ids = nodes.column("id").to_pylist()
    assert "DOID:10652" in ids and "MESH:D000544" not in ids and "OMIM:104300" not in ids
    # DOID+MeSH by xref, OMIM by name, the wiki link joined HP:0002354 by name
    assert info["merges_cross_source"] == {"xref:MESH": 1, "name": 1, "weak": 1}
    assert info["merges_refused"]["xref:UMLS"] == 1  # two HP terms share a UMLS id
    assert {"HP:0000726", "HP:0100543"} <= set(ids)
    row = small_kg.node(small_kg.index("DOID:10652"))
    assert row["name"] == "Alzheimer's disease" and row["rare"] and row["rare_flags"] == "hpo"
    assert set(row["sources"]) == {"do", "mesh", "hpo"}
    assert {"Alzheimer dementia", "Alzheimer Disease"} <= set(row["synonyms"])


def test_ids_do_not_depend_on_insertion_order():
    a = _small(0).finalize()
    b = _small(1).finalize()
    assert a[0].column("id").to_pylist() == b[0].column("id").to_pylist()
    assert a[1].select(["src", "dst", "relation"]).equals(b[1].select(["src", "dst", "relation"]))


def test_csr_queries_both_directions_inverse_and_symmetric(small_kg):
    kg = small_kg
    ad, drug = kg.index("DOID:10652"), kg.index("DRUGBANK:DB00843")
    mem, dem = kg.index("HP:0002354"), kg.index("HP:0000726")
    assert kg.neighbors(drug, "treats").tolist() == [ad]
    assert kg.neighbors(ad, "treated_by").tolist() == [drug]
    assert kg.neighbors(ad, "has_symptom").tolist() == sorted([mem, dem])
    assert kg.neighbors(mem, "symptom_of").tolist() == [ad]
    assert kg.neighbors(mem, "differential_of").tolist() == [dem]
    assert kg.neighbors(dem, "differential_of").tolist() == [mem]
    assert kg.has_edge(ad, "has_symptom", mem) and not kg.has_edge(mem, "has_symptom", ad)
    nb, eids = kg.neighbor_edges(ad, "has_symptom")
    freq = dict(zip(nb.tolist(), kg.frequency[eids].tolist(), strict=True))
    assert freq[mem] == pytest.approx(0.8) and math.isnan(freq[dem])
    assert kg.type(ad) == "disease" and kg.nodes_of_type("drug").tolist() == [drug]
    assert len(kg.neighbors(ad, "resembles")) == 0


def test_edge_dedup_provenance_and_drops(small_kg):
    kg = small_kg
    ad, drug = kg.index("DOID:10652"), kg.index("DRUGBANK:DB00843")
    _, eids = kg.neighbor_edges(drug, "treats")
    p = kg.provenance(int(eids[0]))
    assert (p["source"], p["record"], p["revision"], p["field"]) == (
        "pdb",
        "r1",
        "v1",
        "indications.tsv/category",
    )
    assert p["sources"] == "pdb|x" and p["support"] == 2 and p["confidence"] == pytest.approx(0.9)
    assert p["src_id"] == "DRUGBANK:DB00843" and p["dst_id"] == "DOID:10652"
    sym = kg.edge_table.filter(pa.compute.equal(kg.edge_table["relation"], "differential_of")).to_pylist()
    assert len(sym) == 1 and sym[0]["support"] == 2 and sym[0]["src"] < sym[0]["dst"]
    info = _small().finalize()[2]
    assert info["edges_dropped"] == {"domain of treats": 1, "self loop": 1, "unknown endpoint": 1}
    del ad


def test_long_tail_weights_and_degree(small_kg):
    kg = small_kg
    d = kg.nodes_of_type("phenotype")
    w = kg.long_tail_weights(d, alpha=1.0)
    deg = kg.degree()[d]
    assert w.sum() == pytest.approx(1.0)
    assert deg.max() > deg.min()
    assert w[deg.argmin()] / w[deg.argmax()] == pytest.approx((deg.max() + 1) / (deg.min() + 1))


def test_load_sorts_foreign_edge_order_and_checks_files(small_kg, tmp_path):
    import pyarrow.parquet as pq

    shuffled = small_kg.edge_table.take(pa.array(np.arange(small_kg.n_edges)[::-1]))
    out = tmp_path / "foreign"
    out.mkdir()
    pq.write_table(shuffled, out / "edges.parquet")
    pq.write_table(small_kg.node_table, out / "nodes.parquet")
    kg2 = KG.load(out)
    for rel in small_kg.relations:
        assert (kg2.csr(rel).indices == small_kg.csr(rel).indices).all()
    with pytest.raises(InputError, match="nodes.parquet"):
        KG.load(tmp_path / "absent")


def test_schema_helpers():
    assert resolve_relation("treated_by") == ("treats", "in")
    assert resolve_relation("has_symptom") == ("has_symptom", "out")
    with pytest.raises(KeyError):
        resolve_relation("cures")
    assert stable_id("disease", ["MESH:D1", "OMIM:2", "DOID:9"], "x") == "DOID:9"
    assert stable_id("procedure", [], "Speech  Therapy!") == "procedure:speech therapy"
    assert norm_name("Sjögren's syndrome") == "sjogren s syndrome"
    assert guess_finding_type("Increased serum creatinine") == "lab"
    assert guess_finding_type("Cerebral atrophy on MRI") == "imaging"
    assert guess_finding_type("Seizure") == "phenotype"
