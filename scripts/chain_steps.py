"""Where a model's chains go wrong, per question type: the share of greedy validation chains (from a
`fleming run` with `eval.split: validation`) that copy the findings line, recall the key, end on the gold
conclusion, name an option, and write the letter of the option their own conclusion names
(docs/ablation.md, runs V1-V3).

    PYTHONPATH=src python scripts/chain_steps.py RUN_DIR sft [path|options|letters]
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter

from fleming.cot.grounded import grounded_chain, kg_names
from fleming.io import read_records
from fleming.kg.store import KG

THINK = re.compile(r"<think>\n(.*?)\n</think>", re.S)
CONCLUSION = re.compile(r"So the answer is (.*)\.$")


def steps(row: dict, record, gold: list[str]) -> dict[str, bool]:
    m = THINK.search(row["responses"][0])
    lines = m.group(1).splitlines() if m else []
    last = lines[-1] if lines else ""
    said = CONCLUSION.match(last)
    said = said.group(1) if said else None
    letter = said if said in record.options else next(
        (k for k, v in record.options.items() if v == said), None)
    mid = [g for g in gold if g.startswith("So the patient most likely has")]
    out = {"findings line": bool(lines) and lines[0] == gold[0], "conclusion = gold": last == gold[-1],
           "conclusion names an option": letter is not None,
           "letter = conclusion's option": letter is not None and row.get("extracted") == [letter],
           "correct": bool(row["correct"])}
    if mid:
        out["key recalled"] = mid[0] in lines
    return out


def main(run: str, stage: str, order: str = "path") -> None:
    records = {r.id: r for r in read_records(f"{run}/split/validation.jsonl")}
    names = kg_names(KG.load(f"{run}/kg"))
    hits: dict[str, Counter] = {}
    seen: dict[str, Counter] = {}
    with open(f"{run}/eval/{stage}/greedy/heldout.jsonl") as f:
        for line in f:
            row = json.loads(line)
            r = records[row["id"]]
            t = r.metadata.question_type
            for k, ok in steps(row, r, grounded_chain(r, names, order).splitlines()).items():
                hits.setdefault(t, Counter())[k] += ok
                seen.setdefault(t, Counter())[k] += 1
    for t in sorted(hits):
        print(t, seen[t]["correct"], {k: round(100 * v / seen[t][k], 1) for k, v in hits[t].items()})


if __name__ == "__main__":
    main(*sys.argv[1:])
