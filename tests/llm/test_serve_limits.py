"""`fleming serve` cannot be blocked: token and prompt caps (400 with the reason), a per-request timeout
(504), an optional bearer token, and SIGTERM that ends the process within seconds (issue 12). Real
servers on the tiny model, no mocks."""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from fleming.llm.hf import HFGenerator
from fleming.llm.server import ServeLimits, create_app

HUGE = "word " * 1_000_000  # a 1,000,000-token prompt (5 MB)


def _post(url: str, body: dict, headers: dict | None = None, timeout: float = 120) -> tuple[int, dict]:
    req = urllib.request.Request(url + "/chat/completions", json.dumps(body).encode(),
                                 {"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _ordinary(i: int) -> dict:
    return {"messages": [{"role": "user", "content": f"Question {i}: which hormone is deficient?"}],
            "temperature": 0, "max_tokens": 8}


def _flood(url: str) -> tuple[list[tuple[int, dict]], list[tuple[int, dict]], float]:
    """A max_tokens=1,000,000 request, a 1,000,000-token prompt and 20 ordinary requests, all at once."""
    big = [{"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1_000_000},
           {"messages": [{"role": "user", "content": HUGE}], "max_tokens": 8}]
    t = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(22) as ex:
        big_f = [ex.submit(_post, url, b) for b in big]
        small_f = [ex.submit(_post, url, _ordinary(i)) for i in range(20)]
        results = [f.result() for f in big_f], [f.result() for f in small_f]
    return *results, time.perf_counter() - t


@pytest.fixture(scope="module")
def gen(tiny_model_dir):
    return HFGenerator(tiny_model_dir, device="cpu", num_threads=1)


def test_huge_requests_are_refused_and_ordinary_ones_answered(gen, serve_app):
    app = create_app(gen, "tiny", max_batch=8, limits=ServeLimits(max_tokens=256, max_prompt_tokens=4096))
    with serve_app(app) as url:
        big, small, seconds = _flood(url)
    (s1, r1), (s2, r2) = big
    assert s1 == 400 and "max_tokens 1000000 is over this server's cap of 256" in r1["error"]["message"]
    assert s2 == 400 and "more than 4096 tokens" in r2["error"]["message"]
    assert [s for s, _ in small] == [200] * 20
    assert all(r["choices"][0]["finish_reason"] in ("stop", "length") for _, r in small)
    assert seconds < 60


def test_prompt_cap_counts_tokens_below_the_character_bound(gen, serve_app):
    """A prompt short in characters but over the token cap is refused after tokenizing it."""
    app = create_app(gen, "tiny", limits=ServeLimits(max_prompt_tokens=40))
    with serve_app(app) as url:
        status, data = _post(url, {"messages": [{"role": "user", "content": "fever cough " * 30}]})
        assert status == 400 and "tokens, over this server's cap of 40" in data["error"]["message"]
        status, _ = _post(url, {"messages": [{"role": "user", "content": "fever"}], "max_tokens": 4})
        assert status == 200


def test_a_slow_request_times_out_and_frees_the_server(gen, serve_app):
    app = create_app(gen, "tiny", max_batch=1, limits=ServeLimits(max_tokens=100_000, request_timeout=0.5))
    body = {"messages": [{"role": "user", "content": "Tell me everything."}], "temperature": 1.0,
            "max_tokens": 100_000, "n": 8, "seed": 1}
    with serve_app(app) as url:
        t = time.perf_counter()
        status, data = _post(url, body)
        waited = time.perf_counter() - t
        assert status == 504 and "no answer within 0.5 s" in data["error"]["message"]
        assert waited < 5
        t = time.perf_counter()
        status, _ = _post(url, _ordinary(0))  # the timed-out batch stopped generating (max_time)
        assert status == 200 and time.perf_counter() - t < 5


def test_bearer_token_is_checked_on_every_request(gen, serve_app):
    app = create_app(gen, "tiny", limits=ServeLimits(api_key="s3cret"))
    with serve_app(app) as url:
        assert _post(url, _ordinary(0))[0] == 401
        assert _post(url, _ordinary(0), {"Authorization": "Bearer wrong"})[0] == 401
        status, data = _post(url, _ordinary(0), {"Authorization": "Bearer s3cret"})
        assert status == 200 and data["choices"]
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(url + "/models", timeout=10)
        assert e.value.code == 401


def _start(tiny_model_dir, port: int, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "FLEMING_TEST_KEY": "k3y"}
    return subprocess.Popen([sys.executable, "-m", "fleming.cli", "serve", "--model", str(tiny_model_dir),
                             "--port", str(port), *extra], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)


def _wait_up(proc: subprocess.Popen, url: str, headers: dict) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            req = urllib.request.Request(url + "/models", headers=headers)
            urllib.request.urlopen(req, timeout=2).close()
            return
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail(f"fleming serve did not come up: {proc.stdout.read().decode()[-2000:]}")
            time.sleep(0.25)


def test_fleming_serve_under_a_flood_then_sigterm_exits_within_5_s(tiny_model_dir):
    """The real command: a 1,000,000-token request and 20 ordinary ones at once, then SIGTERM while a
    long generation is in flight; the process must end within 5 s."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = _start(tiny_model_dir, port, "--api-key-env", "FLEMING_TEST_KEY", "--max-tokens-cap", "4096")
    url, auth = f"http://127.0.0.1:{port}/v1", {"Authorization": "Bearer k3y"}
    try:
        _wait_up(proc, url, auth)
        with concurrent.futures.ThreadPoolExecutor(23) as ex:
            big = ex.submit(_post, url, {"messages": [{"role": "user", "content": HUGE}]}, auth)
            cap = ex.submit(_post, url, {"messages": [{"role": "user", "content": "x"}],
                                         "max_tokens": 1_000_000}, auth)
            small = [ex.submit(_post, url, _ordinary(i), auth) for i in range(20)]
            assert big.result()[0] == 400 and cap.result()[0] == 400
            assert [f.result()[0] for f in small] == [200] * 20
            long = ex.submit(_post, url, {"messages": [{"role": "user", "content": "Go on."}],
                                          "temperature": 1.0, "max_tokens": 4096, "n": 16}, auth, 60)
            time.sleep(1.0)  # the long batch is generating
            t = time.perf_counter()
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
            exit_s = time.perf_counter() - t
            long.exception(timeout=30)
        assert exit_s < 5, f"SIGTERM took {exit_s:.1f} s"
        print(f"SIGTERM -> exit in {exit_s:.2f} s")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
