"""``fleming run``: the whole recipe as one list of stages (see ``fleming.pipeline.stages``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def run(cfg, out: str | Path | None = None, log: Callable[[str], None] = print, **select: Any
        ) -> dict[str, dict[str, Any]]:
    """Run (or resume) every stage of ``cfg`` into ``out`` (default ``cfg.out``); ``select`` takes
    ``only``, ``start``, ``until`` and ``force`` (see ``fleming.io.run_stages``)."""
    from fleming.io import run_stages
    from fleming.pipeline.stages import stages

    root = Path(out or cfg.out)
    root.mkdir(parents=True, exist_ok=True)
    return run_stages(stages(cfg, root), root, log, **select)
