"""The response cache: hits and misses, zero repeated requests on a re-run, only successes stored, and
concurrent writers. Requests are counted by a real HTTP endpoint (the stub server)."""

from __future__ import annotations

import sqlite3
import threading

from fleming.llm import SamplingParams, make_backend
from fleming.llm.base import Completion
from fleming.llm.cache import ResponseCache, cache_key
from fleming.llm.loadtest import StubServer

CONVS = [[{"role": "user", "content": f"question {i}"}] for i in range(20)]


def _reply(req: dict, index: int) -> str:
    return f"{req['messages'][-1]['content']} / seed={req.get('seed')} / choice={index}"


def test_rerun_makes_zero_requests(tmp_path):
    db = tmp_path / "cache.sqlite"
    params = SamplingParams(temperature=0.7, max_tokens=16, seed=3)
    srv = StubServer(reply=_reply)
    with srv as url:
        with make_backend("openai", "stub", base_url=url, cache_path=db) as be:
            first = be.generate(CONVS, params, progress=False)
            assert be.stats == {"hits": 0, "misses": 20}
        n_first = srv.counts["requests"]
        assert n_first == 20
        with make_backend("openai", "stub", base_url=url, cache_path=db) as be:
            again = be.generate(CONVS, params, progress=False)
            assert be.stats == {"hits": 20, "misses": 0}
        assert srv.counts["requests"] == n_first  # nothing reached the server
    assert [[c.text for c in r] for r in again] == [[c.text for c in r] for r in first]
    assert again[3][0].text == "question 3 / seed=3 / choice=0"


def test_more_samples_ask_only_for_the_new_ones(tmp_path):
    db = tmp_path / "cache.sqlite"
    srv = StubServer(reply=_reply)
    with srv as url, make_backend("openai", "stub", base_url=url, cache_path=db, sample_mode="seeds") as be:
        be.generate(CONVS[:4], SamplingParams(temperature=1.0, n=1, seed=10), progress=False)
        assert srv.counts["requests"] == 4
        out = be.generate(CONVS[:4], SamplingParams(temperature=1.0, n=3, seed=10), progress=False)
        assert srv.counts["requests"] == 4 + 4 * 2
        assert be.stats == {"hits": 4, "misses": 4 + 8}
    assert [c.text.split(" / ")[1] for c in out[0]] == ["seed=10", "seed=11", "seed=12"]


def test_key_covers_model_messages_params_and_index():
    msgs = [{"role": "user", "content": "x"}]
    base = cache_key("openai:m", msgs, SamplingParams(), 0)
    assert base == cache_key("openai:m", msgs, SamplingParams(n=7), 0)  # n is not part of the key
    others = [cache_key("openai:other", msgs, SamplingParams(), 0),
              cache_key("openai:m", [{"role": "user", "content": "y"}], SamplingParams(), 0),
              cache_key("openai:m", msgs, SamplingParams(temperature=0.5), 0),
              cache_key("openai:m", msgs, SamplingParams(max_tokens=10), 0),
              cache_key("openai:m", msgs, SamplingParams(seed=1), 0),
              cache_key("openai:m", msgs, SamplingParams(stop=("</answer>",)), 0),
              cache_key("openai:m", msgs, SamplingParams(), 1)]
    assert len({base, *others}) == 1 + len(others)


def test_failures_are_not_cached_and_are_retried_next_run(tmp_path):
    db = tmp_path / "cache.sqlite"
    params = SamplingParams(max_tokens=8)
    with StubServer(faults={"500": 1.0}) as url, \
            make_backend("openai", "stub", base_url=url, cache_path=db, max_retries=1,
                         backoff=(0.01, 0.02)) as be:
        out = be.generate(CONVS[:3], params, progress=False)
    assert all(r[0].error and "HTTP 500" in r[0].error for r in out)
    assert len(ResponseCache(db)) == 0
    srv = StubServer()
    with srv as url:
        with make_backend("openai", "stub", base_url=url, cache_path=db) as be:
            out = be.generate(CONVS[:3], params, progress=False)
        assert srv.counts["requests"] == 3 and all(r[0].error is None for r in out)
    assert len(ResponseCache(db)) == 3


def test_hf_backend_behind_the_cache(tmp_path, tiny_model_dir):
    db = tmp_path / "hf.sqlite"
    params = SamplingParams(max_tokens=6)
    with make_backend("hf", str(tiny_model_dir), cache_path=db) as be:
        first = be.generate(CONVS[:5], params, progress=False)
        again = be.generate(CONVS[:5], params, progress=False)
        assert be.stats == {"hits": 5, "misses": 5}
    assert [r[0].text for r in again] == [r[0].text for r in first]
    # the openai backend serving the same model keys differently: no shared answers across backends
    hf_keys = {row[0] for row in sqlite3.connect(db).execute("SELECT key FROM completions")}
    assert cache_key("openai:" + str(tiny_model_dir), CONVS[0], params, 0) not in hf_keys


def test_wal_and_concurrent_writers(tmp_path):
    db = tmp_path / "c.sqlite"
    caches = [ResponseCache(db), ResponseCache(db)]  # two connections, as two backends would have
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    errors: list[BaseException] = []

    def writer(t: int) -> None:
        try:
            cache = caches[t % 2]
            for i in range(50):
                cache.put_many("m", [(f"{t}-{i}-{k}", Completion(f"text {t} {i} {k}", "stop", 3, 4))
                                     for k in range(5)])
                cache.get_many([f"{t}-{i}-0"])
        except BaseException as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert len(caches[0]) == 8 * 50 * 5
    got = caches[1].get_many(["7-49-4", "missing"])
    assert list(got) == ["7-49-4"] and got["7-49-4"] == Completion("text 7 49 4", "stop", 3, 4)


def test_a_killed_run_resumes_without_redoing_cached_items(tmp_path):
    """SIGKILL a client midway: what it had cached is not asked again; the re-run completes the rest."""
    import os
    import signal
    import subprocess
    import sys
    import time

    db = tmp_path / "cache.sqlite"
    script = ("import sys\nfrom fleming.llm import SamplingParams, make_backend\n"
              "convs = [[{'role': 'user', 'content': f'question {i}'}] for i in range(300)]\n"
              "be = make_backend('openai', 'stub', base_url=sys.argv[1], cache_path=sys.argv[2],\n"
              "                  concurrency=4)\n"
              "be.generate(convs, SamplingParams(), progress=False)\n")
    srv = StubServer(delay=0.02, reply=_reply)
    with srv as url:
        proc = subprocess.Popen([sys.executable, "-c", script, url, str(db)])
        deadline = time.monotonic() + 60
        while srv.counts["requests"] < 150 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        n_killed = srv.counts["requests"]
        assert 150 <= n_killed < 300
        cached = len(ResponseCache(db))
        assert cached >= 64  # written in batches of 64 while the run went on
        with make_backend("openai", "stub", base_url=url, cache_path=db) as be:
            out = be.generate([[{"role": "user", "content": f"question {i}"}] for i in range(300)],
                              SamplingParams(), progress=False)
        assert be.stats == {"hits": cached, "misses": 300 - cached}
        assert srv.counts["requests"] - n_killed == 300 - cached
    assert [r[0].text.split(" / ")[0] for r in out] == [f"question {i}" for i in range(300)]
