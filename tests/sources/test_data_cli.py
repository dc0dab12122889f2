"""`fleming data list` and `fleming data load` end to end, on the real files and on a small data directory."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from fleming.cli import main
from fleming.io import read_records
from fleming.sources.registry import BENCHMARKS, REGISTRY, loader_names


def run(capsys, *argv: str) -> str:
    """Run the CLI in-process; it exits 0 on success (click's standalone mode)."""
    with pytest.raises(SystemExit) as ei:
        main(list(argv))
    captured = capsys.readouterr()
    assert ei.value.code in (0, None), captured.err
    return captured.out


def test_list_shows_names_splits_and_files(capsys, tmp_path):
    (tmp_path / "careqa" / "citrus").mkdir(parents=True)
    (tmp_path / "careqa" / "citrus" / "care_qa.jsonl").write_text("")
    out = run(capsys, "data", "list", "--data-dir", str(tmp_path))
    for name in loader_names():
        assert re.search(rf"^{name}\s+{REGISTRY[name].split}\s+\d+\s+\S", out, re.M), name
    assert re.search(r"^\s+careqa/citrus/care_qa.jsonl$", out, re.M)  # present: no marker
    assert re.search(r"^\s+medqa/medagents/test.jsonl  \(missing\)$", out, re.M)


def test_load_careqa_prints_counts_reasons_and_hashes(capsys, benchmarks_dir, tmp_path, loaded):
    out_file = tmp_path / "careqa.jsonl"
    out = run(capsys, "data", "load", "careqa", "--data-dir", str(benchmarks_dir), "--out", str(out_file))
    assert "careqa: read 5623, kept 5621, dropped 2" in out
    assert re.search(r"dropped\s+2  row of bare NaN values", out)
    rows = (benchmarks_dir / "SOURCES.jsonl").read_text().splitlines()
    pinned = {o["file"]: o["sha256"] for o in map(json.loads, rows)}
    sha = pinned["careqa/citrus/care_qa.jsonl"]
    assert f"sha256 {sha}  careqa/citrus/care_qa.jsonl  (matches SOURCES.jsonl)" in out
    assert list(read_records(out_file)) == loaded("careqa").records
    side = json.loads((tmp_path / "careqa.jsonl.stats.json").read_text())
    assert side["stats"]["in"] == 5623 and side["stats"]["kept"] == 5621 and side["records"] == 5621
    assert side["stats"]["drop_reasons"] == {"row of bare NaN values": 2}
    assert side["files"] == [{"file": "careqa/citrus/care_qa.jsonl", "sha256": sha,
                              "sources_jsonl_sha256": sha}]


@pytest.mark.parametrize("name", BENCHMARKS)
def test_load_every_benchmark_prints_its_count(capsys, benchmarks_dir, tmp_path, name):
    expected = {"medqa": 1273, "medmcqa": 4183, "pubmedqa": 500, "medxpertqa": 2450, "mmlu_pro_biology": 717,
                "mmlu_pro_health": 818, "careqa": 5621, "medbullets": 298, "jmed": 1094, "cmexam": 6810}
    out = run(capsys, "data", "load", name, "--data-dir", str(benchmarks_dir),
              "--out", str(tmp_path / "o.jsonl"))
    assert f", kept {expected[name]}, " in out and "warning" not in out
    assert f"wrote {expected[name]} records" in out


def test_load_parquet_and_env_data_dir(capsys, benchmarks_dir, tmp_path, monkeypatch, loaded):
    monkeypatch.setenv("FLEMING_DATA_DIR", str(benchmarks_dir))
    out_file = tmp_path / "mb.parquet"
    out = run(capsys, "data", "load", "medbullets", "--out", str(out_file))
    assert "medbullets: read 308, kept 298, dropped 10" in out
    assert re.search(r"dropped\s+10  duplicate question \(identical item\)", out)
    assert list(read_records(out_file)) == loaded("medbullets").records


def test_load_warns_when_the_count_differs_from_the_snapshot(capsys, tmp_path):
    path = tmp_path / "medqa" / "citrus" / "medqa_train_small.jsonl"
    path.parent.mkdir(parents=True)
    q = {"question": "Q?", "options": {"A": "x", "B": "y"}, "answer_idx": "A", "answer": "x"}
    path.write_text(json.dumps(q) + "\n")
    out = run(capsys, "data", "load", "medqa_train_sample", "--data-dir", str(tmp_path),
              "--out", str(tmp_path / "o.jsonl"))
    assert "read 1, kept 1, dropped 0" in out and "warning: expected 50 records" in out
    rec = next(read_records(tmp_path / "o.jsonl"))
    assert rec.id == "medqa-train-0" and rec.metadata.provenance["line"] == 1


def test_data_dir_defaults_to_shared_next_to_the_repo(monkeypatch, tmp_path):
    from fleming.sources import registry

    assert Path(__file__).resolve().parents[2] == registry.REPO_ROOT
    if not os.environ.get("FLEMING_DATA_DIR"):  # the default is fixed at import; the variable overrides it
        assert registry.REPO_ROOT.parent / "shared" / "benchmarks" == registry.DEFAULT_DATA_DIR
    monkeypatch.delenv("FLEMING_DATA_DIR", raising=False)
    assert registry.resolve_data_dir() == registry.DEFAULT_DATA_DIR
    monkeypatch.setenv("FLEMING_DATA_DIR", str(tmp_path))
    assert registry.resolve_data_dir() == tmp_path and registry.resolve_data_dir("x") == Path("x")
