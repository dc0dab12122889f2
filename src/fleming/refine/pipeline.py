"""``fleming refine CONFIG``: every refinement step, in order, into one stage folder of a run directory.

Layout (``RUN/refine/``)::

    steps/NN_<step>/records.jsonl   the step's output (+ stats.json, and .done with the fingerprint)
    stats/NN_<step>.json            in, kept, dropped per reason, extra counters, reconciles
    exclusions/NN_<step>.jsonl      every dropped record with its reason
    reports/                        funnel (md, json, png), contamination, dedup clusters, difficulty
                                    agreement, mix report, anonymization counts
    train.parquet, train_hf/        the training set (mix.formats)

Steps: inputs (loaders and raw files, validated) -> format -> dedup -> decontam -> anonymize ->
labelcheck -> ambiguity -> difficulty -> mix. The paper's order is format, label check, anonymize, mix,
difficulty; dedup and decontamination are additions and run on the unmodified text, before anonymization;
the ambiguity gate (is another option also correct?) is an addition after the label check, so it judges
only items whose key the validator can reach; difficulty comes before mixing because the mix is
stratified by it. Each step is resumable: a step whose
done marker carries the same config fingerprint (its own config and every earlier step's) is skipped;
a changed step reruns with everything after it.
"""

from __future__ import annotations

import itertools
import json
import random
import shutil
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from fleming.errors import ConfigError, InputError
from fleming.io import Stage, read_records, run_stages, write_json, write_records
from fleming.records import MCQ
from fleming.refine import report
from fleming.refine.config import InputSpec, RefineConfig
from fleming.refine.format import validate_row
from fleming.steps import Stats, Step

STEPS = ["inputs", "format", "dedup", "decontam", "anonymize", "labelcheck", "ambiguity", "difficulty", "mix"]
PRESERVED = ("decisions.json",)  # reviewers' work survives a rerun of its step


def read_raw(path: Path) -> Iterator[dict[str, Any]]:
    """Raw rows of a .jsonl or .parquet file; an unreadable JSONL line becomes a row with ``__error__``."""
    if path.suffix == ".parquet":
        from fleming.io import read_parquet

        yield from read_parquet(path).to_pylist()
        return
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                yield {"__error__": "malformed_json", "file": str(path), "line": lineno, "why": str(e)[:200]}
                continue
            yield obj if isinstance(obj, dict) else {"__error__": "malformed_json", "file": str(path),
                                                      "line": lineno, "why": "not a JSON object"}


def check_input_file(path: Path, spec: InputSpec, i: int) -> None:
    """A raw input file exists (unless optional), is readable and holds rows (unless allow_empty)."""
    if not path.is_file():
        if path.exists():
            raise InputError(path, None, None, f"inputs[{i}].path: expected a file, found a directory")
        if not spec.optional:
            raise InputError(path, None, None, "input file not found (set optional: true to skip it)")
        return
    if path.suffix == ".parquet":
        from fleming.io import parquet_rows

        empty = parquet_rows(path) == 0
    else:
        with open(path, "rb") as f:
            empty = not any(line.strip() for line in f)
    if empty and not spec.allow_empty:
        raise InputError(path, None, None, "the input holds no rows (set allow_empty: true to accept that)")


class Inputs(Step):
    """Loaders and raw files -> validated records. ``rows()`` yields every row read (a loader's dropped
    rows as placeholders naming the loader's reason), so ``in`` counts them all and every dropped row,
    invalid or over the sample limit, has its line in the exclusion file."""

    name = "inputs"

    def __init__(self, specs: list[InputSpec], data_dir: str | None, exclusion_path=None):
        super().__init__(exclusion_path)
        self.specs, self.data_dir = specs, data_dir
        self.per_input: dict[str, dict[str, Any]] = {}

    def rows(self) -> Iterator[tuple[int, Any]]:
        for i, spec in enumerate(self.specs):
            if spec.loader:
                from fleming.sources.registry import load

                res = load(spec.loader, self.data_dir)
                if res.stats.n_in == 0 and not spec.allow_empty:
                    raise InputError(f"inputs[{i}] ({spec.loader})", None, None,
                                     "the loader yielded no rows (set allow_empty: true to accept that)")
                self.per_input[spec.name] = {"rows": res.stats.n_in, "files": res.files,
                                             "loader_dropped": dict(res.stats.dropped)}
                for reason, n in res.stats.dropped.items():
                    yield from ((i, {"__error__": f"loader:{reason}", "input": spec.name}) for _ in range(n))
                yield from ((i, r) for r in res.records)
                continue
            path = Path(spec.path or "")
            if not path.is_file():
                if not spec.optional:
                    raise InputError(path, None, None, "input file not found (set optional: true to skip it)")
                self.per_input[spec.name] = {"missing": str(path)}
                continue
            self.per_input[spec.name] = {"file": str(path)}
            yield from ((i, row) for row in read_raw(path))

    def _override(self, r: MCQ, spec: InputSpec) -> MCQ:
        """Apply the input's split/source overrides (originals go to provenance) and name a raw file."""
        upd: dict[str, Any] = {}
        prov = {**r.metadata.provenance, **({"file": spec.path} if spec.path else {})}
        for fld in ("split", "source"):
            new = getattr(spec, fld)
            if new and new != getattr(r, fld):
                prov[f"original_{fld}"] = getattr(r, fld)
                upd[fld] = new
        return r.model_copy(update={**upd, "metadata": r.metadata.model_copy(update={"provenance": prov})})

    def process(self, records: Iterable[tuple[int, Any]]) -> Iterator[MCQ]:
        seen: set[str] = set()
        for i, group in itertools.groupby(records, key=lambda x: x[0]):
            spec, recs = self.specs[i], []
            for _, row in group:
                r = validate_row(row)
                if isinstance(r, str):
                    self.drop(row, r)
                elif r.id in seen:  # the first kept; the others listed in the exclusions and stats
                    self.drop(row, "duplicate_id")
                    dups = self.stats.extra.setdefault("duplicate_ids", [])
                    if len(dups) < 100:
                        dups.append(r.id)
                else:
                    seen.add(r.id)
                    recs.append(self._override(r, spec))
            keep = set(range(len(recs)))
            if spec.limit is not None and spec.limit < len(recs):
                keep = set(random.Random(spec.sample_seed).sample(range(len(recs)), spec.limit))
            for j, r in enumerate(recs):
                if j in keep:
                    yield r
                else:
                    self.drop(r, "input_limit")


class RefineRun:
    """One run of the refinement pipeline into ``run_dir/refine``."""

    def __init__(self, config: RefineConfig, run_dir: str | Path, log: Callable[[str], None] = print):
        self.config, self.log = config, log
        self.root = Path(run_dir) / "refine"
        self._backends: dict[tuple, Any] = {}

    # ---- layout
    def step_dir(self, i: int) -> Path:
        return self.root / "steps" / f"{i:02d}_{STEPS[i]}"

    def stats_path(self, i: int) -> Path:
        return self.root / "stats" / f"{i:02d}_{STEPS[i]}.json"

    def excl_path(self, i: int) -> Path:
        return self.root / "exclusions" / f"{i:02d}_{STEPS[i]}.jsonl"

    def invalidate_from(self, i: int) -> None:
        for j in range(i, len(STEPS)):
            (self.step_dir(j) / ".done").unlink(missing_ok=True)

    # ---- running: the run's one stage runner over the steps (fleming.io.run_stages)
    def stages(self) -> list[Stage]:
        methods = {"inputs": self._step_inputs, "format": self._step_format, "dedup": self._step_dedup,
                   "decontam": self._step_decontam, "anonymize": self._step_anonymize,
                   "labelcheck": self._step_labelcheck, "ambiguity": self._step_ambiguity,
                   "difficulty": self._step_difficulty, "mix": self._step_mix}
        return [Stage(f"{i:02d}_{step}", partial(self._stage, i, methods[step]),
                      self.config.step_config(step), keep=PRESERVED) for i, step in enumerate(STEPS)]

    def check(self) -> None:
        """Everything that can be checked before a step runs: the output folder, and each input file
        (present unless optional, readable, not empty unless ``allow_empty``)."""
        from fleming.io import check_out_dir

        check_out_dir(self.root.parent)
        check_out_dir(self.root)
        for i, spec in enumerate(self.config.inputs):
            if spec.path is not None:
                check_input_file(Path(spec.path), spec, i)

    def run(self) -> dict[str, Any]:
        self.check()
        try:
            run_stages(self.stages(), self.root / "steps", self.log, label="refine")
        finally:
            for be in self._backends.values():
                be.close()
        return report.write_reports(self)

    def _stage(self, i: int, method: Callable[[int], Stats], d: Path) -> dict[str, Any]:
        self.excl_path(i).unlink(missing_ok=True)
        return self._finish(i, method(i))

    def _prev(self, i: int) -> Iterator[MCQ]:
        return read_records(self.step_dir(i - 1) / "records.jsonl")

    def _finish(self, i: int, stats: Stats) -> dict[str, Any]:
        if not stats.reconciles():
            raise ConfigError(f"step {STEPS[i]}: counts do not reconcile: {stats.to_dict()}")  # a bug, loudly
        self.excl_path(i).parent.mkdir(parents=True, exist_ok=True)
        self.excl_path(i).touch()
        out = {**stats.to_dict(), "reconciles": True}
        write_json(self.stats_path(i), out)
        reasons = ", ".join(f"{k} {v}" for k, v in stats.dropped.most_common()) or "none"
        self.log(f"[refine] {i:02d} {STEPS[i]}: in {stats.n_in}, kept {stats.n_kept}, "
                 f"dropped {stats.n_dropped} ({reasons})")
        return out

    def _write(self, i: int, records: Iterable[MCQ]) -> int:
        return write_records(self.step_dir(i) / "records.jsonl", records)

    def _run_step(self, i: int, step: Step, records: Iterable[MCQ]) -> Stats:
        self._write(i, step.run(records))
        return step.stats

    def _step_inputs(self, i: int) -> Stats:
        step = Inputs(self.config.inputs, self.config.data_dir, self.excl_path(i))
        stats = self._run_step(i, step, step.rows())
        stats.extra["inputs"] = step.per_input
        return stats

    def _step_format(self, i: int) -> Stats:
        from fleming.refine.format import FormatFilter

        step = FormatFilter(self.config.format, self.excl_path(i))
        step.fit(self._prev(i))
        return self._run_step(i, step, self._prev(i))

    def _step_dedup(self, i: int) -> Stats:
        from fleming.refine.dedup import Dedup

        step = Dedup(self.config.dedup, self.excl_path(i))
        stats = self._run_step(i, step, self._prev(i))
        with open(self.step_dir(i) / "clusters.jsonl", "w", encoding="utf-8") as f:
            for c in step.clusters:
                f.write(json.dumps(c, ensure_ascii=False) + "\n")
        return stats

    def _step_decontam(self, i: int) -> Stats:
        from fleming.refine.decontam import Decontaminate, EvalIndex
        from fleming.sources.registry import load

        cfg = self.config.decontam
        eval_sets = {name: load(name, self.config.data_dir).records for name in cfg.benchmarks}
        step = Decontaminate(EvalIndex(eval_sets, cfg), self.excl_path(i))
        stats = self._run_step(i, step, self._prev(i))
        write_json(self.step_dir(i) / "contamination.json", step.report())
        return stats

    def _step_anonymize(self, i: int) -> Stats:
        from fleming.refine.anonymize import Anonymize

        cfg = self.config.anonymize
        if not cfg.enabled:
            return self._passthrough(i, "anonymize")
        return self._run_step(i, Anonymize(config=cfg, exclusion_path=self.excl_path(i)), self._prev(i))

    def _step_labelcheck(self, i: int) -> Stats:
        from fleming.refine.labelcheck import LabelCheck

        cfg = self.config.labelcheck
        if not cfg.enabled:
            return self._passthrough(i, "labelcheck")
        return self._review_step(i, LabelCheck(self.backend(cfg), cfg))

    def _step_ambiguity(self, i: int) -> Stats:
        from fleming.refine.ambiguity import Ambiguity

        cfg = self.config.ambiguity
        if not cfg.enabled:
            return self._passthrough(i, "ambiguity")
        step = Ambiguity(self.backend(cfg), cfg)
        stats = self._review_step(i, step)
        write_json(self.step_dir(i) / "ambiguity.json", step.rates())
        return stats

    def _review_step(self, i: int, step: Step) -> Stats:
        """A step that sends items to the review queue: validated items, transport errors, the queue and
        the validator's own stats, then the step's output with the reviewers' decisions applied."""
        from fleming.refine import review
        from fleming.refine.labelcheck import write_review_queue

        d = self.step_dir(i)
        write_records(d / "validated.jsonl", step.run(self._prev(i)))
        write_records(d / "errors.jsonl", step.errors)
        write_review_queue(step.queue, d)
        write_json(d / "validator_stats.json", step.stats.to_dict())
        return review.finalize(self, i)

    def _step_difficulty(self, i: int) -> Stats:
        from fleming.refine.difficulty import Difficulty

        cfg = self.config.difficulty
        backend = self.backend(cfg.llm) if cfg.llm.enabled else None
        reference = self.backend(cfg.reference) if cfg.reference.enabled else None
        step = Difficulty(cfg, backend, self.excl_path(i), reference=reference)
        stats = self._run_step(i, step, self._prev(i))
        write_json(self.step_dir(i) / "agreement.json", step.agreement())
        return stats

    def _step_mix(self, i: int) -> Stats:
        from fleming.io import to_hf_dataset
        from fleming.refine.mix import Mix

        cfg = self.config.mix
        step = Mix(cfg, self.excl_path(i))
        records = list(step.run(self._prev(i)))
        self._write(i, records)
        for fmt in cfg.formats:
            if fmt == "parquet":
                write_records(self.root / "train.parquet", records)
            elif fmt == "jsonl":
                write_records(self.root / "train.jsonl", records)
            else:
                target = self.root / "train_hf"
                if target.exists():
                    shutil.rmtree(target)
                to_hf_dataset(records).save_to_disk(str(target))
        write_json(self.step_dir(i) / "mix_report.json", step.report)
        return step.stats

    def _passthrough(self, i: int, what: str) -> Stats:
        stats = Stats(STEPS[i])
        n = self._write(i, self._prev(i))
        stats.n_in = stats.n_kept = n
        stats.extra["skipped"] = f"{what} disabled in the config"
        return stats

    # ---- LLM backends, shared between steps with the same settings
    def backend(self, cfg) -> Any:
        from fleming.llm import make_backend

        if not cfg.model:
            raise ConfigError(f"{type(cfg).__name__}: 'model' is required when the step is enabled")
        cache = str(self.root / cfg.cache) if cfg.cache else None
        key = (cfg.backend, cfg.model, cfg.base_url, cache, json.dumps(cfg.options, sort_keys=True))
        if key not in self._backends:
            self._backends[key] = make_backend(cfg.backend, cfg.model, base_url=cfg.base_url,
                                               cache_path=cache, **cfg.options)
        return self._backends[key]

