"""`fleming synth` end to end: outputs, determinism across worker counts, errors, samples."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from fleming.cli import build_app
from fleming.errors import FlemingError
from fleming.synth.run import synthesize
from fleming.synth.templates import SynthConfig, parse_config


def _run(args: list[str]):
    return CliRunner().invoke(build_app(), ["synth", *args])


def test_cli_writes_items_stats_and_samples(small_kg, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("n_options: 3\nmin_options: 3\nquestion_types:\n  diagnosis: {anchor: disease}\n")
    res = _run(["--kg", str(small_kg), "--n", "40", "--seed", "2", "--out", str(tmp_path / "o"),
                "--config", str(cfg), "--samples", "5"])
    assert res.exit_code == 0, res.output
    lines = (tmp_path / "o" / "items.jsonl").read_text().splitlines()
    stats = json.loads((tmp_path / "o" / "stats.json").read_text())
    assert len(lines) == stats["n_items"] <= 40
    assert "items " in res.output and "drop reasons" in res.output and "rarest 30%" in res.output
    assert (tmp_path / "o" / "samples.md").read_text().count("(answer)") == 5
    assert stats["question_types"] == {"diagnosis": stats["n_items"]}


def test_cli_errors_are_one_line(tmp_path):
    res = _run(["--kg", str(tmp_path / "nope"), "--n", "5", "--out", str(tmp_path / "o")])
    assert res.exit_code != 0
    with pytest.raises(FlemingError, match="nodes.parquet"):
        synthesize(tmp_path / "nope", 5, SynthConfig(), 0, tmp_path / "o")


def test_no_supported_type_is_an_error(small_kg, tmp_path):
    cfg = parse_config({"question_types": {"t": {"anchor": "disease", "chain": ["treated_by"]}}})
    with pytest.raises(FlemingError, match="no question type.*treated_by"):
        synthesize(small_kg, 5, cfg, 0, tmp_path)


def test_same_items_for_any_worker_count(default_kg, tmp_path):
    cfg = SynthConfig(chunk_size=256)
    a = synthesize(default_kg, 900, cfg, seed=7, out_dir=tmp_path / "w1", workers=1)
    b = synthesize(default_kg, 900, cfg, seed=7, out_dir=tmp_path / "w2", workers=2)
    one, two = ((tmp_path / d / "items.jsonl").read_bytes() for d in ("w1", "w2"))
    assert one == two and a["n_items"] == 900
    assert a["steps"] == b["steps"] and a["question_types"] == b["question_types"]
    c = synthesize(default_kg, 50, cfg, seed=8, out_dir=tmp_path / "w3")
    assert c["n_items"] == 50
    assert (tmp_path / "w3" / "items.jsonl").read_text().splitlines()[0] != one.decode().splitlines()[0]


def test_duplicates_are_dropped_with_their_reason(small_kg, tmp_path):
    cfg = parse_config({"n_options": 3, "min_options": 3,
                        "question_types": {"diagnosis": {"anchor": "disease"}}})
    stats = synthesize(small_kg, 60, cfg, seed=1, out_dir=tmp_path)
    lines = (tmp_path / "items.jsonl").read_text().splitlines()
    keys = [(json.loads(x)["metadata"]["extra"]["answer"]["id"],
             tuple(sorted(o["id"] for o in json.loads(x)["metadata"]["extra"]["observed"]))) for x in lines]
    assert len(keys) == len(set(keys))
    # the toy KG has few distinct stems: it runs out, keeps what it made and counts the duplicates
    assert stats["steps"]["drop_reasons"].get("duplicate of an earlier item", 0) > 0
    assert stats["reconciles"]


def test_fragment_caches_evicted_between_batches_give_the_same_items(default_kg):
    """The JSON fragments kept across batches (items.Lookup) are bounded: evicting them after every
    batch must not change a single byte, and the caches must really have been cleared."""
    from fleming.kg.store import KG
    from fleming.synth.run import Synthesizer

    cfg = SynthConfig(chunk_size=200)
    kept = Synthesizer(KG.load(default_kg), cfg, seed=5)
    tight = Synthesizer(KG.load(default_kg), cfg, seed=5)
    tight.lookup.max_cached = 10
    lines = {}
    for name, s in (("kept", kept), ("tight", tight)):
        rows = [r for c in range(3) for r in s.chunk(c)]
        lines[name] = [r[4] for r in rows if r[4] is not None]
    assert len(lines["kept"]) > 300 and lines["kept"] == lines["tight"]
    assert 0 < len(tight.lookup.name) < len(kept.lookup.name) / 2


def test_pilot_leaves_out_types_the_kg_barely_supports(default_kg, tmp_path):
    """Types whose pilot acceptance is under min_acceptance make no items and are reported with it
    (additional_finding on, as open_findings allows, so that four types enter the pilot)."""
    free = synthesize(default_kg, 200, SynthConfig(pilot_slots=64, min_acceptance=0.0, open_findings=True),
                      seed=4, out_dir=tmp_path / "a")
    rates = free["pilot_acceptance"]
    assert len(rates) >= 4 and all(0 <= r <= 1 for r in rates.values())
    assert sum(r > 0 for r in rates.values()) >= 3          # allelic disorders may find none in 64 slots
    cut = sorted(rates.values())[len(rates) // 2]                       # leaves out the lower half
    st = synthesize(default_kg, 200, SynthConfig(pilot_slots=64, min_acceptance=cut, open_findings=True),
                    seed=4, out_dir=tmp_path / "b")
    low = {t for t, r in rates.items() if r < cut}
    assert low and st["pilot_acceptance"] == rates
    assert set(st["question_types"]) == set(rates) - low
    assert all("pilot" in st["unsupported_types"][t] for t in low)
    with pytest.raises(FlemingError, match="pilot"):
        synthesize(default_kg, 5, SynthConfig(pilot_slots=64, min_acceptance=0.999), seed=4,
                   out_dir=tmp_path / "c")
