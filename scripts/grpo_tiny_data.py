"""Data for the CPU GRPO must-show: KG items with difficulty labels, split into SFT and GRPO sets.

Usage: python scripts/grpo_tiny_data.py SYNTH_ITEMS.jsonl OUT_DIR [N_SFT]
Difficulty comes from refine's difficulty step with the KG-structure source only (the tiny model cannot
follow the LLM rubric). SFT and GRPO sets share no question stem.
"""

from __future__ import annotations

import sys
from pathlib import Path

from fleming.io import read_records, write_records
from fleming.refine.difficulty import Difficulty, DifficultyConfig, LLMDifficultyConfig


def main(src: str, out: str, n_sft: int = 1500) -> None:
    cfg = DifficultyConfig(llm=LLMDifficultyConfig(enabled=False), empirical=False, kg=True,
                           precedence=["kg"])
    step = Difficulty(cfg)
    labelled = list(step.run(read_records(src)))
    sft, grpo = [], []
    for r in labelled:
        (sft if len(sft) < n_sft else grpo).append(r)
    seen = {r.question for r in sft}
    grpo = [r for r in grpo if r.question not in seen]
    Path(out).mkdir(parents=True, exist_ok=True)
    write_records(Path(out) / "sft.jsonl", sft)
    write_records(Path(out) / "grpo.jsonl", grpo)
    print(f"sft {len(sft)}, grpo {len(grpo)}; difficulty {step.stats.extra}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *(int(x) for x in sys.argv[3:]))
