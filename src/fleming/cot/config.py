"""The ``fleming cot`` config: one dataclass per part, read by ``fleming.config.build`` (help and bounds in
field metadata). ``fleming cot CONFIG`` reads the file alone or the ``cot:`` section of a whole-run config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STRATEGIES = ("backtracking", "path_exploration", "self_correction")
BACKENDS = ("openai", "hf", "vllm")


def _f(default: Any, help: str, **bounds: Any) -> Any:
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help, **bounds})
    return field(default=default, metadata={"help": help, **bounds})


@dataclass
class LLMConfig:
    """Where a model is served: any ``fleming.llm`` backend."""

    backend: str = _f("openai", "LLM backend", choices=list(BACKENDS))
    model: str = _f("", "model name (openai: as the server knows it) or path (hf, vllm)")
    base_url: str | None = _f(None, "OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1")
    api_key_env: str = _f("OPENAI_API_KEY", "environment variable holding the API key (never logged)")
    temperature: float = _f(0.7, "sampling temperature (0: greedy)", ge=0.0)
    max_tokens: int = _f(1024, "most tokens per completion", ge=1)
    concurrency: int = _f(64, "openai: requests in flight at once", ge=1)
    options: dict[str, Any] = _f({}, "further backend options (fleming.llm.make_backend)")


@dataclass
class TeacherConfig(LLMConfig):
    kind: str = _f(
        "grounded",
        "grounded: the KG path put into words (no LLM); llm: a teacher model",
        choices=["grounded", "llm"],
    )
    k: int = _f(4, "pass@k: candidates sampled per item", ge=1)
    grounding: bool = _f(False, "llm teacher: hand it the KG-grounded chain as facts to use")
    order: str = _f("path", "grounded chain: path (each distractor's discriminative fact), options (one "
                    "claim per option in letter order, the option text copied) or letters (options, each "
                    "line led by its letter, the conclusion names the letter); fleming.cot.grounded",
                    choices=["path", "options", "letters"])
    prompt_id: str = _f("fleming-cot-teacher-v1", "teacher prompt id (fleming.prompts.COT_PROMPTS)")


@dataclass
class ValidatorConfig(LLMConfig):
    enabled: bool = _f(False, "run the answer-blind check (b): a validator answers from the reasoning alone")
    same_as_teacher: bool = _f(
        True, "use the teacher's endpoint and model (then backend/model/base_url here are ignored)"
    )
    temperature: float = _f(0.0, "validator sampling temperature (0: greedy)", ge=0.0)
    max_tokens: int = _f(256, "most tokens per validator answer", ge=1)
    prompt_id: str = _f("fleming-cot-validator-v1", "validator prompt id (fleming.prompts.COT_PROMPTS)")


@dataclass
class ChecksConfig:
    min_words: int = _f(5, "(d) fewest words of reasoning", ge=0)
    max_words: int = _f(600, "(d) most words of reasoning", ge=1)
    max_repeated_lines: float = _f(0.3, "(d) locality: largest share of repeated lines", ge=0.0, le=1.0)
    min_path_mention: float = _f(
        1.0, "(e) share of the item's reasoning-path entities the chain must name", ge=0.0, le=1.0
    )
    claims: bool = _f(True, "(e) check every claim sentence naming two KG entities against the KG")
    rich_findings: int = _f(15, "a disease with this many finding annotations supports 'X lacks Y'", ge=1)
    leak_phrases: list[str] = _f([], "extra leak phrases (regular expressions) beside the built-in ones")


@dataclass
class CotConfig:
    inputs: list[str] = _f([], "MCQ files (.jsonl / .parquet): the training items")
    out: str = _f("runs/cot", "output directory (the CLI's --out wins)")
    kg: str | None = _f(None, "KG directory for claims and names (default: the items' provenance kg)")
    limit: int | None = _f(None, "use the first N items only", ge=1)
    teacher: TeacherConfig = field(default_factory=TeacherConfig, metadata={"help": "the teacher"})
    validator: ValidatorConfig = field(default_factory=ValidatorConfig, metadata={"help": "answer-blind"})
    rounds: int = _f(3, "refinement rounds for items with no verified candidate after pass@k", ge=0)
    strategies: list[str] = _f(list(STRATEGIES), "one per round, cycled: " + ", ".join(STRATEGIES))
    refine_k: int = _f(2, "candidates per refinement round", ge=1)
    checks: ChecksConfig = field(default_factory=ChecksConfig, metadata={"help": "verification bounds"})
    seed: int = _f(0, "sampling seed (sample i of round r: seed + 1000 r + i)")
    chunk: int = _f(8, "items per task of the worker pool", ge=1)
    workers: int = _f(16, "tasks in flight at once (keeps an endpoint's concurrency busy)", ge=1)
    progress: bool = _f(True, "progress bar")

    def __post_init__(self) -> None:
        bad = [s for s in self.strategies if s not in STRATEGIES]
        if bad:
            raise ValueError(f"strategies: unknown {bad[0]!r}; expected some of {', '.join(STRATEGIES)}")
        if not self.strategies:
            raise ValueError("strategies: expected at least one")
        if self.teacher.kind == "llm" and not self.teacher.model:
            raise ValueError("teacher.model: an llm teacher needs a model")
        v = self.validator
        if v.enabled and not v.same_as_teacher and not v.model:
            raise ValueError("validator.model: a validator of its own needs a model")
        if v.enabled and v.same_as_teacher and self.teacher.kind != "llm":
            raise ValueError(
                "validator.same_as_teacher: the grounded teacher has no model; give the "
                "validator its own backend/model"
            )
