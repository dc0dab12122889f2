"""The eval stage of ``fleming run``: every trained row on the held-out items, in the layout of the paper's
Table 4, plus the benchmarks (format and parse health for a tiny model) when their files are present.

Per row: greedy accuracy (the table's figure), strict-format rate, mean@k and maj@k at temperature T,
per question type and per hop, the claim precision of the model's own chains against the KG, and their
faithfulness to the item (copied pairs: the share of the gold chain's (subject, object) pairs that the
model's chain states too, and of those the share with the gold verdict; beyond the paper: a chain can be
all true and still be about other entities than the item's). Between
consecutive rows: an exact McNemar test and a paired-bootstrap 95% CI of the greedy difference.
One grader (``fleming.grading``) scores everything, as it scores the RL reward.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fleming.eval.benchmarks import Benchmark, Category
from fleming.eval.metrics import mcnemar_exact, paired_bootstrap_ci
from fleming.io import read_records, write_json
from fleming.records import MCQ

HELDOUT = Benchmark(name="heldout", display="Held-out (synthetic)", loader="-", n_options=21,
                    variable_options=True, table3=False,
                    categories=(Category("question_type", "question_type"), Category("hops", "extra.hops")))


def _run(model: Path, records: list[MCQ], out: Path, ev, samples: int, temperature: float) -> dict[str, Any]:
    from fleming.eval.runner import EvalSettings, claim_run_dir, open_backend, run_benchmark, write_results

    settings = EvalSettings(model=str(model), backend=ev.backend, samples=samples, temperature=temperature,
                            max_tokens=ev.max_tokens, batch_size=ev.batch_size, seed=0)
    out.mkdir(parents=True, exist_ok=True)
    claim_run_dir(out, settings)
    backend = open_backend(settings, out)
    try:
        outcome = run_benchmark(backend, HELDOUT, records, out, settings)
    finally:
        backend.close()
    results = write_results([outcome], out, settings)
    return {"rows": outcome.rows, "results": results["benchmarks"]["heldout"]}


def _format_rate(rows: list[dict[str, Any]]) -> float | None:
    from fleming.grading import check_format

    texts = [t for r in rows for t in r["responses"]]
    return sum(check_format(t) for t in texts) / len(texts) if texts else None


def _claims(rows: list[dict[str, Any]], kg: Path, records: list[MCQ], order: str = "path"
            ) -> dict[str, Any] | None:
    """Claim precision of the model's greedy chains against the KG (``fleming.cot.claims``) and their
    faithfulness to the gold chain in the order the CoT stage wrote (``fleming.cot.grounded``)."""
    from collections import Counter

    from fleming.cot.claims import ClaimChecker
    from fleming.cot.grounded import grounded_chain, kg_names
    from fleming.kg.store import KG

    if not (kg / "nodes.parquet").is_file():
        return None
    checker = ClaimChecker(KG.load(kg))
    names, by_id = kg_names(checker.kg), {r.id: r for r in records}
    verdicts: Counter = Counter()
    gold_pairs = copied = agreed = 0
    for r in rows:
        gold_chain = grounded_chain(by_id[r["id"]], names, order) if r["id"] in by_id else None
        gold = _pairs(checker.claims(gold_chain or ""))
        for text in r["responses"]:
            checked = checker.check_text(text)
            verdicts.update(v for _, v in checked)
            said = _pairs(c for c, _ in checked)
            gold_pairs += len(gold)
            copied += len(gold.keys() & said.keys())
            agreed += sum(gold[k] == said[k] for k in gold.keys() & said.keys())
    true, false, unchecked = verdicts["true"], verdicts["false"], verdicts["uncheckable"]
    checked = true + false
    return {"true": true, "false": false, "uncheckable": unchecked,
            "precision": true / checked if checked else None,
            "gold_pairs": gold_pairs, "copied_pairs": copied / gold_pairs if gold_pairs else None,
            "verdicts_on_copied": agreed / copied if copied else None}


def _pairs(claims) -> dict[tuple[str, str, str], bool]:
    """(relation, subject, object) -> negated, names case-folded."""
    return {(c.relation, c.subject.casefold(), c.obj.casefold()): c.negated for c in claims}


def evaluate_row(model: Path, records: list[MCQ], out: Path, ev, kg: Path, order: str = "path"
                 ) -> dict[str, Any]:
    greedy = _run(model, records, out / "greedy", ev, 1, 0.0)
    row: dict[str, Any] = {"greedy": _summary(greedy["results"]), "format_rate": _format_rate(greedy["rows"]),
                           "correct": {r["id"]: bool(r["correct"]) for r in greedy["rows"]}}
    row["claims"] = _claims(greedy["rows"], kg, records, order)
    if ev.samples > 1:
        sampled = _run(model, records, out / f"sampled_k{ev.samples}", ev, ev.samples, ev.temperature)
        res = sampled["results"]
        row["mean_at_k"] = {"k": ev.samples, "accuracy": res["accuracy"], "ci": res["ci"]}
        row["maj_at_k"] = res.get("majority")
        row["sampled_format_rate"] = _format_rate(sampled["rows"])
    return row


def _summary(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: entry.get(k) for k in ("n", "accuracy", "ci", "unparsed_rate", "n_failed", "breakdowns")}


def paired(a: dict[str, bool], b: dict[str, bool], seed: int = 0) -> dict[str, Any]:
    """McNemar (exact) and the paired-bootstrap CI of accuracy(b) - accuracy(a) over shared items.

    >>> paired({"1": False, "2": False}, {"1": True, "2": True})["only_b"]
    2
    """
    ids = sorted(set(a) & set(b))
    x = np.array([a[i] for i in ids], dtype=float)
    y = np.array([b[i] for i in ids], dtype=float)
    only_a, only_b = int(((x == 1) & (y == 0)).sum()), int(((x == 0) & (y == 1)).sum())
    lo, hi = paired_bootstrap_ci(x, y, seed=seed) if ids else (None, None)
    return {"n": len(ids), "diff": float((y - x).mean()) if ids else None, "ci": [lo, hi],
            "only_a": only_a, "only_b": only_b, "mcnemar_p": mcnemar_exact(only_a, only_b)}


def chain_order(cfg) -> str:
    """The order the CoT stage wrote its chains in (``cot.teacher.order``), for the faithfulness measure."""
    return (cfg.cot.get("teacher") or {}).get("order", "path")


def run_eval(cfg, root: Path, d: Path, kg: Path) -> dict[str, Any]:
    from fleming.pipeline.train import trained_rows

    records = list(read_records(root / "split" / f"{cfg.eval.split}.jsonl"))
    rows: dict[str, Any] = {}
    order = chain_order(cfg)
    for stage, label, ckpt in trained_rows(root):
        rows[label] = {"stage": stage, **evaluate_row(ckpt, records, d / stage, cfg.eval, kg, order)}
    labels = list(rows)
    tests = {f"{a} -> {b}": paired(rows[a]["correct"], rows[b]["correct"])
             for a, b in zip(labels, labels[1:], strict=False)}
    table = {"split": cfg.eval.split, "heldout_items": len(records), "rows": rows, "paired": tests}
    if cfg.eval.benchmarks and labels:
        table["benchmarks"] = run_benchmarks(cfg, rows[labels[-1]]["stage"], root / rows[labels[-1]]["stage"],
                                             d / "benchmarks")
    write_json(d / "ablation.json", table)
    return {"rows": {k: {"greedy": v["greedy"]["accuracy"], "format": v["format_rate"]}
                     for k, v in rows.items()},
            "paired": {k: {"diff": v["diff"], "p": v["mcnemar_p"]} for k, v in tests.items()}}


def run_benchmarks(cfg, stage: str, model: Path, out: Path) -> dict[str, Any] | None:
    """The benchmarks through ``fleming eval``'s runner on the last row's model (parse health)."""
    from fleming.eval.benchmarks import parse_list
    from fleming.eval.runner import (
        EvalSettings,
        claim_run_dir,
        load_benchmarks,
        open_backend,
        run_benchmark,
        write_results,
    )
    from fleming.sources.registry import DEFAULT_DATA_DIR

    names = cfg.eval.benchmarks
    if names == ["auto"] and not Path(DEFAULT_DATA_DIR).is_dir():
        return {"skipped": f"no benchmark files at {DEFAULT_DATA_DIR}"}
    benches = parse_list(None if names == ["auto"] else ",".join(names))
    settings = EvalSettings(model=str(model), backend=cfg.eval.backend, max_tokens=cfg.eval.max_tokens,
                            batch_size=cfg.eval.batch_size, limit=cfg.eval.benchmark_limit)
    out.mkdir(parents=True, exist_ok=True)
    claim_run_dir(out, settings)
    records = load_benchmarks(benches, None, settings)
    backend = open_backend(settings, out)
    try:
        outcomes = [run_benchmark(backend, b, records[b.name], out, settings) for b in benches]
    finally:
        backend.close()
    results = write_results(outcomes, out, settings)
    return {"stage": stage, "results": str(out / "results.json"),
            "macro": results.get("macro_average")}
