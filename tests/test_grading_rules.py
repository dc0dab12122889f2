"""fleming.extraction rules (issue 11): each form from real responses in ../shared/benchmarks/_outputs,
the hand-written forms of the issue, the cases where null stays right, and the adjudicated real rows."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleming.grading import extract_answer

O4 = {"A": "Glucagon", "B": "Insulin", "C": "Cortisol", "D": "Adrenaline"}
O10 = {k: f"option {k.lower()}" for k in "ABCDEFGHIJ"}
YNM = {"A": "yes", "B": "no", "C": "maybe"}
ETHICS = {"A": "Disclose the error to the patient and put it in the operative report",
          "B": "Tell the attending that he cannot fail to disclose this mistake",
          "C": "Report the physician to the ethics committee", "D": "Refuse to dictate the operative report"}
MGMT = {**{k: f"Step {k}" for k in "ABCDEFGIJ"}, "H": "Perform a wet mount", "J": "Wet mount"}


@pytest.mark.parametrize("response, options, expected", [
    # JSON answer field (GPT-4 MIRAGE; DeepSeek CMB)
    ('{"step_by_step_thinking": "The resident should disclose.", "answer_choice": "A. Disclose the error to '
     'the patient and put it in the operative report"}', ETHICS, ["A"]),
    ('{"step_by_step_thinking": "...", "answer_choice": "C. maybe"}', YNM, ["C"]),
    ('{\n  "analysis": "...故C和E最可能。",\n  "answer": "CE"\n}', {k: k for k in "ABCDE"}, ["C", "E"]),
    ('{"answer": "D", "why": "adrenaline"}', O4, ["D"]),
    ('{"answer_choice": "B. Glucagon"}', O4, None),  # letter and text disagree
    ('{"answer_choice": "C. Cortisol and D. Adrenaline"}', O4, None),  # two options
    ('{"answer_choice": "None of the above"}', O4, None),
    # the concluding sentence (Phi-3 MMLU-Pro; Llama-3-70B MedQA)
    ("The patient's symptoms and ECG findings are consistent with a third-degree atrioventricular block. "
     "The most likely diagnosis is (D).\n\n", O10, ["D"]),
    ("The pairing that contains an allergen is (C) option c.", O10, ["C"]),
    ("Therefore, based on the diagnosis, option D, activating natural killer cells, is the correct "
     "mechanism of action.", {**O4, "D": "Activating natural killer cells"}, ["D"]),
    ("In conclusion, sitagliptin (option B) is the most similar, as it prevents degradation.", O4, ["B"]),
    ("…the first step in management is (J) Wet mount.", MGMT, ["J"]),
    ("The most likely diagnosis is not (D).", O10, None),  # negated
    ("The most likely diagnosis is (D) option a.", O10, None),  # the letter quotes another option's text
    ("If we adhere to the options, the Medial pterygoid (G) is the most relevant to the mand", O10,
     None),  # cut off mid-sentence
    # "Final Answer": a lead-in, the option inside the sentence
    ("**Final Answer**: The immediate next step in management is **(J) Wet mount**.", MGMT, ["J"]),
    # the option alone on the last line after a lead-in
    ("Reviewing the findings.\nThe most appropriate next step is:\n**(H) Perform a wet mount**", MGMT, ["H"]),
    ("Options to consider:\nA. Glucagon\nB. Insulin", O4, None),  # the options echoed, no lead-in commit
    # the opening line (Mixtral AfriMed-QA)
    (" D. Refuse to dictate the operative report.\n\n###Justification: The attending's request violates "
     "truth-telling.", ETHICS, ["D"]),
    ("2.67 (D).\n\n###Explanation: The therapeutic index is TD50/ED50.", {**O4, "D": "2.67"}, ["D"]),
    ("16.\n\n###Explanation: The NNT is 1/ARR.", {"A": "5", "B": "16", "C": "20", "D": "50"}, ["B"]),
    (" B.  Insulin is the hormone that lowers glucose after meals.", O4, ["B"]),
    (" D. The superior mesenteric artery supplies the hepatic flexure.", O4, ["D"]),
    ("A: (A) Glucagon\n\nGlucagon raises glucose.", O4, ["A"]),  # the prompt's label echoed
    ("A: (B) Insulin\n\nInsulin lowers glucose.", O4, None),  # label and letter disagree
    ("**(B) Insulin**\n\nInsulin is secreted by beta cells.", O4, ["B"]),
    ("A. Glucagon raises glucose.\nB. Insulin lowers glucose.\nC. Cortisol ...", O4, None),  # a review list
    ("A 45-year-old man with diabetes.\n\nHe needs insulin.", O4, None),  # the article, not a letter
    ("(A) Glucagon raises glucose. (B) Insulin lowers it. (C) Cortisol raises it.", O4, None),  # a review
    ("Options to consider:\nA. Glucagon", O4, None),  # a lead-in that does not commit
    ("1200 mg", {"A": "1000 mg", "B": "1500 mg", "C": "2000 mg"}, None),  # numbers never fuzzy-match
    # the whole response is the option text, up to typography
    ("Tell the attending that he can’t fail to disclose this mistake", {**ETHICS, "B": "Tell the attending "
     "that he can't fail to disclose this mistake"}, ["B"]),
    ("Refuse to  dictate the operativ report", ETHICS, ["D"]),
    # hand-written forms of the issue
    ("Adrenaline raises blood pressure within seconds.\nOption D: Adrenaline", O4, ["D"]),
    ("Option A: Glucagon\nOption B: Insulin\nOption D: Adrenaline", O4, None),  # a list, not a choice
    ("Checking each:\nA ✗ raises glucose\nB ✓ lowers glucose\nC ✗\nD ✗", O4, ["B"]),
    ("Checking each:\nA ✓ raises glucose\nB ✓ lowers glucose\nC ✗\nD ✗", O4, None),  # two ticked
    ("The answer is (B, F).", O10, ["B", "F"]),  # Phi-3 MMLU-Pro 6087
    ("The answer is (a) 0.217, (b) 0.356.", O10, None),  # Phi-3 MMLU-Pro 3298: sub-question answers
    ("answer: a", O4, ["A"]),
    ("Reasoning done.\nfinal answer: d", O4, ["D"]),
    ("Not A: glucagon raises glucose. So C.", O4, ["C"]),
    ("A high dose suppresses ACTH even in Cushing's disease, so A", O4, None),  # cut before its full stop
    ("HIV was first identified by clinical observation. The answer is not (A).\n\nAnswer: Let's think", O4,
     None),  # Phi-3 MMLU-Pro 6771, cut: a negated letter is no opening answer
    ("\\boxed{no}", YNM, ["B"]),
    ("<think>Beta cells secrete it.</think>\nInsulin", O4, ["B"]),
    ("因此C正确。", O4, ["C"]),
    ("分析：胰岛素降低血糖。\n答案为：\nB. Insulin", O4, ["B"]),  # a Chinese lead-in, the option alone
    ("B. 胰岛素\n\n解析：胰岛素由β细胞分泌。", {**O4, "B": "胰岛素"}, ["B"]),  # opens with its option
    ("综上，C和E最可能。", {k: k for k in "ABCDE"}, ["C", "E"]),
])
def test_forms(response, options, expected):
    assert extract_answer(response, options) == expected


_VERDICTS = ["is wrong", "is unlikely", "does not fit", "is plausible", "could explain some findings",
             "is less likely"]


@given(st.lists(st.tuples(st.sampled_from("ABCD"), st.sampled_from(_VERDICTS)), min_size=1, max_size=6),
       st.sampled_from(["", "Let me review the options.\n", "Reviewing:\n\n"]),
       st.sampled_from(["More data would help.", "The labs are borderline.", "Hmm, let me think again"]))
def test_letters_named_in_the_reasoning_are_never_read(verdicts, opening, ending):
    reasoning = " ".join(f"Option {x} {v} because of the history." for x, v in verdicts)
    assert extract_answer(f"{opening}{reasoning} {ending}", O4) is None


@given(st.lists(st.tuples(st.sampled_from("ABCD"), st.sampled_from(_VERDICTS)), min_size=2, max_size=5,
                unique_by=lambda t: t[0]),
       st.sampled_from(["\n", " ", "\n\n"]))
def test_options_reviewed_one_by_one_are_no_answer(verdicts, sep):
    review = sep.join(f"({x}) {O4[x]} {v}." for x, v in verdicts)
    assert extract_answer(review, O4) is None


def test_statement_at_the_start_is_not_reopened_by_the_reasoning():
    # Llama-3-70B MedQA 176: "Selected answer: D", then reasoning that says "instead" far later
    text = ("Selected answer: D\n\nReasoning: Based on the presentation, option D is the next step.\n\n"
            "Option C would delay treatment; chest tube instead of option B is later care.")
    assert extract_answer(text, {k: k for k in "ABCDE"}) == ["D"]


@pytest.mark.parametrize("module", ["fleming.extraction", "fleming.extraction.slots",
                                    "fleming.extraction.rules", "fleming.grading"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0 and (result.attempted > 0 or module == "fleming.extraction.rules")


# ---- the adjudicated real rows (tests/data/grading_adjudications.jsonl, scripts/adjudicate_outputs.py)
def _bench():
    path = Path(__file__).resolve().parents[1] / "bench" / "grading_outputs.py"
    spec = importlib.util.spec_from_file_location("grading_outputs", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["grading_outputs"] = mod
    spec.loader.exec_module(mod)
    return mod


# Rows where the extractor and the adjudicated truth still differ (read and kept as known errors):
KNOWN = {("phi3mini_mmlu_pro", "6197"), ("mixtral_medqa_afrimed", "c690c8d9-6b8a-4fe7-9408-93712a2f8611")}


def test_extractor_matches_the_adjudications_on_real_outputs(shared):
    bench = _bench()
    adj = bench.load_adjudications()
    rows = bench.load_rows(shared)
    wrong = set()
    for rs in rows.values():
        for r in rs:
            a = adj.get((r.set, r.id))
            if a is not None and extract_answer(r.response, r.options) != a["truth"]:
                wrong.add((r.set, r.id))
    assert wrong == KNOWN
    gemini = rows["gemini_mmlu_pro"]
    agree = sum(extract_answer(r.response, r.options) == r.official for r in gemini) / len(gemini)
    assert agree >= 0.995
