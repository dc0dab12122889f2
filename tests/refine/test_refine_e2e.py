"""End to end on the real files (slow): the shipped example config's funnel, and the label check against
`fleming serve` with the tiny model: 5 cached trials per item, the review queue, the review-apply round
trip and the rerun that picks the reviewed items up."""

from __future__ import annotations

import csv
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from fleming.cli import main
from fleming.io import read_records
from fleming.refine.pipeline import STEPS

REPO = Path(__file__).resolve().parents[2]


def cli(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as e:
        main(list(argv))
    out, err = capsys.readouterr()
    assert (e.value.code or 0) == 0, err
    return out


@pytest.mark.slow
def test_example_config_funnel_on_real_data(tmp_path, capsys, benchmarks_dir):
    out = cli(capsys, "refine", str(REPO / "configs" / "refine-example.yaml"), "--out", str(tmp_path))
    assert "counts reconcile: True" in out
    root = tmp_path / "refine"
    funnel = json.loads((root / "reports" / "funnel.json").read_text())
    assert funnel["reconciles"] and [s["step"] for s in funnel["steps"]] == STEPS
    by_source = funnel["kept_by_source"]
    assert by_source["inputs"]["medmcqa"] == 4183 and by_source["decontam"].get("medmcqa", 0) == 0
    assert by_source["decontam"]["cmexam"] >= 6700 and by_source["decontam"]["medqa"] >= 1290
    contamination = json.loads((root / "reports" / "contamination.json").read_text())
    medmcqa = contamination["benchmarks"]["medmcqa"]
    assert medmcqa["train_items_removed"] >= 4100 and medmcqa["by_rule"].get("eval_split", 0) == 0
    assert "Optional inputs not found" in (root / "reports" / "funnel.md").read_text()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    import torch

    from fleming.train.tiny import build_tiny_model

    torch.set_num_threads(1)
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny", seed=0)


def _serve(model: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "fleming.cli", "serve", "--model", str(model), "--port",
                             str(port), "--served-model-name", "tiny", "--num-threads", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("fleming serve exited") from None
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("fleming serve did not start")


@pytest.mark.slow
def test_label_check_against_fleming_serve_with_review_round_trip(tmp_path, capsys, tiny_dir, benchmarks_dir):
    port = _free_port()
    llm = {"backend": "openai", "model": "tiny", "base_url": f"http://127.0.0.1:{port}/v1", "max_tokens": 24}
    cfg = {"inputs": [{"loader": "medqa_train_sample", "limit": 20}], "decontam": {"benchmarks": ["medqa"]},
           "labelcheck": {"enabled": True, "k": 5, "min_correct": 1, **llm},
           "difficulty": {"llm": {"enabled": True, "votes": 3, **llm},
                          "reference": {"enabled": True, "k": 2, **llm}},
           "mix": {"source": {"public": 1.0}, "formats": ["parquet"]}}
    config = tmp_path / "lc.yaml"
    config.write_text(yaml.safe_dump(cfg))
    run = tmp_path / "run"
    stage = run / "refine" / "steps" / "05_labelcheck"
    server = _serve(tiny_dir, port)
    try:
        cli(capsys, "refine", str(config), "--out", str(run))
        first = json.loads((stage / "validator_stats.json").read_text())
        assert first["in"] == 20 and first["extra"]["trials"] == 100  # 5 trials per item
        with open(stage / "review_queue.jsonl", encoding="utf-8") as f:
            queue = [json.loads(line) for line in f]
        assert len(queue) == first["dropped"] >= 3
        assert all(len(q["validator"]["answers"]) == 5 and q["validator"]["correct"] < 1 for q in queue)

        rows = _read_csv(stage / "review_queue.csv")
        new = "A" if rows[1]["label"] != "A" else "B"
        rows[0].update(decision="keep")
        rows[1].update(decision="relabel", new_answer=new)
        rows[2].update(decision="drop")
        decisions = _write_csv(tmp_path / "decisions.csv", rows)
        out = cli(capsys, "refine", "review-apply", str(decisions), "--run", str(run))
        pending = len(queue) - 3
        assert f"review queue {len(queue)}: kept 1, relabelled 1, dropped 1, still pending {pending}" in out
        stats = json.loads((run / "refine" / "stats" / "05_labelcheck.json").read_text())
        assert stats["reconciles"] and stats["kept"] == first["kept"] + 2
        assert stats["drop_reasons"] == {"review_queue": pending, "review_drop": 1}
        out = cli(capsys, "refine", str(config), "--out", str(run))
        assert out.count("done, skipped") == STEPS.index("labelcheck") + 1
    finally:
        server.kill()
        server.wait(timeout=30)
    final = {r.id: r for r in read_records(run / "refine" / "train.parquet")}
    assert rows[0]["id"] in final and final[rows[1]["id"]].answer == [new] and rows[2]["id"] not in final
    review = final[rows[1]["id"]].metadata.extra["review"]
    assert review == {"decision": "relabel", "from": [rows[1]["label"]], "to": [new]}
    difficulty = json.loads((run / "refine" / "stats" / "07_difficulty.json").read_text())
    assert difficulty["extra"]["source:empirical"] == len(final)  # the reference model's 2 trials
    assert (run / "refine" / "reports" / "difficulty_agreement.json").is_file()

    # every trial is cached: with the server gone, rerunning from the label check gives the same result,
    # and the reviewers' decisions survive the rerun
    shutil.copy(stage / "validated.jsonl", tmp_path / "validated-first.jsonl")
    cli(capsys, "refine", str(config), "--out", str(run), "--rerun-from", "labelcheck")
    again = json.loads((stage / "validator_stats.json").read_text())
    assert again == first
    assert (stage / "validated.jsonl").read_text() == (tmp_path / "validated-first.jsonl").read_text()
    assert json.loads((run / "refine" / "stats" / "07_difficulty.json").read_text()) == difficulty
    assert {r.id for r in read_records(run / "refine" / "train.parquet")} == set(final)
    assert (run / "refine" / "llm-cache.sqlite").is_file()


def _read_csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _write_csv(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path
