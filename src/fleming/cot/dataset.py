"""The SFT dataset of the cold start: chat-format rows on disk (Hugging Face ``datasets`` and Parquet).

A row is TRL's conversational prompt/completion shape: ``prompt`` is the evaluation prompt
(``fleming.prompts.build_messages``), ``completion`` the assistant turn ``<think>…</think>`` then
``<answer>X</answer>``. Each row keeps its item id, source, teacher, strategy, round and the checks it
passed (JSON).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fleming.prompts import build_messages
from fleming.records import MCQ

COLUMNS = ("id", "source", "prompt", "completion", "answer", "teacher", "strategy", "round", "checks")


def sft_row(
    record: MCQ, completion: str, teacher: str, strategy: str, rnd: int, checks: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": record.id,
        "source": record.source,
        "prompt": build_messages(record),
        "completion": [{"role": "assistant", "content": completion}],
        "answer": ",".join(record.answer),
        "teacher": teacher,
        "strategy": strategy,
        "round": rnd,
        "checks": json.dumps(checks),
    }


def write_dataset(kept: list[dict[str, Any]], by_id: dict[str, MCQ], out: Path, teacher: str) -> int:
    """``out/dataset`` (save_to_disk) and ``out/sft.parquet`` from the journal rows of kept items."""
    import datasets

    rows = []
    for x in kept:
        best = x["best"]
        att = next(a for a in x["attempts"] if a["round"] == best["round"] and a["sample"] == best["sample"])
        checks = {"failed": att.get("failed", {}), "claims": att.get("claims", {}), "words": att.get("words")}
        rows.append(
            sft_row(by_id[x["id"]], best["completion"], teacher, best["strategy"], best["round"], checks)
        )
    cols = {c: [r[c] for r in rows] for c in COLUMNS}
    ds = datasets.Dataset.from_dict(cols, features=_features())
    ds.save_to_disk(str(out / "dataset"))
    ds.to_parquet(str(out / "sft.parquet"))
    return len(rows)


def _features():
    import datasets

    msg = [{"role": datasets.Value("string"), "content": datasets.Value("string")}]
    return datasets.Features(
        {
            "id": datasets.Value("string"),
            "source": datasets.Value("string"),
            "prompt": msg,
            "completion": msg,
            "answer": datasets.Value("string"),
            "teacher": datasets.Value("string"),
            "strategy": datasets.Value("string"),
            "round": datasets.Value("int32"),
            "checks": datasets.Value("string"),
        }
    )


def load_sft_dataset(path: str | Path):
    """The dataset a CoT run wrote: its ``dataset/`` folder (or the folder itself)."""
    import datasets

    from fleming.errors import InputError

    p = Path(path)
    d = p / "dataset" if (p / "dataset").is_dir() else p
    if not (d / "dataset_info.json").is_file():
        raise InputError(p, None, None, "no CoT dataset here (expected dataset/ from `fleming cot`)")
    return datasets.load_from_disk(str(d))


def answer_only_dataset(records: list[MCQ], out: Path) -> int:
    """``out/dataset`` and ``out/sft.parquet`` of answer-only rows (an empty think block, then the
    answer): what teaches a non-reasoning base model the format (the ablation's Base row)."""
    import datasets

    rows = [sft_row(r, f"<think>\n</think>\n<answer>{', '.join(r.answer)}</answer>", "answer-only",
                    "none", 0, {}) for r in records]
    ds = datasets.Dataset.from_dict({c: [r[c] for r in rows] for c in COLUMNS}, features=_features())
    out.mkdir(parents=True, exist_ok=True)
    ds.save_to_disk(str(out / "dataset"))
    ds.to_parquet(str(out / "sft.parquet"))
    return len(rows)
