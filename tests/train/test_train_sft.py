"""TRL SFT on prompt/completion rows: the loss falls, and the saved checkpoint is safetensors-only."""

from __future__ import annotations

import pytest

from fleming.records import MCQ
from fleming.train.sft import SFTStageConfig, completion_text, run_sft, sft_rows


def _records(n: int) -> list[MCQ]:
    opts = {"A": "Marfan syndrome", "B": "Noonan syndrome", "C": "Turner syndrome"}
    return [MCQ(id=f"q{i}", source="s", split="train", question=f"Tall stature and finding {i % 5}?",
                options=opts, answer=["ABC"[i % 3]]) for i in range(24)]


def test_completion_text_is_what_the_strict_grader_accepts():
    from fleming.grading import check_format, extract_answer

    r = _records(3)[2]
    text = completion_text(r, "Short stature and webbed neck point to C.")
    assert check_format(text)
    assert extract_answer(text, r.options) == r.answer


@pytest.mark.slow
def test_sft_lowers_loss_and_saves_safetensors(tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    rows = sft_rows(_records(24), lambda r: f"The findings fit {r.answer_text}.")
    assert rows[0]["completion"][0]["role"] == "assistant"
    out = run_sft(tiny_model_dir, rows, tmp_path / "sft",
                  SFTStageConfig(max_steps=30, per_device_train_batch_size=8, logging_steps=5))
    names = {p.name for p in out.iterdir()}
    assert "model.safetensors" in names and "training_args.bin" not in names
    assert not any(n.endswith((".bin", ".pt", ".pkl")) for n in names)
    history = [h["loss"] for h in _log_history(out) if "loss" in h]
    assert len(history) >= 4 and history[-1] < history[0] * 0.7
    AutoModelForCausalLM.from_pretrained(str(out), use_safetensors=True)


def _log_history(out):
    import json

    states = sorted((out / "checkpoints").glob("checkpoint-*/trainer_state.json"))
    return json.loads(states[-1].read_text())["log_history"]
