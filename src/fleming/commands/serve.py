"""`fleming serve`: an OpenAI-compatible server for a local Hugging Face checkpoint."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        model: Path = typer.Option(..., "--model", help="Hugging Face checkpoint directory (safetensors)."),
        port: int = typer.Option(8000, "--port", help="Port to listen on."),
        host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind (0.0.0.0 for all)."),
        served_model_name: str | None = typer.Option(None, help="Model id in responses (default: --model)."),
        max_batch: int = typer.Option(16, min=1, help="Most sequences generated together."),
        batch_wait_ms: float = typer.Option(5.0, min=0, help="How long to gather a batch, in ms."),
        device: str | None = typer.Option(None, help="cpu or cuda (default: cuda when available)."),
        num_threads: int | None = typer.Option(None, min=1, help="torch threads (default 1 on CPU)."),
        access_log: bool = typer.Option(False, help="Log every request."),
    ) -> None:
        """Serve MODEL on /v1/chat/completions and /v1/models (OpenAI-compatible, no streaming)."""
        from fleming.errors import FlemingError
        from fleming.llm.server import serve as run_server

        if not (model / "config.json").is_file():
            raise FlemingError(f"{model}: not a Hugging Face checkpoint directory (expected config.json)")
        run_server(str(model), host=host, port=port, served_model_name=served_model_name,
                   max_batch=max_batch, batch_wait_ms=batch_wait_ms, device=device,
                   num_threads=num_threads, access_log=access_log)
