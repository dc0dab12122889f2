"""`fleming train sft CONFIG`: training stages (issue 14 adds `grpo` to this group)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    train = typer.Typer(no_args_is_help=True, help="Training stages: sft (the CoT cold start).")
    app.add_typer(train, name="train")

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
