"""Shared fixtures: the offline variables, and the path to ../shared (tests that need it skip without)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

for _k, _v in {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
               "HF_HUB_DISABLE_TELEMETRY": "1", "TOKENIZERS_PARALLELISM": "false"}.items():
    os.environ.setdefault(_k, _v)

SHARED = Path(os.environ.get("FLEMING_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))


@pytest.fixture(scope="session")
def shared() -> Path:
    if not (SHARED / "benchmarks").is_dir():
        pytest.skip(f"../shared is absent (looked in {SHARED}); these tests read the real files there")
    return SHARED


@pytest.fixture(scope="session")
def benchmarks_dir(shared: Path) -> Path:
    return shared / "benchmarks"
