"""The ``vllm`` backend: vLLM's offline engine (``vllm.LLM(...).chat``), an optional GPU extra.

Written against vLLM 0.31 (``LLM.chat(messages, sampling_params, use_tqdm=...)`` with a list of
conversations and one ``SamplingParams`` per conversation; ``RequestOutput.outputs[i].text`` /
``.token_ids`` / ``.finish_reason``, ``RequestOutput.prompt_token_ids``). Not tested here: it needs a
GPU and the ``gpu`` extra. Each conversation's samples use vLLM's per-request ``seed``.
"""

from __future__ import annotations

from collections.abc import Sequence

from fleming.errors import FlemingError
from fleming.llm import base
from fleming.llm.base import Completion

INSTALL_HINT = ("the vllm backend needs the optional GPU extra: pip install -e '.[gpu]' "
                "'transformers==5.17.0' (vLLM 0.31 needs transformers<5.18, NOTES.md §3)")


class VLLMBackend(base.BaseBackend):
    """Options are passed to ``vllm.LLM`` (e.g. ``tensor_parallel_size``, ``gpu_memory_utilization``,
    ``max_model_len``, ``dtype``); remote code stays off."""

    kind = "vllm"

    def __init__(self, model: str, **llm_options):
        try:
            import vllm
        except ImportError as e:
            raise FlemingError(f"{INSTALL_HINT} ({e})") from e
        if llm_options.pop("trust_remote_code", False):
            raise FlemingError("trust_remote_code is not allowed: fleming loads safetensors checkpoints only")
        self.model_name = model
        self._vllm = vllm
        self.llm = vllm.LLM(model=model, trust_remote_code=False, **llm_options)

    def generate_indexed(self, conversations: list[base.Messages], params: base.SamplingParams,
                         indices: Sequence[Sequence[int]], progress: bool = True,
                         on_result: base.ResultCallback | None = None) -> list[list[Completion]]:
        base.check_conversations(conversations)
        greedy = params.temperature == 0
        todo = [j for j, idx in enumerate(indices) if idx]
        sps = [self._vllm.SamplingParams(
            n=1 if greedy else len(indices[j]), temperature=params.temperature,
            top_p=1.0 if greedy else params.top_p, max_tokens=params.max_tokens, seed=params.seed,
            stop=list(params.stop) or None) for j in todo]
        outputs = self.llm.chat([conversations[j] for j in todo], sampling_params=sps, use_tqdm=progress)
        out: list[list[Completion]] = [[] for _ in indices]
        for j, res in zip(todo, outputs, strict=True):
            n_prompt = len(res.prompt_token_ids or [])
            comps = [Completion(o.text, o.finish_reason, n_prompt, len(o.token_ids)) for o in res.outputs]
            if greedy:
                comps = [Completion(**vars(comps[0])) for _ in indices[j]]
            out[j] = comps
            if on_result is not None:
                for s, c in zip(indices[j], comps, strict=True):
                    on_result(j, s, c)
        return out
