"""Must-show of issue 13: the whole CoT loop against a real ``fleming serve`` (a tiny model as teacher and
as validator): pass@k, verification, answer-blind validator, refinement rounds. Prints the stats.

    python scripts/cot_serve_mustshow.py --model runs/ms/sft --items runs/ms/held_out.jsonl --n 60 --out runs/serve
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fleming.config import build
from fleming.cot.config import CotConfig
from fleming.cot.run import run_cot
from fleming.io import read_records
from fleming.pipeline import serve_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--items", type=Path, required=True)
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=384)
    ap.add_argument("--out", type=Path, default=Path("runs/cot-serve"))
    args = ap.parse_args()
    records = list(read_records(args.items))[:args.n]
    with serve_model(args.model, "tiny", print) as url:
        cfg = build(CotConfig, {
            "teacher": {"kind": "llm", "model": "tiny", "base_url": url, "k": args.k, "temperature": 0.8,
                        "max_tokens": args.max_tokens, "concurrency": 8, "grounding": True},
            "validator": {"enabled": True, "max_tokens": args.max_tokens},
            "rounds": 3, "refine_k": 2, "chunk": 4, "workers": 4, "progress": False}, "", "must-show")
        stats = run_cot(cfg, records, args.out, log=print)
    print(json.dumps(stats, indent=1))


if __name__ == "__main__":
    main()
