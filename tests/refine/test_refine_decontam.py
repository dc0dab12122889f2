"""Decontamination against the nine benchmarks, on the real files: 50 planted near copies of MedQA test
items in a real training pool are all removed; evaluation splits never pass; stock phrases do not."""

from __future__ import annotations

import random
import re

import pytest
from refine_helpers import mcq

from fleming.refine.decontam import DecontamConfig, Decontaminate, EvalIndex

SYNONYMS = {"man": "male", "woman": "female", "physician": "doctor", "because of": "due to",
            "shows": "reveals", "history": "hx", "emergency department": "ED"}


def perturb(r, kind: int, rng: random.Random):
    """Five kinds of near copy: spacing and option order; synonyms; every number changed; a few words
    reversed; the final question rewritten."""
    q, opts = r.question, list(r.options.values())
    if kind == 0:
        q = q.replace(" ", "  ")
        rng.shuffle(opts)
    elif kind == 1:
        for a, b in SYNONYMS.items():
            q = re.sub(rf"\b{a}\b", b, q)
    elif kind == 2:
        q = re.sub(r"\d+", lambda m: str(int(m.group()) + 1), q)
    elif kind == 3:
        words = q.split()
        for i in rng.sample(range(len(words)), max(3, len(words) // 25)):
            words[i] = words[i][::-1]
        q = " ".join(words)
    else:
        q = q.rsplit(". ", 1)[0] + ". What is the best next step?"
    return mcq(f"planted-{r.id}", q, opts, source="pool", split="train")


@pytest.fixture(scope="module")
def index(eval_sets):
    return EvalIndex(eval_sets, DecontamConfig())


def test_fifty_planted_medqa_test_copies_are_all_removed(records, index, tmp_path):
    rng = random.Random(0)
    picked = rng.sample(records("medqa"), 50)
    planted = [perturb(r, i % 5, rng) for i, r in enumerate(picked)]
    pool = records("medqa_dev") + records("medqa_train_sample") + records("pubmedqa_train")
    mixed = pool + planted
    rng.shuffle(mixed)
    step = Decontaminate(index, tmp_path / "excl.jsonl")
    kept = list(step.run(mixed))
    assert step.stats.reconciles()
    kept_ids = {r.id for r in kept}
    assert not any(r.id in kept_ids for r in planted)  # all 50 removed
    rep = step.report()
    medqa = rep["benchmarks"]["medqa"]
    assert medqa["eval_items_matched"] >= 50 and medqa["train_items_removed"] >= 50
    removed_pool = len(pool) - sum(1 for r in pool if r.id in kept_ids)
    assert removed_pool <= 0.02 * len(pool), rep  # the real pool is not gutted (rewrites, a few copies)
    by_id = {e["train_id"]: e for b in rep["benchmarks"].values() for e in b["examples"]}
    for r, p in zip(picked, planted, strict=True):  # the match names the right evaluation item
        if p.id in by_id:
            assert by_id[p.id]["eval_id"] == r.id


def test_each_rule_on_its_own(index, records):
    src = records("medqa")[10]
    short = next(r for r in records("medmcqa") if 6 <= len(r.question.split()) < 12)  # no 13-gram
    items = [
        mcq("split", "An unrelated question about nothing at all?", ["a", "b"], source="medqa", split="test"),
        mcq("ngram", src.question + " Answer briefly.", ["other", "choices", "entirely"]),
        mcq("fuzzy", short.question.upper(), list(short.options.values())[::-1]),
        mcq("clean", "Which vitamin deficiency causes scurvy in sailors on long voyages?", ["C", "D"]),
    ]
    hits = dict(zip([r.id for r in items], index.check(items), strict=True))
    assert hits["split"].rule == "eval_split" and hits["split"].benchmark == "medqa"
    assert hits["ngram"].rule == "ngram_overlap" and hits["ngram"].eval_id == src.id
    assert hits["fuzzy"].rule == "fuzzy_match" and hits["fuzzy"].eval_id == short.id
    assert hits["fuzzy"].score >= 95
    assert hits["clean"] is None


def test_stock_phrases_are_not_contamination(index):
    """The 13-word "which of the following is the most likely cause of this patient's symptoms" is in
    hundreds of MedQA items: sharing it is not contamination."""
    stem = ("A 3-day-old pet rabbit named Pip refuses carrots and hops in circles after a storm. Which of "
            "the following is the most likely cause of this patient's symptoms?")
    assert index.check([mcq("x", stem, ["Fear", "Hunger", "Vertigo"])]) == [None]


def test_report_has_every_benchmark(index, eval_sets):
    step = Decontaminate(index)
    list(step.run([mcq("a", "Which?", ["x", "y"])]))
    rep = step.report()
    assert set(rep["benchmarks"]) == set(eval_sets)
    sizes = {k: v["eval_items"] for k, v in rep["benchmarks"].items()}
    assert sizes == {k: len(v) for k, v in eval_sets.items()}
    assert rep["rules"]["ngram"] == 13 and rep["rules"]["fuzzy_ratio"] == 95
