"""The table of loaders: every benchmark split and training set, by name.

>>> "medqa" in loader_names()
True

Evaluation splits carry the benchmark's own name (``medqa``, ``medmcqa``, ``pubmedqa``, ``medxpertqa``,
``mmlu_pro_biology``, ``mmlu_pro_health``, ``careqa``, ``medbullets``, ``jmed``, ``cmexam``); variants
carry a suffix. Several forms of the same items (``medqa_inline``, ``medqa_citrus``,
``medmcqa_structured``, ``medbullets_json``) share the record ids of the canonical form, so they can be
compared item by item.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

from fleming.errors import ConfigError
from fleming.sources import (
    careqa,
    cmexam,
    jmed,
    medbullets,
    medmcqa,
    medqa,
    medxpertqa,
    mmlu_medical,
    mmlu_pro,
)
from fleming.sources import pubmedqa as pqa
from fleming.sources.base import Collector, LoadResult, Source
from fleming.sources.inline import load_inline, medmcqa_fields, mmlu_fields

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_DATA_DIR = Path(os.environ.get("FLEMING_DATA_DIR") or REPO_ROOT.parent / "shared" / "benchmarks")

PQAL = ("pubmedqa/ori_pqal.json", "pubmedqa/test_ground_truth.json")
MMLU_SUBJECTS = ("anatomy", "clinical_knowledge", "college_biology", "college_medicine", "medical_genetics",
                 "professional_medicine")

SOURCES: tuple[Source, ...] = (
    # ---- the paper's nine benchmarks (plus MMLU-Pro's two subsets), evaluation splits ----
    Source("medqa", "MedQA USMLE test, 4 options (jind11 format)", "medqa", "test",
           ("medqa/medagents/test.jsonl",), medqa.load_jind11, 1273),
    Source("medmcqa", "MedMCQA dev, options parsed out of the question (MedXpertQA repo copy)", "medmcqa",
           "dev", ("medmcqa/medxpertqa_repo/medmcqa_input.jsonl",),
           partial(load_inline, describe=medmcqa_fields), 4183),
    Source("pubmedqa", "PubMedQA PQA-L test: the 500 ground-truth PMIDs; yes/no/maybe as A/B/C; abstract as "
           "context", "pubmedqa", "test", PQAL, partial(pqa.load_pqal, part="test"), 500),
    Source("medxpertqa", "MedXpertQA Text test, 10 options, body system, task, question type", "medxpertqa",
           "test", ("medxpertqa/text_full/medxpertqa_text_test.jsonl",), medxpertqa.load_medxpertqa, 2450),
    Source("mmlu_pro_biology", "MMLU-Pro biology, 3-10 options", "mmlu_pro_biology", "test",
           ("mmlu_pro/citrus/mmlu-pro_biology.jsonl",), mmlu_pro.load_mmlu_pro, 717),
    Source("mmlu_pro_health", "MMLU-Pro health, 3-10 options", "mmlu_pro_health", "test",
           ("mmlu_pro/citrus/mmlu-pro_health.jsonl",), mmlu_pro.load_mmlu_pro, 818),
    Source("careqa", "CareQA English close-ended, 4 options; the 2 bare-NaN rows dropped", "careqa", "test",
           ("careqa/citrus/care_qa.jsonl",), careqa.load_careqa, 5621),
    Source("medbullets", "Medbullets op5 (CSV), de-duplicated to 298 unique questions", "medbullets", "test",
           ("medbullets/medbullets_op5.csv",), medbullets.load_csv, 298),
    Source("jmed", "JMED early release (xlsx), 1094 items, 5 options, Chinese", "jmed", "test",
           ("jmed/citrus/20250122_sample_multiple_choice_1094_qwenscored_adjusted.xlsx",), jmed.load_jmed,
           1094, language="zh"),
    Source("cmexam", "CMExam val (xlsx), 4-5 options, multi-answer items flagged, Chinese", "cmexam", "val",
           ("cmexam/kyre99/val.xlsx",), cmexam.load_cmexam, 6810, language="zh"),
    # ---- variants and training-side splits ----
    Source("medqa_5opt", "MedQA USMLE test, 5 options (the original 5th distractor)", "medqa", "test",
           ("medqa/medagents/test_5options.jsonl",), medqa.load_jind11, 1273, id_prefix="medqa_5opt-test"),
    Source("medqa_dev", "MedQA USMLE dev, 4 options", "medqa", "dev",
           ("medqa/medgenie_dev/phrases_no_exclude_dev.jsonl",), medqa.load_jind11, 1272),
    Source("medqa_dev_5opt", "MedQA USMLE dev, 5 options", "medqa", "dev", ("medqa/medgenie_dev/dev.jsonl",),
           medqa.load_jind11, 1272, id_prefix="medqa_5opt-dev"),
    Source("medqa_train_sample", "MedQA USMLE train, a 50-item sample (the full 10178 is not in shared/)",
           "medqa", "train", ("medqa/citrus/medqa_train_small.jsonl",), medqa.load_jind11, 50),
    Source("medqa_inline", "MedQA test in the MedXpertQA repo's inline 'Answer Choices:' format", "medqa",
           "test", ("medqa/medxpertqa_repo/medqa_input.jsonl",), load_inline, 1273),
    Source("medqa_citrus", "MedQA test in the Citrus unified OP format", "medqa", "test",
           ("medqa/citrus_unified/medqa.jsonl",), medqa.load_citrus, 1273),
    Source("medmcqa_structured", "MedMCQA dev, structured copy (Medpredict: choices list, answer index)",
           "medmcqa", "dev", ("medmcqa/medpredict/validation.jsonl",), medmcqa.load_structured, 4183),
    Source("pubmedqa_train", "PubMedQA PQA-L train/dev part: the 500 PMIDs outside the test ground truth",
           "pubmedqa", "train", PQAL, partial(pqa.load_pqal, part="train"), 500),
    Source("pubmedqa_pqal", "PubMedQA PQA-L, all 1000 expert-labelled items (the paper's Table 1 count): the "
           "500 test PMIDs and the 500 train/dev ones", "pubmedqa", "pqal", PQAL,
           partial(pqa.load_pqal, part="all"), 1000),
    Source("medbullets_op4", "Medbullets op4 (CSV), de-duplicated to 298 unique questions", "medbullets",
           "test", ("medbullets/medbullets_op4.csv",), medbullets.load_csv, 298,
           id_prefix="medbullets_op4-test"),
    Source("medbullets_json", "Medbullets op5 from the column-oriented JSON (same items as medbullets)",
           "medbullets", "test", ("medbullets/medbullets_op5.json",), medbullets.load_json, 298),
    Source("medbullets_op4_json", "Medbullets op4 from the column-oriented JSON", "medbullets", "test",
           ("medbullets/medbullets_op4.json",), medbullets.load_json, 298, id_prefix="medbullets_op4-test"),
    Source("mmlu_medical", "MMLU medical subjects, test (6 Citrus CSVs; not one of the paper's nine)",
           "mmlu_medical", "test", tuple(f"mmlu_medical/citrus/{s}_test.csv" for s in MMLU_SUBJECTS),
           mmlu_medical.load_mmlu_csv, 1089),
    Source("mmlu_medical_inline", "MMLU medical subjects in the MedXpertQA repo's inline format",
           "mmlu_medical", "test", ("mmlu_medical/medxpertqa_repo/mmlu_medical_input.jsonl",),
           partial(load_inline, describe=mmlu_fields), 1089),
)
REGISTRY: dict[str, Source] = {s.name: s for s in SOURCES}
BENCHMARKS = ("medqa", "medmcqa", "pubmedqa", "medxpertqa", "mmlu_pro_biology", "mmlu_pro_health", "careqa",
              "medbullets", "jmed", "cmexam")


def loader_names() -> list[str]:
    return list(REGISTRY)


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """The data directory: the argument, else $FLEMING_DATA_DIR, else ../shared/benchmarks."""
    if data_dir is not None:
        return Path(data_dir)
    return Path(os.environ["FLEMING_DATA_DIR"]) if os.environ.get("FLEMING_DATA_DIR") else DEFAULT_DATA_DIR


def get(name: str) -> Source:
    if name not in REGISTRY:
        raise ConfigError(f"unknown data source {name!r}; known: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def load(name: str, data_dir: str | Path | None = None) -> LoadResult:
    """Load one registered source. Malformed input raises ``InputError`` (file, line or row, field)."""
    spec = get(name)
    col = Collector(spec, resolve_data_dir(data_dir))
    spec.loader(col, *spec.files)
    return col.result()


def pinned_hashes(data_dir: str | Path | None = None) -> dict[str, str]:
    """file -> sha256 as recorded in the data directory's SOURCES.jsonl ({} when there is none)."""
    from fleming.io import iter_jsonl

    path = resolve_data_dir(data_dir) / "SOURCES.jsonl"
    if not path.is_file():
        return {}
    return {obj["file"]: obj["sha256"] for _, obj in iter_jsonl(path) if "file" in obj and "sha256" in obj}
