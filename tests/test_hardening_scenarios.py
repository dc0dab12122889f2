"""The scenarios of issue 12, end to end through the CLI: each failed (traceback, silent acceptance, a
mixed run) before the change. `fleming serve` has its own file (tests/llm/test_serve_limits.py).

1. A config value out of range stops the run before any step (it used to fail inside dedup, after the
   earlier steps had run), and a bad --out leaves nothing behind (score used to leave a .tmp).
2. Refine: duplicate ids keep the first and list the others; a 5 MB one-word question and a field far
   longer than the rest of its source are dropped with a reason; a one-word stem is flagged, kept.
3. Score: duplicate ids, an empty file and a gold of "bad" are errors (they were scored silently).
4. Eval: run.json and the cache key carry the endpoint, so resuming against another server is refused
   and a copied cache cannot answer for it; --start-over starts again.
5. Eval exits non-zero when any item failed, and says how many.
"""

from __future__ import annotations

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from fleming.cli import main
from fleming.io import read_records


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(argv)
    out, err = capsys.readouterr()
    return e.value.code or 0, out, err


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def item(i: int, question: str | None = None, **over) -> dict:
    words = ["fever", "rash", "cough", "anemia", "ataxia", "seizure", "edema", "jaundice", "pruritus",
             "myalgia"]
    q = question or (f"A patient number {i} presents with {words[i % 10]} and {words[(i * 3 + 1) % 10]} "
                     f"after travel to region {i * 17}. Which test comes first?")
    return {"id": f"i{i}", "source": "demo", "split": "train", "question": q,
            "options": {"A": f"Test {i} alpha", "B": f"Test {i} beta", "C": f"Test {i} gamma"},
            "answer": ["B"], **over}


# ---------------------------------------------------------------- 1
def test_a_bad_dedup_threshold_stops_before_any_step(tmp_path, capsys):
    inp = write_jsonl(tmp_path / "in.jsonl", [item(i) for i in range(5)])
    cfg = tmp_path / "refine.yaml"
    cfg.write_text(f"inputs: [{{path: {inp}}}]\ndedup: {{threshold: 0}}\n")
    code, _, err = run_cli(["refine", str(cfg), "--out", str(tmp_path / "run")], capsys)
    assert code == 2 and err.strip() == f"error: {cfg}: dedup.threshold: expected a value > 0, got 0.0"
    assert not (tmp_path / "run").exists()  # the inputs and format steps did not run first


def test_score_into_a_directory_leaves_nothing(tmp_path, capsys):
    inp = write_jsonl(tmp_path / "in.jsonl", [{"id": "1", "options": ["a", "b"], "answer": "A",
                                               "response": "<answer>A</answer>"}])
    (tmp_path / "out").mkdir()
    code, _, err = run_cli(["score", "--input", str(inp), "--response-field", "response",
                            "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and "output is a directory" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out"]


# ---------------------------------------------------------------- 2
def test_refine_drops_duplicate_ids_and_huge_fields_and_flags_one_word_stems(tmp_path, capsys, shared):
    rows = [item(i) for i in range(30)]
    rows += [item(3, question="A different question that reuses the id i3: which test comes first?"),
             item(90, question="x" * 5_000_000),  # one 5 MB word
             item(91, question=("Which of these tests comes first in a long vignette? " * 60).strip()),
             item(92, question="Metformin:")]
    inp = write_jsonl(tmp_path / "in.jsonl", rows)
    cfg = tmp_path / "refine.yaml"
    cfg.write_text(f"inputs: [{{path: {inp}}}]\ndecontam: {{benchmarks: [pubmedqa]}}\n"
                   "anonymize: {enabled: false}\nmix: {source: {public: 1.0}, formats: [parquet]}\n")
    code, out, err = run_cli(["refine", str(cfg), "--out", str(tmp_path / "run")], capsys)
    assert code == 0, out + err
    root = tmp_path / "run" / "refine"
    inputs = json.loads((root / "stats" / "00_inputs.json").read_text())
    assert inputs["drop_reasons"] == {"duplicate_id": 1} and inputs["extra"]["duplicate_ids"] == ["i3"]
    excluded = [json.loads(x) for x in (root / "exclusions" / "00_inputs.jsonl").read_text().splitlines()]
    assert [(e["record"]["question"][:11], e["reason"]) for e in excluded] == \
        [("A different", "duplicate_id")]
    fmt = json.loads((root / "stats" / "01_format.json").read_text())
    assert fmt["drop_reasons"] == {"field_too_long": 1, "question_length_outlier": 1}
    assert fmt["extra"]["flagged:one_word_question"] == 1
    train = list(read_records(root / "train.parquet"))
    ids = [r.id for r in train]
    assert len(ids) == len(set(ids)) == 31 and "i90" not in ids and "i91" not in ids
    i3 = next(r for r in train if r.id == "i3")
    assert i3.question.startswith("A patient number 3")  # the first of the two i3 rows was kept
    assert next(r for r in train if r.id == "i92").metadata.extra["format_flags"] == ["one_word_question"]


def test_refine_empty_input_is_an_error_unless_allowed(tmp_path, capsys):
    inp = tmp_path / "empty.jsonl"
    inp.write_text("")
    cfg = tmp_path / "refine.yaml"
    cfg.write_text(f"inputs: [{{path: {inp}}}]\n")
    code, _, err = run_cli(["refine", str(cfg), "--out", str(tmp_path / "run")], capsys)
    assert code == 2 and f"{inp}: the input holds no rows" in err


# ---------------------------------------------------------------- 3
@pytest.mark.parametrize(("rows", "message"), [
    ([{"id": "a", "answer": "A"}, {"id": "a", "answer": "B"}], ":2: field 'id': duplicate id 'a'"),
    ([], "no rows to score"),
    ([{"id": "a", "answer": "bad"}], ":1: field 'answer': expected a letter"),
])
def test_score_refuses_what_it_used_to_score(tmp_path, capsys, rows, message):
    full = [{"options": ["w", "x", "y", "z"], "response": "<answer>B</answer>", **r} for r in rows]
    inp = write_jsonl(tmp_path / "in.jsonl", full)
    out = tmp_path / "scored.jsonl"
    code, _, err = run_cli(["score", "--input", str(inp), "--response-field", "response", "--out", str(out)],
                           capsys)
    assert code == 2 and f"{inp}{message}" in err.replace(f"{inp}: ", f"{inp}")
    assert not out.exists()


# ---------------------------------------------------------------- 4 and 5
class LetterServer:
    """An OpenAI-compatible endpoint that answers every request with one letter (or HTTP 500)."""

    def __init__(self, letter: str | None):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server interface
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests += 1
                if server.letter is None:
                    self.send_response(500)
                    self.end_headers()
                    return
                msg = {"role": "assistant", "content": f"<answer>{server.letter}</answer>"}
                data = json.dumps({"id": "x", "object": "chat.completion", "model": body["model"],
                                   "choices": [{"index": i, "message": msg, "finish_reason": "stop"}
                                               for i in range(body.get("n", 1))],
                                   "usage": {"prompt_tokens": 5, "completion_tokens": 3}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.letter, self.requests = letter, 0
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def servers():
    made = [LetterServer("A"), LetterServer("B"), LetterServer(None)]
    yield made
    for s in made:
        s.close()


def evaluate(url: str, out: Path, data: Path, capsys, *extra: str) -> tuple[int, str, str]:
    return run_cli(["eval", "--backend", "openai", "--base-url", url, "--model", "same-name", "--benchmarks",
                    "pubmedqa", "--data-dir", str(data), "--limit", "4", "--out", str(out),
                    "--max-retries", "0",
                    *extra], capsys)


def test_eval_identity_holds_the_endpoint(tmp_path, capsys, servers, benchmarks_dir):
    a, b, _ = servers
    out = tmp_path / "run"
    assert evaluate(a.url, out, benchmarks_dir, capsys)[0] == 0
    run = json.loads((out / "run.json").read_text())
    assert run["base_url"] == a.url and run["backend"] == "openai" and run["model"] == "same-name"
    assert run["prompts"]["pubmedqa"].startswith("fleming-")
    code, _, err = evaluate(b.url, out, benchmarks_dir, capsys)  # same model name, another server
    assert code == 2 and "base_url" in err and "--start-over" in err and b.requests == 0
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(out / "cache.sqlite", copy / "cache.sqlite")  # A's answers, offered to a run against B
    assert evaluate(b.url, copy, benchmarks_dir, capsys)[0] == 0
    assert b.requests == 4  # the cache did not answer for another endpoint
    code, _, _ = evaluate(b.url, out, benchmarks_dir, capsys, "--start-over")
    assert code == 0
    rows = [json.loads(x) for x in (out / "pubmedqa.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and {r["extracted"][0] for r in rows} == {"B"}  # only B's answers remain
    assert json.loads((out / "run.json").read_text())["base_url"] == b.url


def test_eval_exits_non_zero_when_items_failed(tmp_path, capsys, servers, benchmarks_dir):
    failing = servers[2]
    code, out, _ = evaluate(failing.url, tmp_path / "run", benchmarks_dir, capsys)
    assert code == 1 and "4 of 4 items failed" in " ".join(out.split())
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["benchmarks"]["pubmedqa"]["n_failed"] == 4
