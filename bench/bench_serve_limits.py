"""Benchmark: `fleming serve` (the tiny model, CPU) under a flood, and how fast SIGTERM ends it (issue 12).

Each round starts the real command, sends at once a request with max_tokens 1,000,000, one with a
1,000,000-token prompt (5 MB) and 20 ordinary ones (8 tokens, greedy), then a long sampled request
(n=16, max_tokens 4096), and sends SIGTERM one second later. Figures per round:

- the two big requests: status and seconds to their 400            [400, well under 1 s]
- the 20 ordinary ones: answered, and the slowest one's seconds    [20/20]
- SIGTERM to process exit, with a long generation in flight        [< 5 s]

Run: ``.venv/bin/python bench/bench_serve_limits.py [--rounds 3]`` (about 20 s a round here).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

HUGE = "word " * 1_000_000


def post(url: str, body: dict) -> tuple[int, float]:
    t = time.perf_counter()
    req = urllib.request.Request(url + "/chat/completions", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            r.read()
            status = r.status
    except urllib.error.HTTPError as e:
        status = e.code
    except OSError:
        status = -1  # the connection closed by the shutdown
    return status, time.perf_counter() - t


def one_round(model: Path) -> dict:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "fleming.cli", "serve", "--model", str(model), "--port",
                             str(port)], env={**os.environ, "OMP_NUM_THREADS": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        while True:
            try:
                urllib.request.urlopen(url + "/models", timeout=2).close()
                break
            except OSError:
                time.sleep(0.2)
        small = {"messages": [{"role": "user", "content": "Which hormone is deficient?"}], "temperature": 0,
                 "max_tokens": 8}
        with concurrent.futures.ThreadPoolExecutor(23) as ex:
            big = [ex.submit(post, url, {"messages": [{"role": "user", "content": "x"}],
                                         "max_tokens": 1_000_000}),
                   ex.submit(post, url, {"messages": [{"role": "user", "content": HUGE}]})]
            ordinary = [ex.submit(post, url, small) for _ in range(20)]
            big_r, ord_r = [f.result() for f in big], [f.result() for f in ordinary]
            ex.submit(post, url, {"messages": [{"role": "user", "content": "Go on."}], "temperature": 1.0,
                                  "max_tokens": 4096, "n": 16})
            time.sleep(1.0)
            t = time.perf_counter()
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
            exit_s = time.perf_counter() - t
        return {"big": [(s, round(x, 3)) for s, x in big_r], "ordinary_ok": sum(s == 200 for s, _ in ord_r),
                "ordinary_slowest_s": round(max(x for _, x in ord_r), 3), "sigterm_exit_s": round(exit_s, 2)}
    finally:
        if proc.poll() is None:
            proc.kill()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    from fleming.train.tiny import build_tiny_model

    with tempfile.TemporaryDirectory() as tmp:
        model = build_tiny_model(Path(tmp) / "tiny", seed=0)
        for i in range(args.rounds):
            print(f"round {i + 1}: {json.dumps(one_round(model))}", flush=True)


if __name__ == "__main__":
    main()
