"""`fleming eval --backend openai` against a fault-injecting OpenAI-compatible server: 429s, 500s,
timeouts and malformed JSON. Every item ends scored or listed as failed with its reason, and a re-run
against a healed server retries only the failed items."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from fleming.cli import build_app
from fleming.eval.benchmarks import BENCHMARKS
from fleming.eval.items import ItemLog
from fleming.eval.runner import EvalSettings, load_benchmarks
from fleming.prompts import build_messages

# Fault plan by item position (i % 6): transient faults heal after their first tries.
PLAN = {0: "always_500", 1: "429_twice", 2: "malformed_once", 3: "timeout_once", 4: "always_malformed",
        5: "ok"}
REQUEST_TIMEOUT = 0.4
ANSWER = "<think>The findings fit.</think>\n<answer>A</answer>"


class FaultServer:
    def __init__(self, plan_by_prompt: dict[str, str]):
        self.plan, self.healed = plan_by_prompt, False
        self.attempts: Counter[str] = Counter()
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as uvicorn and vLLM answer

            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = body["messages"][-1]["content"]
                with server.lock:
                    server.attempts[prompt] += 1
                    attempt = server.attempts[prompt]
                status, payload, headers = server.respond(server.plan.get(prompt, "ok"), attempt, body)
                if payload is None:  # the timeout case: answer after the client gave up
                    time.sleep(REQUEST_TIMEOUT * 3)
                    status, payload, headers = 200, _ok(body), {}
                try:
                    self.send_response(status)
                    for k, v in {"Content-Type": "application/json", **headers}.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def respond(self, kind: str, attempt: int, body: dict) -> tuple[int, bytes | None, dict]:
        if self.healed or kind == "ok":
            return 200, _ok(body), {}
        if kind == "always_500":
            return 500, b'{"error": {"message": "injected server error"}}', {}
        if kind == "always_malformed" or (kind == "malformed_once" and attempt == 1):
            return 200, b'{"choices": [{"message": ', {}
        if kind == "429_twice" and attempt <= 2:
            return 429, b'{"error": {"message": "slow down"}}', {"Retry-After": "0"}
        if kind == "timeout_once" and attempt == 1:
            return 200, None, {}
        return 200, _ok(body), {}

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _ok(body: dict) -> bytes:
    choices = [{"index": i, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}
               for i in range(body.get("n", 1))]
    return json.dumps({"id": "x", "object": "chat.completion", "model": body["model"], "choices": choices,
                       "usage": {"prompt_tokens": 9, "completion_tokens": 7}}).encode()


@pytest.fixture
def medqa12(benchmarks_dir):
    return load_benchmarks([BENCHMARKS["medqa"]], benchmarks_dir, EvalSettings(model="m", limit=12))["medqa"]


def test_every_item_is_scored_or_listed_failed_with_its_reason(tmp_path, benchmarks_dir, medqa12):
    plan = {r.id: PLAN[i % 6] for i, r in enumerate(medqa12)}
    server = FaultServer({build_messages(r)[-1]["content"]: plan[r.id] for r in medqa12})
    args = ["eval", "--backend", "openai", "--base-url", server.url, "--model", "faulty", "--benchmarks",
            "medqa", "--data-dir", str(benchmarks_dir), "--limit", "12", "--out", str(tmp_path), "--no-cache",
            "--timeout", str(REQUEST_TIMEOUT), "--max-retries", "3", "--concurrency", "8"]
    try:
        r = CliRunner().invoke(build_app(), args)
        assert r.exit_code == 1, r.output  # some items failed: the run says so in its exit status
        assert "4 of 12 items failed" in r.output
        rows = ItemLog(tmp_path / "medqa.jsonl").read()
        assert set(rows) == set(plan)
        for item_id, row in rows.items():
            if plan[item_id] in ("always_500", "always_malformed"):
                reason = "HTTP 500" if plan[item_id] == "always_500" else "malformed response"
                assert row["status"] == "failed" and reason in row["error"], row
                assert f"failed medqa {item_id}: " in r.output
            else:  # transient faults were retried away
                assert row["status"] in ("correct", "wrong") and row["extracted"] == ["A"], row
        assert "medqa: 0 resumed, 12 newly evaluated, 4 failed" in r.output
        entry = json.loads((tmp_path / "results.json").read_text())["benchmarks"]["medqa"]
        assert (entry["n"], entry["n_failed"]) == (8, 4)
        assert "### MedQA: 4 failed" in (tmp_path / "results.md").read_text()

        server.healed = True
        before = sum(server.attempts.values())
        r = CliRunner().invoke(build_app(), args)
        assert r.exit_code == 0, r.output
        assert "medqa: 8 resumed, 4 newly evaluated, 0 failed" in r.output
        assert sum(server.attempts.values()) - before == 4  # only the failed items were asked again
    finally:
        server.close()
