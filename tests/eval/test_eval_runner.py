"""The runner on real benchmark items with a test double of the model (a scripted Backend): resuming
after an injected crash, failed requests, samples, settings checks, and the CLI around it."""

from __future__ import annotations

import hashlib
import json

import pytest
from typer.testing import CliRunner

from fleming.cli import build_app
from fleming.errors import ConfigError, FlemingError
from fleming.eval.benchmarks import BENCHMARKS
from fleming.eval.metrics import pass_at_k
from fleming.eval.runner import EvalSettings, claim_run_dir, load_benchmarks, run_benchmark, select_records
from fleming.llm.base import Backend, Completion


class ScriptedBackend:
    """Answers from a hash of the prompt and sample index: mostly a letter in <answer>, sometimes no
    answer; fails for prompts containing any of ``fail_on``; raises on call number ``crash_on``."""

    model_name = "scripted"

    def __init__(self, crash_on: int | None = None, fail_on: tuple[str, ...] = ()):
        self.crash_on, self.fail_on = crash_on, fail_on
        self.calls = 0
        self.seen: list[str] = []

    def generate(self, conversations, params, progress=True):
        self.calls += 1
        if self.calls == self.crash_on:
            raise RuntimeError("injected crash")
        out = []
        for conv in conversations:
            text = conv[-1]["content"]
            self.seen.append(text)
            if any(f in text for f in self.fail_on):
                out.append([Completion("", error="HTTP 500: injected") for _ in range(params.n)])
                continue
            out.append([Completion(self.answer(text, i), "stop", 10, 5) for i in range(params.n)])
        return out

    @staticmethod
    def answer(text: str, sample: int) -> str:
        h = int(hashlib.sha256(f"{text}|{sample}".encode()).hexdigest(), 16)
        if h % 5 == 0:
            return "<think>Hard to say.</think>\nI cannot decide."
        return f"<think>Let me think.</think>\n<answer>{'ABC'[h % 3]}</answer>"

    def close(self):
        pass


def test_the_double_implements_the_backend_protocol():
    assert isinstance(ScriptedBackend(), Backend)


@pytest.fixture(scope="module")
def medqa_items(benchmarks_dir):
    settings = EvalSettings(model="scripted", limit=10)
    return load_benchmarks([BENCHMARKS["medqa"]], benchmarks_dir, settings)["medqa"]


def run(backend, records, out, **kw):
    settings = EvalSettings(model="scripted", batch_size=3, **kw)
    return run_benchmark(backend, BENCHMARKS["medqa"], records, out, settings)


def test_a_crashed_run_resumes_without_redoing_finished_items(tmp_path, medqa_items):
    with pytest.raises(RuntimeError, match="injected crash"):
        run(ScriptedBackend(crash_on=3), medqa_items, tmp_path / "a")
    lines = (tmp_path / "a" / "medqa.jsonl").read_text().splitlines()
    assert len(lines) == 6  # two batches of 3 were flushed before the crash
    second = ScriptedBackend()
    outcome = run(second, medqa_items, tmp_path / "a")
    assert (outcome.resumed, outcome.new) == (6, 4)
    finished = {json.loads(x)["id"] for x in lines}
    assert len(second.seen) == 4
    assert not any(r.question.strip() in s for r in medqa_items if r.id in finished for s in second.seen)
    # Same rows as one uninterrupted run.
    fresh = run(ScriptedBackend(), medqa_items, tmp_path / "b")
    assert [(r["id"], r["extracted"], r["status"]) for r in outcome.rows] == \
           [(r["id"], r["extracted"], r["status"]) for r in fresh.rows]
    assert {r["status"] for r in fresh.rows} <= {"correct", "wrong", "unparsed"}


def test_failed_requests_are_listed_with_their_reason_and_retried_on_rerun(tmp_path, medqa_items):
    bad = medqa_items[4].question.strip()[:60]
    outcome = run(ScriptedBackend(fail_on=(bad,)), medqa_items, tmp_path)
    assert [(r["id"], r["error"]) for r in outcome.failed] == [(medqa_items[4].id, "HTTP 500: injected")]
    row = outcome.failed[0]
    assert row["status"] == "failed" and row["extracted"] is None and row["messages"]
    again = run(ScriptedBackend(), medqa_items, tmp_path)
    assert (again.resumed, again.new, again.failed) == (9, 1, [])


def test_rows_hold_prompt_response_extraction_and_gold(tmp_path, medqa_items):
    row = run(ScriptedBackend(), medqa_items[:1], tmp_path).rows[0]
    rec = medqa_items[0]
    assert row["gold"] == rec.answer and row["categories"] == {"step": rec.metadata.exam}
    assert rec.question.strip() in row["messages"][-1]["content"]
    expected = ScriptedBackend.answer(row["messages"][-1]["content"], 0)
    assert row["responses"] == [expected]
    letter = None if "<answer>" not in expected else [expected.split("<answer>")[1][0]]
    assert row["extracted"] == letter
    assert row["correct"] == (letter == rec.answer)
    assert (row["prompt_id"], row["prompt_tokens"], row["completion_tokens"]) == ("fleming-mcq-v1", 10, 5)


def test_samples_give_a_majority_vote_and_per_sample_grades(tmp_path, medqa_items):
    outcome = run(ScriptedBackend(), medqa_items, tmp_path, samples=5, temperature=1.0)
    for row, rec in zip(outcome.rows, medqa_items, strict=True):
        letters = [None if "<answer>" not in t else [t.split("<answer>")[1][0]] for t in row["responses"]]
        assert [s["extracted"] for s in row["samples"]] == letters
        assert row["n_correct"] == sum(x == rec.answer for x in letters)
        counts = {tuple(x): letters.count(x) for x in letters if x}
        if counts:
            top = max(counts.values())
            assert row["extracted"] == list(next(tuple(x) for x in letters if x and counts[tuple(x)] == top))
        else:
            assert row["extracted"] is None and row["status"] == "unparsed"


def test_resuming_with_other_settings_is_refused(tmp_path):
    claim_run_dir(tmp_path, EvalSettings(model="m", temperature=0.0))
    claim_run_dir(tmp_path, EvalSettings(model="m", temperature=0.0, limit=5, batch_size=2))  # same run
    with pytest.raises(ConfigError, match="temperature: 0.0 there, 0.7 now"):
        claim_run_dir(tmp_path, EvalSettings(model="m", temperature=0.7))


def test_settings_and_records_are_checked(medqa_items):
    with pytest.raises(ConfigError, match="--samples"):
        EvalSettings(model="m", samples=0)
    with pytest.raises(ConfigError, match="--backend"):
        EvalSettings(model="m", backend="tgi")
    with pytest.raises(FlemingError, match="twice"):
        select_records(BENCHMARKS["medqa"], [medqa_items[0], medqa_items[0]], None)
    with pytest.raises(FlemingError, match="expected 10 options, got 4"):
        select_records(BENCHMARKS["medxpertqa"], medqa_items[:1], None)
    assert len(select_records(BENCHMARKS["medqa"], medqa_items, 3)) == 3


def cli(args, monkeypatch, backend):
    monkeypatch.setattr("fleming.eval.runner.open_backend", lambda settings, out: backend)
    return CliRunner().invoke(build_app(), ["eval", *args])


def test_cli_crash_then_resume_prints_the_counts_and_writes_results(tmp_path, monkeypatch, benchmarks_dir):
    args = ["--model", "scripted", "--benchmarks", "medqa,pubmedqa", "--data-dir", str(benchmarks_dir),
            "--limit", "6", "--batch-size", "4", "--out", str(tmp_path), "--samples", "3",
            "--temperature", "1"]
    r = cli(args, monkeypatch, ScriptedBackend(crash_on=3))  # medqa done (2 batches), pubmedqa crashes
    assert r.exit_code != 0 and isinstance(r.exception, RuntimeError)
    r = cli(args, monkeypatch, ScriptedBackend())
    assert r.exit_code == 0, r.output
    assert "medqa: 6 resumed, 0 newly evaluated, 0 failed" in r.output
    assert "pubmedqa: 0 resumed, 6 newly evaluated, 0 failed" in r.output
    assert "items: 6 resumed, 6 newly evaluated, 0 failed" in r.output
    results = json.loads((tmp_path / "results.json").read_text())
    assert (tmp_path / "results.md").read_text().startswith("# Evaluation of `scripted`")
    assert (tmp_path / "results.png").stat().st_size > 1000
    assert results["run"]["counts"]["medqa"] == {"resumed": 6, "new": 0, "failed": 0}
    rows = [json.loads(x) for x in (tmp_path / "pubmedqa.jsonl").read_text().splitlines()]
    e = results["benchmarks"]["pubmedqa"]
    assert e["n"] == 6 and e["accuracy"] == pytest.approx(sum(r["n_correct"] for r in rows) / 18)
    assert e["pass_at_k"]["2"] == pytest.approx(sum(pass_at_k(3, r["n_correct"], 2) for r in rows) / 6)
    assert e["majority"]["accuracy"] == pytest.approx(sum(r["correct"] for r in rows) / 6)


def test_cli_reports_failed_items_and_bad_options(tmp_path, monkeypatch, benchmarks_dir):
    base = ["--model", "scripted", "--benchmarks", "pubmedqa", "--data-dir", str(benchmarks_dir),
            "--limit", "3", "--out", str(tmp_path)]
    r = cli(base, monkeypatch, ScriptedBackend(fail_on=("Question:",)))
    assert r.exit_code == 1, r.output  # failed items: a non-zero exit, and the count said
    assert "3 of 3 items failed" in r.output and "HTTP 500: injected" in r.output
    assert json.loads((tmp_path / "results.json").read_text())["benchmarks"]["pubmedqa"]["n_failed"] == 3
    r = cli([*base, "--timeout", "3"], monkeypatch, ScriptedBackend())
    assert r.exit_code != 0 and "only apply to --backend openai" in str(r.exception)
    r = cli([*base, "--prompt", "nope"], monkeypatch, ScriptedBackend())
    assert "unknown prompt id 'nope'" in str(r.exception)


class LookupBackend(ScriptedBackend):
    """Answers each prompt with the text given for it (a test double that knows the answers)."""

    def __init__(self, answers: dict[str, str]):
        super().__init__()
        self.answers = answers

    def generate(self, conversations, params, progress=True):
        return [[Completion(self.answers[c[-1]["content"]])] * params.n for c in conversations]


def test_multi_answer_items_are_correct_only_with_every_gold_letter(tmp_path, benchmarks_dir):
    from fleming.prompts import build_messages

    bench = BENCHMARKS["cmexam"]
    every = load_benchmarks([bench], benchmarks_dir, EvalSettings(model="m"))["cmexam"]
    multi = [r for r in every if r.is_multi_answer][:4]
    assert len(multi) == 4 and all(len(r.answer) >= 2 for r in multi)
    full = {build_messages(r, bench.prompt_id)[-1]["content"]: "<answer>" + ", ".join(reversed(r.answer))
            + "</answer>" for r in multi[:2]}
    part = {build_messages(r, bench.prompt_id)[-1]["content"]: f"<answer>{r.answer[0]}</answer>"
            for r in multi[2:]}
    outcome = run_benchmark(LookupBackend({**full, **part}), bench, multi, tmp_path,
                            EvalSettings(model="m", samples=2, temperature=1.0))
    assert [r["status"] for r in outcome.rows] == ["correct", "correct", "wrong", "wrong"]
    assert [r["extracted"] for r in outcome.rows] == [sorted(r.answer) for r in multi[:2]] + \
           [[r.answer[0]] for r in multi[2:]]
    assert "多个正确选项" in outcome.rows[0]["messages"][-1]["content"]  # the multi-answer prompt note
