"""The ``hf`` backend on the tiny model: shapes, greedy and seeded sampling, stop strings, token counts,
left padding, and batch-size independence of greedy outputs."""

from __future__ import annotations

import pytest

from fleming.errors import ConfigError, FlemingError
from fleming.llm import SamplingParams, make_backend

CONVS = [[{"role": "user", "content": t}] for t in [
    "Short.", "A somewhat longer question about the kidney and its tubules?", "Fever " * 20,
    "Which of the following: A, B, C or D?", "<think>", "患者胸痛。"]]


@pytest.fixture(scope="module")
def hf(tiny_model_dir):
    be = make_backend("hf", str(tiny_model_dir), batch_size=4)
    yield be
    be.close()


def test_shapes_and_usage(hf):
    out = hf.generate(CONVS, SamplingParams(temperature=0.9, n=3, max_tokens=10, seed=1), progress=False)
    assert [len(r) for r in out] == [3] * len(CONVS)
    lengths = hf.gen.prompt_lengths(hf.gen.render(CONVS))
    for row, n_prompt in zip(out, lengths, strict=True):
        for c in row:
            assert c.error is None and c.prompt_tokens == n_prompt
            assert 1 <= c.completion_tokens <= 10
            assert c.finish_reason == ("length" if c.completion_tokens == 10 else "stop")


def test_left_padding(hf):
    assert hf.gen.tokenizer.padding_side == "left"


def test_greedy_is_deterministic_and_batch_size_independent(hf, tiny_model_dir):
    params = SamplingParams(temperature=0, max_tokens=16, n=2)
    batched = hf.generate(CONVS, params, progress=False)
    assert all(r[0].text == r[1].text for r in batched)  # greedy samples are identical
    with make_backend("hf", str(tiny_model_dir), batch_size=1) as one:
        single = one.generate(CONVS, params, progress=False)
    assert [r[0].text for r in single] == [r[0].text for r in batched]
    assert len({r[0].text for r in batched}) > 1


def test_seeded_sampling_reproduces_and_samples_differ(hf):
    params = SamplingParams(temperature=1.0, n=4, max_tokens=8, seed=123)
    a = hf.generate(CONVS[:2], params, progress=False)
    b = hf.generate(CONVS[:2], params, progress=False)
    assert [[c.text for c in r] for r in a] == [[c.text for c in r] for r in b]
    assert len({c.text for c in a[0]}) > 1


def test_stop_strings(hf):
    full = hf.generate(CONVS[:1], SamplingParams(max_tokens=16), progress=False)[0][0]
    stop = full.text[4:7]
    cut = hf.generate(CONVS[:1], SamplingParams(max_tokens=16, stop=(stop,)), progress=False)[0][0]
    assert cut.finish_reason == "stop" and cut.text == full.text[:full.text.index(stop)]
    assert cut.completion_tokens < full.completion_tokens


def test_errors():
    with pytest.raises(FlemingError, match="cannot load"):
        make_backend("hf", "/nonexistent/model/dir")



def test_malformed_conversations_are_named(hf):
    with pytest.raises(ConfigError, match="conversation 1, message 0"):
        hf.generate([[{"role": "user", "content": "x"}], [{"role": "user"}]], SamplingParams(),
                    progress=False)
    with pytest.raises(ConfigError, match="conversation 0: expected a non-empty list"):
        hf.generate([[]], SamplingParams(), progress=False)
