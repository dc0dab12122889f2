"""`fleming tiny-model`: build the embedded default model (tests and the CPU demo)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("tiny-model")
    def tiny_model(
        out: Path = typer.Option(..., "--out", help="Directory to write the model and tokenizer to."),
        seed: int = typer.Option(0, "--seed", help="Seed of the weight initialisation."),
    ) -> None:
        """Build a ~1M-parameter Qwen2 with a BPE tokenizer trained here on HPO text (seconds, on CPU)."""
        import time

        from fleming.train.tiny import build_tiny_model, describe

        t0 = time.perf_counter()
        path = build_tiny_model(out, seed=seed)
        typer.echo(f"{describe(path)} in {time.perf_counter() - t0:.1f} s -> {path}")
