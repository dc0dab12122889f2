"""Format filter: raw rows -> records with failures counted by field; ftfy repairs; checks calibrated
on the real benchmark files."""

from __future__ import annotations

import json

import ftfy
import pytest
from refine_helpers import mcq

from fleming.refine.format import FormatConfig, FormatFilter, Validate, fix_text, needs_repair

GOOD = {"id": "r1", "source": "raw", "split": "train", "question": "Which vitamin is fat-soluble?",
        "options": {"A": "Vitamin C", "B": "Vitamin K"}, "answer": ["B"]}


@pytest.mark.parametrize("change,reason", [
    ({"options": {"A": "only one"}, "answer": ["A"]}, "option_count_out_of_range"),
    ({"answer": ["E"]}, "answer_not_in_options"),
    ({"answer": []}, "missing_answer"),
    ({"question": "   "}, "empty_question"),
    ({"options": {"B": "x", "C": "y"}, "answer": ["B"]}, "bad_option_letters"),
    ({"question": None}, "invalid_question"),
    ({"unexpected": 1}, "invalid_unexpected"),
])
def test_validate_counts_failures_by_field(tmp_path, change, reason):
    row = {**GOOD, **change}
    excl = tmp_path / "excl.jsonl"
    step = Validate(exclusion_path=excl)
    assert list(step.run([row])) == []
    assert dict(step.stats.dropped) == {reason: 1} and step.stats.reconciles()
    line = json.loads(excl.read_text())
    assert line["reason"] == reason and line["record"]["id"] == "r1"


def test_validate_missing_field_and_flat_rows_and_unreadable_lines():
    missing = {k: v for k, v in GOOD.items() if k != "question"}
    flat = {**GOOD, "id": "r2", "options": ["Vitamin C", "Vitamin K"], "metadata": "{}"}
    broken = {"__error__": "malformed_json", "line": 7}
    step = Validate()
    kept = list(step.run([GOOD, missing, flat, broken]))
    assert [r.id for r in kept] == ["r1", "r2"] and kept[1].options == {"A": "Vitamin C", "B": "Vitamin K"}
    assert dict(step.stats.dropped) == {"missing_question": 1, "malformed_json": 1}
    assert step.stats.n_in == 4 and step.stats.reconciles()


def run_filter(items, **cfg):
    f = FormatFilter(FormatConfig(**cfg))
    kept = list(f.run(items))
    assert f.stats.reconciles()
    return kept, f.stats


def test_ftfy_repairs_are_kept_and_counted():
    mojibake = "Which drug causes cafÃ© au lait spots?"
    kept, stats = run_filter([mcq("m", mojibake, ["inﬂiximab", "none"])])
    assert kept[0].question == "Which drug causes café au lait spots?"
    assert kept[0].options["A"] == "infliximab"
    assert stats.extra == {"records_repaired": 1, "fixed:mojibake": 1, "fixed:fix_latin_ligatures": 1}
    assert kept[0].metadata.extra["format_fixes"] == ["fix_latin_ligatures", "mojibake"]


@pytest.mark.parametrize("question,options,reason", [
    ("Which is right?", ["Measles.", "Mumps", "Measles"], "duplicate_options"),
    ("Which measure?", ["Standard deviation", "Mode", "Standard Deviation"], "duplicate_options"),
    ("Which is right?", ["Alpha", "  ", "Gamma"], "empty_option"),
    ("Which is right?", ["Alpha", "nan", "Gamma"], "empty_option"),
    ("See the table <br> below. Which is right?", ["Alpha", "Beta"], "markup"),
    ("Which is right? </p>", ["Alpha", "Beta"], "markup"),
    ("Which is [[wiki]] right?", ["Alpha", "Beta"], "markup"),
    ("Which is right? \ufffd", ["Alpha", "Beta"], "encoding_artefact"),
    ("Which is right?\\n", ["Alpha", "Beta"], "encoding_artefact"),
    ("determine the genotypes of Sally, Sam,", ["Alpha", "Beta"], "truncated_text"),
    ("Which one is right?", ["Glucose, fructose,", "Beta"], "truncated_text"),
    ("?!", ["Alpha", "Beta"], "malformed_text"),
])
def test_format_problems(question, options, reason):
    kept, stats = run_filter([mcq("x", question, options)])
    assert kept == [] and dict(stats.dropped) == {reason: 1}


@pytest.mark.parametrize("question,options", [
    ("Genotypes of the parents?", ["bb bb", "Bb Bb", "Bb BB", "AaBbCcDd×AABBCCDD", "AaBbCcDd×AaBbCcDd"]),
    ("The time to steady state is proportional to the membrane width <h2> and:", ["D", "1/D"]),
    ("Drug of choice for absence seizures is", ["Ethosuximide", "Phenytoin"]),
    ("Chroma is;", ["Intensity of colour", "Translucency"]),
    ("Metformin:", ["Lowers hepatic glucose output", "Causes weight gain"]),
    ("HbA1c < 7% and p<0.05 in the trial; which is right?", ["Alpha", "Beta"]),
    ("正常成人血清钾浓度为", ["3.5~5.5mmol/L", "2.5~3.5mmol/L"]),
])
def test_legitimate_patterns_pass(question, options):
    kept, _ = run_filter([mcq("x", question, options)])
    assert len(kept) == 1


def test_option_count_range_is_configurable():
    items = [mcq("two", "Which?", ["a1", "b1"]), mcq("five", "Which?", ["a1", "b1", "c1", "d1", "e1"])]
    kept, stats = run_filter(items, min_options=3, max_options=4)
    assert kept == [] and dict(stats.dropped) == {"option_count_out_of_range": 2}


def test_fast_path_agrees_with_ftfy_on_real_text(records):
    """Where ``needs_repair`` says no, ftfy really changes nothing (checked on 20k real texts)."""
    from fleming.refine.format import _FTFY

    names = ("medmcqa_structured", "mmlu_pro_biology", "mmlu_pro_health", "medqa_dev", "cmexam")
    texts = [t for name in names for r in records(name) for t in (r.question, *r.options.values())]
    skipped = [t for t in texts if not needs_repair(t)]
    assert len(skipped) > 0.9 * len(texts)
    assert [t for t in skipped if ftfy.fix_text(t, _FTFY) != t] == []
    assert fix_text("ﬁ\u200b")[0] == "fi\u200b"  # zero-width space is not ftfy's business


def test_real_medqa_test_passes_untouched(records):
    items = records("medqa")
    kept, stats = run_filter(items)
    assert len(kept) == len(items) == 1273 and stats.n_dropped == 0


def test_real_medmcqa_flags_known_defects(records):
    kept, stats = run_filter(records("medmcqa_structured"))
    assert stats.n_in == 4183 and stats.dropped["duplicate_options"] >= 15
    dropped_dups = {r.question for r in records("medmcqa_structured")} - {r.question for r in kept}
    assert any("Africas" in opt for r in records("medmcqa_structured") if r.question in dropped_dups
               for opt in r.options.values())  # the "Not Recalled" / "Not Recalled" item
    assert stats.extra["fixed:fix_latin_ligatures"] >= 5  # "classiﬁcation" and friends, repaired and kept
