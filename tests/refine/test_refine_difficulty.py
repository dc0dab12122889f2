"""Difficulty: empirical pass rates, KG structural features, majority votes, Cohen's kappa, the step."""

from __future__ import annotations

import pytest
from refine_helpers import mcq

from fleming.refine.difficulty import (
    RUBRIC,
    Difficulty,
    DifficultyConfig,
    cohen_kappa,
    difficulty_messages,
    empirical_label,
    kg_features,
    kg_label,
    majority,
)


def test_rubric_is_the_papers(shared):
    paper = " ".join((shared / "paper" / "fleming-r1.txt").read_text(encoding="utf-8").split())
    for phrase in ("basic medical knowledge commonly known among practitioners",
                   "detailed medical understanding or intermediate clinical reasoning",
                   "advanced or specialized knowledge, complex multi-step inference, or familiarity with "
                   "rare conditions"):
        assert phrase in paper and phrase in RUBRIC


def test_majority_breaks_ties_toward_harder():
    assert majority(["Easy", "Easy", "Difficult"]) == "Easy"
    assert majority(["Easy", "Difficult"]) == "Difficult"
    assert majority(["Moderate", "Easy", "Difficult"]) == "Difficult"
    assert majority([]) is None


@pytest.mark.parametrize("correct,k,label", [(5, 5, "Easy"), (4, 5, "Easy"), (3, 5, "Moderate"),
                                             (2, 5, "Moderate"), (1, 5, "Difficult"), (0, 5, "Difficult"),
                                             (0, 0, None)])
def test_empirical(correct, k, label):
    assert empirical_label(correct, k) == label


def test_kg_features_and_label():
    synth = {"hops": 3, "rarity": {"degree": 4, "percentile": 12.5, "decile": 2, "rare": True},
             "difficulty_features": {"hops": 3, "mean_jaccard": 0.5, "max_jaccard": 0.75}}
    assert kg_features(synth) == pytest.approx({"hops": 2 / 3, "rarity": 0.875, "distractor_similarity": 0.5})
    assert kg_label(synth) == "Difficult"  # (0.667 + 0.875 + 0.5) / 3 = 0.68
    common = {"hops": 1, "rarity": {"percentile": 95.0}, "difficulty_features": {"mean_jaccard": 0.1}}
    assert kg_label(common) == "Easy"
    assert kg_label({"hops": 2, "rarity": 0.5}) == "Moderate"  # plain numbers: (0.333 + 0.5) / 2 = 0.42
    assert kg_label({"hops": 2, "rarity": 0.5}, cuts=(0.2, 0.4)) == "Difficult"
    assert kg_label({"question_type": "diagnosis", "rarity": {"rare": True}}) is None


def test_cohen_kappa_by_hand():
    a = ["Easy", "Easy", "Moderate", "Difficult", "Difficult", "Moderate"]
    b = ["Easy", "Moderate", "Moderate", "Difficult", "Easy", "Moderate"]
    # observed agreement 4/6; marginals a: E 2, M 2, D 2; b: E 2, M 3, D 1 (of 6)
    p_o = 4 / 6
    p_e = (2 * 2 + 2 * 3 + 2 * 1) / 36
    k = cohen_kappa(a, b)
    assert k["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert k["kappa"] == round((p_o - p_e) / (1 - p_e), 4)
    assert k["agreement"] == round(p_o, 4)
    assert cohen_kappa([], [])["kappa"] is None


def test_messages_carry_rubric_question_options_and_answer():
    r = mcq("x", "Which vitamin?", ["C", "K"], answer="B")
    text = difficulty_messages(r)[0]["content"]
    assert text.startswith(RUBRIC) and "A. C\nB. K" in text and "Correct answer: B" in text


def test_step_labels_with_source_and_precedence():
    items = [mcq("lc", "Q1?", ["a", "b"], label_check={"k": 5, "correct": 5, "errors": 0, "answers": []}),
             mcq("kg", "Q2?", ["a", "b"], hops=4, rarity={"percentile": 10.0},
                 difficulty_features={"mean_jaccard": 0.8}),
             mcq("both", "Q3?", ["a", "b"], hops=1, rarity=0.0,
                 label_check={"k": 5, "correct": 4, "errors": 1, "answers": []}),
             mcq("none", "Q4?", ["a", "b"])]
    step = Difficulty(DifficultyConfig())
    out = {r.id: r for r in step.run(items)}
    assert step.stats.n_in == step.stats.n_kept == 4
    assert (out["lc"].metadata.difficulty, out["lc"].metadata.difficulty_source) == ("Easy", "empirical")
    assert (out["kg"].metadata.difficulty, out["kg"].metadata.difficulty_source) == ("Difficult", "kg")
    # 4 of the 4 trials that ran were right: Easy; empirical outranks kg
    assert out["both"].metadata.extra["difficulty_labels"] == {"empirical": "Easy", "kg": "Easy"}
    assert out["none"].metadata.difficulty is None
    assert step.stats.extra["source:none"] == 1
    assert step.agreement()["llm_vs_empirical"]["n"] == 0
