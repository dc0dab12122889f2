"""The CPU must-show's cold start: the tiny model, then a short SFT on KG-grounded brief chains.

Usage: python scripts/grpo_tiny_sft.py DATA_DIR OUT_DIR [MAX_STEPS]
"""

from __future__ import annotations

import sys
from pathlib import Path

from fleming.cot.grounded import grounded_reasoning
from fleming.io import read_records
from fleming.train.sft import SFTSection, sft_rows, train_sft
from fleming.train.tiny import build_tiny_model


def main(data: str, out: str, steps: int = 120) -> None:
    out_p = Path(out)
    base = out_p / "tiny"
    if not (base / "model.safetensors").is_file():
        build_tiny_model(base, seed=0)
    rows = sft_rows(read_records(Path(data) / "sft.jsonl"), lambda r: grounded_reasoning(r, brief=True))
    trl = {"max_steps": steps, "per_device_train_batch_size": 16, "learning_rate": 3e-3, "max_length": 256,
           "logging_steps": 10}
    train_sft(base, rows, [], out_p / "sft", SFTSection(trl=trl))
    print(f"SFT model -> {out_p / 'sft'}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *(int(x) for x in sys.argv[3:]))
