"""`fleming synth`: KG-guided multiple-choice question synthesis (see ``fleming.synth``)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def synth(
        kg: Path = typer.Option(..., "--kg", help="KG directory from `fleming kg build`"),
        n: int = typer.Option(..., "--n", min=1, help="number of items to synthesize"),
        out: Path = typer.Option(..., "--out", help="output directory (items.jsonl, stats.json)"),
        config: Path | None = typer.Option(None, "--config", help="synthesis config YAML (default built-in)"),
        seed: int = typer.Option(0, "--seed", help="run seed: same seed, same items, any worker count"),
        workers: int = typer.Option(1, "--workers", min=1, help="processes (>= 1)"),
        samples: int = typer.Option(0, "--samples", min=0,
                                    help="also write this many random items to samples.md"),
    ) -> None:
        """Synthesize verified multiple-choice questions from a knowledge graph."""
        from fleming.io import check_out_dir
        from fleming.synth.run import synthesize
        from fleming.synth.templates import load_config

        cfg = load_config(config)
        check_out_dir(out)
        stats = synthesize(kg, n, cfg, seed, out, workers=workers, samples=samples)
        _summary(stats, out)


def _summary(stats: dict, out: Path) -> None:
    s = stats["steps"]
    typer.echo(f"items {stats['n_items']:,} of {stats['n_requested']:,}  attempts {s['in']:,} "
               f"({stats['attempts_per_item']} per item)  -> {out}")
    typer.echo("question types: " + ", ".join(f"{k} {v}" for k, v in stats["question_types"].items()))
    typer.echo("hops: " + ", ".join(f"{k}: {v}" for k, v in stats["hops"].items()))
    r = stats["rarity_deciles"]
    typer.echo(f"rarest 30% of anchors: {r['rarest_30pct_items']:.1%} of items vs "
               f"{r['rarest_30pct_uniform']:.1%} "
               f"under uniform sampling (x{r['rarest_30pct_ratio']})")
    typer.echo("drop reasons: " + (", ".join(f"{k} {v}" for k, v in s["drop_reasons"].items()) or "none"))
    if stats["unsupported_types"]:
        typer.echo(f"not supported by this KG: {', '.join(stats['unsupported_types'])}")
    t = stats["timing_s"]
    typer.echo(f"load+index {t['load_and_index']} s, synthesis {t['synthesis']} s "
               f"({t['items_per_s']} items/s)")
