"""MMLU medical subset (the six MultiMedQA subjects, test split; not one of the paper's nine benchmarks).

Citrus copy: one headerless CSV per subject, ``<subject>_test.csv``, columns question, A, B, C, D,
answer letter. The files are read in the order given (alphabetical), the order of the MedXpertQA repo's
inline copy, so both forms give the same record ids.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from fleming.sources.base import Collector
from fleming.sources.fields import letter, text
from fleming.sources.readers import iter_csv

COLUMNS = ("question", "A", "B", "C", "D", "answer")


def load_mmlu_csv(col: Collector, *rels: str) -> None:
    for rel in rels:
        path = col.path(rel)
        subject = PurePosixPath(rel).stem.removesuffix("_test")
        for line, row in iter_csv(path, columns=COLUMNS):
            i = col.row()
            options = {k: text(row, k, path, line) for k in "ABCD"}
            col.add(i, rel, ("line", line), question=text(row, "question", path, line), options=options,
                    answer=[letter(row["answer"], path, line, "answer")], meta={"subject": subject})
