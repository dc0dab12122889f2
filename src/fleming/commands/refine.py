"""`fleming refine CONFIG | review-apply DECISIONS.csv | anon-eval`: data refinement."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.core import TyperGroup


class _DefaultRun(TyperGroup):
    """``fleming refine CONFIG`` means ``fleming refine run CONFIG`` (a sub-command name comes first)."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


_DECISIONS_HELP = ("the review CSV with `decision` filled in (keep | relabel | drop) and `new_answer` "
                   "(letters) for relabel")


def register(app: typer.Typer) -> None:
    refine = typer.Typer(cls=_DefaultRun, no_args_is_help=True,
                         help="Data refinement: format, dedup, decontamination, anonymization, label check, "
                              "ambiguity gate, difficulty, mixing. `fleming refine CONFIG` runs them all.")
    app.add_typer(refine, name="refine")

    @refine.command("run")
    def run(config: Path = typer.Argument(..., help="YAML config (see configs/refine-example.yaml)"),
            out: Path | None = typer.Option(None, "--out", help="run directory (default: the config's out)"),
            rerun_from: str | None = typer.Option(None, "--rerun-from",
                                                  help="rerun this step and the ones after")):
        """Run every refinement step into OUT/refine (resumable: finished steps are skipped)."""
        from fleming.errors import ConfigError
        from fleming.refine.config import load_config
        from fleming.refine.pipeline import STEPS, RefineRun

        cfg = load_config(config)
        run_ = RefineRun(cfg, out or Path(cfg.out), log=typer.echo)
        if rerun_from:
            if rerun_from not in STEPS:
                raise ConfigError(f"--rerun-from {rerun_from!r}: expected one of {', '.join(STEPS)}")
            run_.invalidate_from(STEPS.index(rerun_from))
        f = run_.run()
        last = f["steps"][-1] if f["steps"] else {"kept": 0}
        typer.echo(f"training set: {last['kept']} items; reports in {run_.root / 'reports'}; "
                   f"counts reconcile: {f['reconciles']}")

    @refine.command("review-apply")
    def review_apply(decisions: Path = typer.Argument(..., help=_DECISIONS_HELP),
                     run_dir: Path | None = typer.Option(None, "--run",
                                                         help="run directory (default: above the CSV)")):
        """Bring reviewed items back into the output of the step that queued them (keep, relabel) or drop
        them (the label check, the ambiguity gate: the CSV's `step` column)."""
        from fleming.refine.review import apply_review

        s = apply_review(decisions, run_dir)
        typer.echo(f"review queue {s['queue']}: kept {s['kept']}, relabelled {s['relabelled']}, dropped "
                   f"{s['dropped']}, still pending {s['pending']}")
        for step, st in s["steps"].items():
            typer.echo(f"{step} now keeps {st['stats']['kept']} of {st['stats']['in']}")
        typer.echo(f"rerun `fleming refine CONFIG --out {s['run']}` to redo the steps after it")

    @refine.command("anon-eval")
    def anon_eval(n: int = typer.Option(1000, help="generated vignettes"),
                  seed: int = typer.Option(0, help="generator seed"),
                  kg_dir: Path | None = typer.Option(None, "--kg-dir",
                                                     help="protected names from a KG (default: HPO names)"),
                  as_json: bool = typer.Option(False, "--json", help="print JSON")):
        """Measure PHI detection on generated clinical vignettes with injected PHI (recall, precision)."""
        from fleming.refine.anonymize import protected_names
        from fleming.refine.phi import PHIDetector
        from fleming.refine.phi_gen import VignetteGenerator, evaluate

        detector = PHIDetector.with_faker_lists(protected_names(kg_dir))
        gen = VignetteGenerator(seed=seed)
        result = evaluate(detector, [gen.vignette() for _ in range(n)])
        if as_json:
            typer.echo(json.dumps(result, indent=2))
            return
        typer.echo(f"{result['vignettes']} vignettes, {result['gold_spans']} PHI spans: "
                   f"recall {result['recall']}, precision {result['precision']} (targets 0.95 / 0.90)")
        typer.echo("recall by type: " + ", ".join(f"{k} {v}" for k, v in result["recall_by_type"].items()))
        by_locale = result["name_recall_by_locale"].items()
        typer.echo("name recall by locale: " + ", ".join(f"{k} {v}" for k, v in by_locale))
        typer.echo(f"medical spans touched: {result['medical_spans_touched']} of {result['medical_spans']}")
