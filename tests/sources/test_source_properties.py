"""Property tests (hypothesis): parsers round-trip what they are meant to read, and any JSON a loader
meets either becomes valid records or an InputError, never another exception."""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleming.errors import InputError
from fleming.records import LETTERS
from fleming.sources.cmexam import parse_options
from fleming.sources.fields import split_inline_choices
from fleming.sources.readers import iter_csv
from fleming.sources.registry import REGISTRY, load

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MARKER = re.compile(r"\s\([A-U]\)(?=\s|$)")  # text that would read as an option marker
words = st.text(st.characters(codec="utf-8", exclude_characters="\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"),
                max_size=30)
option_text = words.map(str.strip).filter(lambda t: not MARKER.search(" " + t + " "))


@SETTINGS
@given(stem=words.filter(lambda s: s.strip()), options=st.lists(option_text, min_size=2, max_size=21))
def test_inline_choices_round_trip(stem, options):
    letters = LETTERS[:len(options)]
    block = " ".join(f"({k}) {t}" for k, t in zip(letters, options, strict=True))
    parsed_stem, parsed = split_inline_choices(f"{stem}\nAnswer Choices: {block}")
    assert parsed_stem == stem.rstrip()
    assert parsed == dict(zip(letters, options, strict=True))


@SETTINGS
@given(st.lists(words.map(str.strip).filter(lambda t: t and "\\n" not in t), min_size=2, max_size=10))
def test_cmexam_options_round_trip(texts):
    """(A text holding a literal backslash-n itself is ambiguous with the separator, so none is drawn.)"""
    cell = "\\n".join(f"{LETTERS[k]} {t}" for k, t in enumerate(texts))  # literal backslash-n
    assert parse_options(cell, Path("val.xlsx"), 2) == {LETTERS[k]: t for k, t in enumerate(texts)}


@SETTINGS
@given(st.lists(st.lists(st.text(max_size=12), min_size=3, max_size=3), min_size=1, max_size=8))
def test_csv_rows_and_line_numbers(rows):
    """Fields may hold commas, quotes and newlines; each row names the physical line it starts on."""
    buf, starts = io.StringIO(), []
    writer = csv.writer(buf)  # "\r\n" terminators, so a bare "\r" in a field gets quoted
    writer.writerow(["a", "b", "c"])
    for r in rows:
        starts.append(buf.getvalue().count("\n") + 1)
        writer.writerow(r)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "f.csv"
        path.write_bytes(buf.getvalue().encode("utf-8"))
        got = list(iter_csv(path, required=["a"]))
    assert [[r["a"], r["b"], r["c"]] for _, r in got] == rows
    assert [line for line, _ in got] == starts


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 12) | st.integers() | st.floats() | st.sampled_from(
        ["A", "B", "E", "", " ", "x", "(A) a (B) b", "['A']", "step1"]) | words,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(list("ABCDEJ")), inner,
                                                                  max_size=5),
    max_leaves=12)
OPTS = {"A": "a", "B": "b", "C": "c", "D": "d"}
GOOD = {  # one valid row per format; the test replaces or deletes one field at a time
    "medqa": {"question": "Q?", "options": OPTS, "answer_idx": "B", "answer": "b", "meta_info": "step1"},
    "medqa_inline": {"id": "t-1", "question": "Q?\nAnswer Choices: (A) a (B) b", "label": ["B"]},
    "medqa_citrus": {"id": "1", "Q": "Q?", "A": "A", "OP": [{"op_idx": "A", "op_value": "a"},
                                                           {"op_idx": "B", "op_value": "b"}]},
    "medmcqa": {"id": "u", "question": "Q?\nAnswer Choices: (A) a (B) b", "label": ["A"],
                "subject_name": "Anatomy", "topic_name": None, "label_rationale": "because"},
    "medmcqa_structured": {"question": "Q?", "choices": ["A. a", "B. b"], "answer": 1},
    "medxpertqa": {"id": "Text-1", "question": "Q?\nAnswer Choices: (A) a (B) b",
                   "options": {"A": "a", "B": "b"}, "label": "A", "medical_task": "Diagnosis",
                   "body_system": "Other", "question_type": "Reasoning"},
    "mmlu_pro_health": {"question_id": 1, "question": "Q?", "options": ["a", "b", "c"], "answer": "C",
                        "answer_index": 2, "category": "health", "src": "ori_mmlu-anatomy"},
    "careqa": {"exam_id": 1.0, "question": "Q?", "op1": "a", "op2": "b", "op3": "c", "op4": "d", "cop": 1.0,
               "year": 2020.0, "category": "Biology", "unique_id": "u"},
}


@SETTINGS
@given(name=st.sampled_from(sorted(GOOD)), data=st.data())
def test_any_json_row_is_a_record_or_an_input_error(name, data):
    obj = dict(GOOD[name])
    for key in data.draw(st.lists(st.sampled_from(sorted(obj)), min_size=1, max_size=3, unique=True)):
        if data.draw(st.booleans()):
            del obj[key]
        else:
            obj[key] = data.draw(json_values)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / REGISTRY[name].files[0]
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(obj) + "\n", encoding="utf-8")
        try:
            res = load(name, d)
        except InputError as e:
            assert str(e).startswith(f"{path}:1: ") and "\n" not in str(e)
            return
    assert res.stats.reconciles() and res.stats.n_in == 1
    for r in res.records:
        assert set(r.answer) <= set(r.options)


def test_good_rows_load(tmp_path):
    for name, obj in GOOD.items():
        path = tmp_path / REGISTRY[name].files[0]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(obj) + "\n", encoding="utf-8")
        assert load(name, tmp_path).stats.n_kept == 1, name
