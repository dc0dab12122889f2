"""The per-item JSONL log: flushed appends, last row wins, a killed run's partial line is cut away."""

from __future__ import annotations

import json

import pytest

from fleming.errors import InputError
from fleming.eval.benchmarks import BENCHMARKS
from fleming.eval.items import ItemLog, is_done, prompt_key
from fleming.prompts import resolve_prompt


def test_append_then_read_last_row_per_id_wins(tmp_path):
    log = ItemLog(tmp_path / "medqa.jsonl")
    assert log.read() == {}
    log.append([{"id": "a", "status": "failed"}, {"id": "b", "status": "correct"}])
    log.append([{"id": "a", "status": "wrong"}])
    log.append([])
    rows = log.read()
    assert rows == {"a": {"id": "a", "status": "wrong"}, "b": {"id": "b", "status": "correct"}}
    # The data is on disk as complete lines after each append.
    assert (tmp_path / "medqa.jsonl").read_text().count("\n") == 3


def test_a_partial_last_line_is_truncated_and_the_file_stays_appendable(tmp_path):
    path = tmp_path / "x.jsonl"
    good = json.dumps({"id": "a", "status": "correct"}) + "\n"
    path.write_text(good + '{"id": "b", "sta')  # a kill in the middle of a write
    log = ItemLog(path)
    assert list(log.read()) == ["a"]
    assert path.read_text() == good
    log.append([{"id": "b", "status": "wrong"}])
    assert list(log.read()) == ["a", "b"]


def test_a_partial_only_line_leaves_an_empty_log(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"id": "a"')
    assert ItemLog(path).read() == {}
    assert path.read_text() == ""


def test_a_corrupt_line_in_the_middle_names_file_and_line(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"id": "a"}\nnot json\n{"id": "b"}\n')
    with pytest.raises(InputError, match=r"x\.jsonl:2: invalid JSON"):
        ItemLog(path).read()


def test_is_done_needs_a_scored_row_of_the_same_version_and_prompt():
    b = BENCHMARKS["medqa"]
    spec = resolve_prompt(b.prompt_id, "en")
    key = prompt_key(spec)
    row = {"status": "wrong", "version": b.version, **key}
    assert is_done(row, b, key)
    assert not is_done({**row, "status": "failed"}, b, key)
    assert not is_done({**row, "prompt_fingerprint": "0" * 12}, b, key)  # same id, other text
    assert not is_done(row, b, prompt_key(resolve_prompt(b.prompt_id, "zh")))
    assert not is_done({**row, "version": "0"}, b, key)
