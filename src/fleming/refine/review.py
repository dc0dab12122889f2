"""The output of the steps that queue items for review (the label check, the ambiguity gate), and
``fleming refine review-apply DECISIONS.csv``.

Each such step folder keeps what the validator decided (``validated.jsonl``, ``errors.jsonl``,
``review_queue.jsonl/.csv``) and the reviewers' decisions (``decisions.json``, merged across calls, the
latest decision for an id wins). ``finalize`` derives the step's output from them: validated items plus
the reviewed items brought back (kept, or relabelled with ``metadata.extra["review"]``); the rest stay
excluded as ``review_queue`` (not yet decided), ``review_drop`` or ``validator_error``. Applying
decisions re-derives the output and removes the done markers of every later step, so the next
``fleming refine CONFIG`` recomputes difficulty and the mix with the reviewed items. A CSV's ``step``
column routes each row to its step's queue (one CSV may hold rows of both steps).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fleming.errors import InputError
from fleming.io import read_records, write_json, write_jsonl, write_records
from fleming.refine.labelcheck import REVIEW_STEPS, load_queue, read_decisions, reviewed_records
from fleming.steps import Stats


def _decisions(stage: Path) -> dict[str, tuple[str, list[str]]]:
    path = stage / "decisions.json"
    if not path.is_file():
        return {}
    return {k: (v[0], list(v[1])) for k, v in json.loads(path.read_text()).items()}


def finalize(run, i: int) -> Stats:
    """Write a review step's records and exclusions from the validator's output + decisions."""
    from fleming.refine.pipeline import STEPS

    stage = run.step_dir(i)
    base = json.loads((stage / "validator_stats.json").read_text())
    validated = list(read_records(stage / "validated.jsonl"))
    errors = list(read_records(stage / "errors.jsonl"))
    queue = load_queue(stage)
    decisions = {k: v for k, v in _decisions(stage).items() if k in queue}
    back, dropped, pending = reviewed_records(queue, decisions)
    write_records(stage / "records.jsonl", validated + back)
    write_jsonl(run.excl_path(i), (
        {"reason": reason, "record": r.model_dump(mode="json")}
        for reason, recs in (("validator_error", errors), ("review_queue", pending), ("review_drop", dropped))
        for r in recs))
    stats = Stats(STEPS[i], n_in=base["in"], n_kept=len(validated) + len(back))
    for reason, recs in (("validator_error", errors), ("review_queue", pending), ("review_drop", dropped)):
        if recs:
            stats.dropped[reason] = len(recs)
    n_relabel = sum(1 for d, _ in decisions.values() if d == "relabel")
    stats.extra = {**base["extra"], "validator_kept": len(validated), "queued_for_review": len(queue),
                   "reviewed_keep": sum(1 for d, _ in decisions.values() if d == "keep"),
                   "reviewed_relabel": n_relabel, "reviewed_drop": len(dropped)}
    return stats


def find_run(decisions_csv: Path) -> Path:
    """The run directory that holds the review queue, searched upward from the CSV's folder."""
    for d in [decisions_csv.resolve().parent, *decisions_csv.resolve().parents]:
        if (d / "refine" / "steps").is_dir():
            return d
        if d.name == "refine" and (d / "steps").is_dir():
            return d.parent
    raise InputError(decisions_csv, None, None, "no run directory above this file; pass --run RUN_DIR")


def apply_review(decisions_csv: str | Path, run_dir: str | Path | None = None) -> dict[str, Any]:
    """Apply a filled-in review CSV to a run; returns the counts (summed over the review steps the CSV
    has decisions for, and per step under ``steps``)."""
    from fleming.refine.config import RefineConfig
    from fleming.refine.pipeline import STEPS, RefineRun

    decisions_csv = Path(decisions_csv)
    if not decisions_csv.is_file():
        raise InputError(decisions_csv, None, None, "decisions file not found")
    run = RefineRun(RefineConfig(), run_dir or find_run(decisions_csv), log=lambda _: None)
    queued = [s for s in REVIEW_STEPS if (run.step_dir(STEPS.index(s)) / "validated.jsonl").is_file()]
    if not queued:
        raise InputError(run.root, None, None, "no review queue in this run (enable the label check or "
                                               "the ambiguity gate)")
    read = {s: read_decisions(decisions_csv, load_queue(run.step_dir(STEPS.index(s))), s) for s in queued}
    steps = [s for s in queued if read[s]] or queued  # no decision at all: only report the counts
    out: dict[str, Any] = {"run": str(run.root.parent),
                           "steps": {s: _apply(run, STEPS.index(s), read[s]) for s in steps}}
    run.invalidate_from(min(STEPS.index(s) for s in steps) + 1)
    for key in ("queue", "decided", "kept", "relabelled", "dropped", "pending"):
        out[key] = sum(s[key] for s in out["steps"].values())
    return out


def _apply(run, i: int, read: dict[str, tuple[str, list[str]]]) -> dict[str, Any]:
    """Merge one step's new decisions with its earlier ones and re-derive its output."""
    stage = run.step_dir(i)
    queue = load_queue(stage)
    merged = {**_decisions(stage), **read}
    write_json(stage / "decisions.json", {k: [d, letters] for k, (d, letters) in merged.items()})
    stats = finalize(run, i)
    write_json(run.stats_path(i), {**stats.to_dict(), "reconciles": stats.reconciles()})
    return {"queue": len(queue), "decided": len(merged), "kept": stats.extra["reviewed_keep"],
            "relabelled": stats.extra["reviewed_relabel"], "dropped": stats.extra["reviewed_drop"],
            "pending": stats.dropped.get("review_queue", 0), "stats": stats.to_dict()}
