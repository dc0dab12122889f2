"""`fleming run` end to end at toy size: every stage runs, the report renders, a re-run skips everything,
a changed GRPO config re-runs GRPO and what follows (nothing before), a killed stage resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fleming.cli import main

TOY = """
out: {out}
seed: 1
kg:
  dir: {kg}
  slice: {{n_diseases: 40, min_phenotypes: 5, max_phenotypes: 12, gene_share: 0.3, seed: 0}}
synth: {{n: 400, n_options: 4}}
split: {{heldout_per_type: 6, validation_per_type: 4}}
model:
  pretrain: {{max_steps: 30, batch_size: 16, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1,
             num_attention_heads: 2, num_key_value_heads: 1, bpe_vocab: 400}}
validator: {{enabled: false}}      # the demo serves one; a 6-step validator would reject every item here
refine:
  labelcheck: {{enabled: false}}
  difficulty: {{llm: {{enabled: false}}, empirical: true, kg: true}}
  decontam: {{benchmarks: []}}
  mix: {{source: {{synthetic: 1.0}}, formats: [parquet]}}
cot: {{progress: false}}
base: {{enabled: true, trl: {{max_steps: 4, per_device_train_batch_size: 8, max_length: 256}}}}
sft: {{trl: {{max_steps: {sft_steps}, per_device_train_batch_size: 8, max_length: 256, save_steps: 2}}}}
grpo:
  heldout: {{n: 8, max_tokens: 32, batch: 16}}
  stage1:
    difficulties: [Easy, Moderate, Difficult]
    mix: all
    trl: {{num_generations: 2, per_device_train_batch_size: 4, max_completion_length: 32, max_steps: {g1},
          learning_rate: {lr}, save_steps: 1, logging_steps: 1}}
  mining: {{k: 2, max_tokens: 32, batch: 16, max_items: 20}}
  stage2:
    rounds: 1
    min_gain: -1.0
    trl: {{num_generations: 4, per_device_train_batch_size: 4, max_completion_length: 32, max_steps: 2,
          learning_rate: {lr}, save_steps: 1, logging_steps: 1}}
eval: {{samples: 2, max_tokens: 32, batch_size: 16}}
seeds: {{rl: {seeds}, workers: 2}}
"""


def write(tmp_path: Path, kg: Path, lr: str = "1.0e-5", sft_steps: int = 6, g1: int = 2, seeds: str = "[]"
          ) -> Path:
    cfg = tmp_path / "run.yaml"
    cfg.write_text(TOY.format(out=tmp_path / "run", kg=kg, lr=lr, sft_steps=sft_steps, g1=g1, seeds=seeds))
    return cfg


def fleming(*args: str) -> None:
    with pytest.raises(SystemExit) as e:
        main(list(args))
    assert e.value.code == 0


@pytest.mark.slow
def test_run_every_stage_then_skip_then_rerun_grpo(tmp_path, default_kg, capsys):
    cfg = write(tmp_path, default_kg)
    fleming("run", str(cfg))
    run = tmp_path / "run"
    stages = ["kg", "synth", "split", "model", "refine", "cot", "base", "sft", "grpo1", "grpo2", "eval",
              "report"]
    for s in stages:
        assert (run / s / ".done").is_file(), s
        assert (run / s / "stats.json").is_file(), s
    split = json.loads((run / "split" / "stats.json").read_text())
    assert split["stems_shared_with_train"] == 0 and split["reconciles"]
    table = json.loads((run / "eval" / "ablation.json").read_text())
    assert list(table["rows"]) == ["Base", "+CoT", "+RL1", "+RL2"]
    assert table["heldout_items"] == split["heldout"]["items"]
    for row in table["rows"].values():
        assert row["greedy"]["n"] == table["heldout_items"]
        assert 0 <= row["greedy"]["accuracy"] <= 1 and row["mean_at_k"]["k"] == 2
    assert set(table["paired"]) == {"Base -> +CoT", "+CoT -> +RL1", "+RL1 -> +RL2"}
    html = (run / "report.html").read_text()
    assert "Stage ablation" in html and "data:image/png;base64," in html and "<table>" in html
    capsys.readouterr()
    fleming("run", str(cfg))                       # nothing changed: every stage is skipped
    log = capsys.readouterr().out
    assert all(f"[run] {s}: done, skipped" in log for s in stages[:-1])
    write(tmp_path, default_kg, lr="2.0e-5", seeds="[0, 3, 4]")   # a changed GRPO setting, two more seeds
    fleming("run", str(cfg))
    log = capsys.readouterr().out
    assert all(f"[run] {s}: done, skipped" in log for s in stages[:stages.index("grpo1")])
    changed = "its config or an earlier stage changed"
    assert all(f"[run] {s}: {changed}" in log for s in ("grpo1", "grpo2", "eval"))
    check_seeds(run)


def check_seeds(run: Path) -> None:
    """The rl_seeds stage: seeds 3 and 4 trained in their own folders from +CoT, the run's own seed 0 read
    from the eval table, and the summary's figures recomputed here from the per-item results."""
    table = json.loads((run / "eval" / "ablation.json").read_text())
    summary = json.loads((run / "rl_seeds" / "summary.json").read_text())
    for label in ("+RL1", "+RL2"):
        row = summary["rows"][label]
        assert row["seeds"] == [0, 3, 4]
        per_seed = [table["rows"][label]["correct"]]
        for s in (3, 4):
            result = json.loads((run / "rl_seeds" / f"seed{s}" / "result.json").read_text())
            assert result["seed"] == s
            per_seed.append(result["rows"][label]["correct"])
        assert all(set(c) == set(table["rows"]["+CoT"]["correct"]) for c in per_seed)
        accs = [sum(c.values()) / len(c) for c in per_seed]
        assert row["accuracy"] == pytest.approx(accs) and row["mean"] == pytest.approx(sum(accs) / 3)
    sft = json.loads(next((run / "grpo1").rglob("grpo_stats.json")).read_text())["model_in"]
    for s in (3, 4):
        d = run / "rl_seeds" / f"seed{s}"
        g1 = json.loads(next((d / "grpo1").rglob("grpo_stats.json")).read_text())
        g2 = [json.loads(p.read_text()) for p in (d / "grpo2").rglob("grpo_stats.json")]
        assert g1["seed"] == s and g1["model_in"] == sft and any((d / "grpo1").rglob("*.safetensors"))
        assert g2 and all(g["seed"] == s for g in g2) and g2[0]["model_in"].startswith(str(d / "grpo1"))
    assert "RL over seeds" in (run / "report.html").read_text()


@pytest.mark.slow
def test_kill_during_sft_resumes(tmp_path, default_kg):
    cfg = write(tmp_path, default_kg, sft_steps=60)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "fleming.cli", "run", str(cfg), "--until", "sft"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    ckpts = tmp_path / "run" / "sft" / "checkpoints"
    deadline = time.monotonic() + 900
    while not list(ckpts.glob("checkpoint-*")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.5)
    assert proc.poll() is None, "the run ended before SFT saved a checkpoint"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "run" / "sft" / ".done").exists()
    out = subprocess.run([sys.executable, "-m", "fleming.cli", "run", str(cfg), "--until", "sft"],
                         capture_output=True, text=True, env=env, timeout=900)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    for s in ("kg", "synth", "split", "model", "refine", "cot", "base"):
        assert f"[run] {s}: done, skipped" in out.stdout
    assert "[run] sft: resuming" in out.stdout
    stats = json.loads((tmp_path / "run" / "sft" / "stats.json").read_text())
    assert stats["resumed_from"] is not None and stats["steps"] == 60
