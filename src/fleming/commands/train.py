"""`fleming train grpo CONFIG --stage 1|2`: two-stage RLVR with TRL (see ``fleming.train.grpo``)."""

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
