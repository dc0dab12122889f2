"""The scaled-down Table 4 on a closed KG world: SFT (answer-only or CoT), GRPO, and the evaluation.

Research code for issue 16, meant to be called from the ablation config once ``fleming run`` exists:
- ``sft(model, records, world, mode, out, ...)``: TRL SFTTrainer through ``fleming.train.sft``; ``mode``
  "answer" teaches the format alone (empty reasoning), "cot" the KG-grounded chain (``facts.chain``).
- ``grpo(model, records, out, ...)``: TRL GRPOTrainer with the paper's objective (reward = correctness +
  format from ``fleming.grading``, advantage r - mean: ``scale_rewards="none"``, ``beta=0``);
  ``claim_weight > 0`` adds a KG process reward (claim precision of the chain), off by default because
  the paper's reward has only the two terms.
- ``evaluate(model, records, world, k)``: greedy accuracy, format rate, mean@k, maj@k (T=1), claim
  precision of the greedy chains, per question type and per hop, with 95% bootstrap CIs.

Usage (from the repository root, PYTHONPATH=src):
    python scripts/ablation/ablation.py sft MODEL WORLD OUT --mode cot --n 2000 --steps 600
    python scripts/ablation/ablation.py grpo MODEL WORLD OUT --n 4000 --steps 100
    python scripts/ablation/ablation.py eval MODEL WORLD OUT --split validation --k 8
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from fleming.eval.metrics import bootstrap_ci, majority_vote
from fleming.grading import check_format, extract_answer
from fleming.io import read_records
from fleming.prompts import build_messages
from fleming.records import MCQ
from fleming.train.facts import World, chain, check_claims


def load_split(world_dir: Path, split: str, n: int | None = None, seed: int = 0,
               types: list[str] | None = None, per_type: int | None = None, skip_per_type: int = 0
               ) -> list[MCQ]:
    """A split's records in a seeded order; only ``types`` if given; of each type, the ``per_type``
    records after its first ``skip_per_type`` (so an RL pool can be disjoint from the SFT set)."""
    recs = [r for r in read_records(world_dir / f"{split}.jsonl")
            if not types or r.metadata.question_type in types]
    random.Random(seed).shuffle(recs)
    if per_type:
        seen: dict[str, int] = defaultdict(int)
        kept = []
        for r in recs:
            seen[r.metadata.question_type] += 1
            if skip_per_type < seen[r.metadata.question_type] <= skip_per_type + per_type:
                kept.append(r)
        recs = kept
    return recs[:n] if n else recs


def sft(model: Path, records: list[MCQ], world: World, mode: str, out: Path, steps: int,
        lr: float = 2e-3, batch: int = 16, seed: int = 0) -> Path:
    from fleming.train.sft import SFTSection, sft_rows, train_sft

    reasoning = (lambda r: chain(r, world)) if mode == "cot" else (lambda r: "")
    trl = {"learning_rate": lr, "max_steps": steps, "per_device_train_batch_size": batch, "max_length": 512,
           "seed": seed, "logging_steps": max(steps // 10, 1)}
    train_sft(model, sft_rows(records, reasoning), [], out, SFTSection(trl=trl))
    return out


class ClaimReward:
    """KG process reward: the share of a completion's claim sentences that are true in the world (0 when
    it makes none). Beyond the paper, off by default."""

    __name__ = "claims"

    def __init__(self, world: World):
        self.world = world

    def __call__(self, completions, **kwargs) -> list[float]:
        out = []
        for c in completions:
            text = c[-1]["content"] if isinstance(c, list) else c
            n = check_claims(text.split("</think>")[0], self.world)
            total = n["true"] + n["false"]
            out.append(n["true"] / total if total else 0.0)
        return out


def grpo(model: Path, records: list[MCQ], world: World, out: Path, steps: int, lr: float = 2e-5,
         prompts: int = 8, generations: int = 8, temperature: float = 1.0, claim_weight: float = 0.0,
         seed: int = 0, max_completion_length: int = 160) -> Path:
    import datasets
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from fleming.train.rewards import RewardConfig, make_reward_funcs

    torch.set_num_threads(1)
    tok = AutoTokenizer.from_pretrained(str(model))
    policy = AutoModelForCausalLM.from_pretrained(str(model), use_safetensors=True)
    rows = [{"prompt": build_messages(r), "options": list(r.options.values()), "answer": r.answer}
            for r in records]
    rewards, weights = make_reward_funcs(RewardConfig())
    if claim_weight > 0:
        rewards.append(ClaimReward(world))
        weights.append(claim_weight)
    args = GRPOConfig(
        output_dir=str(out / "checkpoints"), learning_rate=lr, max_steps=steps, seed=seed,
        per_device_train_batch_size=prompts * generations, num_generations=generations,
        max_completion_length=max_completion_length, temperature=temperature,
        # the paper's objective, every field explicit
        scale_rewards="none", beta=0.0, num_iterations=1, epsilon=0.2, loss_type="grpo",
        reward_weights=weights, bf16=False, use_cpu=not torch.cuda.is_available(),
        activation_checkpointing=False, logging_steps=max(steps // 10, 1), save_strategy="no",
        report_to=[], lr_scheduler_type="constant", warmup_steps=0, disable_tqdm=True)
    trainer = GRPOTrainer(model=policy, reward_funcs=rewards, args=args, processing_class=tok,
                          train_dataset=datasets.Dataset.from_list(rows))
    trainer.train()
    trainer.save_model(str(out))
    tok.save_pretrained(str(out))
    (out / "training_args.bin").unlink(missing_ok=True)
    (out / "log_history.json").write_text(json.dumps(trainer.state.log_history, indent=1))
    return out


def generate(model, tok, records: list[MCQ], k: int, temperature: float, max_new_tokens: int,
             batch: int = 64, seed: int = 0) -> list[list[str]]:
    """``k`` completions per record (k=0: one greedy completion)."""
    import torch

    tok.padding_side = "left"
    torch.manual_seed(seed)
    out: list[list[str]] = []
    per = max(1, batch // max(k, 1))
    for i in range(0, len(records), per):
        chunk = records[i:i + per]
        texts = [tok.apply_chat_template(build_messages(r), tokenize=False, add_generation_prompt=True)
                 for r in chunk]
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        kw = ({"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0,
               "num_return_sequences": k} if k else {"do_sample": False})
        with torch.no_grad():
            gen = model.generate(**enc, max_new_tokens=max_new_tokens, **kw)
        dec = tok.batch_decode(gen[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
        n = max(k, 1)
        out += [dec[j * n:(j + 1) * n] for j in range(len(chunk))]
    return out


def evaluate(model_dir: Path, records: list[MCQ], world: World, k: int = 8, temperature: float = 1.0,
             max_new_tokens: int = 160, seed: int = 0) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(1)
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), use_safetensors=True).eval()
    t0 = time.perf_counter()
    greedy = [g[0] for g in generate(model, tok, records, 0, 1.0, max_new_tokens, seed=seed)]
    samples = generate(model, tok, records, k, temperature, max_new_tokens, seed=seed) if k else None
    per_item = []
    for i, r in enumerate(records):
        ans = extract_answer(greedy[i], r.options)
        claims = check_claims(greedy[i].split("</think>")[0], world)
        matched, verdicts = faithfulness(greedy[i], chain(r, world))
        row = {"id": r.id, "type": r.metadata.question_type, "hops": r.metadata.extra.get("hops"),
               "pairs_matched": matched, "verdicts_right": verdicts,
               "gold_claims": len(chain(r, world).splitlines()),
               "greedy": float(ans is not None and set(ans) == set(r.answer)),
               "format": float(check_format(greedy[i])), "claims_true": claims["true"],
               "claims_false": claims["false"], "text": greedy[i]}
        if samples:
            got = [extract_answer(s, r.options) for s in samples[i]]
            right = [float(a is not None and set(a) == set(r.answer)) for a in got]
            vote = majority_vote(got)
            row |= {"mean_k": float(np.mean(right)),
                    "maj_k": float(vote is not None and set(vote) == set(r.answer)),
                    "format_k": float(np.mean([check_format(s) for s in samples[i]]))}
        per_item.append(row)
    return {"summary": summarize(per_item), "seconds": round(time.perf_counter() - t0, 1), "items": per_item}


def _pair(line: str) -> str:
    """A claim line with its verdict neutralised: the (subject, object) pair it is about."""
    return line.strip().replace(" lacks ", " has ").replace(" is not caused by ", " is caused by ")


def faithfulness(response: str, gold_chain: str) -> tuple[int, int]:
    """Lines of the model's chain about the same pair as the gold chain's line at the same position
    (it copied the item's entities in order), and of those, how many also have the gold verdict."""
    got = response.split("</think>")[0].replace("<think>", "").strip().splitlines()
    gold = gold_chain.splitlines()
    same = [(g, o.strip()) for g, o in zip(gold, got, strict=False) if _pair(g) == _pair(o)]
    return len(same), sum(g == o for g, o in same)


def summarize(rows: list[dict]) -> dict:
    def block(rs: list[dict]) -> dict:
        out = {"n": len(rs)}
        for key in ("greedy", "format", "mean_k", "maj_k", "format_k"):
            if rs and key in rs[0]:
                v = [r[key] for r in rs]
                lo, hi = bootstrap_ci(v)
                out[key] = [round(100 * float(np.mean(v)), 1), round(100 * lo, 1), round(100 * hi, 1)]
        t = sum(r["claims_true"] for r in rs)
        f = sum(r["claims_false"] for r in rs)
        out["claim_precision"] = round(100 * t / (t + f), 1) if t + f else None
        out["claims_per_item"] = round((t + f) / max(len(rs), 1), 1)
        gold = sum(r.get("gold_claims", 0) for r in rs)
        same = sum(r.get("pairs_matched", 0) for r in rs)
        out["copied_pairs"] = round(100 * same / gold, 1) if gold else None
        right = sum(r.get("verdicts_right", 0) for r in rs)
        out["verdicts_on_copied"] = round(100 * right / same, 1) if same else None
        return out

    by_type, by_hop = defaultdict(list), defaultdict(list)
    for r in rows:
        by_type[r["type"]].append(r)
        by_hop[str(r["hops"])].append(r)
    return {"all": block(rows), "types": {k: block(v) for k, v in sorted(by_type.items())},
            "hops": {k: block(v) for k, v in sorted(by_hop.items())}}


def table(results: list[tuple[str, dict]]) -> str:
    """Rows in the layout of Table 4 (greedy accuracy first), with per-hop greedy accuracy and, between
    consecutive rows, the exact McNemar p and the paired-bootstrap CI of the greedy difference."""
    from fleming.eval.metrics import mcnemar_exact, paired_bootstrap_ci

    hops = sorted({h for _, r in results for h in r["summary"]["hops"]})
    head = ["row", "greedy % [95% CI]", "format %", "mean@k %", "maj@k %", "claim precision %",
            *[f"hop {h}" for h in hops], "vs previous row: diff [95% CI], McNemar p"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    prev = None
    for name, res in results:
        a = res["summary"]["all"]

        def cell(key: str, a: dict = a) -> str:
            return f"{a[key][0]} [{a[key][1]}, {a[key][2]}]" if key in a else "-"

        by_id = {r["id"]: r["greedy"] for r in res["items"]}
        diff = "-"
        if prev is not None:
            ids = [i for i in by_id if i in prev]
            x, y = [prev[i] for i in ids], [by_id[i] for i in ids]
            b = sum(1 for u, v in zip(x, y, strict=True) if u > v)
            c = sum(1 for u, v in zip(x, y, strict=True) if v > u)
            lo, hi = paired_bootstrap_ci(x, y)
            d = 100 * (np.mean(y) - np.mean(x))
            diff = f"{d:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}], p={mcnemar_exact(b, c):.3g}"
        hop_cells = [str(res["summary"]["hops"].get(h, {}).get("greedy", ["-"])[0]) for h in hops]
        row = [name, cell("greedy"), str(a["format"][0]), cell("mean_k"), cell("maj_k"),
               str(a["claim_precision"]), *hop_cells, diff]
        lines.append("| " + " | ".join(row) + " |")
        prev = by_id
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("cmd", choices=["sft", "grpo", "eval", "table"])
    p.add_argument("model", type=Path)
    p.add_argument("world", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--mode", choices=["answer", "cot"], default="cot")
    p.add_argument("--split", default="train")
    p.add_argument("--types", nargs="*", default=None)
    p.add_argument("--n", type=int, default=None)
    p.add_argument("--per-type", type=int, default=None, help="at most this many items of each type")
    p.add_argument("--skip-per-type", type=int, default=0, help="skip the first N items of each type")
    p.add_argument("--skip", type=int, default=0, help="skip the first N shuffled records (disjoint pools)")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--k", type=int, default=8)
    p.add_argument("--prompts", type=int, default=8)
    p.add_argument("--generations", type=int, default=8)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--claim-weight", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    if a.cmd == "table":  # model: a text file of "name path/to/eval.json" lines; out: the markdown table
        rows = [ln.rsplit(maxsplit=1) for ln in a.model.read_text().splitlines() if ln.strip()]
        a.out.write_text(table([(n, json.loads(Path(f).read_text())) for n, f in rows]) + "\n")
        print(a.out.read_text())
        return
    world = World.load(a.world / "kg")
    recs = load_split(a.world, a.split, None, a.seed if a.cmd != "eval" else 0, a.types, a.per_type,
                      a.skip_per_type)
    recs = recs[a.skip:a.skip + a.n] if a.n else recs[a.skip:]
    if a.cmd == "sft":
        sft(a.model, recs, world, a.mode, a.out, a.steps, a.lr or 2e-3, seed=a.seed)
    elif a.cmd == "grpo":
        grpo(a.model, recs, world, a.out, a.steps, a.lr or 2e-5, a.prompts, a.generations, a.temperature,
             a.claim_weight, a.seed)
    else:
        res = evaluate(a.model, recs, world, a.k, a.temperature, seed=a.seed)
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(res, indent=1))
        print(json.dumps({"model": str(a.model), "split": a.split, "seconds": res["seconds"],
                          **res["summary"]}))


if __name__ == "__main__":
    main()
