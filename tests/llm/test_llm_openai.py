"""The ``openai`` backend against a fault-injecting endpoint: every item ends answered or failed with its
reason; retries, timeouts, the concurrency bound, the rate limit, the API key and the sample modes."""

from __future__ import annotations

import time

import pytest

from fleming.errors import ConfigError, FlemingError
from fleming.llm import SamplingParams, make_backend
from fleming.llm.loadtest import StubServer

CONVS = [[{"role": "user", "content": f"item {i}"}] for i in range(200)]


def _echo(req: dict, index: int) -> str:
    return f"{req['messages'][-1]['content']}|{req.get('seed')}|{index}|{req['n']}"


def _backend(url: str, **kw):
    opts = {"timeout": 0.5, "max_retries": 3, "backoff": (0.01, 0.05)} | kw
    return make_backend("openai", "stub", base_url=url, **opts)


def test_every_item_is_answered_or_failed_with_its_reason():
    faults = {"429": 0.1, "500": 0.1, "timeout": 0.05, "malformed": 0.1, "disconnect": 0.05}
    srv = StubServer(delay=0.01, faults=faults, reply=_echo, seed=1)
    with srv as url, _backend(url, max_retries=2, concurrency=32) as be:
        out = be.generate(CONVS, SamplingParams(max_tokens=8), progress=False)
    assert len(out) == len(CONVS) and all(len(r) == 1 for r in out)
    ok = [r[0] for r in out if r[0].error is None]
    failed = [r[0] for r in out if r[0].error is not None]
    assert len(ok) + len(failed) == len(CONVS)
    # with 40% faults and 3 attempts, ~6% fail for good: both outcomes occur and are explained
    assert len(ok) > 150 and failed
    for i, r in enumerate(out):
        if r[0].error is None:
            assert r[0].text.startswith(f"item {i}|")  # the answer belongs to its own item
        else:
            assert r[0].text == "" and r[0].error.startswith("failed after 3 attempts: ")
    reasons = " ".join(c.error for c in failed)
    assert any(k in reasons for k in ("HTTP 429", "HTTP 500", "malformed", "TimeoutError", "Connection"))
    assert srv.counts["requests"] > len(CONVS)  # faults were retried


@pytest.mark.parametrize(("fault", "reason"), [
    ("500", "HTTP 500"), ("429", "HTTP 429"), ("malformed", "malformed response"),
    ("timeout", "TimeoutError"), ("disconnect", "ConnectionError")])
def test_each_fault_is_retried_then_reported(fault, reason):
    srv = StubServer(faults={fault: 1.0})
    with srv as url, _backend(url, timeout=0.2, max_retries=2) as be:
        out = be.generate(CONVS[:3], SamplingParams(), progress=False)
    for r in out:
        assert r[0].error.startswith("failed after 3 attempts") and reason in r[0].error
    assert srv.counts["requests"] >= 3 * 3


def test_client_errors_are_not_retried():
    srv = StubServer(faults={"400": 1.0})
    with srv as url, _backend(url) as be:
        out = be.generate(CONVS[:4], SamplingParams(), progress=False)
    assert all(r[0].error == 'HTTP 400: {"error":{"message":"injected bad request"}}' for r in out)
    assert srv.counts["requests"] == 4


def test_concurrency_is_bounded():
    srv = StubServer(delay=0.05)
    with srv as url, _backend(url, concurrency=5) as be:
        out = be.generate(CONVS[:40], SamplingParams(), progress=False)
    assert all(r[0].error is None for r in out)
    assert srv.max_inflight == 5


def test_requests_per_minute_limit():
    srv = StubServer()
    with srv as url, _backend(url, rpm=600) as be:  # one request every 0.1 s
        t0 = time.perf_counter()
        be.generate(CONVS[:6], SamplingParams(), progress=False)
        assert time.perf_counter() - t0 >= 0.45


def test_api_key_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("FLEMING_TEST_KEY", "sk-test-123")
    srv = StubServer()
    with srv as url:
        with _backend(url, api_key_env="FLEMING_TEST_KEY") as be:
            be.generate(CONVS[:1], SamplingParams(), progress=False)
            assert "sk-test-123" not in repr(vars(be))  # kept only in the encoded request headers
        assert srv.authorization == "Bearer sk-test-123"
        with _backend(url, api_key_env="FLEMING_UNSET_KEY") as be:
            be.generate(CONVS[:1], SamplingParams(), progress=False)
        assert srv.authorization is None


def test_sample_modes():
    srv = StubServer(reply=_echo)
    with srv as url:
        with _backend(url) as be:
            out = be.generate(CONVS[:3], SamplingParams(temperature=1.0, n=4, seed=7), progress=False)
        assert srv.counts["requests"] == 3  # one request per conversation, n=4
        assert [c.text for c in out[1]] == [f"item 1|7|{k}|4" for k in range(4)]
        with _backend(url, sample_mode="seeds") as be:
            out = be.generate(CONVS[:3], SamplingParams(temperature=1.0, n=4, seed=7), progress=False)
        assert srv.counts["requests"] == 3 + 12  # one request per sample, distinct seeds
        assert [c.text for c in out[1]] == [f"item 1|{7 + k}|0|1" for k in range(4)]
        with _backend(url) as be:
            out = be.generate(CONVS[:3], SamplingParams(temperature=0, n=4), progress=False)
        assert srv.counts["requests"] == 15 + 3  # greedy: one request stands for all samples
        assert [c.text for c in out[2]] == ["item 2|None|0|1"] * 4


def test_wrong_number_of_choices_is_an_error_naming_the_fix():
    def one_choice_only(req: dict, index: int) -> str:
        return "x"

    srv = StubServer(reply=one_choice_only)
    srv._completion = _single_choice(srv._completion)
    with srv as url, _backend(url, max_retries=0) as be:
        out = be.generate(CONVS[:1], SamplingParams(temperature=1.0, n=3), progress=False)
    assert "expected 3 choices, got 1" in out[0][0].error and "sample_mode='seeds'" in out[0][0].error


def _single_choice(completion):
    """Make the stub behave like a server that ignores ``n``."""
    import json

    def wrapped(body: bytes) -> bytes:
        return completion(json.dumps({**json.loads(body), "n": 1}).encode())
    return wrapped


def test_configuration_errors():
    with pytest.raises(ConfigError, match="base_url"):
        make_backend("openai", "m")
    with pytest.raises(ConfigError, match="expected http"):
        make_backend("openai", "m", base_url="localhost:8000")
    with pytest.raises(ConfigError, match="sample_mode"):
        make_backend("openai", "m", base_url="http://x/v1", sample_mode="beam")
    with pytest.raises(ConfigError, match="unknown backend"):
        make_backend("tgi", "m")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="top_p"):
        SamplingParams(top_p=0)


def test_vllm_absent_gives_the_install_hint():
    pytest.importorskip("fleming.llm.vllm_offline")
    try:
        import vllm  # noqa: F401
    except ImportError:
        with pytest.raises(FlemingError, match=r"pip install -e '\.\[gpu\]'"):
            make_backend("vllm", "some/model")
    else:
        pytest.skip("vllm is installed here")
