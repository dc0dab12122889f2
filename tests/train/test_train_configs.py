"""The shipped GRPO and scale-out configs load and validate (accelerate DDP / ZeRO-3, TRL vLLM modes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleming.train.grpo import load_section

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize("name,kind", [("ddp.yaml", "MULTI_GPU"), ("zero3.yaml", "DEEPSPEED")])
def test_accelerate_configs_validate(name, kind):
    from accelerate.commands.config.config_args import ClusterConfig

    cfg = ClusterConfig.from_yaml_file(str(CONFIGS / "accelerate" / name))
    assert cfg.distributed_type.value == kind and cfg.num_processes == 8 and cfg.mixed_precision == "bf16"
    if kind == "DEEPSPEED":
        assert cfg.deepspeed_config["zero_stage"] == 3 and cfg.deepspeed_config["zero3_save_16bit_model"]


@pytest.mark.parametrize("name,mode", [("vllm-server.yaml", "server"), ("vllm-colocate.yaml", "colocate")])
def test_vllm_grpo_configs_validate_as_grpoconfig(name, mode):
    from trl import GRPOConfig

    from fleming.config import trl_args

    path = CONFIGS / "grpo" / name
    section = load_section(path)
    for stage, sec in ((1, section.stage1), (2, section.stage2)):
        assert sec.trl["bf16"] is True
        cpu = {**sec.trl, "bf16": False, "use_cpu": True}  # GRPOConfig rejects bf16 without a GPU
        args = trl_args(GRPOConfig, cpu, f"stage{stage}.trl", str(path), output_dir="/tmp/x",
                        scale_rewards="none")
        assert args.use_vllm and args.vllm_mode == mode
        assert args.per_device_train_batch_size % args.num_generations == 0
    assert section.stage2.trl["num_generations"] > section.stage1.trl["num_generations"]


def test_tiny_cpu_config_builds_both_stages(tmp_path):
    from fleming.train.grpo import grpo_args

    section = load_section(CONFIGS / "grpo" / "tiny-cpu.yaml")
    a1 = grpo_args(section, 1, tmp_path, [1.0, 1.0], log=lambda s: None)
    a2 = grpo_args(section, 2, tmp_path, [1.0, 1.0], log=lambda s: None)
    assert a2.num_generations > a1.num_generations and a1.scale_rewards == a2.scale_rewards == "none"
