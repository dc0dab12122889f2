"""End to end on the tiny model (slow): `fleming tiny-model`, `fleming serve`, then `fleming eval` through
the openai backend and the hf backend give the same responses and extracted answers at temperature 0;
and an eval killed midway resumes without redoing finished items."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from fleming.eval.items import ItemLog

pytestmark = pytest.mark.slow

BENCHES = "medqa,pubmedqa,medxpertqa,jmed"
LIMIT, MAX_TOKENS = 4, 12
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
       "HF_DATASETS_OFFLINE": "1"}


def fleming(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fleming.cli", *args], capture_output=True, text=True,
                          env=ENV, timeout=600, **kw)


def rows(path: Path) -> dict[str, dict]:
    return {r["id"]: r for r in map(json.loads, path.read_text().splitlines())}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny")
    r = fleming("tiny-model", "--out", str(out))
    assert r.returncode == 0, r.stderr
    return out


@pytest.fixture(scope="module")
def server(tiny, tmp_path_factory):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with open(log, "w") as f:
        proc = subprocess.Popen([sys.executable, "-m", "fleming.cli", "serve", "--model", str(tiny),
                                 "--port", str(port)], stdout=f, stderr=subprocess.STDOUT, env=ENV)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(240):
            if proc.poll() is not None:
                pytest.fail(f"fleming serve exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            pytest.fail("fleming serve did not come up in 120 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_openai_and_hf_backends_agree_item_by_item(tiny, server, benchmarks_dir, tmp_path):
    common = ["--model", str(tiny), "--benchmarks", BENCHES, "--data-dir", str(benchmarks_dir), "--limit",
              str(LIMIT), "--max-tokens", str(MAX_TOKENS), "--temperature", "0", "--no-cache"]
    r_api = fleming("eval", "--backend", "openai", "--base-url", server, "--out", str(tmp_path / "api"),
                    *common)
    assert r_api.returncode == 0, r_api.stdout + r_api.stderr
    r_hf = fleming("eval", "--backend", "hf", "--out", str(tmp_path / "hf"), *common)
    assert r_hf.returncode == 0, r_hf.stdout + r_hf.stderr
    for bench in BENCHES.split(","):
        api, hf = rows(tmp_path / "api" / f"{bench}.jsonl"), rows(tmp_path / "hf" / f"{bench}.jsonl")
        assert list(api) == list(hf) and len(api) == LIMIT
        for item_id in api:
            assert api[item_id]["status"] != "failed", api[item_id]["error"]
            assert api[item_id]["responses"] == hf[item_id]["responses"], (bench, item_id)
            assert api[item_id]["extracted"] == hf[item_id]["extracted"], (bench, item_id)
            assert api[item_id]["messages"] == hf[item_id]["messages"]
    # The comparison command sees no difference at all.
    r = fleming("eval", "compare", str(tmp_path / "api"), str(tmp_path / "hf"))
    assert r.returncode == 0 and r.stdout.count("| +0.00 |") == len(BENCHES.split(",")) + 1, r.stdout


def test_an_eval_killed_midway_resumes_without_redoing_finished_items(tiny, benchmarks_dir, tmp_path):
    n = 40
    args = ["eval", "--backend", "hf", "--model", str(tiny), "--benchmarks", "medqa", "--data-dir",
            str(benchmarks_dir), "--limit", str(n), "--batch-size", "2", "--max-tokens", "24", "--out",
            str(tmp_path)]
    out = tmp_path / "medqa.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "fleming.cli", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=ENV)
    try:
        deadline = time.monotonic() + 300
        while not (out.exists() and out.read_text().count("\n") >= 4):
            assert proc.poll() is None and time.monotonic() < deadline, "the run ended before it was killed"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    before = ItemLog(out).read()  # a kill inside a write leaves a partial line: it is cut away
    done_before = len(before)
    assert 4 <= done_before < n
    r = fleming(*args)
    assert r.returncode == 0, r.stdout + r.stderr
    after = rows(out)
    assert len(after) == n
    assert f"medqa: {done_before} resumed, {n - done_before} newly evaluated, 0 failed" in r.stdout
    assert all(after[i] == before[i] for i in before)  # finished rows were kept as they were
    assert out.read_text().count("\n") == n  # no item was written twice
    assert json.loads((tmp_path / "results.json").read_text())["benchmarks"]["medqa"]["n"] == n
