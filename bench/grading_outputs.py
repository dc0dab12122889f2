"""Answer extraction on every real-output file in ../shared/benchmarks/_outputs: agreement with each
file's official extractor, adjudicated error of both, unparsed rate and the reasons of the nulls.

    python bench/grading_outputs.py [--shared DIR] [--before REV] [--dump SET]

``--before REV`` also grades with ``src/fleming/grading.py`` as committed at REV (git show), for the
before/after table. Truth per row: the hand adjudication in tests/data/grading_adjudications.jsonl
when there is one; else the letter(s) the official extractor, fleming (and ``--before``) all agree
on. Rows where they differ and no adjudication exists are counted as ``unadjudicated``.
``--dump SET`` prints those rows (and every null) of one set with the response's tail, for reading.

Official extractors, as each source's own harness reads its responses:
- MMLU-Pro (TIGER): the stored ``pred``;
- AfriMed-QA (Mixtral): the stored ``preds`` ("" = none);
- AutoMedPrompt (Llama-3 MedQA CoT): its ``benchmark_data.py``, the first standalone capital A-E;
- MIRAGE (GPT-4): MedRAG's ``locate_answer`` on the text after the last ``"answer_choice": "``, an
  ordered list of anchored letter patterns that falls back to "A" when none matches;
- MedReason-Align (DeepSeek, CMB): the ``answer`` field its pipeline parsed from the JSON.
"""

from __future__ import annotations

import argparse
import ast
import csv
import importlib.util
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ADJUDICATIONS = ROOT / "tests" / "data" / "grading_adjudications.jsonl"
Letters = list[str] | None


@dataclass(frozen=True)
class Row:
    set: str
    id: str
    response: str
    options: dict[str, str]
    gold: list[str]
    official: Letters


def _letters(value: object) -> Letters:
    if value is None or value == "":
        return None
    return sorted(str(value).strip().upper()) if isinstance(value, str) else sorted(value)  # type: ignore


def _mmlu_pro(out: Path, rel: str, field: str, name: str) -> Iterator[Row]:
    for r in json.loads((out / rel).read_text(encoding="utf-8")):
        opts = dict(zip("ABCDEFGHIJ", r["options"], strict=False))
        yield Row(name, str(r["question_id"]), r[field], opts, [r["answer"]], _letters(r["pred"]))


def _first_capital(text: str) -> Letters:
    m = re.search(r"\b[A-E]\b", text)  # AutoMedPrompt benchmark_data.py
    return [m.group(0)] if m else None


def _llama3_medqa(out: Path, shared: Path) -> Iterator[Row]:
    items = {}
    with open(shared / "benchmarks/medqa/medagents/test_5options.jsonl", encoding="utf-8") as f:
        for line in f:
            x = json.loads(line)
            items[x["question"].strip()] = x
    csv.field_size_limit(1 << 30)
    with open(out / "llama3_70b_medqa_cot/llama3-70BChat_MedQA_chain_of_thought_results.csv",
              encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))[1:]
    for i, (question, gold, response, *_rest) in enumerate(rows, start=1):
        item = items[question.strip()]
        assert item["answer_idx"] == gold, (i, gold)
        yield Row("llama3_70b_medqa_cot", str(i), response, item["options"], [gold], _first_capital(response))


def _mixtral(out: Path) -> Iterator[Row]:
    path = next((out / "mixtral_medqa_afrimed").glob("medqa_*.csv"))
    with open(path, encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            opts = {k: r[k] for k in "ABCD"}
            yield Row("mixtral_medqa_afrimed", r["sample_id"], r["outputs"], opts, [r["answer"]],
                      _letters(r["preds"]))


_LOCATE = [r"^\s*(A|B|C|D)$", r"^\s*(A|B|C|D) or", r"^\s*(A|B|C|D) and", r"^\s*(A|B|C|D)/",
           r"^\s*(A|B|C|D),", r"[Oo]ption (A|B|C|D)", r":\s*(A|B|C|D)", r"^\s*(A|B|C|D)\.",
           r'^\s*(A|B|C|D)"', r"^\s*(A|B|C|D):"]


def _mirage_official(raw: str) -> Letters:
    """MedRAG/MIRAGE evaluation: ``locate_answer`` of the text after the last answer_choice key."""
    tail = raw.split('"answer_choice": "')[-1].strip()
    for pattern in _LOCATE:
        if found := re.findall(pattern, tail):
            return [found[0].upper()]
    return ["A"]  # the harness's default when nothing matches


def _mirage(out: Path, shared: Path, task: str) -> Iterator[Row]:
    tar = out / f"gpt4_mirage/mirage_{task}_cot_gpt-4-32k.tar"
    if task == "medqa":
        with open(shared / "benchmarks/medqa/citrus/phrases_no_exclude_test.jsonl", encoding="utf-8") as f:
            items = [json.loads(line) for line in f]
    else:
        gt = json.loads((shared / "benchmarks/pubmedqa/test_ground_truth.json").read_text(encoding="utf-8"))
        opts = {"A": "yes", "B": "no", "C": "maybe"}
        gold_of = {v: k for k, v in opts.items()}
    with tarfile.open(tar) as t:
        for m in sorted((m for m in t.getmembers() if m.isfile() and m.name.endswith(".json")),
                        key=lambda m: m.name):
            raw = json.loads(t.extractfile(m).read().decode("utf-8"))[0]  # type: ignore[union-attr]
            key = Path(m.name).stem.removeprefix("test_")
            if task == "medqa":
                item = items[int(key)]
                yield Row(f"gpt4_mirage_{task}", key, raw, item["options"], [item["answer_idx"]],
                          _mirage_official(raw))
            else:
                yield Row(f"gpt4_mirage_{task}", key, raw, opts, [gold_of[gt[key]]], _mirage_official(raw))


def _deepseek_cmb(out: Path) -> Iterator[Row]:
    d = out / "deepseek_cmb_zh"
    items = {}
    with open(d / "cmb_sft_cot_deepseek_selected.jsonl", encoding="utf-8") as f:
        for line in f:
            x = json.loads(line)
            items[x["sample_id"]] = x
    with open(d / "cmb_cot_deepseek_selected_teacher.jsonl", encoding="utf-8") as f:
        for line in f:
            x = json.loads(line)
            item = items.get(x["sample_id"])
            if item is None:
                continue  # 14 teacher rows have no question/gold row
            opts = item["options"] if isinstance(item["options"], dict) else ast.literal_eval(item["options"])
            yield Row("deepseek_cmb_zh", x["sample_id"], x["raw_content"], opts, sorted(item["answer"]),
                      _letters(x["answer"]))


def load_rows(shared: Path) -> dict[str, list[Row]]:
    """Every real-output set, by name, in a fixed order."""
    out = shared / "benchmarks/_outputs"
    tiger = "mmlu_pro_tiger"
    gens: list[tuple[str, Callable[[], Iterator[Row]]]] = [
        ("gemini_mmlu_pro", lambda: _mmlu_pro(out, f"{tiger}/gemini-1.5-pro-002_health_biology_subset.json",
                                              "model_outputs", "gemini_mmlu_pro")),
        ("llama31_70b_mmlu_pro", lambda: _mmlu_pro(
            out, f"{tiger}/Meta-Llama-3_1-70B-Instruct_health_biology_subset.json", "generated_text",
            "llama31_70b_mmlu_pro")),
        ("phi3mini_mmlu_pro", lambda: _mmlu_pro(
            out, "phi3mini_mmlupro/Phi-3-mini-4k-instruct_health_biology_subset.json", "generated_text",
            "phi3mini_mmlu_pro")),
        ("llama3_70b_medqa_cot", lambda: _llama3_medqa(out, shared)),
        ("mixtral_medqa_afrimed", lambda: _mixtral(out)),
        ("gpt4_mirage_medqa", lambda: _mirage(out, shared, "medqa")),
        ("gpt4_mirage_pubmedqa", lambda: _mirage(out, shared, "pubmedqa")),
        ("deepseek_cmb_zh", lambda: _deepseek_cmb(out)),
    ]
    return {name: list(gen()) for name, gen in gens}


def load_adjudications(path: Path = ADJUDICATIONS) -> dict[tuple[str, str], dict]:
    """(set, id) -> {"truth": letters or None, "why": class, ...}."""
    adj = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if line.strip():
                a = json.loads(line)
                key = (a["set"], str(a["id"]))
                if key in adj:
                    raise ValueError(f"{path}:{n}: {key} adjudicated twice")
                adj[key] = {**a, "truth": _letters(a["truth"])}
    return adj


def grader_at(rev: str) -> Callable[..., Letters]:
    """``extract_answer`` from src/fleming/grading.py as committed at ``rev``."""
    src = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:src/fleming/grading.py"],
                         check=True, capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "grading_before.py"
    path.write_text(src, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("grading_before", path)
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules["grading_before"] = mod
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod.extract_answer


def _pct(k: int, n: int) -> str:
    return f"{100 * k / n:.2f}% ({k})" if n else "-"


def measure(rows: list[Row], extractors: dict[str, Callable[..., Letters]],
            adj: dict[tuple[str, str], dict]) -> dict:
    """Per-extractor agreement with official, error against the truth, unparsed; null reasons."""
    preds = {name: [fn(r.response, r.options) for r in rows] for name, fn in extractors.items()}
    res: dict = {"n": len(rows), "unadjudicated": [], "null_reasons": Counter()}
    wrong = Counter()
    last = list(extractors)[-1]
    for i, r in enumerate(rows):
        votes = [r.official] + [preds[k][i] for k in extractors]
        a = adj.get((r.set, r.id))
        if a is not None:
            truth = a["truth"]
        elif all(v == votes[0] for v in votes):
            truth = votes[0]
        else:
            res["unadjudicated"].append(r.id)
            continue
        wrong["official"] += r.official != truth
        for k in extractors:
            wrong[k] += preds[k][i] != truth
        if preds[last][i] is None:
            res["null_reasons"][a["why"] if a else "unread (official also null)"] += 1
    for k in extractors:
        p = preds[k]
        res[k] = {"agree": sum(x == r.official for x, r in zip(p, rows, strict=True)),
                  "unparsed": sum(x is None for x in p), "error": wrong[k],
                  "accuracy": sum(x == r.gold for x, r in zip(p, rows, strict=True))}
    res["official"] = {"unparsed": sum(r.official is None for r in rows), "error": wrong["official"],
                       "accuracy": sum(r.official == r.gold for r in rows)}
    res["preds"] = preds
    return res


END_SETS = ("gemini_mmlu_pro", "llama31_70b_mmlu_pro", "phi3mini_mmlu_pro", "gpt4_mirage_medqa")


def cut_probe(rows: list[Row], extractors: dict[str, Callable[..., Letters]]) -> dict[str, int]:
    """Precision probe: each response cut at 30/60/90% of its length (mid-reasoning, before the final
    answer these models write at the end). A letter read from a cut response was read from the middle
    of the reasoning, unless the cut happens to fall just after a complete answer."""
    out = {"n": 0, **{k: 0 for k in extractors}}
    for r in rows:
        for frac in (0.3, 0.6, 0.9):
            cut = r.response[:int(len(r.response) * frac)]
            out["n"] += 1
            for k, fn in extractors.items():
                out[k] += fn(cut, r.options) is not None
    return out


def dump(rows: list[Row], res: dict, adj: dict, extractors: list[str]) -> None:
    for i, r in enumerate(rows):
        votes = {"official": r.official, **{k: res["preds"][k][i] for k in extractors}}
        if len({json.dumps(v) for v in votes.values()}) > 1 or votes[extractors[-1]] is None:
            a = adj.get((r.set, r.id))
            tail = r.response[-700:].replace("\n", "⏎ ")
            head = {"id": r.id, **votes, "gold": r.gold, "adj": a and a["truth"]}
            print(json.dumps(head, ensure_ascii=False))
            print("   ", tail, "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--before", default=None, help="git revision whose grading.py is 'before'")
    ap.add_argument("--dump", default=None, help="print the disagreements and nulls of this set")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from fleming.grading import extract_answer

    extractors = ({"before": grader_at(args.before)} if args.before else {}) | {"after": extract_answer}
    adj = load_adjudications() if ADJUDICATIONS.exists() else {}
    sets = load_rows(args.shared)
    cols = " | ".join(f"{k} agree | {k} error | {k} unparsed" for k in extractors)
    print(f"| set | n | official error | official unparsed | {cols} | unadjudicated |")
    print("|---" * (5 + 3 * len(extractors)) + "|")
    reasons = {}
    for name, rows in sets.items():
        if args.dump and name != args.dump:
            continue
        res = measure(rows, extractors, adj)
        n = res["n"]
        cells = " | ".join(f"{_pct(res[k]['agree'], n)} | {_pct(res[k]['error'], n)} | "
                           f"{_pct(res[k]['unparsed'], n)}" for k in extractors)
        print(f"| {name} | {n} | {_pct(res['official']['error'], n)} | "
              f"{_pct(res['official']['unparsed'], n)} | {cells} | {len(res['unadjudicated'])} |")
        reasons[name] = res["null_reasons"]
        if args.dump:
            dump(rows, res, adj, list(extractors))
    print("\nnulls of the last extractor, by adjudicated reason:")
    for name, c in reasons.items():
        print(f"  {name}: " + (", ".join(f"{k} {v}" for k, v in c.most_common()) or "none"))
    if args.dump:
        return
    every = [r for rows in sets.values() for r in rows]
    for k, fn in extractors.items():
        t0 = time.perf_counter()
        for r in every:
            fn(r.response, r.options)
        per = 1e6 * (time.perf_counter() - t0) / len(every)
        print(f"{k}: {per:.0f} us per response ({len(every)} responses)")
    print("\nprecision probe: responses of the answer-at-the-end files cut at 30/60/90%, letters read:")
    for name in END_SETS:
        p = cut_probe(sets[name], extractors)
        read = ", ".join(f"{k} {_pct(p[k], p['n'])}" for k in extractors)
        print(f"  {name}: {p['n']} cut responses; {read}")


if __name__ == "__main__":
    main()
