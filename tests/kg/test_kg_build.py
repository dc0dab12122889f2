"""Importers on the real data, `fleming kg build` / `stats` with both configs, and the scale-up."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from fleming.cli import build_app
from fleming.errors import ConfigError
from fleming.kg.build import build, load_config
from fleming.kg.builder import GraphBuilder
from fleming.kg.importers import hpo, pharmacotherapydb
from fleming.kg.scaleup import scale_up
from fleming.kg.store import KG, save

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def default_kg(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("kg-default")
    res = CliRunner().invoke(
        build_app(), ["kg", "build", str(ROOT / "configs/kg-default.yaml"), "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture(scope="session")
def shared_kg(kg_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("kg-shared")
    build(ROOT / "configs/kg-shared.yaml", out)
    return out


def test_hpo_frequencies_and_onset(default_kg):
    kg = KG.load(default_kg)
    marfan = kg.lookup("OMIM:154700")  # Marfan syndrome (merged with ORPHA:558)
    assert kg.id(marfan) == "ORPHA:558" and kg.lookup("ORPHA:558") == marfan
    nb, eids = kg.neighbor_edges(marfan, "has_symptom")
    ids = {kg.id(j): f for j, f in zip(nb.tolist(), kg.frequency[eids].tolist(), strict=True)}
    assert "HP:0001166" in ids  # Arachnodactyly
    f = np.array([v for v in ids.values() if not math.isnan(v)])
    assert len(f) > 5 and ((f > 0) & (f <= 1)).all()
    assert kg.rare[marfan] and kg.type(marfan) == "disease"
    with_onset = sum(1 for i in kg.nodes_of_type("disease")[:3000] if "onset" in kg.attrs(i))
    assert with_onset > 300
    assert kg.type(kg.index("HP:0001166")) == "phenotype"


def test_default_build_counts(default_kg):
    meta = json.loads((default_kg / "meta.json").read_text())
    hpo_stats = meta["sources"][0]["stats"]
    assert hpo_stats["diseases"] == 12687 and hpo_stats["phenotypes"] > 18000
    assert hpo_stats["has_symptom"] + hpo_stats["has_finding"] > 250_000
    res = CliRunner().invoke(build_app(), ["kg", "stats", str(default_kg), "--json"])
    assert res.exit_code == 0, res.output
    s = json.loads(res.output)
    assert s["entities"] == meta["entities"] and s["relations"] == meta["edges"]
    assert s["entities_by_type"]["disease"] > 11_000
    assert 0.5 < s["long_tail"]["share"] < 1 and s["provenance"]["edges_by_best_source"] == {
        "hpo": s["relations"]
    }
    assert Path(s["degree"]["png"]).read_bytes()[:4] == b"\x89PNG"


def test_hpo_reads_the_gzipped_shared_copy_the_same(kg_dir):
    b = GraphBuilder()
    stats = hpo.load(b, kg_dir / "hpo", genes=False)
    assert stats["diseases"] == 12687 and stats["release"] == "hp/releases/2025-01-16"


def test_pharmacotherapydb_not_pairs_become_not_indicated_for(kg_dir, tmp_path):
    b = GraphBuilder()
    assert pharmacotherapydb.load(b, kg_dir / "pharmacotherapydb") == {
        "treats": 755,
        "palliates": 390,
        "not_indicated_for": 243,
    }
    nodes, edges, _ = b.finalize()
    save(tmp_path, nodes, edges)
    kg = KG.load(tmp_path)
    assert len(kg.csr("not_indicated_for").indices) == 243


@pytest.mark.slow
def test_shared_build_exceeds_100k_entities_with_cross_source_merges(shared_kg):
    meta = json.loads((shared_kg / "meta.json").read_text())
    assert meta["entities"] > 100_000
    merges = meta["merges_cross_source"]
    assert merges["xref:OMIM"] > 1000 and merges["xref:MESH"] > 1000 and merges["key:DRUGBANK"] > 1000
    kg = KG.load(shared_kg)
    ad = kg.index("DOID:10652")
    assert {"Donepezil", "Galantamine", "Memantine"} <= {kg.name(j) for j in kg.neighbors(ad, "treated_by")}
    assert {"hpo", "disease_ontology", "hetionet", "pharmacotherapydb"} <= set(kg.node(ad)["sources"])
    autism = kg.index("DOID:12849")  # DO, HPO (OMIM:209850), MeSH, Wikipedia merged
    assert {"schizophrenia", "Reactive Attachment Disorder"} <= {
        kg.name(j) for j in kg.neighbors(autism, "differential_of")
    }
    assert "wikipedia" in kg.node(autism)["sources"] and "OMIM:209850" in kg.node(autism)["xrefs"]
    drug = kg.index("DRUGBANK:DB17472")
    assert [kg.name(j) for j in kg.neighbors(drug, "in_class")] == ["Protein kinase inhibitor"]


def test_config_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources:\n  - {kind: nope, path: x}\n")
    with pytest.raises(ConfigError, match=r"sources\[0\]"):
        load_config(bad)
    missing = tmp_path / "m.yaml"
    missing.write_text("sources:\n  - {kind: hetionet, path: /no/such/dir}\n")
    with pytest.raises(ConfigError, match="does not exist"):
        build(missing)


def test_scale_up_keeps_the_degree_distribution(default_kg):
    kg = KG.load(default_kg)
    nodes, edges = scale_up(kg, n_nodes=2 * kg.n_nodes, n_edges=2 * kg.n_edges, seed=3)
    assert nodes.num_rows == 2 * kg.n_nodes
    assert 1.8 * kg.n_edges < edges.num_rows <= 2.05 * kg.n_edges
    syn = KG.from_arrow(nodes, edges)
    for rel in ("has_symptom", "symptom_of"):
        real, fake = kg.csr(rel).degree(), syn.csr(rel).degree()
        real, fake = real[real > 0], fake[fake > 0]
        q = [0.5, 0.9, 0.99]
        assert np.allclose(np.quantile(fake, q), np.quantile(real, q), rtol=0.35, atol=2), rel
    again = scale_up(kg, n_nodes=2 * kg.n_nodes, n_edges=2 * kg.n_edges, seed=3)[1]
    assert again.column("dst").equals(edges.column("dst"))
