"""Mixing: proportions by source group and difficulty, the largest feasible total, shortfalls explained,
seeded selection, reconciled counts."""

from __future__ import annotations

from collections import Counter

import pytest
from refine_helpers import mcq

from fleming.errors import ConfigError
from fleming.refine.mix import Mix, MixConfig, largest_remainder


def pool():
    items = []
    for i in range(120):
        r = mcq(f"p{i}", f"Public question {i}?", ["a", "b"], source="medqa")
        items.append(r.model_copy(update={"metadata": r.metadata.model_copy(
            update={"difficulty": ["Easy", "Moderate", "Difficult"][i % 3]})}))
    for i in range(60):
        r = mcq(f"s{i}", f"Synthetic question {i}?", ["a", "b"], source="synthetic")
        items.append(r.model_copy(update={"metadata": r.metadata.model_copy(
            update={"difficulty": ["Easy", "Difficult"][i % 2]})}))
    return items


def run(**cfg):
    step = Mix(MixConfig(**cfg))
    out = list(step.run(pool()))
    assert step.stats.reconciles() and step.stats.n_in == 180
    return out, step


def test_largest_total_the_proportions_allow():
    out, step = run(source={"public": 0.5, "synthetic": 0.5})
    assert Counter(r.source for r in out) == {"medqa": 60, "synthetic": 60}
    assert step.report["total_asked"] == 120 and step.report["short"] == []
    assert "synthetic" in step.report["limited_by"]
    assert dict(step.stats.dropped) == {"not_selected": 60}


def test_asked_total_with_shortfall_is_explained():
    out, step = run(total=150, source={"public": 0.4, "synthetic": 0.6})
    assert Counter(r.source for r in out) == {"medqa": 60, "synthetic": 60}
    assert step.report["short"] == [{"cell": "synthetic", "asked": 90, "achieved": 60, "missing": 30,
                                     "why": "only 60 items available in this cell after refinement"}]


def test_by_difficulty_too():
    out, step = run(total=60, source={"public": 0.5, "synthetic": 0.5},
                    difficulty={"Easy": 0.5, "Moderate": 0.0, "Difficult": 0.5})
    got = Counter((r.source, r.metadata.difficulty) for r in out)
    assert got == {("medqa", "Easy"): 15, ("medqa", "Difficult"): 15, ("synthetic", "Easy"): 15,
                   ("synthetic", "Difficult"): 15}
    assert step.report["not_in_any_cell"] == {"public/Moderate": 40}


def test_seeded():
    a = [r.id for r in run(total=50, seed=1)[0]]
    assert a == [r.id for r in run(total=50, seed=1)[0]]
    assert a != [r.id for r in run(total=50, seed=2)[0]]


def test_bad_proportions_are_config_errors():
    with pytest.raises(ConfigError, match="sum to 1"):
        Mix(MixConfig(source={"public": 0.7, "synthetic": 0.7}))


def test_largest_remainder_sums_to_total():
    counts = largest_remainder(7, {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3})
    assert sum(counts.values()) == 7 and sorted(counts.values()) == [2, 2, 3]


def test_by_question_type_with_a_short_type():
    items = []
    for i, t in enumerate(["a"] * 90 + ["b"] * 30 + ["c"] * 5):
        r = mcq(f"s{i}", f"Synthetic question {i}?", ["a", "b"], source="synthetic")
        items.append(r.model_copy(update={"metadata": r.metadata.model_copy(update={"question_type": t})}))
    step = Mix(MixConfig(total=40, source={"synthetic": 1.0},
                         question_types={"a": 0.5, "b": 0.25, "c": 0.25}))
    out = list(step.run(items))
    assert step.stats.reconciles()
    assert Counter(r.metadata.question_type for r in out) == {"a": 20, "b": 10, "c": 5}
    assert step.report["short"][0]["cell"] == "synthetic/c" and step.report["short"][0]["missing"] == 5
