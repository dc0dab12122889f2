"""PubMedQA PQA-L: ``ori_pqal.json`` (1000 expert-labelled items, a dict keyed by PMID) plus
``test_ground_truth.json`` (PMID -> label for the 500 official test items).

yes / no / maybe become options A / B / C; the abstract's CONTEXTS are joined with newlines into
``context`` (the reasoning-required setting: LONG_ANSWER, the conclusion, is kept only in metadata).
The test part is the 500 ground-truth PMIDs; the other 500 are the official train/dev part. Each part
reads all 1000 entries and counts the other part as dropped, so ``in`` shows the full 1000. ``part="all"``
keeps all 1000: the set the paper's Table 1 counts as PubMedQA (it contains the train/dev part, so
it overlaps ``pubmedqa_train``; the benchmark table warns when a run trained on that).
"""

from __future__ import annotations

from typing import Any, Literal

from fleming.errors import InputError
from fleming.sources.base import Collector
from fleming.sources.fields import keyed, optional_text, text
from fleming.sources.readers import read_json

OPTIONS = {"A": "yes", "B": "no", "C": "maybe"}
GOLD = {v: k for k, v in OPTIONS.items()}
DROP_TEST = "test part (in the test ground truth)"
DROP_TRAIN = "train/dev part (not in the test ground truth)"


def read_ground_truth(col: Collector, rel: str) -> dict[str, str]:
    path = col.path(rel)
    gt = read_json(path)
    if not isinstance(gt, dict):
        raise InputError(path, None, None, f"expected an object PMID -> label, got {type(gt).__name__}")
    for pmid, label in gt.items():
        if label not in GOLD:
            raise InputError(path, None, pmid, f"expected yes, no or maybe, got {label!r:.40}")
    return gt


def context_of(entry: dict[str, Any], path) -> str:
    ctx = entry.get("CONTEXTS")
    if not isinstance(ctx, list) or not ctx or not all(isinstance(c, str) for c in ctx):
        raise InputError(path, None, "CONTEXTS", f"expected a non-empty list of strings, got {ctx!r:.60}")
    return "\n".join(ctx)


def load_pqal(col: Collector, ori_rel: str, gt_rel: str,
              part: Literal["test", "train", "all"] = "test") -> None:
    path = col.path(ori_rel)
    gt = read_ground_truth(col, gt_rel)
    ori = read_json(path)
    if not isinstance(ori, dict):
        raise InputError(path, None, None, f"expected an object keyed by PMID, got {type(ori).__name__}")
    missing = [p for p in gt if p not in ori]
    if missing:
        raise InputError(col.data_dir / gt_rel, None, missing[0], f"PMID not in {ori_rel}")
    for pmid, entry in ori.items():
        i = col.row()
        if part != "all" and (pmid in gt) != (part == "test"):
            col.drop(DROP_TEST if pmid in gt else DROP_TRAIN)
            continue
        with keyed(pmid):
            if not isinstance(entry, dict):
                raise InputError(path, None, None, f"expected an object, got {type(entry).__name__}")
            label = entry.get("final_decision")
            if label not in GOLD:
                raise InputError(path, None, "final_decision", f"expected yes, no or maybe: {label!r:.30}")
            if pmid in gt and gt[pmid] != label:
                raise InputError(path, None, "final_decision", f"{label!r} but {gt_rel} says {gt[pmid]!r}")
            question, context = text(entry, "QUESTION", path, None), context_of(entry, path)
        col.add(i, ori_rel, ("key", pmid), question=question, options=dict(OPTIONS), answer=[GOLD[label]],
                context=context, fields={"answer": "final_decision"},
                extra={"pmid": pmid, "year": optional_text(entry, "YEAR"),
                       "long_answer": optional_text(entry, "LONG_ANSWER")})
