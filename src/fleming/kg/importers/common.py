"""Helpers shared by importers: open plain or gzipped files, read TSV rows with line numbers, find files."""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from pathlib import Path

from fleming.errors import InputError


def find_file(directory: Path, name: str) -> Path:
    """``name`` or ``name.gz`` inside ``directory``; InputError naming both when neither exists."""
    for cand in (directory / name, directory / f"{name}.gz"):
        if cand.is_file():
            return cand
    raise InputError(directory / name, None, None, f"missing (also looked for {name}.gz)")


def open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")  # noqa: SIM115 - callers close it


def read_tsv(
    path: Path, required: tuple[str, ...] = (), comment: str | None = None, quoted: bool = False
) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line number, row dict) from a TSV with a header; checks the ``required`` columns.

    ``comment`` skips leading lines starting with it (e.g. '#' in phenotype.hpoa); ``quoted`` strips
    the double quotes DO's *inDO.tsv files put around every field.
    """
    with open_text(path) as f:
        lineno, header_line = 0, ""
        for header_line in f:
            lineno += 1
            if not (comment and header_line.startswith(comment)):
                break
        header = [h.strip('"') for h in header_line.rstrip("\r\n").split("\t")]
        missing = [c for c in required if c not in header]
        if missing:
            raise InputError(path, lineno, missing[0], f"missing column; header has {header}")
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_MINIMAL if quoted else csv.QUOTE_NONE)
        for n, row in enumerate(reader, start=lineno + 1):
            if not row:
                continue
            if len(row) < len(header):
                row = row + [""] * (len(header) - len(row))
            yield n, dict(zip(header, row, strict=False))


def file_revision(directory: Path) -> str:
    """The source's COMMIT file (first line) when present, else the directory name."""
    for name in ("COMMIT", "INTEGRATE_COMMIT"):
        f = directory / name
        if f.is_file():
            return f.read_text().split()[0][:12]
    return directory.name


def iter_obo(path: Path) -> Iterator[dict[str, list[str]]]:
    """[Term] stanzas of an OBO file as {tag: [values]}; synonyms keep only their quoted text,
    is_a only its id. Obsolete terms are skipped; the header's data-version is in stanza '_header'."""
    term: dict[str, list[str]] | None = None
    header: dict[str, list[str]] = {}
    with open_text(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("["):
                if term is not None and "true" not in term.get("is_obsolete", ()):
                    yield term
                term = {} if line == "[Term]" else None
                if header:
                    yield {"_header": [header.get("data-version", [""])[0]]}
                    header = {}
                continue
            tag, sep, value = line.partition(": ")
            if not sep:
                continue
            if term is None:
                if tag == "data-version":
                    header.setdefault(tag, []).append(value)
                continue
            if tag == "synonym":
                value = value.split('"')[1] if value.count('"') >= 2 else value
            elif tag in ("is_a", "xref"):
                value = value.split(" ")[0]
            term.setdefault(tag, []).append(value)
    if term is not None and "true" not in term.get("is_obsolete", ()):
        yield term


def read_table(path: Path, required: tuple[str, ...], comment: str | None = None):
    """A whole TSV as a pyarrow Table of strings (fast, multi-threaded), checking ``required`` columns.
    Use for the big files (phenotype.hpoa, genes_to_phenotype); ``read_tsv`` for the small ones."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    skip = 0
    if comment:
        with open_text(path) as f:
            for line in f:
                if not line.startswith(comment):
                    break
                skip += 1
    try:
        t = pcsv.read_csv(
            path,
            read_options=pcsv.ReadOptions(skip_rows=skip),
            parse_options=pcsv.ParseOptions(delimiter="\t", quote_char=False),
            convert_options=pcsv.ConvertOptions(
                strings_can_be_null=False, column_types={c: pa.string() for c in required}
            ),
        )
    except pa.ArrowInvalid as e:
        raise InputError(path, None, None, f"not a valid TSV: {e}") from None
    missing = [c for c in required if c not in t.column_names]
    if missing:
        raise InputError(path, skip + 1, missing[0], f"missing column; header has {t.column_names}")
    return t
