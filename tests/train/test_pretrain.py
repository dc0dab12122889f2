"""Pre-training on a world's facts: the tokenizer (entities and aliases), the saved model, learning."""

from __future__ import annotations

import pytest
from world_helpers import toy_kg

from fleming.train.facts import World
from fleming.train.pretrain import PretrainConfig, aliases, build_tokenizer, pretrain
from fleming.train.world import WorldConfig, slice_kg


@pytest.fixture(scope="module")
def world_kg(tmp_path_factory):
    out = tmp_path_factory.mktemp("pt") / "kg"
    slice_kg(toy_kg(tmp_path_factory.mktemp("pt-src") / "kg"), out,
             WorldConfig(n_diseases=4, min_phenotypes=3, max_phenotypes=3))
    return out


def test_aliases_are_the_running_text_forms():
    w = World(diseases=["Alpha syndrome"], phenotypes=["Seizure", "EEG abnormality", "Short stature"],
              genes=["FBN1"])
    assert aliases(w) == {"seizure": "Seizure", "short stature": "Short stature"}


@pytest.mark.slow
def test_tokenizer_has_one_token_per_entity_and_survives_save_load(world_kg, tmp_path):
    from transformers import AutoTokenizer

    w = World.load(world_kg)
    tok = build_tokenizer(w, 400)
    tok.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    text = "A patient presents with seizure and rash.\nAlpha syndrome has Short stature."
    assert loaded(text)["input_ids"] == tok(text)["input_ids"]
    pieces = loaded.tokenize(text)
    for name in ("seizure", "rash", "Alpha syndrome", "Short stature"):
        assert name in pieces
    assert loaded.decode(loaded(text)["input_ids"]) == text


@pytest.mark.slow
def test_pretrain_learns_the_facts_and_saves_a_loadable_model(world_kg, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cfg = PretrainConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, bpe_vocab=400,
                         max_steps=300, batch_size=8, learning_rate=5e-3, warmup_steps=10)
    stats = pretrain(cfg, world_kg, tmp_path / "m", log=lambda s: None)
    names = {p.name for p in (tmp_path / "m").iterdir()}
    assert "model.safetensors" in names and not any(n.endswith((".bin", ".pt", ".pkl")) for n in names)
    # every true pair, and every false one, of this small closed world is told apart
    assert stats["fact_probe"]["true"] == 1.0 and stats["fact_probe"]["false"] >= 0.9
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "m", use_safetensors=True)
    tok = AutoTokenizer.from_pretrained(tmp_path / "m")
    emb = model.get_input_embeddings().weight
    a, e = tok.convert_tokens_to_ids("seizure"), tok.convert_tokens_to_ids("Seizure")
    assert a != e and torch.equal(emb[a], emb[e])  # the alias reads as its entity


@pytest.mark.slow
def test_tied_embeddings_survive_save_load_and_aliases_tie_to_the_entity_ids(world_kg, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cfg = PretrainConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, bpe_vocab=400,
                         max_steps=20, batch_size=4, warmup_steps=2, tie_embeddings=True)
    pretrain(cfg, world_kg, tmp_path / "m", log=lambda s: None)
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "m", use_safetensors=True)
    tok = AutoTokenizer.from_pretrained(tmp_path / "m")
    emb, head = model.get_input_embeddings().weight, model.get_output_embeddings().weight
    assert model.config.tie_word_embeddings and head.data_ptr() == emb.data_ptr()
    a, e = tok.convert_tokens_to_ids("seizure"), tok.convert_tokens_to_ids("Seizure")
    assert torch.equal(head[a], head[e]) and e < a   # equal logits: greedy argmax takes the entity
