"""Reading and writing records: JSONL and Parquet, sha256, run directories and done markers.

Every reader error names the file, the line and the field (see ``errors.InputError``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from fleming.errors import InputError
from fleming.records import MCQ, first_error


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line; bad JSON or encoding raises InputError."""
    path = Path(path)
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                msg = f"not valid UTF-8 ({e.reason} at byte {e.start})"
                raise InputError(path, lineno, None, msg) from None
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as e:
                raise InputError(path, lineno, None, f"invalid JSON: {e.msg} (column {e.colno})") from None
            if not isinstance(obj, dict):
                raise InputError(path, lineno, None, f"expected a JSON object, got {type(obj).__name__}")
            yield lineno, obj


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write rows atomically (temp file, then rename). Returns the row count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    with open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    os.replace(tmp, path)
    return n


def record_from_dict(obj: dict[str, Any], path: str | Path, line: int) -> MCQ:
    try:
        return MCQ.model_validate(obj)
    except ValidationError as e:
        field, msg = first_error(e)
        raise InputError(path, line, field, msg) from None


def read_records(path: str | Path) -> Iterator[MCQ]:
    """Records from .jsonl (one MCQ per line) or .parquet (flat rows)."""
    path = Path(path)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        for i, row in enumerate(pq.read_table(path).to_pylist(), start=1):
            try:
                yield MCQ.from_row(row)
            except (ValidationError, KeyError, ValueError) as e:
                field, msg = first_error(e) if isinstance(e, ValidationError) else (str(e), "missing or bad")
                raise InputError(path, i, field, msg) from None
        return
    for lineno, obj in iter_jsonl(path):
        yield record_from_dict(obj, path, lineno)


def write_records(path: str | Path, records: Iterable[MCQ]) -> int:
    path = Path(path)
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = [r.to_row() for r in records]
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(rows, schema=ROW_SCHEMA()), path)
        return len(rows)
    return write_jsonl(path, (r.model_dump(mode="json") for r in records))


def ROW_SCHEMA():  # noqa: N802 - a constant built lazily so pyarrow is imported only when needed
    import pyarrow as pa

    return pa.schema([
        ("id", pa.string()), ("source", pa.string()), ("split", pa.string()), ("question", pa.string()),
        ("options", pa.list_(pa.string())), ("answer", pa.list_(pa.string())), ("context", pa.string()),
        ("language", pa.string()), ("metadata", pa.string()),
    ])


def to_hf_dataset(records: Iterable[MCQ]):
    """A Hugging Face ``datasets.Dataset`` of flat rows (metadata as a JSON string)."""
    import datasets

    rows = [r.to_row() for r in records]
    cols = {k: [r[k] for r in rows] for k in ROW_SCHEMA().names}
    return datasets.Dataset.from_dict(cols, features=datasets.Features.from_arrow_schema(ROW_SCHEMA()))


def from_hf_dataset(ds) -> list[MCQ]:
    return [MCQ.from_row(row) for row in ds]


# ---- run directories: one folder per stage, a done marker when a stage finishes ----
def stage_dir(run_dir: str | Path, stage: str) -> Path:
    d = Path(run_dir) / stage
    d.mkdir(parents=True, exist_ok=True)
    return d


def is_done(stage_path: str | Path) -> bool:
    return (Path(stage_path) / ".done").exists()


def mark_done(stage_path: str | Path, info: dict[str, Any] | None = None) -> None:
    (Path(stage_path) / ".done").write_text(json.dumps(info or {}, indent=1))


def write_json(path: str | Path, obj: Any) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=str))
    os.replace(tmp, path)
