"""The ablation world: the KG slice, the stem-disjoint split, the claim sentences, chains and checker."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest
from world_helpers import DISEASES, PHEN, toy_kg

from fleming.records import MCQ, Metadata
from fleming.train.facts import World, facts, sentence
from fleming.train.world import WorldConfig, slice_kg, split_world, stem_key


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory) -> Path:
    kg = toy_kg(tmp_path_factory.mktemp("toy") / "kg")
    out = tmp_path_factory.mktemp("slice") / "kg"
    slice_kg(kg, out, WorldConfig(n_diseases=4, min_phenotypes=3, max_phenotypes=3, seed=1))
    return out


def test_claim_sentences_are_the_shared_contract():
    # the forms of /work/briefs/claims.md, typed here from the table
    assert sentence("phenotype", "Alpha syndrome", "Fever", True) == "Alpha syndrome has Fever."
    assert sentence("phenotype", "Alpha syndrome", "Cough", False) == "Alpha syndrome lacks Cough."
    assert sentence("gene", "Alpha syndrome", "GENE1", True) == "Alpha syndrome is caused by GENE1."
    assert sentence("gene", "Alpha syndrome", "GENE2", False) == "Alpha syndrome is not caused by GENE2."


def test_slice_keeps_the_chosen_diseases_and_only_their_edges(world_dir):
    from fleming.kg.store import KG

    kg = KG.load(world_dir)
    diseases = sorted(kg.name(i) for i in kg.nodes_of_type("disease"))
    # 3 phenotypes each, ORPHA only: Epsilon (4) and Omega (OMIM) are out
    assert diseases == ["Alpha syndrome", "Beta syndrome", "Delta disease", "Gamma disease"]
    assert set(kg.relations) == {"associated_with", "has_symptom"}  # no is_a, no phenotype->gene
    w = World.load(world_dir)
    assert w.has["Alpha syndrome"] == {"Seizure", "Fever", "Rash"}
    assert w.caused["Beta syndrome"] == {"GENE1"}
    assert "Hearing impairment" not in w.phenotypes  # only Epsilon and Omega had it


def test_slice_asks_for_more_diseases_than_fit(tmp_path):
    from fleming.errors import ConfigError

    kg = toy_kg(tmp_path / "kg")
    with pytest.raises(ConfigError, match="only 4 ORPHA: diseases have 3-3 phenotypes"):
        slice_kg(kg, tmp_path / "out", WorldConfig(n_diseases=5, min_phenotypes=3, max_phenotypes=3))


def test_facts_are_closed_world_true_and_negatives_are_fresh(world_dir):
    from fleming.cot.claims import ClaimChecker
    from fleming.kg.store import KG

    w = World.load(world_dir)
    checker = ClaimChecker(KG.load(world_dir))
    rng = random.Random(0)
    first, second = list(facts(w, rng)), list(facts(w, rng))
    for lines in (first, second):
        text = "\n".join(s + "." for line in lines for s in line.split(". ") if s)
        text = text.replace("..", ".")
        n = Counter(v for _, v in checker.check_text(text))    # the one claim checker, closed world
        assert n == {"true": sum(line.count(".") for line in lines)}
    negs = [{s for s in line.split(". ") if " lacks " in s or " not " in s} for line in first + second]
    assert any(negs[i] != negs[i + len(first)] for i in range(len(first)))  # drawn anew


def _item(i: int, qtype: str, observed: list[str], options: dict[str, str], answer: str,
          anchor: str = "ORPHA:1", path: list | None = None) -> MCQ:
    extra = {"observed": [{"id": k, "name": PHEN[k]} for k in observed],
             "anchor": {"id": anchor, "name": DISEASES[anchor][0]}, "hops": 1, "path": path or []}
    return MCQ(id=f"q{i}", source="synthetic", split="train", question=f"Patient {i}?", options=options,
               answer=[answer], metadata=Metadata(question_type=qtype, extra=extra))


def test_split_is_stem_disjoint_and_balanced():
    types = ["diagnosis", "additional_finding"]
    recs = []
    for i in range(400):
        obs = random.Random(i // 2 if i < 40 else i).sample(sorted(PHEN), 3)  # 20 stems shared by both types
        recs.append(_item(i, types[i % 2], obs, {"A": "Alpha syndrome", "B": "Beta syndrome"}, "A"))
    parts = split_world(recs, WorldConfig(heldout_per_type=10, validation_per_type=5, seed=3))
    assert sum(len(v) for v in parts.values()) == 400  # in = kept + dropped
    stems = {k: {stem_key(r) for r in v} for k, v in parts.items()}
    assert not stems["train"] & (stems["heldout"] | stems["validation"] | stems["dropped"])
    assert not stems["validation"] & stems["heldout"]
    for split, quota in (("heldout", 10), ("validation", 5)):
        counts = {t: sum(r.metadata.question_type == t for r in parts[split]) for t in types}
        assert counts == {t: quota for t in types}
    assert {r.split for r in parts["heldout"]} == {"heldout"}


def test_the_ablation_config_is_a_run_config_of_the_issue_size(tmp_path):
    from fleming.config import build
    from fleming.errors import ConfigError
    from fleming.pipeline.config import load_run_config

    cfg = load_run_config(Path(__file__).resolve().parents[2] / "configs" / "ablation-cpu.yaml")
    assert cfg.split.heldout_per_type * 4 >= 1000 and cfg.split.validation_per_type * 4 >= 600
    assert cfg.kg.slice is not None and cfg.base["enabled"] and cfg.eval.split == "heldout"
    with pytest.raises(ConfigError, match=r"x.yaml: world.n_options: expected a value <= 10, got 12"):
        build(WorldConfig, {"n_options": 12}, "world", "x.yaml")


def test_copy_lines_restate_each_lettered_option_in_a_true_claim(world_dir):
    from fleming.cot.claims import ClaimChecker
    from fleming.kg.store import KG
    from fleming.train.facts import copy_line

    w, rng = World.load(world_dir), random.Random(0)
    checker = ClaimChecker(KG.load(world_dir))
    for _ in range(20):
        head, body = copy_line(w, rng).split("\n")
        opts = [x.split(". ", 1)[1] for x in
                head.replace(" B. ", "|B. ").replace(" C. ", "|C. ").replace(" D. ", "|D. ").split("|")]
        assert len(opts) == 4 and body.startswith("A. ")
        assert [v for _, v in checker.check_text(body)] == ["true"] * 4
        named = [c.subject if c.subject in opts else c.obj for c in checker.claims(body)]
        assert named == opts                                     # in letter order, copied


def test_the_stream_mixes_copy_lines_at_the_asked_share(world_dir):
    from fleming.train.pretrain import FactStream

    lines = FactStream(World.load(world_dir), None, 0, True, 8, copy_share=0.25).epoch(random.Random(0))
    share = sum("\n" in x for x in lines) / len(lines)
    assert 0.2 <= share <= 0.3
