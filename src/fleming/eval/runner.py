"""The evaluation run: load each benchmark, skip the items already finished in ``DIR/<name>.jsonl``,
generate in batches (each batch is written and flushed before the next starts), then write
``results.json``, ``results.md`` and ``results.png``.

``DIR/run.json`` records the settings that decide the answers (backend, base URL, model, prompt id and
the prompt versions used, samples, sampling parameters); resuming into a folder made with other settings
is refused rather than mixing two runs (``start_over`` empties the folder's run files first). The response
cache (``DIR/cache.sqlite`` unless ``cache=False``) sits inside the backend; its key holds the same
identity (the backend's model id, plus the base URL and the prompt version as a scope), so a cache
copied between runs cannot answer for another server or prompt either.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from fleming.errors import ConfigError, FlemingError
from fleming.eval.benchmarks import Benchmark
from fleming.eval.items import FAILED, ItemLog, is_done, item_row, prompt_key
from fleming.io import write_json
from fleming.records import MCQ

RUN_FILE = "run.json"
CACHE_FILE = "cache.sqlite"
DEFAULT_BATCH = {"hf": 8, "openai": 128, "vllm": 512}


@dataclass(frozen=True)
class EvalSettings:
    model: str
    backend: str = "hf"
    base_url: str | None = None
    samples: int = 1
    seed: int = 0
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 512
    batch_size: int | None = None
    prompt: str | None = None  # overrides every benchmark's own prompt id
    think_opened: bool = False  # the chat template writes <think> itself (passed to the grader)
    limit: int | None = None
    cache: bool = True
    backend_options: dict[str, Any] = field(default_factory=dict)  # make_backend(**options)
    train_sources: tuple[str, ...] = ()  # loaders the model was trained on: warn on benchmarks holding them

    def __post_init__(self) -> None:
        checks = [(self.samples >= 1, "--samples must be >= 1"),
                  (self.max_tokens >= 1, "--max-tokens must be >= 1"),
                  (self.temperature >= 0, "--temperature must be >= 0"),
                  (self.batch_size is None or self.batch_size >= 1, "--batch-size must be >= 1"),
                  (self.limit is None or self.limit >= 1, "--limit must be >= 1"),
                  (self.backend in DEFAULT_BATCH, f"--backend must be one of {', '.join(DEFAULT_BATCH)}")]
        for ok, msg in checks:
            if not ok:
                raise ConfigError(msg)

    @property
    def batch(self) -> int:
        return self.batch_size or DEFAULT_BATCH[self.backend]

    def identity(self) -> dict[str, Any]:
        """The settings a resumed run must share with the folder it resumes."""
        keys = ("model", "backend", "base_url", "prompt", "samples", "seed", "temperature", "top_p",
                "max_tokens", "think_opened")
        return {k: v for k, v in asdict(self).items() if k in keys}


@dataclass
class BenchOutcome:
    bench: Benchmark
    resumed: int = 0
    new: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["status"] == FAILED]


def run_identity(settings: EvalSettings, benches: list[Benchmark]) -> dict[str, Any]:
    """``settings.identity()`` plus each benchmark's prompt id and version (what run.json records)."""
    from fleming.prompts import resolve_prompt

    prompts = {}
    for b in benches:
        spec = resolve_prompt(settings.prompt or b.prompt_id, b.language)
        prompts[b.name] = f"{spec.id}@{spec.version}"
    return {**settings.identity(), "prompts": prompts}


def claim_run_dir(out: Path, settings: EvalSettings, benches: list[Benchmark] | None = None,
                  start_over: bool = False) -> None:
    """Write DIR/run.json, or check that the run already there has the same identity (``start_over``:
    remove the old run's files first). A benchmark new to the folder is added to its prompts."""
    from fleming.io import check_out_dir

    check_out_dir(out)
    path = out / RUN_FILE
    mine = run_identity(settings, benches or [])
    if start_over:
        clear_run_dir(out)
    if path.exists():
        try:
            theirs = json.loads(path.read_text())
        except json.JSONDecodeError:
            raise ConfigError(f"{path}: not valid JSON; use --start-over to replace the run") from None
        diff = [f"{k}: {theirs.get(k)!r} there, {v!r} now" for k, v in mine.items()
                if k != "prompts" and theirs.get(k) != v]
        old = theirs.get("prompts", {})
        diff += [f"prompt of {b}: {old[b]!r} there, {p!r} now" for b, p in mine["prompts"].items()
                 if b in old and old[b] != p]
        if diff:
            raise ConfigError(f"{path}: this folder holds a run with another identity ({'; '.join(diff)}); "
                              "use another --out, the same settings to resume, or --start-over")
        mine["prompts"] = {**old, **mine["prompts"]}
    write_json(path, mine)


def clear_run_dir(out: Path) -> list[str]:
    """Remove what an evaluation run writes into ``out`` (run.json, item logs, results, cache)."""
    from fleming.eval.benchmarks import BENCHMARKS

    names = [RUN_FILE, "results.json", "results.md", "results.png", CACHE_FILE, CACHE_FILE + "-wal",
             CACHE_FILE + "-shm", *(f"{b}.jsonl" for b in BENCHMARKS)]
    removed = [n for n in names if (out / n).is_file()]
    for n in removed:
        (out / n).unlink()
    return removed


def select_records(bench: Benchmark, records: list[MCQ], limit: int | None) -> list[MCQ]:
    """The first ``limit`` records, after checking ids are unique and option counts fit the table."""
    seen: set[str] = set()
    for r in records:
        if r.id in seen:
            raise FlemingError(f"{bench.name}: the loader gave the id {r.id!r} twice; ids must be unique")
        seen.add(r.id)
        if problem := bench.check_options(len(r.options)):
            raise FlemingError(f"{problem} (item {r.id})")
    return records[:limit] if limit else records


def run_benchmark(backend, bench: Benchmark, records: list[MCQ], out: Path, settings: EvalSettings,
                  on_progress: Callable[[int], None] | None = None) -> BenchOutcome:
    """Evaluate the records not already finished in ``out/<name>.jsonl``; returns rows in record order.

    ``on_progress(items_done)`` is called once with the resumed count, then after every batch.
    """
    from fleming.grading import grade
    from fleming.llm.base import SamplingParams
    from fleming.prompts import build_messages, resolve_prompt

    prompt_id = settings.prompt or bench.prompt_id
    keys = {r.id: prompt_key(resolve_prompt(prompt_id, r.language)) for r in records}
    if records:
        backend = for_prompt(backend, settings, keys[records[0].id])
    log = ItemLog(out / f"{bench.name}.jsonl")
    done = {i: row for i, row in log.read().items() if i in keys and is_done(row, bench, keys[i])}
    outcome = BenchOutcome(bench, resumed=len(done))
    todo = [r for r in records if r.id not in done]
    grade_fn = partial(grade, think_opened=settings.think_opened)
    if on_progress:
        on_progress(outcome.resumed)
    params = SamplingParams(temperature=settings.temperature, top_p=settings.top_p,
                            max_tokens=settings.max_tokens, n=settings.samples, seed=settings.seed)
    for start in range(0, len(todo), settings.batch):
        batch = todo[start:start + settings.batch]
        conversations = [build_messages(r, prompt_id) for r in batch]
        outputs = backend.generate(conversations, params, progress=False)
        if len(outputs) != len(batch):
            raise FlemingError(f"backend {backend.model_name!r} returned {len(outputs)} results "
                               f"for {len(batch)} conversations")
        rows = [item_row(bench, r, keys[r.id], m, o, grade_fn)
                for r, m, o in zip(batch, conversations, outputs, strict=True)]
        log.append(rows)
        done.update((row["id"], row) for row in rows)
        outcome.new += len(batch)
        if on_progress:
            on_progress(outcome.resumed + outcome.new)
    outcome.rows = [done[r.id] for r in records]
    return outcome


def load_benchmarks(benches: list[Benchmark], data_dir: str | Path | None, settings: EvalSettings,
                    warn: Callable[[str], None] | None = None) -> dict[str, list[MCQ]]:
    """Each benchmark's records (first ``settings.limit``), after checking its prompt id exists;
    ``warn`` hears of item counts that differ from the snapshot's, and of benchmarks that hold the items
    of a training source named in ``settings.train_sources``."""
    from fleming.eval.benchmarks import overlap_warnings
    from fleming.prompts import resolve_prompt
    from fleming.sources.registry import get, load

    for b in benches:
        resolve_prompt(settings.prompt or b.prompt_id, b.language)  # unknown id: ConfigError, before work
    for src in settings.train_sources:
        get(src)  # an unknown loader name: ConfigError
    for note in overlap_warnings(benches, settings.train_sources):
        if warn:
            warn(note)
    out = {}
    for b in benches:
        res = load(b.loader, data_dir)
        records = res.records
        if not records:
            from fleming.errors import InputError
            from fleming.sources.registry import resolve_data_dir

            files = ", ".join(str(resolve_data_dir(data_dir) / f) for f in res.files)
            raise InputError(files or b.loader, None, None, f"benchmark {b.name} has no items")
        if warn and (note := b.check_count(len(records))):
            warn(note)
        out[b.name] = select_records(b, records, settings.limit)
    return out


def open_backend(settings: EvalSettings, out: Path):
    from fleming.llm import make_backend

    cache = out / CACHE_FILE if settings.cache else None
    options = dict(settings.backend_options)
    if settings.backend == "hf":
        options.setdefault("batch_size", settings.batch)  # one generation batch per flushed batch
    return make_backend(settings.backend, settings.model, base_url=settings.base_url, cache_path=cache,
                        **options)


def for_prompt(backend, settings: EvalSettings, prompt: dict[str, str]):
    """The backend whose cache keys also hold the base URL and the prompt's id and version (the backend
    kind and model are in every key already); a backend without a cache is returned as it is."""
    scoped = getattr(backend, "scoped", None)
    if scoped is None:
        return backend
    version = f"{prompt['prompt_id']}@{prompt['prompt_version']}"
    return scoped({"base_url": settings.base_url, "prompt": version})


def write_results(outcomes: list[BenchOutcome], out: Path, settings: EvalSettings) -> dict[str, Any]:
    """results.json, results.md and results.png from the rows of this run's benchmarks."""
    from fleming.eval.plots import plot_results
    from fleming.eval.results import build_results
    from fleming.eval.tables import results_markdown

    run = {**run_identity(settings, [o.bench for o in outcomes]), "limit": settings.limit,
           "counts": {o.bench.name: {"resumed": o.resumed, "new": o.new, "failed": len(o.failed)}
                      for o in outcomes}}
    results = build_results({o.bench.name: (o.bench, o.rows) for o in outcomes},
                            samples=settings.samples, seed=settings.seed, run=run)
    write_json(out / "results.json", results)
    (out / "results.md").write_text(results_markdown(results), encoding="utf-8")
    plot_results(results, out / "results.png")
    return results
