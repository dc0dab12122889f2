"""The independent re-check: for every item, recompute from the KG's Parquet files (``ParquetCheck`` in
conftest: plain Python sets, no store, no CSR, no synthesizer state) that the answer satisfies every
observed fact, that each distractor violates at least one, and that the open-world evidence recorded
for each distractor (asserted negative, pertinent negative stated in the stem, rich-profile absence)
holds, with no stated negative that the key has."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from fleming.synth.run import synthesize
from fleming.synth.templates import SynthConfig


@pytest.fixture(scope="module")
def default_items(default_kg: Path, tmp_path_factory) -> tuple[list[dict], dict]:
    out = tmp_path_factory.mktemp("synth-default")
    stats = synthesize(default_kg, 2000, SynthConfig(), seed=11, out_dir=out)
    items = [json.loads(x) for x in (out / "items.jsonl").read_text().splitlines()]
    return items, stats


def test_every_default_item_passes_the_recheck(default_items, default_check):
    items, _ = default_items
    assert len(items) == 2000
    problems = [p for it in items for p in default_check.problems(it)]
    assert problems == [], problems[:5]


def test_the_recheck_catches_a_wrong_key_and_a_consistent_distractor(default_items, default_check):
    items, _ = default_items
    diag = next(i for i in items if i["metadata"]["question_type"] == "diagnosis")
    swapped = copy.deepcopy(diag)
    extra = swapped["metadata"]["extra"]
    first = extra["distractors"][0]
    extra["answer"], extra["distractors"][0] = ({k: first[k] for k in ("id", "name", "type")},
                                                {**first, "id": extra["answer"]["id"]})
    problems = default_check.problems(swapped)
    assert any("answer" in p for p in problems) and any("distractor" in p for p in problems)
    gene = next(i for i in items if i["metadata"]["question_type"] == "diagnosis_gene")
    bad = copy.deepcopy(gene)
    bad["metadata"]["extra"]["distractors"][0]["id"] = gene["metadata"]["extra"]["answer"]["id"]
    assert default_check.problems(bad)


def test_items_are_mcq_records_with_provenance(default_items):
    from fleming.records import MCQ

    items, _ = default_items
    for it in items[:300]:
        rec = MCQ.model_validate(it)
        assert rec.source == "synthetic" and rec.split == "train" and len(rec.answer) == 1
        m = rec.metadata
        x = m.extra
        assert m.question_type == m.provenance["question_type"]
        assert x["hops"] == len(x["path"]) and x["triples"] and len(x["triples"]) >= len(x["observed"])
        assert 1 <= x["rarity"]["decile"] <= 10 and 0 <= x["rarity"]["percentile"] <= 100
        assert {"item_seed", "slot", "stem_template", "question_template", "kg_build"} <= set(m.provenance)
        assert all(d["letter"] in rec.options and d["letter"] not in rec.answer for d in x["distractors"])
        assert rec.options[rec.answer[0]] == x["answer"]["name"]
        for *_, meta in x["triples"]:
            assert meta["source"] == "hpo" and meta["record"]
        names = [n.lower() for n in rec.options.values()]
        assert len(set(names)) == len(names)


def test_stats_reconcile_and_show_the_long_tail(default_items):
    _, stats = default_items
    s = stats["steps"]
    assert stats["reconciles"] and s["in"] == s["kept"] + s["dropped"] and s["kept"] == 2000
    assert set(stats["question_types"]) <= {"diagnosis", "additional_finding", "diagnosis_gene",
                                            "allelic_disorder"}
    assert "treatment" in stats["unsupported_types"]
    r = stats["rarity_deciles"]
    assert abs(sum(r["items"].values()) - 1) < 1e-3 and abs(sum(r["uniform"].values()) - 1) < 1e-3
    assert r["rarest_30pct_items"] > 1.3 * r["rarest_30pct_uniform"]
    assert sum(stats["hops"].values()) == 2000 and set(stats["hops"]) <= {"1", "2", "3"}
    d = stats["discriminators"]
    assert abs(sum(d["distractors"].values()) - 1) < 1e-3
    assert abs(sum(d["items_by_weakest"].values()) - 1) < 1e-3
    assert set(d["by_type"]) == set(stats["question_types"])
    assert d["distractors"]["pertinent_negative"] > 0 and d["distractors"]["rich_absence"] > 0


@pytest.mark.slow
def test_five_thousand_default_items(default_kg, default_check, tmp_path):
    stats = synthesize(default_kg, 5_000, SynthConfig(), seed=0, out_dir=tmp_path, samples=20, workers=2)
    items = [json.loads(x) for x in (tmp_path / "items.jsonl").read_text().splitlines()]
    assert len(items) == 5_000 == stats["n_items"]
    assert [p for it in items for p in default_check.problems(it)] == []
    assert stats["rarity_deciles"]["rarest_30pct_ratio"] > 1.3
    assert (tmp_path / "samples.md").read_text().count("(answer)") == 20


@pytest.mark.slow
def test_shared_kg_items_of_every_supported_type(shared, tmp_path_factory, checker):
    from fleming.kg.build import build

    kg = tmp_path_factory.mktemp("synth-kg-shared")
    build(Path(__file__).resolve().parents[2] / "configs" / "kg-shared.yaml", kg)
    out = tmp_path_factory.mktemp("synth-shared")
    stats = synthesize(kg, 3000, SynthConfig(label_types=True), seed=4, out_dir=out, workers=2)
    items = [json.loads(x) for x in (out / "items.jsonl").read_text().splitlines()]
    check = checker(kg)
    assert [p for it in items for p in check.problems(it)] == []
    made = set(stats["question_types"])
    assert {"diagnosis", "diagnosis_gene", "disease_drug"} <= made
    # allelic disorders (the answer ruled out as the patient's disease by evidence that survives an
    # incomplete KG, a small gene set, a name foreign to the stem) are rare on this KG's long tail: the
    # pilot leaves them out with the reason; additional findings are off on an open KG (open_findings)
    assert "allelic_disorder" in made or "succeed" in stats["unsupported_types"]["allelic_disorder"]
    assert "open_findings" in stats["unsupported_types"]["additional_finding"]   # open KG: off by default
    assert set(stats["hops"]) <= {"1", "2", "3"}
    assert made | set(stats["unsupported_types"]) == {q.name for q in SynthConfig().question_types}
    why = stats["unsupported_types"]
    assert "sample" in why["drug_adverse_effect"] and "asserted negatives" in why["drug_class"]
    negatives = [d for it in items for d in it["metadata"]["extra"]["distractors"] if d["curated_negative"]]
    assert negatives                     # PharmacotherapyDB NOT pairs used as hard negatives
