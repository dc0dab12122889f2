"""Results, tables and chart from per-item rows, checked against hand counts and the paper's averages."""

from __future__ import annotations

import numpy as np
import pytest

from fleming.eval.benchmarks import BENCHMARKS, PAPER_AVERAGES, PAPER_TABLE3, table3
from fleming.eval.plots import plot_results
from fleming.eval.results import build_results, macro_average
from fleming.eval.tables import results_markdown, table3_markdown


def mkrow(i: int, statuses: list[str], categories: dict | None = None, correct: bool | None = None,
          error: str | None = None) -> dict:
    """A per-item row as the runner writes it (statuses per sample; 'failed' for a failed request)."""
    if error:
        return {"id": str(i), "prompt_id": "p", "samples": [], "status": "failed", "correct": False,
                "n_correct": 0, "error": error, "categories": categories or {}}
    samples = [{"extracted": None if s == "unparsed" else ["A"], "status": s} for s in statuses]
    n_correct = statuses.count("correct")
    correct = statuses[0] == "correct" if correct is None else correct
    return {"id": str(i), "prompt_id": "p", "samples": samples, "n_correct": n_correct, "correct": correct,
            "status": "correct" if correct else statuses[0], "error": None, "categories": categories or {}}


def medqa_rows() -> list[dict]:
    rows = []
    # step1: 4 correct, 1 wrong; step2&3: 2 correct, 2 wrong, 1 unparsed; 2 failed requests.
    for i, s in enumerate(["correct"] * 4 + ["wrong"]):
        rows.append(mkrow(i, [s], {"step": "step1"}))
    for i, s in enumerate(["correct"] * 2 + ["wrong"] * 2 + ["unparsed"], start=5):
        rows.append(mkrow(i, [s], {"step": "step2&3"}))
    rows.append(mkrow(10, [], {"step": "step1"}, error="HTTP 500 after 3 tries"))
    rows.append(mkrow(11, [], {"step": "step1"}, error="timeout"))
    return rows


def test_benchmark_entry_counts_accuracy_unparsed_failed_and_breakdown():
    res = build_results({"medqa": (BENCHMARKS["medqa"], medqa_rows())}, samples=1, seed=0, run={"model": "m"})
    e = res["benchmarks"]["medqa"]
    assert (e["n"], e["n_failed"]) == (10, 2)
    assert e["accuracy"] == pytest.approx(0.6)
    assert e["unparsed_rate"] == pytest.approx(0.1)
    assert e["ci"][0] < 0.6 < e["ci"][1]
    assert {f["id"]: f["error"] for f in e["failed"]} == {"10": "HTTP 500 after 3 tries", "11": "timeout"}
    steps = e["breakdowns"]["step"]
    assert steps["step1"]["n"] == 5 and steps["step1"]["accuracy"] == pytest.approx(0.8)
    assert steps["step2&3"]["accuracy"] == pytest.approx(0.4)
    assert steps["step2&3"]["unparsed_rate"] == pytest.approx(0.2)
    assert "majority" not in e and "pass_at_k" not in e
    assert res["macro_average"]["accuracy"] == pytest.approx(0.6)
    assert res["macro_average"]["complete"] is False


def test_samples_give_pass_at_k_and_majority_vote():
    # 3 items x 4 samples: 0, 1 and 3 correct; majority-vote correctness given per row.
    rows = [mkrow(0, ["wrong"] * 4, correct=False),
            mkrow(1, ["correct", "wrong", "unparsed", "wrong"], correct=False),
            mkrow(2, ["correct", "correct", "wrong", "correct"], correct=True)]
    e = build_results({"pubmedqa": (BENCHMARKS["pubmedqa"], rows)}, samples=4, seed=0,
                      run={})["benchmarks"]["pubmedqa"]
    assert e["accuracy"] == pytest.approx((0 + 1 / 4 + 3 / 4) / 3)
    assert e["unparsed_rate"] == pytest.approx(1 / 12)
    assert e["majority"]["accuracy"] == pytest.approx(1 / 3)
    # pass@2 by hand: item1 = 1 - C(3,2)/C(4,2) = 1/2; item2 = 1 (only one wrong sample).
    assert e["pass_at_k"] == pytest.approx({"1": 1 / 3, "2": (0 + 0.5 + 1) / 3, "4": 2 / 3})


def test_macro_average_reproduces_the_papers_averages():
    for ref, scores in PAPER_TABLE3.items():
        entries = {n: {"table3": True, "accuracy": s / 100} for n, s in scores.items()}
        entries["cmexam"] = {"table3": False, "accuracy": 0.0}  # outside Table 3: not averaged
        reps = {n: np.full(10, e["accuracy"]) for n, e in entries.items()}
        macro = macro_average(entries, reps, n_table3=9)
        assert 100 * macro["accuracy"] == pytest.approx(PAPER_AVERAGES[ref], abs=0.005)
        assert macro["complete"] and "cmexam" not in macro["benchmarks"]


def two_benchmark_results() -> dict:
    rows_cm = [mkrow(i, ["correct" if i % 2 else "wrong"]) for i in range(6)]
    return build_results({"medqa": (BENCHMARKS["medqa"], medqa_rows()),
                          "cmexam": (BENCHMARKS["cmexam"], rows_cm)},
                         samples=1, seed=0, run={"model": "tiny", "backend": "hf"})


def test_table3_markdown_layout():
    md = table3_markdown(two_benchmark_results(), "tiny")
    header, _, ours, ci, unparsed, n, *paper = md.split("\n\n")[0].splitlines()
    cols = [c.strip() for c in header.strip("|").split("|")]
    assert cols == ["Model", *[b.display for b in table3()], "Avg. (1/9)", "CMExam†"]
    cells = [c.strip() for c in ours.strip("|").split("|")]
    assert cells[0] == "tiny"
    assert cells[cols.index("MedQA")] == "60.00" and cells[cols.index("Avg. (1/9)")] == "60.00"
    assert cells[cols.index("CMExam†")] == "50.00"
    assert cells[cols.index("CareQA")] == "—"
    assert [c.strip() for c in n.strip("|").split("|")][cols.index("MedQA")] == "10 (2)"
    assert [p.split("|")[1].strip() for p in paper] == list(PAPER_TABLE3)
    assert "63.37" in paper[0]


def test_results_markdown_lists_breakdowns_and_failed_items():
    md = results_markdown(two_benchmark_results())
    assert "### MedQA by step" in md and "| step2&3 | 5 | 40.00 |" in md
    assert "### MedQA: 2 failed" in md and "- `11`: timeout" in md


def test_plot_writes_a_png(tmp_path):
    from matplotlib.image import imread

    path = plot_results(two_benchmark_results(), tmp_path / "chart.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = imread(path)
    assert img.shape[0] > 200 and img.shape[1] > 400
