"""Dedup inside the pool: exact and near copies (MinHash LSH), best provenance kept, copies named."""

from __future__ import annotations

import json

import pytest
from refine_helpers import mcq

from fleming.refine.dedup import Dedup, DedupConfig, source_rank

STEM = ("A 34-year-old woman comes to the physician because of fatigue, weight gain and cold intolerance "
        "for the past six months. Her pulse is 54/min and her skin is dry and coarse. Serum thyroid "
        "stimulating hormone is markedly elevated. Which of the following is the most likely cause?")
OPTS = ["Hashimoto thyroiditis", "Graves disease", "Subacute thyroiditis", "Iodine excess"]


def run(items, exclusion=None, **cfg):
    step = Dedup(DedupConfig(**cfg), exclusion)
    kept = list(step.run(items))
    assert step.stats.reconciles()
    return kept, step


def test_exact_copy_with_shuffled_options_and_spacing(tmp_path):
    a = mcq("a", STEM, OPTS, source="medqa")
    b = mcq("b", "  " + STEM.replace(" ", "  "), OPTS[::-1], answer="D", source="synthetic")
    excl = tmp_path / "dedup.jsonl"
    kept, step = run([b, a], excl)
    assert [r.id for r in kept] == ["a"]  # medqa outranks synthetic whatever the input order
    line = json.loads(excl.read_text())
    assert line["reason"] == "exact_duplicate"
    dup = line["record"]["metadata"]["extra"]["duplicate_of"]
    assert dup == {"id": "a", "source": "medqa", "jaccard": 1.0}
    assert step.clusters == [{"kept": "a", "dropped": ["b"]}]


def test_near_copy_dropped_and_unrelated_kept():
    near = STEM.replace("coarse", "rough")
    other = mcq("c", "Which enzyme is deficient in classic phenylketonuria?", ["PAH", "Tyrosinase", "HGD"])
    kept, step = run([mcq("a", STEM, OPTS), mcq("b", near, OPTS), other])
    assert [r.id for r in kept] == ["a", "c"]
    assert dict(step.stats.dropped) == {"near_duplicate": 1}


def test_threshold_is_configurable():
    words = STEM.split()
    half = " ".join(w if i % 8 else "x" + w for i, w in enumerate(words))  # 1 word in 8 changed: J ~ 0.45
    pair = [mcq("a", STEM, OPTS), mcq("b", half, OPTS)]
    assert len(run(pair, threshold=0.8)[0]) == 2
    assert len(run(pair, threshold=0.3)[0]) == 1


def test_label_conflicts_are_counted():
    _, step = run([mcq("a", STEM, OPTS, answer="A"), mcq("b", STEM, OPTS, answer="B")])
    assert step.stats.extra["label_conflicts"] == 1


def test_source_rank():
    prio = ["medqa", "medmcqa", "synthetic"]
    assert [source_rank(s, prio) for s in ("medqa", "synthetic-kg", "careqa")] == [0, 2, 3]


@pytest.mark.parametrize("num_perm", [128])
def test_real_medqa_dev_4_and_5_option_forms_collapse(records, num_perm):
    """The 5-option dev file repeats the 4-option items with one more distractor: 1268 of the 1272 pairs
    have a MinHash Jaccard >= 0.8 (the other 4 are short stems with a long added option); nearly all of
    them must be found, each 5-option item dropped as a copy of the 4-option item of the same row."""
    four, five = records("medqa_dev"), records("medqa_dev_5opt")
    kept, step = run(five + four, num_perm=num_perm)  # 5-option first: ties keep the earlier input
    assert step.stats.n_in == 2544
    ids = {r.id for r in kept}
    merged = sum(1 for c in step.clusters if len(c["dropped"]) == 1)
    assert merged >= 1260, step.stats.to_dict()
    same_row = sum(1 for c in step.clusters
                   if c["kept"].rsplit("-", 1)[1] == c["dropped"][0].rsplit("-", 1)[1])
    assert same_row >= 1260
    assert len(ids) <= 2544 - 1260
