"""The MCQ record, its validation and its round trips (JSONL, Parquet, HF datasets), and Step stats."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from fleming.errors import InputError
from fleming.io import from_hf_dataset, iter_jsonl, read_records, to_hf_dataset, write_records
from fleming.records import MCQ, Metadata
from fleming.steps import Filter


def make(i: int = 0, **kw) -> MCQ:
    base = dict(id=f"q{i}", source="t", split="test", question=f"Question {i}?",
                options={"A": "alpha", "B": "beta", "C": "gamma"}, answer=["B"],
                metadata=Metadata(subject="s", provenance={"file": "f", "row": i}, extra={"hops": [1, 2]}))
    base.update(kw)
    return MCQ(**base)


@pytest.mark.parametrize("bad, field", [
    (dict(options={"A": "x"}), "options"),
    (dict(options={"A": "x", "C": "y"}), "options"),
    (dict(answer=["D"]), "answer"),
    (dict(answer=[]), "answer"),
    (dict(question="   "), "question"),
    (dict(options={chr(65 + i): str(i) for i in range(22)}), "options"),
])
def test_invalid_records_are_rejected(bad, field):
    with pytest.raises(ValidationError) as ei:
        make(**bad)
    assert field in str(ei.value)


def test_21_options_and_multi_answer_accepted():
    q = make(options={chr(65 + i): f"o{i}" for i in range(21)}, answer=["A", "U"])
    assert q.is_multi_answer and q.letters[-1] == "U"


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_round_trip_files(tmp_path, suffix):
    recs = [make(i, context=None if i % 2 else "ctx") for i in range(5)]
    path = tmp_path / f"r{suffix}"
    assert write_records(path, recs) == 5
    assert list(read_records(path)) == recs


def test_round_trip_hf_datasets():
    recs = [make(i) for i in range(4)]
    ds = to_hf_dataset(recs)
    assert ds.num_rows == 4 and ds.column_names[:4] == ["id", "source", "split", "question"]
    assert from_hf_dataset(ds) == recs


def test_bad_jsonl_names_file_line_and_field(tmp_path):
    path = tmp_path / "x.jsonl"
    good = make(0).model_dump(mode="json")
    bad = dict(good, answer=["Z"])
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(InputError) as ei:
        list(read_records(path))
    assert str(ei.value).startswith(f"{path}:2: field 'answer'")


def test_bad_json_and_encoding(tmp_path):
    p = tmp_path / "b.jsonl"
    p.write_bytes(b'{"a": 1}\n\n{"a": \n')
    with pytest.raises(InputError, match=r"b.jsonl:3: invalid JSON"):
        list(iter_jsonl(p))
    p.write_bytes(b'{"a": "\xff"}\n')
    with pytest.raises(InputError, match=r"b.jsonl:1: not valid UTF-8"):
        list(read_records(p))
    p.write_bytes(b'[1, 2]\n')
    with pytest.raises(InputError, match=r"b.jsonl:1: expected a JSON object"):
        list(iter_jsonl(p))


class EvenOnly(Filter):
    name = "even"

    def filter(self, r):
        return int(r.id[1:]) % 2 == 0 or (False, "odd_id")


def test_filter_counts_reconcile_and_writes_exclusions(tmp_path):
    step = EvenOnly(exclusion_path=tmp_path / "excl.jsonl")
    kept = list(step.run(make(i) for i in range(7)))
    assert [r.id for r in kept] == ["q0", "q2", "q4", "q6"]
    s = step.stats
    assert (s.n_in, s.n_kept, dict(s.dropped)) == (7, 4, {"odd_id": 3}) and s.reconciles()
    lines = [json.loads(x) for x in (tmp_path / "excl.jsonl").read_text().splitlines()]
    assert [(x["reason"], x["record"]["id"]) for x in lines] == [("odd_id", "q1"), ("odd_id", "q3"),
                                                                  ("odd_id", "q5")]
