"""The one `fleming` command. Each module in ``fleming.commands`` adds its sub-commands via ``register``.

Command modules import heavy libraries (torch, transformers) inside the command functions, so that
``fleming --help`` stays fast.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys

import typer

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


def set_offline_env() -> None:
    for k, v in OFFLINE_ENV.items():
        os.environ.setdefault(k, v)


def build_app() -> typer.Typer:
    app = typer.Typer(help="fleming: the Fleming-R1 recipe for verifiable medical reasoning.",
                      no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
    @app.callback()
    def _root() -> None:
        """fleming: the Fleming-R1 recipe for verifiable medical reasoning."""

    import fleming.commands as commands

    for mod in sorted(m.name for m in pkgutil.iter_modules(commands.__path__)):
        importlib.import_module(f"fleming.commands.{mod}").register(app)
    return app


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors print one line to stderr and exit 2, with no traceback."""
    from fleming.errors import FlemingError

    set_offline_env()
    app = build_app()
    try:
        app(args=argv, standalone_mode=True)  # click prints usage errors itself and exits 2
    except FlemingError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
