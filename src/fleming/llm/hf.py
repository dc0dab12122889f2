"""The ``hf`` backend: a local transformers causal LM, batched generation with left padding.

``HFGenerator.complete`` is the one generation routine: the ``hf`` backend and ``fleming serve`` both call
it, so greedy outputs agree between a local run and a served one. Sampling uses only the request's
parameters (temperature, top_p, max_tokens, stop), as an OpenAI-compatible server does: the checkpoint's
``generation_config`` sampling defaults (top_k, repetition_penalty...) are overridden.

Seeds: HF's sampler draws from one global generator, so with ``seed`` set a batch is reproducible as a
whole (same inputs, same batch size), not sample by sample as with vLLM's per-request seeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fleming.errors import ConfigError, FlemingError
from fleming.llm.base import (
    BaseBackend,
    Completion,
    Messages,
    ResultCallback,
    SamplingParams,
    check_conversations,
    progress_bar,
)


def _set_threads(device: str, num_threads: int | None) -> None:
    import torch

    if num_threads is not None or device == "cpu":
        torch.set_num_threads(num_threads or 1)  # 1 thread is fastest for tiny models on CPU (NOTES.md §5)


class HFGenerator:
    """A loaded model + tokenizer (safetensors only, no remote code) that completes rendered prompts."""

    def __init__(self, model: str | Path, *, device: str | None = None, dtype: str | None = None,
                 num_threads: int | None = None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = Path(model)
        if path.exists() and not (path / "config.json").is_file():
            raise FlemingError(f"{path}: not a Hugging Face checkpoint (expected config.json)")
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        _set_threads(self.device, num_threads)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(model), trust_remote_code=False)
            self.model = AutoModelForCausalLM.from_pretrained(
                str(model), use_safetensors=True, trust_remote_code=False,
                dtype=getattr(torch, dtype) if dtype else "auto")
        except (OSError, ValueError) as e:
            raise FlemingError(f"{model}: cannot load the model or tokenizer: {e}") from e
        if not self.tokenizer.chat_template:
            raise FlemingError(f"{model}: the tokenizer has no chat template (expected chat_template.jinja "
                               "or tokenizer_config.json 'chat_template')")
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model.to(self.device).eval()
        eos = self.model.generation_config.eos_token_id
        eos = list(eos) if isinstance(eos, list | tuple) else [eos] if eos is not None else []
        self.eos_ids = sorted({*eos, self.tokenizer.eos_token_id} - {None})

    def render(self, conversations: list[Messages]) -> list[str]:
        return [self.tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=False)
                for c in conversations]

    @property
    def max_token_chars(self) -> int:
        """An upper bound on the characters one token covers (the longest vocabulary entry): a text of
        more than ``k * max_token_chars`` characters has more than ``k`` tokens, without tokenizing it."""
        if not hasattr(self, "_max_token_chars"):
            self._max_token_chars = max(len(t) for t in self.tokenizer.get_vocab())
        return self._max_token_chars

    def prompt_lengths(self, prompts: list[str]) -> list[int]:
        ids = self.tokenizer(prompts, add_special_tokens=False)["input_ids"]
        return [len(x) for x in ids]

    def complete(self, prompts: list[str], params: SamplingParams, *, max_time: float | None = None,
                 stop_event=None) -> list[Completion]:
        """One ``model.generate`` call over ``prompts`` (a batch, left-padded); one completion each.
        ``max_time`` (seconds) and ``stop_event`` (a ``threading.Event``) end generation early, at the
        next token (``fleming serve``'s request timeout and shutdown); the texts so far are returned."""
        import torch

        tok = self.tokenizer
        enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        greedy = params.temperature == 0
        kwargs = dict(max_new_tokens=params.max_tokens, do_sample=not greedy, repetition_penalty=1.0,
                      no_repeat_ngram_size=0, num_beams=1, eos_token_id=self.eos_ids,
                      pad_token_id=tok.pad_token_id)
        if not greedy:  # top_k=0: no top-k cut, as in the OpenAI API
            kwargs.update(temperature=params.temperature, top_p=params.top_p, top_k=0)
        if params.stop:
            kwargs.update(stop_strings=list(params.stop), tokenizer=tok)
        if max_time is not None:
            kwargs["max_time"] = max_time
        if stop_event is not None:
            kwargs["stopping_criteria"] = _stop_on(stop_event)
        with torch.inference_mode():
            out = self.model.generate(**enc, **kwargs)
        new = out[:, enc["input_ids"].shape[1]:].tolist()
        n_prompt = enc["attention_mask"].sum(dim=1).tolist()
        return [self._finish(row, int(n), params) for row, n in zip(new, n_prompt, strict=True)]

    def _finish(self, ids: list[int], n_prompt: int, params: SamplingParams) -> Completion:
        eos = set(self.eos_ids)
        end = next((i for i, t in enumerate(ids) if t in eos), None)
        kept = ids if end is None else ids[:end]
        text = self.tokenizer.decode(kept, skip_special_tokens=True)
        reason = "length" if end is None else "stop"
        cut = min((i for i in (text.find(s) for s in params.stop) if i >= 0), default=-1)
        if cut >= 0:
            text, reason = text[:cut], "stop"
        n_gen = len(kept) + (end is not None)
        if end is None and cut >= 0:  # generation halted on the stop string; the rest is padding
            n_gen = len([t for t in kept if t != self.tokenizer.pad_token_id])
        return Completion(text=text, finish_reason=reason, prompt_tokens=n_prompt, completion_tokens=n_gen)


def _stop_on(event):
    """A stopping criterion that ends every sequence once ``event`` is set."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class _Stop(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            n = input_ids.shape[0]
            return torch.full((n,), event.is_set(), dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([_Stop()])


class HFBackend(BaseBackend):
    """Local transformers model. Options: ``batch_size`` (16), ``num_threads`` (1 on CPU), ``device``
    ("cuda" when available, else "cpu"), ``dtype`` (e.g. "bfloat16"; default: the checkpoint's).

    Prompts are sorted by length before batching, to keep padding small. At temperature 0 the ``n``
    samples of a conversation are identical, so the model runs once per conversation.
    """

    kind = "hf"

    def __init__(self, model: str, *, batch_size: int = 16, num_threads: int | None = None,
                 device: str | None = None, dtype: str | None = None):
        if batch_size < 1:
            raise ConfigError(f"batch_size={batch_size}: expected >= 1")
        self.model_name, self.batch_size = str(model), batch_size
        self.gen = HFGenerator(model, device=device, dtype=dtype, num_threads=num_threads)

    @property
    def cache_id(self) -> str:
        """The model path plus the size and mtime of its weights, so a retrained checkpoint misses."""
        path = Path(self.model_name)
        weights = sorted(path.glob("*.safetensors")) if path.is_dir() else []
        stamp = ",".join(f"{w.name}:{w.stat().st_size}:{w.stat().st_mtime_ns}" for w in weights)
        return f"hf:{path.resolve() if path.exists() else self.model_name}:{stamp}"

    def generate_indexed(self, conversations: list[Messages], params: SamplingParams,
                         indices: Sequence[Sequence[int]], progress: bool = True,
                         on_result: ResultCallback | None = None) -> list[list[Completion]]:
        import torch

        check_conversations(conversations)
        prompts = self.gen.render(conversations)
        if params.seed is not None:
            torch.manual_seed(params.seed)
        greedy = params.temperature == 0
        # one row per (conversation, sample); greedy needs one row per conversation
        rows = [(j, s) for j, idx in enumerate(indices) for s in (idx[:1] if greedy else idx)]
        lengths = self.gen.prompt_lengths(prompts)
        rows.sort(key=lambda r: -lengths[r[0]])
        out: list[list[Completion | None]] = [[None] * len(idx) for idx in indices]
        with progress_bar(sum(len(i) for i in indices), f"hf {Path(self.model_name).name}", progress) as tick:
            for b in range(0, len(rows), self.batch_size):
                batch = rows[b:b + self.batch_size]
                for (j, s), c in zip(batch, self._complete([prompts[j] for j, _ in batch], params),
                                     strict=True):
                    targets = list(indices[j]) if greedy else [s]
                    for t in targets:
                        done = Completion(**vars(c))
                        out[j][list(indices[j]).index(t)] = done
                        if on_result is not None:
                            on_result(j, t, done)
                    tick(len(targets))
        return out  # type: ignore[return-value]

    def _complete(self, prompts: list[str], params: SamplingParams) -> list[Completion]:
        """A batch's completions; a batch the model cannot run (out of memory...) fails item by item."""
        try:
            return self.gen.complete(prompts, params)
        except (RuntimeError, ValueError) as e:
            return [Completion("", error=f"generation failed: {type(e).__name__}: {e}")] * len(prompts)
