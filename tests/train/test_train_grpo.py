"""GRPO stages on TRL: config checks before any step, the paper's advantage captured from a real TRL step,
safetensors output, resuming, and the errors the issue asks for."""

from __future__ import annotations

import json

import pytest

from fleming.config import build
from fleming.errors import ConfigError, FlemingError
from fleming.records import MCQ, Metadata
from fleming.train.grpo import GRPOSection, grpo_args, load_section, run_grpo_stage, select_stage1

OPTS = {"A": "Marfan syndrome", "B": "Noonan syndrome", "C": "Turner syndrome"}


def _records(n: int, levels=("Easy", "Moderate", "Difficult")) -> list[MCQ]:
    return [MCQ(id=f"q{i}", source="s", split="train", question=f"Tall stature and finding {i}?",
                options=OPTS, answer=["ABC"[i % 3]], metadata=Metadata(difficulty=levels[i % len(levels)]))
            for i in range(n)]


def _cfg(tmp_path, **trl) -> GRPOSection:
    base = {"num_generations": 4, "per_device_train_batch_size": 8, "max_completion_length": 12,
            "max_steps": 2, "learning_rate": 1e-3, "save_steps": 1, "logging_steps": 1}
    cfg = build(GRPOSection, {"out": str(tmp_path), "stage1": {"mix": "all", "trl": {**base, **trl}},
                              "stage2": {"trl": {**base, "num_generations": 8, **trl}}}, "", "test.yaml")
    cfg.file = "test.yaml"
    return cfg


def test_objective_is_explicit_and_fixed(tmp_path):
    args = grpo_args(_cfg(tmp_path), 1, tmp_path, [1.0, 1.0], log=lambda s: None)
    assert (args.scale_rewards, args.beta, args.num_iterations, args.epsilon) == ("none", 0.0, 1, 0.2)
    assert args.loss_type == "dr_grpo" and args.mask_truncated_completions is False
    assert args.bf16 is False and args.activation_checkpointing is False
    with pytest.raises(ConfigError, match=r"test.yaml: stage1.trl.scale_rewards: fixed to 'none'"):
        grpo_args(_cfg(tmp_path, scale_rewards="group"), 1, tmp_path, [1.0, 1.0])


def test_batch_not_divisible_by_num_generations_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match=r"stage1.trl.per_device_train_batch_size: 6 is not divisible by "
                                          r"num_generations 4"):
        grpo_args(_cfg(tmp_path, per_device_train_batch_size=6, generation_batch_size=12), 1, tmp_path,
                  [1.0, 1.0])


def test_unknown_trl_field_names_file_and_key(tmp_path):
    with pytest.raises(ConfigError, match=r"test.yaml: stage1.trl.num_generation: not a field of GRPOConfig"):
        grpo_args(_cfg(tmp_path, num_generation=4), 1, tmp_path, [1.0, 1.0])


def test_section_loads_alone_or_from_a_run_config(tmp_path):
    alone = tmp_path / "grpo.yaml"
    alone.write_text("data: d.jsonl\nmining: {k: 4, right_wrong: '1:3'}\n")
    run = tmp_path / "run.yaml"
    run.write_text("other: 1\ngrpo:\n  data: d.jsonl\n  mining: {k: 4, right_wrong: '1:3'}\n")
    assert load_section(alone).mining.k == load_section(run).mining.k == 4
    bad = tmp_path / "bad.yaml"
    bad.write_text("grpo:\n  mining: {right_wrong: 'lots'}\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: grpo.mining: mining.right_wrong: expected a ratio"):
        load_section(bad)


def test_stage1_mix_and_missing_difficulty():
    recs = _records(30)  # 10 per level
    cfg = build(GRPOSection, {"stage1": {"mix": "1:2"}}, "grpo", "t.yaml").stage1
    chosen, info = select_stage1(recs, cfg, seed=0)
    assert info["chosen"] == {"Easy": 10, "Moderate": 5}  # Moderate : Easy = 1 : 2, Easy is the limit
    assert not any(r.metadata.difficulty == "Difficult" for r in chosen)
    unlabelled = recs[:3] + [recs[3].model_copy(update={"metadata": Metadata()})]
    with pytest.raises(FlemingError, match=r"1 of 4 records have no metadata.difficulty \(first: q3\).*"
                                           r"run refine with the difficulty step first"):
        select_stage1(unlabelled, cfg, seed=0)


def test_stage1_uses_every_item_when_one_level_is_nearly_empty():
    moderate = [r.model_copy(update={"id": f"m{r.id}"}) for r in _records(20, ("Moderate",))]
    recs = _records(1, ("Easy",)) + moderate
    cfg = build(GRPOSection, {"stage1": {"mix": "1:1"}}, "grpo", "t.yaml").stage1
    chosen, info = select_stage1(recs, cfg, seed=0)
    assert info["chosen"] == {"Easy": 1, "Moderate": 20} and "fallback" in info    # not 1 + 1


def test_checkpoint_without_safetensors_is_an_error(tmp_path):
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "pytorch_model.bin").write_bytes(b"x")
    with pytest.raises(FlemingError, match=r"ckpt: no \*.safetensors weights \(found pytorch_model.bin\)"):
        run_grpo_stage(_cfg(tmp_path), 1, ckpt, _records(8), tmp_path / "out")


def _groups(files, names, weights, g):
    """(advantages, weighted rewards) per group from TRL's completions logs (a group is consecutive)."""
    import pandas as pd

    out = []
    for f in files:
        df = pd.read_parquet(f)
        total = sum(df[n] * w for n, w in zip(names, weights, strict=True))
        for start in range(0, len(df), g):
            assert df["prompt"].iloc[start:start + g].astype(str).nunique() == 1
            part = slice(start, start + g)
            out.append((df["advantage"].iloc[part].to_numpy(), total.iloc[part].to_numpy()))
    return out


class Length:
    """A test reward that varies inside a group (the tiny untrained model earns no correctness/format)."""

    __name__ = "length"

    def __call__(self, completions, **kwargs):
        return [float(len(c[-1]["content"]) % 3) for c in completions]


@pytest.mark.slow
def test_real_trl_step_advantage_is_reward_minus_group_mean(tiny_model_dir, tmp_path):
    """TRL's own completions log (each reward and each advantage) after real steps with our GRPOConfig."""
    import datasets
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOTrainer

    from fleming.train.grpo import rows
    from fleming.train.rewards import Correctness, Format

    cfg = _cfg(tmp_path, max_steps=2, log_completions=True, temperature=1.5)
    weights = [1.0, 1.0, 0.5]
    args = grpo_args(cfg, 1, tmp_path, weights)
    trainer = GRPOTrainer(model=AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)),
                          reward_funcs=[Correctness(), Format(), Length()], args=args,
                          processing_class=AutoTokenizer.from_pretrained(str(tiny_model_dir)),
                          train_dataset=datasets.Dataset.from_list(rows(_records(12), cfg.prompt_id)))
    trainer.train()
    files = sorted((tmp_path / "checkpoints" / "completions").glob("completions_*.parquet"))
    groups = _groups(files, ["correctness", "format", "length"], weights, 4)
    assert len(groups) >= 4
    assert sum(r.std() > 0 for _, r in groups) >= 2  # so a division by the std would show
    for adv, r in groups:
        assert abs(adv - (r - r.mean())).max() < 1e-6


@pytest.mark.slow
def test_a_stage_writes_safetensors_logs_and_plots(tiny_model_dir, tmp_path):
    cfg = _cfg(tmp_path, max_steps=2, log_completions=True, temperature=1.5)
    stats = run_grpo_stage(cfg, 1, tiny_model_dir, _records(12), tmp_path / "s1", log=lambda s: None)
    assert stats["steps"] == 2 and stats["objective"]["scale_rewards"] == "none"
    assert stats["stopped"] == "max_steps"
    files = sorted((tmp_path / "s1" / "checkpoints" / "completions").glob("completions_*.parquet"))
    for adv, r in _groups(files, ["correctness", "format"], [1.0, 1.0], 4):
        assert abs(adv - (r - r.mean())).max() < 1e-6
    names = {p.name for p in (tmp_path / "s1").iterdir()}
    assert "model.safetensors" in names and "training_args.bin" not in names
    rows = [json.loads(x) for x in (tmp_path / "s1" / "metrics.jsonl").read_text().splitlines()]
    assert any("frac_reward_zero_std" in r and "rewards/correctness/std" in r for r in rows)
    assert (tmp_path / "s1" / "rewards.png").stat().st_size > 1000


@pytest.mark.slow
def test_a_stage_resumes_from_its_last_checkpoint(tiny_model_dir, tmp_path):
    out = tmp_path / "s2"
    run_grpo_stage(_cfg(tmp_path, max_steps=1), 2, tiny_model_dir, _records(8), out, log=lambda s: None)
    assert (out / "checkpoints" / "checkpoint-1").is_dir()
    lines: list[str] = []
    stats = run_grpo_stage(_cfg(tmp_path, max_steps=2), 2, tiny_model_dir, _records(8), out, log=lines.append)
    assert any("resuming from" in s and "checkpoint-1" in s for s in lines)
    assert stats["steps"] == 2 and stats["num_generations"] == 8
    changed = _records(9)[1:]
    lines.clear()
    run_grpo_stage(_cfg(tmp_path, max_steps=3), 2, tiny_model_dir, changed, out, log=lines.append)
    assert any("ignore_data_skip" in s for s in lines)


def _cli(argv, capsys) -> tuple[int, str]:
    from fleming.cli import main

    with pytest.raises(SystemExit) as e:
        main(argv)
    return e.value.code, capsys.readouterr().err


def test_cli_errors_are_one_line_before_any_work(tmp_path, capsys):
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(r.model_dump_json() for r in _records(6)) + "\n")
    cfg = tmp_path / "run.yaml"
    cfg.write_text(f"grpo:\n  model: {tmp_path / 'nowhere'}\n  data: {data}\n  stage1:\n    trl:\n"
                   "      num_generations: 4\n      per_device_train_batch_size: 6\n"
                   "      generation_batch_size: 12\n")
    code, err = _cli(["train", "grpo", str(cfg), "--stage", "1"], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "run.yaml: grpo.stage1.trl.per_device_train_batch_size: 6 is not divisible" in err
    cfg.write_text(f"grpo:\n  model: {tmp_path / 'nowhere'}\n  data: {data}\n")
    code, err = _cli(["train", "grpo", str(cfg), "--stage", "1"], capsys)
    assert code == 2 and "nowhere: checkpoint folder not found" in err


def test_a_second_run_of_the_same_stage_is_refused(tmp_path):
    from fleming.train.grpo import _exclusive

    with _exclusive(tmp_path / ".stage1.lock"), \
            pytest.raises(FlemingError, match="another run of this stage is writing here"), \
            _exclusive(tmp_path / ".stage1.lock"):
        pass
    with _exclusive(tmp_path / ".stage1.lock"):  # released when the first run ends
        pass


@pytest.mark.slow
def test_lora_stage_saves_merged_full_weights(tiny_model_dir, tmp_path):
    from safetensors import safe_open

    cfg = _cfg(tmp_path, max_steps=1)
    cfg.lora.enabled, cfg.lora.r = True, 4
    run_grpo_stage(cfg, 1, tiny_model_dir, _records(8), tmp_path / "lora", log=lambda s: None)
    names = {p.name for p in (tmp_path / "lora").iterdir()}
    assert "model.safetensors" in names and "adapter_model.safetensors" not in names
    with safe_open(str(tmp_path / "lora" / "model.safetensors"), framework="pt") as f:
        keys = list(f.keys())
    assert keys and not any("lora" in k for k in keys)


def test_resume_skips_a_checkpoint_cut_off_mid_save(tmp_path):
    from fleming.train.sft import _last_checkpoint

    for step, complete in ((2, True), (4, False)):        # killed while writing checkpoint-4
        c = tmp_path / f"checkpoint-{step}"
        c.mkdir()
        (c / "model.safetensors").write_bytes(b"x")
        if complete:
            (c / "trainer_state.json").write_text("{}")
    assert _last_checkpoint(tmp_path) == tmp_path / "checkpoint-2"
    assert _last_checkpoint(tmp_path / "none") is None
