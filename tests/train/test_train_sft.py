"""TRL SFT on a CoT dataset: the loss falls, the objective is fixed, the checkpoint is safetensors-only,
and a bad trl field is a one-line error naming the file and key."""

from __future__ import annotations

import json

import pytest

from fleming.cot.dataset import write_dataset
from fleming.errors import ConfigError
from fleming.records import MCQ
from fleming.train.sft import SFTSection, completion_text, held_out, run_sft_stage, sft_args


def _records(n: int) -> list[MCQ]:
    opts = {"A": "Marfan syndrome", "B": "Noonan syndrome", "C": "Turner syndrome"}
    return [
        MCQ(
            id=f"q{i}",
            source="s",
            split="train",
            question=f"Tall stature and finding {i % 5}?",
            options=opts,
            answer=["ABC"[i % 3]],
        )
        for i in range(40)
    ]


def _cot_dir(tmp_path, records):
    kept = [
        {
            "id": r.id,
            "best": {
                "round": 0,
                "sample": 0,
                "strategy": "grounded",
                "completion": completion_text(r, f"The findings fit {r.answer_text}."),
            },
            "attempts": [{"round": 0, "sample": 0, "failed": {}, "claims": {}, "words": 4}],
        }
        for r in records
    ]
    write_dataset(kept, {r.id: r for r in records}, tmp_path / "cot", teacher="grounded")
    return tmp_path / "cot"


def test_completion_text_is_what_the_strict_grader_accepts():
    from fleming.grading import check_format, extract_answer

    r = _records(3)[2]
    text = completion_text(r, "Short stature and webbed neck point to C.")
    assert check_format(text)
    assert extract_answer(text, r.options) == r.answer


def test_objective_is_fixed_and_a_contradicting_field_is_an_error(tmp_path):
    args = sft_args(SFTSection(trl={"max_steps": 7}), tmp_path)
    assert (args.completion_only_loss, args.packing, args.loss_type, args.max_steps) == (
        True,
        False,
        "nll",
        7,
    )
    with pytest.raises(ConfigError, match=r"run.yaml: sft.trl.packing: fixed to False"):
        sft_args(SFTSection(trl={"packing": True}), tmp_path, "sft.trl", "run.yaml")
    with pytest.raises(ConfigError, match=r"run.yaml: sft.trl.no_such_field: not a field of SFTConfig"):
        sft_args(SFTSection(trl={"no_such_field": 1}), tmp_path, "sft.trl", "run.yaml")


def test_held_out_share_is_stable_and_near_the_fraction():
    ids = [f"item-{i}" for i in range(4000)]
    share = sum(held_out(i, 0.1) for i in ids) / len(ids)
    assert 0.08 < share < 0.12
    assert [held_out(i, 0.1) for i in ids[:50]] == [held_out(i, 0.1) for i in ids[:50]]


@pytest.mark.slow
def test_sft_lowers_loss_and_saves_safetensors(tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    data = _cot_dir(tmp_path, _records(40))
    cfg = SFTSection(
        eval_fraction=0.2,
        trl={"max_steps": 30, "per_device_train_batch_size": 8, "logging_steps": 5, "max_length": 256},
    )
    out = tmp_path / "sft"
    stats = run_sft_stage(cfg, tiny_model_dir, data, out)
    names = {p.name for p in out.iterdir()}
    assert "model.safetensors" in names and "training_args.bin" not in names
    assert not any(n.endswith((".bin", ".pt", ".pkl")) for n in names)
    history = [h["loss"] for h in _log_history(out) if "loss" in h]
    assert len(history) >= 4 and history[-1] < history[0] * 0.7
    assert stats["held_out_rows"] > 0 and stats["held_out_loss_after"] < stats["held_out_loss_before"]
    AutoModelForCausalLM.from_pretrained(str(out), use_safetensors=True)


def _log_history(out):
    states = sorted((out / "checkpoints").glob("checkpoint-*/trainer_state.json"))
    return json.loads(states[-1].read_text())["log_history"]
