"""Structured output: parse, validate, re-ask with the error, and record a failure without crashing.
The endpoint is a test double of a remote server (first invalid JSON, then valid), not a mock of ours."""

from __future__ import annotations

import json
from collections import Counter
from typing import Literal

from pydantic import BaseModel

from fleming.llm import SamplingParams, make_backend
from fleming.llm.loadtest import StubServer
from fleming.llm.structured import generate_structured, parse_structured


class Difficulty(BaseModel):
    label: Literal["Easy", "Moderate", "Difficult"]
    reason: str


def _convs(n: int) -> list[list[dict[str, str]]]:
    return [[{"role": "system", "content": "You grade exam items."},
             {"role": "user", "content": f"Item {i}: how hard is it?"}] for i in range(n)]


class FlakyGrader:
    """Replies invalid JSON on the first ask of each item, valid JSON after a re-ask; item 0 never
    learns. Records what each request carried."""

    def __init__(self) -> None:
        self.asks: Counter = Counter()
        self.requests: list[dict] = []

    def __call__(self, req: dict, index: int) -> str:
        self.requests.append(req)
        item = next(m["content"] for m in req["messages"] if m["role"] == "user").split(":")[0]
        self.asks[item] += 1
        if item == "Item 0" or self.asks[item] == 1:
            return 'Sure! {"label": "Hard", "reason": "..."'  # invalid JSON, then an invalid label
        return '```json\n{"label": "Moderate", "reason": "two-step reasoning"}\n```'


def test_retry_path_with_a_flaky_endpoint(tmp_path):
    grader = FlakyGrader()
    with StubServer(reply=grader) as url, \
            make_backend("openai", "grader", base_url=url, cache_path=tmp_path / "c.sqlite") as be:
        results = generate_structured(be, _convs(4), Difficulty, SamplingParams(), max_retries=2,
                                      progress=False)
    assert [r.attempts for r in results] == [3, 2, 2, 2]
    assert results[0].value is None and results[0].error.startswith("invalid JSON")
    assert results[0].raw.startswith("Sure!")
    for r in results[1:]:
        assert r.value == Difficulty(label="Moderate", reason="two-step reasoning") and r.error is None
    first, reask = grader.requests[0], grader.requests[-1]
    schema = json.dumps(Difficulty.model_json_schema())
    assert schema in first["messages"][-1]["content"]  # the schema is in the prompt
    assert first["response_format"]["json_schema"]["schema"] == Difficulty.model_json_schema()
    assert reask["messages"][-2]["role"] == "assistant"  # the bad reply, then the error
    assert "not valid (invalid JSON" in reask["messages"][-1]["content"]


def test_schema_errors_are_reported_by_field():
    value, err = parse_structured('{"label": "Hard", "reason": "x"}', Difficulty)
    assert value is None and err.startswith("schema: field 'label': Input should be")
    value, err = parse_structured('no json here', Difficulty)
    assert value is None and err == "no JSON object in the reply"
    value, err = parse_structured('The answer: {"label": "Easy", "reason": "recall"} as requested.',
                                  Difficulty)
    assert err is None and value.label == "Easy"


def test_request_failures_are_recorded_not_raised():
    with StubServer(faults={"500": 1.0}) as url, \
            make_backend("openai", "grader", base_url=url, max_retries=1, backoff=(0.01, 0.02)) as be:
        results = generate_structured(be, _convs(3), Difficulty, SamplingParams(), progress=False)
    assert all(r.value is None and r.error.startswith("request failed: failed after 2 attempts")
               for r in results)
    assert be.response_format is None  # restored after the call


def test_with_the_local_hf_model(tiny_model_dir):
    """The untrained tiny model never writes valid JSON: every item fails with a reason, none raises."""
    with make_backend("hf", str(tiny_model_dir)) as be:
        results = generate_structured(be, _convs(3), Difficulty, SamplingParams(max_tokens=12),
                                      max_retries=1, progress=False)
    assert len(results) == 3
    assert all(r.value is None and r.error and r.attempts == 2 for r in results)
