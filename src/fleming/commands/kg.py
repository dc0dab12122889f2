"""`fleming kg build | stats | infobox | dump | crawl`: the medical knowledge graph."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    kg = typer.Typer(
        help="The medical knowledge graph: build, inspect, Wikipedia tools.", no_args_is_help=True
    )
    app.add_typer(kg, name="kg")

    @kg.command()
    def build(
        config: Path = typer.Argument(..., help="YAML config (configs/kg-default.yaml, kg-shared.yaml)"),
        out: Path = typer.Option(..., "--out", help="output directory (nodes/edges Parquet, meta.json)"),
    ):
        """Build the merged graph from a config's sources and save it."""
        from fleming.kg.build import build as run

        _, _, meta = run(config, out)
        by_type: dict[str, int] = {}
        for t in _node_types(out):
            by_type[t] = by_type.get(t, 0) + 1
        typer.echo(f"entities {meta['entities']:,}  relations {meta['edges']:,}  -> {out}")
        typer.echo(
            "by type: " + ", ".join(f"{k} {v:,}" for k, v in sorted(by_type.items(), key=lambda x: -x[1]))
        )
        typer.echo(
            "cross-source merges: "
            + (", ".join(f"{k} {v:,}" for k, v in meta["merges_cross_source"].items()) or "none")
        )
        if meta["edges_dropped"]:
            typer.echo("edges dropped: " + ", ".join(f"{k} {v:,}" for k, v in meta["edges_dropped"].items()))
        typer.echo("timings (s): " + ", ".join(f"{k} {v}" for k, v in meta["timings_s"].items()))

    @kg.command()
    def stats(
        directory: Path = typer.Argument(..., help="a KG directory from `fleming kg build`"),
        as_json: bool = typer.Option(False, "--json", help="print JSON"),
        png: Path | None = typer.Option(None, help="degree plot path (default DIR/degree.png)"),
    ):
        """Counts per type and relation, degree distribution PNG, long-tail share, provenance."""
        from fleming.kg.stats import compute, format_text

        s = compute(directory, png)
        typer.echo(json.dumps(s, indent=2) if as_json else format_text(s))

    @kg.command()
    def infobox(
        file: Path = typer.Argument(..., help="a page's wikitext (.wiki)"),
        title: str = typer.Option("", help="page title (default: the infobox name or file name)"),
        as_json: bool = typer.Option(False, "--json", help="print JSON"),
    ):
        """Show the relations one page's medical infobox yields."""
        from fleming.kg.wikipedia.infobox import parse_infobox
        from fleming.kg.wikipedia.pages import read_page_file, title_from_filename

        box = parse_infobox(read_page_file(file), title=title)
        if box is None:
            from fleming.errors import InputError

            raise InputError(file, None, None, "no medical-condition or drug infobox found")
        name = title or box.name or title_from_filename(file)
        if as_json:
            typer.echo(json.dumps({"title": name, **box.to_dict()}, indent=2, ensure_ascii=False))
            return
        typer.echo(f"{name}  [{box.template}]  xrefs: {', '.join(box.xrefs) or '-'}")
        for k, segs in box.fields.items():
            if segs:
                typer.echo(f"  {k}: " + " <br> ".join(segs))
        for f in box.facts:
            s, o = (name, f.target) if f.direction == "out" else (f.target, name)
            q = f" ({f.qualifier})" if f.qualifier else ""
            typer.echo(
                f"  {s} -{f.relation}-> {o}   [{f.target_type}, {f.field}{q}, "
                f"{'link' if f.linked else 'text'}]"
            )

    @kg.command()
    def dump(
        path: Path = typer.Argument(..., help="pages-articles(-multistream).xml.bz2"),
        out: Path = typer.Option(..., "--out", help="JSONL of medical pages"),
        index: Path | None = typer.Option(None, help="multistream index (found beside the dump if omitted)"),
        processes: int = typer.Option(1, help="worker processes"),
    ):
        """Extract the medical pages of a dump (infobox or medical category), redirects resolved."""
        from fleming.io import write_jsonl
        from fleming.kg.wikipedia.dump import read_dump

        res = read_dump(path, processes=processes, index=index)
        rows = [
            {
                "title": p.title,
                "page_id": p.page_id,
                "rev_id": p.rev_id,
                "reason": p.reason,
                "categories": p.categories,
                "infobox": p.infobox.to_dict() if p.infobox else None,
            }
            for p in res.pages
        ]
        write_jsonl(out, rows)
        typer.echo(
            f"{len(rows)} medical pages of {res.counts['pages']} "
            f"({res.counts['redirect']} redirects) -> {out}"
        )

    @kg.command()
    def crawl(
        state: Path = typer.Option(..., "--state", help="SQLite crawl state and page cache"),
        api: str = typer.Option("https://en.wikipedia.org/w/api.php", help="MediaWiki API endpoint"),
        budget: int = typer.Option(500, help="pages to fetch at most"),
        contact: str = typer.Option(..., help="contact (email or URL) for the User-Agent"),
        seed_category: list[str] = typer.Option([], help="extra seed categories"),
    ):
        """Crawl medical Wikipedia pages breadth-first through the MediaWiki API (resumable)."""
        from fleming.kg.wikipedia.agent import CrawlConfig, Crawler

        cfg = CrawlConfig(
            api=api, contact=contact, budget=budget, categories=tuple(seed_category) or CrawlConfig.categories
        )
        with Crawler(state, cfg) as c:
            summary = c.run()
        typer.echo(json.dumps(summary))


def _node_types(out: Path) -> list[str]:
    import pyarrow.parquet as pq

    return pq.read_table(out / "nodes.parquet", columns=["type"]).column("type").to_pylist()
