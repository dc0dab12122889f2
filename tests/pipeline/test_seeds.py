"""The summary over RL seeds (``fleming.pipeline.seeds.summarize``), on per-item results worked by hand."""

from __future__ import annotations

import pytest

from fleming.pipeline.seeds import summarize

COT = {"a": False, "b": False, "c": True, "d": True}                  # +CoT: 2 of 4


def seed(s: int, correct: dict[str, bool]) -> dict:
    return {"seed": s, "rows": {"+RL1": {"accuracy": sum(correct.values()) / 4, "correct": correct}}}


def test_summary_over_three_seeds():
    per_seed = [seed(0, {"a": True, "b": False, "c": True, "d": True}),      # 3/4: +1 item
                seed(5, {"a": False, "b": False, "c": False, "d": True}),    # 1/4: -1 item
                seed(9, {"a": True, "b": True, "c": True, "d": True})]       # 4/4: +2 items
    row = summarize(per_seed, COT)["+RL1"]
    assert row["seeds"] == [0, 5, 9] and row["accuracy"] == [0.75, 0.25, 1.0]
    assert row["mean"] == pytest.approx(2 / 3) and row["min"] == 0.25 and row["max"] == 1.0
    assert row["sd"] == pytest.approx(0.381881, abs=1e-6)      # sqrt(0.291667 / 2)
    assert row["gain_mean"] == pytest.approx(1 / 6) and row["seeds_above_cot"] == 2
    assert row["vs_cot"]["5"]["only_a"] == 1 and row["vs_cot"]["5"]["only_b"] == 0
    assert row["vs_cot"]["9"]["diff"] == 0.5 and "+RL2" not in summarize(per_seed, COT)
