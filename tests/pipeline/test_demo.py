"""`fleming demo` end to end at a small size: every stage runs, counts reconcile, a re-run resumes."""

from __future__ import annotations

import json

import pytest

from fleming.cli import main

SMALL = """
seed: 1
synth_n: 40
warmup_n: 80
warmup:
  eval_fraction: 0.0
  trl: {max_steps: 12, per_device_train_batch_size: 8, learning_rate: 0.003, max_length: 256}
decontaminate: auto
refine:
  labelcheck: {k: 5, min_correct: 1, temperature: 0.8, max_tokens: 48}
  difficulty: {llm: {votes: 1, max_tokens: 48}, empirical: true, kg: true}
  mix: {source: {synthetic: 1.0}, formats: [parquet, hf]}
"""


def fleming(*args: str) -> None:
    with pytest.raises(SystemExit) as e:
        main(list(args))
    assert e.value.code == 0


@pytest.mark.slow
def test_demo_small_end_to_end_and_resume(tmp_path, capsys):
    cfg = tmp_path / "demo.yaml"
    cfg.write_text(SMALL)
    out = tmp_path / "run"
    fleming("demo", "--config", str(cfg), "--out", str(out))
    report = (out / "report.md").read_text()
    for heading in ("## Knowledge graph", "## Synthesis", "## Validator", "## Refinement funnel",
                    "## Training set"):
        assert heading in report
    assert (out / "report" / "funnel.png").stat().st_size > 1000
    funnel = json.loads((out / "refine" / "reports" / "funnel.json").read_text())
    assert funnel["reconciles"] is True
    steps = {s["step"]: s for s in funnel["steps"]}
    assert steps["inputs"]["in"] == 40
    for a, b in zip(funnel["steps"], funnel["steps"][1:], strict=False):
        assert b["in"] == a["kept"]  # each step takes exactly what the one before kept
    lc = steps["labelcheck"]
    assert lc["extra"]["trials"] == 5 * lc["in"]  # five trials per item
    assert lc["dropped"] == lc["drop_reasons"].get("review_queue", 0)
    assert (out / "refine" / "steps" / "05_labelcheck" / "review_queue.csv").is_file()
    capsys.readouterr()
    fleming("demo", "--config", str(cfg), "--out", str(out))  # resumes: every stage is already done
    log = capsys.readouterr().out
    for stage in ("kg", "synth", "warmup_items", "model", "validator", "refine"):
        assert f"[demo] {stage}: done, skipped" in log
