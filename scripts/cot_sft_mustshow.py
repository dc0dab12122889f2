"""Must-show of issue 13: the KG-grounded teacher on N synthetic items, then SFT of the tiny model;
held-out loss and held-out accuracy (items never trained on) before and after.

    python scripts/cot_sft_mustshow.py --items runs/synth/items.jsonl --train 2000 --eval 300 --out runs/ms

Steps: ``fleming cot`` (grounded) on the first ``--train`` items; ``fleming tiny-model``; accuracy of the
untrained model on ``--eval`` later items of the same file (never trained on); ``fleming train sft``
(``--steps``); accuracy of the fine-tuned model on the same held-out items. Prints one JSON summary.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from fleming.grading import check_format, grade
from fleming.io import read_records, write_records
from fleming.llm import SamplingParams, make_backend
from fleming.prompts import build_messages


def fleming(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "fleming.cli", *args], check=True)


def accuracy(model: Path, records, max_tokens: int) -> dict:
    be = make_backend("hf", str(model), batch_size=16, num_threads=1)
    t = time.perf_counter()
    rows = be.generate([build_messages(r) for r in records], SamplingParams(max_tokens=max_tokens),
                       progress=False)
    grades = [grade(c[0].text, r.options, r.answer) for r, c in zip(records, rows, strict=True)]
    n = len(records)
    correct = sum(g.status == "correct" for g in grades)
    chance = sum(1 / len(r.options) for r in records) / n
    return {"n": n, "accuracy": round(correct / n, 4), "stderr": round((correct / n * (1 - correct / n) / n) ** .5, 4),
            "unparsed": round(sum(g.status == "unparsed" for g in grades) / n, 4),
            "strict_format": round(sum(check_format(c[0].text) for c in rows) / n, 4),
            "chance": round(chance, 4), "seconds": round(time.perf_counter() - t, 1),
            "sample": rows[0][0].text[:600]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=Path, required=True)
    ap.add_argument("--train", type=int, default=2000)
    ap.add_argument("--eval", type=int, default=300)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--max-tokens", type=int, default=512)
    ap.add_argument("--out", type=Path, default=Path("runs/cot-mustshow"))
    args = ap.parse_args()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    items = list(read_records(args.items))
    train, held = items[:args.train], items[args.train:args.train + args.eval]
    seen = {r.question for r in train}
    held = [r for r in held if r.question not in seen]
    write_records(out / "train.jsonl", train)
    write_records(out / "held_out.jsonl", held)
    (out / "cot.yaml").write_text(f"inputs: [{out / 'train.jsonl'}]\nteacher: {{kind: grounded}}\n")
    (out / "sft.yaml").write_text(
        "eval_fraction: 0.1\ntrl: {max_steps: %d, per_device_train_batch_size: 16, learning_rate: 0.003, "
        "max_length: 1024, logging_steps: 20}\n" % args.steps)
    t = time.perf_counter()
    fleming("cot", str(out / "cot.yaml"), "--out", str(out / "cot"))
    cot_s = time.perf_counter() - t
    if not (out / "tiny" / "config.json").is_file():
        fleming("tiny-model", "--out", str(out / "tiny"), "--seed", "0")
    before = accuracy(out / "tiny", held, args.max_tokens)
    print("before", json.dumps(before), flush=True)
    t = time.perf_counter()
    fleming("train", "sft", str(out / "sft.yaml"), "--model", str(out / "tiny"), "--data", str(out / "cot"),
            "--out", str(out / "sft"))
    sft_s = time.perf_counter() - t
    after = accuracy(out / "sft", held, args.max_tokens)
    cot = json.loads((out / "cot" / "stats.json").read_text())
    summary = {"cot": {k: cot[k] for k in ("in", "kept", "dropped", "drop_reasons", "claims_kept")},
               "cot_seconds": round(cot_s, 1), "sft_seconds": round(sft_s, 1),
               "held_out_items": len(held), "accuracy_before": before, "accuracy_after": after}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
