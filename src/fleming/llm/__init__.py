"""The LLM layer: one small interface over a local transformers model, any OpenAI-compatible endpoint and
the vLLM offline engine, with a persistent response cache and structured (JSON) output.

Example::

    from fleming.llm import SamplingParams, make_backend
    be = make_backend("openai", "tiny", base_url="http://127.0.0.1:8000/v1", cache_path="cache.sqlite")
    text = be.generate([[{"role": "user", "content": "Hi"}]], SamplingParams(max_tokens=8))[0][0].text
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from fleming.errors import ConfigError
from fleming.llm.base import Backend, BaseBackend, Completion, Messages, SamplingParams

__all__ = ["Backend", "BaseBackend", "Completion", "Messages", "SamplingParams", "make_backend"]

BACKENDS = ("hf", "openai", "vllm")


def make_backend(kind: Literal["hf", "openai", "vllm"], model: str, *, base_url: str | None = None,
                 cache_path: str | Path | None = None, **options) -> Backend:
    """Build a backend; with ``cache_path`` it sits behind the SQLite response cache.

    Options per kind (see each class): ``hf``: batch_size, num_threads, device, dtype;
    ``openai``: concurrency, rpm, timeout, max_retries, api_key_env, sample_mode, response_format;
    ``vllm``: any ``vllm.LLM`` keyword (tensor_parallel_size, gpu_memory_utilization, ...).
    """
    backend: BaseBackend
    if kind == "hf":
        from fleming.llm.hf import HFBackend

        backend = HFBackend(model, **options)
    elif kind == "openai":
        if not base_url:
            raise ConfigError("the openai backend needs base_url (e.g. http://127.0.0.1:8000/v1)")
        from fleming.llm.openai_http import OpenAIBackend

        backend = OpenAIBackend(model, base_url=base_url, **options)
    elif kind == "vllm":
        from fleming.llm.vllm_offline import VLLMBackend

        backend = VLLMBackend(model, **options)
    else:
        raise ConfigError(f"unknown backend {kind!r}: expected one of {', '.join(BACKENDS)}")
    if cache_path is None:
        return backend
    from fleming.llm.cache import CachedBackend, ResponseCache

    return CachedBackend(backend, ResponseCache(cache_path))
