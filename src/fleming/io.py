"""Reading and writing records: JSONL and Parquet, sha256, run directories and done markers.

Every reader error names the file, the line and the field (see ``errors.InputError``).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from fleming.errors import ConfigError, InputError
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
    """Write rows atomically (temp file, then rename; the temp file is removed when writing fails).
    Returns the row count."""
    path = Path(path)
    check_out_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
                n += 1
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return n


def check_out_file(path: str | Path) -> None:
    """An output file's path is usable: not a directory, and no parent of it is a file."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: output is a directory; expected a file path")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"{path}: {parent} is a file, not a directory")
            break


def check_out_dir(path: str | Path) -> None:
    """An output folder's path is usable: not an existing file, and no parent of it is a file."""
    path = Path(path)
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                what = "output folder" if p == path else f"a parent of the output folder {path}"
                raise ConfigError(f"{p}: {what} is an existing file; expected a directory")
            return


def read_parquet(path: str | Path, columns: list[str] | None = None):
    """A Parquet file as a pyarrow Table; a truncated or garbage file is an ``InputError`` (one line)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path, columns=columns)
    except (pa.ArrowException, OSError) as e:
        raise InputError(path, None, None, f"not a readable Parquet file ({_first_line(e)})") from None


def parquet_rows(path: str | Path) -> int:
    """Rows in a Parquet file, from its footer; unreadable: ``InputError``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_metadata(path).num_rows
    except (pa.ArrowException, OSError) as e:
        raise InputError(path, None, None, f"not a readable Parquet file ({_first_line(e)})") from None


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:200]


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
        for i, row in enumerate(read_parquet(path).to_pylist(), start=1):
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


# ---- the one stage runner: config-fingerprinted done markers, chained through the stages ----
def fingerprint(config: Any, prev: str = "") -> str:
    """A short hash of a stage's config (JSON, keys sorted) chained to the previous stage's.

    >>> fingerprint({"a": 1}) == fingerprint({"a": 1}) != fingerprint({"a": 1}, prev="x")
    True
    """
    import dataclasses

    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = dataclasses.asdict(config)
    blob = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256((prev + "\x1f" + blob).encode()).hexdigest()[:16]


def done_fingerprint(stage_path: str | Path) -> str | None:
    """The fingerprint a finished stage recorded, or None when it is not done."""
    p = Path(stage_path) / ".done"
    if not p.is_file():
        return None
    try:
        return json.loads(p.read_text() or "{}").get("fingerprint")
    except json.JSONDecodeError:
        return None


def prepare_stage(stage_path: str | Path, fp: str, keep: tuple[str, ...] = ()) -> bool:
    """Make ``stage_path`` ready to (re)run under fingerprint ``fp``. A folder started under the same
    fingerprint is kept as it is (a crashed run resumes from its checkpoints and caches); one started
    under another config is emptied, except the names in ``keep``. Returns True when resuming."""
    import shutil

    d = Path(stage_path)
    started = d / ".started"
    resuming = started.is_file() and started.read_text().strip() == fp
    if d.exists() and not resuming:
        saved = {n: (d / n).read_bytes() for n in keep if (d / n).is_file()}
        shutil.rmtree(d)
        d.mkdir(parents=True)
        for name, data in saved.items():
            (d / name).write_bytes(data)
    d.mkdir(parents=True, exist_ok=True)
    (d / ".done").unlink(missing_ok=True)
    started.write_text(fp + "\n")
    return resuming


@dataclass
class Stage:
    """One stage of a run: ``fn(folder)`` does the work into its own folder and returns its stats.

    ``config`` is what the stage depends on; its fingerprint, chained with every earlier stage's, goes
    into the done marker, so a changed config re-runs that stage and every stage after it."""

    name: str
    fn: Callable[[Path], dict[str, Any]]
    config: Any = None
    enabled: bool = True
    keep: tuple[str, ...] = ()   # files that survive a re-run with a changed config (reviewers' work)


def run_stages(stages: list[Stage], root: str | Path, log: Callable[[str], None] = print, *,
               only: str | None = None, start: str | None = None, until: str | None = None,
               force: bool = False, label: str = "run") -> dict[str, dict[str, Any]]:
    """Run ``stages`` in order under ``root``; returns each stage's stats (read back when skipped).

    A stage is skipped when its done marker carries its current fingerprint and no earlier stage ran;
    ``start`` / ``only`` force that stage to run again; ``until`` stops after it. Disabled stages are
    reported and skipped. Timings and stats go to ``root/<stage>/stats.json``."""
    names = [s.name for s in stages]
    for flag, value in (("--only", only), ("--from", start), ("--until", until)):
        if value is not None and value not in names:
            raise ConfigError(f"{flag} {value}: no such stage; expected one of {', '.join(names)}")
    root = Path(root)
    results: dict[str, dict[str, Any]] = {}
    prev, rerun = "", force
    for i, st in enumerate(stages):
        fp = fingerprint({"stage": st.name, "enabled": st.enabled, "config": st.config}, prev)
        prev = fp
        if only is not None and st.name != only or (start is not None and i < names.index(start)):
            results[st.name] = _read_stats(root / st.name)
            continue
        if until is not None and i > names.index(until):
            break
        d = root / st.name
        if not st.enabled:
            log(f"[{label}] {st.name}: off in the config, skipped")
            continue
        forced = st.name in (only, start)
        if not (rerun or forced) and done_fingerprint(d) == fp:
            log(f"[{label}] {st.name}: done, skipped")
            results[st.name] = _read_stats(d)
            continue
        old = done_fingerprint(d)
        if old is not None and old != fp:
            log(f"[{label}] {st.name}: its config or an earlier stage changed, running it again")
        rerun = True
        resuming = prepare_stage(d, fp, st.keep)
        log(f"[{label}] {st.name}: {'resuming' if resuming else 'running'} ...")
        t = time.perf_counter()
        stats = st.fn(d) or {}
        stats = {**stats, "seconds": round(time.perf_counter() - t, 2)}
        write_json(d / "stats.json", stats)
        mark_done(d, {"fingerprint": fp, "seconds": stats["seconds"]})
        log(f"[{label}] {st.name}: done in {stats['seconds']} s")
        results[st.name] = stats
    return results


def _read_stats(d: Path) -> dict[str, Any]:
    p = d / "stats.json"
    return json.loads(p.read_text()) if p.is_file() else {}

