"""The numba kernel on a small hand-made KG: is_a closure, synonyms, sibling sharing, seeds, checks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fleming.kg.store import KG
from fleming.synth.kernel import REASONS
from fleming.synth.prims import first_missing, shares_key
from fleming.synth.run import Synthesizer
from fleming.synth.sampler import SynthIndex, rarity
from fleming.synth.templates import parse_config
from fleming.synth.verify import has_feature

TOY = {
    "n_options": 3, "min_options": 3, "chunk_size": 128, "max_attempts": 10, "open_findings": True,
    "question_types": {
        "diagnosis": {"anchor": "disease", "weight": 2},
        "diagnosis_gene": {"anchor": "disease", "chain": ["associated_with"], "answer": "gene"},
        "additional_finding": {"anchor": "disease", "chain": ["has_symptom|has_finding"]},
        "treatment": {"anchor": "disease", "chain": ["treated_by"]},
    },
}


@pytest.fixture(scope="module")
def toy(small_kg):
    kg = KG.load(small_kg)
    cfg = parse_config(TOY)
    return kg, cfg, Synthesizer(kg, cfg, seed=5)


def _i(kg: KG, x: str) -> int:
    return kg.index(x)


def test_observed_findings_are_closed_over_is_a(toy):
    kg, _, synth = toy
    g, fh = synth.index.graph, synth.index.plans["diagnosis"].arrays.fh
    obs = np.array([_i(kg, "HP:1"), _i(kg, "HP:3"), _i(kg, "HP:4")], dtype=np.int32)   # seizure, fever, rash
    beta, gamma = _i(kg, "OMIM:2"), _i(kg, "OMIM:3")        # Beta has *focal* seizure, Gamma no seizure
    assert first_missing(g, fh, beta, obs, 3) == -1
    assert first_missing(g, fh, gamma, obs, 3) == 0
    assert has_feature(g, fh, beta, obs[0]) and not has_feature(g, fh, gamma, obs[0])
    focal = np.array([_i(kg, "HP:2")], dtype=np.int32)     # the child term is not implied by the parent
    assert first_missing(g, fh, _i(kg, "OMIM:1"), focal, 1) == 0


def test_reordered_names_are_synonyms(toy):
    kg, _, synth = toy
    g = synth.index.graph
    # 'Familial eta dyskinesia' and 'Eta dyskinesia, familial'
    assert shares_key(g, _i(kg, "OMIM:7"), _i(kg, "OMIM:8"))
    assert not shares_key(g, _i(kg, "OMIM:3"), _i(kg, "OMIM:4"))


def test_a_numbered_subtype_and_its_series_entry_share_a_key():
    import pyarrow as pa

    from fleming.synth.names import name_keys

    names = ["Atrial fibrillation, familial, 3", "Familial atrial fibrillation",    # OMIM:607554, ORPHA:334
             "Meckel syndrome, type 7", "Meckel syndrome type 2", "Long QT syndrome 11", "Brugada syndrome 4"]
    kptr, kidx = name_keys(len(names), pa.array(names), pa.array([[]] * len(names), pa.list_(pa.string())))
    keys = [set(kidx[kptr[i]:kptr[i + 1]].tolist()) for i in range(len(names))]
    assert keys[0] & keys[1] and keys[2] & keys[3]
    assert not keys[4] & keys[5] and not keys[0] & keys[4]


def test_unsupported_type_is_reported(toy):
    _, _, synth = toy
    assert set(synth.index.plans) == {"diagnosis", "diagnosis_gene", "additional_finding"}
    assert "treated_by" in synth.index.unsupported["treatment"]
    kg, cfg, _ = toy
    default = SynthIndex(kg, parse_config({k: v for k, v in TOY.items() if k != "open_findings"}))
    assert set(default.plans) == {"diagnosis", "diagnosis_gene"}         # an open-world KG: off by default
    assert "open_findings" in default.unsupported["additional_finding"]


def test_every_item_passes_the_parquet_recheck(toy, small_kg, checker):
    kg, _, synth = toy
    check = checker(small_kg)
    items = []
    for c in range(3):
        synth.seen.clear()              # render the repeats too (known duplicates are skipped otherwise)
        items += [json.loads(r[4]) for r in synth.chunk(c) if r[4]]
    assert len(items) > 200
    assert {i["metadata"]["question_type"] for i in items} == set(synth.index.plans)
    problems = [p for it in items for p in check.problems(it)]
    assert problems == []
    dysk = {kg.id(_i(kg, "OMIM:7")), kg.id(_i(kg, "OMIM:8"))}
    for it in items:
        extra = it["metadata"]["extra"]
        ids = {extra["answer"]["id"]} | {d["id"] for d in extra["distractors"]}
        assert len(ids & dysk) <= 1, it["options"]
        assert len(set(it["options"].values())) == len(it["options"])


def test_diagnosis_distractors_share_enough_but_lack_one(toy, small_kg, checker):
    _, _, synth = toy
    check = checker(small_kg)
    items = [json.loads(r[4]) for r in synth.chunk(0) if r[4]]
    diag = [i for i in items if i["metadata"]["question_type"] == "diagnosis"]
    assert diag
    for it in diag:
        extra = it["metadata"]["extra"]
        obs = {check.index[o["id"]] for o in extra["observed"]}
        for d in extra["distractors"]:
            feats = check.features(check.index[d["id"]], ["has_symptom", "has_finding"])
            x = check.index[d["id"]]
            direct = check.step(x, "has_symptom") | check.step(x, "has_finding")
            assert len(obs & direct) == d["shared"] >= min(2, len(obs) - 1)
            assert not obs <= feats
            assert d["lacks"] in {o["id"] for o in extra["observed"]}
            assert check.index[d["lacks"]] not in feats


def test_results_depend_on_the_slot_not_the_batch(toy):
    _, _, synth = toy
    k = synth.kernel
    full = k.run("diagnosis", np.arange(0, 60), 9)
    part = k.run("diagnosis", np.arange(30, 60), 9)
    for f in ("status", "anchor", "opts", "ans_pos", "seed", "attempts", "obs"):
        assert np.array_equal(getattr(full, f)[30:], getattr(part, f)), f
    other = k.run("diagnosis", np.arange(30, 60), 10)
    assert not np.array_equal(other.seed, part.seed)


def test_failed_attempts_are_counted_by_reason(toy):
    _, _, synth = toy
    out = synth.kernel.run("additional_finding", np.arange(200), 3)
    assert (out.reasons.sum(axis=1) == out.attempts - (out.status == 0)).all()
    assert out.reasons.shape[1] == len(REASONS)


def test_long_tail_weights_and_rarity(toy):
    kg, cfg, _ = toy
    plan = SynthIndex(kg, cfg).plans["diagnosis"]
    w = np.diff(np.r_[0.0, plan.arrays.cum])
    deg = plan.degree
    assert (w[np.argsort(deg)][0] >= w[np.argsort(deg)][-1])        # lower degree, higher weight
    pct, dec = rarity(np.array([1, 1, 2, 3, 4, 5, 6, 7, 8, 9]))
    assert pct[0] == pct[1] == 10.0 and dec.tolist() == [2, 2, 3, 4, 5, 6, 7, 8, 9, 10]
