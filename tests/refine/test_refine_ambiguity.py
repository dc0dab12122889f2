"""The ambiguity gate: a planted item with two correct answers is flagged by a scripted validator and goes
to the review queue with the judge's reasons; votes, the threshold, invalid replies (counted per reason),
the response cache, the rates per question type and source, and the review round trip in a refine run.

The validator is a scripted ``fleming.llm`` Backend (and, for the whole run, an OpenAI-compatible stub
endpoint) that reads the judge prompt and names every option other than the key that is a prime number;
it stands in for the LLM only."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter

import pytest
import yaml
from refine_helpers import mcq

from fleming.cli import main
from fleming.config import build
from fleming.errors import ConfigError
from fleming.io import read_records
from fleming.llm.base import BaseBackend, Completion
from fleming.llm.cache import CachedBackend, ResponseCache
from fleming.llm.loadtest import StubServer
from fleming.prompts import build_messages
from fleming.refine.ambiguity import INVALID, Ambiguity, AmbiguityConfig
from fleming.refine.config import RefineConfig
from fleming.refine.labelcheck import write_review_queue
from fleming.refine.pipeline import STEPS


def is_prime(n: int) -> bool:
    return n > 1 and all(n % d for d in range(2, int(n ** 0.5) + 1))


def prime_judge(prompt: str, seed: int | None) -> str:
    """The judge's reply to one prompt: every non-key option that is prime; markers in the question ask
    for a broken reply instead."""
    if "[garbled]" in prompt:
        return "I think the answer is C."
    if "[schema]" in prompt:
        return '{"other_correct": "C"}'
    if "[letter]" in prompt:
        return '{"other_correct": ["E"], "reason": "E is prime"}'
    options = dict(re.findall(r"^([A-U])\. (.+)$", prompt, re.M))
    key_line = next(line for line in prompt.splitlines() if line.startswith("Keyed answer: "))
    key = re.findall(r"(?:: |; )([A-U])\. ", key_line)
    others = [x for x, t in options.items() if x not in key and t.isdigit() and is_prime(int(t))]
    if "[seed0]" in prompt and seed != 0:
        others = []
    reason = f"{', '.join(options[x] for x in others)} also prime" if others else "only the key is prime"
    return json.dumps({"other_correct": others, "reason": reason})


class ScriptedJudge(BaseBackend):
    """A fleming Backend whose replies come from ``prime_judge``; ``[fail]`` items fail at transport."""

    kind, model_name = "scripted", "prime-judge"

    def __init__(self) -> None:
        self.requests = 0

    def generate_indexed(self, conversations, params, indices, progress=True, on_result=None):
        out = []
        for j, (conv, idx) in enumerate(zip(conversations, indices, strict=True)):
            prompt = conv[0]["content"]
            row = []
            for s in idx:
                self.requests += 1
                c = (Completion("", error="HTTP 503") if "[fail]" in prompt
                     else Completion(prime_judge(prompt, params.seed)))
                row.append(c)
                if on_result is not None:
                    on_result(j, s, c)
            out.append(row)
        return out


def number_item(id: str, numbers: list[int], key: str, qtype: str = "arithmetic", source: str = "synth",
                marker: str = ""):
    r = mcq(id, f"Which of these numbers is prime?{marker}", [str(n) for n in numbers], answer=key,
            source=source)
    return r.model_copy(update={"metadata": r.metadata.model_copy(update={"question_type": qtype})})


PLANTED = number_item("planted", [4, 5, 7, 9], "B")  # 5 and 7 are both prime: two correct answers
CLEAN = number_item("clean", [4, 5, 8, 9], "B")


def gate(records, backend=None, **cfg):
    step = Ambiguity(backend or ScriptedJudge(), AmbiguityConfig(enabled=True, model="prime-judge", **cfg))
    kept = list(step.run(records))
    return step, kept


def test_the_prompt_shows_the_key_and_every_option():
    prompt = build_messages(PLANTED, "fleming-ambiguity-v1")[0]["content"]
    assert "A. 4\nB. 5\nC. 7\nD. 9" in prompt and "Keyed answer: B. 5" in prompt


def test_planted_two_correct_item_is_flagged_with_the_judges_reasons():
    step, kept = gate([PLANTED, CLEAN], k=3, min_flags=2)
    assert [r.id for r in kept] == ["clean"]
    assert step.stats.dropped == Counter({"review_queue": 1})
    (item,) = step.queue
    assert item["step"] == "ambiguity" and item["record"]["id"] == "planted"
    v = item["validator"]
    assert v["k"] == 3 and v["correct"] == 0 and v["other_correct"] == {"C": 3}
    assert v["answers"] == ["B,C"] * 3 and v["texts"] == ["7 also prime"] * 3
    assert kept[0].metadata.extra["ambiguity"]["outcome"] == "passed"
    assert step.stats.extra["votes"] == 6 and step.stats.extra["valid_votes"] == 6


def test_review_csv_carries_the_step_and_the_reasons(tmp_path):
    step, _ = gate([PLANTED, CLEAN], k=2, min_flags=1)
    write_review_queue(step.queue, tmp_path)
    with open(tmp_path / "review_queue.csv", encoding="utf-8", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert row["step"] == "ambiguity" and row["id"] == "planted" and row["label_text"] == "5"
    assert row["validator_correct"] == "0/2" and row["validator_answers"] == "B,C; B,C"
    assert row["validator_reasoning"] == "7 also prime\n---\n7 also prime"


def test_vote_threshold():
    wavering = number_item("wavering", [4, 5, 7, 9], "B", marker=" [seed0]")  # flags in vote 0 only
    step, kept = gate([wavering], k=3, min_flags=2)
    assert [r.id for r in kept] == ["wavering"] and step.stats.extra["votes_naming_another_option"] == 1
    step, kept = gate([wavering], k=3, min_flags=1)
    assert kept == [] and step.queue[0]["validator"]["answers"] == ["B,C", "B", "B"]


def test_invalid_replies_are_counted_per_reason_and_never_raise():
    items = [number_item("garbled", [4, 5, 7, 9], "B", marker=" [garbled]"),
             number_item("schema", [4, 5, 7, 9], "B", marker=" [schema]"),
             number_item("letter", [4, 5, 7, 9], "B", marker=" [letter]"),
             number_item("fail", [4, 5, 7, 9], "B", marker=" [fail]"), CLEAN]
    judge = ScriptedJudge()
    step, kept = gate(items, judge, k=2, min_flags=1, max_retries=1)
    extra = step.stats.extra
    assert extra["invalid_vote:no_json"] == 2 and extra["invalid_vote:schema"] == 2
    assert extra["invalid_vote:letter_not_an_option"] == 2 and extra["invalid_vote:request_failed"] == 2
    assert extra["valid_votes"] == 2 and extra["items_unjudged"] == 3 and extra["items_validator_error"] == 1
    assert [r.id for r in kept] == ["garbled", "schema", "letter", "clean"]  # unjudged: keep
    assert step.stats.dropped == Counter({"validator_error": 1}) and [r.id for r in step.errors] == ["fail"]
    # 2 votes x (2 asks for each of the 2 unparsable items + 1 for the letter, fail and clean items)
    assert judge.requests == 2 * (2 * 2 + 3)
    step, kept = gate(items, k=2, min_flags=1, unjudged="drop")
    assert [r.id for r in kept] == ["clean"]
    assert step.stats.dropped == Counter({"unjudged": 3, "validator_error": 1})


def test_rates_per_question_type_and_source():
    items = [PLANTED, CLEAN,
             number_item("g1", [6, 11, 13], "B", qtype="gene", source="medqa"),
             number_item("g2", [6, 11, 15], "B", qtype="gene", source="medqa"),
             number_item("g3", [6, 11, 21], "B", qtype="gene", source="synth"),
             number_item("g4", [6, 11, 8], "B", qtype="gene", source="synth", marker=" [garbled]")]
    step, kept = gate(items, k=1, min_flags=1, max_retries=0)
    rates = step.stats.extra["ambiguous_rates"]
    assert rates["all"] == {"in": 6, "judged": 5, "flagged": 2, "ambiguous_rate": 0.4, "unjudged": 1,
                            "validator_error": 0}
    assert rates["question_type"]["arithmetic"]["ambiguous_rate"] == 0.5
    assert rates["question_type"]["gene"] == {"in": 4, "judged": 3, "flagged": 1,
                                              "ambiguous_rate": round(1 / 3, 4), "unjudged": 1,
                                              "validator_error": 0}
    assert rates["source"]["medqa"]["ambiguous_rate"] == 0.5
    assert rates["source"]["synth"] == {"in": 4, "judged": 3, "flagged": 1, "ambiguous_rate": round(1 / 3, 4),
                                        "unjudged": 1, "validator_error": 0}


def test_every_vote_is_cached(tmp_path):
    judge = ScriptedJudge()
    cached = CachedBackend(judge, ResponseCache(tmp_path / "c.sqlite"))
    first, _ = gate([PLANTED, CLEAN], cached, k=3, min_flags=2)
    assert judge.requests == 6
    again, _ = gate([PLANTED, CLEAN], cached, k=3, min_flags=2)
    assert judge.requests == 6 and cached.stats["hits"] == 6
    assert again.queue == first.queue and again.stats.to_dict() == first.stats.to_dict()
    cached.close()


@pytest.mark.parametrize("bad, message", [
    ({"k": 2, "min_flags": 3}, "min_flags (3) must be <= k (2)"),
    ({"k": 0}, "ambiguity.k: expected a value >= 1"),
    ({"unjudged": "maybe"}, "expected one of keep, drop"),
    ({"prompt_id": "nope"}, "prompt_id 'nope': expected a judge prompt"),
    ({"prompt_id": "fleming-mcq-v1"}, "prompt_id 'fleming-mcq-v1': expected a judge prompt"),
])
def test_config_errors_name_the_key(bad, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        build(RefineConfig, {"ambiguity": bad}, "", "r.yaml")


# ---------------------------------------------------------------- the gate in a refine run
def stub_reply(request: dict, index: int) -> str:
    return prime_judge(request["messages"][0]["content"], request.get("seed"))


def run_refine(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as e:
        main(list(argv))
    out, err = capsys.readouterr()
    assert (e.value.code or 0) == 0, err
    return out


def test_refine_run_queues_the_planted_item_and_review_apply_brings_it_back(tmp_path, capsys):
    items = [PLANTED, CLEAN, number_item("m1", [10, 12, 13, 14], "C", qtype="gene", source="medqa"),
             number_item("m2", [10, 17, 14], "B", qtype="gene", source="medqa")]
    raw = tmp_path / "items.jsonl"
    raw.write_text("".join(r.model_dump_json() + "\n" for r in items), encoding="utf-8")
    with StubServer(reply=stub_reply) as url:
        cfg = {"inputs": [{"path": str(raw)}], "decontam": {"benchmarks": []},
               "ambiguity": {"enabled": True, "backend": "openai", "model": "stub", "base_url": url,
                             "k": 3, "min_flags": 2},
               "mix": {"source": {"synthetic": 0.5, "public": 0.5}, "synthetic_sources": ["synth"],
                       "formats": ["jsonl"]}}
        config = tmp_path / "refine.yaml"
        config.write_text(yaml.safe_dump(cfg), encoding="utf-8")
        run = tmp_path / "run"
        out = run_refine(capsys, "refine", str(config), "--out", str(run))
    i = STEPS.index("ambiguity")
    assert f"{i:02d} ambiguity: in 4, kept 3, dropped 1 (review_queue 1)" in out
    stage = run / "refine" / "steps" / f"{i:02d}_ambiguity"
    with open(stage / "review_queue.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["step"], r["id"], r["validator_reasoning"]) for r in rows] == [
        ("ambiguity", "planted", "7 also prime\n---\n7 also prime\n---\n7 also prime")]
    report = (run / "refine" / "reports" / "ambiguity.md").read_text()
    assert "| arithmetic | 2 | 2 | 1 | 0.5 | 0 | 0 |" in report
    assert "| medqa | 2 | 2 | 0 | 0.0 | 0 | 0 |" in report

    rows[0].update(decision="relabel", new_answer="B, C")
    decisions = tmp_path / "decisions.csv"
    with open(decisions, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    out = run_refine(capsys, "refine", "review-apply", str(decisions), "--run", str(run))
    assert "review queue 1: kept 0, relabelled 1, dropped 0, still pending 0" in out
    assert "ambiguity now keeps 4 of 4" in out
    stats = json.loads((run / "refine" / "stats" / f"{i:02d}_ambiguity.json").read_text())
    assert stats["reconciles"] and stats["extra"]["ambiguous_rates"]["all"]["flagged"] == 1
    out = run_refine(capsys, "refine", str(config), "--out", str(run))  # the server is gone: no new calls
    assert out.count("done, skipped") == i + 1
    final = {r.id: r for r in read_records(run / "refine" / "train.jsonl")}
    assert final["planted"].answer == ["B", "C"]
    review = final["planted"].metadata.extra["review"]
    assert review == {"decision": "relabel", "from": ["B"], "to": ["B", "C"]}


@pytest.mark.slow
def test_gate_through_fleming_serve_with_the_tiny_model(served_tiny):
    """The real server and model: whatever the 1M-parameter model writes, every vote is counted as valid
    or invalid with a reason, and every item ends in exactly one outcome."""
    from fleming.llm import make_backend

    items = [PLANTED, CLEAN, *(number_item(f"n{i}", [i, i + 1, i + 2], "A") for i in range(2, 8))]
    cfg = {"k": 2, "min_flags": 1, "max_tokens": 48, "max_retries": 0}
    with make_backend("openai", "tiny", base_url=served_tiny["url"]) as be:
        step, kept = gate(items, be, **cfg)
    extra, n = step.stats.extra, len(items)
    invalid = sum(v for key, v in extra.items() if key.startswith("invalid_vote:"))
    assert extra["votes"] == 2 * n and extra["valid_votes"] + invalid == 2 * n
    assert {key.split(":")[1] for key in extra if key.startswith("invalid_vote:")} <= set(INVALID)
    assert step.stats.reconciles() and extra["ambiguous_rates"]["all"]["in"] == n
    outcomes = Counter(r.metadata.extra["ambiguity"]["outcome"] for r in kept)
    outcomes += Counter(item["record"]["metadata"]["extra"]["ambiguity"]["outcome"] for item in step.queue)
    assert sum(outcomes.values()) + len(step.errors) == n
    assert all(item["validator"]["model"] == "tiny" and len(item["validator"]["texts"]) == 2
               for item in step.queue)
