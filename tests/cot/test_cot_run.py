"""run_cot end to end through an OpenAI-compatible endpoint (the scripted teacher of fleming.cot.scripted):
refinement rounds happen and are counted; a refusing endpoint leaves every item accounted for; bad input is
one line with exit code 2; SIGKILL mid-run and a re-run repeat no answered request and lose no item."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from cot_helpers import diagnosis_item

from fleming.config import build
from fleming.cot.config import CotConfig
from fleming.cot.run import run_cot
from fleming.cot.scripted import reply
from fleming.errors import ConfigError
from fleming.io import write_records
from fleming.llm.loadtest import StubServer

ROOT = Path(__file__).resolve().parents[2]


def items(n: int, kg: Path) -> list:
    return [diagnosis_item(i, str(kg)) for i in range(n)]


def llm_config(url: str, **over) -> CotConfig:
    data = {
        "teacher": {"kind": "llm", "model": "stub", "base_url": url, "k": 2, "concurrency": 8},
        "validator": {"enabled": True},
        "rounds": 2,
        "refine_k": 1,
        "progress": False,
        "checks": {"min_path_mention": 0.25, "rich_findings": 3},
        **over,
    }
    return build(CotConfig, data, "", "test")


def test_loop_refines_records_every_attempt_and_resumes_from_cache(toy_kg, tmp_path):
    records = items(12, toy_kg)
    with StubServer(reply=reply) as url:
        stats = run_cot(llm_config(url), records, tmp_path / "cot", log=lambda s: None)
        again = run_cot(llm_config(url), records, tmp_path / "cot2", log=lambda s: None)
        import shutil

        shutil.copy(tmp_path / "cot" / "llm-cache.sqlite", tmp_path / "cot3.sqlite")
    assert stats["in"] == 12 and stats["reconciles"] and stats["kept"] == 12
    refined = stats["per_round"]["1"]
    assert 0 < refined["items"] < 12 and refined["verified"] == refined["items"]  # the one in three
    assert stats["per_strategy"]["backtracking"]["items"] == refined["items"]
    assert stats["check_failures"]["wrong_answer"] >= 2 * refined["items"]
    attempts = [json.loads(x) for x in (tmp_path / "cot" / "attempts.jsonl").read_text().splitlines()]
    assert {a["strategy"] for a in attempts} == {"pass@k", "backtracking"}
    assert len(attempts) == stats["attempts"] == 12 * 2 + refined["items"]
    assert again["llm_samples"]["sent"] == stats["llm_samples"]["sent"]  # a fresh folder: a fresh cache
    import pyarrow.parquet as pq

    rows = pq.read_table(tmp_path / "cot" / "sft.parquet").to_pylist()
    assert sorted(r["id"] for r in rows) == sorted(r.id for r in records)
    assert {r["strategy"] for r in rows} == {"pass@k", "backtracking"}
    assert all(r["completion"][0]["content"].endswith("<answer>B</answer>") for r in rows)


def test_rerun_in_the_same_folder_sends_nothing(toy_kg, tmp_path):
    records = items(6, toy_kg)
    with StubServer(reply=reply) as url:
        first = run_cot(llm_config(url), records, tmp_path, log=lambda s: None)
        (tmp_path / "items.journal.jsonl").unlink()  # even with no journal, the cache answers everything
        second = run_cot(llm_config(url), records, tmp_path, log=lambda s: None)
    assert first["llm_samples"]["sent"] > 0 and second["llm_samples"]["sent"] == 0
    assert {k: v for k, v in first.items() if k not in ("llm_samples", "seconds")} == {
        k: v for k, v in second.items() if k not in ("llm_samples", "seconds")
    }


def test_an_endpoint_refusing_every_request_leaves_every_item_accounted_for(toy_kg, tmp_path):
    records = items(5, toy_kg)
    with StubServer(faults={"400": 1.0}) as url:
        stats = run_cot(llm_config(url), records, tmp_path, log=lambda s: None)
    assert stats["in"] == 5 and stats["kept"] == 0 and stats["drop_reasons"] == {"teacher_error": 5}
    lines = (tmp_path / "never_verified.jsonl").read_text().splitlines()
    assert [json.loads(x)["reason"] for x in lines] == ["teacher_error"] * 5


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(
        [sys.executable, "-m", "fleming.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_bad_input_is_one_line_naming_file_line_and_field(toy_kg, tmp_path):
    (tmp_path / "bad.yaml").write_text("inputs: [items.jsonl]\nteacher: {kind: grounded, kk: 3}\n")
    r = _cli("cot", "bad.yaml", cwd=tmp_path)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert r.stderr.startswith("error: bad.yaml: teacher.kk: unknown key; expected one of ")
    rows = [
        diagnosis_item(0).model_dump(mode="json"),
        {**diagnosis_item(1).model_dump(mode="json"), "answer": []},
    ]
    (tmp_path / "items.jsonl").write_text("".join(json.dumps(x) + "\n" for x in rows))
    (tmp_path / "ok.yaml").write_text("inputs: [items.jsonl]\nteacher: {kind: grounded}\n")
    r = _cli("cot", "ok.yaml", cwd=tmp_path)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert r.stderr.startswith("error: items.jsonl:2: field 'answer'")


def _stats(url: str) -> dict:
    with urllib.request.urlopen(url + "/stats", timeout=10) as r:
        return json.loads(r.read())


IN_FLIGHT = 8


@pytest.mark.slow
def test_sigkill_mid_distillation_then_rerun(toy_kg, tmp_path):
    n = 80
    write_records(tmp_path / "items.jsonl", items(n, toy_kg))
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fleming.llm.loadtest",
            "--delay",
            "0.2",
            "--reply",
            "fleming.cot.scripted:reply",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    try:
        url = server.stdout.readline().split()[-1]
        (tmp_path / "cot.yaml").write_text(
            f"inputs: [items.jsonl]\nteacher: {{kind: llm, model: stub, base_url: '{url}', k: 2, "
            "concurrency: 4}\n"
            "validator: {enabled: true}\nrounds: 2\nrefine_k: 1\nchunk: 2\nworkers: 4\nprogress: false\n"
            "checks: {min_path_mention: 0.25, rich_findings: 3}\n"
        )
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "fleming.cli", "cot", "cot.yaml", "--out", "out"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        journal = tmp_path / "out" / "items.journal.jsonl"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if journal.is_file() and len(journal.read_text().splitlines()) >= n // 4:
                break
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        done_before = len(journal.read_text().splitlines())
        killed = _stats(url)
        # more answered than could be in flight at once (concurrency 4 per backend, teacher and
        # validator: 8), so a run that ignored its cache would repeat more than the bound below
        assert 0 < done_before < n and killed["answered"] > 2 * IN_FLIGHT
        r = _cli("cot", "cot.yaml", "--out", "out", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        after = _stats(url)
    finally:
        server.kill()
    # a stored answer is never asked again; only those in flight at the kill (answered by the
    # server, never stored by the killed client) may be
    assert after["repeated"] <= IN_FLIGHT
    assert after["answered"] > killed["answered"]
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["in"] == n and stats["reconciles"]
    import pyarrow.parquet as pq

    kept = pq.read_table(tmp_path / "out" / "sft.parquet").column("id").to_pylist()
    never = [
        json.loads(x)["id"] for x in (tmp_path / "out" / "never_verified.jsonl").read_text().splitlines()
    ]
    assert len(kept) == len(set(kept)) == stats["kept"]
    assert sorted(kept + never) == sorted(f"item-{i}" for i in range(n))  # none lost, none twice


def test_the_cot_section_of_a_whole_run_config_is_read(tmp_path):
    from fleming.config import load

    text = "sft: {out: x}\ncot:\n  inputs: [a.jsonl]\n  teacher: {kind: grounded}\n  rounds: 1\n"
    (tmp_path / "run.yaml").write_text(text)
    cfg = load(CotConfig, tmp_path / "run.yaml", "cot")
    assert (cfg.inputs, cfg.teacher.kind, cfg.rounds) == (["a.jsonl"], "grounded", 1)
    (tmp_path / "bad.yaml").write_text("cot:\n  rounds: -1\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: cot.rounds: expected a value >= 0, got -1"):
        load(CotConfig, tmp_path / "bad.yaml", "cot")


def test_the_grounded_teacher_writes_the_order_the_config_asks(toy_kg, tmp_path):
    import pyarrow.parquet as pq

    cfg = build(CotConfig, {"teacher": {"kind": "grounded", "order": "options"}, "progress": False,
                            "kg": str(toy_kg)}, "cot", "x.yaml")
    stats = run_cot(cfg, items(2, toy_kg), tmp_path, log=lambda s: None)
    assert stats["kept"] == 2
    text = json.dumps(pq.read_table(tmp_path / "sft.parquet").to_pylist())
    # options A..D in letter order: Beta, Alpha (the key, stated again), Gamma, Delta
    assert "Beta syndrome lacks Cough.\\nAlpha syndrome has Seizure.\\nGamma disease lacks Seizure." in text
