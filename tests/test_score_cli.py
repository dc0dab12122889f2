"""`fleming score`: real MMLU-Pro outputs against the official harness, input forms, one-line errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fleming.cli import main

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "extraction-disagreements.md"
TIGER = "_outputs/mmlu_pro_tiger"
REAL = {  # model label in the doc -> (file, response field, minimum agreement from issue 2)
    "Gemini-1.5-Pro": ("gemini-1.5-pro-002_health_biology_subset.json", "model_outputs", 0.99),
    "Llama-3.1-70B": ("Meta-Llama-3_1-70B-Instruct_health_biology_subset.json", "generated_text", 0.98),
}


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    return exc.value.code or 0, out, err


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def documented_disagreements() -> dict[str, set[tuple[str, str, str]]]:
    """(question_id, official, ours) per model, from the table in docs/extraction-disagreements.md."""
    found: dict[str, set[tuple[str, str, str]]] = {label: set() for label in REAL}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] in REAL and re.fullmatch(r"\d+", cells[1]):
            found[cells[0]].add((cells[1], cells[2], cells[3]))
    return found


@pytest.mark.parametrize("label", list(REAL))
def test_agreement_with_official_harness(label, benchmarks_dir, tmp_path, capsys):
    name, field, minimum = REAL[label]
    src = benchmarks_dir / TIGER / name
    dis = tmp_path / "dis.jsonl"
    code, out, _ = run(["score", "--input", str(src), "--response-field", field, "--official-field", "pred",
                        "--out", str(tmp_path / "out.jsonl"), "--disagreements", str(dis)], capsys)
    assert code == 0
    n = len(json.loads(src.read_text()))
    rows = [json.loads(x) for x in dis.read_text().splitlines()]
    assert (n - len(rows)) / n >= minimum
    assert f"agreement with 'pred' {(n - len(rows)) / n:.2%}" in out and "unparsed" in out
    ours = {(str(r["id"]), r["pred"], "null" if r["extracted"] is None else ",".join(r["extracted"]))
            for r in rows}
    assert ours == documented_disagreements()[label]  # every disagreement is listed, as it is


def test_official_letters_for_uncommitted_outputs_are_ours_null(benchmarks_dir):
    """The doc's 'official wrong' rows (truncated, looping, no commitment, hedge) are null here."""
    from fleming.grading import coerce_options, extract_answer

    wrong = {(cells[0], cells[1]) for cells in (
        [c.strip() for c in ln.strip().strip("|").split("|")] for ln in DOC.read_text().splitlines()
        if ln.startswith("|")) if len(cells) > 5 and cells[5].startswith("official wrong")}
    assert len(wrong) >= 25
    for label, (name, field, _) in REAL.items():
        for row in json.loads((benchmarks_dir / TIGER / name).read_text()):
            if (label, str(row["question_id"])) in wrong:
                assert row["pred"] is not None
                assert extract_answer(row[field], coerce_options(row["options"])) is None


def test_scores_jsonl_with_every_accepted_form(tmp_path, capsys):
    rows = [
        {"id": "a", "resp": "The answer is (B).", "options": ["x", "y", "z"], "answer": "B"},
        {"id": "b", "resp": "<answer>C</answer>", "options": {"A": "x", "B": "y", "C": "z"}, "answer": 0},
        {"id": "c", "resp": "答案是AC", "options": ["x", "y", "z"], "answer": ["A", "C"]},
        {"id": "d", "resp": "Maybe A or B.", "options": ["x", "y", "z"], "answer": "AB"},
    ]
    out = tmp_path / "scored.jsonl"
    code, text, _ = run(["score", "--input", str(write_jsonl(tmp_path / "in.jsonl", rows)),
                         "--response-field", "resp", "--out", str(out)], capsys)
    assert code == 0
    scored = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [(r["extracted"], r["correct"]) for r in scored] == [
        ("B", True), ("C", False), (["A", "C"], True), (None, False)]
    assert scored[0]["resp"] == rows[0]["resp"]  # the input row is kept
    assert "accuracy 0.5000" in text and "unparsed 25.00% (1)" in text


def test_official_field_prints_disagreements(tmp_path, capsys):
    common = {"options": ["x", "y"], "answer": "A"}
    rows = [{"question_id": 7, "out": "The answer is (A).", "pred": "A", **common},
            {"question_id": 8, "out": "so... B is wrong", "pred": "B", **common}]
    code, text, _ = run(["score", "--input", str(write_jsonl(tmp_path / "in.jsonl", rows)),
                         "--response-field", "out", "--official-field", "pred",
                         "--out", str(tmp_path / "o.jsonl")], capsys)
    assert code == 0
    assert "agreement with 'pred' 50.00% (1/2), 1 disagreements" in text
    assert re.search(r"^\s+8\tpred='B'\tours=None\t", text, re.M)


@pytest.mark.parametrize("row, field, expected", [
    ({"r": "The answer is A", "options": "x; y", "answer": "A"}, "options", "expected a list"),
    ({"r": "The answer is A", "options": ["only"], "answer": "A"}, "options", "expected 2 to 21 options"),
    ({"r": "The answer is A", "options": {"A": "x", "C": "y"}, "answer": "A"}, "options", "in order"),
    ({"options": ["x", "y"], "answer": "A"}, "r", "missing"),
    ({"r": None, "options": ["x", "y"], "answer": "A"}, "r", "expected a string"),
    ({"r": "The answer is A", "options": ["x", "y"], "answer": "C"}, "answer", "expected distinct letters"),
    ({"r": "The answer is A", "options": ["x", "y"]}, "answer", "missing"),
])
def test_malformed_row_is_one_line_naming_line_and_field(row, field, expected, tmp_path, capsys):
    good = {"r": "The answer is (A).", "options": ["x", "y"], "answer": "A"}
    src = write_jsonl(tmp_path / "in.jsonl", [good, good, row])
    code, _, err = run(["score", "--input", str(src), "--response-field", "r",
                        "--out", str(tmp_path / "o.jsonl")], capsys)
    assert code == 2
    assert err.startswith(f"error: {src}:3: field '{field}':") and expected in err
    assert err.count("\n") == 1
    assert not (tmp_path / "o.jsonl").exists()


def test_bad_json_array_item_and_bad_jsonl_line(tmp_path, capsys):
    arr = tmp_path / "in.json"
    arr.write_text(json.dumps([{"r": "A", "options": ["x", "y"], "answer": "A"}, ["not", "an", "object"]]))
    code, _, err = run(["score", "--input", str(arr), "--response-field", "r", "--out",
                        str(tmp_path / "o.jsonl")], capsys)
    assert code == 2 and err.startswith(f"error: {arr}:2:") and "expected a JSON object" in err
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"r": "A", "options": ["x", "y"], "answer": "A"}\n{"r": \n')
    code, _, err = run(["score", "--input", str(bad), "--response-field", "r", "--out",
                        str(tmp_path / "o.jsonl")], capsys)
    assert code == 2 and err.startswith(f"error: {bad}:2:") and "invalid JSON" in err


def test_console_script_prints_no_traceback(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [{"r": "A", "options": 5, "answer": "A"}])
    exe = Path(sys.executable).with_name("fleming")
    proc = subprocess.run([str(exe), "score", "--input", str(src), "--response-field", "r",
                           "--out", str(tmp_path / "o.jsonl")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr == f"error: {src}:1: field 'options': expected a list of option texts or a dict " \
                          "letter->text, got int\n"


def test_json_array_is_read_and_a_broken_one_names_its_line(tmp_path, capsys):
    good = tmp_path / "rows.json"
    good.write_text(json.dumps([{"r": "The answer is (B).", "options": ["x", "y"], "answer": 1}], indent=1))
    code, text, _ = run(["score", "--input", str(good), "--response-field", "r", "--out",
                         str(tmp_path / "o.jsonl")], capsys)
    assert code == 0 and "accuracy 1.0000" in text
    broken = tmp_path / "broken.json"
    broken.write_text('[\n {"r": "A",\n  "options": ["x" "y"]}\n]')
    code, _, err = run(["score", "--input", str(broken), "--response-field", "r", "--out",
                        str(tmp_path / "o.jsonl")], capsys)
    assert code == 2 and err.startswith(f"error: {broken}:3:") and "invalid JSON" in err
