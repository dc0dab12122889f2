"""`fleming serve` on the tiny model: the OpenAI wire format, micro-batching, and greedy parity with the
``hf`` backend through the ``openai`` backend (a real server, no mocks)."""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from fleming.llm import SamplingParams, make_backend

PROMPTS = [
    "A 6-year-old boy has short stature and delayed bone age. Which hormone is deficient?",
    "Options:\nA. Iron\nB. Folate\nC. B12\nD. Zinc\nAnswer with a letter.",
    "yes or no?",
    "Hypoplasia of the corpus callosum " * 6,
    "<think>",
    "患者，男，45岁，胸痛2小时。",
    "Which drug is contraindicated in pregnancy: warfarin, heparin, or insulin?",
    "Explain the pathophysiology of nephrotic syndrome in one sentence.",
    "Dose 12.5 mg/kg q8h?",
    "Select all that apply: fever, rash, arthralgia.",
]


def _post(url: str, body: dict, timeout: float = 60) -> tuple[int, dict]:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _convs(texts: list[str]) -> list[list[dict[str, str]]]:
    return [[{"role": "system", "content": "You are a clinician."}, {"role": "user", "content": t}]
            for t in texts]


def test_models_endpoint(served_tiny):
    with urllib.request.urlopen(served_tiny["url"] + "/models", timeout=10) as r:
        data = json.loads(r.read())
    assert [m["id"] for m in data["data"]] == ["tiny"]


def test_chat_completion_wire_format(served_tiny):
    status, data = _post(served_tiny["url"] + "/chat/completions", {
        "model": "tiny", "messages": [{"role": "user", "content": "Hello"}], "temperature": 0.8,
        "top_p": 0.9, "max_tokens": 7, "n": 3, "seed": 5})
    assert status == 200
    assert data["object"] == "chat.completion" and data["model"] == "tiny"
    assert [c["index"] for c in data["choices"]] == [0, 1, 2]
    for c in data["choices"]:
        assert c["message"]["role"] == "assistant" and isinstance(c["message"]["content"], str)
        assert c["finish_reason"] in ("stop", "length")
    usage = data["usage"]
    assert usage["prompt_tokens"] > 0 and 0 < usage["completion_tokens"] <= 3 * 7
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_max_tokens_and_stop(served_tiny):
    url = served_tiny["url"] + "/chat/completions"
    msgs = [{"role": "user", "content": PROMPTS[0]}]
    _, full = _post(url, {"messages": msgs, "temperature": 0, "max_tokens": 12})
    text = full["choices"][0]["message"]["content"]
    assert full["choices"][0]["finish_reason"] == "length" and full["usage"]["completion_tokens"] == 12
    stop = text.strip()[2:5]  # a piece of the greedy continuation
    _, cut = _post(url, {"messages": msgs, "temperature": 0, "max_tokens": 12, "stop": [stop]})
    assert cut["choices"][0]["finish_reason"] == "stop"
    assert cut["choices"][0]["message"]["content"] == text[:text.index(stop)]


def test_invalid_requests_get_400(served_tiny):
    url = served_tiny["url"] + "/chat/completions"
    status, data = _post(url, {"messages": [], "max_tokens": 4})
    assert status == 400 and "messages" in data["error"]["message"]
    status, data = _post(url, {"messages": [{"role": "user", "content": "x"}], "temperature": -1})
    assert status == 400 and "temperature" in data["error"]["message"]
    status, _ = _post(url, {"messages": [{"role": "user", "content": "x"}], "stream": True})
    assert status == 400


def test_concurrent_requests_are_batched(served_tiny):
    url = served_tiny["url"] + "/chat/completions"
    batcher = served_tiny["app"].state.batcher
    before = batcher.batches
    body = {"messages": [{"role": "user", "content": "Hi"}], "temperature": 0, "max_tokens": 16}
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        results = list(ex.map(lambda _: _post(url, body), range(8)))
    assert all(status == 200 for status, _ in results)
    assert len({r["choices"][0]["message"]["content"] for _, r in results}) == 1
    assert batcher.batches - before < 8


def test_hf_and_served_greedy_texts_are_identical(served_tiny, tiny_model_dir):
    """The acceptance check of issue 3: same model, local vs served, temperature 0, same texts."""
    params = SamplingParams(temperature=0, max_tokens=24)
    convs = _convs(PROMPTS)
    with make_backend("hf", str(tiny_model_dir), batch_size=4) as hf:
        local = hf.generate(convs, params, progress=False)
    with make_backend("openai", served_tiny["model_id"], base_url=served_tiny["url"], concurrency=8) as api:
        remote = api.generate(convs, params, progress=False)
    assert [r[0].error for r in remote] == [None] * len(PROMPTS)
    assert [r[0].text for r in remote] == [r[0].text for r in local]
    assert [r[0].prompt_tokens for r in remote] == [r[0].prompt_tokens for r in local]
    assert len({r[0].text for r in local}) > 1  # the outputs differ between prompts: a real comparison


def test_openai_backend_n_samples_from_server(served_tiny):
    with make_backend("openai", "tiny", base_url=served_tiny["url"]) as api:
        out = api.generate(_convs(PROMPTS[:2]), SamplingParams(temperature=1.0, n=3, max_tokens=6),
                           progress=False)
    assert [len(r) for r in out] == [3, 3]
    assert all(c.error is None and c.finish_reason in ("stop", "length") for r in out for c in r)


@pytest.mark.slow
def test_fleming_serve_cli(tiny_model_dir):
    """The real command in a subprocess: it starts, answers, and stops on SIGTERM."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "fleming.cli", "serve", "--model", str(tiny_model_dir),
                             "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(url + "/models", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail(f"fleming serve did not come up: {proc.stdout.read().decode()[-2000:]}")
                time.sleep(0.25)
        status, data = _post(url + "/chat/completions", {"messages": [{"role": "user", "content": "Hi"}],
                                                         "temperature": 0, "max_tokens": 5})
        assert status == 200 and data["model"] == str(tiny_model_dir)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_serve_rejects_a_directory_without_a_model(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "fleming.cli", "serve", "--model", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "config.json" in proc.stderr
