"""``run_cot``: distillation, verification and refinement over a list of items, resumable, into one folder.

Writes into ``out``: ``dataset/`` (Hugging Face ``save_to_disk``) and ``sft.parquet`` (chat-format rows),
``attempts.jsonl`` (every attempt with round, strategy and outcome), ``never_verified.jsonl``,
``stats.json`` (in = kept + dropped by reason; per-strategy and per-round success; claim precision).

Resuming: teacher and validator calls go through the SQLite response cache in ``out/llm-cache.sqlite``,
each completion written as it arrives; each finished item is appended to ``items.journal.jsonl`` as one
line. Killed at any point (SIGKILL included) and re-run with the same config, finished items are read back
from the journal (a torn last line is recomputed, from the cache) and answered requests are not sent again.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from fleming.cot.claims import ClaimChecker
from fleming.cot.config import CotConfig, LLMConfig
from fleming.cot.distill import Distiller
from fleming.cot.grounded import kg_names
from fleming.cot.verify import Verifier
from fleming.io import fingerprint, write_json, write_jsonl
from fleming.llm.base import progress_bar
from fleming.records import MCQ

JOURNAL = "items.journal.jsonl"


def make_llm(c: LLMConfig, cache) -> Any:
    """A cached backend for a teacher or validator section; completions are stored one by one."""
    from fleming.llm import make_backend
    from fleming.llm.cache import CachedBackend

    opts = dict(c.options)
    if c.backend == "openai":
        opts.setdefault("concurrency", c.concurrency)
        opts.setdefault("api_key_env", c.api_key_env)
    return CachedBackend(make_backend(c.backend, c.model, base_url=c.base_url, **opts), cache, flush_every=1)


def load_kg(cfg: CotConfig, records: list[MCQ], log: Callable[[str], None]):
    """The KG named in the config, else the one the synthetic items came from; None when neither exists."""
    path = cfg.kg or next(
        (r.metadata.provenance.get("kg") for r in records if r.metadata.provenance.get("kg")), None
    )
    if not path or not Path(path, "nodes.parquet").is_file():
        log(f"[cot] no KG{f' at {path}' if path else ''}: claims and path entities are not checked")
        return None
    from fleming.kg.store import KG

    return KG.load(path)


def _fingerprint(cfg: CotConfig, records: list[MCQ]) -> str:
    conf = {
        k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("out", "progress", "workers", "chunk")
    }
    return fingerprint({"config": conf, "items": [r.id for r in records]})


def read_journal(path: Path) -> dict[str, dict[str, Any]]:
    """Finished items by id; a torn last line (a kill mid-write) is skipped, a repeated id kept once."""
    done: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return done
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            done.setdefault(obj["id"], obj)
    return done


def run_cot(
    cfg: CotConfig, records: list[MCQ], out: Path, log: Callable[[str], None] = print
) -> dict[str, Any]:
    from fleming.llm.cache import ResponseCache

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.limit is not None:
        records = records[: cfg.limit]
    ids = Counter(r.id for r in records)
    dup = next((i for i, n in ids.items() if n > 1), None)
    if dup is not None:
        from fleming.errors import InputError

        raise InputError(cfg.inputs[0] if cfg.inputs else "items", None, "id", f"repeated item id {dup!r}")
    fp, journal = _fingerprint(cfg, records), out / JOURNAL
    marker = out / ".cot-fingerprint"
    if marker.is_file() and marker.read_text().strip() != fp:
        journal.unlink(missing_ok=True)  # another config: its finished items do not count (the cache stays)
    marker.write_text(fp + "\n")
    done = read_journal(journal)
    todo = [r for r in records if r.id not in done]
    log(f"[cot] {len(records)} items, {len(records) - len(todo)} already done, teacher {cfg.teacher.kind}")

    t0 = time.perf_counter()
    kg = load_kg(cfg, records, log)
    names = kg_names(kg) if kg is not None else None
    checker = ClaimChecker(kg, cfg.checks.rich_findings) if kg is not None else None
    cache = ResponseCache(out / "llm-cache.sqlite")
    teacher = make_llm(cfg.teacher, cache) if cfg.teacher.kind == "llm" else None
    validator = None
    if cfg.validator.enabled:
        validator = teacher if cfg.validator.same_as_teacher else make_llm(cfg.validator, cache)
    distiller = Distiller(cfg, Verifier(cfg.checks, checker, names), teacher, validator, names)
    t1 = time.perf_counter()
    try:
        _distill(distiller, todo, cfg, journal, done)
    finally:
        for b in {id(b): b for b in (teacher, validator) if b is not None}.values():
            b.inner.close()
        requests = {
            k: sum(b.stats[k] for b in {id(b): b for b in (teacher, validator) if b}.values())
            for k in ("hits", "misses")
        }
        cache.close()
    t2 = time.perf_counter()
    results = [done[r.id] for r in records]
    stats = write_outputs(results, {r.id: r for r in records}, out, cfg)
    stats["llm_samples"] = {"from_cache": requests["hits"], "sent": requests["misses"]}
    stats["seconds"] = {
        "setup": round(t1 - t0, 3),
        "distill": round(t2 - t1, 3),
        "write": round(time.perf_counter() - t2, 3),
    }
    write_json(out / "stats.json", stats)
    return stats


def _distill(
    distiller: Distiller, todo: list[MCQ], cfg: CotConfig, journal: Path, done: dict[str, dict[str, Any]]
) -> None:
    chunks = [todo[i : i + cfg.chunk] for i in range(0, len(todo), cfg.chunk)]
    workers = cfg.workers if cfg.teacher.kind == "llm" else 1
    with (
        open(journal, "a", encoding="utf-8") as f,
        progress_bar(len(todo), "cot", cfg.progress and bool(todo)) as tick,
        ThreadPoolExecutor(max_workers=workers) as pool,
    ):
        for task in as_completed([pool.submit(distiller.run, c) for c in chunks]):
            results = task.result()
            for x in results:
                row = x.to_dict()
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
                done[x.record.id] = row
            f.flush()  # in the OS's hands: survives a killed process (not a power cut)
            tick(len(results))


def write_outputs(
    results: list[dict[str, Any]], by_id: dict[str, MCQ], out: Path, cfg: CotConfig
) -> dict[str, Any]:
    from fleming.cot.dataset import write_dataset

    kept = [x for x in results if x["kept"]]
    write_dataset(kept, by_id, out, teacher=cfg.teacher.model if cfg.teacher.kind == "llm" else "grounded")
    write_jsonl(out / "attempts.jsonl", ({"id": x["id"], **a} for x in results for a in x["attempts"]))
    write_jsonl(
        out / "never_verified.jsonl",
        (
            {
                "id": x["id"],
                "reason": x["reason"],
                "attempts": len(x["attempts"]),
                "record": by_id[x["id"]].model_dump(mode="json"),
            }
            for x in results
            if not x["kept"]
        ),
    )
    return summarize(results)


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    """in = kept + dropped by reason; per-round and per-strategy success; check failures; claims."""
    reasons = Counter(x["reason"] for x in results if not x["kept"])
    rounds: dict[int, Counter] = defaultdict(Counter)
    strategies: dict[str, Counter] = defaultdict(Counter)
    failures, claims, kept_claims = Counter(), Counter(), Counter()
    for x in results:
        seen = {}
        for a in x["attempts"]:
            seen.setdefault((a["round"], a["strategy"]), []).append(a)
            failures.update(a.get("failed", {}).keys() if a["error"] is None else ["teacher_error"])
            claims.update(a.get("claims", {}))
        for (rnd, strategy), atts in seen.items():
            won = x["best"] is not None and x["best"]["round"] == rnd
            for c in (rounds[rnd], strategies[strategy]):
                c["items"] += 1
                c["verified"] += won
                c["attempts"] += len(atts)
        if x["best"] is not None:
            best = next(
                a
                for a in x["attempts"]
                if a["round"] == x["best"]["round"] and a["sample"] == x["best"]["sample"]
            )
            kept_claims.update(best.get("claims", {}))
    n_kept = sum(x["kept"] for x in results)

    def rates(d: dict) -> dict:
        return {
            str(k): {**v, "rate": round(v["verified"] / v["items"], 4) if v["items"] else None}
            for k, v in sorted(d.items(), key=lambda kv: str(kv[0]))
        }

    return {
        "in": len(results),
        "kept": n_kept,
        "dropped": len(results) - n_kept,
        "drop_reasons": dict(reasons.most_common()),
        "reconciles": len(results) == n_kept + sum(reasons.values()),
        "attempts": sum(len(x["attempts"]) for x in results),
        "per_round": rates(rounds),
        "per_strategy": rates(strategies),
        "check_failures": dict(failures.most_common()),
        "claims_all_candidates": _precision(claims),
        "claims_kept": _precision(kept_claims),
    }


def _precision(c: Counter) -> dict[str, Any]:
    checkable = c["true"] + c["false"]
    return {
        "true": c["true"],
        "false": c["false"],
        "uncheckable": c["uncheckable"],
        "precision": round(c["true"] / checkable, 4) if checkable else None,
    }
