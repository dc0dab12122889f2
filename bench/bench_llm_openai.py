"""Benchmark: the ``openai`` backend against a local endpoint that answers after a fixed delay L.

The endpoint (``fleming.llm.loadtest``) runs in its own process; injected 429/500 faults are answered at
once, as a rate limiter would. Figures (issue 3 targets in brackets):

- efficiency = achieved requests/s / (C / L) at C=64, L=0.5 s            [>= 0.95]
- the same with 10% of requests failing with 429 or 500 (retried)      [>= 0.90]
- client CPU per request (process time of the client / requests)     [<= 0.5 ms]
- ceiling at L=0.1 s with high concurrency                            [>= 1,500 req/s on 2 cores]
- a cached re-run: requests that reach the server                     [0]
- for the choice of client: the official ``openai`` client and plain httpx on the same runs.

Run: ``.venv/bin/python bench/bench_llm_openai.py`` (about 1.5 minutes; ``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from fleming.llm import SamplingParams, make_backend

PARAMS = SamplingParams(temperature=0.0, max_tokens=64)


def start_server(delay: float, faults: dict[str, float] | None = None,
                 extra: tuple[str, ...] = ()) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "fleming.llm.loadtest", "--delay", str(delay), *extra]
    cmd += [f"--fault={k}={v}" for k, v in (faults or {}).items()]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError(f"stub server did not start: {line!r}")
    return proc, line.split()[-1]


def server_stats(url: str) -> dict:
    with urllib.request.urlopen(url + "/stats", timeout=10) as r:
        return json.loads(r.read())


def conversations(n: int, tag: str = "") -> list[list[dict[str, str]]]:
    question = "a 45-year-old presents with fever and rash. Which is the most likely diagnosis? A. B. C. D."
    return [[{"role": "system", "content": "You are a medical expert."},
             {"role": "user", "content": f"{tag}Question {i}: {question}"}] for i in range(n)]


def run_fleming(url: str, n: int, c: int, cache: Path | None = None, tag: str = "") -> dict:
    convs = conversations(n, tag)
    with make_backend("openai", "stub", base_url=url, concurrency=c, cache_path=cache) as be:  # defaults
        t0, c0 = time.perf_counter(), time.process_time()
        out = be.generate(convs, PARAMS, progress=False)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    failed = sum(r[0].error is not None for r in out)
    return {"wall": wall, "cpu_ms": 1000 * cpu / n, "rps": (n - failed) / wall, "failed": failed}


def run_openai_client(url: str, n: int, c: int) -> dict:
    import httpx
    from openai import AsyncOpenAI

    async def main() -> dict:
        limits = httpx.Limits(max_connections=c, max_keepalive_connections=c)
        client = AsyncOpenAI(base_url=url, api_key="x", max_retries=8,
                             http_client=httpx.AsyncClient(limits=limits, timeout=30))
        sem = asyncio.Semaphore(c)

        async def one(conv):
            async with sem:
                r = await client.chat.completions.create(model="stub", messages=conv, temperature=0,
                                                         max_tokens=64)
                return r.choices[0].message.content

        t0, c0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(one(conv) for conv in conversations(n)))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        await client.close()
        return {"wall": wall, "cpu_ms": 1000 * cpu / n, "rps": n / wall, "failed": 0}

    return asyncio.run(main())


def run_httpx(url: str, n: int, c: int) -> dict:
    import httpx

    async def main() -> dict:
        limits = httpx.Limits(max_connections=c, max_keepalive_connections=c)
        sem = asyncio.Semaphore(c)
        async with httpx.AsyncClient(limits=limits, timeout=30) as client:
            async def one(conv):
                async with sem:
                    body = {"model": "stub", "messages": conv, "temperature": 0, "max_tokens": 64}
                    r = await client.post(url + "/chat/completions", json=body)
                    return r.json()["choices"][0]["message"]["content"]

            t0, c0 = time.perf_counter(), time.process_time()
            await asyncio.gather(*(one(conv) for conv in conversations(n)))
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        return {"wall": wall, "cpu_ms": 1000 * cpu / n, "rps": n / wall, "failed": 0}

    return asyncio.run(main())


def line(name: str, r: dict, ideal: float | None = None) -> str:
    eff = f"  efficiency {r['rps'] / ideal:.3f}" if ideal else ""
    return (f"{name:<44} {r['rps']:8.0f} req/s{eff}  client CPU {r['cpu_ms']:.3f} ms/req  "
            f"failed {r['failed']}  ({r['wall']:.1f} s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer requests (a smoke run)")
    ap.add_argument("--no-compare", action="store_true", help="skip the openai and httpx clients")
    args = ap.parse_args()
    scale = 0.25 if args.quick else 1.0
    c, latency = 64, 0.5
    n_eff = int(64 * 16 * scale)  # 16 rounds of C requests: ~8 s at the ideal rate
    n_ceiling = int(20000 * scale)
    ideal = c / latency
    print(f"C={c}, L={latency} s, ideal {ideal:.0f} req/s; {n_eff} requests per efficiency run")

    srv, url = start_server(latency)
    try:
        print(line("fleming (lean asyncio HTTP client)", run_fleming(url, n_eff, c), ideal))
        if not args.no_compare:
            print(line("official openai client (httpx inside)", run_openai_client(url, n_eff, c), ideal))
            print(line("plain httpx.AsyncClient", run_httpx(url, n_eff, c), ideal))
    finally:
        srv.kill()

    srv, url = start_server(latency, {"429": 0.05, "500": 0.05})
    try:
        r = run_fleming(url, n_eff, c)
        stats = server_stats(url)
        print(line("fleming, 10% injected 429/500", r, ideal)
              + f"  [server: {stats.get('requests')} requests, {stats.get('429', 0)} x 429, "
                f"{stats.get('500', 0)} x 500]")
    finally:
        srv.kill()

    srv, url = start_server(0.1)
    try:
        print(line(f"fleming ceiling, L=0.1 s, C=1024, n={n_ceiling}", run_fleming(url, n_ceiling, 1024)))
        if not args.no_compare:  # httpcore's pool slows down as connections grow: try a small C too
            n_cmp = n_ceiling // 25
            for cc in (16, 64):
                print(line(f"openai client, L=0.1 s, C={cc}, n={n_cmp}", run_openai_client(url, n_cmp, cc)))
                print(line(f"httpx, L=0.1 s, C={cc}, n={n_cmp}", run_httpx(url, n_cmp, cc)))
    finally:
        srv.kill()

    srv, url = start_server(0.01)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cache = Path(tmp) / "cache.sqlite"
            first = run_fleming(url, n_eff, c, cache=cache, tag="cached ")
            before = server_stats(url)["requests"]
            again = run_fleming(url, n_eff, c, cache=cache, tag="cached ")
            after = server_stats(url)["requests"]
        print(line("fleming with cache, first run (L=0.01 s)", first))
        print(f"{'fleming with cache, re-run':<44} {after - before} requests reached the server "
              f"({n_eff} items answered from the cache in {again['wall']:.2f} s)")
    finally:
        srv.kill()


if __name__ == "__main__":
    main()
