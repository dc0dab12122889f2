"""`fleming eval` (evaluate a model on the benchmark table) and `fleming eval compare RUN_A RUN_B`."""

from __future__ import annotations

from pathlib import Path

import typer

BACKENDS = "hf|openai|vllm"


def register(app: typer.Typer) -> None:
    eval_app = typer.Typer(help="Evaluate a model on the paper's benchmarks; compare two runs.",
                           add_completion=False)

    @eval_app.callback(invoke_without_command=True)
    def evaluate(
        ctx: typer.Context,
        model: str = typer.Option(None, help="HF model folder or id (hf/vllm), or the served model name."),
        backend: str = typer.Option("hf", help=f"Backend: {BACKENDS}."),
        base_url: str = typer.Option(None, help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1."),
        benchmarks: str = typer.Option("all", help="Comma list (e.g. medqa,pubmedqa); 'all' = the nine of "
                                       "Table 3; add cmexam for CMExam."),
        data_dir: Path = typer.Option(None, help="Benchmark files (default ../shared/benchmarks)."),
        out: Path = typer.Option(None, help="Output folder; re-running with the same folder resumes."),
        limit: int = typer.Option(None, help="Evaluate only the first N items of each benchmark."),
        samples: int = typer.Option(1, help="Samples per item (K); K > 1 adds pass@k and majority vote."),
        seed: int = typer.Option(0, help="Sampling seed; also seeds the bootstrap CIs."),
        temperature: float = typer.Option(0.0, help="Sampling temperature (0 = greedy)."),
        max_tokens: int = typer.Option(512, help="Maximum new tokens per response."),
        batch_size: int = typer.Option(None, help="Items per batch (results are flushed per batch); "
                                       "default 8 for hf, 128 for openai, 512 for vllm."),
        no_cache: bool = typer.Option(False, "--no-cache",
                                      help="Bypass the response cache (DIR/cache.sqlite)."),
        prompt: str = typer.Option(None, help="Prompt id for every benchmark (default: each one's own)."),
        think_opened: bool = typer.Option(False, "--think-opened", help="The model's chat template opens "
                                          "<think> itself: an output that never closes it is unparsed."),
        concurrency: int = typer.Option(None, help="openai: requests in flight (default 64)."),
        timeout: float = typer.Option(None, help="openai: seconds per request (default 120)."),
        max_retries: int = typer.Option(None, help="openai: retries on 429/5xx/timeouts (default 6)."),
        start_over: bool = typer.Option(False, "--start-over",
                                        help="Remove the run already in --out (run.json, "
                                        "item logs, results, cache) instead of refusing another identity."),
        train_sources: str = typer.Option(None, help="Comma list of the loaders the model was trained on "
                                          "(e.g. pubmedqa_train): warns when a benchmark holds their items."),
    ) -> None:
        """Evaluate MODEL: writes DIR/<benchmark>.jsonl per item, DIR/results.{json,md,png}.

        Exit status: 0 when every item was evaluated, 1 when any request failed (the summary says how
        many; re-run the same command to retry them), 2 on bad input or settings."""
        if ctx.invoked_subcommand is not None:
            return
        from fleming.errors import ConfigError
        from fleming.eval.benchmarks import parse_list
        from fleming.eval.runner import EvalSettings

        if not model or out is None:
            raise ConfigError("fleming eval needs --model and --out (see fleming eval --help)")
        settings = EvalSettings(model=model, backend=backend, base_url=base_url, samples=samples, seed=seed,
                                temperature=temperature, max_tokens=max_tokens, batch_size=batch_size,
                                prompt=prompt, think_opened=think_opened, limit=limit, cache=not no_cache,
                                backend_options=_backend_options(backend, concurrency, timeout, max_retries),
                                train_sources=tuple(x.strip() for x in (train_sources or "").split(",")
                                                    if x.strip()))
        if backend == "openai" and not base_url:
            raise ConfigError("--backend openai needs --base-url (e.g. http://127.0.0.1:8000/v1)")
        if backend != "openai" and base_url:
            raise ConfigError(f"--base-url only applies to --backend openai, not {backend}")
        failed = _run(settings, parse_list(benchmarks), data_dir, out, start_over)
        if failed:
            raise typer.Exit(1)

    @eval_app.command("compare")
    def compare(
        run_a: Path = typer.Argument(..., help="First evaluation folder (A)."),
        run_b: Path = typer.Argument(..., help="Second evaluation folder (B)."),
        out: Path = typer.Option(None, help="Also write the comparison here (.md table, or .json)."),
        seed: int = typer.Option(0, help="Seed of the paired bootstrap."),
    ) -> None:
        """Paired per-benchmark differences B - A on common items, with exact McNemar p-values."""
        from fleming.eval.compare import compare_markdown, compare_runs
        from fleming.io import write_json

        result = compare_runs(run_a, run_b, seed=seed)
        text = compare_markdown(result)
        typer.echo(text)
        if out is not None:
            if out.suffix == ".json":
                write_json(out, result)
            else:
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(text, encoding="utf-8")

    app.add_typer(eval_app, name="eval")


def _backend_options(backend: str, concurrency, timeout, max_retries) -> dict:
    from fleming.errors import ConfigError

    given = {k: v for k, v in (("concurrency", concurrency), ("timeout", timeout),
                               ("max_retries", max_retries)) if v is not None}
    if given and backend != "openai":
        names = "/".join("--" + k.replace("_", "-") for k in given)
        raise ConfigError(f"{names} only apply to --backend openai")
    return given


def _run(settings, benches, data_dir: Path | None, out: Path, start_over: bool = False) -> int:
    """Evaluate and write the results; returns the number of items whose requests failed."""
    import time

    from rich.console import Console

    from fleming.eval.runner import claim_run_dir, load_benchmarks, open_backend, write_results
    from fleming.io import check_out_dir

    console = Console()
    if not console.is_terminal:
        console = Console(width=max(console.width, 120))  # logs and pipes: keep tables on one line
    if settings.samples > 1 and settings.temperature == 0:
        console.print("[yellow]warning: --samples > 1 at temperature 0 gives identical samples[/]")
    check_out_dir(out)
    records = load_benchmarks(benches, data_dir, settings,
                              warn=lambda note: console.print(f"[yellow]note: {note}[/]"))
    claim_run_dir(out, settings, benches, start_over=start_over)
    console.print("loaded: " + ", ".join(f"{b.name} {len(records[b.name])}" for b in benches))
    started = time.perf_counter()
    backend = open_backend(settings, out)
    try:
        outcomes = _evaluate_all(backend, benches, records, out, settings, console)
    except KeyboardInterrupt:
        console.print(f"[red]interrupted[/]: finished batches are saved in {out}/<benchmark>.jsonl; "
                      "re-run the same command to resume")
        raise typer.Exit(130) from None
    finally:
        backend.close()
    results = write_results(outcomes, out, settings)
    _print_summary(console, outcomes, results, time.perf_counter() - started)
    console.print(f"wrote {out}/results.json, results.md, results.png and one <benchmark>.jsonl each")
    failed = sum(len(o.failed) for o in outcomes)
    if failed:
        total = sum(len(o.rows) for o in outcomes)
        console.print(f"[red]{failed} of {total} items failed[/]: re-run the same command to retry them")
    return failed


def _evaluate_all(backend, benches, records, out: Path, settings, console) -> list:
    from rich import progress as rp

    from fleming.eval.runner import run_benchmark

    outcomes = []
    columns = (rp.TextColumn("{task.description:<18}"), rp.BarColumn(), rp.MofNCompleteColumn(),
               rp.TimeElapsedColumn(), rp.TextColumn("ETA"), rp.TimeRemainingColumn())
    with rp.Progress(*columns, console=console) as progress:
        for b in benches:
            task = progress.add_task(b.display, total=len(records[b.name]))
            outcome = run_benchmark(backend, b, records[b.name], out, settings,
                                    on_progress=lambda done, t=task: progress.update(t, completed=done))
            progress.console.print(f"{b.name}: {outcome.resumed} resumed, {outcome.new} newly evaluated, "
                                   f"{len(outcome.failed)} failed")
            outcomes.append(outcome)
    return outcomes


def _print_summary(console, outcomes, results: dict, seconds: float) -> None:
    from rich.table import Table

    from fleming.eval.tables import ci_text, pct

    table = Table(title=f"{results['run']['model']} ({seconds:.1f} s)")
    for col in ("benchmark", "items", "resumed", "new", "failed", "accuracy %", "95% CI", "unparsed %"):
        table.add_column(col, justify="left" if col == "benchmark" else "right", no_wrap=True)
    for o in outcomes:
        e = results["benchmarks"][o.bench.name]
        table.add_row(o.bench.display, str(len(o.rows)), str(o.resumed), str(o.new), str(len(o.failed)),
                      pct(e["accuracy"]), ci_text(e["ci"]), pct(e["unparsed_rate"], 1))
    macro = results["macro_average"]
    if macro:
        table.add_row(f"Avg. ({len(macro['benchmarks'])}/9)", "", "", "", "", pct(macro["accuracy"]),
                      ci_text(macro["ci"]), "")
    console.print(table)
    total_resumed = sum(o.resumed for o in outcomes)
    total_new = sum(o.new for o in outcomes)
    console.print(f"items: {total_resumed} resumed, {total_new} newly evaluated, "
                  f"{sum(len(o.failed) for o in outcomes)} failed")
    for o in outcomes:
        for r in o.failed[:10]:
            console.print(f"  failed {o.bench.name} {r['id']}: {r['error']}")
        if len(o.failed) > 10:
            console.print(f"  … {len(o.failed) - 10} more failed in {o.bench.name} (see results.md)")
