"""`fleming score`: re-score model outputs from any harness with fleming's one grader.

Accepted input: JSONL (one object per line) or a JSON array of objects (a file whose first character
is "[", as MMLU-Pro's ``eval_results`` ship); errors name the line (JSONL) or the 1-based item (array).
- options field: a list of option texts (letters A.. implied) or a dict letter -> text (A.. in order).
- gold field: a letter ("B"), letters ("ABD", "A, C"), a list of letters, or a 0-based index (int).
- response field: a string (an explicit null is rejected: fill failed requests with "").
Each output row is the input row plus ``extracted`` (a letter, a list of letters for multi-letter
answers, or null when unparsed) and ``correct`` (bool).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

ID_FIELDS = ("id", "question_id", "realidx")


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line or item number, object) from JSONL, or from a JSON array (a file starting with "[")."""
    from fleming.errors import InputError
    from fleming.io import iter_jsonl

    with open(path, "rb") as f:
        is_array = f.read(4096).lstrip().startswith(b"[")
    if not is_array:
        yield from iter_jsonl(path)
        return
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise InputError(path, None, None, f"not valid UTF-8 ({e.reason} at byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise InputError(path, e.lineno, None, f"invalid JSON: {e.msg} (column {e.colno})") from None
    for i, obj in enumerate(data, start=1):
        if not isinstance(obj, dict):
            raise InputError(path, i, None, f"expected a JSON object, got {type(obj).__name__}")
        yield i, obj


class UniqueIds:
    """Checks that row ids (``id_field``, or the first of ``ID_FIELDS`` a row has) are unique."""

    def __init__(self, path: Path, id_field: str | None):
        self.path, self.id_field = path, id_field
        self.seen: dict[str, int] = {}

    def check(self, row: dict[str, Any], line: int) -> None:
        from fleming.errors import InputError

        key = self.id_field or next((f for f in ID_FIELDS if f in row), None)
        if key is None:
            return
        value = str(_field(row, key, self.path, line))
        if value in self.seen:
            first = self.seen[value]
            raise InputError(self.path, line, key, f"duplicate id {value!r} (first on line {first}); "
                             "ids must be unique")
        self.seen[value] = line


def _field(row: dict[str, Any], name: str, path: Path, line: int) -> Any:
    from fleming.errors import InputError

    if name not in row:
        raise InputError(path, line, name, f"missing (the row has: {', '.join(list(row)[:12])})")
    return row[name]


def score_row(row: dict[str, Any], path: Path, line: int, response_field: str, options_field: str,
              gold_field: str, think_opened: bool = False) -> tuple[dict[str, Any], Any]:
    """The output row (input + ``extracted`` + ``correct``) and its Grade."""
    from fleming.errors import InputError
    from fleming.grading import coerce_gold, coerce_options, grade

    response = _field(row, response_field, path, line)
    if not isinstance(response, str):
        raise InputError(path, line, response_field, f"expected a string, got {type(response).__name__}")
    try:
        options = coerce_options(_field(row, options_field, path, line))
    except ValueError as e:
        raise InputError(path, line, options_field, str(e)) from None
    try:
        gold = coerce_gold(_field(row, gold_field, path, line), options)
    except ValueError as e:
        raise InputError(path, line, gold_field, str(e)) from None
    g = grade(response, options, gold, think_opened=think_opened)
    return {**row, "extracted": as_field(g.extracted), "correct": g.status == "correct"}, g


def as_field(letters: list[str] | None) -> str | list[str] | None:
    """A letter for a single answer, the list for several, None when unparsed."""
    return letters[0] if letters and len(letters) == 1 else letters


def official_letters(value: Any) -> list[str] | None:
    """Another harness's extracted answer as sorted letters (None/"" -> None)."""
    if value is None or value == "" or value == []:
        return None
    items = value if isinstance(value, list) else [c for c in str(value) if c.isalpha()]
    return sorted(str(x).strip().upper() for x in items)


def disagreement(row: dict[str, Any], line: int, id_field: str | None, official_field: str,
                 response_field: str) -> dict[str, Any]:
    key = id_field or next((f for f in ID_FIELDS if f in row), None)
    tail = " ".join(str(row[response_field])[-240:].split())
    return {"id": row.get(key, line) if key else line, "line": line, official_field: row.get(official_field),
            "extracted": row["extracted"], "response_tail": tail}


def register(app: typer.Typer) -> None:
    @app.command()
    def score(
        input: Path = typer.Option(..., "--input", exists=True, dir_okay=False,
                                   help="model outputs: JSONL, or a JSON array of objects"),
        response_field: str = typer.Option(..., "--response-field", help="field holding the response text"),
        out: Path = typer.Option(..., "--out", help="output .jsonl: each row + extracted + correct"),
        options_field: str = typer.Option("options", "--options-field",
                                          help="list of option texts, or dict letter -> text"),
        gold_field: str = typer.Option("answer", "--gold-field",
                                       help="gold: letter, letters, list of letters, or 0-based index"),
        official_field: str | None = typer.Option(None, "--official-field",
                                                  help="another harness's extracted letter: "
                                                       "report agreement"),
        disagreements: Path | None = typer.Option(None, "--disagreements",
                                                  help="write the disagreements here (.jsonl) instead of "
                                                       "printing them"),
        id_field: str | None = typer.Option(None, "--id-field",
                                            help=f"row id for the listing (default: first of {ID_FIELDS})"),
        think_opened: bool = typer.Option(False, "--think-opened",
                                          help="the chat template opened <think> before the response"),
        allow_empty: bool = typer.Option(False, "--allow-empty",
                                         help="accept an input with no rows (else an error)"),
    ) -> None:
        """Re-score model outputs with fleming's grader; print accuracy and the unparsed rate."""
        from fleming.errors import InputError
        from fleming.grading import summarize
        from fleming.io import check_out_file, write_jsonl

        for path in (out, disagreements):
            if path is not None:
                check_out_file(path)
                if path.resolve() == input.resolve():
                    raise InputError(path, None, None, "an output path is the input file")
        rows, grades, diffs = [], [], []
        ids = UniqueIds(input, id_field)
        for line, row in read_rows(input):
            ids.check(row, line)
            scored, g = score_row(row, input, line, response_field, options_field, gold_field, think_opened)
            rows.append(scored)
            grades.append(g)
            if official_field is not None and official_letters(
                    _field(row, official_field, input, line)) != g.extracted:
                diffs.append(disagreement(scored, line, id_field, official_field, response_field))
        if not rows and not allow_empty:
            raise InputError(input, None, None, "no rows to score (pass --allow-empty to accept that)")
        write_jsonl(out, rows)
        s = summarize(grades)
        typer.echo(f"scored {s['n']} rows from {input} -> {out}")
        typer.echo(f"accuracy {s['accuracy']:.4f} ± {s['stderr']:.4f} ({s['correct']}/{s['n']})  "
                   f"unparsed {s['unparsed_rate']:.2%} ({s['unparsed']})")
        if official_field is not None:
            _report_agreement(diffs, s["n"], official_field, disagreements)


def _report_agreement(diffs: list[dict[str, Any]], n: int, official_field: str, path: Path | None) -> None:
    from fleming.io import write_jsonl

    agree = (n - len(diffs)) / n if n else 1.0
    typer.echo(f"agreement with '{official_field}' {agree:.2%} ({n - len(diffs)}/{n}), "
               f"{len(diffs)} disagreements")
    if path is not None:
        write_jsonl(path, diffs)
        typer.echo(f"disagreements written to {path}")
        return
    for d in diffs:
        typer.echo(f"  {d['id']}\t{official_field}={d[official_field]!r}\tours={d['extracted']!r}\t"
                   f"...{d['response_tail'][-120:]}")
