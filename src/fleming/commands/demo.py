"""`fleming demo`: the whole pipeline on the embedded default (see ``fleming.pipeline``)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(out: Path | None = typer.Option(None, "--out", help="run directory (default: runs/demo)"),
             config: Path | None = typer.Option(None, "--config",
                                                help="demo YAML (default: the packaged one)"),
             fresh: bool = typer.Option(False, "--fresh",
                                        help="delete OUT first instead of resuming")) -> None:
        """Run KG -> synthesis -> validator -> refinement -> training set and report (resumable)."""
        import shutil
        import time

        from fleming.pipeline import Demo, load_demo_config

        cfg, where = load_demo_config(config)
        out = out or Path(cfg.out)
        if fresh and out.exists():
            shutil.rmtree(out)
        typer.echo(f"[demo] config {where} -> {out}")
        t = time.perf_counter()
        report = Demo(cfg, out, log=typer.echo).run()
        typer.echo(f"[demo] done in {time.perf_counter() - t:.0f} s; report: {report}")
