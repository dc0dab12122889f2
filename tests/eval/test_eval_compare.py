"""`fleming eval compare`: paired differences on common ids, exact McNemar against scipy."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import binomtest
from typer.testing import CliRunner

from fleming.cli import build_app
from fleming.errors import ConfigError
from fleming.eval.compare import compare_runs
from fleming.eval.items import ItemLog


def write_run(folder, bench: str, correct: dict[str, bool], failed: tuple[str, ...] = ()) -> None:
    rows = [{"id": i, "status": "failed" if i in failed else ("correct" if c else "wrong"),
             "correct": c and i not in failed} for i, c in correct.items()]
    ItemLog(folder / f"{bench}.jsonl").append(rows)


@pytest.fixture
def two_runs(tmp_path):
    rng = np.random.default_rng(7)
    ids = [f"q{i}" for i in range(120)]
    a = {i: bool(rng.random() < 0.5) for i in ids[:110]}  # A lacks q110..q119
    b = {i: bool(rng.random() < 0.65) for i in ids}
    write_run(tmp_path / "A", "medqa", a, failed=("q0", "q1"))
    write_run(tmp_path / "B", "medqa", b, failed=("q2",))
    write_run(tmp_path / "A", "pubmedqa", {"p1": True, "p2": False})
    write_run(tmp_path / "B", "pubmedqa", {"p1": True, "p2": True})
    write_run(tmp_path / "B", "careqa", {"c1": True})  # only in B: not compared
    return tmp_path / "A", tmp_path / "B", a, b


def test_paired_counts_and_p_value_match_an_independent_computation(two_runs):
    dir_a, dir_b, a, b = two_runs
    res = compare_runs(dir_a, dir_b, seed=0)
    assert list(res["benchmarks"]) == ["medqa", "pubmedqa"]
    m = res["benchmarks"]["medqa"]
    paired = [i for i in a if i in b and i not in ("q0", "q1", "q2")]
    only_a = sum(a[i] and not b[i] for i in paired)
    only_b = sum(b[i] and not a[i] for i in paired)
    assert (m["n"], m["n_failed_excluded"], m["n_only_in_b"]) == (len(paired), 3, 10)
    assert (m["only_a_correct"], m["only_b_correct"]) == (only_a, only_b)
    assert m["accuracy_a"] == pytest.approx(np.mean([a[i] for i in paired]))
    assert m["diff"] == pytest.approx((only_b - only_a) / len(paired))
    assert m["mcnemar_p"] == pytest.approx(binomtest(only_a, only_a + only_b, 0.5).pvalue, rel=1e-9)
    assert m["diff_ci"][0] < m["diff"] < m["diff_ci"][1]
    p = res["benchmarks"]["pubmedqa"]
    assert (p["only_a_correct"], p["only_b_correct"], p["mcnemar_p"]) == (0, 1, 1.0)
    assert res["macro"]["diff"] == pytest.approx((m["diff"] + p["diff"]) / 2)


def test_cli_prints_the_table_and_writes_json(two_runs, tmp_path):
    dir_a, dir_b, *_ = two_runs
    out = tmp_path / "cmp.json"
    r = CliRunner().invoke(build_app(), ["eval", "compare", str(dir_a), str(dir_b), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "| MedQA |" in r.output and "McNemar" in r.output
    assert json.loads(out.read_text())["benchmarks"]["pubmedqa"]["n"] == 2


def test_runs_without_common_benchmarks_are_an_error(tmp_path):
    write_run(tmp_path / "A", "medqa", {"x": True})
    write_run(tmp_path / "B", "careqa", {"x": True})
    with pytest.raises(ConfigError, match="share no benchmark"):
        compare_runs(tmp_path / "A", tmp_path / "B")
    with pytest.raises(ConfigError, match="not a directory"):
        compare_runs(tmp_path / "nope", tmp_path / "B")
