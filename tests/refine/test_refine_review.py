"""The review queue on disk and reading reviewers' decisions back (keep, relabel, drop), with errors that
name the file, row and column."""

from __future__ import annotations

import csv

import pytest
from refine_helpers import mcq

from fleming.errors import InputError
from fleming.refine.labelcheck import (
    REVIEW_COLUMNS,
    load_queue,
    read_decisions,
    reviewed_records,
    write_review_queue,
)


def queue_items():
    out = []
    for i, answers in enumerate([["B", "B", "unparsed", "B", "C"], ["A", "A", "A", "A", "A"],
                                 ["unparsed"] * 5]):
        r = mcq(f"q{i}", f"Question {i}?", ["alpha", "beta", "gamma"], answer="A")
        info = {"model": "tiny", "k": 5, "correct": 0, "errors": 0, "answers": answers}
        r = r.model_copy(update={"metadata": r.metadata.model_copy(update={"extra": {"label_check": info}})})
        texts = [f"<think>t{j}</think><answer>x</answer>" for j in range(5)]
        out.append({"record": r.model_dump(mode="json"), "validator": {**info, "texts": texts}})
    return out


def read_csv(path):
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def write_decisions(path, rows):
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=REVIEW_COLUMNS)
        w.writeheader()
        w.writerows(rows)
    return path


def test_queue_files_for_machines_and_people(tmp_path):
    jsonl, path = write_review_queue(queue_items(), tmp_path)
    rows = read_csv(path)
    assert [r["id"] for r in rows] == ["q0", "q1", "q2"]
    assert rows[0]["options"] == "A. alpha\nB. beta\nC. gamma"
    assert rows[0]["label"] == "A" and rows[0]["label_text"] == "alpha"
    assert rows[0]["validator_correct"] == "0/5" and rows[0]["validator_answers"] == "B; B; unparsed; B; C"
    assert rows[0]["validator_reasoning"].count("\n---\n") == 4
    assert rows[0]["decision"] == "" and rows[0]["new_answer"] == ""
    assert list(load_queue(tmp_path)) == ["q0", "q1", "q2"]


def test_decisions_applied(tmp_path):
    write_review_queue(queue_items(), tmp_path)
    queue = load_queue(tmp_path)
    rows = read_csv(tmp_path / "review_queue.csv")
    rows[0].update(decision="relabel", new_answer="B")
    rows[1].update(decision="KEEP")
    decisions = read_decisions(write_decisions(tmp_path / "d.csv", rows), queue)
    assert decisions == {"q0": ("relabel", ["B"]), "q1": ("keep", [])}
    back, dropped, pending = reviewed_records(queue, decisions)
    assert [r.id for r in back] == ["q0", "q1"] and dropped == [] and [r.id for r in pending] == ["q2"]
    relabelled = back[0]
    assert relabelled.answer == ["B"]
    assert relabelled.metadata.extra["review"] == {"decision": "relabel", "from": ["A"], "to": ["B"]}
    assert relabelled.metadata.extra["label_check"]["correct"] == 3  # the validator said B 3 times of 5


@pytest.mark.parametrize("change,field,message", [
    ({"decision": "maybe"}, "decision", "expected one of keep, relabel, drop"),
    ({"decision": "relabel", "new_answer": "Z"}, "new_answer", "relabel needs letters among"),
    ({"decision": "relabel", "new_answer": ""}, "new_answer", "relabel needs letters among"),
    ({"decision": "keep", "id": "nope"}, "id", "not in the review queue"),
])
def test_bad_decisions_name_row_and_column(tmp_path, change, field, message):
    write_review_queue(queue_items(), tmp_path)
    rows = read_csv(tmp_path / "review_queue.csv")
    rows[1].update(change)
    path = write_decisions(tmp_path / "d.csv", rows)
    with pytest.raises(InputError) as e:
        read_decisions(path, load_queue(tmp_path))
    assert (e.value.line, e.value.field) == (3, field) and message in e.value.message
