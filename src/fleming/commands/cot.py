"""`fleming cot CONFIG`: the CoT cold start's data (teacher distillation, verification, refinement)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("cot")
    def cot(
        config: Path = typer.Argument(
            ...,
            help="YAML: a cot config, or a whole-run config with a "
            "`cot:` section (see configs/cot-grounded.yaml)",
        ),
        out: Path | None = typer.Option(None, "--out", help="output directory (default: the config's out)"),
    ) -> None:
        """Distil, verify and refine chains of thought into an SFT dataset (resumable: re-run after a kill
        repeats no answered teacher request and loses no finished item)."""
        from fleming.config import load
        from fleming.cot.config import CotConfig
        from fleming.cot.run import run_cot
        from fleming.errors import ConfigError
        from fleming.io import read_records

        cfg = load(CotConfig, config, "cot")
        if not cfg.inputs:
            raise ConfigError(f"{config}: inputs: expected at least one file of items")
        records = [r for path in cfg.inputs for r in read_records(path)]
        s = run_cot(cfg, records, out or Path(cfg.out), log=typer.echo)
        reasons = ", ".join(f"{k} {v}" for k, v in s["drop_reasons"].items()) or "none"
        c = s["claims_kept"]
        typer.echo(
            f"in {s['in']} = kept {s['kept']} + dropped {s['dropped']} ({reasons}); claim precision "
            f"{c['precision']} ({c['true']} true, {c['false']} false, {c['uncheckable']} uncheckable); "
            f"teacher samples sent {s['llm_samples']['sent']}, from cache {s['llm_samples']['from_cache']}"
        )
