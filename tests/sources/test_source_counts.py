"""Every loader on the real files: the counts the issue expects, the record schema, ids, provenance."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from fleming.records import LETTERS
from fleming.sources.registry import BENCHMARKS, REGISTRY, loader_names

# (kept, rows read, drop reasons) from the issue and INVENTORY.md, written out here, not taken from the code.
EXPECTED = {
    "medqa": (1273, 1273, {}),
    "medqa_5opt": (1273, 1273, {}),
    "medqa_dev": (1272, 1272, {}),
    "medqa_dev_5opt": (1272, 1272, {}),
    "medqa_train_sample": (50, 50, {}),
    "medqa_inline": (1273, 1273, {}),
    "medqa_citrus": (1273, 1273, {}),
    "medmcqa": (4183, 4183, {}),
    "medmcqa_structured": (4183, 4183, {}),
    "pubmedqa": (500, 1000, {"train/dev part (not in the test ground truth)": 500}),
    "pubmedqa_train": (500, 1000, {"test part (in the test ground truth)": 500}),
    "pubmedqa_pqal": (1000, 1000, {}),  # the paper's Table 1 count
    "medxpertqa": (2450, 2450, {}),
    "mmlu_pro_biology": (717, 717, {}),
    "mmlu_pro_health": (818, 818, {}),
    "careqa": (5621, 5623, {"row of bare NaN values": 2}),
    "medbullets": (298, 308, {"duplicate question (identical item)": 10}),
    "medbullets_json": (298, 308, {"duplicate question (identical item)": 10}),
    "medbullets_op4": (298, 308, {"duplicate question (identical item)": 4,
                                  "duplicate question (different option set)": 6}),
    "medbullets_op4_json": (298, 308, {"duplicate question (identical item)": 4,
                                       "duplicate question (different option set)": 6}),
    "jmed": (1094, 1094, {}),
    "cmexam": (6810, 6811, {"no gold answer (Answer is 'nan')": 1}),
    "mmlu_medical": (1089, 1089, {}),
    "mmlu_medical_inline": (1089, 1089, {}),
}
OPTION_COUNTS = {  # option count -> items
    "medqa": {4: 1273}, "medqa_5opt": {5: 1273}, "medqa_dev_5opt": {5: 1272}, "medxpertqa": {10: 2450},
    "mmlu_pro_biology": {10: 617, 4: 40, 9: 33, 8: 13, 6: 6, 7: 5, 5: 2, 3: 1},
    "mmlu_pro_health": {10: 597, 4: 72, 9: 67, 8: 42, 7: 21, 5: 8, 6: 8, 3: 3},
    "careqa": {4: 5621}, "medbullets": {5: 298}, "medbullets_op4": {4: 298}, "jmed": {5: 1094},
    "pubmedqa": {3: 500}, "cmexam": {5: 6605, 4: 205},  # INVENTORY: 205 items have 4
}


def test_registry_has_the_required_names():
    required = {"medqa", "medmcqa", "pubmedqa", "medxpertqa", "mmlu_pro_biology", "mmlu_pro_health",
                "careqa", "medbullets", "jmed", "cmexam", "medqa_5opt", "medqa_dev", "medqa_dev_5opt",
                "medqa_train_sample", "pubmedqa_train", "medmcqa_structured", "medqa_inline", "medqa_citrus"}
    assert required <= set(loader_names())
    assert set(BENCHMARKS) <= set(loader_names())
    assert set(EXPECTED) == set(loader_names()), "every loader has an expected count here"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_counts_and_drop_reasons(loaded, name):
    kept, read, reasons = EXPECTED[name]
    res = loaded(name)
    assert (res.stats.n_kept, res.stats.n_in, dict(res.stats.dropped)) == (kept, read, reasons)
    assert len(res.records) == kept and res.stats.reconciles()
    assert REGISTRY[name].expected == kept


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_schema_ids_and_provenance(loaded, benchmarks_dir, name):
    res, spec = loaded(name), REGISTRY[name]
    rows = (benchmarks_dir / "SOURCES.jsonl").read_text().splitlines()
    pinned = {o["file"]: o["sha256"] for o in map(json.loads, rows)}
    assert set(res.files) == set(spec.files)
    assert all(pinned[f] == h for f, h in res.files.items()), "sha256 differs from SOURCES.jsonl"
    ids = [r.id for r in res.records]
    assert len(set(ids)) == len(ids)
    for r in res.records:
        assert re.fullmatch(rf"{re.escape(spec.prefix)}-\d+", r.id)
        assert (r.source, r.split, r.language) == (spec.source, spec.split, spec.language)
        assert list(r.options) == list(LETTERS[:len(r.options)]) and r.question.strip()
        assert "Answer Choices:" not in r.question
        prov = r.metadata.provenance
        assert prov["file"] in res.files and prov["sha256"] == res.files[prov["file"]]
        assert ("line" in prov) or ("row" in prov) or ("key" in prov)


@pytest.mark.parametrize("name", sorted(OPTION_COUNTS))
def test_option_counts(loaded, name):
    assert Counter(len(r.options) for r in loaded(name).records) == OPTION_COUNTS[name]


def test_ids_are_stable_across_loads(benchmarks_dir, loaded):
    from fleming.sources.registry import load

    again = load("careqa", benchmarks_dir)
    assert [r.id for r in again.records] == [r.id for r in loaded("careqa").records]
    assert again.records[1000].id == "careqa-test-1000" and again.records[1001].id == "careqa-test-1003"
