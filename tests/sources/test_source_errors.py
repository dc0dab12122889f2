"""Malformed inputs: small bad files in a temporary data directory give one-line errors naming the file,
the line or row and the field; known-unusable rows are dropped with a reason instead."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fleming.cli import main
from fleming.errors import InputError
from fleming.sources.registry import REGISTRY, load

GOOD_MEDQA = {"question": "Which vitamin?", "options": {"A": "C", "B": "D", "C": "K", "D": "B12"},
              "answer_idx": "B", "answer": "D", "meta_info": "step1"}


def put(root: Path, name: str, content: str | bytes, index: int = 0) -> Path:
    """Write ``content`` where loader ``name`` expects its index-th file."""
    path = root / REGISTRY[name].files[index]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def lines(*objs: dict) -> str:
    return "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objs)


def error(name: str, root: Path) -> str:
    with pytest.raises(InputError) as ei:
        load(name, root)
    msg = str(ei.value)
    assert "\n" not in msg
    return msg


def test_bad_json_names_file_and_line(tmp_path):
    p = put(tmp_path, "medqa", lines(GOOD_MEDQA) + '{"question": "x" "y"}\n')
    assert error("medqa", tmp_path) == f"{p}:2: invalid JSON: Expecting ',' delimiter (column 18)"


def test_bad_utf8_names_file_and_line(tmp_path):
    p = put(tmp_path, "medqa", lines(GOOD_MEDQA).encode() + b'{"question": "\xff"}\n')
    assert error("medqa", tmp_path).startswith(f"{p}:2: not valid UTF-8")


@pytest.mark.parametrize("change, expected", [
    ({"answer_idx": None}, "field 'answer_idx': expected one option letter"),
    ({"answer_idx": "F"}, "field 'answer_idx (answer)': letters ['F'] are not among the options"),
    ({"question": ""}, "field 'question': empty"),
    ({"options": ["C", "D"]}, "field 'options': expected an object of letter -> text"),
    ({"options": {"A": "C", "C": "D"}, "answer_idx": "A", "answer": "C"},
     "field 'options': option letters must be"),
    ({"answer": "K"}, "field 'answer': option text 'K' is not option B"),
])
def test_bad_medqa_fields(tmp_path, change, expected):
    p = put(tmp_path, "medqa", lines(GOOD_MEDQA, {**GOOD_MEDQA, **change}))
    msg = error("medqa", tmp_path)
    assert msg.startswith(f"{p}:2: ") and expected in msg


def test_inline_choices_unparseable(tmp_path):
    p = put(tmp_path, "medmcqa", lines({"id": "u1", "question": "Stem without choices", "label": ["A"]}))
    msg = f"{p}:1: field 'question': no 'Answer Choices:' block in the question"
    assert error("medmcqa", tmp_path) == msg


def test_careqa_nan_rows_dropped_but_partial_nan_is_an_error(tmp_path):
    row = {"exam_id": 1.0, "question": "Q?", "op1": "a", "op2": "b", "op3": "c", "op4": "d", "cop": 4.0,
           "year": 2021.0, "category": "Nursing", "unique_id": "u"}
    nan_row = '{"exam_id": NaN, "question": NaN, "op1": NaN, "op2": NaN, "op3": NaN, "cop": NaN}\n'
    put(tmp_path, "careqa", lines(row) + nan_row)
    res = load("careqa", tmp_path)
    assert res.stats.n_kept == 1 and dict(res.stats.dropped) == {"row of bare NaN values": 1}
    assert res.records[0].answer == ["D"] and res.records[0].metadata.exam == "2021"
    p = put(tmp_path, "careqa", lines(row) + '{"question": NaN, "op1": "a", "cop": 1.0}\n')
    assert error("careqa", tmp_path) == f"{p}:2: field 'question': missing, expected a non-empty string"
    p = put(tmp_path, "careqa", lines({**row, "cop": 2.5}))
    assert error("careqa", tmp_path) == f"{p}:1: field 'cop': expected a whole number 1-4, got 2.5"


def write_xlsx(path: Path, header: list[str], rows: list[list]) -> Path:
    from openpyxl import Workbook

    path.parent.mkdir(parents=True, exist_ok=True)
    wb = Workbook()
    wb.active.append(header)
    for r in rows:
        wb.active.append(r)
    wb.save(path)
    return path


JMED_HEADER = ["diagId", "final_question", "final_options", "final_correct_answer", "qwen_score"]


@pytest.mark.parametrize("options, answer, expected", [
    ('{"options": {"A": "x", "B": "y"', "['A']", "field 'final_options': invalid JSON"),
    ('{"choices": {"A": "x"}}', "['A']", "field 'final_options': expected JSON {\"options\""),
    ('{"options": {"A": "x", "B": "y"}}', "['C']",
     "field 'final_correct_answer (answer)': letters ['C'] are not among the options"),
    ('{"options": {"A": "x", "B": "y"}}', "A or B",
     "field 'final_correct_answer': expected a non-empty list"),
])
def test_jmed_bad_cells(tmp_path, options, answer, expected):
    p = write_xlsx(tmp_path / REGISTRY["jmed"].files[0], JMED_HEADER,
                   [[1, "问题一", '{"options": {"A": "甲", "B": "乙"}}', "['B']", 1],
                    [2, "问题二", options, answer, 0]])
    msg = error("jmed", tmp_path)
    assert msg.startswith(f"{p}:3: ") and expected in msg


def test_jmed_good_rows_and_missing_column(tmp_path):
    p = write_xlsx(tmp_path / REGISTRY["jmed"].files[0], JMED_HEADER,
                   [[1, "问题一", '{"options": {"B": "乙", "A": "甲"}}', "['B']", 1]])
    res = load("jmed", tmp_path)
    assert res.records[0].options == {"A": "甲", "B": "乙"} and res.records[0].answer_text == "乙"
    write_xlsx(p, ["diagId", "final_question", "final_options"], [[1, "q", "{}"]])
    assert error("jmed", tmp_path).startswith(f"{p}:1: field 'final_correct_answer': column missing")


def test_cmexam_options_cell(tmp_path):
    path = tmp_path / REGISTRY["cmexam"].files[0]
    write_xlsx(path, ["Question", "Options", "Answer", "Explanation"],
               [["题一", "A 甲\\nB 乙\\nC 丙", "AC", "nan"], ["题二", "A 甲\\nB 乙", "nan", ""]])
    res = load("cmexam", tmp_path)
    assert res.records[0].options == {"A": "甲", "B": "乙", "C": "丙"} and res.records[0].answer == ["A", "C"]
    assert res.records[0].metadata.extra == {"multi_answer": True}
    assert dict(res.stats.dropped) == {"no gold answer (Answer is 'nan')": 1}
    write_xlsx(path, ["Question", "Options", "Answer"], [["题", "甲乙丙", "A"]])
    expected = f"{path}:2: field 'Options': part 1 is not '<letter> <text>': '甲乙丙'"
    assert error("cmexam", tmp_path) == expected
    write_xlsx(path, ["Question", "Options", "Answer"], [["题", "B 甲\\nA 乙", "A"]])
    assert "letter A out of order" in error("cmexam", tmp_path)


def test_not_an_xlsx_file(tmp_path):
    p = put(tmp_path, "cmexam", b"Question,Options\n")
    assert error("cmexam", tmp_path).startswith(f"{p}: not a readable .xlsx file")


def test_medbullets_csv_and_json_errors(tmp_path):
    header = "link,question,opa,opb,opc,opd,ope,answer_idx,answer,explanation\n"
    p = put(tmp_path, "medbullets", header + 'l,"Q?",a,b,c,d,e,B,b,x\nl2,"Q2?",a,b,c,d\n')
    assert error("medbullets", tmp_path) == f"{p}:3: expected 10 CSV fields, got 6"
    p = put(tmp_path, "medbullets", header + 'l,"Q?",a,b,c,d,e,B,c,x\n')
    assert error("medbullets", tmp_path) == f"{p}:2: field 'answer': 'c' is not option B"
    p = put(tmp_path, "medbullets", b"link,question,opa,opb,answer_idx\nl,\"Q \xe9\",a,b,A\n")
    assert error("medbullets", tmp_path).startswith(f"{p}:2: not UTF-8")
    p = put(tmp_path, "medbullets_json", json.dumps({"question": {"0": "Q"}, "opa": {"0": "a"}}))
    assert error("medbullets_json", tmp_path) == f"{p}: field 'opb': column missing"
    cols = {"question": {"0": "Q", "1": "Q"}, "opa": {"0": "a", "1": "a"}, "opb": {"0": "b", "1": "b"},
            "answer_idx": {"0": "A", "1": "Z"}}
    p = put(tmp_path, "medbullets_json", json.dumps(cols))
    expected = f"{p}: field '1.answer_idx': expected one option letter A-U, got 'Z'"
    assert error("medbullets_json", tmp_path) == expected


def test_pubmedqa_ground_truth_must_agree(tmp_path):
    entry = {"QUESTION": "Q?", "CONTEXTS": ["c1", "c2"], "final_decision": "no"}
    put(tmp_path, "pubmedqa", json.dumps({"1": entry, "2": {**entry, "final_decision": "maybe"}}))
    put(tmp_path, "pubmedqa", json.dumps({"1": "no"}), index=1)
    res = load("pubmedqa", tmp_path)
    assert [(r.answer, r.context) for r in res.records] == [(["B"], "c1\nc2")]
    assert load("pubmedqa_train", tmp_path).records[0].answer == ["C"]
    p = put(tmp_path, "pubmedqa", json.dumps({"1": "yes"}), index=1)
    ori = tmp_path / REGISTRY["pubmedqa"].files[0]
    expected = f"{ori}: field '1.final_decision': 'no' but {p.relative_to(tmp_path)} says 'yes'"
    assert error("pubmedqa", tmp_path) == expected
    put(tmp_path, "pubmedqa", json.dumps({"3": "yes"}), index=1)
    assert error("pubmedqa", tmp_path) == f"{p}: field '3': PMID not in pubmedqa/ori_pqal.json"
    put(tmp_path, "pubmedqa", json.dumps({"1": {"QUESTION": "Q?", "CONTEXTS": "text"}}))
    put(tmp_path, "pubmedqa", json.dumps({}), index=1)
    msg = error("pubmedqa_train", tmp_path)
    assert msg.endswith("field '1.final_decision': expected yes, no or maybe: None")


def test_missing_file(tmp_path):
    assert error("medqa", tmp_path).endswith("test.jsonl: file not found (is the data directory "
                                             f"{tmp_path} right?)")


def test_cli_error_is_one_line_with_exit_2(tmp_path, capsys):
    p = put(tmp_path, "medqa", lines(GOOD_MEDQA, {**GOOD_MEDQA, "answer_idx": 3}))
    with pytest.raises(SystemExit) as ei:
        main(["data", "load", "medqa", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o.jsonl")])
    assert ei.value.code == 2
    err = capsys.readouterr().err
    assert err == f"error: {p}:2: field 'answer_idx': expected one option letter A-U, got 3\n"
    assert not (tmp_path / "o.jsonl").exists()


def test_cli_unknown_name(capsys, tmp_path):
    with pytest.raises(SystemExit) as ei:
        main(["data", "load", "medqa_typo", "--out", str(tmp_path / "o.jsonl")])
    assert ei.value.code == 2
    assert capsys.readouterr().err.startswith("error: unknown data source 'medqa_typo'")


def test_cli_subprocess_no_traceback(tmp_path):
    put(tmp_path, "careqa", b'{"question": "\xc3\x28"}\n')
    proc = subprocess.run([sys.executable, "-m", "fleming.cli", "data", "load", "careqa", "--data-dir",
                           str(tmp_path), "--out", str(tmp_path / "o.jsonl")], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and "care_qa.jsonl:1: not valid UTF-8" in proc.stderr
