"""The tiny model: saved in HF format with safetensors, loads back through the Auto classes with the same
token ids (the Qwen2Tokenizer pitfall of NOTES.md §3), a ChatML template, and it generates."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

TEXTS = [
    "A 45-year-old man presents with Hypoplasia of the corpus callosum and seizures.",
    "Options:\nA. Marfan syndrome\nB. Ehlers-Danlos syndrome\nC. Homocystinuria\nD. None",
    "<think>Joint hypermobility, lens dislocation: think FBN1.</think>\n<answer>A</answer>",
    "  leading spaces, trailing\ttabs\t and\r\nCRLF lines\n\n\n",
    "Dose: 12.5 mg/kg q8h; HbA1c 7.2%; Na+ 131 mmol/L; it's, they're, we'll",
    "Unicode: Ünïcödé café naïve — “quotes” and emoji 🩺; 中文病例：患者，男，45岁。",
    "<|im_start|>user\nWhat is the diagnosis?<|im_end|>\n<|im_start|>assistant\n",
    "",
]


@pytest.fixture(scope="module")
def loaded(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir), AutoModelForCausalLM.from_pretrained(tiny_model_dir)


def test_files_are_hf_format_with_safetensors_only(tiny_model_dir):
    names = {p.name for p in tiny_model_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= names
    assert not [n for n in names if n.endswith((".bin", ".pt", ".pth", ".py"))]
    cfg = json.loads((tiny_model_dir / "config.json").read_text())
    assert cfg["model_type"] == "qwen2" and cfg["num_hidden_layers"] == 2
    assert 64 <= cfg["hidden_size"] <= 128


def test_token_ids_survive_save_and_load(loaded):
    """The BPE exactly as trained and the tokenizer AutoTokenizer rebuilds (Qwen2Tokenizer, with Qwen2's
    own pre-tokenizer) give the same ids: the NOTES.md §3 pitfall would show here."""
    from fleming.train.tiny import train_bpe, training_text

    tok, _ = loaded
    assert type(tok).__name__ == "Qwen2Tokenizer"
    trained = train_bpe(training_text(), 4096)  # training is deterministic: this is the saved tokenizer
    for text in TEXTS:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert ids == trained.encode(text, add_special_tokens=False).ids, text
        assert tok.decode(ids) == text


def test_the_pitfall_is_real(tmp_path, tiny_model_dir):
    """Why the tokenizer trains with Qwen2's pre-tokenizer: one trained with GPT-2's ByteLevel
    pre-tokenizer and saved as a Qwen2 tokenizer comes back with different ids."""
    import shutil

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    from fleming.train.tiny import training_text

    other = Tokenizer(models.BPE())
    other.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    other.decoder = decoders.ByteLevel()
    other.train_from_iterator(training_text()[:5000], trainers.BpeTrainer(
        vocab_size=2048, special_tokens=["<|endoftext|>"], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    PreTrainedTokenizerFast(tokenizer_object=other, eos_token="<|endoftext|>").save_pretrained(tmp_path)
    shutil.copy(tiny_model_dir / "config.json", tmp_path / "config.json")
    cfg = json.loads((tmp_path / "tokenizer_config.json").read_text())
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({**cfg, "tokenizer_class": "Qwen2Tokenizer"}))
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert any(reloaded(t, add_special_tokens=False)["input_ids"] != other.encode(t).ids for t in TEXTS[:4])


def test_special_and_format_tokens_are_single_tokens(loaded):
    tok, model = loaded
    for t in ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>", "<answer>", "</answer>"]:
        ids = tok(t, add_special_tokens=False)["input_ids"]
        assert len(ids) == 1 and tok.convert_ids_to_tokens(ids[0]) == t
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    assert model.generation_config.eos_token_id == tok.eos_token_id
    # format tokens are kept when decoding without special tokens; ChatML markers are dropped
    ids = tok("<|im_start|><think>x</think><|im_end|>", add_special_tokens=False)["input_ids"]
    assert tok.decode(ids, skip_special_tokens=True) == "<think>x</think>"


def test_chat_template_is_chatml(loaded):
    tok, _ = loaded
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}]
    text = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    assert text == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi?<|im_end|>\n" \
                   "<|im_start|>assistant\n"


def test_model_size_and_generation(loaded):
    import torch

    tok, model = loaded
    n = sum(p.numel() for p in model.parameters())
    assert 0.5e6 < n < 2e6
    ids = tok("The patient presents with", return_tensors="pt")
    with torch.inference_mode():
        out = model.generate(**ids, max_new_tokens=8, do_sample=False)
    assert out.shape[1] == ids["input_ids"].shape[1] + 8 or tok.eos_token_id in out[0].tolist()


def test_cli_builds_deterministically(tmp_path, tiny_model_dir):
    from fleming.cli import build_app

    runner = CliRunner()
    res = runner.invoke(build_app(), ["tiny-model", "--out", str(tmp_path / "a"), "--seed", "0"])
    assert res.exit_code == 0, res.output
    assert "parameters" in res.output
    assert (tmp_path / "a" / "model.safetensors").read_bytes() == \
        (tiny_model_dir / "model.safetensors").read_bytes()
    res = runner.invoke(build_app(), ["tiny-model", "--out", str(tmp_path / "b"), "--seed", "1"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "b" / "model.safetensors").read_bytes() != \
        (tiny_model_dir / "model.safetensors").read_bytes()
    tokenizer_file = "tokenizer.json"
    assert (tmp_path / "b" / tokenizer_file).read_bytes() == (tiny_model_dir / tokenizer_file).read_bytes()
