"""`fleming train sft CONFIG` (the CoT cold start) and `fleming train grpo CONFIG --stage 1|2`
(two-stage RLVR): training stages on TRL (see ``fleming.train.sft`` and ``fleming.train.grpo``)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    train = typer.Typer(no_args_is_help=True, help="Training stages on TRL (SFT cold start, GRPO).")
    app.add_typer(train, name="train")

    @train.command("grpo")
    def grpo(config: Path = typer.Argument(..., help="GRPO YAML, or a run config with a grpo: section"),
             stage: int = typer.Option(..., "--stage", min=1, max=2,
                                       help="1: Easy+Moderate until a plateau; 2: mining + GRPO rounds"),
             model: Path | None = typer.Option(None, "--model",
                                               help="starting checkpoint (default: the config's model for "
                                                    "stage 1, OUT/stage1 for stage 2)"),
             out: Path | None = typer.Option(None, "--out",
                                             help="output folder (default: the config's out)")):
        """Run one GRPO stage into OUT/stage1 or OUT/stage2 (resumes from its checkpoints)."""
        from fleming.train.grpo import load_section, run_stage

        cfg = load_section(config)
        if out is not None:
            cfg.out = str(out)
        stats = run_stage(cfg, stage, model, log=typer.echo)
        typer.echo(f"[grpo] stage {stage} done: {stats.get('stopped')} -> {Path(cfg.out) / f'stage{stage}'}")


    @train.command("sft")
    def sft(
        config: Path = typer.Argument(
            ...,
            help="YAML: an sft section alone or a whole-run config with `sft:` (see configs/sft-tiny.yaml)",
        ),
        model: Path | None = typer.Option(None, "--model", help="base model (default: the config's model)"),
        data: Path | None = typer.Option(None, "--data", help="a `fleming cot` output directory"),
        out: Path | None = typer.Option(None, "--out", help="checkpoint directory"),
    ) -> None:
        """Fine-tune on a CoT dataset with TRL (full or LoRA; loss on the completion only); resumes."""
        from fleming.config import load, load_yaml
        from fleming.errors import ConfigError
        from fleming.train.sft import SFTSection, run_sft_stage, sft_args

        cfg = load(SFTSection, config, "sft")
        where = "sft.trl" if "sft" in load_yaml(config) else "trl"
        model, data, out = model or Path(cfg.model), data or Path(cfg.data), out or Path(cfg.out)
        for name, value in (("model", model), ("data", data)):
            if str(value) in ("", "."):
                raise ConfigError(f"{config}: {name}: expected a path (or --{name})")
        sft_args(cfg, out, where, str(config))  # a bad trl field fails before the model loads
        s = run_sft_stage(cfg, model, data, out, log=typer.echo, where=where, file=str(config))
        typer.echo(
            f"checkpoint {out}: {s['steps']} steps, train loss {s['train_loss']}, held-out loss "
            f"{s['held_out_loss_before']} -> {s['held_out_loss_after']}"
        )
