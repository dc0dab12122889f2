"""A local ``fleming serve`` for the duration of a stage (the demo's validator, a tiny teacher)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from fleming.errors import FlemingError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_model(model_dir: Path, name: str, log: Callable[[str], None] = print,
                timeout: float = 180, max_batch: int = 256) -> Iterator[str]:
    """Run ``fleming serve`` on a free local port for the duration of the block; yields the base URL."""
    port = free_port()
    cmd = [sys.executable, "-m", "fleming.cli", "serve", "--model", str(model_dir), "--port", str(port),
           "--served-model-name", name, "--max-batch", str(max_batch)]
    logf = open(model_dir / "serve.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise FlemingError(f"fleming serve exited with code {proc.returncode}; "
                                   f"see {model_dir}/serve.log")
            try:
                with urllib.request.urlopen(url + "/models", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise FlemingError(f"fleming serve did not answer within {timeout:.0f} s") from None
                time.sleep(0.25)
        log(f"[run] serving {model_dir} at {url} (pid {proc.pid})")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        logf.close()
