"""The report's Table-4 section: a step is called significant only when both paired tests agree."""

from __future__ import annotations

import json

from fleming.report.training import ablation_section


def _row(acc: float) -> dict:
    return {"greedy": {"accuracy": acc, "ci": [acc - 0.05, acc + 0.05]}, "format_rate": 1.0}


def test_a_step_is_significant_only_when_the_ci_and_mcnemar_agree(tmp_path):
    (tmp_path / "eval").mkdir()
    table = {"heldout_items": 40, "rows": {"Base": _row(0.0), "+CoT": _row(0.1), "+RL1": _row(0.3)},
             "paired": {"Base -> +CoT": {"diff": 0.1, "ci": [0.025, 0.2], "only_a": 0, "only_b": 4,
                                         "mcnemar_p": 0.125},
                        "+CoT -> +RL1": {"diff": 0.2, "ci": [0.1, 0.3], "only_a": 0, "only_b": 8,
                                         "mcnemar_p": 0.0078}}}
    (tmp_path / "eval" / "ablation.json").write_text(json.dumps(table))
    out = tmp_path / "report"
    out.mkdir()
    lines = {ln.split(" | ")[0]: ln for ln in ablation_section(tmp_path, out) if ln.startswith("| ")}
    assert lines["| Base -> +CoT"].endswith("| CI excludes 0, McNemar does not |")
    assert lines["| +CoT -> +RL1"].endswith("| improves (significant) |")
