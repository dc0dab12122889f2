"""What every loader shares: the result type, the source table entry and a collector.

A loader is a plain function ``load_x(col: Collector, *files: str) -> None``: it reads its files (paths
relative to the data directory), calls ``col.row()`` for every row it reads (``col.jsonl(rel)`` does
that for JSONL), ``col.drop(reason)`` for a row that is unusable in a known way (a NaN row, a
duplicate), and ``col.add(...)`` for a row it keeps.
A structurally malformed file or row raises ``InputError`` naming file, line or row, and field. The
collector hashes every file it opens, stamps provenance on each record and keeps the counts, so
``stats.n_in == stats.n_kept + sum(stats.dropped)`` always holds. It strips surrounding whitespace from
the question and option texts (a few copies carry a trailing space or "\n "); nothing else is changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from fleming.errors import InputError
from fleming.io import iter_jsonl, sha256_file
from fleming.records import MCQ, Metadata, first_error
from fleming.steps import Stats


@dataclass
class LoadResult:
    name: str  # registry name, e.g. "medqa"
    records: list[MCQ]
    stats: Stats  # n_in = rows read, n_kept, dropped[reason]; extra = flagged-but-kept counts
    files: dict[str, str]  # source file (relative to the data directory) -> sha256


@dataclass(frozen=True)
class Source:
    """One registry entry: a benchmark split or training set, and the files its loader reads."""

    name: str
    description: str
    source: str  # MCQ.source, the benchmark family ("medqa")
    split: str  # MCQ.split ("test", "dev", "train", "val")
    files: tuple[str, ...]  # relative to the data directory
    loader: Callable[..., None]  # loader(col, *files)
    expected: int  # records kept on the snapshot in ../shared (INVENTORY.md)
    language: str = "en"
    id_prefix: str = ""  # default f"{source}-{split}"; forms of the same items share it

    @property
    def prefix(self) -> str:
        return self.id_prefix or f"{self.source}-{self.split}"


@dataclass
class Collector:
    """Accumulates one load: records, counts and the sha256 of every file opened."""

    spec: Source
    data_dir: Path
    records: list[MCQ] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    stats: Stats = field(init=False)

    def __post_init__(self) -> None:
        self.stats = Stats(self.spec.name)

    def path(self, rel: str) -> Path:
        """Absolute path of a source file; hashes it once and remembers the hash."""
        p = self.data_dir / rel
        if not p.is_file():
            raise InputError(p, None, None, f"file not found (is the data directory {self.data_dir} right?)")
        if rel not in self.files:
            self.files[rel] = sha256_file(p)
        return p

    def row(self) -> int:
        """Count one row read; returns its 0-based index, which becomes the record id's suffix."""
        self.stats.n_in += 1
        return self.stats.n_in - 1

    def jsonl(self, rel: str) -> Iterator[tuple[int, Path, int, dict[str, Any]]]:
        """(record index, path, line, object) for each line of a JSONL source, each counted as read."""
        path = self.path(rel)
        for line, obj in iter_jsonl(path):
            yield self.row(), path, line, obj

    def drop(self, reason: str) -> None:
        self.stats.dropped[reason] += 1

    def flag(self, key: str) -> None:
        """Count a kept record that carries a known quirk (multi-answer, relettered...)."""
        self.stats.extra[key] = self.stats.extra.get(key, 0) + 1

    def add(self, index: int, rel: str, where: tuple[str, int | str], *, question: str,
            options: dict[str, str], answer: list[str], context: str | None = None,
            fields: dict[str, str] | None = None, meta: dict[str, Any] | None = None,
            extra: dict[str, Any] | None = None) -> MCQ:
        """Build, validate and keep one record.

        ``where`` is ("line", n) or ("row", n) in the source file, or ("key", k) for an entry of a JSON
        document keyed by id; ``fields`` maps record fields to the source's own field names so that a
        validation error names the field the user can find in the file.
        """
        kind, n = where
        prov = {"file": rel, "sha256": self.files[rel], kind: n}
        try:
            rec = MCQ(id=f"{self.spec.prefix}-{index}", source=self.spec.source, split=self.spec.split,
                      question=question.strip(), options={k: v.strip() for k, v in options.items()},
                      answer=answer, context=context,
                      language=self.spec.language,
                      metadata=Metadata(**(meta or {}), provenance=prov,
                                        extra={k: v for k, v in (extra or {}).items() if v is not None}))
        except ValidationError as e:
            fld, msg = first_error(e)
            top = fld.split(".")[0]
            src = (fields or {}).get(top)
            fld = f"{src} ({top})" if src else fld
            if kind in ("line", "row"):
                raise InputError(self.data_dir / rel, int(n), fld, msg) from None
            raise InputError(self.data_dir / rel, None, f"{n}.{fld}", msg) from None
        self.records.append(rec)
        self.stats.n_kept += 1
        return rec

    def result(self) -> LoadResult:
        return LoadResult(self.spec.name, self.records, self.stats, self.files)
