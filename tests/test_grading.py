"""fleming.grading: the lenient cascade, no-commitment cases, the strict format, scoring and rewards."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleming.grading import (
    Grade,
    check_format,
    coerce_gold,
    coerce_options,
    correctness_reward,
    extract_answer,
    format_reward,
    grade,
    summarize,
)

O4 = {"A": "Glucagon", "B": "Insulin", "C": "Cortisol", "D": "Adrenaline"}
O10 = {k: f"option {k.lower()}" for k in "ABCDEFGHIJ"}
YNM = {"A": "yes", "B": "no", "C": "maybe"}


# ---- the cascade, case by case: (response, letters or None), grouped by the step that decides
CASES = {
    "tag": [  # step 1: the last <answer> tag
        ("<think>Insulin lowers glucose.</think>\n<answer>B</answer>", ["B"]),
        ("<think>x</think><answer> (C) </answer>", ["C"]),
        ("<think>x</think><answer>B. Insulin</answer>", ["B"]),
        ("<think>x</think><answer>Insulin</answer>", ["B"]),  # option text inside the tag
        ("<think>x</think><answer>The answer is D</answer>", ["D"]),
        ("<answer>A</answer> then a second thought <answer>C</answer>", ["C"]),  # the LAST tag
        ("<answer>A</answer> then <answer>C", ["C"]),  # the last tag, its "</answer>" cut off
        ("The answer is (A).\n<answer>D</answer>", ["D"]),  # the tag outranks statements
        ("<think>x</think>\n<answer>B", ["B"]),  # "</answer>" removed as a stop string
        ("<think>x</think><answer>**B**</answer>", ["B"]),
    ],
    "statement": [  # step 2: answer statements, boxed, bold
        ("Insulin is secreted by beta cells. The answer is (B).", ["B"]),
        ("So the correct answer is B because insulin lowers glucose.", ["B"]),
        ("Final Answer: C", ["C"]),
        ("**Final Answer:** **C. Cortisol**", ["C"]),
        ("Answer: D", ["D"]),
        ("Thus $\\boxed{D}$", ["D"]),
        ("\\boxed{\\text{A}}", ["A"]),
        ("Thus, (B) is the correct answer.", ["B"]),
        ("The best option is C.", ["C"]),
        ("The answer is closest to (A).", ["A"]),
        ("Reviewing each option...\n\n**B**", ["B"]),
        ("Reviewing each option...\nTherefore: **B. Insulin**", ["B"]),
        ("The answer is (A). Later the answer is (C).", ["C"]),  # the last statement decides
        ("The answer is (B). Note that C is also relevant in type 2 diabetes.", ["B"]),
    ],
    "chinese": [  # step 2: Chinese forms
        ("分析如下……故选B。", ["B"]),
        ("答案是C", ["C"]),
        ("答案：D", ["D"]),
        ("答案为 A，因为胰高血糖素升高血糖。", ["A"]),
        ("因此，本题选C", ["C"]),
        ("<answer>B</answer>", ["B"]),
    ],
    "multi": [  # several letters
        ("答案是ABD", ["A", "B", "D"]),
        ("答案：A、C", ["A", "C"]),
        ("<answer>A, C</answer>", ["A", "C"]),
        ("<answer>CA</answer>", ["A", "C"]),
        ("The answers are (B), (C), and (D).", ["B", "C", "D"]),
    ],
    "whole": [  # step 3: the whole response is one option; headings
        ("B", ["B"]), ("(B)", ["B"]), ("Option B", ["B"]), ("B. Insulin", ["B"]),  # the whole response
        ("B. Cortisol", None),  # letter and text disagree
        ("E", None),
        ("A 45-year-old man", None),
        ("B\n\nExplanation: insulin lowers glucose; A raises it.", ["B"]),  # opens with its option (issue 11)
        ("## Final Answer\nB", ["B"]),
        ("The answer is:\n\nB. Insulin", ["B"]),
    ],
    "edges": [  # hedges, re-opened answers, conditionals
        ("The answer is B, or so I believe.", ["B"]),
        ("The answer is B instead of C.", ["B"]),
        ("<answer>B</answer> Actually, I hope this helps.", ["B"]),
        ("答案是B。等等，应该是C", None),
        ("答案是B。其实A也对", None),
        ("若患者血糖高，答案是B", ["B"]),  # 若 in an earlier clause does not make the statement conditional
        ("如果答案是B，那么血糖会下降。", None),
    ],
}


@pytest.mark.parametrize("response, expected", [pytest.param(r, e, id=f"{k}-{i}") for k, rows in CASES.items()
                                                 for i, (r, e) in enumerate(rows)])
def test_extract(response, expected):
    assert extract_answer(response, O4) == expected


def test_tag_text_matches_pubmedqa_labels():
    assert extract_answer("<think>The trial was negative.</think><answer>no</answer>", YNM) == ["B"]


def test_letter_i_is_a_letter_only_when_it_ends_the_clause():
    assert extract_answer("The answer is I.", O10) == ["I"]
    assert extract_answer("The answer is I think (B)", O10) is None
    assert extract_answer("The answer is A patient with shock.", O10) is None


# ---- step 3: option text
@pytest.mark.parametrize("response, options, expected", [
    ("The answer is insulin.", O4, ["B"]),
    ("Insulin", O4, ["B"]),  # the whole response is an option
    ("The answer is yes, since the trial met its endpoint.", YNM, ["A"]),
    ("Insulin is the hormone that lowers glucose.", O4, None),  # a mention, not an answer
    ("The answer is not insulin.", O4, None),
])
def test_option_text(response, options, expected):
    assert extract_answer(response, options) == expected


def test_option_text_must_be_unique():
    twins = {"A": "Insulin", "B": "Insulin", "C": "Cortisol"}
    assert extract_answer("The answer is insulin.", twins) is None


# ---- no commitment -> None
@pytest.mark.parametrize("response", [
    "<think>x</think><answer></answer>",
    "<think>x</think><answer>B or C</answer>",
    "<think>x</think><answer>E</answer>",  # outside A-D
    "<think>x</think><answer>unsure</answer>",
    "<think>The answer is (B).</think><answer>none of these</answer>",  # a bad tag is not skipped
    "<think>x</think><answer>B</answer>\nWait, actually it is C.",  # re-opened after the answer
    "<think>Insulin lowers glucose, so the answer is",  # truncated inside the think block
    "<think>The answer is (B) I suppose, but let me check",  # a tentative letter in unfinished reasoning
    "Let me review the options. Option B is wrong because insulin lowers glucose.",
    "It could be either A or C.",
    "The answer is either A or C.",
    "The answer is A or B.",
    "The answer is (B), (D), or (G).",
    "The answer is B/C.",
    "答案是A或C",
    "The answer is B, or possibly C.",
    "The answer is (H).",  # outside the item's four options
    "The answer is ( ).",
    "The answer is (None of the provided options are correct). It's closest to (B).",
    "If the answer is B, then glucose would fall.",
    "So the answer is B?",
    "The answer is not B.",
    "The answer is B.\n\nWait, actually it should be C.",  # re-opened after the final answer
    "Non-coding RNA is a type of RNA. Non-coding RNA is a type of RNA. Non-c",  # looping, cut off
    "",
])
def test_no_commitment_gives_none(response):
    assert extract_answer(response, O10 if "(G)" in response else O4) is None


def test_think_opened_by_template():
    assert extract_answer("reasoning, so B</think><answer>B</answer>", O4, think_opened=True) == ["B"]
    assert extract_answer("reasoning... the answer is B", O4, think_opened=True) is None  # never closed
    assert extract_answer("reasoning... the answer is B", O4) == ["B"]


@given(reasoning=st.text(st.characters(blacklist_characters="<>"), max_size=200),
       letter=st.sampled_from("ABCD"))
def test_any_reasoning_then_a_tag_gives_the_tag(reasoning, letter):
    assert extract_answer(f"<think>{reasoning}</think>\n<answer>{letter}</answer>", O4) == [letter]


@given(n=st.integers(2, 20), extra=st.integers(0, 4))
def test_letters_past_the_options_are_rejected(n, extra):
    options = {chr(65 + i): f"text {i}" for i in range(n)}
    outside = chr(65 + n + extra)
    assert extract_answer(f"The answer is ({outside}).", options) is None
    assert extract_answer(f"<answer>{outside}</answer>", options) is None


# ---- strict format
@pytest.mark.parametrize("response, think_opened, ok", [
    ("<think>B fits.</think><answer>B</answer>", False, True),
    ("  <think>\nB fits.\n</think>\n\n<answer> B </answer>\n", False, True),
    ("<think>x</think><answer>A, C</answer>", False, True),
    ("B fits.</think>\n<answer>B</answer>", True, True),
    ("<think>x</think><answer>B</answer>", True, False),  # a second <think> under an opened template
    ("<think>x</think><answer>B</answer> Hope this helps!", False, False),
    ("<think>x</think><answer>B</answer><answer>B</answer>", False, False),
    ("<think>x</think><think>y</think><answer>B</answer>", False, False),
    ("<think>x<answer>A</answer></think><answer>B</answer>", False, False),
    ("<answer>B</answer>", False, False),
    ("<think>x</think>", False, False),
    ("<think>x</think><answer>Insulin</answer>", False, False),
    ("preamble <think>x</think><answer>B</answer>", False, False),
])
def test_check_format(response, think_opened, ok):
    assert check_format(response, think_opened=think_opened) is ok


_NO_TAGS = st.text(st.characters(blacklist_characters="<>"), max_size=120)


@given(think=_NO_TAGS, letter=st.sampled_from("ABCDEFGHIJKLMNOPQRSTU"),
       ws=st.sampled_from(["", " ", "\n", "\n\n"]))
def test_any_well_formed_pair_passes(think, letter, ws):
    assert check_format(f"<think>{think}</think>{ws}<answer>{letter}</answer>{ws}")
    assert check_format(f"{think}</think>{ws}<answer>{letter}</answer>", think_opened=True)


@given(think=_NO_TAGS, trailing=st.text(min_size=1, max_size=40).filter(lambda t: t.strip()))
def test_any_trailing_text_fails(think, trailing):
    assert not check_format(f"<think>{think}</think><answer>B</answer>{trailing}")


# ---- grade and summarize
def test_grade_statuses():
    assert grade("The answer is (B).", O4, ["B"]) == Grade("correct", ["B"])
    assert grade("The answer is (C).", O4, ["B"]) == Grade("wrong", ["C"])
    assert grade("Hmm, A or B.", O4, ["B"]) == Grade("unparsed", None)


def test_multi_answer_needs_the_same_set():
    assert grade("答案是BA", O4, ["A", "B"]).status == "correct"
    assert grade("答案是A", O4, ["A", "B"]).status == "wrong"
    assert grade("答案是ABC", O4, ["A", "B"]).status == "wrong"


def test_summarize_shows_the_unparsed_rate():
    s = summarize([Grade("correct", ["A"])] * 6 + [Grade("wrong", ["B"])] * 2 + [Grade("unparsed", None)] * 2)
    assert (s["n"], s["correct"], s["wrong"], s["unparsed"]) == (10, 6, 2, 2)
    assert s["accuracy"] == pytest.approx(0.6) and s["unparsed_rate"] == pytest.approx(0.2)
    assert s["stderr"] == pytest.approx((0.6 * 0.4 / 10) ** 0.5)
    assert summarize([])["n"] == 0


# ---- columns from other harnesses
def test_coerce_options_and_gold():
    assert coerce_options(["x", "y", "z"]) == {"A": "x", "B": "y", "C": "z"}
    assert coerce_options({"a": "x", "b": "y"}) == {"A": "x", "B": "y"}
    for bad in ("x, y", ["only one"], {"A": "x", "C": "y"}, ["x", 3], [f"o{i}" for i in range(22)]):
        with pytest.raises(ValueError):
            coerce_options(bad)
    opts = coerce_options(["w", "x", "y", "z"])
    assert coerce_gold("C", opts) == ["C"] and coerce_gold(2, opts) == ["C"]
    assert coerce_gold("DB", opts) == ["B", "D"] and coerce_gold(["A", "c"], opts) == ["A", "C"]
    assert coerce_gold("A, C", opts) == ["A", "C"]
    for bad in ("E", 4, -1, True, None, "", ["A", "A"]):
        with pytest.raises(ValueError):
            coerce_gold(bad, opts)


# ---- rewards (TRL signature)
def test_rewards_on_strings_and_chat_messages():
    chat = [{"role": "assistant", "content": "The answer is (C)."}]
    completions = ["<think>x</think><answer>B</answer>", chat, "<think>cut off"]
    options = [list(O4.values())] * 3  # the flat dataset column: a list of texts
    answer = [["B"], ["C"], ["A"]]
    rewards = correctness_reward(completions, options=options, answer=answer, trainer_state=None)
    assert rewards == [1.0, 1.0, 0.0]
    assert format_reward(completions, options=options, answer=answer) == [1.0, 0.0, 0.0]


# ---- real reasoning text: the MMLU-Pro outputs, with their final statement rewritten
FINAL = re.compile(r"The answer is \(([A-J])\)\.?\s*$")
FORMS = ["{body}Final Answer: {x}", "{body}**Answer: {x}**", "{body}Therefore, $\\boxed{{{x}}}$",
         "{body}答案是{x}。", "{body}<answer>{x}</answer>", "<think>{body}</think>\n<answer>{x}</answer>",
         "{body}So the correct option is ({x})."]


def real_outputs(benchmarks_dir):
    for name, field in [("gemini-1.5-pro-002_health_biology_subset.json", "model_outputs"),
                        ("Meta-Llama-3_1-70B-Instruct_health_biology_subset.json", "generated_text")]:
        for row in json.loads((benchmarks_dir / "_outputs" / "mmlu_pro_tiger" / name).read_text()):
            yield row, row[field]


def test_real_reasoning_with_other_final_forms(benchmarks_dir):
    """Each single-statement output keeps its letter when its final statement takes another form."""
    n = 0
    for row, text in real_outputs(benchmarks_dir):
        m = FINAL.search(text)
        if not m or text.count("answer is") != 1:
            continue
        options, body = coerce_options(row["options"]), text[:m.start()]
        for form in FORMS:
            response = form.format(x=m.group(1), body=body)
            assert extract_answer(response, options) == [m.group(1)], (row["question_id"], form)
        n += 1
    assert n > 2500


def test_real_reasoning_reopened_or_cut_gives_none(benchmarks_dir):
    """A real final statement followed by a change of mind, or cut off inside <think>, commits to nothing."""
    for row, text in real_outputs(benchmarks_dir):
        m = FINAL.search(text)
        if not m:
            continue
        options = coerce_options(row["options"])
        other = next(k for k in options if k not in (m.group(1), "A", "I"))
        assert extract_answer(f"{text}\nWait, actually ({other}) fits better.", options) is None
        assert extract_answer(f"<think>{text[:m.start()]}", options) is None


@given(text=st.text(max_size=300), n=st.integers(2, 21))
def test_any_text_gives_none_or_letters_of_the_item(text, n):
    options = {chr(65 + i): f"option {i}" for i in range(n)}
    got = extract_answer(text, options)
    assert got is None or (got == sorted(set(got)) and set(got) <= set(options))


@given(text=st.text(alphabet=st.sampled_from(list("ABCDEFG ().,:*<>/answerisAnswer答案是选故\n")),
                    max_size=120))
def test_answer_shaped_text_never_raises(text):
    got = extract_answer(text, {"A": "x", "B": "y", "C": "z"})
    assert got is None or set(got) <= {"A", "B", "C"}
