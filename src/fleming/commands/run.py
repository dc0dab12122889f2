"""`fleming run CONFIG`: the whole recipe, stage by stage, resumable (see ``fleming.pipeline``);
`fleming demo` is `fleming run` on the packaged demo config."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import typer

STAGE_HELP = ("kg, synth, split, public, model, validator, refine, cot, base, sft, grpo1, grpo2, eval, "
              "rl_seeds, report")


def _run(config: Path | None, out: Path | None, fresh: bool, only: str | None, start: str | None,
         until: str | None, default: str = "demo.yaml") -> None:
    from fleming.io import check_out_dir
    from fleming.pipeline import run
    from fleming.pipeline.config import load_run_config

    cfg = load_run_config(config, default)
    out = out or Path(cfg.out)
    check_out_dir(out)
    if fresh and out.exists():
        shutil.rmtree(out)
    typer.echo(f"[run] config {cfg.source} -> {out}")
    t = time.perf_counter()
    run(cfg, out, log=typer.echo, only=only, start=start, until=until)
    typer.echo(f"[run] done in {time.perf_counter() - t:.0f} s; report: {out / 'report.html'}")


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run_cmd(config: Path = typer.Argument(..., help="the run's YAML config (one section per stage)"),
                out: Path | None = typer.Option(None, "--out", help="run directory (default: config's out)"),
                fresh: bool = typer.Option(False, "--fresh", help="delete OUT first instead of resuming"),
                only: str | None = typer.Option(None, "--only", help=f"run one stage ({STAGE_HELP})"),
                start: str | None = typer.Option(None, "--from", help="run again from this stage on"),
                until: str | None = typer.Option(None, "--until", help="stop after this stage")) -> None:
        """Run every stage of the recipe in order; a re-run skips finished stages, and a changed config
        re-runs that stage and the ones after it."""
        _run(config, out, fresh, only, start, until)

    @app.command()
    def demo(out: Path | None = typer.Option(None, "--out", help="run directory (default: runs/demo)"),
             fresh: bool = typer.Option(False, "--fresh", help="delete OUT first instead of resuming"),
             until: str | None = typer.Option(None, "--until", help="stop after this stage")) -> None:
        """`fleming run` on the packaged demo config: the whole recipe on the embedded default (CPU)."""
        _run(None, out, fresh, None, None, until)
