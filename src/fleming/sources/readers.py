"""Streaming readers for the source formats: CSV, xlsx and whole-file JSON (JSONL is ``fleming.io``).

Each yields (location, row) and turns every decoding or structural problem into ``InputError`` naming
the file, the line (text files) or the row (xlsx) and, where it applies, the field.
"""

from __future__ import annotations

import csv
import json
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from fleming.errors import InputError


def decoded_lines(path: Path) -> Iterator[str]:
    """Lines of a UTF-8 text file (a leading BOM is dropped); bad bytes name their line."""
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise InputError(path, lineno, None, f"not UTF-8 ({e.reason}, byte {e.start})") from None
            yield text.removeprefix("\ufeff") if lineno == 1 else text


def iter_csv(path: Path, columns: Sequence[str] | None = None,
             required: Sequence[str] = ()) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (first line of the record, {column: value}) for each data row.

    With ``columns`` the file has no header row and those are its columns; otherwise the first row is
    the header and must contain every ``required`` column. Every row must have as many fields as columns.
    """
    reader = csv.reader(decoded_lines(path))
    try:
        if columns is None:
            header = next(reader, None)
            if header is None:
                raise InputError(path, 1, None, "empty file, expected a CSV header row")
            missing = [c for c in required if c not in header]
            if missing:
                raise InputError(path, 1, missing[0], f"column missing from the header {header}")
            columns = header
        start = reader.line_num + 1
        for row in reader:
            if row:
                if len(row) != len(columns):
                    raise InputError(path, start, None, f"expected {len(columns)} CSV fields, got {len(row)}")
                yield start, dict(zip(columns, row, strict=True))
            start = reader.line_num + 1
    except csv.Error as e:
        raise InputError(path, reader.line_num, None, f"malformed CSV: {e}") from None


def iter_xlsx(path: Path, required: Sequence[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (spreadsheet row number, {header: cell value}) from the first sheet, streaming.

    openpyxl's read-only mode parses the sheet XML as it goes, so memory stays flat. Blank rows are
    skipped; the header is row 1 and must contain every ``required`` column.
    """
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError) as e:
        raise InputError(path, None, None, f"not a readable .xlsx file ({type(e).__name__}: {e})") from None
    try:
        rows = wb.worksheets[0].iter_rows(values_only=True)
        header = [str(h) if h is not None else "" for h in next(rows, ())]
        missing = [c for c in required if c not in header]
        if missing:
            raise InputError(path, 1, missing[0], f"column missing from the header row {header}")
        for rowno, values in enumerate(rows, start=2):
            if all(v is None for v in values):
                continue
            yield rowno, dict(zip(header, values, strict=False))
    finally:
        wb.close()


def read_json(path: Path) -> Any:
    """A whole JSON document (for formats that cannot stream: one dict keyed by id, column-oriented)."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise InputError(path, line, None, f"not valid UTF-8 ({e.reason} at byte {e.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(path, e.lineno, None, f"invalid JSON: {e.msg} (column {e.colno})") from None
