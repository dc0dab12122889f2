"""`fleming refine CONFIG` on real loaders plus a raw file: counts reconcile at every step (checked against
the exclusion files too), every kind of drop lands where it should, the run resumes per step, and the
CLI reports bad input in one line."""

from __future__ import annotations

import json

import pytest
import yaml

from fleming.cli import main
from fleming.io import read_records
from fleming.refine.pipeline import STEPS

PHI_Q = ("Mr. Dmitri Volkov (phone 555-201-3344) reports a rash after starting lamotrigine. Which finding is "
         "next?")


def raw_rows(train_item, test_item):
    rows = [{"id": f"syn-{i}", "source": "synthetic-kg", "split": "train",
             "question": f"A patient with finding number {i} and a rare sign {i * 7} needs which test {i}?",
             "options": {"A": f"Test alpha {i}", "B": f"Test beta {i}", "C": f"Test gamma {i}"},
             "answer": ["B"], "metadata": {"extra": {"hops": 1 + i % 4, "rarity": (i % 10) / 10}}}
            for i in range(20)]
    copy = train_item.model_dump(mode="json")
    planted = test_item.model_dump(mode="json")
    rows += [
        {**copy, "id": "syn-copy", "source": "synthetic-kg"},
        {**planted, "id": "syn-planted", "source": "synthetic-kg", "split": "train",
         "question": planted["question"].replace(" is ", " was ")},
        {**rows[0], "id": "bad-answer", "answer": ["F"]},
        {**rows[0], "id": "one-option", "options": {"A": "only"}, "answer": ["A"]},
        {**rows[1], "id": "syn-dupopt", "question": "Which is the dup option item?",
         "options": {"A": "Same", "B": "Same", "C": "Other"}},
        {**rows[2], "id": "syn-mojibake", "question": "Which drug causes cafÃ© au lait macules here?"},
        {**rows[3], "id": "syn-phi", "question": PHI_Q},
    ]
    return rows


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, records):
    tmp = tmp_path_factory.mktemp("refine")
    raw = tmp / "raw.jsonl"
    lines = [json.dumps(r, ensure_ascii=False) for r in raw_rows(records("medqa_train_sample")[0],
                                                                  records("medqa")[5])]
    lines.insert(3, '{"id": "broken", "question": ')
    raw.write_text("\n".join(lines) + "\n", encoding="utf-8")
    cfg = {"inputs": [{"loader": "medqa_train_sample"}, {"loader": "pubmedqa_train", "limit": 100},
                      {"path": str(raw)}, {"path": str(tmp / "absent.jsonl"), "optional": True}],
           "decontam": {"benchmarks": ["medqa", "pubmedqa"]},
           "mix": {"source": {"public": 0.5, "synthetic": 0.5}, "formats": ["parquet", "hf", "jsonl"]}}
    (tmp / "refine.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return tmp


def refine(run_dir, capsys, *extra) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(["refine", str(run_dir / "refine.yaml"), "--out", str(run_dir / "run"), *extra])
    out, err = capsys.readouterr()
    return e.value.code or 0, out, err


def stats(run_dir, step: str) -> dict:
    i = STEPS.index(step)
    return json.loads((run_dir / "run" / "refine" / "stats" / f"{i:02d}_{step}.json").read_text())


def exclusions(run_dir, step: str) -> list[dict]:
    i = STEPS.index(step)
    path = run_dir / "run" / "refine" / "exclusions" / f"{i:02d}_{step}.jsonl"
    with open(path, encoding="utf-8") as f:  # records may hold U+2028, which str.splitlines() splits on
        return [json.loads(line) for line in f]


def test_run_reconciles_at_every_step(run_dir, capsys):
    code, out, _ = refine(run_dir, capsys)
    assert code == 0, out
    assert "counts reconcile: True" in out
    for step in STEPS:
        s = stats(run_dir, step)
        assert s["in"] == s["kept"] + s["dropped"] and s["reconciles"], s
        excl = exclusions(run_dir, step)
        assert len(excl) == s["dropped"] and Counter_of(excl) == s["drop_reasons"], step
    for prev, nxt in zip(STEPS, STEPS[1:], strict=False):
        assert stats(run_dir, prev)["kept"] == stats(run_dir, nxt)["in"]
    funnel = json.loads((run_dir / "run" / "refine" / "reports" / "funnel.json").read_text())
    assert funnel["reconciles"] and [s["step"] for s in funnel["steps"]] == STEPS


def Counter_of(excl: list[dict]) -> dict[str, int]:  # noqa: N802 - reads like collections.Counter
    out: dict[str, int] = {}
    for e in excl:
        out[e["reason"]] = out.get(e["reason"], 0) + 1
    return out


def test_each_drop_lands_in_its_step(run_dir):
    inputs = stats(run_dir, "inputs")["drop_reasons"]
    assert inputs == {"loader:test part (in the test ground truth)": 500, "input_limit": 400,
                      "malformed_json": 1, "answer_not_in_options": 1, "option_count_out_of_range": 1}
    assert stats(run_dir, "inputs")["extra"]["inputs"]["absent"] == {"missing": str(run_dir / "absent.jsonl")}
    fmt = stats(run_dir, "format")
    assert fmt["drop_reasons"] == {"duplicate_options": 1} and fmt["extra"]["fixed:mojibake"] == 1
    dup = [(e["record"]["id"], e["record"]["metadata"]["extra"]["duplicate_of"]["source"])
           for e in exclusions(run_dir, "dedup")]
    assert dup == [("syn-copy", "medqa")]
    dec = [(e["record"]["id"], e["record"]["metadata"]["extra"]["contamination"]["benchmark"])
           for e in exclusions(run_dir, "decontam")]
    assert dec == [("syn-planted", "medqa")]
    report = json.loads((run_dir / "run" / "refine" / "reports" / "contamination.json").read_text())
    assert report["benchmarks"]["medqa"]["train_items_removed"] == 1


def test_outputs_anonymized_labelled_and_mixed(run_dir):
    root = run_dir / "run" / "refine"
    final = {r.id: r for r in read_records(root / "steps" / "08_mix" / "records.jsonl")}
    anon = {r.id: r for r in read_records(root / "steps" / "04_anonymize" / "records.jsonl")}
    assert anon["syn-phi"].question.startswith("Mr. [NAME] (phone [PHONE]) reports a rash after starting "
                                               "lamotrigine.")
    labelled = {r.id: r for r in read_records(root / "steps" / "07_difficulty" / "records.jsonl")}
    assert labelled["syn-0"].metadata.difficulty_source == "kg"
    synthetic = sum(1 for r in final.values() if r.source.startswith("synthetic"))
    assert synthetic == 22 and len(final) == 44  # 20 + the mojibake and PHI items, and as many public
    mix = json.loads((root / "reports" / "mix.json").read_text())
    assert mix["total_achieved"] == 44 and mix["short"] == []
    import datasets

    assert len(datasets.load_from_disk(str(root / "train_hf"))) == 44
    assert len(list(read_records(root / "train.parquet"))) == 44
    assert {r.id for r in read_records(root / "train.jsonl")} == set(final)
    assert (root / "reports" / "funnel.png").stat().st_size > 1000
    assert "| decontam |" in (root / "reports" / "funnel.md").read_text()


def test_resume_skips_finished_steps_and_reruns_changed_ones(run_dir, capsys):
    code, out, _ = refine(run_dir, capsys)
    assert code == 0 and out.count("done, skipped") == len(STEPS)
    cfg = yaml.safe_load((run_dir / "refine.yaml").read_text())
    cfg["mix"]["seed"] = 7
    (run_dir / "refine.yaml").write_text(yaml.safe_dump(cfg))
    code, out, _ = refine(run_dir, capsys)
    assert code == 0 and out.count("done, skipped") == len(STEPS) - 1 and "08 mix: in" in out
    code, out, _ = refine(run_dir, capsys, "--rerun-from", "anonymize")
    assert code == 0 and out.count("done, skipped") == STEPS.index("anonymize")


@pytest.mark.parametrize("content,message", [
    ("inputs: [{loader: medqa}]\ndedup: {treshold: 0.5}\n", "dedup.treshold: unknown key"),
    ("inputs: [{loader: medqa, path: x.jsonl}]\n", "give exactly one of 'loader' or 'path'"),
    ("mix: {source: {public: 0.9}}\n", "mix.source: proportions must be >= 0 and sum to 1"),
    ("format: {min_options: many}\n", "format.min_options:"),
])
def test_config_errors_are_one_line(tmp_path, capsys, content, message):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(SystemExit) as e:
        main(["refine", str(path), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert str(path) in err


def test_missing_input_file_and_unknown_step(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text(f"inputs: [{{path: {tmp_path / 'nope.jsonl'}}}]\n")
    with pytest.raises(SystemExit) as e:
        main(["refine", str(path), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "nope.jsonl" in err and "input file not found" in err
    with pytest.raises(SystemExit) as e:
        main(["refine", "run", str(path), "--rerun-from", "polish"])
    assert e.value.code == 2 and "--rerun-from 'polish'" in capsys.readouterr().err
