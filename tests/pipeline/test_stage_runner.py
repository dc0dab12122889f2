"""The one stage runner: chained fingerprints, skip when done, re-run from a changed stage, resume a
crashed stage in place, --only / --from / --until."""

from __future__ import annotations

import json

import pytest

from fleming.errors import ConfigError
from fleming.io import Stage, fingerprint, run_stages


def make(calls: list[str], cfg: dict, crash: set[str] | None = None) -> list[Stage]:
    def fn(name):
        def run(d):
            calls.append(name)
            (d / "partial.txt").write_text((d / "partial.txt").read_text() + "x"
                                           if (d / "partial.txt").exists() else "x")
            if crash and name in crash:
                raise RuntimeError(f"{name} crashed")
            return {"name": name, "value": cfg[name]}
        return run
    return [Stage(n, fn(n), cfg[n]) for n in ("a", "b", "c")]


def test_skip_rerun_and_resume(tmp_path):
    cfg, calls = {"a": 1, "b": 2, "c": 3}, []
    res = run_stages(make(calls, cfg), tmp_path, log=lambda m: None)
    assert calls == ["a", "b", "c"] and res["c"]["value"] == 3
    assert json.loads((tmp_path / "b" / "stats.json").read_text())["name"] == "b"
    calls.clear()
    run_stages(make(calls, cfg), tmp_path, log=lambda m: None)
    assert calls == []                                   # every stage done: nothing runs
    cfg2 = {**cfg, "b": 20}
    run_stages(make(calls, cfg2), tmp_path, log=lambda m: None)
    assert calls == ["b", "c"]                           # the changed stage and every later one
    assert (tmp_path / "b" / "partial.txt").read_text() == "x"   # a changed config starts a clean folder
    calls.clear()
    with pytest.raises(RuntimeError):
        run_stages(make(calls, {**cfg2, "c": 30}, crash={"c"}), tmp_path, log=lambda m: None)
    assert not (tmp_path / "c" / ".done").exists()
    calls.clear()
    run_stages(make(calls, {**cfg2, "c": 30}), tmp_path, log=lambda m: None)
    assert calls == ["c"]
    assert (tmp_path / "c" / "partial.txt").read_text() == "xx"  # resumed in place: the folder was kept


def test_only_from_until(tmp_path):
    cfg, calls = {"a": 1, "b": 2, "c": 3}, []
    run_stages(make(calls, cfg), tmp_path, log=lambda m: None, until="b")
    assert calls == ["a", "b"] and not (tmp_path / "c").exists()
    calls.clear()
    run_stages(make(calls, cfg), tmp_path, log=lambda m: None, only="a")
    assert calls == ["a"]
    calls.clear()
    run_stages(make(calls, cfg), tmp_path, log=lambda m: None, start="b")
    assert calls == ["b", "c"]
    with pytest.raises(ConfigError, match="--only zz: no such stage"):
        run_stages(make(calls, cfg), tmp_path, log=lambda m: None, only="zz")


def test_disabled_stage_and_chain():
    assert fingerprint({"x": 1}, "p") != fingerprint({"x": 1}, "q")
    calls: list[str] = []
    st = [Stage("a", lambda d: calls.append("a") or {}, 1, enabled=False)]
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as t:
        assert run_stages(st, Path(t), log=lambda m: None) == {}
    assert calls == []
