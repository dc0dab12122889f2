"""`fleming data list` and `fleming data load NAME --out FILE.jsonl`: benchmark and training-set loaders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DataDir = Annotated[Path | None, typer.Option(
    "--data-dir", help="Directory holding the benchmark files (default: $FLEMING_DATA_DIR, else "
    "../shared/benchmarks next to the repository).")]


def register(app: typer.Typer) -> None:
    data = typer.Typer(help="Benchmark and training-set loaders.", no_args_is_help=True)
    app.add_typer(data, name="data")

    @data.command("list")
    def list_(data_dir: DataDir = None) -> None:
        """List every loader: name, split, expected records, description and the files it reads."""
        from fleming.sources.registry import SOURCES, resolve_data_dir

        root = resolve_data_dir(data_dir)
        typer.echo(f"data directory: {root}")
        typer.echo(f"{'name':<22}{'split':<7}{'records':>8}  description")
        for s in SOURCES:
            typer.echo(f"{s.name:<22}{s.split:<7}{s.expected:>8}  {s.description}")
            for f in s.files:
                typer.echo(f"{'':<39}{f}{'' if (root / f).is_file() else '  (missing)'}")

    @data.command("load")
    def load_(name: Annotated[str, typer.Argument(help="Loader name (see `fleming data list`).")],
              out: Annotated[Path, typer.Option("--out", help="Output .jsonl (or .parquet) of MCQ records.")],
              data_dir: DataDir = None) -> None:
        """Load NAME, write its records to --out plus a sidecar --out.stats.json, print counts and hashes."""
        from fleming.io import write_json, write_records
        from fleming.sources.registry import get, load, pinned_hashes, resolve_data_dir

        spec = get(name)
        result = load(name, data_dir)
        n = write_records(out, result.records)
        pinned = pinned_hashes(data_dir)
        stats = result.stats
        sidecar = out.with_name(out.name + ".stats.json")
        write_json(sidecar, {
            "name": name, "source": spec.source, "split": spec.split, "records": n, "out": str(out),
            "data_dir": str(resolve_data_dir(data_dir)), "stats": stats.to_dict(),
            "files": [{"file": f, "sha256": h, "sources_jsonl_sha256": pinned.get(f)}
                      for f, h in result.files.items()],
        })
        typer.echo(f"{name}: read {stats.n_in}, kept {stats.n_kept}, dropped {stats.n_dropped}")
        for reason, count in stats.dropped.most_common():
            typer.echo(f"  dropped {count:>5}  {reason}")
        for key, count in stats.extra.items():
            typer.echo(f"  flagged {count:>5}  {key} (kept)")
        if stats.n_kept != spec.expected:
            typer.echo(f"  warning: expected {spec.expected} records from the ../shared snapshot")
        for f, h in result.files.items():
            check = "" if f not in pinned else ("  (matches SOURCES.jsonl)" if pinned[f] == h
                                                else f"  (SOURCES.jsonl says {pinned[f]})")
            typer.echo(f"  sha256 {h}  {f}{check}")
        typer.echo(f"wrote {n} records to {out} (stats: {sidecar})")
