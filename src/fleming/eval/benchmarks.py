"""The benchmark table: one typed entry per benchmark, in the column order of the paper's Table 3.

A lighteval-style task table in plain Python: each entry names the loader (``fleming.sources``
registry), the prompt id, a task version (bump it when the task definition changes, so stale results
are never mixed with new ones), the option count, the language and the metadata fields that give
per-category breakdowns.

Departures from the paper:
- JMED: only the early 1,094-item, 5-option release is available here (the paper used the 1,000-item,
  21-option release), so JMED scores are not comparable with Table 3.
- CMExam is in the table for Chinese evaluation but is not one of the nine Table 3 benchmarks, so it
  is left out of the macro average.
- PubMedQA: the paper's Table 1 counts 1,000 items, the whole expert-labelled PQA-L set; ``pubmedqa``
  (in the average) is the 500 official test PMIDs, and ``pubmedqa_pqal`` is the 1,000 for comparison
  with the paper's numbers. Half of it is PQA-L's train/dev part (the ``pubmedqa_train`` loader), so
  ``overlap_warnings`` flags a run whose model was trained on that.

>>> [b.display for b in table3()][:3]
['CareQA', 'JMED', 'Medbullets']
"""

from __future__ import annotations

from dataclasses import dataclass

from fleming.errors import ConfigError

DEFAULT_PROMPT_ID = "fleming-mcq-v1"  # = fleming.prompts.DEFAULT_PROMPT
ZH_PROMPT_ID = "fleming-mcq-v1-zh"


@dataclass(frozen=True)
class Category:
    """A per-category breakdown: ``field`` is a ``Metadata`` attribute, or ``extra.KEY``."""

    name: str
    field: str


@dataclass(frozen=True)
class Benchmark:
    name: str  # key used on the command line and for DIR/<name>.jsonl
    display: str  # column header (the paper's Table 3 name)
    loader: str  # fleming.sources registry name
    n_options: int  # options per item (the maximum when ``variable_options``)
    language: str = "en"
    variable_options: bool = False
    prompt_id: str = DEFAULT_PROMPT_ID
    version: str = "1"
    table3: bool = True  # one of the paper's nine: counted in the macro average
    expected_n: int | None = None  # items in the evaluation split here (NOTES.md §1)
    categories: tuple[Category, ...] = ()
    note: str = ""
    contains: tuple[str, ...] = ()  # training loaders (fleming.sources) whose items are in this benchmark

    def check_options(self, n: int) -> str | None:
        """Why an item with ``n`` options does not fit this benchmark, or None when it does."""
        if n > self.n_options or (not self.variable_options and n != self.n_options):
            want = f"at most {self.n_options}" if self.variable_options else f"{self.n_options}"
            return f"{self.name}: expected {want} options, got {n}"
        return None

    def check_count(self, n: int) -> str | None:
        """A note when the loader gave another item count than the snapshot in ../shared has."""
        if self.expected_n is not None and n != self.expected_n:
            return f"{self.name}: {n} items, where the ../shared snapshot has {self.expected_n}"
        return None


_CARE = (Category("category", "subject"),)
BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in [
    # Table 3 column order: CareQA, JMED, Medbullets, MedMCQA, MedQA, MedXpertQA, PubMedQA, MMLU-Pro x2.
    Benchmark("careqa", "CareQA", "careqa", 4, expected_n=5621, categories=_CARE,
              note="CareQA English close-ended; 2 all-NaN rows dropped by the loader"),
    Benchmark("jmed", "JMED", "jmed", 5, language="zh", prompt_id=ZH_PROMPT_ID, expected_n=1094,
              note="early 5-option release; the paper used the 1000-item, 21-option release"),
    Benchmark("medbullets", "Medbullets", "medbullets", 5, expected_n=298,
              note="op5, de-duplicated to 298 unique questions"),
    Benchmark("medmcqa", "MedMCQA", "medmcqa", 4, expected_n=4183,
              categories=(Category("subject", "subject"),)),
    Benchmark("medqa", "MedQA", "medqa", 4, expected_n=1273, categories=(Category("step", "exam"),),
              note="USMLE test, 4 options"),
    Benchmark("medxpertqa", "MedXpertQA", "medxpertqa", 10, expected_n=2450,
              categories=(Category("body_system", "body_system"),
                          Category("question_type", "question_type")),
              note="MedXpertQA-Text, 10 options (A-J)"),
    Benchmark("pubmedqa", "PubMedQA", "pubmedqa", 3, expected_n=500,
              note="PQA-L test: the 500 ground-truth PMIDs, yes/no/maybe, abstract as context"),
    Benchmark("pubmedqa_pqal", "PubMedQA (1000)", "pubmedqa_pqal", 3, table3=False, expected_n=1000,
              contains=("pubmedqa_train",),
              note="PQA-L, all 1000 expert-labelled items as the paper's Table 1 counts them (compare "
                   "with the paper's PubMedQA column); half are PQA-L's train/dev part"),
    Benchmark("mmlu_pro_biology", "MMLU-Pro Biology", "mmlu_pro_biology", 10, variable_options=True,
              expected_n=717),
    Benchmark("mmlu_pro_health", "MMLU-Pro Health", "mmlu_pro_health", 10, variable_options=True,
              expected_n=818),
    Benchmark("cmexam", "CMExam", "cmexam", 5, language="zh", variable_options=True, table3=False,
              prompt_id=ZH_PROMPT_ID, expected_n=6810,
              note="validation split (4-5 options, multi-answer items); not in Table 3 or the average"),
]}

# The paper's Table 3 (accuracy %), for reference rows beside a run's own results. (The paper's PubMedQA
# figure is over the 1,000-item set: compare it with ``pubmedqa_pqal``.)
PAPER_TABLE3: dict[str, dict[str, float]] = {
    "Fleming-R1-7B (paper)": {
        "careqa": 77.28, "jmed": 59.60, "medbullets": 57.05, "medmcqa": 64.16, "medqa": 75.10,
        "medxpertqa": 19.14, "pubmedqa": 78.60, "mmlu_pro_biology": 74.76, "mmlu_pro_health": 64.67,
    },
    "Fleming-R1-32B (paper)": {
        "careqa": 90.41, "jmed": 68.70, "medbullets": 76.51, "medmcqa": 74.52, "medqa": 89.32,
        "medxpertqa": 30.33, "pubmedqa": 80.40, "mmlu_pro_biology": 90.93, "mmlu_pro_health": 77.63,
    },
}
PAPER_AVERAGES = {"Fleming-R1-7B (paper)": 63.37, "Fleming-R1-32B (paper)": 75.42}


def table3() -> list[Benchmark]:
    """The paper's nine benchmarks, in Table 3 column order."""
    return [b for b in BENCHMARKS.values() if b.table3]


def get(name: str) -> Benchmark:
    try:
        return BENCHMARKS[name]
    except KeyError:
        raise ConfigError(f"unknown benchmark {name!r}; expected one of {', '.join(BENCHMARKS)}") from None


def parse_list(spec: str | None) -> list[Benchmark]:
    """``"medqa,pubmedqa"`` -> entries in table order; ``None`` or ``"all"`` -> the nine of Table 3
    (``"all,cmexam"`` adds CMExam).

    >>> [b.name for b in parse_list("pubmedqa,medqa")]
    ['medqa', 'pubmedqa']
    """
    if spec is None or not spec.strip():
        return table3()
    names: list[str] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        for n in ([b.name for b in table3()] if part == "all" else [get(part).name]):
            if n not in names:
                names.append(n)
    if not names:
        raise ConfigError(f"--benchmarks {spec!r} names no benchmark")
    return [b for b in BENCHMARKS.values() if b.name in names]


def overlap_warnings(benches: list[Benchmark], train_sources: list[str] | tuple[str, ...]) -> list[str]:
    """One line per benchmark that contains items of a source the model was trained on in this run.

    >>> overlap_warnings([get("pubmedqa_pqal"), get("pubmedqa")], ["pubmedqa_train", "medqa_dev"])
    ["pubmedqa_pqal contains the items of the training source 'pubmedqa_train': its score is not held out"]
    """
    return [f"{b.name} contains the items of the training source {src!r}: its score is not held out"
            for b in benches for src in b.contains if src in train_sources]


def category_value(metadata, field: str) -> str | None:
    """The breakdown value of a record's ``Metadata`` (``extra.KEY`` reads ``metadata.extra``)."""
    value = metadata.extra.get(field[len("extra."):]) if field.startswith("extra.") else (
        getattr(metadata, field, None))
    return None if value is None else str(value)
