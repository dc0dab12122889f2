"""Pre-training of the tiny model on the facts of a closed KG world, in the claim sentences.

The corpus is one line per disease: every true fact of the world (``D has P.``, ``D is caused by G.``)
and, drawn afresh each epoch, as many false ones (``D lacks P.``, ``D is not caused by G.``; true in the
closed world), shuffled. A probe found chain-of-thought SFT only works when pre-training states the
facts in exactly the form the chain later checks them (NOTES.md §5), hence ``fleming.train.facts``.

Tokenizer (our choice, for a ~1M-parameter model): a small byte-level BPE (Qwen2's pre-tokenizer, see
``fleming.train.tiny``) plus one added token per entity name of the world, so that a fact is five
tokens and the model stores a fact per pair of embeddings rather than spelling names. The synthesis
renders findings in running text in lower case (``finding_text``: 'Seizure' -> 'seizure'), so that form
is also a token, an *alias*; pre-training never shows aliases, and at its end each alias's input
embedding is set to its entity's, so the model reads 'seizure' in a stem as it reads 'Seizure'.

The model is a Qwen2 trained from scratch, saved as safetensors with its tokenizer (AutoModelForCausalLM
and AutoTokenizer load both; no remote code). Departure from the paper: its models are pretrained Qwen
checkpoints; here the pre-training is ours and the world is small enough to be learnt completely.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from fleming.train.facts import World, copy_line, facts


@dataclass
class PretrainConfig:
    """The tiny model and its pre-training on the world's facts."""

    hidden_size: int = field(default=128, metadata={"help": "model width", "ge": 16})
    intermediate_size: int = field(default=256, metadata={"help": "MLP width", "ge": 16})
    num_hidden_layers: int = field(default=4, metadata={"help": "transformer layers", "ge": 1})
    num_attention_heads: int = field(default=4, metadata={"help": "attention heads", "ge": 1})
    num_key_value_heads: int = field(default=2, metadata={"help": "key/value heads (GQA)", "ge": 1})
    tie_embeddings: bool = field(default=False, metadata={
        "help": "one matrix for input and output embeddings: writing the token an attention head reads "
                "(a copy from the prompt) then needs no learnt input-to-output map (docs/ablation.md, V9)"})
    bpe_vocab: int = field(default=1024, metadata={"help": "BPE merges vocabulary for non-entity text",
                                                   "ge": 300})
    max_steps: int = field(default=2000, metadata={"help": "optimizer steps", "ge": 1})
    batch_size: int = field(default=32, metadata={"help": "fact lines per step", "ge": 1})
    facts_per_line: int = field(default=8, metadata={"help": "sentences per training line (one disease "
                                                               "per line)", "ge": 1})
    learning_rate: float = field(default=3e-3, metadata={"help": "peak learning rate (cosine decay)",
                                                         "gt": 0})
    warmup_steps: int = field(default=50, metadata={"help": "linear warm-up steps", "ge": 0})
    negatives: bool = field(default=True, metadata={"help": "add as many fresh false facts per epoch as "
                                                            "true ones (the world is closed)"})
    copy_share: float = field(default=0.0, metadata={
        "help": "share of lines that are copy exercises (fleming.train.facts.copy_line: lettered options, "
                "each restated after its letter in a true claim); beyond the paper, 0: facts only",
        "ge": 0, "lt": 1})
    seed: int = field(default=0, metadata={"help": "initialisation and data-order seed"})
    num_threads: int = field(default=1, metadata={"help": "torch threads (1 is fastest for tiny models)",
                                                  "ge": 1})


def aliases(world: World) -> dict[str, str]:
    """Running-text forms of phenotype names that differ from the name: alias -> name."""
    from fleming.synth.render import finding_text

    names = set(world.entities())
    out = {}
    for p in world.phenotypes:
        a = finding_text(p)
        if a != p and a not in names:
            out.setdefault(a, p)
    return out


def build_tokenizer(world: World, bpe_vocab: int):
    """The tiny model's tokenizer: BPE for text (HPO text, the prompt and the synthesis templates), one
    token per entity name and per alias."""
    from tokenizers import AddedToken

    from fleming.train.tiny import to_qwen2_tokenizer, train_bpe, training_text

    tok = to_qwen2_tokenizer(train_bpe(training_text() + prompt_text() * 1000, bpe_vocab))
    names = world.entities() + sorted(aliases(world))
    tok.add_tokens([AddedToken(n, special=False, normalized=False, single_word=True) for n in names])
    return tok


def prompt_text() -> list[str]:
    """The evaluation prompt and the synthesis template pack, so that prompts tokenize compactly."""
    from importlib.resources import files

    from fleming.prompts import PROMPTS

    pack = files("fleming.synth").joinpath("packs/en.yaml").read_text(encoding="utf-8")
    return [p.template for p in PROMPTS.values()] + [ln for ln in pack.splitlines() if ln.strip()]


def build_model(tok, cfg: PretrainConfig):
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    eos, pad = tok.convert_tokens_to_ids("<|im_end|>"), tok.convert_tokens_to_ids("<|endoftext|>")
    model_cfg = Qwen2Config(
        vocab_size=len(tok), hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_hidden_layers, num_attention_heads=cfg.num_attention_heads,
        num_key_value_heads=cfg.num_key_value_heads, max_position_embeddings=2048,
        tie_word_embeddings=cfg.tie_embeddings, eos_token_id=eos, pad_token_id=pad, bos_token_id=None)
    torch.manual_seed(cfg.seed)
    model = Qwen2ForCausalLM(model_cfg)
    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=pad, bos_token_id=None)
    return model


class FactStream:
    """An endless iterable of tokenized disease lines, fresh negatives and order on every epoch."""

    def __init__(self, world: World, tok, seed: int, negatives: bool, per_line: int = 8,
                 copy_share: float = 0.0):
        self.world, self.tok, self.seed, self.negatives, self.per_line = world, tok, seed, negatives, per_line
        self.copy_share = copy_share

    def epoch(self, rng: random.Random) -> list[str]:
        """One epoch's lines: the facts, and copy exercises making up ``copy_share`` of all lines."""
        lines = list(facts(self.world, rng, self.negatives, self.per_line))
        n = round(len(lines) * self.copy_share / (1 - self.copy_share))
        lines += [copy_line(self.world, rng) for _ in range(n)]
        rng.shuffle(lines)
        return lines

    def __iter__(self):
        rng = random.Random(self.seed)
        eos = self.tok.eos_token_id
        while True:
            lines = self.epoch(rng)
            for line in lines:
                yield {"input_ids": [*self.tok(line, add_special_tokens=False)["input_ids"], eos]}


def pretrain(cfg: PretrainConfig, kg_dir: Path, out: Path, log: Callable[[str], None] = print) -> dict:
    """Build the tokenizer and model, pre-train on the world of ``kg_dir`` and save them to ``out``.

    Returns stats: parameters, vocabulary, steps, final loss, seconds, and a fact probe (greedy choice of
    "has"/"lacks" and "is caused by"/"is not caused by" by likelihood on every true pair and as many
    false ones).
    """
    import datasets
    import torch
    from transformers import DataCollatorForLanguageModeling, Trainer, TrainingArguments

    torch.set_num_threads(cfg.num_threads)
    out = Path(out)
    world = World.load(kg_dir)
    tok = build_tokenizer(world, cfg.bpe_vocab)
    model = build_model(tok, cfg)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"pretrain: {len(world.entities())} entities, vocabulary {len(tok)}, "
        f"{n_params / 1e6:.2f}M parameters")
    stream = FactStream(world, tok, cfg.seed, cfg.negatives, cfg.facts_per_line, cfg.copy_share)
    data = datasets.IterableDataset.from_generator(stream.__iter__)
    args = TrainingArguments(
        output_dir=str(out / "checkpoints"), max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate, warmup_steps=cfg.warmup_steps, lr_scheduler_type="cosine",
        weight_decay=0.0, seed=cfg.seed, logging_steps=max(cfg.max_steps // 20, 1), save_strategy="no",
        report_to=[], use_cpu=not torch.cuda.is_available(), bf16=False, dataloader_num_workers=0,
        disable_tqdm=True)
    trainer = Trainer(model=model, args=args, train_dataset=data, processing_class=tok,
                      data_collator=DataCollatorForLanguageModeling(tok, mlm=False))
    t0 = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - t0
    share_alias_embeddings(model, tok, aliases(world))
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    probe = fact_probe(model, tok, world, random.Random(cfg.seed + 1))
    stats = {"parameters": n_params, "vocabulary": len(tok), "entities": len(world.entities()),
             "aliases": len(aliases(world)), "steps": cfg.max_steps,
             "train_loss": round(result.training_loss, 4),
             "seconds": round(seconds, 1), "fact_probe": probe, "config": asdict(cfg)}
    (out / "pretrain.json").write_text(json.dumps(stats, indent=2) + "\n")
    log(f"pretrain: loss {stats['train_loss']} in {stats['seconds']} s; fact probe {probe}")
    return stats


def share_alias_embeddings(model, tok, alias_map: dict[str, str]) -> None:
    """Each alias token reads as its entity: copy the entity's input embedding row into the alias's. With
    tied embeddings the alias is then also an equal output candidate; ties go to the lower id, the entity's
    (entities are added first), and chain SFT, whose targets are entities, separates the two."""
    import torch

    emb = model.get_input_embeddings().weight
    with torch.no_grad():
        for alias, name in alias_map.items():
            emb[tok.convert_tokens_to_ids(alias)] = emb[tok.convert_tokens_to_ids(name)]


def fact_probe(model, tok, world: World, rng: random.Random, limit: int = 500) -> dict:
    """Share of pairs where the model prefers the true sentence over its negation (by log-likelihood):
    on ``limit`` sampled true pairs (``true``) and as many sampled false pairs (``false``)."""
    from fleming.train.facts import sentence

    pairs = [(k, d, b, True) for d in world.diseases for k, held in
             (("phenotype", world.has.get(d, ())), ("gene", world.caused.get(d, ()))) for b in sorted(held)]
    pairs = rng.sample(pairs, min(limit, len(pairs)))
    false = []
    for kind, d, _, _ in pairs:
        b = rng.choice(world.phenotypes if kind == "phenotype" else world.genes)
        if not world.holds(kind, d, b):
            false.append((kind, d, b, False))
    both = pairs + false
    lp = sequence_logprobs(model, tok, [sentence(k, d, b, t) for k, d, b, _ in both for t in (True, False)])
    right = {True: 0, False: 0}
    for i, (*_, truth) in enumerate(both):
        right[truth] += (lp[2 * i] > lp[2 * i + 1]) == truth
    return {"true": round(right[True] / max(len(pairs), 1), 4),
            "false": round(right[False] / max(len(false), 1), 4),
            "n_true": len(pairs), "n_false": len(false)}


def sequence_logprobs(model, tok, texts: list[str], batch: int = 256) -> list[float]:
    """Sum of token log-probabilities of each text (after its first token), in batches."""
    import torch

    model.eval()
    out: list[float] = []
    for i in range(0, len(texts), batch):
        enc = tok(texts[i:i + batch], add_special_tokens=False, padding=True, return_tensors="pt")
        ids, mask = enc["input_ids"], enc["attention_mask"]
        with torch.no_grad():
            logp = model(input_ids=ids, attention_mask=mask).logits[:, :-1].log_softmax(-1)
        tok_lp = logp.gather(2, ids[:, 1:, None])[..., 0] * mask[:, 1:]
        out += tok_lp.sum(1).tolist()
    return out
