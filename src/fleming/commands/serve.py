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
        max_tokens_cap: int = typer.Option(4096, "--max-tokens-cap", min=1,
                                           help="Most new tokens a request may ask for (more: 400)."),
        max_prompt_tokens: int = typer.Option(32768, "--max-prompt-tokens", min=1,
                                              help="Most prompt tokens a request may send (more: 400)."),
        request_timeout: float = typer.Option(300.0, "--request-timeout", min=0.001,
                                              help="Seconds until a request is answered 504."),
        api_key_env: str | None = typer.Option(None, "--api-key-env",
                                               help="Name of an environment variable holding an API key: "
                                                    "every request must send it as a bearer token."),
        shutdown_grace: float = typer.Option(2.0, "--shutdown-grace", min=0,
                                             help="Seconds requests in flight get after SIGTERM."),
    ) -> None:
        """Serve MODEL on /v1/chat/completions and /v1/models (OpenAI-compatible, no streaming).

        Binds 127.0.0.1 unless --host says otherwise; pair --host 0.0.0.0 with --api-key-env."""
        import os

        from fleming.errors import ConfigError, FlemingError
        from fleming.llm.server import ServeLimits
        from fleming.llm.server import serve as run_server

        if not (model / "config.json").is_file():
            raise FlemingError(f"{model}: not a Hugging Face checkpoint directory (expected config.json)")
        api_key = None
        if api_key_env is not None:
            api_key = os.environ.get(api_key_env, "")
            if not api_key.strip():
                raise ConfigError(f"--api-key-env {api_key_env}: the variable is unset or empty")
        limits = ServeLimits(max_tokens=max_tokens_cap, max_prompt_tokens=max_prompt_tokens,
                             request_timeout=request_timeout, api_key=api_key, shutdown_grace=shutdown_grace)
        run_server(str(model), host=host, port=port, served_model_name=served_model_name,
                   max_batch=max_batch, batch_wait_ms=batch_wait_ms, device=device,
                   num_threads=num_threads, access_log=access_log, limits=limits)
